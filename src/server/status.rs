//! The status page at `GET /` (DESIGN §4): HTML a person reads at a glance — agreements
//! with states and pairing, links with direction, state, last sync, lag and errors,
//! orphans with reason and since, the last 20 audit entries, each account's request
//! budget, and who in the receiver can see each agreement's and each link's mirror (the
//! visibility column, read in the background by `preview::cache`; the page shows what
//! it kept and starts a refresh when that is stale, never waiting for it).
//!
//! Owns: [`render`] and [`render_login`], pure functions over plain values
//! ([`StatusView`]), and thin handlers that gather those values from the engine and store
//! (`page`), and log in and out with the admin token (`login`, `logout`).
//!
//! Authentication: the admin token as `Authorization: Bearer …`, or the HttpOnly,
//! SameSite=Strict cookie `sharebridge_admin` that `POST /login` sets from a form. The
//! token is never accepted in, or written into, a URL.
//!
//! Must not: show ticket subjects or comment bodies (the page shows ids, states, times and
//! the operator sentences of the audit log); load anything external (inline CSS, no
//! script; the Content-Security-Policy forbids the rest); emit any value unescaped; write
//! to Zendesk or wait on it.

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::ServerState;
use super::api::{AgreementView, agreement_views, presented_token, token_matches};
use crate::engine::Engine;
use crate::preview::cache::Snapshot;
use crate::store::{AuditEntry, Link, Orphan};

/// The cookie `POST /login` sets and `presented_token` reads.
pub const COOKIE: &str = "sharebridge_admin";
/// How many audit entries the page shows.
pub const AUDIT_ENTRIES: usize = 20;
/// At most this many links and orphans are listed (errors first); the CLI lists all.
pub const MAX_ROWS: usize = 200;
/// The page reloads itself this often (a meta refresh; no script).
pub(super) const REFRESH_SECS: u32 = 15;

/// One account's request budget as its client's gate reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBudget {
    pub name: String,
    /// Requests left in this minute's budget.
    pub remaining: u32,
    /// `requests_per_minute`.
    pub budget: u32,
    /// Seconds the account is still paused after a 429, if it is.
    pub paused_secs: Option<u64>,
    /// 429 answers seen since start.
    pub throttled_total: u64,
}

/// Everything the page shows, gathered once per request.
#[derive(Debug, Clone)]
pub struct StatusView {
    /// When the view was gathered; lags are measured from it.
    pub now: Timestamp,
    pub version: String,
    /// Tickets waiting or being processed.
    pub backlog: usize,
    pub agreements: Vec<AgreementView>,
    pub links: Vec<Link>,
    pub orphans: Vec<Orphan>,
    /// Newest first.
    pub audit: Vec<AuditEntry>,
    pub accounts: Vec<AccountBudget>,
    /// Each account's workers (auth, webhook, poller).
    pub workers: Vec<crate::engine::workers::AccountView>,
    /// What could not be read (shown on the page instead of failing it).
    pub problems: Vec<String>,
    /// The visibility column as last read in the background (empty before the first).
    pub visibility: Snapshot,
    /// A read of the visibility column is under way.
    pub visibility_reading: bool,
    /// Several daemons on one store: who leads (`None` on an embedded store).
    pub leader: Option<super::cluster::LeaderView>,
}

pub use super::status_html::{render, render_failure, render_login, span};

/// Gathers the view from the engine and its store; a part that cannot be read is listed
/// in `problems` and the rest is still shown.
pub fn gather(engine: &Engine) -> StatusView {
    let mut problems = Vec::new();
    let store = engine.store();
    fn read<T>(
        problems: &mut Vec<String>,
        what: &str,
        r: Result<Vec<T>, crate::store::StoreError>,
    ) -> Vec<T> {
        r.unwrap_or_else(|e| {
            problems.push(format!("{what}: {e}"));
            Vec::new()
        })
    }
    let links = read(&mut problems, "links", store.links());
    let orphans = read(&mut problems, "orphans", store.orphans());
    let audit = read(
        &mut problems,
        "audit log",
        store.audit_latest(AUDIT_ENTRIES),
    );
    let accounts = engine
        .rate_budgets()
        .into_iter()
        .map(|(name, g)| AccountBudget {
            name,
            remaining: g.remaining,
            budget: g.budget,
            paused_secs: g.paused_for.map(|d| d.as_secs().max(1)),
            throttled_total: g.throttled_total,
        })
        .collect();
    StatusView {
        now: crate::clock::now(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        backlog: engine.backlog(),
        agreements: agreement_views(engine),
        links,
        orphans,
        audit,
        accounts,
        workers: engine.account_views(),
        problems,
        visibility: Snapshot::default(),
        visibility_reading: false,
        leader: None,
    }
}

/// Headers every answer of this module carries: HTML, not cached, nothing external.
fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// The admin token; `None` (no token configured) lets nobody in.
fn admin_token(state: &ServerState) -> Option<String> {
    state
        .config
        .borrow()
        .daemon
        .admin_token
        .as_ref()
        .map(|t| t.expose_secret().to_owned())
}

/// Whether `presented` is the configured admin token (never true without one).
fn is_admin(state: &ServerState, presented: &str) -> bool {
    admin_token(state).is_some_and(|expected| token_matches(&expected, presented))
}

/// `GET /`: the page for a caller holding the admin token; otherwise the login form
/// (200 with no token, 401 with a wrong one).
pub async fn page(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    match presented_token(&headers) {
        None => return html(StatusCode::OK, render_login(None)),
        Some(t) if !is_admin(&state, &t) => {
            return html(
                StatusCode::UNAUTHORIZED,
                render_login(Some(
                    "The admin token presented is not this daemon's. Sign in again.",
                )),
            );
        }
        Some(_) => {}
    }
    let engine = state.engine();
    let cluster = state.cluster.clone();
    if engine.is_none() && cluster.is_none() {
        return html(
            StatusCode::SERVICE_UNAVAILABLE,
            render_failure("The engine is not running."),
        );
    }
    // The visibility column reads Zendesk: in the background (on the daemon that runs an
    // engine), never awaited here.
    if let Some(engine) = &engine {
        state
            .visibility
            .refresh_if_stale(engine, crate::clock::now());
    }
    let cache = state.visibility.clone();
    // Store reads are blocking I/O: off the async workers.
    let gathered = tokio::task::spawn_blocking(move || {
        let mut view = match (engine, cluster) {
            (Some(engine), cluster) => StatusView {
                leader: cluster.map(|c| c.leader_view()),
                ..gather(&engine)
            },
            // A follower: what the shared store says.
            (None, Some(cluster)) => super::cluster::follower_gather(&cluster),
            (None, None) => unreachable!("checked above"),
        };
        view.visibility = cache.snapshot();
        view.visibility_reading = cache.refreshing();
        view.problems
            .extend(view.visibility.problems.iter().cloned());
        view
    });
    match gathered.await {
        Ok(view) => html(StatusCode::OK, render(&view)),
        Err(e) => html(
            StatusCode::INTERNAL_SERVER_ERROR,
            render_failure(&format!("The status page failed: {e}")),
        ),
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

/// Whether `s` can be a cookie value as sent (RFC 6265 cookie-octets).
fn cookie_safe(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E))
}

/// `POST /login` (form field `token`): the right token sets the session cookie and
/// redirects to `/`; a wrong one shows the form again, 401.
pub async fn login(State(state): State<Arc<ServerState>>, Form(form): Form<LoginForm>) -> Response {
    let token = form.token.trim();
    if !is_admin(&state, token) {
        return html(
            StatusCode::UNAUTHORIZED,
            render_login(Some("Wrong admin token.")),
        );
    }
    if !cookie_safe(token) {
        return html(
            StatusCode::BAD_REQUEST,
            render_login(Some(
                "This admin token has characters a cookie cannot hold (spaces, quotes, commas, semicolons or backslashes); send it as an Authorization: Bearer header instead, or choose a token without them.",
            )),
        );
    }
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    match HeaderValue::from_str(&cookie) {
        Ok(v) => {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        Err(_) => {
            return html(
                StatusCode::BAD_REQUEST,
                render_login(Some("Cannot set the cookie.")),
            );
        }
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `POST /logout`: forgets the cookie and shows the form.
pub async fn logout() -> Response {
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "sharebridge_admin=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_values() {
        assert!(cookie_safe("demo-admin-token"));
        assert!(!cookie_safe("a b"));
        assert!(!cookie_safe("a;b"));
        assert!(!cookie_safe(""));
    }
}
