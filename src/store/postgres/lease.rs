//! The leader lease in `sharebridge_leader` (one row): taken over in one transaction
//! that bumps the epoch and takes a session advisory lock named by the epoch (so
//! followers see at once when the leader's session is gone), renewed every second, given
//! up on a clean stop. The lease connection is its own, not the pool's: its death is the
//! leader's death, and it loses the fence at once.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use jiff::Timestamp;
use tokio::sync::{oneshot, watch};
use tokio_postgres::{NoTls, Row};

use super::{Db, EPOCH_LOCK_CLASS, Target, WRITER_IDLE_TIMEOUT, pg_error, timed};
use crate::store::cluster::{
    Fence, LEASE_TTL, LeaderRecord, Leadership, POLL_EVERY, RENEW_EVERY, Role,
};
use crate::store::engine::EngineError;

type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Longest one look at the lease may take; a renewal stuck longer is retried until the
/// last one no longer vouches for the lease.
const STEP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The lease row's columns, times as microseconds since the epoch.
const COLUMNS: &str = "holder, epoch, \
    (extract(epoch from since) * 1000000)::bigint, \
    (extract(epoch from expires_at) * 1000000)::bigint, \
    coalesce(expires_at > clock_timestamp(), false), handovers, \
    (extract(epoch from last_handover) * 1000000)::bigint, last_gap_ms, previous";

/// Is the advisory lock of the row's epoch held by some session?
const EPOCH_LOCK_HELD: &str = "EXISTS (SELECT 1 FROM pg_locks \
    WHERE locktype = 'advisory' AND granted AND objsubid = 2 \
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
    AND classid = 21315::oid AND objid = ((epoch % 2147483647)::int4)::oid)";

fn micros(row: &Row, i: usize) -> Option<Timestamp> {
    row.get::<_, Option<i64>>(i)
        .and_then(|us| Timestamp::from_microsecond(us).ok())
}

fn record(row: &Row) -> LeaderRecord {
    LeaderRecord {
        holder: row.get(0),
        epoch: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0),
        since: micros(row, 2),
        expires_at: micros(row, 3),
        live: row.get(4),
        handovers: u64::try_from(row.get::<_, i64>(5)).unwrap_or(0),
        last_handover: micros(row, 6),
        last_gap_ms: row
            .get::<_, Option<i64>>(7)
            .and_then(|v| u64::try_from(v).ok()),
        previous: row.get(8),
    }
}

/// The lease row now.
pub(in crate::store) fn read(db: &Db) -> Result<Option<LeaderRecord>> {
    let pool = db.pool.clone();
    db.block(async move {
        let (mut conn, _permit) = pool.reader().await?;
        let s = conn
            .statement(&format!(
                "SELECT {COLUMNS} FROM sharebridge_leader WHERE id = 1"
            ))
            .await?;
        let row = timed(conn.client.query_opt(&s, &[])).await?;
        pool.give_back(conn);
        Ok(row.as_ref().map(record))
    })
}

/// Starts competing for the lease on the store's worker runtime.
pub(in crate::store) fn start(db: &Db, holder: String) -> Leadership {
    let (tx, rx) = watch::channel(Role::Starting);
    let (stop_tx, stop_rx) = oneshot::channel();
    let target = db.pool.target.clone();
    db.runtime().spawn(run(target, holder, tx, stop_rx));
    Leadership {
        role: rx,
        stop: Some(stop_tx),
    }
}

/// The lease connection, and the fence it loses if it dies.
struct LeaseConn {
    client: tokio_postgres::Client,
    held: Arc<Mutex<Option<Arc<Fence>>>>,
}

async fn connect(target: &Target) -> Result<LeaseConn> {
    let (client, connection) = timed(target.config.connect(NoTls)).await?;
    let held: Arc<Mutex<Option<Arc<Fence>>>> = Arc::default();
    let on_close = held.clone();
    tokio::spawn(async move {
        let _ = connection.await;
        // The session is gone, and with it the epoch's advisory lock: a follower may take
        // over at its next look, so this daemon stops leading now.
        if let Some(f) = on_close.lock().unwrap_or_else(|e| e.into_inner()).take() {
            f.lose();
        }
    });
    timed(client.batch_execute(&format!(
        "SET idle_in_transaction_session_timeout = '{WRITER_IDLE_TIMEOUT}'"
    )))
    .await?;
    Ok(LeaseConn { client, held })
}

async fn run(
    target: Target,
    holder: String,
    tx: watch::Sender<Role>,
    mut stop: oneshot::Receiver<oneshot::Sender<()>>,
) {
    let mut conn: Option<LeaseConn> = None;
    let mut current: Option<Arc<Fence>> = None;
    loop {
        let outcome = match tokio::time::timeout(
            STEP_TIMEOUT,
            step(&target, &holder, &mut conn, &mut current),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(EngineError::Other(
                format!(
                    "PostgreSQL did not answer the lease within {} s",
                    STEP_TIMEOUT.as_secs()
                ),
                None,
            )),
        };
        match outcome {
            Ok(role) => {
                tx.send_replace(role);
            }
            Err(e) => {
                let e = e.at(std::path::Path::new(&target.shown), "lease");
                // The lease cannot be read or renewed: keep leading only while the last
                // renewal still vouches for it.
                if let Some(f) = &current
                    && f.is_lost()
                {
                    f.lose();
                    current = None;
                    conn = None;
                    tracing::error!(error = %e, "lost the lead: the lease could not be renewed in time");
                    tx.send_replace(Role::Follower { leader: None });
                } else {
                    tracing::warn!(error = %e, "lease not renewed; retrying");
                }
                if current.is_none() {
                    conn = None;
                }
            }
        }
        let pause = if current.is_some() {
            RENEW_EVERY
        } else {
            POLL_EVERY
        };
        tokio::select! {
            biased;
            done = &mut stop => {
                if let Some(f) = current.take() {
                    f.lose();
                    if let Some(c) = &conn {
                        let _ = step_down(c, f.epoch()).await;
                    }
                    tracing::info!(epoch = f.epoch(), "gave up the lead");
                }
                tx.send_replace(Role::Follower { leader: None });
                if let Ok(done) = done {
                    let _ = done.send(());
                }
                return;
            }
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// One look at the lease: renew it when leading, else try to take it over.
async fn step(
    target: &Target,
    holder: &str,
    conn: &mut Option<LeaseConn>,
    current: &mut Option<Arc<Fence>>,
) -> Result<Role> {
    if conn.as_ref().is_none_or(|c| c.client.is_closed()) {
        if let Some(f) = current.take() {
            f.lose();
            tracing::error!(
                epoch = f.epoch(),
                "lost the lead: the lease connection closed"
            );
        }
        *conn = Some(connect(target).await?);
    }
    let c = conn.as_ref().expect("connected above");
    let ttl = LEASE_TTL.as_secs_f64();
    let sent = Instant::now();
    if let Some(fence) = current.clone() {
        let epoch = i64::try_from(fence.epoch()).unwrap_or(i64::MAX);
        let row = timed(c.client.query_opt(
            &format!(
                "UPDATE sharebridge_leader SET expires_at = clock_timestamp() + make_interval(secs => $2), \
                 renewed_at = clock_timestamp() \
                 WHERE id = 1 AND epoch = $1 AND holder = $3 AND expires_at > clock_timestamp() \
                 RETURNING {COLUMNS}"
            ),
            &[&epoch, &ttl, &holder],
        ))
        .await?;
        return Ok(match row {
            Some(row) => {
                fence.renewed(sent);
                Role::Leader {
                    fence,
                    record: record(&row),
                }
            }
            None => {
                fence.lose();
                *current = None;
                *c.held.lock().unwrap_or_else(|e| e.into_inner()) = None;
                // Drop the connection: it still holds the old epoch's advisory lock.
                *conn = None;
                tracing::error!(
                    epoch,
                    "lost the lead: another daemon took the lease over, or it ran out"
                );
                Role::Follower { leader: None }
            }
        });
    }
    // Not leading: take the lease over if nobody holds it, it ran out, or its holder's
    // session is gone; all in one transaction with the new epoch's advisory lock.
    let taken = take_over(&c.client, holder, ttl).await?;
    match taken {
        Some(row) => {
            let rec = record(&row);
            let fence = Arc::new(Fence::new(rec.epoch, sent));
            *c.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(fence.clone());
            *current = Some(fence.clone());
            tracing::info!(
                epoch = rec.epoch,
                previous = rec.previous.as_deref().unwrap_or("none"),
                gap_ms = rec.last_gap_ms,
                "took the lead"
            );
            Ok(Role::Leader { fence, record: rec })
        }
        None => {
            let row = timed(c.client.query_opt(
                &format!("SELECT {COLUMNS} FROM sharebridge_leader WHERE id = 1"),
                &[],
            ))
            .await?;
            Ok(Role::Follower {
                leader: row.as_ref().map(record),
            })
        }
    }
}

async fn take_over(client: &tokio_postgres::Client, holder: &str, ttl: f64) -> Result<Option<Row>> {
    // A takeover waits at most a second for the lease row: a transaction of a cut-off
    // leader holding it is ended by the server soon, and the next look tries again.
    timed(client.batch_execute("BEGIN; SET LOCAL lock_timeout = '1s'")).await?;
    let result = async {
        let row = timed(client.query_opt(
            &format!(
                "UPDATE sharebridge_leader SET \
                   previous = holder, \
                   handovers = handovers + CASE WHEN holder IS NULL THEN 0 ELSE 1 END, \
                   last_handover = CASE WHEN holder IS NULL THEN last_handover ELSE clock_timestamp() END, \
                   last_gap_ms = CASE WHEN holder IS NULL OR renewed_at IS NULL THEN last_gap_ms \
                     ELSE greatest(0, (extract(epoch from clock_timestamp() - renewed_at) * 1000)::bigint) END, \
                   holder = $1, epoch = epoch + 1, since = clock_timestamp(), \
                   renewed_at = clock_timestamp(), \
                   expires_at = clock_timestamp() + make_interval(secs => $2) \
                 WHERE id = 1 AND (holder IS NULL OR expires_at IS NULL \
                   OR expires_at <= clock_timestamp() OR NOT {EPOCH_LOCK_HELD}) \
                 RETURNING {COLUMNS}"
            ),
            &[&holder, &ttl],
        ))
        .await?;
        if let Some(row) = &row {
            let epoch: i64 = row.get(1);
            let key = i32::try_from(epoch % 2_147_483_647).unwrap_or(0);
            timed(client.query("SELECT pg_advisory_lock($1, $2)", &[&EPOCH_LOCK_CLASS, &key])).await?;
        }
        Ok(row)
    }
    .await;
    match result {
        Ok(row) => {
            timed(client.batch_execute("COMMIT")).await?;
            Ok(row)
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await.map_err(pg_error);
            Err(e)
        }
    }
}

/// Ends the lease now, so a follower takes over at its next look.
async fn step_down(c: &LeaseConn, epoch: u64) -> Result<()> {
    let epoch = i64::try_from(epoch).unwrap_or(i64::MAX);
    timed(c.client.execute(
        "UPDATE sharebridge_leader SET expires_at = clock_timestamp(), renewed_at = clock_timestamp() \
         WHERE id = 1 AND epoch = $1",
        &[&epoch],
    ))
    .await?;
    Ok(())
}
