//! The only file that knows the storage engine (redb 4).
//!
//! It offers what the rest of `store/` needs and nothing more: open a file, read and
//! write transactions over named byte-to-byte tables (`get`, ordered `scan`, `put`,
//! `remove`), durable commit, and a table-by-table copy into a fresh file for backups.
//! Engine errors are translated into [`EngineError`] here, so no redb type leaves this
//! file. Must not know record types, key layouts or any sharebridge meaning.

use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use redb::{
    Builder, Database, DatabaseError, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    ReadableTable, StorageError, TableDefinition, TableError, WriteTransaction,
};

use super::error::{Cause, StoreError};

/// The byte-level storage a store can live on instead of a file (`Store::open_with_backend`).
pub use redb::StorageBackend;

type Def<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

fn def(name: &str) -> Def<'_> {
    TableDefinition::new(name)
}

/// The page cache limit; the store holds links and maps, not ticket bodies.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// A failure of the engine, before it is given the file and operation.
#[derive(Debug)]
pub(super) enum EngineError {
    Corrupt(String),
    Locked,
    /// Not closed cleanly; a read-write open recovers it.
    NeedsRecovery,
    Io(io::Error),
    ReadOnly,
    /// A fenced write by a daemon that no longer leads (PostgreSQL only).
    NotLeader(String),
    Other(String, Option<Cause>),
}

impl EngineError {
    pub(super) fn at(self, path: &Path, op: &'static str) -> StoreError {
        let path = path.to_path_buf();
        match self {
            EngineError::Corrupt(detail) => StoreError::Corrupt { path, op, detail },
            EngineError::Locked => StoreError::Locked { path, op },
            EngineError::NeedsRecovery => StoreError::NeedsRecovery { path, op },
            EngineError::Io(source) => StoreError::Io { path, op, source },
            EngineError::ReadOnly => StoreError::ReadOnly { path, op },
            EngineError::NotLeader(detail) => StoreError::NotLeader { path, op, detail },
            EngineError::Other(detail, source) => StoreError::Engine {
                path,
                op,
                detail,
                source,
            },
        }
    }
}

impl From<StorageError> for EngineError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Corrupted(detail) => EngineError::Corrupt(detail),
            StorageError::Io(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
                ) =>
            {
                EngineError::Corrupt(e.to_string())
            }
            StorageError::Io(e) => EngineError::Io(e),
            other => EngineError::Other(other.to_string(), Some(Box::new(other))),
        }
    }
}

impl From<DatabaseError> for EngineError {
    fn from(e: DatabaseError) -> Self {
        match e {
            DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
                EngineError::Locked
            }
            // Only read-only opens refuse to repair (read-write opens always try).
            DatabaseError::RepairAborted => EngineError::NeedsRecovery,
            DatabaseError::Storage(e) => e.into(),
            other => EngineError::Other(other.to_string(), Some(Box::new(other))),
        }
    }
}

impl From<redb::TransactionError> for EngineError {
    fn from(e: redb::TransactionError) -> Self {
        match e {
            redb::TransactionError::Storage(e) => e.into(),
            other => EngineError::Other(other.to_string(), None),
        }
    }
}

impl From<redb::CommitError> for EngineError {
    fn from(e: redb::CommitError) -> Self {
        match e {
            redb::CommitError::Storage(e) => e.into(),
            other => EngineError::Other(other.to_string(), None),
        }
    }
}

impl From<TableError> for EngineError {
    fn from(e: TableError) -> Self {
        match e {
            TableError::Storage(e) => e.into(),
            // A table of ours with other types than bytes → bytes: not our file.
            TableError::TableTypeMismatch { .. }
            | TableError::TableIsMultimap(_)
            | TableError::TypeDefinitionChanged { .. } => EngineError::Corrupt(e.to_string()),
            other => EngineError::Other(other.to_string(), None),
        }
    }
}

type Result<T, E = EngineError> = std::result::Result<T, E>;

/// How to open a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Create the file if it is absent (its directory must exist).
    CreateOrOpen,
    /// The file must exist.
    Existing,
    /// The file must exist; no writes.
    ReadOnly,
}

/// An open database file.
pub(super) enum Db {
    ReadWrite(Database),
    ReadOnly(ReadOnlyDatabase),
}

/// Runs an engine call that may panic on a damaged file (redb trusts what it reads in
/// places), turning the panic into [`EngineError::Corrupt`].
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            Err(EngineError::Corrupt(format!(
                "the storage engine failed while {what}: {msg}"
            )))
        }
    }
}

/// Opens (or creates) the file. A new file holds no table; `schema.rs` initialises it.
pub(super) fn open(path: &Path, mode: Mode) -> Result<Db> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(EngineError::Io(e)),
    };
    let mut builder = Builder::new();
    builder.set_cache_size(CACHE_BYTES);
    match (meta, mode) {
        (None, Mode::CreateOrOpen) => {
            // create_new: never initialise over a file that appeared meanwhile.
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(EngineError::Io)?;
            let backend = redb::backends::FileBackend::new(file)?;
            let db = guarded("creating the file", || {
                Ok(builder.create_with_backend(backend)?)
            })?;
            Ok(Db::ReadWrite(db))
        }
        (None, _) => Err(EngineError::Io(io::Error::new(
            io::ErrorKind::NotFound,
            "no such file",
        ))),
        (Some(m), _) if m.len() == 0 => Err(EngineError::Corrupt(
            "the file is empty (truncated to zero length?)".into(),
        )),
        (Some(_), Mode::ReadOnly) => {
            let db = guarded("opening the file read-only", || {
                Ok(builder.open_read_only(path)?)
            })?;
            Ok(Db::ReadOnly(db))
        }
        (Some(_), _) => {
            // Verify every page's checksum on open: a damaged file fails here, clearly,
            // instead of later in the middle of a sync.
            builder.set_check_integrity_on_open(true);
            let db = guarded("opening the file", || Ok(builder.open(path)?))?;
            Ok(Db::ReadWrite(db))
        }
    }
}

/// Opens (or, when it is empty, initialises) a database on `backend`, verifying every
/// page as a file open does.
pub(super) fn open_backend(backend: impl StorageBackend) -> Result<Db> {
    let mut builder = Builder::new();
    builder.set_cache_size(CACHE_BYTES);
    let fresh = backend.len().map_err(EngineError::Io)? == 0;
    builder.set_check_integrity_on_open(!fresh);
    let db = guarded("opening the storage backend", || {
        Ok(builder.create_with_backend(backend)?)
    })?;
    Ok(Db::ReadWrite(db))
}

impl Db {
    pub(super) fn read(&self) -> Result<ReadTx> {
        let tx = match self {
            Db::ReadWrite(db) => db.begin_read()?,
            Db::ReadOnly(db) => db.begin_read()?,
        };
        Ok(ReadTx(tx))
    }

    /// Closes the file, releasing its lock, and reports what dropping would ignore.
    pub(super) fn close(self) -> Result<()> {
        match self {
            Db::ReadWrite(db) => Ok(db.close()?),
            Db::ReadOnly(db) => Ok(db.close()?),
        }
    }

    /// Begins the write transaction (waiting for another one to end). Commits are
    /// durable (`Durability::Immediate`, redb's default) when [`WriteTx::commit`] returns.
    pub(super) fn write(&self) -> Result<WriteTx> {
        match self {
            Db::ReadWrite(db) => Ok(WriteTx(db.begin_write()?)),
            Db::ReadOnly(_) => Err(EngineError::ReadOnly),
        }
    }
}

/// The read primitives, shared by read and write transactions.
pub(super) trait RawRead {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Entries with keys in `[lo, hi)` bounds, ascending or (`reverse`) descending, at
    /// most `limit`.
    fn scan(
        &self,
        table: &str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;

    /// How many entries have keys in `[lo, hi)` bounds (nothing is copied out).
    fn count(&self, table: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<u64>;

    /// The names of the tables present in the file.
    fn tables(&self) -> Result<Vec<String>>;
}

fn count_range<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    lo: Bound<&[u8]>,
    hi: Bound<&[u8]>,
) -> Result<u64> {
    let mut n = 0;
    for entry in table.range::<&[u8]>((lo, hi))? {
        entry?;
        n += 1;
    }
    Ok(n)
}

fn collect<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    lo: Bound<&[u8]>,
    hi: Bound<&[u8]>,
    reverse: bool,
    limit: usize,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    let range = table.range::<&[u8]>((lo, hi))?;
    let mut push = |entry: Result<_, StorageError>| -> Result<bool> {
        let (k, v): (redb::AccessGuard<&[u8]>, redb::AccessGuard<&[u8]>) = entry?;
        out.push((k.value().to_vec(), v.value().to_vec()));
        Ok(out.len() < limit)
    };
    if reverse {
        for entry in range.rev() {
            if !push(entry)? {
                break;
            }
        }
    } else {
        for entry in range {
            if !push(entry)? {
                break;
            }
        }
    }
    Ok(out)
}

pub(super) struct ReadTx(ReadTransaction);

impl ReadTx {
    fn table(
        &self,
        name: &str,
    ) -> Result<Option<redb::ReadOnlyTable<&'static [u8], &'static [u8]>>> {
        match self.0.open_table(def(name)) {
            Ok(t) => Ok(Some(t)),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl RawRead for ReadTx {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(t) = self.table(table)? else {
            return Ok(None);
        };
        Ok(t.get(key)?.map(|v| v.value().to_vec()))
    }

    fn scan(
        &self,
        table: &str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        match self.table(table)? {
            Some(t) => collect(&t, lo, hi, reverse, limit),
            None => Ok(Vec::new()),
        }
    }

    fn count(&self, table: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<u64> {
        match self.table(table)? {
            Some(t) => count_range(&t, lo, hi),
            None => Ok(0),
        }
    }

    fn tables(&self) -> Result<Vec<String>> {
        Ok(self
            .0
            .list_tables()?
            .map(|h| redb::TableHandle::name(&h).to_owned())
            .collect())
    }
}

pub(super) struct WriteTx(WriteTransaction);

impl WriteTx {
    fn table(&self, name: &str) -> Result<redb::Table<'_, &'static [u8], &'static [u8]>> {
        Ok(self.0.open_table(def(name))?)
    }

    /// Creates `name` if absent.
    pub(super) fn ensure_table(&self, name: &str) -> Result<()> {
        self.table(name).map(drop)
    }

    pub(super) fn put(&self, table: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.table(table)?.insert(key, value)?;
        Ok(())
    }

    /// Removes `key`; whether it was there.
    pub(super) fn remove(&self, table: &str, key: &[u8]) -> Result<bool> {
        Ok(self.table(table)?.remove(key)?.is_some())
    }

    pub(super) fn commit(self) -> Result<()> {
        Ok(self.0.commit()?)
    }

    pub(super) fn abort(self) -> Result<()> {
        Ok(self.0.abort()?)
    }
}

impl RawRead for WriteTx {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.table(table)?.get(key)?.map(|v| v.value().to_vec()))
    }

    fn scan(
        &self,
        table: &str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        collect(&self.table(table)?, lo, hi, reverse, limit)
    }

    fn count(&self, table: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<u64> {
        count_range(&self.table(table)?, lo, hi)
    }

    fn tables(&self) -> Result<Vec<String>> {
        Ok(self
            .0
            .list_tables()?
            .map(|h| redb::TableHandle::name(&h).to_owned())
            .collect())
    }
}

/// Entries copied per read when a table is copied, so a large table never sits in memory.
const COPY_PAGE: usize = 10_000;

/// Calls `f` with every entry of `table` in `src`, in key order, a page at a time.
pub(super) fn for_each_entry(
    src: &dyn RawRead,
    table: &str,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<()>,
) -> Result<()> {
    let mut after: Option<Vec<u8>> = None;
    loop {
        let lo = match &after {
            Some(k) => Bound::Excluded(k.as_slice()),
            None => Bound::Unbounded,
        };
        let page = src.scan(table, lo, Bound::Unbounded, false, COPY_PAGE)?;
        for (k, v) in &page {
            f(k, v)?;
        }
        if page.len() < COPY_PAGE {
            return Ok(());
        }
        after = page.into_iter().last().map(|(k, _)| k);
    }
}

/// Writes every table of the snapshot `src` (of either engine) into a new database file
/// at `dest` (which must not exist) and makes it durable. The copy is as consistent as
/// the snapshot.
pub(super) fn copy_into_new_file(src: &dyn RawRead, tables: &[&str], dest: &Path) -> Result<()> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(EngineError::Io)?;
    let backend = redb::backends::FileBackend::new(file)?;
    let mut builder = Builder::new();
    builder.set_cache_size(CACHE_BYTES);
    let db = builder.create_with_backend(backend)?;
    let tx = db.begin_write()?;
    for &name in tables {
        let mut out = tx.open_table(def(name))?;
        for_each_entry(src, name, |k, v| {
            out.insert(k, v)?;
            Ok(())
        })?;
    }
    tx.commit()?;
    db.close()?;
    // The commit fsynced the data; make the file's directory entry durable too.
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(EngineError::Io)?;
    }
    Ok(())
}
