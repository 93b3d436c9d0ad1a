//! The daemon (`sharebridge run`): wiring, signals, readiness and shutdown, in one place.
//!
//! Order: configuration already valid → state directory and store opened (a damaged store
//! stops here with a pointer to recovery; it never starts empty) → engine started
//! (agreement states derived, writes left in doubt settled) → HTTP server → READY.
//! SIGHUP reloads the configuration (an invalid file keeps the old one and logs every
//! problem); SIGTERM/SIGINT stop taking work, let in-flight writes finish within
//! `daemon.shutdown_grace`, and close the store last.
//!
//! Architecture invariant: the only module that touches signals, systemd notifications and
//! the process environment at run time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config};
use crate::engine::hints::Hints;
use crate::engine::{Engine, EngineError};
use crate::metrics::Metrics;
use crate::server::{self, Readiness, ServerState};
use crate::store::{AuditKind, NewAudit, Store, StoreError};

/// The store file inside `daemon.state_dir`.
pub const STORE_FILE: &str = "sharebridge.redb";

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(
        "cannot create the state directory {path}: {source}; check daemon.state_dir and its permissions"
    )]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot start the engine: {0}")]
    Engine(#[from] EngineError),
    #[error("cannot listen on {addr}: {source}; is another sharebridge running? (daemon.listen)")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Server(std::io::Error),
    #[error(
        "daemon.store is PostgreSQL: this in-process daemon runs on the embedded store only; use `sharebridge run`, which competes for the lead"
    )]
    SharedStore,
}

/// Where the store lives for a configuration.
pub fn store_path(config: &Config) -> PathBuf {
    config.daemon.state_dir.join(STORE_FILE)
}

/// Opens the store — the PostgreSQL database of `daemon.store`, else the file in the
/// state directory (created 0700 if absent, the file readable by its owner alone: it holds
/// OAuth pairs and webhook signing secrets) — and seals those secrets with
/// `daemon.store_key` when it is set.
pub fn open_store(config: &Config) -> Result<Store, DaemonError> {
    use secrecy::ExposeSecret;
    let store = match &config.daemon.store {
        Some(pg) => Store::open_postgres(
            pg.url.expose_secret(),
            pg.password.as_ref().map(|p| p.expose_secret()),
        )?,
        None => open_file_store(config)?,
    };
    if let Some(key) = &config.daemon.store_key {
        store.use_sealing_key(key.expose_secret().trim().as_bytes())?;
    }
    Ok(store)
}

/// The embedded store in `daemon.state_dir`, made owner-only.
fn open_file_store(config: &Config) -> Result<Store, DaemonError> {
    let dir = &config.daemon.state_dir;
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|source| DaemonError::StateDir {
                path: dir.clone(),
                source,
            })?;
    }
    let path = store_path(config);
    let existed = path.exists();
    let store = Store::open(&path)?;
    owner_only(&path, existed);
    Ok(store)
}

/// Whether other users (group or others) may read `path`. `None`: cannot tell.
pub fn readable_by_others(path: &Path) -> Option<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Makes the store file owner-only (0600) if it is not, saying so when an existing file
/// was open to others (a new one is simply created so).
fn owner_only(path: &Path, existed: bool) {
    #[cfg(unix)]
    if readable_by_others(path) == Some(true) {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) if !existed => {}
            Ok(()) => tracing::warn!(
                store = %path.display(),
                "the store was readable by other users; made it owner-only (0600): it holds OAuth tokens and webhook secrets"
            ),
            Err(e) => tracing::error!(
                store = %path.display(),
                error = %e,
                "the store is readable by other users and could not be made owner-only; run chmod 600 on it"
            ),
        }
    }
    #[cfg(not(unix))]
    let _ = (path, existed);
}

/// Says at start which OAuth accounts have no token yet (nothing is sent to them until
/// `sharebridge connect` signs the bridge in).
pub(crate) fn warn_unconnected(config: &Config, store: &Store) {
    use crate::config::{AccountAuth, OAuthGrant};
    for (name, a) in &config.accounts {
        if let AccountAuth::OAuth {
            grant: OAuthGrant::AuthorizationCode,
            refresh_token: None,
            ..
        } = &a.auth
            && matches!(store.oauth_tokens(name), Ok(None))
        {
            tracing::warn!(account = %name, "no OAuth token is stored for this account: run `sharebridge connect {name}` (with the daemon stopped) to sign the bridge in");
        }
    }
}

/// The configuration with each account's webhook signing secret filled in from the
/// store (what `sharebridge connect` read through the Webhooks API) where the
/// configuration sets none. A secret that cannot be opened is logged and left out
/// (that account's webhooks are then refused; polling still finds its changes).
pub fn with_stored_webhook_secrets(mut config: Config, store: &Store) -> Config {
    for (name, account) in config.accounts.iter_mut() {
        if account.webhook_secret.is_some() {
            continue;
        }
        match store.connection(name) {
            Ok(Some(c)) => {
                if let Some(w) = c.webhook {
                    account.webhook_secret = Some(secrecy::SecretString::from(w.signing_secret));
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(account = %name, error = %e, "the webhook signing secret kept by connect cannot be used; webhooks for this account are refused until it can")
            }
        }
    }
    config
}

/// Binds `daemon.listen`.
pub async fn bind(config: &Config) -> Result<TcpListener, DaemonError> {
    let addr = config.daemon.listen;
    TcpListener::bind(addr)
        .await
        .map_err(|source| DaemonError::Listen { addr, source })
}

/// A running daemon's handles, for tests and the demo.
pub struct Running {
    pub engine: Engine,
    pub addr: std::net::SocketAddr,
    pub shutdown: CancellationToken,
    pub config: watch::Sender<Arc<Config>>,
    done: tokio::task::JoinHandle<Result<(), DaemonError>>,
}

impl Running {
    /// Asks the daemon to stop and waits until it has.
    pub async fn stop(self) -> Result<(), DaemonError> {
        self.shutdown.cancel();
        self.done.await.unwrap_or(Ok(()))
    }

    /// Applies a new configuration as SIGHUP would.
    pub async fn reload(&self, config: Config) -> Result<(), EngineError> {
        apply_reload(&self.engine, &self.config, config).await
    }
}

/// Starts the daemon on `listener` and returns once it is ready.
pub async fn start(config: Config, listener: TcpListener) -> Result<Running, DaemonError> {
    if config.daemon.store.is_some() {
        return Err(DaemonError::SharedStore);
    }
    let store = open_store(&config)?;
    let config = with_stored_webhook_secrets(config, &store);
    warn_unconnected(&config, &store);
    let metrics = Arc::new(Metrics::new());
    // The only daemon on its store does every Zendesk write.
    metrics.leading.set(1);
    let hints = Arc::new(Hints::new());
    let readiness = Arc::new(Readiness::blocked("starting"));
    let (config_tx, config_rx) = watch::channel(Arc::new(config));
    let engine = Engine::start(
        config_rx.clone(),
        store.clone(),
        hints.clone(),
        metrics.clone(),
    )
    .await?;
    let addr = listener.local_addr().map_err(DaemonError::Server)?;
    let shutdown = CancellationToken::new();
    let state = Arc::new(ServerState {
        config: config_rx,
        hints,
        metrics,
        readiness: readiness.clone(),
        engine: Some(engine.clone()),
        cluster: None,
    });
    let server_stop = shutdown.clone();
    let server = crate::tasks::spawn(server::serve(listener, state, async move {
        server_stop.cancelled().await
    }));
    let engine_task = {
        let engine = engine.clone();
        let stop = shutdown.clone();
        crate::tasks::spawn(async move { engine.run(stop).await })
    };
    readiness.set_blocker(None);
    let done = crate::tasks::spawn(async move {
        let served = server.await;
        let _ = engine_task.await;
        drop(store);
        match served {
            Ok(Err(e)) => Err(DaemonError::Server(e)),
            _ => Ok(()),
        }
    });
    tracing::info!(%addr, "sharebridge ready");
    Ok(Running {
        engine,
        addr,
        shutdown,
        config: config_tx,
        done,
    })
}

/// `sharebridge run`: the daemon until SIGTERM/SIGINT, reloading on SIGHUP.
pub async fn run(config_path: &Path, config: Config) -> Result<(), DaemonError> {
    if config.daemon.store.is_some() {
        return crate::leader::run(config_path, config).await;
    }
    // Signals are taken over before anything starts: a SIGTERM while starting is answered
    // with a clean stop once started, never the default kill.
    #[cfg(unix)]
    let mut signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::hangup()).map_err(DaemonError::Server)?,
            signal(SignalKind::terminate()).map_err(DaemonError::Server)?,
            signal(SignalKind::interrupt()).map_err(DaemonError::Server)?,
        )
    };
    let listener = bind(&config).await?;
    let running = start(config, listener).await?;
    notify(&[sd_notify::NotifyState::Ready]);
    status(&running.engine);
    let watchdog = watchdog(running.engine.clone(), running.shutdown.clone());

    #[cfg(unix)]
    {
        let (hup, term, int) = &mut signals;
        loop {
            tokio::select! {
                biased;
                _ = hup.recv() => {
                    notify(&[sd_notify::NotifyState::Reloading]);
                    reload_from(config_path, &running).await;
                    notify(&[sd_notify::NotifyState::Ready]);
                    status(&running.engine);
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
    running.stop().await?;
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP: reads the configuration again; an invalid one is refused and every problem
/// logged, the old one stays.
async fn reload_from(path: &Path, running: &Running) {
    match config::load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                tracing::warn!(file = %w.file, key = %w.key, "{}", w.reason);
            }
            match running.reload(loaded.config).await {
                Ok(()) => tracing::info!(config = %path.display(), "configuration reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "reload applied only in part; fix and send SIGHUP again")
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

pub(crate) async fn apply_reload(
    engine: &Engine,
    tx: &watch::Sender<Arc<Config>>,
    config: Config,
) -> Result<(), EngineError> {
    let files = config
        .files
        .iter()
        .map(|f| config.display_path(f))
        .collect::<Vec<_>>()
        .join(", ");
    let config = with_stored_webhook_secrets(config, engine.store());
    tx.send_replace(Arc::new(config));
    engine.store().append_audit(NewAudit {
        at: crate::clock::now(),
        kind: AuditKind::Config,
        subject: "configuration".into(),
        detail: format!("reloaded from {files}"),
    })?;
    engine.reload().await
}

fn notify(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::debug!(error = %e, "systemd notification not sent");
    }
}

fn status(engine: &Engine) {
    let states = engine.agreement_states();
    let accepted = states
        .iter()
        .filter(|d| d.state == crate::agreement::State::Accepted)
        .count();
    let counts = engine.store().link_counts().unwrap_or_default();
    let line = format!(
        "{accepted}/{} agreements accepted, {} links active, {} orphaned, {} in error",
        states.len(),
        counts.active,
        counts.orphaned,
        counts.error
    );
    notify(&[sd_notify::NotifyState::Status(&line)]);
}

/// Pings systemd's watchdog at half its interval while the engine loop is alive.
fn watchdog(engine: Engine, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
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
            if engine.heartbeat_age() < interval {
                notify(&[sd_notify::NotifyState::Watchdog]);
                status(&engine);
            } else {
                tracing::error!("engine loop stalled; not pinging the watchdog");
            }
        }
    })
}
