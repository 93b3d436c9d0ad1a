//! Which storage engine a store runs on: the embedded redb file (`engine.rs`, the
//! default) or PostgreSQL (`postgres/`). Dispatch only: both offer the same named
//! byte-to-byte tables and transactions, so nothing above this file knows which one it
//! is talking to. Must not add behaviour of its own.

use std::ops::Bound;

use super::engine::{self, EngineError, RawRead};
use super::postgres;

type Result<T, E = EngineError> = std::result::Result<T, E>;

/// An open store.
pub(super) enum Db {
    Redb(engine::Db),
    Postgres(postgres::Db),
}

pub(super) enum ReadTx {
    Redb(engine::ReadTx),
    Postgres(postgres::ReadTx),
}

pub(super) enum WriteTx {
    /// Boxed: redb's transaction is large, and one lives at a time.
    Redb(Box<engine::WriteTx>),
    Postgres(postgres::WriteTx),
}

impl Db {
    pub(super) fn read(&self) -> Result<ReadTx> {
        Ok(match self {
            Db::Redb(db) => ReadTx::Redb(db.read()?),
            Db::Postgres(db) => ReadTx::Postgres(db.read()?),
        })
    }

    /// Begins the write transaction. `fence`: the lease epoch that must still lead for
    /// it to begin (PostgreSQL only; a single daemon on a file has no lease).
    pub(super) fn write(&self, fence: Option<u64>) -> Result<WriteTx> {
        Ok(match self {
            Db::Redb(db) => WriteTx::Redb(Box::new(db.write()?)),
            Db::Postgres(db) => WriteTx::Postgres(db.write(fence)?),
        })
    }

    pub(super) fn close(self) -> Result<()> {
        match self {
            Db::Redb(db) => db.close(),
            Db::Postgres(db) => db.close(),
        }
    }

    pub(super) fn is_read_only(&self) -> bool {
        match self {
            Db::Redb(db) => matches!(db, engine::Db::ReadOnly(_)),
            Db::Postgres(db) => db.is_read_only(),
        }
    }

    pub(super) fn postgres(&self) -> Option<&postgres::Db> {
        match self {
            Db::Postgres(db) => Some(db),
            Db::Redb(_) => None,
        }
    }
}

impl ReadTx {
    pub(super) fn raw(&self) -> &dyn RawRead {
        match self {
            ReadTx::Redb(t) => t,
            ReadTx::Postgres(t) => t,
        }
    }
}

impl RawRead for ReadTx {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.raw().get(table, key)
    }

    fn scan(
        &self,
        table: &str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.raw().scan(table, lo, hi, reverse, limit)
    }

    fn count(&self, table: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<u64> {
        self.raw().count(table, lo, hi)
    }

    fn tables(&self) -> Result<Vec<String>> {
        self.raw().tables()
    }
}

impl WriteTx {
    fn raw(&self) -> &dyn RawRead {
        match self {
            WriteTx::Redb(t) => t.as_ref(),
            WriteTx::Postgres(t) => t,
        }
    }

    /// Creates `name` if absent.
    pub(super) fn ensure_table(&self, name: &str) -> Result<()> {
        match self {
            WriteTx::Redb(t) => t.ensure_table(name),
            WriteTx::Postgres(t) => t.ensure_table(name),
        }
    }

    pub(super) fn put(&self, table: &str, key: &[u8], value: &[u8]) -> Result<()> {
        match self {
            WriteTx::Redb(t) => t.put(table, key, value),
            WriteTx::Postgres(t) => t.put(table, key, value),
        }
    }

    /// Removes `key`; whether it was there.
    pub(super) fn remove(&self, table: &str, key: &[u8]) -> Result<bool> {
        match self {
            WriteTx::Redb(t) => t.remove(table, key),
            WriteTx::Postgres(t) => t.remove(table, key),
        }
    }

    pub(super) fn commit(self) -> Result<()> {
        match self {
            WriteTx::Redb(t) => (*t).commit(),
            WriteTx::Postgres(t) => t.commit(),
        }
    }

    pub(super) fn abort(self) -> Result<()> {
        match self {
            WriteTx::Redb(t) => (*t).abort(),
            WriteTx::Postgres(t) => t.abort(),
        }
    }
}

impl RawRead for WriteTx {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.raw().get(table, key)
    }

    fn scan(
        &self,
        table: &str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.raw().scan(table, lo, hi, reverse, limit)
    }

    fn count(&self, table: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<u64> {
        self.raw().count(table, lo, hi)
    }

    fn tables(&self) -> Result<Vec<String>> {
        self.raw().tables()
    }
}
