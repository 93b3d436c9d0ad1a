//! The store: everything sharebridge keeps between runs, in one embedded file (the
//! default) or in a PostgreSQL database that several daemons share (`daemon.store`).
//!
//! Agreements and their history, links and their indexes, comment maps, pending writes
//! (the outbox), watermarks, export cursors, OAuth token pairs, the audit log and the
//! orphans report. [`Store`] is the facade; records are plain data ([`records`]); the
//! key layout is in `keys.rs`, the schema version and migrations in `schema.rs`;
//! `engine.rs` is the only file that knows redb and `postgres/` the only folder that knows
//! PostgreSQL, `backend.rs` picks one, and nothing above it can tell which. With
//! PostgreSQL, `cluster.rs` adds the leader lease, the fence of the leader's writes
//! ([`Store::fenced`]) and the queues from followers to the leader.
//!
//! Architecture invariants:
//! - Only `store/` knows the storage engine; only `keys.rs` knows table names and keys.
//! - The store persists, it does not decide: no Zendesk types, no sync rules. The
//!   engine says what a link's state becomes; the store keeps indexes consistent with it.
//! - Every method is one transaction, durable (fsynced) when it returns `Ok`;
//!   [`Store::transaction`] groups several writes into one.
//! - A damaged file is an error ([`StoreError::Corrupt`]), never an empty start.
//!
//! Concurrency: [`Store`] is `Clone + Send + Sync` (an `Arc` inside). Reads run in
//! parallel with each other and with the single writer; writes queue for the writer (on
//! PostgreSQL, the one writer of all daemons). Calls block, but briefly (a read, or a
//! commit with one fsync; on PostgreSQL a round trip to its worker thread and the
//! server), so async code may call them directly for small reads and writes; use `tokio::task::spawn_blocking` for
//! [`Store::backup`] and for listing very large tables.

mod accounts;
mod agreements;
mod audit;
mod backend;
mod cluster;
mod comments;
mod copy;
mod engine;
mod error;
mod keys;
mod links;
mod postgres;
pub mod records;
mod schema;
mod seal;
mod txn;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use cluster::{Fence, LeaderRecord, Leadership, QueuedCommand, Role};
pub use copy::{CopyReport, TableSum};
pub use error::StoreError;
pub use records::*;
pub use schema::SCHEMA_VERSION;
pub use txn::{ReadView, WriteTxn};

use backend::Db;
pub use engine::StorageBackend;
use engine::{EngineError, Mode};
use schema::Schema;

/// A handle on the open store; cheap to clone, shared by every task.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    /// Who may write through this handle (several daemons on one PostgreSQL store).
    writes: Writes,
}

/// Whether and under which lease a handle writes.
#[derive(Clone)]
enum Writes {
    /// The only daemon on its store (an embedded file, or PostgreSQL before leading).
    Free,
    /// The leader's engine: every write transaction checks that this lease still leads.
    Fenced(Arc<Fence>),
    /// A follower: the facade's tables are only read.
    Refused,
}

struct Inner {
    db: Db,
    /// Named in every error, so a log line says which file to restore: the file's path,
    /// or the PostgreSQL URL with its password hidden.
    path: PathBuf,
    /// The schema version of the file as opened (after migrations).
    schema_version: u32,
    /// Seals the secrets kept in the file, once `use_sealing_key` was called.
    sealer: std::sync::OnceLock<seal::Sealer>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("schema_version", &self.inner.schema_version)
            .field("read_only", &self.inner.db.is_read_only())
            .field("postgres", &self.is_postgres())
            .finish()
    }
}

/// A PostgreSQL URL as messages show it: any password replaced by `***`.
pub fn shown_url(url: &str) -> String {
    postgres::shown(url)
}

/// Where the copy taken before migrating a file from schema `version` goes:
/// `sharebridge.redb` → `sharebridge.redb.schema-v1.bak`.
fn pre_migration_copy(path: &Path, version: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".schema-v{version}.bak"));
    PathBuf::from(name)
}

impl Store {
    /// Opens the store at `path`, creating the file if it is absent (its directory must
    /// exist: nothing else is created). Migrates an older file, after copying it to
    /// `<path>.schema-v<old>.bak` (a [`Store::backup`]); refuses a file written
    /// by a newer sharebridge ([`StoreError::NewerSchema`]) and a damaged one
    /// ([`StoreError::Corrupt`]). Reads the whole file once to verify its checksums.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Self::open_with(path.as_ref(), Mode::CreateOrOpen, &schema::CURRENT)
    }

    /// Opens an existing store; [`StoreError::Missing`] if there is no file.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Self::open_with(path.as_ref(), Mode::Existing, &schema::CURRENT)
    }

    /// Opens an existing store for inspection only: every write fails with
    /// [`StoreError::ReadOnly`]. Fails with [`StoreError::Locked`] while a daemon has it
    /// open (use the admin API then), and on a file that was not closed cleanly.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Self::open_with(path.as_ref(), Mode::ReadOnly, &schema::CURRENT)
    }

    /// Opens the store in the PostgreSQL database at `url` (`postgres://user@host/db`),
    /// creating its tables if absent; `password`, when given, replaces one in the URL.
    /// Several daemons may open one database: see [`Store::lead`]. Schema versions and
    /// migrations are those of the file.
    pub fn open_postgres(url: &str, password: Option<&str>) -> Result<Store, StoreError> {
        Self::open_postgres_with(url, password, Mode::CreateOrOpen, &schema::CURRENT)
    }

    /// Opens an existing PostgreSQL store for inspection only (its tables must exist).
    pub fn open_postgres_read_only(url: &str, password: Option<&str>) -> Result<Store, StoreError> {
        Self::open_postgres_with(url, password, Mode::ReadOnly, &schema::CURRENT)
    }

    fn open_postgres_with(
        url: &str,
        password: Option<&str>,
        mode: Mode,
        schema: &Schema,
    ) -> Result<Store, StoreError> {
        const OP: &str = "open";
        let shown = PathBuf::from(postgres::shown(url));
        let target = postgres::target(url, password).map_err(|detail| StoreError::Engine {
            path: shown.clone(),
            op: OP,
            detail,
            source: None,
        })?;
        let db = postgres::Db::open(target, mode).map_err(|e| match e {
            EngineError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                StoreError::Missing {
                    path: shown.clone(),
                    op: OP,
                }
            }
            e => e.at(&shown, OP),
        })?;
        Self::prepared(Db::Postgres(db), shown, mode, schema)
    }

    /// Opens the store on a storage backend instead of a file (the deterministic
    /// simulation's disk, whose unsynced writes a simulated crash drops); `label` stands
    /// for the file in errors. An empty backend is initialised; no pre-migration copy is
    /// taken (there is no file to put it beside).
    pub fn open_with_backend(
        backend: impl StorageBackend,
        label: impl AsRef<Path>,
    ) -> Result<Store, StoreError> {
        const OP: &str = "open";
        let path = label.as_ref();
        let db = engine::open_backend(backend).map_err(|e| e.at(path, OP))?;
        let store = Store {
            inner: Arc::new(Inner {
                db: Db::Redb(db),
                path: path.to_path_buf(),
                schema_version: schema::CURRENT.version,
                sealer: Default::default(),
            }),
            writes: Writes::Free,
        };
        store.transaction_op(OP, |tx| schema::prepare(tx, &schema::CURRENT))?;
        Ok(store)
    }

    fn open_with(path: &Path, mode: Mode, schema: &Schema) -> Result<Store, StoreError> {
        const OP: &str = "open";
        let opened = engine::open(path, mode).map_err(|e| match e {
            EngineError::Io(source)
                if source.kind() == std::io::ErrorKind::NotFound && mode == Mode::CreateOrOpen =>
            {
                StoreError::Io {
                    path: path.to_path_buf(),
                    op: "create the store file (its directory must exist)",
                    source,
                }
            }
            EngineError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                StoreError::Missing {
                    path: path.to_path_buf(),
                    op: OP,
                }
            }
            e => e.at(path, OP),
        })?;
        Self::prepared(Db::Redb(opened), path.to_path_buf(), mode, schema)
    }

    /// Checks the schema version of a just-opened store and, unless read-only, brings it
    /// to `schema` (keeping a copy of an older one first).
    fn prepared(db: Db, path: PathBuf, mode: Mode, schema: &Schema) -> Result<Store, StoreError> {
        const OP: &str = "open";
        let store = Store {
            inner: Arc::new(Inner {
                db,
                path,
                schema_version: schema.version,
                sealer: Default::default(),
            }),
            writes: Writes::Free,
        };
        let path = store.inner.path.as_path();
        if mode == Mode::ReadOnly {
            let found = store.view_op(OP, schema::stored_version)?;
            match found {
                Some(v) if v > schema.version => {
                    return Err(StoreError::NewerSchema {
                        path: path.to_path_buf(),
                        found: v,
                        supported: schema.version,
                    });
                }
                Some(v) if v < schema.version => {
                    return Err(StoreError::OlderSchema {
                        path: path.to_path_buf(),
                        found: v,
                        supported: schema.version,
                    });
                }
                Some(_) => {}
                None => {
                    return Err(StoreError::Corrupt {
                        path: path.to_path_buf(),
                        op: OP,
                        detail: "no schema version: not a sharebridge store".into(),
                    });
                }
            }
        } else {
            // Before migrating, keep a copy of the file as it was, beside it, so a
            // faulty migration can be undone by putting the copy back.
            if let Some(found) = store.view_op(OP, schema::stored_version)?
                && found < schema.version
            {
                let copy = match store.inner.db.postgres() {
                    // In the database, beside the store's table.
                    Some(db) => db.keep_copy(found).map_err(|e| e.at(path, OP))?,
                    None => {
                        let copy = pre_migration_copy(path, found);
                        if !copy.exists() {
                            store.backup(&copy)?;
                        }
                        copy.display().to_string()
                    }
                };
                tracing::info!(
                    store = %path.display(),
                    copy = %copy,
                    from = found,
                    to = schema.version,
                    "store copied before migration"
                );
            }
            store.transaction_op(OP, |tx| schema::prepare(tx, schema))?;
        }
        Ok(store)
    }

    /// Closes the store (at shutdown, after the last write): every commit is already
    /// durable, so this only releases the file (or the PostgreSQL connections) and reports
    /// an error that dropping the last handle would ignore. Fails with
    /// [`StoreError::Conflict`], closing nothing, while other clones of this handle are
    /// alive.
    pub fn close(self) -> Result<(), StoreError> {
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner.db.close().map_err(|e| e.at(&inner.path, "close")),
            Err(inner) => Err(StoreError::Conflict {
                path: inner.path.clone(),
                op: "close",
                detail: format!(
                    "{} other handles are still in use; drop them first",
                    Arc::strong_count(&inner) - 1
                ),
            }),
        }
    }

    /// Seals the secrets written from now on (OAuth pairs, webhook signing secrets) with
    /// a key derived from `material` (`daemon.store_key`), and opens those sealed with it.
    /// Set once per open store; a second call with any key is refused.
    pub fn use_sealing_key(&self, material: &[u8]) -> Result<(), StoreError> {
        self.inner
            .sealer
            .set(seal::Sealer::new(material))
            .map_err(|_| StoreError::Conflict {
                path: self.inner.path.clone(),
                op: "set the sealing key",
                detail: "a sealing key is already set for this open store".into(),
            })
    }

    fn sealer(&self) -> Option<&seal::Sealer> {
        self.inner.sealer.get()
    }

    /// The file this store lives in (for PostgreSQL: its URL, password hidden).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> u32 {
        self.inner.schema_version
    }

    /// Runs `f` in one write transaction and commits it durably if `f` returns `Ok`;
    /// nothing `f` wrote is kept if it returns `Err`. Use it to make several records
    /// change together (e.g. a share and its audit entry). Waits while another write
    /// transaction runs: keep `f` short and free of network calls.
    pub fn transaction<T>(
        &self,
        f: impl FnOnce(&WriteTxn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.transaction_op("transaction", f)
    }

    /// Runs `f` over one consistent snapshot.
    pub fn view<T>(
        &self,
        f: impl FnOnce(&ReadView<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.view_op("read", f)
    }

    pub(crate) fn transaction_op<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&WriteTxn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let path = &self.inner.path;
        let fence = match &self.writes {
            Writes::Free => None,
            Writes::Fenced(fence) => Some(fence.epoch()),
            Writes::Refused => {
                return Err(StoreError::NotLeader {
                    path: path.clone(),
                    op,
                    detail: "a follower only reads the store; the leader writes".into(),
                });
            }
        };
        let raw = self.inner.db.write(fence).map_err(|e| e.at(path, op))?;
        let tx = WriteTxn::new(raw, path, op);
        match f(&tx) {
            Ok(value) => {
                tx.into_raw().commit().map_err(|e| e.at(path, op))?;
                Ok(value)
            }
            Err(err) => {
                // The error that made us abort is the one worth reporting.
                let _ = tx.into_raw().abort();
                Err(err)
            }
        }
    }

    pub(crate) fn view_op<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&ReadView<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let path = &self.inner.path;
        let raw = self.inner.db.read().map_err(|e| e.at(path, op))?;
        f(&ReadView::new(&raw, path, op))
    }

    /// Writes a consistent copy of the store to `dest` while the store stays in use:
    /// one read snapshot is copied table by table into a new file, which is fsynced and
    /// then renamed into place, so `dest` is either absent or complete. `dest` must not
    /// exist. Restore by stopping the daemon and putting the copy in place of the file.
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<(), StoreError> {
        const OP: &str = "backup";
        let dest = dest.as_ref();
        if dest.exists() {
            return Err(StoreError::Io {
                path: dest.to_path_buf(),
                op: "backup: refusing to overwrite an existing file",
                source: std::io::ErrorKind::AlreadyExists.into(),
            });
        }
        let mut partial = dest.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let path = &self.inner.path;
        let snapshot = self.inner.db.read().map_err(|e| e.at(path, OP))?;
        let copied = engine::copy_into_new_file(&snapshot, keys::ALL_TABLES, &partial)
            .map_err(|e| e.at(&partial, OP));
        if let Err(e) = copied {
            // Do not leave a half-written copy that looks like a backup; an existing
            // `.partial` from someone else is left alone (create_new refused it).
            if !matches!(&e, StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists)
            {
                let _ = std::fs::remove_file(&partial);
            }
            return Err(e);
        }
        std::fs::rename(&partial, dest).map_err(|source| StoreError::Io {
            path: dest.to_path_buf(),
            op: "backup: rename into place",
            source,
        })?;
        // Make the rename itself durable.
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|source| StoreError::Io {
                    path: dir.to_path_buf(),
                    op: "backup: sync the directory",
                    source,
                })?;
        }
        Ok(())
    }
}
