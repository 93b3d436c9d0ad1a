//! Phases 3 and 4 of `sharebridge bench`: the polling path (no webhooks, the export
//! poller alone) and, for comparison, a naive mirror that polls every shared ticket's
//! comments and writes each new one.
//!
//! Architecture invariant: measures, never asserts; uses the world the parent module
//! builds and adds no harness of its own.

use super::*;

// ---------------------------------------------------------------------------------------
// Phase 3: polling path.

pub(super) async fn poll_path(scale: &Scale, report: &mut Report) -> Result<(), BenchError> {
    let sim = sim(Limits::unlimited()).await?;
    let dir = TempDir::new("poll")?;
    let state = dir.0.join("state");
    let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let listen = listener.local_addr().map_err(fail("listener address"))?;
    let settings = Settings {
        ordering: &ordering(),
        listen,
        state_dir: &state,
        poll_interval: scale.poll_interval,
        requests_per_minute: UNLIMITED_RPM,
    };
    let config = load(&dir.0, &config_text(&sim, &settings))?;
    let running = start(config, listener).await?;
    let mut sources = Vec::new();
    let mut mirrors = Vec::new();
    for i in 0..scale.poll_links {
        let t = sim
            .create_ticket(
                SOURCE,
                "alice@acme.example",
                &plain_ticket(&format!("Poll {i}")),
            )
            .map_err(fail("creating a ticket"))?;
        let link = running
            .engine
            .share(SOURCE, t.id, TARGET, "bench")
            .await
            .map_err(fail("sharing"))?;
        sources.push(t.id);
        mirrors.push(
            link.target_ticket
                .ok_or_else(|| BenchError("shared without a mirror".into()))?,
        );
    }
    settle(&running, scale.wait).await;
    let tracker: Shared = Arc::default();
    let stop_watch = CancellationToken::new();
    let watcher = watch(
        sim.clone(),
        TARGET,
        mirrors,
        tracker.clone(),
        stop_watch.clone(),
    );
    reset(&sim);
    let tokens = paced_writes(
        &sim,
        &tracker,
        &sources,
        scale.poll_comments,
        scale.poll_rate,
        2,
    )
    .await?;
    let (seen, missing) = wait_seen(&tracker, &tokens, scale.wait).await;
    settle(&running, scale.wait).await;
    let c = calls(&sim, [BRIDGE_SOURCE, BRIDGE_TARGET]);
    report.poll_comments = tokens.len() as u64;
    report.poll_interval_s = scale.poll_interval_s;
    report.poll_latency_ms_p50 = percentile_ms(&seen, 50.0);
    report.poll_latency_ms_p99 = percentile_ms(&seen, 99.0);
    report.poll_api_calls_per_comment = per(c.total, tokens.len());
    report.throttled += c.throttled;
    report.lost += missing;
    stop_watch.cancel();
    let _ = watcher.await;
    stop(running).await
}

// ---------------------------------------------------------------------------------------
// Phase 4: the naive mirror.

#[derive(serde::Deserialize)]
struct CommentsPage {
    comments: Vec<crate::zendesk::models::Comment>,
}

/// Every `interval`: for every shared ticket, read its comments; write each new one to
/// the mirror as one update. No webhooks, no export, no coalescing.
async fn naive_mirror(
    sim: Arc<Simulator>,
    pairs: Vec<(u64, u64)>,
    mut last: HashMap<u64, u64>,
    interval: Duration,
    stop: CancellationToken,
) -> Result<(), BenchError> {
    let http = reqwest::Client::new();
    let token = sim.token().to_owned();
    let source = sim.base_url(SOURCE);
    let target = sim.base_url(TARGET);
    let mut every = tokio::time::interval(interval);
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return Ok(()),
            _ = every.tick() => {}
        }
        for (s, m) in &pairs {
            let page: CommentsPage = http
                .get(format!("{source}/api/v2/tickets/{s}/comments.json"))
                .basic_auth(format!("{NAIVE_SOURCE}/token"), Some(&token))
                .send()
                .await
                .map_err(fail("naive read"))?
                .json()
                .await
                .map_err(fail("naive read"))?;
            let seen = last.get(s).copied().unwrap_or(0);
            for c in page.comments.iter().filter(|c| c.id > seen) {
                let body = serde_json::json!({"ticket": {"comment": {"body": c.body, "public": c.public}}});
                http.put(format!("{target}/api/v2/tickets/{m}.json"))
                    .basic_auth(format!("{NAIVE_TARGET}/token"), Some(&token))
                    .json(&body)
                    .send()
                    .await
                    .map_err(fail("naive write"))?;
                last.insert(*s, c.id);
            }
        }
    }
}

pub(super) async fn naive(scale: &Scale, report: &mut Report) -> Result<(), BenchError> {
    let sim = sim(Limits::unlimited()).await?;
    let mut pairs = Vec::new();
    for i in 0..scale.naive_links {
        let s = sim
            .create_ticket(
                SOURCE,
                "alice@acme.example",
                &plain_ticket(&format!("Naive {i}")),
            )
            .map_err(fail("creating a ticket"))?;
        let m = sim
            .create_ticket(
                TARGET,
                NAIVE_TARGET,
                &plain_ticket(&format!("Naive mirror {i}")),
            )
            .map_err(fail("creating a ticket"))?;
        pairs.push((s.id, m.id));
    }
    let tracker: Shared = Arc::default();
    let stop = CancellationToken::new();
    let watcher = watch(
        sim.clone(),
        TARGET,
        pairs.iter().map(|p| p.1).collect(),
        tracker.clone(),
        stop.clone(),
    );
    reset(&sim);
    // What is already there is not mirrored (read before the first write).
    let last: HashMap<u64, u64> = pairs
        .iter()
        .map(|(s, _)| {
            let top = sim.comments(SOURCE, *s).iter().map(|c| c.id).max();
            (*s, top.unwrap_or(0))
        })
        .collect();
    let mirror = tokio::spawn(naive_mirror(
        sim.clone(),
        pairs.clone(),
        last,
        scale.naive_interval,
        stop.clone(),
    ));
    let tokens = paced_writes(
        &sim,
        &tracker,
        &pairs.iter().map(|p| p.0).collect::<Vec<_>>(),
        scale.naive_comments,
        scale.naive_rate,
        3,
    )
    .await?;
    let (seen, missing) = wait_seen(&tracker, &tokens, scale.wait).await;
    stop.cancel();
    mirror.await.map_err(fail("naive mirror"))??;
    let _ = watcher.await;
    let c = calls(&sim, [NAIVE_SOURCE, NAIVE_TARGET]);
    report.naive_comments = tokens.len() as u64;
    report.naive_interval_s = scale.naive_interval.as_secs_f64();
    report.naive_latency_ms_p50 = percentile_ms(&seen, 50.0);
    report.naive_latency_ms_p99 = percentile_ms(&seen, 99.0);
    report.naive_api_calls_per_comment = per(c.total, tokens.len());
    report.naive_reads_per_comment = per(c.reads, tokens.len());
    report.naive_writes_per_comment = per(c.writes, tokens.len());
    report.lost += missing;
    Ok(())
}
