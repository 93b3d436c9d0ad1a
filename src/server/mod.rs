//! The HTTP server on `daemon.listen` (DESIGN §4): webhooks, health, metrics, the admin
//! API (`api`) and the status page at `/` (`status`).
//!
//! Architecture invariant: handlers only verify, enqueue hints and read state; they never
//! write to Zendesk and never wait on it, so every answer is immediate. `serve` takes its
//! listener and a shutdown future, so tests run it on port 0.

pub mod api;
pub mod cluster;
mod health;
pub mod status;
mod status_workers;
pub mod webhook;

use std::future::Future;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::engine::Engine;
use crate::engine::hints::Hints;
use crate::metrics::Metrics;

/// What `/readyz` reports: ready once nothing blocks it.
#[derive(Debug, Default)]
pub struct Readiness {
    blocker: Mutex<Option<String>>,
}

impl Readiness {
    /// Starts not ready, for `why`.
    pub fn blocked(why: &str) -> Readiness {
        Readiness {
            blocker: Mutex::new(Some(why.to_owned())),
        }
    }

    pub fn set_blocker(&self, why: Option<&str>) {
        *self.blocker.lock().unwrap_or_else(|e| e.into_inner()) = why.map(str::to_owned);
    }

    pub fn blocker(&self) -> Option<String> {
        self.blocker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Everything the handlers share.
pub struct ServerState {
    /// The current configuration; replaced on SIGHUP.
    pub config: watch::Receiver<Arc<Config>>,
    /// Where webhooks put their hints for the engine.
    pub hints: Arc<Hints>,
    pub metrics: Arc<Metrics>,
    pub readiness: Arc<Readiness>,
    /// The engine, for the admin API (`None` in tests of the webhook path alone).
    pub engine: Option<Engine>,
    /// Several daemons on one PostgreSQL store: this daemon's place (its engine, while
    /// it leads, is there, not in `engine`).
    pub cluster: Option<Arc<cluster::Cluster>>,
}

impl ServerState {
    /// The engine, if this daemon runs one now.
    pub fn engine(&self) -> Option<Engine> {
        self.engine
            .clone()
            .or_else(|| self.cluster.as_ref().and_then(|c| c.engine()))
    }
}

pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/", get(status::page))
        .route("/login", post(status::login))
        .route("/logout", post(status::logout))
        .route("/webhooks/{account}", post(webhook::receive))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .nest("/api", api::router())
        .layer(DefaultBodyLimit::max(webhook::MAX_BODY))
        .with_state(state)
}

/// Serves until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: Arc<ServerState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
