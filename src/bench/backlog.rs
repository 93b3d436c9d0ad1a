//! Phases 2b and 2c of `sharebridge bench`: comments that cannot coalesce (one on each
//! of many tickets per round, limits lifted), and a backlog drained under an account's
//! request budget (its calls against the budget, and the 429s).
//!
//! Architecture invariant: measures, never asserts; uses the world the parent module
//! builds and adds no harness of its own.

use super::*;

// ---------------------------------------------------------------------------------------
// Phase 2b: uncoalesced throughput.

/// Limits lifted, webhooks on: one comment on each of many tickets per round, so nothing
/// coalesces and every comment costs its own update; rounds apart by more than the
/// coalescing window. Timed from a round's first write to its last comment visible.
pub(super) async fn flood(scale: &Scale, report: &mut Report) -> Result<(), BenchError> {
    let world = webhook_world(
        Limits::unlimited(),
        UNLIMITED_RPM,
        scale.flood_links,
        scale.wait,
    )
    .await?;
    let tracker: Shared = Arc::default();
    let stop_watch = CancellationToken::new();
    let watcher = watch(
        world.sim.clone(),
        TARGET,
        world.mirrors.clone(),
        tracker.clone(),
        stop_watch.clone(),
    );
    reset(&world.sim);
    let mut busy = Duration::ZERO;
    let mut comments = 0;
    for _ in 0..scale.flood_rounds {
        let t0 = Instant::now();
        let mut tokens = Vec::new();
        for s in &world.sources {
            tokens.push(write(&world.sim, &tracker, *s, "alice@acme.example")?);
        }
        let (seen, missing) = wait_seen(&tracker, &tokens, scale.wait).await;
        // The instant the round's last comment became visible.
        let last = {
            let t = lock(&tracker);
            tokens
                .iter()
                .filter_map(|k| Some(*t.sent.get(k)? + *t.seen.get(k)?))
                .max()
        };
        busy += last.map(|l| l - t0).unwrap_or_default();
        comments += seen.len();
        report.lost += missing;
        settle(&world.running, scale.wait).await;
    }
    let c = calls(&world.sim, [BRIDGE_SOURCE, BRIDGE_TARGET]);
    report.flood_comments = comments as u64;
    report.flood_seconds = round(busy.as_secs_f64(), 3);
    report.flood_comments_per_s = if busy.is_zero() {
        0.0
    } else {
        round(comments as f64 / busy.as_secs_f64(), 1)
    };
    report.flood_api_calls_per_comment = per(c.total, comments);
    report.throttled += c.throttled;
    stop_watch.cancel();
    let _ = watcher.await;
    stop(world.running).await
}

// ---------------------------------------------------------------------------------------
// Phase 2c: the budget after a backlog.

/// Tickets shared with limits lifted; the daemon stopped; one comment on each written while
/// it is down (their webhooks are lost). Then Zendesk's limits in the simulator with the
/// account-wide limit at `budget_rpm`, and the daemon started again with that budget on
/// each account: the backlog needs more calls than one minute's budget (each ticket is
/// read, its mirror checked once after the start, and updated). Measured over the first
/// `budget_window` of the drain: each account's calls against its budget, and the 429s.
pub(super) async fn budget(scale: &Scale, report: &mut Report) -> Result<(), BenchError> {
    let world = webhook_world(
        Limits::unlimited(),
        UNLIMITED_RPM,
        scale.budget_tickets,
        scale.wait,
    )
    .await?;
    let WebhookWorld {
        sim,
        dir,
        listen,
        running,
        sources,
        mirrors,
    } = world;
    stop(running).await?;
    for s in &sources {
        sim.add_comment(
            SOURCE,
            *s,
            "alice@acme.example",
            "Written during the outage",
            true,
        )
        .map_err(fail("writing the backlog"))?;
    }
    // Undeliverable webhooks are given up after ~1.2 s: the export finds the backlog.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    sim.set_limits(
        None,
        Limits {
            requests_per_minute: scale.budget_rpm,
            ..Limits::default()
        },
    );
    reset(&sim);
    let state = dir.0.join("state");
    let settings = Settings {
        ordering: &ordering(),
        listen,
        state_dir: &state,
        poll_interval: "30s",
        requests_per_minute: scale.budget_rpm,
    };
    let config = load(&dir.0, &config_text(&sim, &settings))?;
    let listener = bind(listen).await?;
    let t0 = Instant::now();
    let running = start(config, listener).await?;
    tokio::time::sleep_until((t0 + scale.budget_window).into()).await;
    let used =
        |account: &str, user: &str| sim.stats(account).by_user.get(user).copied().unwrap_or(0);
    let source = used(SOURCE, BRIDGE_SOURCE);
    let target = used(TARGET, BRIDGE_TARGET);
    let throttled = sim.stats(SOURCE).throttled + sim.stats(TARGET).throttled;
    // A sliding window that starts empty allows the whole budget at once: within the
    // first minute the budget is `budget_rpm` calls.
    let budget = f64::from(scale.budget_rpm.max(1));
    report.budget_rpm = u64::from(scale.budget_rpm);
    report.budget_tickets = sources.len() as u64;
    report.budget_window_s = scale.budget_window.as_secs_f64();
    report.budget_calls_source = source;
    report.budget_calls_target = target;
    // The binding budget is the busier account's: the other waits on its reads.
    report.budget_used = round(source.max(target) as f64 / budget, 2);
    report.budget_throttled = throttled;
    report.throttled += throttled;
    report.budget_mirrored = mirrors
        .iter()
        .filter(|m| {
            sim.comments(TARGET, **m)
                .iter()
                .any(|c| c.body.contains("Written during the outage"))
        })
        .count() as u64;
    stop(running).await
}
