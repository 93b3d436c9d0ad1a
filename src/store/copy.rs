//! Copying a whole store to another engine (`sharebridge store migrate`), verified by
//! per-table counts and SHA-256 checksums of both sides. Raw entries are copied as they
//! are (no record is decoded), every table the key layout names, in one write
//! transaction on the target. Must not run while a daemon writes the source: the caller
//! makes sure it is stopped.

use sha2::{Digest, Sha256};

use super::engine::{self, RawRead};
use super::error::StoreError;
use super::{Store, keys};

/// One table's entry count and checksum.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableSum {
    pub table: String,
    pub entries: u64,
    /// SHA-256 over every (key, value) in key order, each length-prefixed.
    pub sha256: String,
}

/// What [`Store::copy_to`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CopyReport {
    pub from: String,
    pub to: String,
    pub tables: Vec<TableSum>,
    pub entries: u64,
    /// SHA-256 over the tables' checksums, in order: equal on both sides.
    pub checksum: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sums(raw: &dyn RawRead) -> Result<Vec<TableSum>, engine::EngineError> {
    let mut out = Vec::new();
    for &table in keys::ALL_TABLES {
        let mut h = Sha256::new();
        let mut entries = 0u64;
        engine::for_each_entry(raw, table, |k, v| {
            h.update((k.len() as u64).to_be_bytes());
            h.update(k);
            h.update((v.len() as u64).to_be_bytes());
            h.update(v);
            entries += 1;
            Ok(())
        })?;
        out.push(TableSum {
            table: table.to_owned(),
            entries,
            sha256: hex(&h.finalize()),
        });
    }
    Ok(out)
}

fn overall(tables: &[TableSum]) -> String {
    let mut h = Sha256::new();
    for t in tables {
        h.update(t.table.as_bytes());
        h.update(t.entries.to_be_bytes());
        h.update(t.sha256.as_bytes());
    }
    hex(&h.finalize())
}

impl Store {
    /// Every table's entry count and checksum, over one snapshot.
    pub fn checksums(&self) -> Result<Vec<TableSum>, StoreError> {
        let path = &self.inner.path;
        let snapshot = self.inner.db.read().map_err(|e| e.at(path, "checksum"))?;
        sums(&snapshot).map_err(|e| e.at(path, "checksum"))
    }

    /// Copies every table into `target`, which must hold nothing yet but what opening a
    /// new store writes; then compares counts and checksums of both. Nothing is kept in
    /// `target` if the copy fails; a mismatch after it is a [`StoreError::Conflict`].
    pub fn copy_to(&self, target: &Store) -> Result<CopyReport, StoreError> {
        const OP: &str = "copy the store";
        let src_path = &self.inner.path;
        let dst_path = &target.inner.path;
        // The target holds no data: only its `meta` entries, which the copy replaces.
        let found = target.checksums()?;
        if let Some(t) = found
            .iter()
            .find(|t| t.table != keys::META && t.entries > 0)
        {
            return Err(StoreError::Conflict {
                path: dst_path.clone(),
                op: OP,
                detail: format!(
                    "the target is not empty (table {} holds {} entries); migrate only into a new store",
                    t.table, t.entries
                ),
            });
        }
        let snapshot = self.inner.db.read().map_err(|e| e.at(src_path, OP))?;
        let tx = target
            .inner
            .db
            .write(None)
            .map_err(|e| e.at(dst_path, OP))?;
        let copied = (|| {
            for &table in keys::ALL_TABLES {
                tx.ensure_table(table)?;
                engine::for_each_entry(&snapshot, table, |k, v| tx.put(table, k, v))?;
            }
            Ok::<_, engine::EngineError>(())
        })();
        match copied {
            Ok(()) => tx.commit().map_err(|e| e.at(dst_path, OP))?,
            Err(e) => {
                let _ = tx.abort();
                return Err(e.at(dst_path, OP));
            }
        }
        let before = sums(&snapshot).map_err(|e| e.at(src_path, OP))?;
        let after = target.checksums()?;
        for (a, b) in before.iter().zip(&after) {
            if a != b {
                return Err(StoreError::Conflict {
                    path: dst_path.clone(),
                    op: OP,
                    detail: format!(
                        "verification failed for table {}: {} entries (sha256 {}) in the source, {} (sha256 {}) in the copy",
                        a.table, a.entries, a.sha256, b.entries, b.sha256
                    ),
                });
            }
        }
        Ok(CopyReport {
            from: src_path.display().to_string(),
            to: dst_path.display().to_string(),
            entries: before.iter().map(|t| t.entries).sum(),
            checksum: overall(&before),
            tables: before,
        })
    }
}
