//! The attachments phase of `sharebridge bench` (`--attachments-only` runs it alone):
//! the real daemon (`sharebridge run`, a child process, so its resident set is its own)
//! against the simulator in this process, with webhooks. First one comment carrying a
//! large file (20 MB; 2 MB with `--quick`): the seconds until the mirror comment holds all
//! of it, and the daemon's peak RSS (`VmHWM` of the child) with it; then a batch of
//! comments with 2 MB files (200 KB with `--quick`) across several tickets: MB mirrored
//! per second.
//!
//! Invariant: measures only what it observes (the mirror's attachments and sizes on the
//! simulator, `/proc/PID/status` of the daemon); a file never seen is reported as lost.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sim::{Limits, Simulator};
use crate::zendesk::models::{NewComment, TicketWrite};

use super::{
    BenchError, Report, SOURCE, TARGET, TempDir, UNLIMITED_RPM, bind, config_text, fail, round,
    sim, tagged_ticket,
};

/// What the phase measured.
#[derive(Debug, Clone, Default)]
struct Figures {
    big_mb: f64,
    big_seconds: f64,
    batch_files: u64,
    batch_mb: f64,
    batch_seconds: f64,
    rss_before_mb: f64,
    rss_peak_mb: f64,
    lost: u64,
}

/// Sizes of one run.
struct Sizes {
    big: usize,
    batch_file: usize,
    batch_tickets: usize,
    files_per_ticket: usize,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                big: 2_000_000,
                batch_file: 200_000,
                batch_tickets: 2,
                files_per_ticket: 2,
            }
        } else {
            Sizes {
                big: 20_000_000,
                batch_file: 2_000_000,
                batch_tickets: 10,
                files_per_ticket: 5,
            }
        }
    }
}

/// The daemon under test: a child process, or (no binary given) in this process.
enum Daemon {
    Child(std::process::Child),
    Here(crate::daemon::Running),
}

impl Daemon {
    /// `key` of its `/proc/PID/status`, in MB.
    fn status_mb(&self, key: &str) -> f64 {
        match self {
            Daemon::Child(c) => super::proc_status_mb_of(&format!("/proc/{}/status", c.id()), key),
            Daemon::Here(_) => super::proc_status_mb(key),
        }
    }

    async fn stop(self) -> Result<(), BenchError> {
        match self {
            Daemon::Child(mut c) => {
                let _ = c.kill();
                let _ = c.wait();
                Ok(())
            }
            Daemon::Here(r) => super::stop(r).await,
        }
    }
}

/// Runs the phase and fills the report's `attachment_*` figures.
pub(super) async fn attachments(
    quick: bool,
    exe: Option<&Path>,
    report: &mut Report,
) -> Result<(), BenchError> {
    let sizes = Sizes::new(quick);
    let sim = sim(Limits::unlimited()).await?;
    let dir = TempDir::new("attachments")?;
    let state = dir.0.join("state");
    std::fs::create_dir_all(&state).map_err(fail("state directory"))?;
    let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let listen = listener.local_addr().map_err(fail("listener address"))?;
    let settings = super::Settings {
        ordering: &super::ordering(),
        listen,
        state_dir: &state,
        poll_interval: "30s",
        requests_per_minute: UNLIMITED_RPM,
    };
    let text = config_text(&sim, &settings);
    let path = dir.0.join("sharebridge.toml");
    std::fs::write(&path, &text).map_err(fail("writing the configuration"))?;
    for account in [SOURCE, TARGET] {
        sim.add_webhook(account, &format!("http://{listen}/webhooks/{account}"));
    }
    let daemon = match exe {
        Some(exe) => {
            drop(listener);
            let child = std::process::Command::new(exe)
                .args(["run", "--config"])
                .arg(&path)
                .env_remove("SHAREBRIDGE_CONFIG")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::inherit())
                .spawn()
                .map_err(fail("starting the daemon"))?;
            wait_ready(listen).await?;
            Daemon::Child(child)
        }
        None => {
            super::reset_peak_rss();
            let config = super::load(&dir.0, &text)?;
            Daemon::Here(super::start(config, listener).await?)
        }
    };
    let measured = measure(&sim, &sizes, &daemon).await;
    daemon.stop().await?;
    let f = measured?;
    report.attachment_big_mb = round(f.big_mb, 1);
    report.attachment_big_seconds = round(f.big_seconds, 3);
    report.attachment_big_mb_per_s = round(f.big_mb / f.big_seconds.max(1e-9), 1);
    report.attachment_files = f.batch_files;
    report.attachment_batch_mb = round(f.batch_mb, 1);
    report.attachment_batch_seconds = round(f.batch_seconds, 3);
    report.attachment_mb_per_s = round(f.batch_mb / f.batch_seconds.max(1e-9), 1);
    report.attachment_rss_before_mb = round(f.rss_before_mb, 1);
    report.attachment_peak_rss_mb = round(f.rss_peak_mb, 1);
    report.lost += f.lost;
    Ok(())
}

/// Waits for the child daemon's `/readyz`.
async fn wait_ready(listen: SocketAddr) -> Result<(), BenchError> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("http://{listen}/readyz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(BenchError("the daemon was not ready within 30 s".into()))
}

fn file(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut v = vec![0u8; n];
    rng.fill(&mut v);
    v
}

/// Shares a ticket and waits for its mirror.
async fn shared(sim: &Arc<Simulator>, subject: &str) -> Result<(u64, u64), BenchError> {
    let t = sim
        .create_ticket(SOURCE, "agent@acme.example", &tagged_ticket(subject))
        .map_err(fail("creating a ticket"))?;
    let external = format!("sharebridge:{SOURCE}:{}", t.id);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(m) = sim
            .tickets(TARGET)
            .into_iter()
            .find(|m| m.external_id.as_deref() == Some(external.as_str()))
        {
            return Ok((t.id, m.id));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(BenchError(format!("ticket {subject} was never mirrored")))
}

/// Adds a comment carrying `files` (name, bytes) on the source ticket.
fn comment_with(
    sim: &Simulator,
    ticket: u64,
    body: &str,
    files: Vec<(String, Vec<u8>)>,
) -> Result<(), BenchError> {
    let mut uploads = Vec::new();
    for (name, bytes) in files {
        let up = sim
            .upload(
                SOURCE,
                "agent@acme.example",
                &name,
                "application/octet-stream",
                bytes,
            )
            .map_err(fail("uploading"))?;
        uploads.push(up.token);
    }
    sim.update_ticket(
        SOURCE,
        ticket,
        "agent@acme.example",
        &TicketWrite {
            comment: Some(NewComment {
                body: Some(body.to_owned()),
                public: Some(true),
                uploads,
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .map_err(fail("commenting"))?;
    Ok(())
}

/// Bytes of the files named `prefix…` on the mirrors, with their full size.
fn mirrored(sim: &Simulator, mirrors: &[u64], prefix: &str, size: u64) -> usize {
    mirrors
        .iter()
        .flat_map(|m| sim.comments(TARGET, *m))
        .flat_map(|c| c.attachments)
        .filter(|a| a.file_name.starts_with(prefix) && a.size == size)
        .count()
}

async fn measure(
    sim: &Arc<Simulator>,
    sizes: &Sizes,
    daemon: &Daemon,
) -> Result<Figures, BenchError> {
    let mut f = Figures::default();
    let limit = Duration::from_secs(120);
    // One large file.
    let (t, m) = shared(sim, "attachment big").await?;
    f.rss_before_mb = daemon.status_mb("VmRSS");
    let big = file(sizes.big, 1);
    let t0 = Instant::now();
    comment_with(sim, t, "a large file", vec![("big-0.bin".into(), big)])?;
    while mirrored(sim, &[m], "big-", sizes.big as u64) < 1 && t0.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    f.big_seconds = t0.elapsed().as_secs_f64();
    f.big_mb = sizes.big as f64 / 1e6;
    if mirrored(sim, &[m], "big-", sizes.big as u64) < 1 {
        f.lost += 1;
    }
    f.rss_peak_mb = daemon.status_mb("VmHWM");

    // A batch across several tickets.
    let mut pairs = Vec::new();
    for i in 0..sizes.batch_tickets {
        pairs.push(shared(sim, &format!("attachment batch {i}")).await?);
    }
    let mirrors: Vec<u64> = pairs.iter().map(|(_, m)| *m).collect();
    let total = sizes.batch_tickets * sizes.files_per_ticket;
    let t0 = Instant::now();
    let mut seed = 10;
    for (i, (t, _)) in pairs.iter().enumerate() {
        let files = (0..sizes.files_per_ticket)
            .map(|j| {
                seed += 1;
                (format!("batch-{i}-{j}.bin"), file(sizes.batch_file, seed))
            })
            .collect();
        comment_with(sim, *t, &format!("batch {i}"), files)?;
    }
    while mirrored(sim, &mirrors, "batch-", sizes.batch_file as u64) < total && t0.elapsed() < limit
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    f.batch_seconds = t0.elapsed().as_secs_f64();
    let seen = mirrored(sim, &mirrors, "batch-", sizes.batch_file as u64);
    f.batch_files = seen as u64;
    f.batch_mb = (seen * sizes.batch_file) as f64 / 1e6;
    f.lost += (total - seen.min(total)) as u64;
    f.rss_peak_mb = f.rss_peak_mb.max(daemon.status_mb("VmHWM"));
    Ok(f)
}
