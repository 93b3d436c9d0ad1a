//! What the chaos tests share: the daemon as a child process (spawn, SIGKILL, SIGTERM,
//! its log), the webhook relay that loses and reorders webhooks, the fault mix, and the
//! seeds a run takes (fixed, replayed, or a soak).
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::{Read, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use sharebridge::sim::{FaultKind, FaultSettings, Simulator};

pub const WEBHOOK_SECRET: &str = "chaos-webhook-secret";
/// How long after it was sent the simulator may apply a write whose answer it dropped
/// (`late-apply`), and how long the daemon waits before judging such a write not applied.
pub const LATE_APPLY_MS: u64 = 1500;
pub const IN_DOUBT_WAIT: &str = "4s";
/// Share of webhooks the relay loses, and the longest it holds one back (reordering them).
pub const WEBHOOK_LOSS: f64 = 0.15;
pub const WEBHOOK_MAX_DELAY_MS: u64 = 400;

/// The fault rate during the workload (`SHAREBRIDGE_CHAOS_FAULT_RATE` overrides it).
pub fn fault_rate() -> f64 {
    std::env::var("SHAREBRIDGE_CHAOS_FAULT_RATE")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|r: &f64| (0.0..=1.0).contains(r))
        .unwrap_or(0.10)
}

/// The chaos fault mix at `rate`, on every account.
pub fn set_faults(sim: &Simulator, rate: f64) {
    sim.set_faults(
        None,
        FaultSettings {
            rate,
            kinds: vec![
                FaultKind::TooManyRequests,
                FaultKind::InternalError,
                FaultKind::Unavailable,
                FaultKind::Drop,
                // Twice: the fault that tests the exactly-once protocol (a write that
                // lands but whose answer is lost) is a third of all faults.
                FaultKind::DropAfterCommit,
                FaultKind::DropAfterCommit,
                // A write Zendesk is still applying when its answer times out.
                FaultKind::LateApply,
            ],
            latency_ms: 1,
        },
    );
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The seeds a scenario runs: `SHAREBRIDGE_CHAOS_SEED` (one, replayed),
/// `SHAREBRIDGE_CHAOS_SOAK` (random ones for that many seconds), else `fixed`.
pub fn seeds(fixed: &'static [u64]) -> Box<dyn Iterator<Item = u64>> {
    if let Some(seed) = env_u64("SHAREBRIDGE_CHAOS_SEED") {
        Box::new(std::iter::once(seed))
    } else if let Some(secs) = env_u64("SHAREBRIDGE_CHAOS_SOAK") {
        let until = Instant::now() + Duration::from_secs(secs);
        let mut pick = fastrand::Rng::new();
        Box::new(std::iter::from_fn(move || {
            (Instant::now() < until).then(|| pick.u64(..1_000_000))
        }))
    } else {
        Box::new(fixed.iter().copied())
    }
}

// ---------------------------------------------------------------------------------------
// The daemon as a child process.

pub struct Daemon {
    pub config: PathBuf,
    pub log: PathBuf,
    pub port: u16,
    pub child: Option<Child>,
    pub starts: usize,
}

impl Daemon {
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "daemon already running");
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("daemon log");
        let _ = writeln!(log, "===== start #{} =====", self.starts);
        let child = Command::new(env!("CARGO_BIN_EXE_sharebridge"))
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .env_remove("RUST_LOG")
            .env_remove("SHAREBRIDGE_CONFIG")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("sharebridge run started");
        self.child = Some(child);
    }

    /// Fails when the daemon exited on its own.
    pub fn ensure_alive(&mut self) -> Result<(), String> {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(Some(status))) => {
                self.child = None;
                Err(format!("the daemon exited on its own: {status}"))
            }
            Some(Err(e)) => Err(format!("cannot poll the daemon: {e}")),
            _ => Ok(()),
        }
    }

    /// Waits until `/healthz` answers (the store is open and writes in doubt are settled).
    pub fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            self.ensure_alive()?;
            if http_status(self.port, "/healthz") == Some(200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err("the daemon did not answer /healthz within 30 s".to_owned())
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.note("SIGKILL");
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for the exit.
    pub fn terminate(&mut self) -> Result<ExitStatus, String> {
        let mut child = self.child.take().ok_or("the daemon is not running")?;
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if !sent.success() {
            return Err(format!("kill -TERM failed: {sent}"));
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the daemon did not exit within 20 s of SIGTERM".to_owned());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Writes a line of the workload's own into the daemon's log, for one timeline.
    pub fn note(&self, line: &str) {
        if let Ok(mut log) = OpenOptions::new().append(true).open(&self.log) {
            let _ = writeln!(log, "##### {} {line}", jiff::Timestamp::now());
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The status code of a plain `GET` on loopback, `None` when nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

// ---------------------------------------------------------------------------------------
// Webhooks on their way: lost and reordered.

pub mod relay {
    //! Between the simulator's webhooks and the daemon: each delivery is answered at once
    //! (as Zendesk's endpoint sees it delivered), then lost (`WEBHOOK_LOSS`) or passed on
    //! after a seeded delay of up to `WEBHOOK_MAX_DELAY_MS`, so webhooks reach the daemon
    //! late and out of order, some never, and none while it is down.

    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::body::Bytes;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};

    struct Relay {
        rng: Mutex<fastrand::Rng>,
        daemon: u16,
        http: reqwest::Client,
    }

    pub async fn start(seed: u64, daemon: u16) -> SocketAddr {
        let state = Arc::new(Relay {
            rng: Mutex::new(fastrand::Rng::with_seed(seed ^ 0x5eed_f0eb)),
            daemon,
            http: reqwest::Client::new(),
        });
        let app = axum::Router::new()
            .route("/webhooks/{account}", axum::routing::post(pass))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("relay port");
        let addr = listener.local_addr().expect("relay address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        addr
    }

    async fn pass(
        State(relay): State<Arc<Relay>>,
        Path(account): Path<String>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        let (lost, delay) = {
            let mut rng = relay.rng.lock().unwrap_or_else(|e| e.into_inner());
            (
                rng.f64() < super::WEBHOOK_LOSS,
                rng.u64(0..super::WEBHOOK_MAX_DELAY_MS),
            )
        };
        if lost {
            return StatusCode::ACCEPTED;
        }
        let url = format!("http://127.0.0.1:{}/webhooks/{account}", relay.daemon);
        let relay = relay.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let mut request = relay.http.post(url).body(body.to_vec());
            for (k, v) in headers.iter() {
                if k.as_str().starts_with("x-zendesk") || k == "content-type" {
                    request = request.header(k.clone(), v.clone());
                }
            }
            // The daemon may be down: then this webhook is lost, as Zendesk's would be.
            let _ = request.send().await;
        });
        StatusCode::ACCEPTED
    }
}
