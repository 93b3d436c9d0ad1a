//! Phase 5 of `sharebridge bench`: a store filled directly with links, then the time
//! `daemon::start` takes to return (READY) and the memory it takes, measured in a child
//! process (`bench --ready-child`) so that the figure is the daemon's own.
//!
//! Architecture invariant: measures, never asserts.

use super::*;

// ---------------------------------------------------------------------------------------
// Phase 5: READY with many links.

pub(super) async fn ready(
    scale: &Scale,
    exe: Option<&Path>,
    report: &mut Report,
) -> Result<(), BenchError> {
    let dir = TempDir::new("ready")?;
    let state = dir.0.join("state");
    std::fs::create_dir_all(&state).map_err(fail("state directory"))?;
    {
        let store = Store::open(state.join(daemon::STORE_FILE)).map_err(fail("store"))?;
        let now = jiff::Timestamp::now();
        let mut made = 0;
        while made < scale.ready_links {
            let n = (scale.ready_links - made).min(10_000);
            store
                .transaction(|tx| {
                    for i in made..made + n {
                        let alloc = tx.create_link(NewLink {
                            agreement: "acme-to-vendor".into(),
                            source_account: SOURCE.into(),
                            source_ticket: 1_000_000 + i as u64,
                            target_account: TARGET.into(),
                            direction: Direction::TwoWay,
                            created_at: now,
                            untagged_share: false,
                        })?;
                        tx.set_mirror_ticket(alloc.link.id, 5_000_000 + i as u64)?;
                    }
                    Ok(())
                })
                .map_err(fail("filling the store"))?;
            made += n;
        }
    }
    let measured = match exe {
        Some(exe) => {
            let exe = exe.to_owned();
            let state = state.clone();
            tokio::task::spawn_blocking(move || {
                let out = std::process::Command::new(exe)
                    .arg("bench")
                    .arg("--ready-child")
                    .arg(&state)
                    .stderr(std::process::Stdio::inherit())
                    .output()
                    .map_err(fail("starting the READY process"))?;
                if !out.status.success() {
                    return Err(BenchError(format!(
                        "the READY process failed: {}",
                        out.status
                    )));
                }
                serde_json::from_slice::<Ready>(&out.stdout).map_err(fail("the READY process"))
            })
            .await
            .map_err(fail("the READY process"))??
        }
        None => {
            reset_peak_rss();
            ready_here(&state).await?
        }
    };
    report.ready_links = scale.ready_links as u64;
    report.ready_ms_100k_links = measured.ready_ms;
    report.rss_100k_links_mb = measured.rss_peak_mb;
    report.rss_before_ready_mb = measured.rss_before_mb;
    Ok(())
}

/// What the READY measurement answers (`bench --ready-child` prints it as JSON).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Ready {
    pub ready_ms: f64,
    pub rss_before_mb: f64,
    pub rss_peak_mb: f64,
}

/// Starts a daemon on the store in `state` (a simulator for its accounts) and times
/// `daemon::start`; then idles half a second (the first poll runs) and reads the peak RSS.
pub async fn ready_here(state: &Path) -> Result<Ready, BenchError> {
    let sim = sim(Limits::unlimited()).await?;
    let dir = TempDir::new("ready-config")?;
    let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let listen = listener.local_addr().map_err(fail("listener address"))?;
    let settings = Settings {
        ordering: &ordering(),
        listen,
        state_dir: state,
        poll_interval: "30s",
        requests_per_minute: UNLIMITED_RPM,
    };
    let config = load(&dir.0, &config_text(&sim, &settings))?;
    let rss_before_mb = proc_status_mb("VmRSS");
    let t0 = Instant::now();
    let running = start(config, listener).await?;
    let ready_ms = round(t0.elapsed().as_secs_f64() * 1000.0, 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_peak_mb = proc_status_mb("VmHWM");
    stop(running).await?;
    Ok(Ready {
        ready_ms,
        rss_before_mb,
        rss_peak_mb,
    })
}
