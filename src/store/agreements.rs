//! Agreement states and their append-only history.
//!
//! Must not judge transitions (which ones are legal is the core's business): it records
//! the state it is given and appends the transition from the previous one.

use super::Store;
use super::error::StoreError;
use super::keys;
use super::records::{AgreementRecord, AgreementTransition};
use super::txn::{ReadView, WriteTxn};

impl ReadView<'_> {
    /// The current state of an agreement.
    pub fn agreement(&self, name: &str) -> Result<Option<AgreementRecord>, StoreError> {
        self.get(keys::AGREEMENTS, &keys::name(name))
    }

    /// Every agreement with its state, by name.
    pub fn agreements(&self) -> Result<Vec<(String, AgreementRecord)>, StoreError> {
        self.scan_all::<AgreementRecord>(keys::AGREEMENTS)?
            .into_iter()
            .map(|(k, r)| {
                let name =
                    keys::parse_name(&k).ok_or_else(|| self.bad_key(keys::AGREEMENTS, &k))?;
                Ok((name, r))
            })
            .collect()
    }

    /// The transitions of one agreement, oldest first.
    pub fn agreement_history(&self, name: &str) -> Result<Vec<AgreementTransition>, StoreError> {
        Ok(self
            .scan_prefix::<AgreementTransition>(
                keys::AGREEMENT_HISTORY,
                &keys::agreement_history_prefix(name),
            )?
            .into_iter()
            .map(|(_, t)| t)
            .collect())
    }
}

impl WriteTxn<'_> {
    /// Sets an agreement's state and appends the transition (from its previous state, or
    /// `None` for the first) to its history. Setting the same state again changes
    /// nothing and returns `None`; otherwise returns the appended transition.
    pub fn set_agreement_state(
        &self,
        name: &str,
        record: &AgreementRecord,
    ) -> Result<Option<AgreementTransition>, StoreError> {
        let previous = self.view().agreement(name)?;
        if previous.as_ref().is_some_and(|p| p.state == record.state) {
            return Ok(None);
        }
        let seq = self.next_seq(keys::SEQ_AGREEMENT_HISTORY)?;
        let transition = AgreementTransition {
            seq,
            agreement: name.to_owned(),
            from: previous.map(|p| p.state),
            to: record.state,
            at: record.since,
            cause: record.cause.clone(),
        };
        self.put(
            keys::AGREEMENT_HISTORY,
            &keys::agreement_history(name, seq),
            &transition,
        )?;
        self.put(keys::AGREEMENTS, &keys::name(name), record)?;
        Ok(Some(transition))
    }
}

impl Store {
    /// See [`ReadView::agreement`].
    pub fn agreement(&self, name: &str) -> Result<Option<AgreementRecord>, StoreError> {
        self.view_op("get agreement", |v| v.agreement(name))
    }

    /// See [`ReadView::agreements`].
    pub fn agreements(&self) -> Result<Vec<(String, AgreementRecord)>, StoreError> {
        self.view_op("list agreements", |v| v.agreements())
    }

    /// See [`ReadView::agreement_history`].
    pub fn agreement_history(&self, name: &str) -> Result<Vec<AgreementTransition>, StoreError> {
        self.view_op("list agreement history", |v| v.agreement_history(name))
    }

    /// See [`WriteTxn::set_agreement_state`].
    pub fn set_agreement_state(
        &self,
        name: &str,
        record: &AgreementRecord,
    ) -> Result<Option<AgreementTransition>, StoreError> {
        self.transaction_op("set agreement state", |tx| {
            tx.set_agreement_state(name, record)
        })
    }
}
