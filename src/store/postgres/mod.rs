//! The only folder that knows PostgreSQL (through tokio-postgres).
//!
//! It offers the store what `engine.rs` offers for redb — named byte-to-byte tables
//! (`get`, ordered `scan`, `count`, `put`, `remove`), transactions, durable commit — plus
//! what several daemons on one database need: the leader lease and its fence
//! (`lease.rs`), and the hint and command queues from followers to the leader
//! (`relay.rs`). Must not know record types, key layouts or any sharebridge meaning.
//!
//! Shape: the store's facade is synchronous and is called from async code, so the
//! connections live on a dedicated OS thread running its own current-thread tokio
//! runtime; a facade call spawns a future there and blocks on a channel for its answer
//! (briefly, as a redb fsync does). No runtime is ever nested. A transaction is one task
//! on that runtime owning one connection between `BEGIN` and `COMMIT`/`ROLLBACK`.
//!
//! Schema: every facade table lives in one table `sharebridge_kv (tbl, key, value)`
//! keyed by `(tbl, key)`; `bytea` compares byte by byte, shorter first, as redb orders
//! `&[u8]`, so scans come back in the same order. `sharebridge_tables` lists the tables
//! that exist (redb's table list). Write transactions are serialised across every
//! daemon by a transaction-level advisory lock, so each sees the last commit and nothing
//! changes under it (redb's single writer); read views are `REPEATABLE READ READ ONLY`
//! snapshots.

mod kv;
pub(super) mod lease;
pub(super) mod relay;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, NoTls, Statement};

use super::engine::{EngineError, Mode};

pub(super) use kv::{ReadTx, WriteTx};

/// Longest any one statement may take before its connection is given up (a network cut
/// must not hang a caller for the kernel's TCP timeouts).
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// Connect timeout when the URL does not set one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A write transaction whose daemon went silent (a network cut mid-transaction) is ended
/// by the server after this long, releasing its locks: the global writer lock and the
/// lease row a takeover needs. Well under the lease's TTL.
pub(super) const WRITER_IDLE_TIMEOUT: &str = "4s";
/// The same for read snapshots, which hold no lock others wait for.
const READER_IDLE_TIMEOUT: &str = "60s";

/// Read connections open at once per process, at most.
const READ_CONNECTIONS: usize = 12;

/// Advisory lock keys (class, id), two `int4`s: class 0x5342 ("SB") for the store's
/// own locks.
pub(super) const LOCK_CLASS: i32 = 0x5342;
/// Class of the leader's session lock, whose id is its lease epoch (`lease.rs`).
pub(super) const EPOCH_LOCK_CLASS: i32 = 0x5343;
/// Held by every write transaction: one writer at a time across all daemons.
const LOCK_WRITE: i32 = 1;
/// Held while the tables are created.
const LOCK_DDL: i32 = 2;

const DDL: &str = "
CREATE TABLE IF NOT EXISTS sharebridge_kv (
    tbl text NOT NULL,
    key bytea NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tbl, key)
);
CREATE TABLE IF NOT EXISTS sharebridge_tables (name text PRIMARY KEY);
CREATE TABLE IF NOT EXISTS sharebridge_leader (
    id integer PRIMARY KEY CHECK (id = 1),
    holder text,
    epoch bigint NOT NULL DEFAULT 0,
    expires_at timestamptz,
    renewed_at timestamptz,
    since timestamptz,
    handovers bigint NOT NULL DEFAULT 0,
    last_handover timestamptz,
    last_gap_ms bigint,
    previous text
);
INSERT INTO sharebridge_leader (id) VALUES (1) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS sharebridge_hints (
    account text NOT NULL,
    ticket bigint NOT NULL,
    queued_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account, ticket)
);
CREATE TABLE IF NOT EXISTS sharebridge_commands (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    body text NOT NULL,
    queued_by text NOT NULL,
    queued_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    taken_by text,
    taken_at timestamptz,
    status integer,
    result text,
    done_at timestamptz
);
";

/// A parsed `postgres://` URL and how it is shown (password hidden).
#[derive(Clone)]
pub(super) struct Target {
    pub config: tokio_postgres::Config,
    pub shown: String,
}

/// Parses a PostgreSQL URL (or `key=value` string), with `password` (from a secret file)
/// taking the place of one written in it.
pub(super) fn target(url: &str, password: Option<&str>) -> Result<Target, String> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| format!("not a PostgreSQL URL ({e})"))?;
    if let Some(p) = password {
        config.password(p);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("sharebridge");
    }
    Ok(Target {
        shown: shown(url),
        config,
    })
}

/// The URL with any password replaced by `***`, for messages.
pub(super) fn shown(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // key=value form: hide a password=… pair.
        return url
            .split_whitespace()
            .map(|kv| {
                if kv.starts_with("password=") {
                    "password=***"
                } else {
                    kv
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = tail
        .split('&')
        .map(|kv| {
            let bare = kv.trim_start_matches('?');
            if bare.starts_with("password=") {
                format!("{}password=***", &kv[..kv.len() - bare.len()])
            } else {
                kv.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{scheme}://{authority}{tail}")
}

/// One connection and its prepared statements.
pub(super) struct Conn {
    pub client: Client,
    statements: HashMap<String, Statement>,
}

impl Conn {
    /// Connects; the server ends a transaction left idle longer than `idle_timeout`.
    pub async fn connect(
        config: &tokio_postgres::Config,
        idle_timeout: &str,
    ) -> Result<Conn, EngineError> {
        let (client, connection) = timed(config.connect(NoTls)).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "PostgreSQL connection ended");
            }
        });
        timed(client.batch_execute(&format!(
            "SET idle_in_transaction_session_timeout = '{idle_timeout}'"
        )))
        .await?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    /// The prepared statement for `sql`, prepared once per connection.
    pub async fn statement(&mut self, sql: &str) -> Result<Statement, EngineError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = timed(self.client.prepare(sql)).await?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

/// Runs one PostgreSQL call with [`OP_TIMEOUT`].
pub(super) async fn timed<T>(
    f: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, EngineError> {
    match tokio::time::timeout(OP_TIMEOUT, f).await {
        Ok(r) => r.map_err(pg_error),
        Err(_) => Err(EngineError::Other(
            format!(
                "PostgreSQL did not answer within {} s (network cut or server overloaded?)",
                OP_TIMEOUT.as_secs()
            ),
            None,
        )),
    }
}

/// A tokio-postgres error as the store reports it: the server's SQLSTATE and message,
/// or what happened to the connection.
pub(super) fn pg_error(e: tokio_postgres::Error) -> EngineError {
    let detail = match e.as_db_error() {
        Some(db) => format!("PostgreSQL said {} ({})", db.message(), db.code().code()),
        None if e.is_closed() => "the connection to PostgreSQL is closed".to_owned(),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            format!("PostgreSQL: {text}")
        }
    };
    EngineError::Other(detail, Some(Box::new(e)))
}

/// The connections of one store handle.
pub(super) struct Pool {
    pub target: Target,
    idle: Mutex<Vec<Conn>>,
    readers: Arc<Semaphore>,
    /// The connection write transactions run on: one at a time per process (and one at
    /// a time across processes, by the advisory lock).
    writer: Arc<tokio::sync::Mutex<Option<Conn>>>,
}

impl Pool {
    async fn reader(&self) -> Result<(Conn, OwnedSemaphorePermit), EngineError> {
        let permit = self
            .readers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| EngineError::Other("the store is closing".into(), None))?;
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(c) if !c.client.is_closed() => c,
            _ => Conn::connect(&self.target.config, READER_IDLE_TIMEOUT).await?,
        };
        Ok((conn, permit))
    }

    fn give_back(&self, conn: Conn) {
        if !conn.client.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
    }
}

/// An open PostgreSQL store: the worker thread and its connections.
pub(super) struct Db {
    rt: tokio::runtime::Handle,
    pub(super) pool: Arc<Pool>,
    read_only: bool,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Db {
    /// Starts the worker thread and checks (or, in `CreateOrOpen`, creates) the tables.
    pub fn open(target: Target, mode: Mode) -> Result<Db, EngineError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(EngineError::Io)?;
        let handle = rt.handle().clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sharebridge-postgres".into())
            .spawn(move || {
                rt.block_on(async move {
                    let _ = stop_rx.await;
                });
                // Dropping the runtime cancels every task and closes every connection.
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(EngineError::Io)?;
        let db = Db {
            rt: handle,
            pool: Arc::new(Pool {
                target,
                idle: Mutex::new(Vec::new()),
                readers: Arc::new(Semaphore::new(READ_CONNECTIONS)),
                writer: Arc::new(tokio::sync::Mutex::new(None)),
            }),
            read_only: mode == Mode::ReadOnly,
            stop: Mutex::new(Some(stop_tx)),
            thread: Mutex::new(Some(thread)),
        };
        let pool = db.pool.clone();
        db.block(async move {
            // It joins the read pool afterwards: a reader's idle timeout.
            let conn = Conn::connect(&pool.target.config, READER_IDLE_TIMEOUT).await?;
            if mode == Mode::CreateOrOpen {
                timed(conn.client.batch_execute(&format!(
                    "BEGIN; SELECT pg_advisory_xact_lock({LOCK_CLASS}, {LOCK_DDL}); {DDL} COMMIT;"
                )))
                .await?;
            } else {
                let row = timed(
                    conn.client
                        .query_one("SELECT to_regclass('sharebridge_kv') IS NOT NULL", &[]),
                )
                .await?;
                if !row.get::<_, bool>(0) {
                    return Err(EngineError::Io(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no sharebridge tables in this database",
                    )));
                }
            }
            pool.give_back(conn);
            Ok(())
        })?;
        Ok(db)
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Runs `f` on the worker thread and waits for its answer. Never call from the worker.
    pub(super) fn block<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T, EngineError>> + Send + 'static,
    ) -> Result<T, EngineError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.rt.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv()
            .map_err(|_| EngineError::Other("the PostgreSQL worker thread stopped".into(), None))?
    }

    /// The worker's runtime, for the lease and relay tasks.
    pub(super) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.rt
    }

    pub fn read(&self) -> Result<ReadTx, EngineError> {
        kv::begin_read(self)
    }

    /// Begins a write transaction; with `fence`, it commits only while that lease epoch
    /// leads (checked inside the transaction, under a row lock a takeover waits for).
    pub fn write(&self, fence: Option<u64>) -> Result<WriteTx, EngineError> {
        if self.read_only {
            return Err(EngineError::ReadOnly);
        }
        kv::begin_write(self, fence)
    }

    /// Keeps a copy of the whole store in a table beside it before a migration from
    /// `version`; returns the table's name.
    pub fn keep_copy(&self, version: u32) -> Result<String, EngineError> {
        let table = format!("sharebridge_kv_schema_v{version}_bak");
        let pool = self.pool.clone();
        let name = table.clone();
        self.block(async move {
            let conn = Conn::connect(&pool.target.config, WRITER_IDLE_TIMEOUT).await?;
            timed(conn.client.batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({LOCK_CLASS}, {LOCK_WRITE}); \
                 CREATE TABLE IF NOT EXISTS {name} AS TABLE sharebridge_kv; COMMIT;"
            )))
            .await?;
            Ok(())
        })?;
        Ok(table)
    }

    /// Stops the worker thread, closing every connection.
    pub fn close(self) -> Result<(), EngineError> {
        self.shutdown();
        Ok(())
    }

    fn shutdown(&self) {
        if let Some(stop) = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take()
            && t.thread().id() != std::thread::current().id()
        {
            let _ = t.join();
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.shutdown();
    }
}
