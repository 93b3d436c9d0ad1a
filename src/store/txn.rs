//! Typed access inside one transaction: [`ReadView`] (a consistent snapshot) and
//! [`WriteTxn`] (all-or-nothing, durable on commit).
//!
//! This is where bytes become records: values are JSON (readable in a debugger, and
//! tolerant of added optional fields), and a value that does not decode is an error
//! naming the table and key, never a panic and never a silent default. Must not know the
//! storage engine (that is `engine.rs`) nor spell keys (that is `keys.rs`). The record
//! operations themselves live in the per-concern files (`links.rs`, `comments.rs`, …)
//! as further `impl` blocks of these two types.

use std::ops::Bound;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::backend::WriteTx;
use super::engine::{EngineError, RawRead};
use super::error::StoreError;
use super::keys;

/// A consistent read-only view of the store: every read through one view sees the same
/// committed state. Obtained from [`super::Store::view`] or [`WriteTxn::view`] (which
/// also sees the transaction's own uncommitted writes).
pub struct ReadView<'a> {
    raw: &'a dyn RawRead,
    path: &'a Path,
    op: &'static str,
}

impl<'a> ReadView<'a> {
    pub(super) fn new(raw: &'a dyn RawRead, path: &'a Path, op: &'static str) -> Self {
        Self { raw, path, op }
    }

    pub(super) fn engine(&self, e: EngineError) -> StoreError {
        e.at(self.path, self.op)
    }

    pub(super) fn decode<T: DeserializeOwned>(
        &self,
        table: &'static str,
        key: &[u8],
        bytes: &[u8],
    ) -> Result<T, StoreError> {
        serde_json::from_slice(bytes).map_err(|source| StoreError::Decode {
            path: self.path.to_path_buf(),
            op: self.op,
            table,
            key: keys::render(key),
            source,
        })
    }

    /// A key that does not parse as its table's layout.
    pub(super) fn bad_key(&self, table: &'static str, key: &[u8]) -> StoreError {
        StoreError::Corrupt {
            path: self.path.to_path_buf(),
            op: self.op,
            detail: format!(
                "key {} in table {table} does not have the table's layout",
                keys::render(key)
            ),
        }
    }

    pub(super) fn get<T: DeserializeOwned>(
        &self,
        table: &'static str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.raw.get(table, key).map_err(|e| self.engine(e))? {
            Some(bytes) => self.decode(table, key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Decoded entries in key order (or reversed), at most `limit`.
    pub(super) fn scan<T: DeserializeOwned>(
        &self,
        table: &'static str,
        bounds: (Bound<Vec<u8>>, Bound<Vec<u8>>),
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        let (lo, hi) = &bounds;
        let lo = lo.as_ref().map(Vec::as_slice);
        let hi = hi.as_ref().map(Vec::as_slice);
        let raw = self
            .raw
            .scan(table, lo, hi, reverse, limit)
            .map_err(|e| self.engine(e))?;
        raw.into_iter()
            .map(|(k, v)| {
                let value = self.decode(table, &k, &v)?;
                Ok((k, value))
            })
            .collect()
    }

    /// How many entries have keys starting with `prefix`.
    pub(super) fn count_prefix(
        &self,
        table: &'static str,
        prefix: &[u8],
    ) -> Result<u64, StoreError> {
        let (lo, hi) = keys::prefix_bounds(prefix);
        self.raw
            .count(
                table,
                lo.as_ref().map(Vec::as_slice),
                hi.as_ref().map(Vec::as_slice),
            )
            .map_err(|e| self.engine(e))
    }

    /// Every entry whose key starts with `prefix`, in key order.
    pub(super) fn scan_prefix<T: DeserializeOwned>(
        &self,
        table: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        self.scan(table, keys::prefix_bounds(prefix), false, usize::MAX)
    }

    /// Every entry of a table, in key order.
    pub(super) fn scan_all<T: DeserializeOwned>(
        &self,
        table: &'static str,
    ) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        self.scan(
            table,
            (Bound::Unbounded, Bound::Unbounded),
            false,
            usize::MAX,
        )
    }

    pub(super) fn table_names(&self) -> Result<Vec<String>, StoreError> {
        self.raw.tables().map_err(|e| self.engine(e))
    }
}

/// One write transaction: everything done through it commits together, durably, when
/// the closure given to [`super::Store::transaction`] returns `Ok`, and nothing of it
/// is kept when the closure returns `Err` (or panics).
pub struct WriteTxn<'a> {
    raw: WriteTx,
    path: &'a Path,
    op: &'static str,
}

impl<'a> WriteTxn<'a> {
    pub(super) fn new(raw: WriteTx, path: &'a Path, op: &'static str) -> Self {
        Self { raw, path, op }
    }

    /// Reads, including this transaction's own writes so far.
    pub fn view(&self) -> ReadView<'_> {
        ReadView::new(&self.raw, self.path, self.op)
    }

    pub(super) fn into_raw(self) -> WriteTx {
        self.raw
    }

    pub(super) fn path(&self) -> &Path {
        self.path
    }

    pub(super) fn op(&self) -> &'static str {
        self.op
    }

    fn engine(&self, e: EngineError) -> StoreError {
        e.at(self.path, self.op)
    }

    pub(super) fn conflict(&self, detail: String) -> StoreError {
        StoreError::Conflict {
            path: self.path.to_path_buf(),
            op: self.op,
            detail,
        }
    }

    pub(super) fn unknown_link(&self, link: u64) -> StoreError {
        StoreError::UnknownLink {
            path: self.path.to_path_buf(),
            op: self.op,
            link,
        }
    }

    pub(super) fn ensure_table(&self, table: &'static str) -> Result<(), StoreError> {
        self.raw.ensure_table(table).map_err(|e| self.engine(e))
    }

    pub(super) fn put<T: Serialize + ?Sized>(
        &self,
        table: &'static str,
        key: &[u8],
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|source| StoreError::Encode {
            path: self.path.to_path_buf(),
            op: self.op,
            table,
            source,
        })?;
        self.raw.put(table, key, &bytes).map_err(|e| self.engine(e))
    }

    /// Removes `key`; whether it was there.
    pub(super) fn remove(&self, table: &'static str, key: &[u8]) -> Result<bool, StoreError> {
        self.raw.remove(table, key).map_err(|e| self.engine(e))
    }

    /// A number for the next write to Zendesk, never handed out twice by this store (it
    /// goes into the write's marker, `PendingWrite::marker`).
    pub fn next_write_id(&self) -> Result<u64, StoreError> {
        self.next_seq(keys::SEQ_WRITE)
    }

    /// The next value of a named sequence: 1, 2, 3, … never reused, even across
    /// restarts (the counter is stored, not derived from the table's last key).
    pub(super) fn next_seq(&self, name: &str) -> Result<u64, StoreError> {
        let key = keys::name(name);
        let last: u64 = self.view().get(keys::SEQUENCES, &key)?.unwrap_or(0);
        let next = last + 1;
        self.put(keys::SEQUENCES, &key, &next)?;
        Ok(next)
    }
}
