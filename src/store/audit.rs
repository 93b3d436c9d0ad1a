//! The audit log: append-only, numbered by a stored sequence.
//!
//! Entries are never changed or removed here. Must not compose the operator's sentence
//! (the caller does) nor filter what is worth auditing.

use std::ops::Bound;

use super::Store;
use super::error::StoreError;
use super::keys;
use super::records::{AuditEntry, NewAudit};
use super::txn::{ReadView, WriteTxn};

impl ReadView<'_> {
    /// The newest `limit` entries, newest first.
    pub fn audit_latest(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .scan::<AuditEntry>(
                keys::AUDIT,
                (Bound::Unbounded, Bound::Unbounded),
                true,
                limit,
            )?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }

    /// Entries with a sequence number above `after`, oldest first, at most `limit`: for
    /// paging through the log or following it.
    pub fn audit_after(&self, after: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .scan::<AuditEntry>(
                keys::AUDIT,
                (Bound::Excluded(keys::id(after)), Bound::Unbounded),
                false,
                limit,
            )?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }

    /// The whole log, oldest first.
    pub fn audit_all(&self) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_after(0, usize::MAX)
    }
}

impl WriteTxn<'_> {
    /// Appends an entry and returns it with its sequence number.
    pub fn append_audit(&self, entry: NewAudit) -> Result<AuditEntry, StoreError> {
        let seq = self.next_seq(keys::SEQ_AUDIT)?;
        let entry = AuditEntry {
            seq,
            at: entry.at,
            kind: entry.kind,
            subject: entry.subject,
            detail: entry.detail,
        };
        self.put(keys::AUDIT, &keys::id(seq), &entry)?;
        Ok(entry)
    }
}

impl Store {
    /// See [`WriteTxn::append_audit`].
    pub fn append_audit(&self, entry: NewAudit) -> Result<AuditEntry, StoreError> {
        self.transaction_op("append audit entry", |tx| tx.append_audit(entry))
    }

    /// See [`ReadView::audit_latest`].
    pub fn audit_latest(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.view_op("list audit log", |v| v.audit_latest(limit))
    }

    /// See [`ReadView::audit_after`].
    pub fn audit_after(&self, after: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.view_op("list audit log", |v| v.audit_after(after, limit))
    }

    /// See [`ReadView::audit_all`].
    pub fn audit_all(&self) -> Result<Vec<AuditEntry>, StoreError> {
        self.view_op("list audit log", |v| v.audit_all())
    }
}
