//! The sync engine: detect → decide → write → record (DESIGN §5).
//!
//! Webhooks and the per-account pollers put "ticket T of account A changed" into
//! [`hints::Hints`]; the [`scheduler`] waits `coalesce_window` and runs one task per
//! ticket; the task ([`process`]) reads the ticket once, auto-shares or unshares it under
//! each agreement, and syncs every link it belongs to ([`sync`]): the pure core
//! (`plan`, `rules`, `coalesce`) decides, this module writes to Zendesk and records each
//! write in the store before the next one. The protocol that makes that exactly-once is
//! written down in ARCHITECTURE.md.
//!
//! Architecture invariant: decisions live in the pure modules; this module sequences I/O.
//! It never logs a comment body or a token: only ids, accounts and counts.

mod accounts;
mod agreements;
mod attachments;
mod carried;
mod error;
mod fanin;
pub mod hints;
mod mirror;
mod orphaning;
mod poll;
mod privacy;
mod process;
mod reconcile;
mod recovery;
mod run;
mod scheduler;
mod share;
mod sync;
mod system;
pub mod workers;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{OwnedMutexGuard, watch};

use crate::agreement::{Derived, State};
use crate::config::{AgreementConfig, Config};
use crate::link::{self, Direction};
use crate::metrics::Metrics;
use crate::store::{LinkState, Store};

pub use accounts::{Account, StoreTokens, grant_in_use, pair_of, tokens_of};
pub use error::EngineError;
use hints::Hints;
pub use reconcile::SweepReport;

/// How many tickets are processed at once, across accounts.
pub(crate) const CONCURRENCY: usize = 32;
/// How many of those one account's tickets may hold: an account whose tasks wait on its
/// own request budget never holds the slots the others need.
pub(crate) const PER_ACCOUNT: usize = 8;
/// Delay before a ticket whose processing failed transiently is tried again.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(5);
/// The shortest such delay (a write in doubt decided sooner than `RETRY_AFTER`).
pub(crate) const MIN_RETRY: Duration = Duration::from_millis(100);

/// Serialises writes to one Zendesk ticket.
type TicketLock = Arc<tokio::sync::Mutex<()>>;

/// The running engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    config: watch::Receiver<Arc<Config>>,
    store: Store,
    accounts: RwLock<BTreeMap<String, Arc<Account>>>,
    hints: Arc<Hints>,
    metrics: Arc<Metrics>,
    /// Agreement states as last derived.
    states: RwLock<BTreeMap<String, Derived>>,
    /// Held (shared) from a consent check to the link it lets be stored, and (alone) by
    /// a start or reload from its new states to its walk over the links: no link is
    /// stored under an agreement that stopped being accepted after its walk looked
    /// (`Engine::with_consent`).
    consent_gate: RwLock<()>,
    /// Links and flows checked against their receiving ticket since this start
    /// (`sync::catch_up`).
    verified: Mutex<std::collections::HashSet<(u64, crate::link::Flow)>>,
    /// Per-account counters last exported to metrics (requests, 429s, retries).
    exported: Mutex<HashMap<String, (u64, u64, u64)>>,
    /// When the scheduler loop last turned (for the systemd watchdog).
    heartbeat: Mutex<tokio::time::Instant>,
    /// The link and orphan gauges need a recount (`recount_gauges`).
    gauges_stale: std::sync::atomic::AtomicBool,
    /// How many times a link's stored direction was changed by this process, counted
    /// before each change is stored (`may_write`).
    directions: std::sync::atomic::AtomicU64,
    /// What the scheduler holds, counted under the same lock as the hints are drained
    /// into it: a reader never sees a hint drained and not yet counted (`settle` and the
    /// export position once took that moment for quiet on a loaded machine).
    pub(crate) activity: Mutex<Activity>,
    /// One writer per Zendesk ticket at a time: at most one write in doubt per ticket.
    ticket_locks: Mutex<HashMap<(String, u64), TicketLock>>,
    /// One step per link at a time (its two flows take turns); taken before a ticket's.
    link_locks: Mutex<HashMap<u64, TicketLock>>,
    /// Each account's workers and their status.
    workers: workers::Workers,
    /// Accounts a reload made worth trying again: their parked tickets run (`run`).
    revived: Mutex<Vec<String>>,
    /// Wakes pollers stopped on a dead credential when a reload tries it again.
    revive: tokio::sync::Notify,
    /// Tickets parked on dead credentials, as the scheduler last counted them.
    parked: std::sync::atomic::AtomicUsize,
    /// The transport every account's client sends through; `None`: reqwest (production).
    transport: Option<Arc<dyn crate::zendesk::client::Transport>>,
    /// When this engine started: a write in doubt older than this was left by an earlier
    /// run (a crash, or another daemon that led before), as its log line says.
    started_at: jiff::Timestamp,
    /// Per write in doubt of this run (link, flow, marker): the first time it was settled,
    /// by which its request had certainly been sent (see `recovery::sent_by`).
    sent_by: Mutex<HashMap<(u64, crate::link::Flow, String), jiff::Timestamp>>,
    /// When the loop should run the recovery pass again (`recovery::recover_at`).
    recover_due: Mutex<Option<jiff::Timestamp>>,
}

/// The scheduler's work as it last counted it (see `Shared::activity`).
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Tickets waiting, due, running or parked.
    pub(crate) total: usize,
    /// The same per account (an account's export position waits for its own work only).
    pub(crate) by_account: HashMap<String, usize>,
}

impl Engine {
    /// Builds the accounts and derives agreement states (auditing transitions, orphaning
    /// links of agreements no longer accepted). Writes left in doubt by a crash are
    /// settled when [`Engine::run`] starts.
    pub async fn start(
        config: watch::Receiver<Arc<Config>>,
        store: Store,
        hints: Arc<Hints>,
        metrics: Arc<Metrics>,
    ) -> Result<Engine, EngineError> {
        Self::start_with_transport(config, store, hints, metrics, None).await
    }

    /// [`Engine::start`] with every account's client sending through `transport`
    /// (`sharebridge chaos`: the simulated network); `None` is reqwest.
    pub async fn start_with_transport(
        config: watch::Receiver<Arc<Config>>,
        store: Store,
        hints: Arc<Hints>,
        metrics: Arc<Metrics>,
        transport: Option<Arc<dyn crate::zendesk::client::Transport>>,
    ) -> Result<Engine, EngineError> {
        let engine = Engine {
            shared: Arc::new(Shared {
                started_at: crate::clock::now(),
                sent_by: Mutex::new(HashMap::new()),
                recover_due: Mutex::new(None),
                config,
                store,
                accounts: RwLock::new(BTreeMap::new()),
                hints,
                metrics,
                states: RwLock::new(BTreeMap::new()),
                consent_gate: RwLock::new(()),
                activity: Mutex::new(Activity::default()),
                gauges_stale: std::sync::atomic::AtomicBool::new(true),
                directions: std::sync::atomic::AtomicU64::new(0),
                heartbeat: Mutex::new(tokio::time::Instant::now()),
                exported: Mutex::new(HashMap::new()),
                verified: Mutex::new(Default::default()),
                ticket_locks: Mutex::new(HashMap::new()),
                link_locks: Mutex::new(HashMap::new()),
                workers: workers::Workers::default(),
                revived: Mutex::new(Vec::new()),
                revive: tokio::sync::Notify::new(),
                parked: std::sync::atomic::AtomicUsize::new(0),
                transport,
            }),
        };
        engine.rebuild_accounts()?;
        engine.configure_workers(Vec::new());
        engine.apply_agreements().await?;
        engine.refresh_gauges();
        Ok(engine)
    }

    /// Re-reads the configuration after SIGHUP: accounts rebuilt where they changed,
    /// agreement states derived again (transitions audited, links orphaned or re-directed).
    pub async fn reload(&self) -> Result<(), EngineError> {
        self.rebuild_accounts()?;
        // A reload is the fix a dead credential asks for: each is tried again.
        self.configure_workers(self.shared.workers.dead());
        self.apply_agreements().await?;
        self.refresh_gauges();
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    pub fn config(&self) -> Arc<Config> {
        self.shared.config.borrow().clone()
    }

    /// Agreement states as last derived, by name.
    pub fn agreement_states(&self) -> Vec<Derived> {
        self.shared
            .states
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Waits until no ticket is waiting or being processed and no write is owed (no write
    /// in doubt, no orphan note still to write); tests, the demo and the bench use it.
    pub async fn settle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut quiet = 0;
        while tokio::time::Instant::now() < deadline {
            // Idle on several consecutive looks: a hint being moved into the scheduler
            // is not mistaken for quiet.
            // An orphan's tag and note are owed from the moment the orphan is recorded
            // until written, even before the background task that writes them runs.
            let nothing_owed = self
                .store()
                .pending_writes()
                .map(|p| p.is_empty())
                .unwrap_or(true)
                && self
                    .store()
                    .orphans()
                    .map(|o| !o.iter().any(|o| o.note_owed))
                    .unwrap_or(true);
            let idle = {
                let activity = self.activity();
                activity.total == 0 && self.shared.hints.is_empty()
            };
            quiet = if idle && nothing_owed { quiet + 1 } else { 0 };
            if quiet >= 3 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    pub(crate) fn activity(&self) -> std::sync::MutexGuard<'_, Activity> {
        self.shared
            .activity
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// How long ago the scheduler loop last turned.
    pub fn heartbeat_age(&self) -> Duration {
        self.shared
            .heartbeat
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    /// The bridge's own user id in `account`, if already learnt.
    pub fn known_bridge_user(&self, account: &str) -> Option<u64> {
        self.account(account)
            .ok()
            .and_then(|a| a.known_bridge_user())
    }

    /// Reads `account`'s export once now, from the stored position, pushes the hints it
    /// finds and, once they are done, stores the new position (for tests; the daemon polls
    /// on its own); how many events were new.
    pub async fn poll_now(&self, account: &str) -> Result<usize, EngineError> {
        let acct = self.account(account)?;
        let mut next = None;
        let read = poll::poll_once(self, &acct, &mut next).await?;
        // Confirmed once what it found is done, as the daemon's own loop does.
        if let Some(at) = next
            && self.settle(Duration::from_secs(30)).await
        {
            self.store()
                .set_cursor(account, poll::EVENTS_STREAM, &at.render())?;
        }
        Ok(read)
    }

    /// Tickets of `account` waiting for a hint to be scheduled, due, running or parked.
    pub fn backlog_of(&self, account: &str) -> usize {
        let activity = self.activity();
        self.shared.hints.len_of(account) + activity.by_account.get(account).copied().unwrap_or(0)
    }

    /// Tickets waiting or being processed now.
    pub fn backlog(&self) -> usize {
        let activity = self.activity();
        activity.total + self.shared.hints.len()
    }

    /// Each account's request budget as its client's gate sees it now, by account name
    /// (the status page renders it; nothing here touches Zendesk).
    pub fn rate_budgets(&self) -> Vec<(String, crate::zendesk::client::gate::GateStatus)> {
        self.accounts()
            .iter()
            .map(|a| (a.name.clone(), a.client.gate_status()))
            .collect()
    }

    // ---- shared helpers for the submodules ----

    pub(crate) fn accounts(&self) -> Vec<Arc<Account>> {
        self.shared
            .accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub(crate) fn account(&self, name: &str) -> Result<Arc<Account>, EngineError> {
        self.shared
            .accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
            .ok_or_else(|| EngineError::UnknownAccount(name.to_owned()))
    }

    /// Builds each configured account's client: kept where its configuration did not
    /// change, new where it did (its poller uses the new one from its next poll on), gone
    /// where the account was removed. The names of the accounts built anew are kept for
    /// [`Engine::configure_workers`].
    fn rebuild_accounts(&self) -> Result<(), EngineError> {
        let config = self.config();
        let mut accounts = self
            .shared
            .accounts
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let mut next = BTreeMap::new();
        let mut fresh_names = Vec::new();
        for (name, ac) in &config.accounts {
            let fresh = Account::new(ac, &self.shared.store, self.shared.transport.clone())?;
            let keep = accounts
                .get(name)
                .filter(|old| old.fingerprint == fresh.fingerprint)
                .cloned();
            if keep.is_none() {
                fresh_names.push(name.clone());
            }
            next.insert(name.clone(), keep.unwrap_or_else(|| Arc::new(fresh)));
        }
        *accounts = next;
        drop(accounts);
        self.configure_workers(fresh_names);
        Ok(())
    }

    /// Brings the workers' status in line with the configured accounts; `fresh` ones (new
    /// clients, or dead credentials a reload tries again) start over, and what was parked
    /// on them runs again.
    fn configure_workers(&self, fresh: Vec<String>) {
        let config = self.config();
        let accounts: Vec<(String, bool)> = config
            .accounts
            .iter()
            .map(|(n, a)| (n.clone(), a.webhook_secret.is_some()))
            .collect();
        let revived = self.shared.workers.configure(&accounts, &fresh);
        let mut queue = self
            .shared
            .revived
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        queue.extend(revived);
        // A changed account may have had tickets parked on its old credential.
        queue.extend(fresh);
        drop(queue);
        self.shared.revive.notify_waiters();
    }

    /// Every account's workers and their status, with its export position and token
    /// expiry from the store (status page, `/api/accounts`). Touches no Zendesk.
    pub fn account_views(&self) -> Vec<workers::AccountView> {
        let config = self.config();
        self.shared
            .workers
            .snapshot()
            .into_iter()
            .map(|s| workers::AccountView {
                subdomain: config
                    .accounts
                    .get(&s.account)
                    .map(|a| a.subdomain.clone())
                    .unwrap_or_default(),
                token_expires_at: self
                    .store()
                    .oauth_tokens(&s.account)
                    .ok()
                    .flatten()
                    .map(|t| t.expires_at),
                export_position: self
                    .store()
                    .cursor(&s.account, poll::EVENTS_STREAM)
                    .ok()
                    .flatten(),
                account: s.account,
                auth: s.auth,
                webhook: s.webhook,
                poller: s.poller,
                fix: s.fix,
            })
            .collect()
    }

    /// Accounts whose credential Zendesk refused, with what to do: `/readyz` is not
    /// ready while there is one.
    pub fn dead_credentials(&self) -> Vec<(String, String)> {
        self.shared
            .workers
            .snapshot()
            .into_iter()
            .filter(|s| s.credential_dead())
            .map(|s| {
                let fix = s.fix.unwrap_or_default();
                (s.account, fix)
            })
            .collect()
    }

    /// Tickets parked until an account's credential works again.
    pub fn parked(&self) -> usize {
        self.shared.parked.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A webhook delivery for `account` was accepted (`Ok`) or refused (`Err(reason)`).
    pub fn note_webhook(&self, account: &str, outcome: Result<(), &str>) {
        let now = crate::clock::now();
        match outcome {
            Ok(()) => self
                .shared
                .workers
                .succeeded(account, workers::Worker::Webhook, now),
            Err(reason) => self.shared.workers.failed(
                account,
                workers::Worker::Webhook,
                &format!("a delivery was refused: {reason}"),
                false,
                now,
            ),
        }
    }

    /// The state of an agreement by name (`None` when unknown).
    pub(crate) fn state_of(&self, name: &str) -> Option<State> {
        self.shared
            .states
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .map(|d| d.state)
    }

    /// Runs `store` (a synchronous store write that makes or revives a live link under
    /// `agreement`) only while the agreement is accepted, with no agreement pass between
    /// the check and the write: a share that read Zendesk while a reload withdrew its
    /// agreement must not store its link after the reload's walk orphaned the others
    /// (found by the deterministic simulation, seed 4458).
    pub(crate) fn with_consent<T>(
        &self,
        agreement: &str,
        store: impl FnOnce() -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let _gate = self
            .shared
            .consent_gate
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let state = self.state_of(agreement).unwrap_or(State::Pending);
        if state != State::Accepted {
            return Err(EngineError::NotAccepted {
                name: agreement.to_owned(),
                state,
            });
        }
        store()
    }

    /// The agreement sharing `from → to` in the current configuration.
    pub(crate) fn agreement_between(&self, from: &str, to: &str) -> Option<AgreementConfig> {
        self.config()
            .agreements
            .iter()
            .find(|a| a.from == from && a.to == to)
            .cloned()
    }

    /// The direction a link under `agreement` (from → to) has now.
    pub(crate) fn direction_for(&self, agreement: &AgreementConfig) -> Direction {
        let own = self.state_of(&agreement.name).unwrap_or(State::Pending);
        let reverse = self
            .agreement_between(&agreement.to, &agreement.from)
            .and_then(|r| self.state_of(&r.name));
        link::direction(own, reverse)
    }

    /// Whether `flow` of `link` may write now: the link's agreement accepted at this
    /// moment and, for replies from the mirror, the reverse agreement too (DESIGN §5:
    /// consent at every write, whatever crashed in between).
    pub(crate) fn consents(&self, link: &crate::store::Link, flow: link::Flow) -> bool {
        let accepted = |name: &str| self.state_of(name) == Some(State::Accepted);
        if !accepted(&link.agreement) {
            return false;
        }
        match flow {
            link::Flow::SourceToTarget => true,
            link::Flow::TargetToSource => self
                .agreement_between(&link.target_account, &link.source_account)
                .is_some_and(|r| accepted(&r.name)),
        }
    }

    /// Whether a write of `flow` between `ends` may be sent now: consent as in
    /// [`Engine::consents`] and, for a reply from the mirror, the link stored two-way and
    /// no link's direction changed since the step took `ends`. A step that read the
    /// mirror before a downgrade (and, maybe, the upgrade after it) holds comments written
    /// while the link was one-way; they never cross (DESIGN §5: an upgrade is not
    /// retroactive, the reverse flow starts from the mirror as the upgrade found it).
    pub(crate) fn may_write(
        &self,
        link: &crate::store::Link,
        flow: link::Flow,
        ends: &sync::Ends,
    ) -> bool {
        self.consents(link, flow)
            && (flow == link::Flow::SourceToTarget
                || (self.directions_changed() == ends.directions
                    && self.stored_two_way(link.id).unwrap_or(false)))
    }

    /// The count [`Engine::may_write`] compares.
    pub(crate) fn directions_changed(&self) -> u64 {
        self.shared
            .directions
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Counted before a link's direction is stored changed, so a step that took its ends
    /// before the change cannot write a reply after it.
    pub(crate) fn direction_changing(&self) {
        self.shared
            .directions
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether link `id` is stored live and two-way now.
    pub(crate) fn stored_two_way(&self, id: u64) -> Result<bool, EngineError> {
        Ok(self.store().link(id)?.is_some_and(|l| {
            l.state == crate::store::LinkState::Active && l.direction == link::Direction::TwoWay
        }))
    }

    /// The turn of one link: its two flows (and the carried path) never run at once.
    pub(crate) async fn lock_link(&self, link: u64) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .shared
                .link_locks
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if locks.len() > 4096 {
                locks.retain(|_, m| Arc::strong_count(m) > 1);
            }
            locks.entry(link).or_default().clone()
        };
        lock.lock_owned().await
    }

    pub(crate) async fn lock_ticket(&self, account: &str, ticket: u64) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .shared
                .ticket_locks
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            // Locks nobody holds or waits for are dropped now and then, so the map stays
            // as small as the work in flight.
            if locks.len() > 4096 {
                locks.retain(|_, m| Arc::strong_count(m) > 1);
            }
            locks
                .entry((account.to_owned(), ticket))
                .or_default()
                .clone()
        };
        lock.lock_owned().await
    }

    /// Brings the per-account metrics up to date from each client (called before
    /// `/metrics` renders): requests, 429s, retries, budget left.
    pub fn export_account_metrics(&self) {
        let m = &self.shared.metrics;
        m.worker_up.clear();
        for s in self.shared.workers.snapshot() {
            for w in workers::Worker::ALL {
                let state = s.worker(w).state;
                if state == workers::WorkerState::Off {
                    continue;
                }
                let up = matches!(
                    state,
                    workers::WorkerState::Ok | workers::WorkerState::Starting
                );
                m.worker_up
                    .get_or_create(&crate::metrics::WorkerLabels {
                        account: s.account.clone(),
                        worker: w.as_str().to_owned(),
                    })
                    .set(i64::from(up));
            }
        }
        let mut seen = self
            .shared
            .exported
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for account in self.accounts() {
            let (requests, retries) = account.client.counters();
            let status = account.client.gate_status();
            let labels = crate::metrics::AccountLabels {
                account: account.name.clone(),
            };
            let last = seen.entry(account.name.clone()).or_default();
            m.requests
                .get_or_create(&labels)
                .inc_by(requests.saturating_sub(last.0));
            m.throttled
                .get_or_create(&labels)
                .inc_by(status.throttled_total.saturating_sub(last.1));
            m.retries
                .get_or_create(&labels)
                .inc_by(retries.saturating_sub(last.2));
            *last = (
                requests.max(last.0),
                status.throttled_total.max(last.1),
                retries.max(last.2),
            );
            m.budget_remaining
                .get_or_create(&labels)
                .set(i64::from(status.remaining));
        }
    }

    /// Sets the link and orphan gauges from the store.
    /// Marks the link and orphan gauges stale; they are recounted when `/metrics` is read
    /// (one pass over the store per scrape, not per share).
    pub(crate) fn refresh_gauges(&self) {
        self.shared
            .gauges_stale
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Recounts the link and orphan gauges from the store if they are stale.
    pub fn recount_gauges(&self) {
        if !self
            .shared
            .gauges_stale
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let m = &self.shared.metrics;
        // Counted in one walk (memory stays flat with 100k links), then published.
        let mut counts: HashMap<(String, LinkState), i64> = HashMap::new();
        let mut mismatches: BTreeMap<(String, &'static str), i64> = BTreeMap::new();
        let walked = self.shared.store.for_each_link(|l| {
            if l.state == LinkState::Active {
                for m in &l.mismatches {
                    *mismatches
                        .entry((l.agreement.clone(), m.kind.as_str()))
                        .or_default() += 1;
                }
            }
            match counts.get_mut(&(l.agreement.clone(), l.state)) {
                Some(n) => *n += 1,
                None => {
                    counts.insert((l.agreement, l.state), 1);
                }
            }
            Ok(())
        });
        if walked.is_err() {
            return;
        }
        m.links.clear();
        m.orphans.clear();
        m.link_mismatches.clear();
        for ((agreement, kind), n) in mismatches {
            m.link_mismatches
                .get_or_create(&crate::metrics::MismatchLabels {
                    agreement,
                    kind: kind.to_owned(),
                })
                .set(n);
        }
        for ((agreement, state), n) in counts {
            let state = serde_json::to_value(state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            m.links
                .get_or_create(&crate::metrics::LinkStateLabels { agreement, state })
                .inc_by(n);
        }
        if let Ok(orphans) = self.shared.store.orphans() {
            for o in orphans {
                let agreement = self
                    .shared
                    .store
                    .link(o.link)
                    .ok()
                    .flatten()
                    .map(|l| l.agreement)
                    .unwrap_or_default();
                m.orphans
                    .get_or_create(&crate::metrics::OrphanLabels {
                        agreement,
                        reason: o.reason.clone(),
                    })
                    .inc();
            }
        }
    }
}
