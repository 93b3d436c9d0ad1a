//! Transactions over `sharebridge_kv`: one task per transaction on the worker runtime,
//! owning its connection from `BEGIN` to `COMMIT`/`ROLLBACK`, answering the facade's
//! blocking calls in order. Dropping a transaction handle rolls it back.

use std::ops::Bound;
use std::sync::mpsc::{SyncSender, sync_channel};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio_postgres::types::ToSql;

use super::{Conn, Db, LOCK_CLASS, LOCK_WRITE, timed};
use crate::store::engine::{EngineError, RawRead};

type Result<T, E = EngineError> = std::result::Result<T, E>;
type Reply<T> = SyncSender<Result<T>>;
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

enum Op {
    Get(String, Vec<u8>, Reply<Option<Vec<u8>>>),
    Scan(Range, bool, usize, Reply<Entries>),
    Count(Range, Reply<u64>),
    Tables(Reply<Vec<String>>),
    Put(String, Vec<u8>, Vec<u8>, Reply<()>),
    Remove(String, Vec<u8>, Reply<bool>),
    Ensure(String, Reply<()>),
    Commit(Reply<()>),
}

struct Range {
    table: String,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
}

fn range(table: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Range {
    Range {
        table: table.to_owned(),
        lo: lo.map(<[u8]>::to_vec),
        hi: hi.map(<[u8]>::to_vec),
    }
}

/// The client side of one transaction.
struct Session {
    ops: UnboundedSender<Op>,
}

impl Session {
    fn call<T>(&self, op: impl FnOnce(Reply<T>) -> Op) -> Result<T> {
        let (tx, rx) = sync_channel(1);
        self.ops
            .send(op(tx))
            .map_err(|_| EngineError::Other("the transaction already ended".into(), None))?;
        rx.recv().map_err(|_| {
            EngineError::Other(
                "the transaction ended early (its connection failed)".into(),
                None,
            )
        })?
    }

    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.call(|r| Op::Get(table.to_owned(), key.to_vec(), r))
    }

    fn scan(
        &self,
        table: &str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Entries> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.call(|r| Op::Scan(range(table, lo, hi), reverse, limit, r))
    }

    fn count(&self, table: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<u64> {
        self.call(|r| Op::Count(range(table, lo, hi), r))
    }

    fn tables(&self) -> Result<Vec<String>> {
        self.call(Op::Tables)
    }
}

/// A read-only snapshot (`REPEATABLE READ READ ONLY`).
pub(in crate::store) struct ReadTx(Session);

/// A write transaction, serialised with every other writer of the database.
pub(in crate::store) struct WriteTx(Session);

pub(super) fn begin_read(db: &Db) -> Result<ReadTx> {
    let pool = db.pool.clone();
    db.block(async move {
        let (mut conn, permit) = pool.reader().await?;
        if let Err(e) = timed(
            conn.client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
        )
        .await
        {
            drop(permit);
            return Err(e);
        }
        let (tx, rx) = unbounded_channel();
        tokio::spawn(async move {
            serve(&mut conn, rx).await;
            drop(permit);
            pool.give_back(conn);
        });
        Ok(ReadTx(Session { ops: tx }))
    })
}

/// `fence`: the lease epoch that must still lead for anything to be written.
pub(super) fn begin_write(db: &Db, fence: Option<u64>) -> Result<WriteTx> {
    let pool = db.pool.clone();
    db.block(async move {
        let mut slot = pool.writer.clone().lock_owned().await;
        let mut conn = match slot.take() {
            Some(c) if !c.client.is_closed() => c,
            _ => Conn::connect(&pool.target.config, super::WRITER_IDLE_TIMEOUT).await?,
        };
        let began = begin_on(&mut conn, fence).await;
        if let Err(e) = began {
            if !conn.client.is_closed() {
                let _ = timed(conn.client.batch_execute("ROLLBACK")).await;
                *slot = Some(conn);
            }
            return Err(e);
        }
        let (tx, rx) = unbounded_channel();
        tokio::spawn(async move {
            serve(&mut conn, rx).await;
            if !conn.client.is_closed() {
                *slot = Some(conn);
            }
        });
        Ok(WriteTx(Session { ops: tx }))
    })
}

async fn begin_on(conn: &mut Conn, fence: Option<u64>) -> Result<()> {
    timed(conn.client.batch_execute(&format!(
        "BEGIN; SELECT pg_advisory_xact_lock({LOCK_CLASS}, {LOCK_WRITE})"
    )))
    .await?;
    if let Some(epoch) = fence {
        // The row lock makes a takeover wait until this transaction ends: every write of
        // an epoch commits before the next epoch begins.
        let s = conn
            .statement(
                "SELECT 1 FROM sharebridge_leader WHERE id = 1 AND epoch = $1 \
                 AND expires_at > clock_timestamp() FOR SHARE",
            )
            .await?;
        let epoch = i64::try_from(epoch).unwrap_or(i64::MAX);
        let rows = timed(conn.client.query(&s, &[&epoch])).await?;
        if rows.is_empty() {
            return Err(EngineError::NotLeader(format!(
                "the lease of epoch {epoch} is no longer held: another daemon leads, or the lease ran out"
            )));
        }
    }
    Ok(())
}

/// Answers one transaction's operations until it commits or its handle is dropped.
async fn serve(conn: &mut Conn, mut ops: UnboundedReceiver<Op>) {
    while let Some(op) = ops.recv().await {
        match op {
            Op::Get(table, key, r) => {
                let _ = r.send(get(conn, &table, &key).await);
            }
            Op::Scan(range, reverse, limit, r) => {
                let _ = r.send(scan(conn, &range, reverse, limit).await);
            }
            Op::Count(range, r) => {
                let _ = r.send(count(conn, &range).await);
            }
            Op::Tables(r) => {
                let _ = r.send(tables(conn).await);
            }
            Op::Put(table, key, value, r) => {
                let _ = r.send(put(conn, &table, &key, &value).await);
            }
            Op::Remove(table, key, r) => {
                let _ = r.send(remove(conn, &table, &key).await);
            }
            Op::Ensure(table, r) => {
                let _ = r.send(ensure(conn, &table).await);
            }
            Op::Commit(r) => {
                let done = timed(conn.client.batch_execute("COMMIT")).await;
                let _ = r.send(done);
                return;
            }
        }
    }
    // Dropped without a commit (an abort, an error, or a read view ending).
    let _ = timed(conn.client.batch_execute("ROLLBACK")).await;
}

async fn get(conn: &mut Conn, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
    let s = conn
        .statement("SELECT value FROM sharebridge_kv WHERE tbl = $1 AND key = $2")
        .await?;
    let row = timed(conn.client.query_opt(&s, &[&table, &key])).await?;
    Ok(row.map(|r| r.get(0)))
}

/// The `WHERE` clause of a range and its parameters (`$1` is the table).
fn bounds(range: &Range) -> (String, Vec<&(dyn ToSql + Sync)>) {
    let mut sql = String::from("tbl = $1");
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&range.table];
    for (bound, incl, excl) in [(&range.lo, ">=", ">"), (&range.hi, "<=", "<")] {
        let (op, key) = match bound {
            Bound::Included(k) => (incl, k),
            Bound::Excluded(k) => (excl, k),
            Bound::Unbounded => continue,
        };
        params.push(key);
        sql.push_str(&format!(" AND key {op} ${}", params.len()));
    }
    (sql, params)
}

async fn scan(conn: &mut Conn, range: &Range, reverse: bool, limit: usize) -> Result<Entries> {
    let (filter, mut params) = bounds(range);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut sql = format!(
        "SELECT key, value FROM sharebridge_kv WHERE {filter} ORDER BY key{}",
        if reverse { " DESC" } else { "" }
    );
    if limit < i64::MAX {
        params.push(&limit);
        sql.push_str(&format!(" LIMIT ${}", params.len()));
    }
    let s = conn.statement(&sql).await?;
    let rows = timed(conn.client.query(&s, &params)).await?;
    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
}

async fn count(conn: &mut Conn, range: &Range) -> Result<u64> {
    let (filter, params) = bounds(range);
    let s = conn
        .statement(&format!(
            "SELECT count(*) FROM sharebridge_kv WHERE {filter}"
        ))
        .await?;
    let row = timed(conn.client.query_one(&s, &params)).await?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

async fn tables(conn: &mut Conn) -> Result<Vec<String>> {
    let s = conn
        .statement("SELECT name FROM sharebridge_tables ORDER BY name")
        .await?;
    let rows = timed(conn.client.query(&s, &[])).await?;
    Ok(rows.into_iter().map(|r| r.get(0)).collect())
}

async fn put(conn: &mut Conn, table: &str, key: &[u8], value: &[u8]) -> Result<()> {
    let s = conn
        .statement(
            "INSERT INTO sharebridge_kv (tbl, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (tbl, key) DO UPDATE SET value = EXCLUDED.value",
        )
        .await?;
    timed(conn.client.execute(&s, &[&table, &key, &value])).await?;
    Ok(())
}

async fn remove(conn: &mut Conn, table: &str, key: &[u8]) -> Result<bool> {
    let s = conn
        .statement("DELETE FROM sharebridge_kv WHERE tbl = $1 AND key = $2")
        .await?;
    Ok(timed(conn.client.execute(&s, &[&table, &key])).await? > 0)
}

async fn ensure(conn: &mut Conn, table: &str) -> Result<()> {
    let s = conn
        .statement("INSERT INTO sharebridge_tables (name) VALUES ($1) ON CONFLICT DO NOTHING")
        .await?;
    timed(conn.client.execute(&s, &[&table])).await?;
    Ok(())
}

impl RawRead for ReadTx {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.0.get(table, key)
    }

    fn scan(
        &self,
        table: &str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Entries> {
        self.0.scan(table, lo, hi, reverse, limit)
    }

    fn count(&self, table: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<u64> {
        self.0.count(table, lo, hi)
    }

    fn tables(&self) -> Result<Vec<String>> {
        self.0.tables()
    }
}

impl RawRead for WriteTx {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.0.get(table, key)
    }

    fn scan(
        &self,
        table: &str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Entries> {
        self.0.scan(table, lo, hi, reverse, limit)
    }

    fn count(&self, table: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<u64> {
        self.0.count(table, lo, hi)
    }

    fn tables(&self) -> Result<Vec<String>> {
        self.0.tables()
    }
}

impl WriteTx {
    pub(in crate::store) fn ensure_table(&self, name: &str) -> Result<()> {
        self.0.call(|r| Op::Ensure(name.to_owned(), r))
    }

    pub(in crate::store) fn put(&self, table: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.0
            .call(|r| Op::Put(table.to_owned(), key.to_vec(), value.to_vec(), r))
    }

    pub(in crate::store) fn remove(&self, table: &str, key: &[u8]) -> Result<bool> {
        self.0
            .call(|r| Op::Remove(table.to_owned(), key.to_vec(), r))
    }

    pub(in crate::store) fn commit(self) -> Result<()> {
        self.0.call(Op::Commit)
    }

    pub(in crate::store) fn abort(self) -> Result<()> {
        // Dropping the session rolls it back on the worker.
        drop(self);
        Ok(())
    }
}
