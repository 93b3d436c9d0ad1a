//! `/healthz` (the process answers), `/readyz` (store open, configuration valid, accounts
//! reachable), `/metrics` (Prometheus text format). No authentication, no secrets.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::ServerState;

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(state): State<Arc<ServerState>>) -> (StatusCode, String) {
    match state.readiness.blocker() {
        None => (StatusCode::OK, "ready\n".to_owned()),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

pub async fn metrics(State(state): State<Arc<ServerState>>) -> impl IntoResponse {
    if let Some(engine) = state.engine() {
        engine.export_account_metrics();
        engine.recount_gauges();
    }
    if let Some(cluster) = &state.cluster {
        cluster.export_metrics(&state.metrics);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
