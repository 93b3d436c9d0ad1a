//! One run of the simulated world: the simulator, the network, the disk and the daemon
//! process; the schedule's events applied at their times; then faults lifted, the system
//! left to settle on simulated time, and the model checked.
//!
//! The daemon is a process: started through `daemon::start_in_process` on a store opened
//! from the disk's durable bytes, with every task it spawns registered with a
//! `tasks::Process`. A crash kills it (`Life`: its requests stop leaving, its webhooks are
//! refused, nothing more reaches the disk), aborts its tasks and loses its unsynced writes;
//! a restart is a new process with the configuration of the moment and the surviving
//! store. A reload is what SIGHUP does: the process reloads the configuration file.
//!
//! The configuration of a moment, and its TOML, is `config_state.rs`.
//!
//! Must not: reach into the daemon's memory (only its store, read at the end, and its
//! public engine calls an operator would make through the admin API).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config, LoadOptions};
use crate::daemon::{self, InProcess};
use crate::sim::{FaultKind, FaultSettings, SimConfig, Simulator, WebhookSpec};
use crate::store::Store;
use crate::tasks;
use crate::zendesk::models::{NewComment, Status, Ticket, TicketWrite};

pub use super::config_state::ConfigState;
use super::config_state::{TOKEN, WEBHOOK_SECRET};
use super::disk::{Platter, Unsynced};
use super::model::{self, Log, OpKind, TicketRec, TokenRec};
use super::network::Network;
use super::schedule::{self, Action, Feature, Schedule, Side};
use super::trace::{Trace, trace};
use super::{Life, Options, Outcome};

/// The simulated world starts at this time of day.
pub const START_TIME: &str = "2030-03-04T09:00:00Z";
/// After the last event and the faults lifted, how long the system runs at least (longer
/// than the engine's 10-minute complete read of every flow).
const SETTLE: Duration = Duration::from_secs(12 * 60);
/// How long it may take at most to become quiet after that.
const SETTLE_MAX: Duration = Duration::from_secs(45 * 60);

/// A configuration version the daemon applied (a start or reload that the process
/// outlived), when, and in what order within its millisecond (`Trace::stamp`).
#[derive(Debug, Clone, Copy)]
pub struct Applied {
    pub ms: u64,
    pub version: u64,
    pub order: u64,
}

impl Applied {
    fn now(trace: &Trace, version: u64) -> Applied {
        Applied {
            ms: trace.now_ms(),
            version,
            order: trace.stamp(),
        }
    }
}

/// What the process tells the world, shared between them.
#[derive(Default)]
struct Shared {
    /// The running daemon's handles, once it is ready.
    daemon: Option<Arc<InProcess>>,
    /// Why a process could not start or reload.
    errors: Vec<String>,
    /// Configuration versions applied (start or reload).
    applied: Vec<Applied>,
    /// Versions a start or reload died, panicked or failed during: applied in part, maybe.
    maybe_applied: Vec<Applied>,
    /// Operator commands answered: (index in the log's ops, done).
    answered: Vec<(usize, bool)>,
}

/// One running daemon process.
struct Proc {
    tasks: tasks::Process,
    life: Arc<Life>,
    unsynced: Unsynced,
    /// Keeps every `tasks::spawn` of this thread registered with the process.
    _entered: tasks::Entered,
}

struct World {
    trace: Trace,
    net: Network,
    sim: Arc<Simulator>,
    platter: Platter,
    _dir: tempfile::TempDir,
    config_path: PathBuf,
    config: ConfigState,
    /// Every configuration the world wrote, by version.
    versions: Vec<ConfigState>,
    config_tx: watch::Sender<u64>,
    proc: Option<Proc>,
    shared: Arc<Mutex<Shared>>,
    restart_at: Option<Instant>,
    /// Down time of a crash armed at a sync or an answer.
    armed_down: Duration,
    log: Log,
    crashes: u64,
    starts: u64,
    t0: Instant,
    /// The simulator's `late-apply` fault is among its API faults.
    late_writes: bool,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

fn load(path: &std::path::Path) -> Result<Config, String> {
    config::load_with(path, &LoadOptions::default())
        .map(|l| l.config)
        .map_err(|e| {
            e.problems
                .iter()
                .map(|p| format!("{} {}: {}", p.file, p.key, p.reason))
                .collect::<Vec<_>>()
                .join("; ")
        })
}

fn email(account: &str, agent: usize) -> String {
    let names = schedule::agents(account);
    format!("{}@{account}.example", names[agent % names.len()])
}

fn external_id(origin: &str, id: u64) -> String {
    format!("sharebridge:{origin}:{id}")
}

/// The live mirror of `origin#id` in `account` (the oldest when there are several).
pub fn mirror_of(sim: &Simulator, origin: &str, id: u64, account: &str) -> Option<Ticket> {
    let ext = external_id(origin, id);
    sim.tickets(account)
        .into_iter()
        .filter(|t| t.external_id.as_deref() == Some(ext.as_str()))
        .min_by_key(|t| t.id)
}

/// Runs `schedule` in the simulated world and checks the model.
pub async fn run(schedule: &Schedule, options: &Options) -> Outcome {
    let _clock = crate::clock::simulate(START_TIME.parse().expect("the start time parses"));
    let trace = Trace::new(options.keep_trace);
    let net = Network::new(schedule.seed, trace.clone());
    let mut sc = SimConfig::local(&schedule::ACCOUNTS);
    sc.token = TOKEN.to_owned();
    sc.webhook_secret = WEBHOOK_SECRET.to_owned();
    sc.seed = schedule.seed;
    sc.webhooks = schedule::ACCOUNTS
        .iter()
        .map(|a| WebhookSpec {
            account: (*a).to_owned(),
            url: format!("http://daemon.sim.invalid/webhooks/{a}"),
        })
        .collect();
    if schedule.has(Feature::LateWrites) {
        // The simulator's own late writes (`late-apply`): the answer never comes, the
        // write lands this much later.
        sc.late_apply_ms = 500 + schedule.seed % 50_000;
    }
    // No clock start: the simulator's clock is `clock::now()`, the run's simulated one.
    let sim = match Simulator::in_process(sc, net.webhooks(), None) {
        Ok(s) => Arc::new(s),
        Err(e) => return failed_setup(schedule, &trace, format!("simulator: {e}")),
    };
    net.attach(sim.clone());
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return failed_setup(schedule, &trace, format!("temporary directory: {e}")),
    };
    let config_path = dir.path().join("sharebridge.toml");
    let config = ConfigState::initial(schedule);
    if let Err(e) = std::fs::write(&config_path, config.toml(dir.path())) {
        return failed_setup(schedule, &trace, format!("configuration file: {e}"));
    }
    let (config_tx, _) = watch::channel(0u64);
    let mut world = World {
        trace: trace.clone(),
        net,
        sim,
        platter: Platter::new(schedule.seed ^ 0xd15c),
        _dir: dir,
        config_path,
        versions: vec![config.clone()],
        config,
        config_tx,
        proc: None,
        shared: Arc::default(),
        restart_at: None,
        armed_down: Duration::ZERO,
        log: Log::default(),
        crashes: 0,
        starts: 0,
        t0: Instant::now(),
        late_writes: schedule.has(Feature::LateWrites),
    };
    let events: Vec<(usize, schedule::Event)> = schedule
        .events
        .iter()
        .cloned()
        .enumerate()
        .filter(|(i, _)| !options.drop.contains(i))
        .collect();
    let mut violations = world.play(&events).await;
    violations.extend(world.finish().await);
    let net = world.net.stats();
    let sim_faults: u64 = schedule::ACCOUNTS
        .iter()
        .map(|a| world.sim.stats(a).faults)
        .sum();
    let outcome = Outcome {
        seed: schedule.seed,
        digest: trace.digest(),
        violations,
        comments: world.log.tokens.len() as u64,
        faults: net.faults + sim_faults + net.webhooks_lost + net.webhooks_duplicated,
        crashes: world.crashes,
        events: events.len(),
        requests: net.requests,
        webhooks: net.webhooks,
        simulated_ms: trace.now_ms(),
        features: schedule.features.iter().map(|f| f.name()).collect(),
        trace: trace.lines(),
    };
    world.stop();
    outcome
}

fn failed_setup(schedule: &Schedule, trace: &Trace, why: String) -> Outcome {
    Outcome {
        seed: schedule.seed,
        digest: trace.digest(),
        violations: vec![format!("the simulation could not be set up: {why}")],
        comments: 0,
        faults: 0,
        crashes: 0,
        events: 0,
        requests: 0,
        webhooks: 0,
        simulated_ms: 0,
        features: Vec::new(),
        trace: trace.lines(),
    }
}

impl World {
    fn now_ms(&self) -> u64 {
        self.trace.now_ms()
    }

    /// Plays the events, crashing and restarting the daemon as they (and armed crashes)
    /// say.
    async fn play(&mut self, events: &[(usize, schedule::Event)]) -> Vec<String> {
        self.start_process();
        let mut next = 0;
        loop {
            let event_at = events
                .get(next)
                .map(|(_, e)| self.t0 + Duration::from_millis(e.at_ms));
            if event_at.is_none() {
                break;
            }
            let life = self.proc.as_ref().map(|p| p.life.clone());
            let restart_at = self.restart_at;
            tokio::select! {
                biased;
                () = async { match &life { Some(l) => l.dead().await, None => std::future::pending().await } } => {
                    let cause = life.as_ref().and_then(|l| l.cause()).unwrap_or("killed");
                    let down = self.armed_down;
                    self.crash(false, down, cause);
                }
                () = async { match restart_at { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {
                    self.restart_at = None;
                    self.start_process();
                }
                () = async { match event_at { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {
                    let (i, e) = &events[next];
                    next += 1;
                    trace!(self.trace, "event {i}: {}", e.action);
                    self.apply(&e.action).await;
                }
            }
        }
        Vec::new()
    }

    /// Lifts every fault, makes sure the daemon runs, lets the system settle, checks.
    async fn finish(&mut self) -> Vec<String> {
        trace!(self.trace, "faults lifted");
        self.net.lift();
        self.platter.disarm();
        self.sim.set_faults(None, FaultSettings::default());
        let dead = self.proc.as_ref().is_some_and(|p| !p.life.is_alive());
        if dead {
            let down = Duration::ZERO;
            self.crash(false, down, "killed");
        }
        if self.proc.is_none() {
            self.restart_at = None;
            self.start_process();
        }
        let begun = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(20)).await;
            let waited = begun.elapsed();
            let quiet = self.quiet().await;
            if waited >= SETTLE && quiet {
                break;
            }
            if waited >= SETTLE_MAX {
                let mut v = self.startup_errors();
                v.push(format!(
                    "the system did not settle within {} minutes of simulated time after the faults were lifted: {}",
                    SETTLE_MAX.as_secs() / 60,
                    self.unsettled()
                ));
                return v;
            }
        }
        trace!(self.trace, "settled");
        let mut v = self.startup_errors();
        let daemon = lock(&self.shared).daemon.clone();
        let Some(daemon) = daemon else {
            v.push("the daemon was not running at the end".to_owned());
            return v;
        };
        self.log.applied = lock(&self.shared).applied.clone();
        self.log.maybe_applied = lock(&self.shared).maybe_applied.clone();
        for (i, ok) in lock(&self.shared).answered.clone() {
            self.log.ops[i].ok = Some(ok);
        }
        v.extend(model::check(
            &self.log,
            &self.sim,
            daemon.engine.store(),
            &self.net.writes(),
            &self.versions,
        ));
        v
    }

    /// What keeps the system from being quiet, in words.
    fn unsettled(&self) -> String {
        let daemon = lock(&self.shared).daemon.clone();
        let Some(daemon) = daemon else {
            return "the daemon is not running".to_owned();
        };
        let pending = daemon.engine.store().pending_writes().unwrap_or_default();
        let mut parts = Vec::new();
        if !pending.is_empty() {
            let links: Vec<String> = pending.iter().map(|p| p.link.to_string()).collect();
            parts.push(format!(
                "{} writes left in doubt and never settled (links {}): their tickets are stuck",
                pending.len(),
                links.join(", ")
            ));
        }
        let backlog = daemon.engine.backlog();
        if backlog > 0 {
            parts.push(format!("{backlog} tickets waiting or in progress"));
        }
        if self.net.in_flight() > 0 {
            parts.push(format!(
                "{} requests or webhooks on the wire",
                self.net.in_flight()
            ));
        }
        if parts.is_empty() {
            "it never stayed quiet".to_owned()
        } else {
            parts.join("; ")
        }
    }

    fn startup_errors(&self) -> Vec<String> {
        lock(&self.shared).errors.clone()
    }

    /// Nothing left to do anywhere: no hint, no task, no pending write, nothing on the
    /// wire, no webhook queued.
    async fn quiet(&self) -> bool {
        let daemon = lock(&self.shared).daemon.clone();
        let Some(daemon) = daemon else {
            return false;
        };
        if self.net.in_flight() > 0 || self.sim.webhooks().pending() > 0 {
            return false;
        }
        daemon.engine.settle(Duration::from_secs(1)).await
    }

    fn stop(&mut self) {
        if let Some(p) = self.proc.take() {
            p.life.kill("end of run");
            p.tasks.kill();
        }
        self.net.serve_daemon(None);
        lock(&self.shared).daemon = None;
    }

    /// Starts a daemon process on the surviving store with the configuration of now.
    fn start_process(&mut self) {
        self.starts += 1;
        let n = self.starts;
        let life = Arc::new(Life::new());
        let process = tasks::Process::new();
        let entered = process.enter();
        let (file, unsynced) = self.platter.open(life.clone());
        let transport = self.net.transport(life.clone());
        let path = self.config_path.clone();
        let mut versions = self.config_tx.subscribe();
        let shared = self.shared.clone();
        let net = self.net.clone();
        let trace = self.trace.clone();
        let own_life = life.clone();
        trace!(self.trace, "daemon #{n} starting");
        tasks::spawn(async move {
            let version = *versions.borrow_and_update();
            let config = match load(&path) {
                Ok(c) => c,
                Err(e) => {
                    lock(&shared)
                        .errors
                        .push(format!("daemon #{n}: configuration refused: {e}"));
                    return;
                }
            };
            let store = match Store::open_with_backend(file, "chaos/sharebridge.redb") {
                Ok(s) => s,
                Err(e) => {
                    trace!(trace, "daemon #{n} cannot open its store");
                    lock(&shared).errors.push(format!(
                        "daemon #{n} could not open its store after a crash: {e}"
                    ));
                    return;
                }
            };
            // A panic while starting ends the process (`sharebridge run` under `block_on`
            // exits, and systemd starts it again): so here, and the play restarts it
            // (found by seed 4468: an injected transport panic in a start's read left a
            // process alive with no daemon, never restarted).
            let started = tasks::spawn(daemon::start_in_process(config, store, transport)).await;
            let started = match started {
                Ok(started) => started,
                Err(e) => {
                    if e.is_panic() {
                        trace!(
                            trace,
                            "daemon #{n} panicked while starting: the process exits"
                        );
                        own_life.kill("panic while starting");
                    }
                    lock(&shared)
                        .maybe_applied
                        .push(Applied::now(&trace, version));
                    return;
                }
            };
            let daemon = match started {
                Ok(d) => Arc::new(d),
                Err(e) => {
                    trace!(trace, "daemon #{n} failed to start");
                    lock(&shared)
                        .errors
                        .push(format!("daemon #{n} failed to start: {e}"));
                    return;
                }
            };
            // Applied only if the process outlived it: one killed at a store sync while
            // starting or reloading may have lost what it recorded of the configuration.
            let alive = own_life.clone();
            if !alive.is_alive() {
                lock(&shared)
                    .maybe_applied
                    .push(Applied::now(&trace, version));
                return;
            }
            trace!(trace, "daemon #{n} ready with configuration v{version}");
            lock(&shared).applied.push(Applied::now(&trace, version));
            net.serve_daemon(Some((daemon.router.clone(), own_life)));
            lock(&shared).daemon = Some(daemon.clone());
            let engine = daemon.engine.clone();
            tasks::spawn(async move { engine.run(CancellationToken::new()).await });
            // SIGHUP: every new configuration is reloaded.
            while versions.changed().await.is_ok() {
                let version = *versions.borrow_and_update();
                match load(&path) {
                    Ok(c) => {
                        // A panic while reloading ends the process too (see the start).
                        let reloading = daemon.clone();
                        let reloaded = tasks::spawn(async move { reloading.reload(c).await }).await;
                        match reloaded {
                            Err(e) => {
                                if e.is_panic() {
                                    trace!(
                                        trace,
                                        "daemon #{n} panicked while reloading v{version}: the process exits"
                                    );
                                    alive.kill("panic while reloading");
                                }
                                lock(&shared)
                                    .maybe_applied
                                    .push(Applied::now(&trace, version));
                                return;
                            }
                            Ok(Ok(())) if !alive.is_alive() => {
                                trace!(trace, "daemon #{n} died while reloading v{version}");
                                lock(&shared)
                                    .maybe_applied
                                    .push(Applied::now(&trace, version));
                            }
                            Ok(Ok(())) => {
                                trace!(trace, "daemon #{n} reloaded configuration v{version}");
                                lock(&shared).applied.push(Applied::now(&trace, version));
                            }
                            Ok(Err(e)) => {
                                trace!(trace, "daemon #{n} reload v{version} failed in part: {e}");
                                lock(&shared)
                                    .maybe_applied
                                    .push(Applied::now(&trace, version));
                            }
                        }
                    }
                    Err(e) => lock(&shared)
                        .errors
                        .push(format!("reload v{version}: configuration refused: {e}")),
                }
            }
        });
        self.proc = Some(Proc {
            tasks: process,
            life,
            unsynced,
            _entered: entered,
        });
    }

    /// Kills the daemon process (if one runs) and schedules its restart.
    fn crash(&mut self, torn: bool, down: Duration, cause: &str) {
        let Some(p) = self.proc.take() else {
            return;
        };
        p.life.kill("crash");
        p.tasks.kill();
        self.net.serve_daemon(None);
        lock(&self.shared).daemon = None;
        let kept = self.platter.power_loss(&p.unsynced, torn);
        self.crashes += 1;
        trace!(
            self.trace,
            "crash ({cause}); {kept} unsynced writes kept; restart in {} ms",
            down.as_millis()
        );
        drop(p);
        self.restart_at = Some(Instant::now() + down);
    }

    /// Writes a new configuration; the running process reloads it (a restart reads it).
    fn reconfigure(&mut self, change: impl FnOnce(&mut ConfigState)) {
        change(&mut self.config);
        self.versions.push(self.config.clone());
        let version = self.versions.len() as u64 - 1;
        if let Err(e) = std::fs::write(&self.config_path, self.config.toml(self._dir.path())) {
            lock(&self.shared)
                .errors
                .push(format!("configuration file not written: {e}"));
            return;
        }
        self.log.configs.push((self.now_ms(), version));
        self.config_tx.send_replace(version);
    }

    /// The ticket of number `ticket` on `side`: (account, id), if it exists now.
    fn locate(&self, ticket: u32, side: &Side) -> Option<(&'static str, u64)> {
        let rec = self.log.tickets.get(&ticket)?;
        match side {
            Side::Origin => Some((rec.origin, rec.id)),
            Side::Mirror(to) => mirror_of(&self.sim, rec.origin, rec.id, to).map(|t| (*to, t.id)),
        }
    }

    fn skip(&self, why: &str) {
        trace!(self.trace, "  skipped: {why}");
    }

    /// Runs an operator command against the daemon (as the admin API would), as a task of
    /// its process; refused while it is down.
    fn operate(&mut self, kind: OpKind, ticket: u32, to: &'static str) {
        let Some(rec) = self.log.tickets.get(&ticket).cloned() else {
            return self.skip("no such ticket");
        };
        let daemon = lock(&self.shared).daemon.clone();
        let Some(daemon) = daemon else {
            return self.skip("the daemon is down");
        };
        let at = self.now_ms();
        let index = self.log.ops.len();
        self.log.ops.push(model::Op {
            kind,
            ticket,
            to,
            at_ms: at,
            ok: None,
        });
        let trace = self.trace.clone();
        let shared = self.shared.clone();
        let life = self.proc.as_ref().map(|p| p.life.clone());
        tasks::spawn(async move {
            let engine = &daemon.engine;
            let result = match kind {
                OpKind::Unshare => engine
                    .unshare(rec.origin, rec.id, to, "chaos operator")
                    .await
                    .map(drop),
                OpKind::Relink => {
                    let link = engine
                        .store()
                        .links_by_source_ticket(rec.origin, rec.id)
                        .ok()
                        .and_then(|ls| ls.into_iter().rfind(|l| l.target_account == to));
                    match link {
                        Some(l) => engine.resync(l.id, true).await.map(drop),
                        None => Ok(()),
                    }
                }
            };
            // A process that died during the command (at the store sync recording it,
            // say) answers nothing: what it did may be lost with it (found by the
            // deterministic simulation, seed 12773: an unshare killed at its own sync
            // was taken as done).
            if life.as_ref().is_some_and(|l| !l.is_alive()) {
                trace!(
                    trace,
                    "  {kind:?} #{ticket} to {to}: the daemon died before answering"
                );
                return;
            }
            match &result {
                Ok(()) => trace!(trace, "  {kind:?} #{ticket} to {to}: done"),
                Err(e) => trace!(trace, "  {kind:?} #{ticket} to {to}: {e}"),
            }
            lock(&shared).answered.push((index, result.is_ok()));
        });
    }

    async fn apply(&mut self, action: &Action) {
        let late_writes = self.late_writes;
        let now = self.now_ms();
        match action {
            Action::NewTicket {
                ticket,
                origin,
                agent,
                token,
                tags,
            } => {
                let who = email(origin, *agent);
                let write = TicketWrite {
                    subject: Some(format!("Chaos ticket {ticket}")),
                    status: Some(Status::Open),
                    tags: Some(tags.clone()),
                    comment: Some(NewComment {
                        body: Some(format!("{who} opens: [[T{token}]] please help")),
                        public: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                match self.sim.create_ticket(origin, &who, &write) {
                    Ok(t) => {
                        trace!(self.trace, "  {origin}#{}", t.id);
                        self.log.tickets.insert(
                            *ticket,
                            TicketRec {
                                origin,
                                id: t.id,
                                tags: tags.clone(),
                                created_ms: now,
                            },
                        );
                        self.log.tokens.insert(
                            *token,
                            TokenRec {
                                ticket: *ticket,
                                account: origin,
                                id: t.id,
                                side: Side::Origin,
                                public: true,
                                at_ms: now,
                                private_at: None,
                            },
                        );
                    }
                    Err(e) => self.skip(&format!("create refused: {}", e.status)),
                }
            }
            Action::Comment {
                ticket,
                side,
                public,
                agent,
                token,
            } => {
                let Some((account, id)) = self.locate(*ticket, side) else {
                    return self.skip("ticket or mirror not there");
                };
                let who = email(account, *agent);
                let body = if *public {
                    format!("{who} says [[T{token}]] about it")
                } else {
                    format!("internal note [[T{token}]] by {who}, not for the other side")
                };
                match self.sim.add_comment(account, id, &who, &body, *public) {
                    Ok(_) => {
                        self.log.tokens.insert(
                            *token,
                            TokenRec {
                                ticket: *ticket,
                                account,
                                id,
                                side: side.clone(),
                                public: *public,
                                at_ms: now,
                                private_at: None,
                            },
                        );
                    }
                    Err(e) => self.skip(&format!("comment refused: {}", e.status)),
                }
            }
            Action::Status { ticket, status } => {
                let Some((account, id)) = self.locate(*ticket, &Side::Origin) else {
                    return self.skip("no such ticket");
                };
                let status: Status =
                    serde_json::from_value(serde_json::json!(status)).unwrap_or(Status::Open);
                let write = TicketWrite {
                    status: Some(status),
                    ..Default::default()
                };
                match self
                    .sim
                    .update_ticket(account, id, &email(account, 0), &write)
                {
                    Ok(_) => self.log.statuses.push((*ticket, status, now)),
                    Err(e) => self.skip(&format!("status refused: {}", e.status)),
                }
            }
            Action::Tag { ticket, side, tag } => {
                let Some((account, id)) = self.locate(*ticket, side) else {
                    return self.skip("ticket or mirror not there");
                };
                let write = TicketWrite {
                    additional_tags: Some(vec![tag.clone()]),
                    ..Default::default()
                };
                match self
                    .sim
                    .update_ticket(account, id, &email(account, 0), &write)
                {
                    Ok(_) => self.log.tags.push(model::TagRec {
                        ticket: *ticket,
                        side: side.clone(),
                        tag: tag.clone(),
                        at_ms: now,
                    }),
                    Err(e) => self.skip(&format!("tag refused: {}", e.status)),
                }
            }
            Action::RemoveTag { ticket, tag } => {
                let Some((account, id)) = self.locate(*ticket, &Side::Origin) else {
                    return self.skip("no such ticket");
                };
                let write = TicketWrite {
                    remove_tags: Some(vec![tag.clone()]),
                    ..Default::default()
                };
                match self
                    .sim
                    .update_ticket(account, id, &email(account, 0), &write)
                {
                    Ok(_) => self.log.untagged.push((*ticket, tag.clone(), now)),
                    Err(e) => self.skip(&format!("untag refused: {}", e.status)),
                }
            }
            Action::MakePrivate { ticket, token } => {
                let Some((account, id)) = self.locate(*ticket, &Side::Origin) else {
                    return self.skip("no such ticket");
                };
                let marker = format!("[[T{token}]]");
                let Some(c) = self
                    .sim
                    .comments(account, id)
                    .into_iter()
                    .find(|c| c.body.contains(&marker))
                else {
                    return self.skip("no such comment");
                };
                match self.sim.make_private(account, id, c.id, &email(account, 0)) {
                    Ok(()) => {
                        if let Some(t) = self.log.tokens.get_mut(token) {
                            t.private_at.get_or_insert(now);
                        }
                    }
                    Err(e) => self.skip(&format!("make_private refused: {}", e.status)),
                }
            }
            Action::Unshare { ticket, to } => self.operate(OpKind::Unshare, *ticket, to),
            Action::Relink { ticket, to } => self.operate(OpKind::Relink, *ticket, to),
            Action::CloseMirror { ticket, to } | Action::DeleteMirror { ticket, to } => {
                let Some((account, id)) = self.locate(*ticket, &Side::Mirror(to)) else {
                    return self.skip("no mirror");
                };
                let who = email(account, 0);
                let done = if matches!(action, Action::CloseMirror { .. }) {
                    let write = TicketWrite {
                        status: Some(Status::Closed),
                        ..Default::default()
                    };
                    self.sim.update_ticket(account, id, &who, &write).map(drop)
                } else {
                    self.sim.delete_ticket(account, id, &who)
                };
                match done {
                    Ok(()) => self.log.mirror_ended.push((*ticket, to, now)),
                    Err(e) => self.skip(&format!("refused: {}", e.status)),
                }
            }
            Action::Consent { agreement, accept } => {
                let (agreement, accept) = (*agreement, *accept);
                self.reconfigure(|c| {
                    c.accepted.insert(agreement, accept);
                });
            }
            Action::Reload => self.reconfigure(|_| {}),
            Action::AddAccount => self.reconfigure(|c| c.extra = true),
            Action::Crash { down_ms, torn } => {
                if self.proc.is_some() {
                    self.crash(*torn, Duration::from_millis(*down_ms), "killed");
                } else {
                    self.skip("the daemon is down");
                }
            }
            Action::CrashAtSync { n, synced, down_ms } => {
                self.platter.crash_at_sync(*n, *synced);
                self.armed_down = Duration::from_millis(*down_ms);
            }
            Action::CrashAtAnswer { n, down_ms } => {
                self.net.crash_at_answer(Some(*n));
                self.armed_down = Duration::from_millis(*down_ms);
            }
            Action::Partition { account } => self.net.partition(account, true),
            Action::Heal { account } => self.net.partition(account, false),
            Action::ApiFaults { rate } => {
                let mut kinds = vec![
                    FaultKind::TooManyRequests,
                    FaultKind::InternalError,
                    FaultKind::Unavailable,
                    FaultKind::Drop,
                    FaultKind::DropAfterCommit,
                    FaultKind::DropAfterCommit,
                ];
                if late_writes {
                    kinds.push(FaultKind::LateApply);
                }
                self.sim.set_faults(
                    None,
                    FaultSettings {
                        rate: *rate,
                        kinds,
                        latency_ms: 0,
                    },
                );
            }
            Action::NetFaults(f) => self.net.set_faults(*f),
            Action::WebhookFaults(f) => self.net.set_webhook_faults(*f),
        }
    }
}
