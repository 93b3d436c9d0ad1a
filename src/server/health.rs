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
    if let Some(why) = state.readiness.blocker() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        );
    }
    // An account whose credential Zendesk refused is not reachable: say which, and how
    // to fix it.
    let dead = state
        .engine
        .as_ref()
        .map(|e| e.dead_credentials())
        .unwrap_or_default();
    if dead.is_empty() {
        return (StatusCode::OK, "ready\n".to_owned());
    }
    let mut body = String::new();
    for (account, fix) in dead {
        body.push_str(&format!("not ready: account {account}: {fix}\n"));
    }
    (StatusCode::SERVICE_UNAVAILABLE, body)
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
