//! What the server does when several daemons share one PostgreSQL store (DESIGN §8):
//! on the leader, the usual handlers over its engine, plus who leads; on a follower, the
//! admin API and the status page read the shared store, and share/unshare/resync are
//! queued in it for the leader, whose answer is relayed. Webhooks are answered the same
//! everywhere (202); a follower's daemon hands their hints to the leader.
//!
//! Must not: write the facade's tables from a follower (its store handle refuses), or
//! call Zendesk.

use std::fmt::Write as _;
use std::sync::RwLock;
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use tokio::sync::watch;

use super::api::AgreementView;
use super::status::{AUDIT_ENTRIES, StatusView, escape, span};
use crate::agreement::State as AgreementState;
use crate::engine::Engine;
use crate::metrics::{LeaderLabels, Metrics};
use crate::store::{LeaderRecord, Role, Store};

/// How long a follower waits for the leader to answer a queued command.
pub const RELAY_TIMEOUT: Duration = Duration::from_secs(60);

/// This daemon's place among several on one store.
pub struct Cluster {
    /// This daemon's name in the lease: `host (listen address)`.
    pub name: String,
    /// The shared store, read-only (the leader's engine has its own, fenced, handle).
    pub store: Store,
    /// The lease as this daemon last saw it.
    pub role: watch::Receiver<Role>,
    engine: RwLock<Option<Engine>>,
}

/// Who leads, for the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderView {
    /// This daemon's name.
    pub this: String,
    pub leading: bool,
    pub record: Option<LeaderRecord>,
}

impl Cluster {
    pub fn new(name: String, store: Store, role: watch::Receiver<Role>) -> Cluster {
        Cluster {
            name,
            store: store.reader(),
            role,
            engine: RwLock::new(None),
        }
    }

    /// The engine, while this daemon leads.
    pub fn engine(&self) -> Option<Engine> {
        self.engine
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_engine(&self, engine: Option<Engine>) {
        *self.engine.write().unwrap_or_else(|e| e.into_inner()) = engine;
    }

    pub fn leader_view(&self) -> LeaderView {
        let role = self.role.borrow().clone();
        LeaderView {
            this: self.name.clone(),
            leading: role.is_leader(),
            record: role.record().cloned(),
        }
    }

    /// Sets the leader metrics from the lease as last seen.
    pub fn export_metrics(&self, metrics: &Metrics) {
        let view = self.leader_view();
        metrics.leading.set(i64::from(view.leading));
        metrics.leader.clear();
        let Some(r) = view.record else { return };
        if let (Some(holder), true) = (&r.holder, r.live) {
            metrics
                .leader
                .get_or_create(&LeaderLabels {
                    daemon: holder.clone(),
                })
                .set(1);
        }
        let secs = |t: Option<Timestamp>| t.map(|t| t.as_millisecond() as f64 / 1000.0);
        metrics.leader_since.set(secs(r.since).unwrap_or(0.0));
        metrics
            .leader_handovers
            .set(i64::try_from(r.handovers).unwrap_or(i64::MAX));
        metrics
            .leader_last_handover
            .set(secs(r.last_handover).unwrap_or(0.0));
        metrics
            .leader_last_handover_gap
            .set(r.last_gap_ms.map(|ms| ms as f64 / 1000.0).unwrap_or(0.0));
    }
}

/// Agreements as the store records them (a follower has no engine to derive them; the
/// leader writes every transition).
pub fn stored_agreement_views(
    store: &Store,
) -> Result<Vec<AgreementView>, crate::store::StoreError> {
    let stored = store.agreements()?;
    let accepted = |from: &str, to: &str| {
        stored
            .iter()
            .any(|(_, r)| r.from == from && r.to == to && r.state == AgreementState::Accepted)
    };
    Ok(stored
        .iter()
        .map(|(name, r)| {
            let paired = r.state == AgreementState::Accepted && accepted(&r.to, &r.from);
            AgreementView {
                name: name.clone(),
                from: r.from.clone(),
                to: r.to.clone(),
                state: r.state,
                since: r.since,
                paired,
                direction: if paired { "two-way" } else { "one-way" }.to_owned(),
                cause: r.cause.clone(),
            }
        })
        .collect())
}

/// The status page's view on a follower: what the shared store says.
pub fn follower_gather(cluster: &Cluster) -> StatusView {
    let mut problems = Vec::new();
    let store = &cluster.store;
    let mut read = |what: &str, r: Result<(), crate::store::StoreError>| {
        if let Err(e) = r {
            problems.push(format!("{what}: {e}"));
        }
    };
    let (mut links, mut orphans, mut audit, mut agreements) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    read("links", store.links().map(|v| links = v));
    read("orphans", store.orphans().map(|v| orphans = v));
    read(
        "audit log",
        store.audit_latest(AUDIT_ENTRIES).map(|v| audit = v),
    );
    read(
        "agreements",
        stored_agreement_views(store).map(|v| agreements = v),
    );
    StatusView {
        now: crate::clock::now(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        backlog: 0,
        agreements,
        links,
        orphans,
        audit,
        accounts: Vec::new(),
        workers: Vec::new(),
        problems,
        leader: Some(cluster.leader_view()),
    }
}

/// The "Leader" section of the status page.
pub fn render_leader(out: &mut String, view: Option<&LeaderView>, now: Timestamp) {
    let Some(v) = view else { return };
    let time = |t: Timestamp| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    out.push_str("<section><h2>Leader</h2><p class=\"leader\">");
    match &v.record {
        Some(r) if r.live && r.holder.is_some() => {
            let holder = r.holder.as_deref().unwrap_or_default();
            let _ = write!(
                out,
                "<strong>{}</strong>{} leads",
                escape(holder),
                if v.leading { " (this daemon)" } else { "" }
            );
            if let Some(since) = r.since {
                let _ = write!(
                    out,
                    " since {} ({} ago), lease epoch {}",
                    escape(&time(since)),
                    escape(&span(now.duration_since(since).as_secs())),
                    r.epoch
                );
            }
            out.push('.');
        }
        _ => out.push_str(
            "<strong>No daemon leads right now</strong>: a follower takes over within seconds.",
        ),
    }
    if !v.leading {
        let _ = write!(
            out,
            " This daemon ({}) follows: it answers webhooks and this API from the shared store.",
            escape(&v.this)
        );
    }
    if let Some(r) = &v.record {
        match r.last_handover {
            Some(at) => {
                let _ = write!(
                    out,
                    "<br>Last handover {} ({} ago) from {}",
                    escape(&time(at)),
                    escape(&span(now.duration_since(at).as_secs())),
                    escape(r.previous.as_deref().unwrap_or("?")),
                );
                if let Some(gap) = r.last_gap_ms {
                    let _ = write!(out, ", {:.1} s after its last renewal", gap as f64 / 1000.0);
                }
                let _ = write!(out, "; {} handovers in all.", r.handovers);
            }
            None => out.push_str("<br>No handover yet."),
        }
    }
    out.push_str("</p></section>");
}

/// A follower's share/unshare/resync: queued in the store, answered by the leader; its
/// answer is relayed as the leader gave it.
pub async fn relay(cluster: &Cluster, kind: &str, body: serde_json::Value) -> Response {
    let store = cluster.store.clone();
    let kind_owned = kind.to_owned();
    let by = cluster.name.clone();
    let queued = tokio::task::spawn_blocking(move || {
        store.queue_command(&kind_owned, &body.to_string(), &by)
    })
    .await;
    let id = match queued {
        Ok(Ok(id)) => id,
        Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let deadline = tokio::time::Instant::now() + RELAY_TIMEOUT;
    loop {
        let store = cluster.store.clone();
        let answer = tokio::task::spawn_blocking(move || store.command_result(id)).await;
        match answer {
            Ok(Ok(Some((status, body)))) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
                let json: serde_json::Value = serde_json::from_str(&body)
                    .unwrap_or_else(|_| serde_json::json!({ "error": body }));
                return (status, Json(json)).into_response();
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
        if tokio::time::Instant::now() >= deadline {
            let store = cluster.store.clone();
            let withdrawn = tokio::task::spawn_blocking(move || store.cancel_command(id))
                .await
                .map(|r| r.unwrap_or(false))
                .unwrap_or(false);
            return if withdrawn {
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "no daemon leads: {kind} was queued for {} s and not taken, so it was withdrawn; \
                         check the daemons (sharebridge on each host) and run it again",
                        RELAY_TIMEOUT.as_secs()
                    ),
                )
            } else {
                error(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "the leader took {kind} but did not answer within {} s; it may still be running \
                         (see `sharebridge links list` and `sharebridge audit`); running it again is harmless",
                        RELAY_TIMEOUT.as_secs()
                    ),
                )
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
