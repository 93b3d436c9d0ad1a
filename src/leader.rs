//! `sharebridge run` with `daemon.store` set to PostgreSQL: one of several daemons on one
//! store (DESIGN §8). Every daemon serves webhooks, the admin API, metrics and the
//! status page at once; exactly one — the holder of the store's lease — runs the engine
//! and so does every Zendesk write.
//!
//! The role loop: follow (hand each webhook's hint to the store, where the leader takes
//! it) until the lease is ours; then start the engine on a handle fenced by the lease
//! (it settles writes left in doubt, exactly as at a restart), take followers' hints and
//! commands from the store, and run until the lease is lost or SIGTERM; then stop the
//! engine and follow again. On SIGTERM the leader drains, then gives the lease up so a
//! follower takes over at once.
//!
//! Architecture invariant: the only place that turns the store's [`Role`] into running or
//! stopping the engine. It never writes to Zendesk itself.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config};
use crate::daemon::{self, DaemonError};
use crate::engine::Engine;
use crate::engine::hints::Hints;
use crate::metrics::Metrics;
use crate::server::api::ShareRequest;
use crate::server::cluster::Cluster;
use crate::server::{self, Readiness, ServerState};
use crate::store::{Fence, QueuedCommand, Role, Store};

/// The daemon's name in the lease, on the status page and in metrics:
/// `host (listen address)`.
pub fn daemon_name(config: &Config) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host} ({})", config.daemon.listen)
}

/// `sharebridge run` on a PostgreSQL store, until SIGTERM/SIGINT; SIGHUP reloads.
pub async fn run(config_path: &Path, config: Config) -> Result<(), DaemonError> {
    #[cfg(unix)]
    let mut signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::hangup()).map_err(DaemonError::Server)?,
            signal(SignalKind::terminate()).map_err(DaemonError::Server)?,
            signal(SignalKind::interrupt()).map_err(DaemonError::Server)?,
        )
    };
    let listener = daemon::bind(&config).await?;
    let store = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || daemon::open_store(&config))
            .await
            .map_err(|e| DaemonError::Server(std::io::Error::other(e)))??
    };
    // Webhook signing secrets `connect` kept in the store verify deliveries here too.
    let config = daemon::with_stored_webhook_secrets(config, &store);
    daemon::warn_unconnected(&config, &store);
    let name = daemon_name(&config);
    let leadership = store.lead(&name)?;
    let metrics = Arc::new(Metrics::new());
    let hints = Arc::new(Hints::new());
    let readiness = Arc::new(Readiness::blocked("starting"));
    let (config_tx, config_rx) = watch::channel(Arc::new(config));
    let cluster = Arc::new(Cluster::new(name.clone(), store.clone(), leadership.role()));
    let state = Arc::new(ServerState {
        config: config_rx.clone(),
        hints: hints.clone(),
        metrics: metrics.clone(),
        readiness: readiness.clone(),
        engine: None,
        cluster: Some(cluster.clone()),
    });
    let shutdown = CancellationToken::new();
    let server_stop = shutdown.clone();
    let server = crate::tasks::spawn(server::serve(listener, state, async move {
        server_stop.cancelled().await
    }));
    let parts = Parts {
        cluster: cluster.clone(),
        store: store.clone(),
        config: config_rx,
        hints: hints.clone(),
        metrics,
    };
    let roles = crate::tasks::spawn(lead_loop(parts, shutdown.clone()));
    let forwarder = crate::tasks::spawn(forward_hints(
        hints,
        store.clone(),
        cluster.clone(),
        shutdown.clone(),
    ));
    readiness.set_blocker(None);
    notify(&[sd_notify::NotifyState::Ready]);
    tracing::info!(daemon = %name, store = %store.path().display(), "sharebridge ready; competing for the lead");
    let watchdog = watchdog(cluster.clone(), shutdown.clone());

    #[cfg(unix)]
    {
        let (hup, term, int) = &mut signals;
        loop {
            tokio::select! {
                biased;
                _ = hup.recv() => {
                    notify(&[sd_notify::NotifyState::Reloading]);
                    reload_from(config_path, &config_tx, &cluster).await;
                    notify(&[sd_notify::NotifyState::Ready]);
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;

    tracing::info!("stopping: finishing in-flight writes");
    notify(&[sd_notify::NotifyState::Stopping]);
    watchdog.abort();
    shutdown.cancel();
    let _ = roles.await;
    let _ = forwarder.await;
    // The engine has stopped writing: give the lease up, so a follower takes over now.
    leadership.step_down().await;
    let _ = server.await;
    drop(cluster);
    tokio::task::spawn_blocking(move || drop(store))
        .await
        .map_err(|e| DaemonError::Server(std::io::Error::other(e)))?;
    tracing::info!("stopped");
    Ok(())
}

/// What the role loop needs.
struct Parts {
    cluster: Arc<Cluster>,
    store: Store,
    config: watch::Receiver<Arc<Config>>,
    hints: Arc<Hints>,
    metrics: Arc<Metrics>,
}

/// Follows until this daemon leads, leads until it no longer does, and again, until
/// `shutdown`.
async fn lead_loop(parts: Parts, shutdown: CancellationToken) {
    let mut role = parts.cluster.role.clone();
    let mut wake: Option<Arc<Notify>> = None;
    loop {
        let fence = loop {
            if let Role::Leader { fence, .. } = &*role.borrow_and_update()
                && fence.leads()
            {
                break fence.clone();
            }
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                changed = role.changed() => if changed.is_err() { return },
            }
        };
        let wake = match &wake {
            Some(w) => w.clone(),
            None => match parts.store.wakeups() {
                Ok(w) => wake.insert(w).clone(),
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for followers' hints; polling them every second");
                    wake.insert(Arc::new(Notify::new())).clone()
                }
            },
        };
        lead(&parts, fence, wake, &shutdown).await;
        if shutdown.is_cancelled() {
            return;
        }
    }
}

/// One term as leader: the engine on a fenced handle, until the lease is lost or
/// `shutdown`.
async fn lead(parts: &Parts, fence: Arc<Fence>, wake: Arc<Notify>, shutdown: &CancellationToken) {
    let epoch = fence.epoch();
    let fenced = parts.store.fenced(fence.clone());
    let term = shutdown.child_token();
    let lost = crate::tasks::spawn(watch_lease(
        parts.cluster.role.clone(),
        fence.clone(),
        term.clone(),
    ));
    // Commands a dead leader took but never answered are run again (they are idempotent).
    let requeued = {
        let store = fenced.clone();
        tokio::task::spawn_blocking(move || store.requeue_unfinished_commands()).await
    };
    if let Ok(Ok(n)) = requeued
        && n > 0
    {
        tracing::info!(
            commands = n,
            "requeued commands the previous leader left unanswered"
        );
    }
    let engine = match Engine::start(
        parts.config.clone(),
        fenced.clone(),
        parts.hints.clone(),
        parts.metrics.clone(),
    )
    .await
    {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(epoch, error = %e, "cannot start the engine while leading; trying again while the lease holds");
            tokio::select! {
                biased;
                _ = term.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
            term.cancel();
            let _ = lost.await;
            return;
        }
    };
    tracing::info!(epoch, "leading: the engine runs on this daemon");
    parts.cluster.set_engine(Some(engine.clone()));
    let puller = crate::tasks::spawn(take_handovers(
        engine.clone(),
        fenced.clone(),
        parts.cluster.name.clone(),
        parts.hints.clone(),
        wake,
        term.clone(),
    ));
    engine.run(term.clone()).await;
    parts.cluster.set_engine(None);
    term.cancel();
    let _ = puller.await;
    let _ = lost.await;
    if !shutdown.is_cancelled() {
        tracing::warn!(epoch, "no longer leading: the engine stopped; following");
    }
}

/// Cancels `term` as soon as this daemon's lease of `fence`'s epoch is lost.
async fn watch_lease(mut role: watch::Receiver<Role>, fence: Arc<Fence>, term: CancellationToken) {
    loop {
        let still = fence.leads()
            && matches!(&*role.borrow_and_update(), Role::Leader { fence: f, .. } if f.epoch() == fence.epoch());
        if !still {
            term.cancel();
            return;
        }
        tokio::select! {
            biased;
            _ = term.cancelled() => return,
            _ = role.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

/// On the leader: takes the hints and commands followers handed over, at each
/// notification (and every second), until `term`.
async fn take_handovers(
    engine: Engine,
    store: Store,
    name: String,
    hints: Arc<Hints>,
    wake: Arc<Notify>,
    term: CancellationToken,
) {
    loop {
        let taken = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || store.take_hints()).await
        };
        match taken {
            Ok(Ok(taken)) => {
                for (account, ticket) in taken {
                    hints.push(&account, ticket);
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot take followers' hints"),
            Err(_) => {}
        }
        loop {
            let next = {
                let (store, name) = (store.clone(), name.clone());
                tokio::task::spawn_blocking(move || store.take_command(&name)).await
            };
            match next {
                Ok(Ok(Some(cmd))) => {
                    let (engine, store) = (engine.clone(), store.clone());
                    crate::tasks::spawn(async move {
                        let (status, body) = execute(&engine, &cmd).await;
                        let id = cmd.id;
                        let done = tokio::task::spawn_blocking(move || {
                            store.finish_command(id, status, &body)
                        })
                        .await;
                        if let Ok(Err(e)) = done {
                            tracing::warn!(command = id, error = %e, "cannot record a command's answer");
                        }
                    });
                }
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot take followers' commands");
                    break;
                }
                Err(_) => break,
            }
        }
        tokio::select! {
            biased;
            _ = term.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

#[derive(serde::Deserialize)]
struct ResyncCommand {
    link: u64,
    #[serde(default)]
    relink: bool,
}

/// Runs a follower's command on the leader's engine: the HTTP status and JSON body the
/// admin API would have answered.
async fn execute(engine: &Engine, cmd: &QueuedCommand) -> (u16, String) {
    fn answer<T: serde::Serialize>(r: Result<T, crate::engine::EngineError>) -> (u16, String) {
        match r {
            Ok(v) => (
                200,
                serde_json::to_string(&v).unwrap_or_else(|_| "null".into()),
            ),
            Err(e) => (
                e.http_status(),
                serde_json::json!({ "error": e.to_string() }).to_string(),
            ),
        }
    }
    let bad = |e: serde_json::Error| {
        (
            400,
            serde_json::json!({ "error": format!("bad {} request: {e}", cmd.kind) }).to_string(),
        )
    };
    tracing::info!(command = cmd.id, kind = %cmd.kind, "running a command queued by a follower");
    let actor = "admin API (through a follower)";
    match cmd.kind.as_str() {
        "share" => match serde_json::from_str::<ShareRequest>(&cmd.body) {
            Ok(r) => answer(engine.share(&r.account, r.ticket, &r.to, actor).await),
            Err(e) => bad(e),
        },
        "unshare" => match serde_json::from_str::<ShareRequest>(&cmd.body) {
            Ok(r) => answer(engine.unshare(&r.account, r.ticket, &r.to, actor).await),
            Err(e) => bad(e),
        },
        "resync" => match serde_json::from_str::<ResyncCommand>(&cmd.body) {
            Ok(r) => answer(engine.resync(r.link, r.relink).await),
            Err(e) => bad(e),
        },
        other => (
            400,
            serde_json::json!({ "error": format!("unknown command {other:?}") }).to_string(),
        ),
    }
}

/// While this daemon follows, hands every webhook's hint to the store for the leader.
/// What a failed hand-over could not deliver is kept and tried again.
async fn forward_hints(
    hints: Arc<Hints>,
    store: Store,
    cluster: Arc<Cluster>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            _ = hints.wait() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        // While leading, the engine takes the hints itself.
        if cluster.engine().is_some() || hints.is_empty() {
            continue;
        }
        let batch: Vec<(String, u64)> = hints
            .drain()
            .into_iter()
            .map(|h| {
                // What a webhook carried is dropped: the leader reads the ticket.
                hints.take_carried(&h.account, h.ticket);
                (h.account, h.ticket)
            })
            .collect();
        let pushed = {
            let (store, batch) = (store.clone(), batch.clone());
            tokio::task::spawn_blocking(move || store.push_hints(&batch)).await
        };
        if !matches!(pushed, Ok(Ok(()))) {
            if let Ok(Err(e)) = &pushed {
                tracing::warn!(error = %e, hints = batch.len(), "cannot hand hints to the leader; trying again");
            }
            for (account, ticket) in &batch {
                hints.push(account, *ticket);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// SIGHUP: the configuration is read again; the leader's engine applies it (auditing
/// what changed); a follower keeps it for its webhooks and API, and its engine, once it
/// leads, starts from it.
async fn reload_from(path: &Path, tx: &watch::Sender<Arc<Config>>, cluster: &Cluster) {
    match config::load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                tracing::warn!(file = %w.file, key = %w.key, "{}", w.reason);
            }
            match cluster.engine() {
                Some(engine) => match daemon::apply_reload(&engine, tx, loaded.config).await {
                    Ok(()) => tracing::info!(config = %path.display(), "configuration reloaded"),
                    Err(e) => {
                        tracing::error!(error = %e, "reload applied only in part; fix and send SIGHUP again")
                    }
                },
                None => {
                    let config = daemon::with_stored_webhook_secrets(loaded.config, &cluster.store);
                    tx.send_replace(Arc::new(config));
                    tracing::info!(config = %path.display(), "configuration reloaded (following)");
                }
            }
        }
        Err(e) => {
            for p in &e.problems {
                tracing::error!(file = %p.file, key = %p.key, "{}", p.reason);
            }
            tracing::error!(config = %path.display(), "reload refused: the configuration has problems; the previous one stays in force");
        }
    }
}

fn notify(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::debug!(error = %e, "systemd notification not sent");
    }
}

/// Pings systemd's watchdog while the engine loop is alive (leading) or the lease is
/// being looked at (following); STATUS says which.
fn watchdog(cluster: Arc<Cluster>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    crate::tasks::spawn(async move {
        let Some(interval) = sd_notify::watchdog_enabled() else {
            return;
        };
        let every = (interval / 2).max(Duration::from_millis(500));
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let view = cluster.leader_view();
            let healthy = match cluster.engine() {
                Some(engine) => engine.heartbeat_age() < interval,
                None => true,
            };
            let line = if view.leading {
                "leading".to_owned()
            } else {
                format!(
                    "following {}",
                    view.record
                        .and_then(|r| r.holder.filter(|_| r.live))
                        .unwrap_or_else(|| "(no leader right now)".into())
                )
            };
            if healthy {
                notify(&[
                    sd_notify::NotifyState::Watchdog,
                    sd_notify::NotifyState::Status(&line),
                ]);
            } else {
                tracing::error!("engine loop stalled; not pinging the watchdog");
            }
        }
    })
}
