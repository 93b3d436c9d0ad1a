//! `sharebridge bench`: the simulator and the daemon, in-process, on loopback, under a
//! generated load; what it costs and how fast it is (see BENCHMARKS.md for the method).
//!
//! Phases, each on its own measured counters:
//! 1. **webhook path** (Zendesk's default limits in the simulator, signed webhooks from
//!    both accounts to the daemon): several links shared by tag; steady comments spread
//!    over them; then bursts of three agents writing on one ticket.
//! 2. **backlog** (limits lifted, `Limits::unlimited()` and a huge client budget): the
//!    daemon is stopped, comments are written, the daemon starts again on the same state
//!    directory and drains them; this is the throughput figure (`comments_per_s`).
//!    Then (`backlog.rs`) comments that cannot coalesce, and a backlog under a budget.
//! 3. **polling path** (`polling.rs`): a fresh simulator without webhooks, export lag
//!    0, a short `poll_interval`.
//! 4. **naive mirror** (`polling.rs`): the same steady load mirrored by polling every
//!    shared ticket's comments and writing each new comment, for comparison.
//! 5. **READY with many links** (`ready.rs`): a store filled directly with links, then
//!    the time `daemon::start` takes to return.
//! 6. **scale** (`scale.rs`): N accounts (up to 50) on one daemon process, each at its
//!    Zendesk limit; the daemon's CPU per account and how many accounts one core serves.
//!
//! The figures and how they print live in `report.rs`; the attachment phase in
//! `attachments.rs`.
//!
//! Latency is source write → the token in the body visible on the mirror, read from the
//! simulator's state in-process every 5 ms. API calls are the simulator's counters for the
//! bridge's own users only (`by_user`); reads are GETs, writes everything else.
//!
//! Architecture invariant: measures, never asserts; a comment never seen within the time
//! limit is reported (`lost`), not hidden.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, LoadOptions, load_with};
use crate::daemon::{self, Running};
use crate::link::Direction;
use crate::sim::{Limits, SimConfig, Simulator, StatsSnapshot};
use crate::store::{NewLink, Store};
use crate::zendesk::models::{NewComment, TicketWrite};

mod attachments;
mod backlog;
mod polling;
mod ready;
mod report;
mod scale;
pub use ready::{Ready, ready_here};
pub use report::{Report, to_json, to_table};
pub use scale::ScalePoint;

const SOURCE: &str = "acme";
const TARGET: &str = "vendor";
const SECRET: &str = "bench-webhook-secret";
const BRIDGE_SOURCE: &str = "bridge@acme.example";
const BRIDGE_TARGET: &str = "bridge@vendor.example";
const NAIVE_SOURCE: &str = "naive@acme.example";
const NAIVE_TARGET: &str = "naive@vendor.example";
const TAG: &str = "vendor_escalation";
/// Bodies carry `BTK<n>X`: a unique token per source comment.
const TOKEN: &str = "BTK";
/// How often the mirrors are looked at.
const WATCH_EVERY: Duration = Duration::from_millis(5);
/// A budget no run reaches: "limits lifted" on the daemon's side.
const UNLIMITED_RPM: u32 = 10_000_000;

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A small run for tests (seconds, not minutes); figures are not meaningful.
    pub quick: bool,
    /// `daemon.ordering` of the daemon under test (`per-ticket`, the default, or `arrival`).
    pub ordering: Option<String>,
    /// Only the scale phase.
    pub scale_only: bool,
    /// Only the attachments phase.
    pub attachments_only: bool,
    /// The `sharebridge` binary: the READY phase runs in a fresh process of it, so the
    /// heap left by the other phases does not count in its RSS. `None`: in-process.
    pub exe: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
#[error("bench: {0}")]
pub struct BenchError(String);

fn fail<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> BenchError + '_ {
    move |e| BenchError(format!("{what}: {e}"))
}

/// The sizes of one run.
#[derive(Debug, Clone)]
struct Scale {
    links: usize,
    steady_comments: usize,
    steady_rate: f64,
    bursts: usize,
    burst_per_agent: usize,
    backlog_comments: usize,
    flood_links: usize,
    flood_rounds: usize,
    poll_links: usize,
    poll_comments: usize,
    poll_rate: f64,
    poll_interval: &'static str,
    poll_interval_s: f64,
    naive_links: usize,
    naive_comments: usize,
    naive_rate: f64,
    naive_interval: Duration,
    ready_links: usize,
    budget_rpm: u32,
    budget_tickets: usize,
    budget_window: Duration,
    wait: Duration,
    /// `daemon.ordering` of the daemon under test.
    ordering: String,
}

impl Scale {
    fn new(quick: bool) -> Scale {
        if quick {
            Scale {
                links: 2,
                steady_comments: 4,
                steady_rate: 10.0,
                bursts: 1,
                burst_per_agent: 2,
                backlog_comments: 40,
                flood_links: 3,
                flood_rounds: 1,
                poll_links: 1,
                poll_comments: 2,
                poll_rate: 10.0,
                poll_interval: "1s",
                poll_interval_s: 1.0,
                naive_links: 2,
                naive_comments: 4,
                naive_rate: 10.0,
                naive_interval: Duration::from_millis(500),
                ready_links: 1_000,
                budget_rpm: 6,
                budget_tickets: 5,
                budget_window: Duration::from_secs(3),
                wait: Duration::from_secs(30),
                ordering: "per-ticket".to_owned(),
            }
        } else {
            Scale {
                links: 10,
                steady_comments: 30,
                steady_rate: 2.0,
                bursts: 3,
                burst_per_agent: 4,
                backlog_comments: 3_000,
                flood_links: 50,
                flood_rounds: 1,
                poll_links: 5,
                poll_comments: 12,
                poll_rate: 1.0,
                poll_interval: "6s",
                poll_interval_s: 6.0,
                naive_links: 10,
                naive_comments: 30,
                naive_rate: 2.0,
                naive_interval: Duration::from_secs(1),
                ready_links: 100_000,
                budget_rpm: 60,
                budget_tickets: 45,
                budget_window: Duration::from_secs(60),
                wait: Duration::from_secs(60),
                ordering: "per-ticket".to_owned(),
            }
        }
    }
}

/// Runs every phase and returns the figures.
pub async fn run(options: Options) -> Result<Report, BenchError> {
    let started = Instant::now();
    let mut scale = Scale::new(options.quick);
    if let Some(o) = &options.ordering {
        scale.ordering = o.clone();
    }
    *ORDERING.lock().unwrap_or_else(|e| e.into_inner()) = scale.ordering.clone();
    let mut report = Report {
        quick: options.quick,
        ordering: scale.ordering.clone(),
        links: scale.links as u64,
        ..Report::default()
    };
    if options.attachments_only {
        attachments::attachments(options.quick, options.exe.as_deref(), &mut report).await?;
        report.total_s = round(started.elapsed().as_secs_f64(), 1);
        return Ok(report);
    }
    if !options.scale_only {
        webhook_and_backlog(&scale, &mut report).await?;
        backlog::flood(&scale, &mut report).await?;
        backlog::budget(&scale, &mut report).await?;
        polling::poll_path(&scale, &mut report).await?;
        polling::naive(&scale, &mut report).await?;
        report.peak_rss_mb = proc_status_mb("VmHWM");
        ready::ready(&scale, options.exe.as_deref(), &mut report).await?;
        attachments::attachments(options.quick, options.exe.as_deref(), &mut report).await?;
    }
    scale::scale(options.quick, options.exe.as_deref(), &mut report).await?;
    report.total_s = round(started.elapsed().as_secs_f64(), 1);
    Ok(report)
}

// ---------------------------------------------------------------------------------------
// The world: a simulator, a state directory, a daemon.

/// A temporary directory removed on drop (the library has no tempfile dependency).
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> Result<TempDir, BenchError> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "sharebridge-bench-{}-{what}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(fail("temporary directory"))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `daemon.ordering` of every daemon this run starts (one run per process).
static ORDERING: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

fn ordering() -> String {
    let o = ORDERING.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if o.is_empty() {
        "per-ticket".to_owned()
    } else {
        o
    }
}

struct Settings<'a> {
    ordering: &'a str,
    listen: SocketAddr,
    state_dir: &'a Path,
    poll_interval: &'a str,
    requests_per_minute: u32,
}

fn config_text(sim: &Simulator, s: &Settings<'_>) -> String {
    let account = |name: &str, other: &str| {
        format!(
            r#"
[accounts.{name}]
subdomain = "{name}"
base_url = "{url}"
email = "bridge@{name}.example"
token = "{token}"
requests_per_minute = {rpm}
webhook_secret = "{SECRET}"
accept_from = ["{other}"]
"#,
            url = sim.base_url(name),
            token = sim.token(),
            rpm = s.requests_per_minute,
        )
    };
    format!(
        r#"
[daemon]
admin_token = "bench-admin-token"
ordering = "{ordering}"
state_dir = "{state}"
listen = "{listen}"
poll_interval = "{poll}"
log_level = "warn"
{a}{b}
[[agreements]]
name = "acme-to-vendor"
from = "{SOURCE}"
to = "{TARGET}"
auto_share_tags = ["{TAG}"]

[[agreements]]
name = "vendor-to-acme"
from = "{TARGET}"
to = "{SOURCE}"
"#,
        ordering = s.ordering,
        state = s.state_dir.display(),
        listen = s.listen,
        poll = s.poll_interval,
        a = account(SOURCE, TARGET),
        b = account(TARGET, SOURCE),
    )
}

fn load(dir: &Path, text: &str) -> Result<Config, BenchError> {
    let path = dir.join("sharebridge.toml");
    std::fs::write(&path, text).map_err(fail("writing the configuration"))?;
    load_with(&path, &LoadOptions::default())
        .map(|l| l.config)
        .map_err(|e| {
            let problems: Vec<String> = e
                .problems
                .iter()
                .map(|p| format!("{}: {}", p.key, p.reason))
                .collect();
            BenchError(format!("bench configuration: {}", problems.join("; ")))
        })
}

async fn sim(limits: Limits) -> Result<Arc<Simulator>, BenchError> {
    let mut sc = SimConfig::local(&[SOURCE, TARGET]);
    sc.limits = limits;
    sc.export_lag_secs = 0;
    sc.webhook_secret = SECRET.to_owned();
    Ok(Arc::new(
        Simulator::start(sc).await.map_err(fail("simulator"))?,
    ))
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, BenchError> {
    // The port of a stopped daemon may linger a moment.
    let mut tries = 0;
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) if tries < 50 => {
                tries += 1;
                tracing::debug!(error = %e, "bind retry");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(BenchError(format!("binding {addr}: {e}"))),
        }
    }
}

async fn start(config: Config, listener: TcpListener) -> Result<Running, BenchError> {
    daemon::start(config, listener)
        .await
        .map_err(fail("starting the daemon"))
}

async fn stop(running: Running) -> Result<(), BenchError> {
    running.stop().await.map_err(fail("stopping the daemon"))
}

async fn settle(running: &Running, wait: Duration) {
    if !running.engine.settle(wait).await {
        tracing::warn!("the engine did not settle in time");
    }
}

fn tagged_ticket(subject: &str) -> TicketWrite {
    TicketWrite {
        subject: Some(subject.into()),
        comment: Some(NewComment {
            body: Some(format!("{subject}: first comment")),
            public: Some(true),
            ..Default::default()
        }),
        tags: Some(vec![TAG.to_owned()]),
        ..Default::default()
    }
}

fn plain_ticket(subject: &str) -> TicketWrite {
    TicketWrite {
        tags: Some(Vec::new()),
        ..tagged_ticket(subject)
    }
}

/// The mirror of each source ticket, once every one has its mirror recorded.
async fn mirrors_of(
    running: &Running,
    sources: &[u64],
    wait: Duration,
) -> Result<Vec<u64>, BenchError> {
    let deadline = Instant::now() + wait;
    loop {
        let mut found = Vec::new();
        for s in sources {
            let links = running
                .engine
                .store()
                .links_by_source_ticket(SOURCE, *s)
                .map_err(fail("reading links"))?;
            if let Some(t) = links.iter().find_map(|l| l.target_ticket) {
                found.push(t);
            }
        }
        if found.len() == sources.len() {
            return Ok(found);
        }
        if Instant::now() > deadline {
            return Err(BenchError(format!(
                "only {} of {} tickets were shared in time",
                found.len(),
                sources.len()
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Watching mirrors for tokens.

#[derive(Default)]
struct Tracker {
    next: u64,
    sent: HashMap<u64, Instant>,
    seen: HashMap<u64, Duration>,
    scanned: HashMap<u64, usize>,
}

type Shared = Arc<Mutex<Tracker>>;

fn lock(t: &Shared) -> std::sync::MutexGuard<'_, Tracker> {
    t.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes one public comment carrying a fresh token, as agent `agent`; returns the token.
fn write(sim: &Simulator, tracker: &Shared, ticket: u64, agent: &str) -> Result<u64, BenchError> {
    let token = {
        let mut t = lock(tracker);
        t.next += 1;
        let n = t.next;
        t.sent.insert(n, Instant::now());
        n
    };
    let body = format!("Update {TOKEN}{token}X from {agent}: the printer is still on fire.");
    sim.add_comment(SOURCE, ticket, agent, &body, true)
        .map_err(fail("writing a source comment"))?;
    Ok(token)
}

fn tokens_in(body: &str) -> impl Iterator<Item = u64> + '_ {
    body.match_indices(TOKEN).filter_map(move |(i, _)| {
        let rest = &body[i + TOKEN.len()..];
        let end = rest.find('X')?;
        rest[..end].parse().ok()
    })
}

/// Looks at `mirrors` (in `account`) every 5 ms until cancelled.
fn watch(
    sim: Arc<Simulator>,
    account: &'static str,
    mirrors: Vec<u64>,
    tracker: Shared,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(WATCH_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                _ = every.tick() => {}
            }
            for m in &mirrors {
                let skip = lock(&tracker).scanned.get(m).copied().unwrap_or(0);
                let fresh = sim.comments_from(account, *m, skip);
                if fresh.is_empty() {
                    continue;
                }
                let now = Instant::now();
                let mut t = lock(&tracker);
                *t.scanned.entry(*m).or_insert(0) += fresh.len();
                for c in &fresh {
                    for token in tokens_in(&c.body) {
                        if let Some(at) = t.sent.get(&token).copied() {
                            t.seen.entry(token).or_insert(now - at);
                        }
                    }
                }
            }
        }
    })
}

/// Waits until every token is seen or `wait` passes; returns the latencies seen and how
/// many were not, and when the last one was seen.
async fn wait_seen(tracker: &Shared, tokens: &[u64], wait: Duration) -> (Vec<Duration>, u64) {
    let deadline = Instant::now() + wait;
    loop {
        let (found, missing) = {
            let t = lock(tracker);
            let found: Vec<Duration> = tokens
                .iter()
                .filter_map(|k| t.seen.get(k))
                .copied()
                .collect();
            let missing = (tokens.len() - found.len()) as u64;
            (found, missing)
        };
        if missing == 0 || Instant::now() > deadline {
            return (found, missing);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `gap` ± 50 %, seeded: writes do not fall in step with a poller's ticks.
/// Writes `count` comments, round-robin over `tickets`, at about `rate` per second with a
/// seeded jitter (no phase lock with the pollers); returns their tokens.
async fn paced_writes(
    sim: &Simulator,
    tracker: &Shared,
    tickets: &[u64],
    count: usize,
    rate: f64,
    seed: u64,
) -> Result<Vec<u64>, BenchError> {
    let gap = Duration::from_secs_f64(1.0 / rate);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut tokens = Vec::with_capacity(count);
    let mut next = Instant::now();
    for i in 0..count {
        tokio::time::sleep_until(next.into()).await;
        next += jittered(gap, &mut rng);
        tokens.push(write(
            sim,
            tracker,
            tickets[i % tickets.len()],
            "alice@acme.example",
        )?);
    }
    Ok(tokens)
}

fn jittered(gap: Duration, rng: &mut fastrand::Rng) -> Duration {
    gap.mul_f64(0.5 + rng.f64())
}

fn percentile_ms(samples: &[Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut v: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    // Nearest rank.
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    round(v[rank.min(v.len()) - 1], 1)
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

// ---------------------------------------------------------------------------------------
// API counters.

#[derive(Debug, Default, Clone)]
struct Calls {
    total: u64,
    reads: u64,
    writes: u64,
    throttled: u64,
    by_endpoint: BTreeMap<String, u64>,
}

/// Calls by `users` in both accounts since the last reset. Reads and writes are split by
/// method over the endpoint counters, which only API clients feed (the simulator's own
/// helpers, used for the agents, do not count), so they are the bridge's calls too.
fn calls(sim: &Simulator, users: [&str; 2]) -> Calls {
    let mut c = Calls::default();
    for (account, user) in [SOURCE, TARGET].iter().zip(users) {
        let s: StatsSnapshot = sim.stats(account);
        c.total += s.by_user.get(user).copied().unwrap_or(0);
        c.throttled += s.throttled;
        for (k, v) in &s.by_endpoint {
            if k.starts_with("GET ") {
                c.reads += v;
            } else {
                c.writes += v;
            }
            *c.by_endpoint.entry(format!("{account} {k}")).or_insert(0) += v;
        }
    }
    c
}

fn reset(sim: &Simulator) {
    sim.reset_stats(SOURCE);
    sim.reset_stats(TARGET);
}

fn per(n: u64, comments: usize) -> f64 {
    if comments == 0 {
        0.0
    } else {
        round(n as f64 / comments as f64, 2)
    }
}

fn proc_status_mb(key: &str) -> f64 {
    proc_status_mb_of("/proc/self/status", key)
}

/// `key` (`VmRSS`, `VmHWM`) of a `/proc/PID/status` file, in MB (0 when unreadable).
fn proc_status_mb_of(path: &str, key: &str) -> f64 {
    let Ok(s) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| round(kb / 1024.0, 1))
        .unwrap_or(0.0)
}

/// Resets the peak resident set (VmHWM) to the current one (Linux ≥ 4.0).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

// ---------------------------------------------------------------------------------------
// Phase 1 and 2: webhook path, then the backlog.

/// A simulator with signed webhooks from both accounts to a daemon, and `links` tickets
/// shared by tag through those webhooks.
struct WebhookWorld {
    sim: Arc<Simulator>,
    dir: TempDir,
    listen: SocketAddr,
    running: Running,
    sources: Vec<u64>,
    mirrors: Vec<u64>,
}

async fn webhook_world(
    limits: Limits,
    requests_per_minute: u32,
    links: usize,
    wait: Duration,
) -> Result<WebhookWorld, BenchError> {
    let sim = sim(limits).await?;
    let dir = TempDir::new("webhook")?;
    let state = dir.0.join("state");
    let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let listen = listener.local_addr().map_err(fail("listener address"))?;
    let settings = Settings {
        ordering: &ordering(),
        listen,
        state_dir: &state,
        poll_interval: "30s",
        requests_per_minute,
    };
    let config = load(&dir.0, &config_text(&sim, &settings))?;
    let running = start(config, listener).await?;
    for account in [SOURCE, TARGET] {
        sim.add_webhook(account, &format!("http://{listen}/webhooks/{account}"));
    }
    // Links: tickets tagged by a trigger, shared through the webhook.
    let mut sources = Vec::new();
    for i in 0..links {
        let t = sim
            .create_ticket(
                SOURCE,
                "alice@acme.example",
                &tagged_ticket(&format!("Bench {i}")),
            )
            .map_err(fail("creating a ticket"))?;
        sources.push(t.id);
    }
    let mirrors = mirrors_of(&running, &sources, wait).await?;
    settle(&running, wait).await;
    Ok(WebhookWorld {
        sim,
        dir,
        listen,
        running,
        sources,
        mirrors,
    })
}

async fn webhook_and_backlog(scale: &Scale, report: &mut Report) -> Result<(), BenchError> {
    // Zendesk's own limits; the daemon may spend the account's whole budget.
    let world = webhook_world(Limits::default(), 700, scale.links, scale.wait).await?;
    let WebhookWorld {
        sim,
        dir,
        listen,
        running,
        sources,
        mirrors,
    } = world;
    let state = dir.0.join("state");
    let settings = Settings {
        ordering: &ordering(),
        listen,
        state_dir: &state,
        poll_interval: "30s",
        requests_per_minute: 700,
    };
    report.rss_idle_mb = proc_status_mb("VmRSS");

    let tracker: Shared = Arc::default();
    let stop_watch = CancellationToken::new();
    let watcher = watch(
        sim.clone(),
        TARGET,
        mirrors.clone(),
        tracker.clone(),
        stop_watch.clone(),
    );
    let mut throttled = 0;
    let mut lost = 0;

    // Steady: comments spread over the links at a fixed rate.
    reset(&sim);
    let tokens = paced_writes(
        &sim,
        &tracker,
        &sources,
        scale.steady_comments,
        scale.steady_rate,
        1,
    )
    .await?;
    let (steady, missing) = wait_seen(&tracker, &tokens, scale.wait).await;
    lost += missing;
    settle(&running, scale.wait).await;
    let c = calls(&sim, [BRIDGE_SOURCE, BRIDGE_TARGET]);
    throttled += c.throttled;
    report.steady_comments = tokens.len() as u64;
    report.api_calls_per_comment = per(c.total, tokens.len());
    report.reads_per_comment = per(c.reads, tokens.len());
    report.writes_per_comment = per(c.writes, tokens.len());
    report.steady_by_endpoint = c.by_endpoint;
    report.steady_latency_ms_p50 = percentile_ms(&steady, 50.0);
    report.steady_latency_ms_p99 = percentile_ms(&steady, 99.0);

    // Bursts: three agents writing on one ticket at once.
    reset(&sim);
    let mut tokens = Vec::new();
    for b in 0..scale.bursts {
        let ticket = sources[b % sources.len()];
        let mut agents = tokio::task::JoinSet::new();
        for a in 0..3u64 {
            let sim = sim.clone();
            let tracker = tracker.clone();
            let n = scale.burst_per_agent;
            agents.spawn(async move {
                let agent = format!("agent{a}@acme.example");
                let mut mine = Vec::new();
                tokio::time::sleep(Duration::from_millis(7 * a)).await;
                for _ in 0..n {
                    mine.push(write(&sim, &tracker, ticket, &agent)?);
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
                Ok::<_, BenchError>(mine)
            });
        }
        while let Some(done) = agents.join_next().await {
            tokens.extend(done.map_err(fail("burst agent"))??);
        }
        // Let each burst land before the next ticket's.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (burst, missing) = wait_seen(&tracker, &tokens, scale.wait).await;
    lost += missing;
    settle(&running, scale.wait).await;
    let c = calls(&sim, [BRIDGE_SOURCE, BRIDGE_TARGET]);
    throttled += c.throttled;
    report.burst_comments = tokens.len() as u64;
    report.burst_api_calls_per_comment = per(c.total, tokens.len());
    report.burst_reads_per_comment = per(c.reads, tokens.len());
    report.burst_writes_per_comment = per(c.writes, tokens.len());
    report.burst_by_endpoint = c.by_endpoint;
    report.burst_latency_ms_p50 = percentile_ms(&burst, 50.0);
    report.burst_latency_ms_p99 = percentile_ms(&burst, 99.0);
    let mut all = steady;
    all.extend(burst);
    report.latency_ms_p50 = percentile_ms(&all, 50.0);
    report.latency_ms_p99 = percentile_ms(&all, 99.0);

    // Backlog: written while the daemon is stopped, drained after it starts again on the
    // same state directory, with every limit lifted.
    stop(running).await?;
    sim.set_limits(None, Limits::unlimited());
    let mut tokens = Vec::new();
    for i in 0..scale.backlog_comments {
        tokens.push(write(
            &sim,
            &tracker,
            sources[i % sources.len()],
            "alice@acme.example",
        )?);
    }
    // The simulator gives up on undeliverable webhooks after ~1.2 s: after that the
    // backlog is found by the export poll alone, as after a real outage.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    reset(&sim);
    let settings = Settings {
        requests_per_minute: UNLIMITED_RPM,
        ..settings
    };
    let config = load(&dir.0, &config_text(&sim, &settings))?;
    let listener = bind(listen).await?;
    let t0 = Instant::now();
    // Measured from the start: the webhooks were lost, the tokens' own write times would
    // count the pause.
    {
        let mut t = lock(&tracker);
        for k in &tokens {
            t.sent.insert(*k, t0);
        }
    }
    let running = start(config, listener).await?;
    let (drained, missing) = wait_seen(&tracker, &tokens, scale.wait).await;
    lost += missing;
    let elapsed = drained.iter().max().copied().unwrap_or_default();
    settle(&running, scale.wait).await;
    let c = calls(&sim, [BRIDGE_SOURCE, BRIDGE_TARGET]);
    throttled += c.throttled;
    report.comments = drained.len() as u64;
    report.seconds = round(elapsed.as_secs_f64(), 3);
    report.comments_per_s = if elapsed.is_zero() {
        0.0
    } else {
        round(drained.len() as f64 / elapsed.as_secs_f64(), 1)
    };
    report.backlog_api_calls_per_comment = per(c.total, tokens.len());
    report.backlog_reads = c.reads;
    report.backlog_writes = c.writes;
    stop(running).await?;
    stop_watch.cancel();
    let _ = watcher.await;
    report.throttled += throttled;
    report.lost += lost;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_in_coalesced_bodies() {
        let body = "a wrote:\n\nUpdate BTK12X from x\n\n---\n\nb wrote:\n\nUpdate BTK7X";
        assert_eq!(tokens_in(body).collect::<Vec<_>>(), vec![12, 7]);
        assert_eq!(tokens_in("BTK BTKX BTK9").count(), 0);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&v, 50.0), 50.0);
        assert_eq!(percentile_ms(&v, 99.0), 99.0);
        assert_eq!(percentile_ms(&[], 99.0), 0.0);
    }
}
