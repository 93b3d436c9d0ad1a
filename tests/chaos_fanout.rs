//! Chaos with two links writing to one receiving ticket, and consent changing mid-burst:
//! the real `sharebridge run` binary, one acme ticket shared into vendor and into delta
//! (both two-way, so replies on both mirrors are written into acme's one ticket by two
//! links), agents writing on all three tickets while the daemon is killed with -9, 10%
//! of requests fail (late-applied writes among them) and webhooks are lost and reordered;
//! halfway through, delta withdraws its consent (SIGHUP).
//!
//! The model, once faults are lifted and the daemon settled:
//! - acme ↔ vendor: every public comment crosses exactly once, in order; nothing private
//!   crosses; nothing echoes;
//! - acme ↔ delta: what was written before the withdrawal crosses at most once, in order;
//!   nothing written after it crosses, either way; the delta mirror is kept and marked;
//! - acme's ticket holds each reply of both links exactly once: neither link took the
//!   other's writes for its own.
//!
//! `SHAREBRIDGE_CHAOS_SEED`, `SHAREBRIDGE_CHAOS_SOAK` and `SHAREBRIDGE_CHAOS_FAULT_RATE`
//! work as in `tests/chaos.rs`.

mod chaos_support;

use std::io::{Read, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use chaos_support::*;
use sharebridge::sim::{Limits, SimConfig, Simulator};
use sharebridge::zendesk::models::{NewComment, Status, TicketWrite};

const SETTLE_TIMEOUT: Duration = Duration::from_secs(90);
const ACCOUNTS: [&str; 3] = ["acme", "vendor", "delta"];

fn config_text(sim: &Simulator, port: u16, state: &Path, delta_accepts: bool) -> String {
    let account = |name: &str, accept: &str| {
        format!(
            "\n[accounts.{name}]\nsubdomain = \"{name}\"\nbase_url = \"{}\"\nemail = \"bridge@{name}.example\"\ntoken = \"{}\"\nwebhook_secret = \"{WEBHOOK_SECRET}\"\naccept_from = [{accept}]\n",
            sim.base_url(name),
            sim.token(),
        )
    };
    let agreement = |from: &str, to: &str| {
        let tag = if from == "acme" {
            "auto_share_tags = [\"escalate\"]\n"
        } else {
            ""
        };
        format!(
            "\n[[agreements]]\nname = \"{from}-to-{to}\"\nfrom = \"{from}\"\nto = \"{to}\"\n{tag}"
        )
    };
    format!(
        "[daemon]\nadmin_token = \"chaos-admin\"\nstate_dir = \"{}\"\nlisten = \"127.0.0.1:{port}\"\npoll_interval = \"1s\"\ncoalesce_window = \"100ms\"\nin_doubt_wait = \"{IN_DOUBT_WAIT}\"\nlog_level = \"info,sharebridge=debug\"\n{}{}{}{}{}{}{}",
        state.display(),
        account("acme", "\"vendor\", \"delta\""),
        account("vendor", "\"acme\""),
        account("delta", if delta_accepts { "\"acme\"" } else { "" }),
        agreement("acme", "vendor"),
        agreement("vendor", "acme"),
        agreement("acme", "delta"),
        agreement("delta", "acme"),
    )
}

/// One comment someone wrote: where, whether public, and whether delta's consent had
/// been withdrawn (and the daemon had applied it) when it was written.
struct Written {
    token: String,
    account: &'static str,
    public: bool,
    after_withdrawal: bool,
}

struct World {
    sim: Simulator,
    daemon: Daemon,
    rng: fastrand::Rng,
    source: u64,
    written: Vec<Written>,
    withdrawn: bool,
    dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

impl World {
    fn new(seed: u64) -> World {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mut sc = SimConfig::local(&ACCOUNTS);
        sc.limits = Limits::unlimited();
        sc.export_lag_secs = 0;
        sc.webhook_secret = WEBHOOK_SECRET.to_owned();
        sc.seed = seed;
        sc.late_apply_ms = LATE_APPLY_MS;
        let sim = rt.block_on(Simulator::start(sc)).expect("simulator");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let config = dir.path().join("sharebridge.toml");
        std::fs::write(
            &config,
            config_text(&sim, port, &dir.path().join("state"), true),
        )
        .expect("config written");
        let relay = rt.block_on(relay::start(seed, port));
        for account in ACCOUNTS {
            sim.add_webhook(account, &format!("http://{relay}/webhooks/{account}"));
        }
        World {
            sim,
            daemon: Daemon {
                config,
                log: dir.path().join("daemon.log"),
                port,
                child: None,
                starts: 0,
            },
            rng: fastrand::Rng::with_seed(seed),
            source: 0,
            written: Vec::new(),
            withdrawn: false,
            dir,
            _rt: rt,
        }
    }

    fn mirror(&self, account: &str) -> Option<u64> {
        let external = format!("sharebridge:acme:{}", self.source);
        self.sim
            .tickets(account)
            .into_iter()
            .find(|t| t.external_id.as_deref() == Some(external.as_str()))
            .map(|t| t.id)
    }

    fn comment(&mut self, account: &'static str, n: usize, public: bool) {
        let ticket = match account {
            "acme" => self.source,
            other => self.mirror(other).expect("mirror made before the burst"),
        };
        let agent = ["ann", "ben", "cat"][self.rng.usize(..3)];
        let kind = if public { 'c' } else { 'p' };
        let token = format!("[{kind}-{n}-{account}-{agent}]");
        let write = TicketWrite {
            comment: Some(NewComment {
                body: Some(format!("{agent} writes {token}")),
                public: Some(public),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.sim
            .update_ticket(
                account,
                ticket,
                &format!("{agent}@{account}.example"),
                &write,
            )
            .expect("comment written");
        self.daemon
            .note(&format!("{account} ticket {ticket}: comment {token}"));
        self.written.push(Written {
            token,
            account,
            public,
            after_withdrawal: self.withdrawn,
        });
    }

    /// Withdraws delta's consent by SIGHUP and waits until the daemon says so.
    fn withdraw(&mut self) -> Result<(), String> {
        std::fs::write(
            &self.daemon.config,
            config_text(
                &self.sim,
                self.daemon.port,
                &self.dir.path().join("state"),
                false,
            ),
        )
        .map_err(|e| e.to_string())?;
        self.daemon.wait_ready()?;
        let pid = self
            .daemon
            .child
            .as_ref()
            .map(|c| c.id())
            .ok_or("no daemon")?;
        std::process::Command::new("kill")
            .arg("-HUP")
            .arg(pid.to_string())
            .status()
            .map_err(|e| e.to_string())?;
        self.daemon.note("SIGHUP: delta withdraws its consent");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if agreement_state(self.daemon.port, "acme-to-delta").as_deref() == Some("inactive") {
                self.withdrawn = true;
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err("the daemon did not apply the withdrawal within 30 s".into())
    }
}

/// An agreement's state as the admin API says.
fn agreement_state(port: u16, name: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET /api/agreements HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer chaos-admin\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let body = out.split("\r\n\r\n").nth(1)?;
    let list: serde_json::Value = serde_json::from_str(body).ok()?;
    list.as_array()?
        .iter()
        .find(|a| a["name"] == name)
        .and_then(|a| a["state"].as_str().map(str::to_owned))
}

fn occurrences(bodies: &[String], token: &str) -> Vec<(usize, usize)> {
    bodies
        .iter()
        .enumerate()
        .flat_map(|(i, b)| b.match_indices(token).map(move |(at, _)| (i, at)))
        .collect()
}

fn check(w: &World) -> Result<(), Vec<String>> {
    let mut v = Vec::new();
    let (Some(mv), Some(md)) = (w.mirror("vendor"), w.mirror("delta")) else {
        return Err(vec!["a mirror is missing".into()]);
    };
    for account in ["vendor", "delta"] {
        let external = format!("sharebridge:acme:{}", w.source);
        let n = w
            .sim
            .tickets(account)
            .iter()
            .filter(|t| t.external_id.as_deref() == Some(external.as_str()))
            .count();
        if n != 1 {
            v.push(format!("{n} mirrors in {account}"));
        }
    }
    let bodies = |account: &str, id: u64| -> Vec<String> {
        w.sim
            .comments(account, id)
            .into_iter()
            .map(|c| c.body)
            .collect()
    };
    let acme = bodies("acme", w.source);
    let vendor = bodies("vendor", mv);
    let delta = bodies("delta", md);
    let on = |account: &str| match account {
        "acme" => &acme,
        "vendor" => &vendor,
        _ => &delta,
    };
    // (from, to): what crosses where; whether it must (vendor) or may (delta).
    let routes: [(&str, &str); 4] = [
        ("acme", "vendor"),
        ("vendor", "acme"),
        ("acme", "delta"),
        ("delta", "acme"),
    ];
    for c in &w.written {
        let home = occurrences(on(c.account), &c.token).len();
        if home != 1 {
            v.push(format!(
                "{} appears {home} times where it was written (echo)",
                c.token
            ));
        }
    }
    for (from, to) in routes {
        let delta_route = from == "delta" || to == "delta";
        let mut last: Option<((usize, usize), &str)> = None;
        for c in w.written.iter().filter(|c| c.account == from) {
            let found = occurrences(on(to), &c.token);
            match (c.public, found.len()) {
                (false, 0) => continue,
                (false, n) => {
                    v.push(format!(
                        "{} is private and leaked {n} times to {to}",
                        c.token
                    ));
                    continue;
                }
                (true, n) if n > 1 => v.push(format!("{} duplicated on {to}: {n}", c.token)),
                (true, 1) if delta_route && c.after_withdrawal => v.push(format!(
                    "{} crossed to {to} after delta withdrew its consent",
                    c.token
                )),
                (true, 0) if !delta_route => v.push(format!("{} lost: not on {to}", c.token)),
                _ => {}
            }
            if let Some(&at) = found.first() {
                if let Some((prev, ptok)) = last
                    && at < prev
                {
                    v.push(format!("out of order on {to}: {} before {ptok}", c.token));
                }
                last = Some((at, &c.token));
            }
        }
    }
    if !w
        .sim
        .ticket("delta", md)
        .is_some_and(|t| t.tags.iter().any(|t| t == "sharebridge_orphaned"))
    {
        v.push("the delta mirror is not marked as an orphan".into());
    }
    if v.is_empty() { Ok(()) } else { Err(v) }
}

fn run(seed: u64) -> Result<(usize, u64, usize), String> {
    let mut w = World::new(seed);
    let result = (|| -> Result<(usize, u64, usize), String> {
        w.daemon.spawn();
        w.daemon.wait_ready()?;
        let t = w
            .sim
            .create_ticket(
                "acme",
                "ann@acme.example",
                &TicketWrite {
                    subject: Some("Fan-out chaos".into()),
                    status: Some(Status::Open),
                    tags: Some(vec!["escalate".into()]),
                    comment: Some(NewComment {
                        body: Some("opened [c-0-acme-ann]".into()),
                        public: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
            .map_err(|e| format!("{e:?}"))?;
        w.source = t.id;
        let deadline = Instant::now() + Duration::from_secs(30);
        while w.mirror("vendor").is_none() || w.mirror("delta").is_none() {
            if Instant::now() >= deadline {
                return Err("not shared into both within 30 s".into());
            }
            w.daemon.ensure_alive()?;
            std::thread::sleep(Duration::from_millis(50));
        }
        set_faults(&w.sim, fault_rate());
        let total = 48;
        let kill_at = [w.rng.usize(4..20), w.rng.usize(28..44)];
        let mut kills = 0;
        for n in 1..=total {
            if n == total / 2 {
                w.withdraw()?;
            }
            let account = ["acme", "acme", "vendor", "delta"][w.rng.usize(..4)];
            let public = w.rng.u32(0..6) != 0;
            w.comment(account, n, public);
            std::thread::sleep(Duration::from_millis(w.rng.u64(5..50)));
            if kill_at.contains(&n) {
                w.daemon.kill();
                kills += 1;
                std::thread::sleep(Duration::from_millis(w.rng.u64(0..300)));
                w.daemon.spawn();
            }
        }
        set_faults(&w.sim, 0.0);
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            w.daemon.ensure_alive()?;
            match check(&w) {
                Ok(()) => break,
                Err(v) if Instant::now() >= deadline => {
                    return Err(format!("did not settle:\n{}", v.join("\n")));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(250)),
            }
        }
        std::thread::sleep(Duration::from_secs(3));
        check(&w).map_err(|v| format!("held, then stopped holding:\n{}", v.join("\n")))?;
        let faults = ACCOUNTS.iter().map(|a| w.sim.stats(a).faults).sum();
        Ok((w.written.len(), faults, kills))
    })();
    result.map_err(|why| {
        let kept = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("chaos-fanout-{seed}.log"));
        let _ = std::fs::copy(&w.daemon.log, &kept);
        format!(
            "chaos fan-out failed for seed {seed} (replay: SHAREBRIDGE_CHAOS_SEED={seed}):\n{why}\n--- daemon log (all of it in {}) ---\n{}",
            kept.display(),
            w.daemon.log_tail(60)
        )
    })
}

#[test]
fn two_links_into_one_ticket_and_consent_withdrawn_mid_burst() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut faults = 0;
    for seed in seeds(&[31]) {
        let started = Instant::now();
        match run(seed) {
            Ok((comments, f, kills)) => {
                faults += f;
                eprintln!(
                    "chaos fan-out seed {seed}: {comments} comments, {kills} SIGKILLs, {f} faults, {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
            Err(msg) => panic!("{msg}"),
        }
    }
    assert!(faults > 0, "the simulator injected no fault");
}
