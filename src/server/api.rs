//! The admin API under `/api` (DESIGN §4): what the CLI uses, JSON, behind
//! `Authorization: Bearer <admin token>` (compared in constant time).
//!
//! JSON names are fixed by DESIGN §2: agreements `name, from, to, state, since, paired`;
//! links `id, source_account, source_ticket, target_account, target_ticket, direction,
//! state, last_synced_at`; orphans `link, source_account, source_ticket, target_account,
//! target_ticket, reason, since`; audit `at, kind, subject, detail`. More fields are added.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::Timestamp;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::ServerState;
use crate::engine::{Engine, EngineError};
use crate::store::{AuditEntry, Link, Orphan};

pub fn router() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/agreements", get(agreements))
        .route("/accounts", get(accounts))
        .route("/links", get(links))
        .route("/links/{id}", get(link))
        .route("/orphans", get(orphans))
        .route("/audit", get(audit))
        .route("/share", post(share))
        .route("/unshare", post(unshare))
        .route("/resync/{id}", post(resync))
        .route("/backup", post(backup))
        .route("/doctor", get(doctor))
        .route("/fields/{account}", get(fields))
}

#[derive(Debug, Deserialize)]
pub struct DoctorQuery {
    pub account: Option<String>,
}

/// `GET /api/doctor[?account=NAME]`: `sharebridge doctor` run by the daemon with its own
/// clients (the CLI cannot open the store while the daemon holds it).
async fn doctor(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    Query(q): Query<DoctorQuery>,
) -> Result<Json<Vec<crate::setup::checks::Check>>, ApiError> {
    let engine = engine_only(authorized(&state, &headers)?, "doctor")?;
    let config = state.config.borrow().clone();
    let mut checks = Vec::new();
    for (name, ac) in &config.accounts {
        if q.account.as_ref().is_some_and(|a| a != name) {
            continue;
        }
        let account = engine.account(name)?;
        checks.extend(
            crate::setup::doctor::check_account(
                &config,
                ac,
                &account,
                engine.store(),
                crate::setup::doctor::StorePlace::Daemon,
            )
            .await,
        );
    }
    if let Some(a) = &q.account
        && !config.accounts.contains_key(a)
    {
        return Err(EngineError::UnknownAccount(a.clone()).into());
    }
    Ok(Json(checks))
}

/// `GET /api/fields/{account}`: the account's ticket fields, read by the daemon.
async fn fields(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    Path(account): Path<String>,
) -> Result<Json<Vec<crate::setup::fields::FieldView>>, ApiError> {
    let engine = engine_only(authorized(&state, &headers)?, "fields")?;
    let account = engine.account(&account)?;
    crate::setup::fields::list(&account.client)
        .await
        .map(Json)
        .map_err(|e| EngineError::from(e).into())
}

/// An error answer: `{"error": "..."}` with the status that fits.
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        ApiError {
            status: StatusCode::from_u16(e.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message: e.to_string(),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        }
    }
}

fn unauthorized() -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        message: "missing or wrong admin token (Authorization: Bearer <daemon.admin_token>)".into(),
    }
}

/// Whether `presented` is the admin token; constant time in the token's content.
pub fn token_matches(expected: &str, presented: &str) -> bool {
    use hmac::Mac;
    // Compare MACs of both under a fixed key: equal-length digests, compared by
    // `verify_slice` in constant time, whatever the lengths of the inputs.
    let mac = |s: &str| {
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"sharebridge-admin-token")
            .expect("any key length");
        m.update(s.as_bytes());
        m
    };
    mac(expected)
        .verify_slice(&mac(presented).finalize().into_bytes())
        .is_ok()
}

/// The admin token presented as a bearer header or the status page's cookie.
pub fn presented_token(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok())
        && let Some(t) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    {
        return Some(t.trim().to_owned());
    }
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("sharebridge_admin="))
        .map(str::to_owned)
        .next()
}

/// What answers a caller that proved it holds the admin token: this daemon's engine, or,
/// on a follower of several daemons on one store, the shared store and the leader.
enum Access {
    Engine(Engine),
    Follower(Arc<super::cluster::Cluster>),
}

impl Access {
    fn store(&self) -> &crate::store::Store {
        match self {
            Access::Engine(e) => e.store(),
            Access::Follower(c) => &c.store,
        }
    }
}

/// The engine, for what only the leading daemon can answer (it holds the Zendesk clients).
fn engine_only(access: Access, what: &str) -> Result<Engine, ApiError> {
    match access {
        Access::Engine(e) => Ok(e),
        Access::Follower(_) => Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!(
                "this daemon follows the leader on the shared store and holds no Zendesk client: ask the leading daemon for {what} (its /api/status says leading)"
            ),
        }),
    }
}

/// The engine or the shared store, once the caller proved it holds the admin token.
fn authorized(state: &ServerState, headers: &HeaderMap) -> Result<Access, ApiError> {
    let config = state.config.borrow().clone();
    let ok = presented_token(headers)
        .zip(config.daemon.admin_token.as_ref())
        .is_some_and(|(t, expected)| token_matches(expected.expose_secret(), &t));
    if !ok {
        return Err(unauthorized());
    }
    match (state.engine(), &state.cluster) {
        (Some(engine), _) => Ok(Access::Engine(engine)),
        (None, Some(cluster)) => Ok(Access::Follower(cluster.clone())),
        (None, None) => Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "the engine is not running".into(),
        }),
    }
}

#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct AgreementView {
    pub name: String,
    pub from: String,
    pub to: String,
    pub state: crate::agreement::State,
    pub since: Timestamp,
    pub paired: bool,
    /// "two-way" when paired, else "one-way".
    pub direction: String,
    #[serde(default)]
    pub cause: String,
}

pub fn agreement_views(engine: &Engine) -> Vec<AgreementView> {
    let stored = engine.store().agreements().unwrap_or_default();
    engine
        .agreement_states()
        .into_iter()
        .map(|d| AgreementView {
            cause: stored
                .iter()
                .find(|(n, _)| *n == d.name)
                .map(|(_, r)| r.cause.clone())
                .unwrap_or_default(),
            direction: if d.paired { "two-way" } else { "one-way" }.to_owned(),
            name: d.name,
            from: d.from,
            to: d.to,
            state: d.state,
            since: d.since,
            paired: d.paired,
        })
        .collect()
}

/// Each account's workers (auth with token expiry, webhook, poller with the export
/// position): state, since, last success, last error, and the fix when one is needed.
async fn accounts(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
) -> Result<Json<Vec<crate::engine::workers::AccountView>>, ApiError> {
    Ok(Json(match authorized(&state, &headers)? {
        Access::Engine(engine) => engine.account_views(),
        // A follower runs no workers: the leader's are on the leader's own API.
        Access::Follower(_) => Vec::new(),
    }))
}

async fn agreements(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
) -> Result<Json<Vec<AgreementView>>, ApiError> {
    Ok(Json(match authorized(&state, &headers)? {
        Access::Engine(engine) => agreement_views(&engine),
        Access::Follower(c) => super::cluster::stored_agreement_views(&c.store)?,
    }))
}

async fn links(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
) -> Result<Json<Vec<Link>>, ApiError> {
    let access = authorized(&state, &headers)?;
    Ok(Json(access.store().links()?))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LinkDetail {
    #[serde(flatten)]
    pub link: Link,
    /// Seconds since the last sync, when there was one.
    pub lag_seconds: Option<i64>,
    /// Writes recorded but not yet confirmed (settled at the next sync or start).
    pub pending_writes: usize,
    pub orphan: Option<Orphan>,
}

async fn link(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<Json<LinkDetail>, ApiError> {
    let access = authorized(&state, &headers)?;
    let store = access.store();
    let link = store.link(id)?.ok_or(EngineError::UnknownLink(id))?;
    let pending = store
        .pending_writes()?
        .into_iter()
        .filter(|p| p.link == id)
        .count();
    let orphan = store.orphan(id)?;
    let lag_seconds = link
        .last_synced_at
        .map(|t| crate::clock::now().duration_since(t).as_secs());
    Ok(Json(LinkDetail {
        link,
        lag_seconds,
        pending_writes: pending,
        orphan,
    }))
}

async fn orphans(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
) -> Result<Json<Vec<Orphan>>, ApiError> {
    let access = authorized(&state, &headers)?;
    Ok(Json(access.store().orphans()?))
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<usize>,
}

async fn audit(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let access = authorized(&state, &headers)?;
    Ok(Json(match q.limit {
        Some(n) => access.store().audit_latest(n)?,
        None => access.store().audit_all()?,
    }))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ShareRequest {
    pub account: String,
    pub ticket: u64,
    pub to: String,
}

async fn share(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    Json(req): Json<ShareRequest>,
) -> Result<Response, ApiError> {
    let engine = match authorized(&state, &headers)? {
        Access::Engine(e) => e,
        Access::Follower(c) => return Ok(super::cluster::relay(&c, "share", json(&req)).await),
    };
    Ok(Json(
        engine
            .share(&req.account, req.ticket, &req.to, "admin API")
            .await?,
    )
    .into_response())
}

fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

async fn unshare(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    Json(req): Json<ShareRequest>,
) -> Result<Response, ApiError> {
    let engine = match authorized(&state, &headers)? {
        Access::Engine(e) => e,
        Access::Follower(c) => {
            return Ok(super::cluster::relay(&c, "unshare", json(&req)).await);
        }
    };
    Ok(Json(
        engine
            .unshare(&req.account, req.ticket, &req.to, "admin API")
            .await?,
    )
    .into_response())
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ResyncRequest {
    #[serde(default)]
    pub relink: bool,
}

async fn resync(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    body: Option<Json<ResyncRequest>>,
) -> Result<Response, ApiError> {
    let relink = body.map(|b| b.relink).unwrap_or(false);
    let engine = match authorized(&state, &headers)? {
        Access::Engine(e) => e,
        Access::Follower(c) => {
            let req = serde_json::json!({ "link": id, "relink": relink });
            return Ok(super::cluster::relay(&c, "resync", req).await);
        }
    };
    Ok(Json(engine.resync(id, relink).await?).into_response())
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BackupRequest {
    pub path: String,
}

async fn backup(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    Json(req): Json<BackupRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let access = authorized(&state, &headers)?;
    let store = access.store().clone();
    let path = req.path.clone();
    tokio::task::spawn_blocking(move || store.backup(&path))
        .await
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        })??;
    Ok(Json(serde_json::json!({ "path": req.path })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly() {
        assert!(token_matches("s3cret", "s3cret"));
        assert!(!token_matches("s3cret", "s3cre"));
        assert!(!token_matches("s3cret", "s3cret "));
        assert!(!token_matches("s3cret", ""));
    }

    #[test]
    fn bearer_or_cookie() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(presented_token(&h).as_deref(), Some("abc"));
        let mut h = HeaderMap::new();
        h.insert("cookie", "x=1; sharebridge_admin=tok".parse().unwrap());
        assert_eq!(presented_token(&h).as_deref(), Some("tok"));
        assert_eq!(presented_token(&HeaderMap::new()), None);
    }
}
