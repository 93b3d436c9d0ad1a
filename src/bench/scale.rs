//! The scale phase: N accounts (up to 50) on one daemon, each at its Zendesk limit, and
//! the CPU that costs.
//!
//! Accounts come in pairs shared both ways; agents write comments on both sides of many
//! shared tickets faster than Zendesk's limits let them cross (the simulator keeps
//! Zendesk's own: 700 requests a minute, Update Ticket 100 a minute per account and 30
//! per ten minutes per ticket), so every account's budget binds. The daemon runs as a
//! child process (`sharebridge run`), so its CPU time (`/proc/PID/stat`) counts neither
//! the simulator nor the agents. Figures: CPU of the daemon in percent of one core, per
//! account, the calls each account's bridge user made per minute, and — from the largest
//! N — how many accounts one core serves.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{BenchError, Report, TempDir, fail, round};
use crate::sim::{Limits, SimConfig, Simulator};
use crate::zendesk::models::{NewComment, TicketWrite};

const SECRET: &str = "bench-scale-secret";
const TAG: &str = "vendor_escalation";
/// Requests per minute each account's budget allows (Zendesk's Enterprise limit).
const RPM: u32 = 700;

/// One measured N.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScalePoint {
    pub accounts: u64,
    /// The daemon's CPU over the window, in percent of one core.
    pub cpu_percent: f64,
    pub cpu_percent_per_account: f64,
    /// Calls each account's bridge user made per minute in the window (mean).
    pub calls_per_min_per_account: f64,
    /// 429s the daemon received in the window (it keeps within the limits itself).
    pub throttled: u64,
    /// Comments the agents wrote in the window.
    pub comments_written: u64,
}

/// The sizes measured: (accounts, shared tickets per pair, comments per second per side).
fn sizes(quick: bool) -> (Vec<usize>, usize, f64, Duration) {
    if quick {
        (vec![2, 4], 3, 2.0, Duration::from_secs(3))
    } else {
        (vec![2, 10, 24, 50], 40, 3.0, Duration::from_secs(30))
    }
}

pub(super) async fn scale(
    quick: bool,
    exe: Option<&Path>,
    report: &mut Report,
) -> Result<(), BenchError> {
    let Some(exe) = exe else {
        // In-process the daemon's CPU cannot be told from the simulator's.
        tracing::warn!("bench: the scale phase needs the sharebridge binary; skipped in-process");
        return Ok(());
    };
    let (ns, tickets, rate, window) = sizes(quick);
    for n in ns {
        let point = one(n, tickets, rate, window, exe).await?;
        report.scale.push(point);
    }
    if let Some(last) = report.scale.last() {
        report.scale_cpu_percent_per_account = last.cpu_percent_per_account;
        report.scale_accounts_per_core = if last.cpu_percent_per_account > 0.0 {
            round(100.0 / last.cpu_percent_per_account, 0)
        } else {
            0.0
        };
    }
    Ok(())
}

fn name(i: usize) -> String {
    format!("z{i:02}")
}

fn config_text(sim: &Simulator, n: usize, listen: SocketAddr, state: &Path) -> String {
    let mut out = format!(
        "[daemon]\nadmin_token = \"bench\"\nstate_dir = \"{}\"\nlisten = \"{listen}\"\nlog_level = \"warn\"\n",
        state.display()
    );
    for i in 0..n {
        let peer = name(i ^ 1);
        let me = name(i);
        out.push_str(&format!(
            "\n[accounts.{me}]\nsubdomain = \"{me}\"\nbase_url = \"{}\"\nemail = \"bridge@{me}.example\"\n\
             token = \"{}\"\nrequests_per_minute = {RPM}\nwebhook_secret = \"{SECRET}\"\naccept_from = [\"{peer}\"]\n",
            sim.base_url(&me),
            sim.token()
        ));
        out.push_str(&format!(
            "\n[[agreements]]\nname = \"{me}-to-{peer}\"\nfrom = \"{me}\"\nto = \"{peer}\"\n{}",
            if i.is_multiple_of(2) {
                format!("auto_share_tags = [\"{TAG}\"]\n")
            } else {
                String::new()
            }
        ));
    }
    out
}

/// The daemon's user + system CPU time so far.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses: state is field 3; utime 14, stime 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports in USER_HZ, 100 on every architecture it runs on here.
    Some(Duration::from_millis(ticks * 10))
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn one(
    n: usize,
    tickets: usize,
    rate: f64,
    window: Duration,
    exe: &Path,
) -> Result<ScalePoint, BenchError> {
    let names: Vec<String> = (0..n).map(name).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut sc = SimConfig::local(&refs);
    sc.limits = Limits::default();
    sc.export_lag_secs = 0;
    sc.webhook_secret = SECRET.to_owned();
    let sim = Arc::new(Simulator::start(sc).await.map_err(fail("simulator"))?);
    let dir = TempDir::new("scale")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(fail("a free port"))?;
    let config = dir.0.join("sharebridge.toml");
    std::fs::write(&config, config_text(&sim, n, port, &dir.0.join("state")))
        .map_err(fail("writing the configuration"))?;
    for a in &names {
        sim.add_webhook(a, &format!("http://{port}/webhooks/{a}"));
    }
    let child = Child(
        std::process::Command::new(exe)
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env_remove("SHAREBRIDGE_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(fail("starting the daemon"))?,
    );
    let pid = child.0.id();
    // Shared tickets: on every even account, each mirrored on its peer.
    // (source account, mirror account, [(source ticket, its external id)]).
    type Pair = (String, String, Vec<(u64, String)>);
    let mut pairs: Vec<Pair> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(port).await.is_err() {
        if Instant::now() > deadline {
            return Err(BenchError(
                "the scale daemon did not listen within 20 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in (0..n).step_by(2) {
        let (a, b) = (name(i), name(i + 1));
        let mut sources = Vec::new();
        for t in 0..tickets {
            let write = TicketWrite {
                subject: Some(format!("Scale {i}.{t}")),
                comment: Some(NewComment {
                    body: Some("first".into()),
                    public: Some(true),
                    ..Default::default()
                }),
                tags: Some(vec![TAG.to_owned()]),
                ..Default::default()
            };
            let created = sim
                .create_ticket(&a, &format!("agent@{a}.example"), &write)
                .map_err(fail("creating a ticket"))?;
            sources.push((created.id, format!("sharebridge:{a}:{}", created.id)));
        }
        pairs.push((a, b, sources));
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut links: Vec<(String, u64, String, u64)> = Vec::new();
    for (a, b, sources) in &pairs {
        for (id, external) in sources {
            let mirror = loop {
                if let Some(m) = sim
                    .tickets(b)
                    .into_iter()
                    .find(|m| m.external_id.as_deref() == Some(external.as_str()))
                {
                    break m.id;
                }
                if Instant::now() > deadline {
                    return Err(BenchError(format!(
                        "scale phase, {n} accounts: not every ticket was shared within 180 s"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            links.push((a.clone(), *id, b.clone(), mirror));
        }
    }
    // The load: every pair's agents on both sides, round-robin over its tickets, faster
    // than the limits let comments cross.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut writers = Vec::new();
    for (a, _, _) in &pairs {
        let mine: Vec<(String, u64, String, u64)> =
            links.iter().filter(|l| &l.0 == a).cloned().collect();
        let (sim, stop, written) = (sim.clone(), stop.clone(), written.clone());
        writers.push(tokio::spawn(async move {
            let every = Duration::from_secs_f64(1.0 / (2.0 * rate));
            let mut k = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let (a, src, b, mirror) = &mine[k % mine.len()];
                let (account, ticket) = if k.is_multiple_of(2) {
                    (a, *src)
                } else {
                    (b, *mirror)
                };
                let write = TicketWrite {
                    comment: Some(NewComment {
                        body: Some(format!("scale comment {k}")),
                        public: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                if sim
                    .update_ticket(account, ticket, &format!("agent@{account}.example"), &write)
                    .is_ok()
                {
                    written.fetch_add(1, Ordering::Relaxed);
                }
                k += 1;
                tokio::time::sleep(every).await;
            }
        }));
    }
    // Warm up until the limits bind, then measure.
    tokio::time::sleep(window / 3).await;
    // The bridge user's calls and the 429s, per account (the agents' own writes are
    // counted under their users).
    let calls = |sim: &Simulator| -> BTreeMap<String, (u64, u64)> {
        names
            .iter()
            .map(|a| {
                let s = sim.stats(a);
                let me = format!("bridge@{a}.example");
                (
                    a.clone(),
                    (s.by_user.get(&me).copied().unwrap_or(0), s.throttled),
                )
            })
            .collect()
    };
    let before = calls(&sim);
    let written_before = written.load(Ordering::Relaxed);
    let cpu_before =
        cpu_time(pid).ok_or_else(|| BenchError("cannot read the daemon's CPU time".into()))?;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let cpu_after =
        cpu_time(pid).ok_or_else(|| BenchError("cannot read the daemon's CPU time".into()))?;
    let elapsed = started.elapsed().as_secs_f64();
    let after = calls(&sim);
    let comments_written = written.load(Ordering::Relaxed) - written_before;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.await;
    }
    drop(child);
    let minutes = elapsed / 60.0;
    let (mut calls_sum, mut throttled) = (0u64, 0u64);
    for (a, (c, t)) in &after {
        let (c0, t0) = before.get(a).copied().unwrap_or_default();
        calls_sum += c - c0;
        throttled += t - t0;
    }
    let cpu = (cpu_after - cpu_before).as_secs_f64() / elapsed * 100.0;
    Ok(ScalePoint {
        accounts: n as u64,
        cpu_percent: round(cpu, 1),
        cpu_percent_per_account: round(cpu / n as f64, 2),
        calls_per_min_per_account: round(calls_sum as f64 / n as f64 / minutes, 0),
        throttled,
        comments_written,
    })
}
