//! What followers hand the leader through the database: hints (`sharebridge_hints`, a
//! set of (account, ticket)) and admin commands (`sharebridge_commands`, answered in
//! place), each followed by `NOTIFY sharebridge_wake` so the leader's `LISTEN` wakes it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;

use super::{Db, timed};
use crate::store::cluster::QueuedCommand;
use crate::store::engine::EngineError;

type Result<T, E = EngineError> = std::result::Result<T, E>;

const CHANNEL: &str = "sharebridge_wake";
/// Answered commands are kept this long (for a follower still waiting), then deleted.
const KEEP_ANSWERS: &str = "1 hour";

/// Runs one autocommit statement on a pooled connection.
async fn with_conn<T: Send + 'static>(
    db_pool: Arc<super::Pool>,
    f: impl AsyncFnOnce(&mut super::Conn) -> Result<T>,
) -> Result<T> {
    let (mut conn, _permit) = db_pool.reader().await?;
    let out = f(&mut conn).await;
    db_pool.give_back(conn);
    out
}

pub(in crate::store) fn push_hints(db: &Db, hints: &[(String, u64)]) -> Result<()> {
    if hints.is_empty() {
        return Ok(());
    }
    let accounts: Vec<String> = hints.iter().map(|(a, _)| a.clone()).collect();
    let tickets: Vec<i64> = hints
        .iter()
        .map(|(_, t)| i64::try_from(*t).unwrap_or(i64::MAX))
        .collect();
    let pool = db.pool.clone();
    db.block(with_conn(pool, async move |c: &mut super::Conn| {
        let s = c
            .statement(
                "INSERT INTO sharebridge_hints (account, ticket) \
                 SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT DO NOTHING",
            )
            .await?;
        timed(c.client.execute(&s, &[&accounts, &tickets])).await?;
        notify(c, "hints").await
    }))
}

async fn notify(c: &mut super::Conn, what: &str) -> Result<()> {
    let s = c.statement("SELECT pg_notify($1, $2)").await?;
    timed(c.client.execute(&s, &[&CHANNEL, &what])).await?;
    Ok(())
}

pub(in crate::store) fn take_hints(db: &Db) -> Result<Vec<(String, u64)>> {
    let pool = db.pool.clone();
    db.block(with_conn(pool, async move |c: &mut super::Conn| {
        let s = c
            .statement("DELETE FROM sharebridge_hints RETURNING account, ticket")
            .await?;
        let rows = timed(c.client.query(&s, &[])).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let ticket = u64::try_from(r.get::<_, i64>(1)).ok()?;
                Some((r.get::<_, String>(0), ticket))
            })
            .collect())
    }))
}

pub(in crate::store) fn queue_command(db: &Db, kind: &str, body: &str, by: &str) -> Result<u64> {
    let (kind, body, by) = (kind.to_owned(), body.to_owned(), by.to_owned());
    let pool = db.pool.clone();
    db.block(with_conn(pool, async move |c: &mut super::Conn| {
        let s = c
            .statement(
                "INSERT INTO sharebridge_commands (kind, body, queued_by) VALUES ($1, $2, $3) \
                 RETURNING id",
            )
            .await?;
        let row = timed(c.client.query_one(&s, &[&kind, &body, &by])).await?;
        notify(c, "command").await?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }))
}

pub(in crate::store) fn take_command(db: &Db, holder: &str) -> Result<Option<QueuedCommand>> {
    let holder = holder.to_owned();
    let pool = db.pool.clone();
    db.block(with_conn(pool, async move |c: &mut super::Conn| {
        let s = c
            .statement(&format!(
                "DELETE FROM sharebridge_commands WHERE done_at < clock_timestamp() - interval '{KEEP_ANSWERS}'"
            ))
            .await?;
        timed(c.client.execute(&s, &[])).await?;
        let s = c
            .statement(
                "UPDATE sharebridge_commands SET taken_by = $1, taken_at = clock_timestamp() \
                 WHERE id = (SELECT id FROM sharebridge_commands WHERE taken_at IS NULL \
                             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, kind, body",
            )
            .await?;
        let row = timed(c.client.query_opt(&s, &[&holder])).await?;
        Ok(row.map(|r| QueuedCommand {
            id: u64::try_from(r.get::<_, i64>(0)).unwrap_or(0),
            kind: r.get(1),
            body: r.get(2),
        }))
    }))
}

pub(in crate::store) fn finish_command(db: &Db, id: u64, status: u16, result: &str) -> Result<()> {
    let id = i64::try_from(id).unwrap_or(i64::MAX);
    let status = i32::from(status);
    let result = result.to_owned();
    let pool = db.pool.clone();
    db.block(with_conn(pool, async move |c: &mut super::Conn| {
        let s = c
            .statement(
                "UPDATE sharebridge_commands SET status = $2, result = $3, done_at = clock_timestamp() \
                 WHERE id = $1",
            )
            .await?;
        timed(c.client.execute(&s, &[&id, &status, &result])).await?;
        Ok(())
    }))
}

pub(in crate::store) fn command_result(db: &Db, id: u64) -> Result<Option<(u16, String)>> {
    let id = i64::try_from(id).unwrap_or(i64::MAX);
    let pool = db.pool.clone();
    db.block(with_conn(pool, async move |c: &mut super::Conn| {
        let s = c
            .statement(
                "SELECT status, result FROM sharebridge_commands WHERE id = $1 AND done_at IS NOT NULL",
            )
            .await?;
        let row = timed(c.client.query_opt(&s, &[&id])).await?;
        Ok(row.map(|r| {
            let status = u16::try_from(r.get::<_, Option<i32>>(0).unwrap_or(500)).unwrap_or(500);
            (status, r.get::<_, Option<String>>(1).unwrap_or_default())
        }))
    }))
}

pub(in crate::store) fn cancel_command(db: &Db, id: u64) -> Result<bool> {
    let id = i64::try_from(id).unwrap_or(i64::MAX);
    let pool = db.pool.clone();
    db.block(with_conn(pool, async move |c: &mut super::Conn| {
        let s = c
            .statement("DELETE FROM sharebridge_commands WHERE id = $1 AND taken_at IS NULL")
            .await?;
        Ok(timed(c.client.execute(&s, &[&id])).await? > 0)
    }))
}

pub(in crate::store) fn requeue(db: &Db) -> Result<u64> {
    let pool = db.pool.clone();
    db.block(with_conn(pool, async move |c: &mut super::Conn| {
        let s = c
            .statement(
                "UPDATE sharebridge_commands SET taken_by = NULL, taken_at = NULL \
                 WHERE taken_at IS NOT NULL AND done_at IS NULL",
            )
            .await?;
        timed(c.client.execute(&s, &[])).await
    }))
}

/// A `LISTEN` connection on the worker runtime, reconnecting when it drops; wakes the
/// returned `Notify` on each notification and every second regardless.
pub(in crate::store) fn listen(db: &Db) -> Arc<Notify> {
    let wake = Arc::new(Notify::new());
    let target = db.pool.target.clone();
    let w = wake.clone();
    db.runtime().spawn(async move {
        loop {
            match target.config.connect(tokio_postgres::NoTls).await {
                Ok((client, mut connection)) => {
                    let driven = async {
                        loop {
                            let msg = std::future::poll_fn(|cx| connection.poll_message(cx)).await;
                            match msg {
                                Some(Ok(AsyncMessage::Notification(_))) => w.notify_one(),
                                Some(Ok(_)) => {}
                                Some(Err(_)) | None => return,
                            }
                        }
                    };
                    let listening = async {
                        if client
                            .batch_execute(&format!("LISTEN {CHANNEL}"))
                            .await
                            .is_err()
                        {
                            return;
                        }
                        loop {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            w.notify_one();
                        }
                    };
                    tokio::select! {
                        biased;
                        _ = driven => {}
                        _ = listening => {}
                    }
                }
                Err(e) => tracing::debug!(error = %e, "LISTEN connection failed; retrying"),
            }
            w.notify_one();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    wake
}
