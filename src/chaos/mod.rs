//! `sharebridge chaos` (DESIGN §2): deterministic simulation testing. The simulator and
//! the daemon (engine, store, client, server) run in one process, on one thread, on a
//! tokio current-thread runtime with paused time, behind a simulated network and a
//! simulated disk; every source of nondeterminism is drawn from the seed. A seed replays
//! its run exactly (same trace, same digest) on any machine and under any load, so a
//! failure found once is replayed and shrunk.
//!
//! Layout:
//! - [`schedule`]: the workload and fault plan of a seed, an explicit list of events.
//! - `world`: one run: simulator, simulated network and disk, the daemon as a "process"
//!   that can be killed (its tasks aborted, its unsynced writes lost) and restarted;
//!   the events applied at their times; faults lifted; settling on simulated time.
//! - `network`, `disk`: the simulated network (transport + webhooks) and store file.
//! - `model`: what must hold at the end (nothing lost, duplicated, reordered, leaked,
//!   echoed, crossed without consent; every orphan marked once and reported).
//! - `trace`: the run's trace and its digest. `shrink`: the shortest event list that
//!   still fails. [`report`]: the lines the CLI prints.
//!
//! Architecture invariant: the daemon runs unchanged inside the simulation, through its
//! seams only (`clock`, `tasks`, the client's `Transport`, `daemon::start_in_process`,
//! `Store::open_with_backend`, the router for webhooks). The rules that keep a run
//! deterministic are listed in ARCHITECTURE.md ("Deterministic simulation").

pub mod command;
mod config_state;
pub mod disk;
mod model;
mod network;
pub mod report;
pub mod schedule;
mod shrink;
mod trace;
mod world;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

pub use schedule::{Feature, Features, Schedule};
pub use shrink::{Shrunk, shrink};

/// Whether a simulated daemon process is alive; once killed it stays dead (its memory is
/// gone; a restart is a new process with a new `Life`).
#[derive(Debug)]
pub struct Life {
    alive: AtomicBool,
    died: Notify,
    cause: Mutex<Option<&'static str>>,
}

impl Default for Life {
    fn default() -> Self {
        Life::new()
    }
}

impl Life {
    pub fn new() -> Life {
        Life {
            alive: AtomicBool::new(true),
            died: Notify::new(),
            cause: Mutex::new(None),
        }
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// Kills the process; `false` if it was already dead.
    pub fn kill(&self, cause: &'static str) -> bool {
        if !self.alive.swap(false, Ordering::SeqCst) {
            return false;
        }
        *self.cause.lock().unwrap_or_else(|e| e.into_inner()) = Some(cause);
        self.died.notify_waiters();
        true
    }

    /// Why it died.
    pub fn cause(&self) -> Option<&'static str> {
        *self.cause.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until it is dead.
    pub async fn dead(&self) {
        let notified = self.died.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if !self.is_alive() {
            return;
        }
        notified.await;
    }
}

/// How to run a seed.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Features never exercised (`--exclude`).
    pub exclude: Features,
    /// Events left out, by their index in the schedule (`--drop`; shrinking).
    pub drop: BTreeSet<usize>,
    /// Keep the trace's lines (for printing), not only its digest.
    pub keep_trace: bool,
}

/// What one run did and found.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub seed: u64,
    pub digest: String,
    /// Empty when every check held.
    pub violations: Vec<String>,
    /// Comments the agents wrote.
    pub comments: u64,
    /// Faults injected (simulator and network).
    pub faults: u64,
    /// Crashes of the daemon (including ones armed at a sync or an answer).
    pub crashes: u64,
    /// Events of the schedule that ran (after `--drop`).
    pub events: usize,
    pub requests: u64,
    pub webhooks: u64,
    /// Simulated time the run took, settling included (ms).
    pub simulated_ms: u64,
    pub features: Vec<&'static str>,
    /// The trace's lines when kept.
    pub trace: Option<Vec<String>>,
}

impl Outcome {
    pub fn failed(&self) -> bool {
        !self.violations.is_empty()
    }
}

/// Runs one seed on a fresh current-thread runtime with paused time, on this thread. A
/// panic of the simulation itself (not of a daemon task: those the runtime catches, as
/// it would in production) is reported as a violation.
pub fn run_seed(seed: u64, options: &Options) -> Outcome {
    let schedule = schedule::generate(seed, &options.exclude);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_schedule(&schedule, options)
    })) {
        Ok(o) => o,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Outcome {
                seed,
                digest: "-".to_owned(),
                violations: vec![format!("the simulation panicked: {msg}")],
                comments: 0,
                faults: 0,
                crashes: 0,
                events: 0,
                requests: 0,
                webhooks: 0,
                simulated_ms: 0,
                features: Vec::new(),
                trace: None,
            }
        }
    }
}

/// Runs `schedule` (minus `options.drop`).
pub fn run_schedule(schedule: &Schedule, options: &Options) -> Outcome {
    // Every generator the daemon and the simulator draw from without a seed of their own
    // (backon's jitter, the simulator's upload tokens and webhook invocation ids) is
    // forked from fastrand's thread-local one: seeded here, on the run's only thread.
    fastrand::seed(schedule.seed);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread tokio runtime");
    let outcome = rt.block_on(world::run(schedule, options));
    // Tasks left (the network's, the last process's) are dropped with the runtime.
    drop(rt);
    outcome
}

/// Runs seeds `from..to` on up to `threads` OS threads (one runtime per seed, each seed
/// on one thread), handing each outcome to `each` in seed order.
pub fn run_range(from: u64, to: u64, threads: usize, options: &Options, each: impl FnMut(Outcome)) {
    let seeds: Vec<u64> = (from..to).collect();
    run_seeds(&seeds, threads, options, each);
}

/// Runs `seeds` on up to `threads` OS threads, handing each outcome to `each` in the
/// order of `seeds`.
pub fn run_seeds(seeds: &[u64], threads: usize, options: &Options, mut each: impl FnMut(Outcome)) {
    let threads = threads.max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Outcome)>();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&seed) = seeds.get(i) else {
                        break;
                    };
                    if tx.send((i, run_seed(seed, options))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Outcomes arrive in any order; they are handed on in the order asked.
        let mut waiting = std::collections::BTreeMap::new();
        let mut want = 0;
        for (i, o) in rx {
            waiting.insert(i, o);
            while let Some(o) = waiting.remove(&want) {
                each(o);
                want += 1;
            }
        }
    });
}
