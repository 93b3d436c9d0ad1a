//! Several daemons on one PostgreSQL store: who leads ([`Store::lead`], [`Role`]), the
//! fence that stops a deposed leader ([`Fence`], [`Store::fenced`]), and the queues
//! through which followers hand webhooks' hints and admin commands to the leader.
//!
//! The lease is a row renewed every second by the leader, valid for [`LEASE_TTL`] of the
//! database's clock; a follower takes it over when it ran out or when the leader's
//! session is gone (its process died: PostgreSQL drops its advisory lock at once). Each
//! takeover starts a new epoch. A fenced handle's write transactions check, inside the
//! transaction and under a row lock a takeover waits for, that their epoch still leads,
//! so every write of an epoch commits before the next epoch begins, and a deposed leader
//! can record nothing. Zendesk writes are gated by [`Fence::send_window`]: a write is
//! sent only while the lease surely lasts, and must end (its timeout) before it can run
//! out, so no write of an old leader lands after a new leader has settled what was in
//! doubt. Must not know record types or sync rules.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::watch;

use super::error::StoreError;
use super::{Store, Writes};

/// How long a lease lasts after its last renewal, on the database's clock.
pub const LEASE_TTL: Duration = Duration::from_secs(8);
/// How often the leader renews its lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How often a follower looks at the lease (and tries to take it over).
pub const POLL_EVERY: Duration = Duration::from_millis(500);
/// Taken off the lease's end on this daemon's clock: the renewal was sent before the
/// database stamped it, and clocks drift.
const LOCAL_MARGIN: Duration = Duration::from_secs(1);
/// A Zendesk write needs at least this much lease left to be sent.
const MIN_SEND_WINDOW: Duration = Duration::from_millis(1500);

/// The lease of one epoch, as the leader holding it sees it.
#[derive(Debug)]
pub struct Fence {
    epoch: u64,
    /// Until when (this daemon's monotonic clock) the lease surely holds.
    until: std::sync::Mutex<Instant>,
    lost: AtomicBool,
}

impl Fence {
    pub(super) fn new(epoch: u64, renewal_sent: Instant) -> Fence {
        Fence {
            epoch,
            until: std::sync::Mutex::new(renewal_sent + LEASE_TTL - LOCAL_MARGIN),
            lost: AtomicBool::new(false),
        }
    }

    /// The lease epoch (increases at every takeover).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether this daemon still leads under this lease.
    pub fn leads(&self) -> bool {
        !self.lost.load(Ordering::SeqCst) && Instant::now() < self.until()
    }

    /// How long a Zendesk write started now may take and still end while this lease
    /// surely holds; `None` when it no longer leads or too little is left (the write
    /// waits for the next renewal, or for good).
    pub fn send_window(&self) -> Option<Duration> {
        if self.lost.load(Ordering::SeqCst) {
            return None;
        }
        let left = self.until().checked_duration_since(Instant::now())?;
        (left >= MIN_SEND_WINDOW).then_some(left)
    }

    fn until(&self) -> Instant {
        *self.until.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A renewal sent at `sent` was confirmed.
    pub(super) fn renewed(&self, sent: Instant) {
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        *until = (*until).max(sent + LEASE_TTL - LOCAL_MARGIN);
    }

    /// The lease is gone for good (taken over, ran out, or its session died).
    pub(super) fn lose(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }

    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst) || Instant::now() >= self.until()
    }
}

/// The lease row as last read: who leads, since when, and the last handover.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaderRecord {
    /// The daemon holding the lease (`host (listen address)`), if any ever did.
    pub holder: Option<String>,
    pub epoch: u64,
    /// When the holder took the lease.
    pub since: Option<Timestamp>,
    /// When the lease runs out unless renewed.
    pub expires_at: Option<Timestamp>,
    /// Whether the lease had not run out when it was read.
    pub live: bool,
    /// Takeovers from another (or an earlier) holder so far.
    pub handovers: u64,
    pub last_handover: Option<Timestamp>,
    /// At the last handover: time from the previous holder's last renewal to the
    /// takeover (an upper bound of the time without a leader).
    pub last_gap_ms: Option<u64>,
    /// The holder before the current one.
    pub previous: Option<String>,
}

/// This daemon's part, as the lease says.
#[derive(Debug, Clone)]
pub enum Role {
    /// The lease was not read yet.
    Starting,
    /// Another daemon leads (or nobody, for now).
    Follower { leader: Option<LeaderRecord> },
    /// This daemon leads under `fence`.
    Leader {
        fence: Arc<Fence>,
        record: LeaderRecord,
    },
}

impl Role {
    pub fn record(&self) -> Option<&LeaderRecord> {
        match self {
            Role::Starting => None,
            Role::Follower { leader } => leader.as_ref(),
            Role::Leader { record, .. } => Some(record),
        }
    }

    /// Whether this daemon leads now: the lease says so and still holds.
    pub fn is_leader(&self) -> bool {
        matches!(self, Role::Leader { fence, .. } if fence.leads())
    }
}

/// The running lease of this daemon; dropping it stops competing (without releasing a
/// held lease: it runs out). [`Leadership::step_down`] hands over at once.
pub struct Leadership {
    pub(super) role: watch::Receiver<Role>,
    pub(super) stop: Option<tokio::sync::oneshot::Sender<tokio::sync::oneshot::Sender<()>>>,
}

impl Leadership {
    /// This daemon's role, updated at every renewal or poll.
    pub fn role(&self) -> watch::Receiver<Role> {
        self.role.clone()
    }

    /// Stops competing and, if leading, gives the lease up so a follower takes over at
    /// its next look (call once the engine has stopped writing).
    pub async fn step_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let (done, wait) = tokio::sync::oneshot::channel();
            if stop.send(done).is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
            }
        }
    }
}

/// A command a follower queued for the leader (share, unshare, resync).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedCommand {
    pub id: u64,
    pub kind: String,
    /// The request as JSON.
    pub body: String,
}

impl Store {
    /// Whether the store is in PostgreSQL (several daemons may share it).
    pub fn is_postgres(&self) -> bool {
        self.inner.db.postgres().is_some()
    }

    fn pg(&self, op: &'static str) -> Result<&super::postgres::Db, StoreError> {
        self.inner.db.postgres().ok_or_else(|| StoreError::Engine {
            path: self.inner.path.clone(),
            op,
            detail: "only a PostgreSQL store (daemon.store) has a leader".into(),
            source: None,
        })
    }

    /// Starts competing for the lead as `holder` (a name operators recognise, e.g.
    /// `host (listen address)`). PostgreSQL only.
    pub fn lead(&self, holder: &str) -> Result<Leadership, StoreError> {
        let db = self.pg("lead")?;
        Ok(super::postgres::lease::start(db, holder.to_owned()))
    }

    /// A handle whose every write transaction commits only while `fence` leads.
    pub fn fenced(&self, fence: Arc<Fence>) -> Store {
        Store {
            inner: self.inner.clone(),
            writes: Writes::Fenced(fence),
        }
    }

    /// A handle that only reads the facade's tables (a follower's).
    pub fn reader(&self) -> Store {
        Store {
            inner: self.inner.clone(),
            writes: Writes::Refused,
        }
    }

    /// The lease this handle's writes are fenced by, if any.
    pub fn fence(&self) -> Option<Arc<Fence>> {
        match &self.writes {
            Writes::Fenced(f) => Some(f.clone()),
            _ => None,
        }
    }

    /// The lease row now; `None` for a file store.
    pub fn leader_record(&self) -> Result<Option<LeaderRecord>, StoreError> {
        let Some(db) = self.inner.db.postgres() else {
            return Ok(None);
        };
        super::postgres::lease::read(db).map_err(|e| e.at(&self.inner.path, "read the lease"))
    }

    /// Hands changed tickets (account, ticket) to the leader, which takes them with
    /// [`Store::take_hints`]; a ticket already waiting is one hint.
    pub fn push_hints(&self, hints: &[(String, u64)]) -> Result<(), StoreError> {
        const OP: &str = "hand hints to the leader";
        let db = self.pg(OP)?;
        super::postgres::relay::push_hints(db, hints).map_err(|e| e.at(&self.inner.path, OP))
    }

    /// Takes every hint followers handed over.
    pub fn take_hints(&self) -> Result<Vec<(String, u64)>, StoreError> {
        const OP: &str = "take hints";
        let db = self.pg(OP)?;
        super::postgres::relay::take_hints(db).map_err(|e| e.at(&self.inner.path, OP))
    }

    /// Queues an admin command for the leader; its id.
    pub fn queue_command(&self, kind: &str, body: &str, by: &str) -> Result<u64, StoreError> {
        const OP: &str = "queue a command for the leader";
        let db = self.pg(OP)?;
        super::postgres::relay::queue_command(db, kind, body, by)
            .map_err(|e| e.at(&self.inner.path, OP))
    }

    /// The oldest command nobody took yet, now taken by `holder`.
    pub fn take_command(&self, holder: &str) -> Result<Option<QueuedCommand>, StoreError> {
        const OP: &str = "take a queued command";
        let db = self.pg(OP)?;
        super::postgres::relay::take_command(db, holder).map_err(|e| e.at(&self.inner.path, OP))
    }

    /// Records a command's answer (HTTP status and JSON body).
    pub fn finish_command(&self, id: u64, status: u16, result: &str) -> Result<(), StoreError> {
        const OP: &str = "record a command's answer";
        let db = self.pg(OP)?;
        super::postgres::relay::finish_command(db, id, status, result)
            .map_err(|e| e.at(&self.inner.path, OP))
    }

    /// A command's answer, once the leader gave it.
    pub fn command_result(&self, id: u64) -> Result<Option<(u16, String)>, StoreError> {
        const OP: &str = "read a command's answer";
        let db = self.pg(OP)?;
        super::postgres::relay::command_result(db, id).map_err(|e| e.at(&self.inner.path, OP))
    }

    /// Withdraws a command nobody took yet; whether it was withdrawn (false: a leader is
    /// running it, or it is done).
    pub fn cancel_command(&self, id: u64) -> Result<bool, StoreError> {
        const OP: &str = "withdraw a queued command";
        let db = self.pg(OP)?;
        super::postgres::relay::cancel_command(db, id).map_err(|e| e.at(&self.inner.path, OP))
    }

    /// Puts back commands taken but never answered (their leader died); at a takeover.
    pub fn requeue_unfinished_commands(&self) -> Result<u64, StoreError> {
        const OP: &str = "requeue unanswered commands";
        let db = self.pg(OP)?;
        super::postgres::relay::requeue(db).map_err(|e| e.at(&self.inner.path, OP))
    }

    /// Wakes when a follower hands over a hint or a command (`LISTEN`); also wakes now
    /// and then on its own, so a missed notification costs a second at most.
    pub fn wakeups(&self) -> Result<Arc<tokio::sync::Notify>, StoreError> {
        let db = self.pg("listen")?;
        Ok(super::postgres::relay::listen(db))
    }
}
