//! Listeners and the request pipeline, plus the [`Simulator`] handle tests hold.
//!
//! Per API request, in order: route (`.json` suffix optional) → count in stats → draw the
//! fault (before anything has an effect) → authenticate → account rate limit → handler
//! (under the account's one lock, synchronous) → webhooks queued → `X-Rate-Limit` headers.
//! `/sim/*` control endpoints skip faults, auth, limits and stats.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::serve::ListenerExt as _;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::sim::clock::{Clock, seconds};
use crate::sim::config::{FaultKind, FaultSettings, Limits, SimConfig, WebhookSpec};
use crate::sim::error::{ApiError, SimApiError, SimError};
use crate::sim::http::{Caller, Req, Resp, parse_query};
use crate::sim::limits::{self, Admit};
use crate::sim::oauth::{self, OAuthGrant};
use crate::sim::state::{Account, Touched};
use crate::sim::stats::{Stats, StatsSnapshot};
use crate::sim::webhooks::{self, Change, WebhookCounters};
use crate::sim::{catalog, comments, export, faults, redaction, search, tickets, uploads, users};
use crate::zendesk::models::{
    Comment, FieldOption, SharingAgreement, Ticket, TicketField, TicketWrite, User,
};

/// Largest request body accepted (uploads may be up to 50 MB).
const MAX_BODY: usize = 51 * 1024 * 1024;

/// What every account shares.
struct Shared {
    clock: Arc<Clock>,
    token: String,
    webhooks: Arc<RwLock<Vec<WebhookSpec>>>,
    changes: mpsc::UnboundedSender<Change>,
    webhook_counters: Arc<WebhookCounters>,
}

/// One account's listener state.
struct AccountHandle {
    name: Arc<str>,
    base_url: String,
    addr: SocketAddr,
    /// Copy of `knobs.faults.latency_ms`, readable before taking the lock.
    latency_ms: AtomicU64,
    state: Mutex<Account>,
    shared: Arc<Shared>,
}

impl AccountHandle {
    fn lock(&self) -> MutexGuard<'_, Account> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a request held back by the late-apply fault, at the current time.
    fn apply_late(&self, route: Route, mut req: Req, authz: Option<&str>) {
        let now_ms = self.shared.clock.now_ms();
        req.now_ms = now_ms;
        req.now = seconds(now_ms);
        let mut a = self.lock();
        if let Err(e) = call(route, &mut a, &req, authz) {
            tracing::debug!(account = %self.name, status = %e.status, "late write refused");
        }
        let touched = a.take_touched();
        drop(a);
        self.announce(touched);
    }

    /// Queues webhooks for the tickets the last operation touched.
    fn announce(&self, touched: Vec<Touched>) {
        if touched.is_empty() {
            return;
        }
        let urls = webhooks::targets_of(&self.shared.webhooks, &self.name);
        if urls.is_empty() {
            return;
        }
        for t in touched {
            let bodies = if t.events.is_empty() {
                vec![webhooks::body(&self.name, t.ticket_id, t.updater)]
            } else {
                t.events
            };
            self.shared
                .webhook_counters
                .started
                .fetch_add(urls.len() as u64, Ordering::SeqCst);
            let _ = self.shared.changes.send(Change {
                account: self.name.clone(),
                ticket_id: t.ticket_id,
                urls: urls.clone(),
                bodies,
            });
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    TicketsList,
    TicketsCreate,
    TicketsShowMany,
    TicketShow,
    TicketUpdate,
    TicketDelete,
    Comments,
    MakePrivate,
    RedactText,
    RedactWorkspace,
    RedactAttachment,
    TagsGet,
    TagsSet,
    TagsAdd,
    TagsRemove,
    ExportTickets,
    ExportTicketsTime,
    Search,
    SearchCount,
    TicketsCount,
    CommentsCount,
    Audits,
    ExportEvents,
    UsersMe,
    UsersList,
    UsersCreate,
    UsersCreateOrUpdate,
    UsersShowMany,
    UserShow,
    Fields,
    FieldCreate,
    Field,
    FieldUpdate,
    FieldDelete,
    Brands,
    Brand,
    Groups,
    Group,
    CustomRoles,
    Sharing,
    SharingOne,
    UploadCreate,
    UploadDelete,
    Attachment,
    AttachmentShow,
    OAuthTokens,
}

/// A matched route: what to call, the stats key (a route template), path parameters.
struct Resolved {
    route: Route,
    key: &'static str,
    ids: [u64; 2],
    token: Option<String>,
}

/// Maps method + path to a route; `None` for anything Zendesk would not serve.
fn resolve(method: &Method, path: &str) -> Option<Resolved> {
    use Route::*;
    let path = path.strip_suffix('/').unwrap_or(path);
    let path = path.strip_suffix(".json").unwrap_or(path);
    let mut buf = [""; 10];
    let mut n = 0;
    for s in path.split('/').skip(1) {
        if n == buf.len() {
            return None;
        }
        buf[n] = s;
        n += 1;
    }
    let segs = &buf[..n];
    let num = |s: &str| s.parse::<u64>().ok();
    let m = method.as_str();
    let one = |route, key| Some((route, key, [0, 0], None));
    let (route, key, ids, token): (Route, &'static str, [u64; 2], Option<String>) = match (m, segs)
    {
        ("GET", ["api", "v2", "tickets"]) => one(TicketsList, "GET /api/v2/tickets")?,
        ("POST", ["api", "v2", "tickets"]) => one(TicketsCreate, "POST /api/v2/tickets")?,
        ("GET", ["api", "v2", "tickets", "show_many"]) => {
            one(TicketsShowMany, "GET /api/v2/tickets/show_many")?
        }
        ("GET", ["api", "v2", "tickets", "count"]) => {
            one(TicketsCount, "GET /api/v2/tickets/count")?
        }
        (_, ["api", "v2", "tickets", id]) => {
            let id = num(id)?;
            let (r, k) = match m {
                "GET" => (TicketShow, "GET /api/v2/tickets/{id}"),
                "PUT" => (TicketUpdate, "PUT /api/v2/tickets/{id}"),
                "DELETE" => (TicketDelete, "DELETE /api/v2/tickets/{id}"),
                _ => return None,
            };
            (r, k, [id, 0], None)
        }
        ("GET", ["api", "v2", "tickets", id, "comments"]) => (
            Comments,
            "GET /api/v2/tickets/{id}/comments",
            [num(id)?, 0],
            None,
        ),
        ("PUT", ["api", "v2", "tickets", id, "comments", cid, "make_private"]) => (
            MakePrivate,
            "PUT /api/v2/tickets/{id}/comments/{comment_id}/make_private",
            [num(id)?, num(cid)?],
            None,
        ),
        ("PUT", ["api", "v2", "tickets", id, "comments", cid, "redact"]) => (
            RedactText,
            "PUT /api/v2/tickets/{id}/comments/{comment_id}/redact",
            [num(id)?, num(cid)?],
            None,
        ),
        (
            "PUT",
            [
                "api",
                "v2",
                "tickets",
                id,
                "comments",
                cid,
                "attachments",
                aid,
                "redact",
            ],
        ) => (
            RedactAttachment,
            "PUT /api/v2/tickets/{id}/comments/{comment_id}/attachments/{attachment_id}/redact",
            [num(id)?, num(cid)?],
            Some(num(aid)?.to_string()),
        ),
        ("PUT", ["api", "v2", "comment_redactions", cid]) => (
            RedactWorkspace,
            "PUT /api/v2/comment_redactions/{comment_id}",
            [num(cid)?, 0],
            None,
        ),
        (_, ["api", "v2", "tickets", id, "tags"]) => {
            let id = num(id)?;
            let (r, k) = match m {
                "GET" => (TagsGet, "GET /api/v2/tickets/{id}/tags"),
                "POST" => (TagsSet, "POST /api/v2/tickets/{id}/tags"),
                "PUT" => (TagsAdd, "PUT /api/v2/tickets/{id}/tags"),
                "DELETE" => (TagsRemove, "DELETE /api/v2/tickets/{id}/tags"),
                _ => return None,
            };
            (r, k, [id, 0], None)
        }
        ("GET", ["api", "v2", "incremental", "tickets", "cursor"]) => {
            one(ExportTickets, "GET /api/v2/incremental/tickets/cursor")?
        }
        ("GET", ["api", "v2", "search"]) => one(Search, "GET /api/v2/search")?,
        ("GET", ["api", "v2", "search", "count"]) => one(SearchCount, "GET /api/v2/search/count")?,
        ("GET", ["api", "v2", "tickets", id, "comments", "count"]) => (
            CommentsCount,
            "GET /api/v2/tickets/{id}/comments/count",
            [num(id)?, 0],
            None,
        ),
        ("GET", ["api", "v2", "incremental", "tickets"]) => {
            one(ExportTicketsTime, "GET /api/v2/incremental/tickets")?
        }
        ("GET", ["api", "v2", "tickets", id, "audits"]) => (
            Audits,
            "GET /api/v2/tickets/{id}/audits",
            [num(id)?, 0],
            None,
        ),
        ("GET", ["api", "v2", "incremental", "ticket_events"]) => {
            one(ExportEvents, "GET /api/v2/incremental/ticket_events")?
        }
        ("GET", ["api", "v2", "users", "me"]) => one(UsersMe, "GET /api/v2/users/me")?,
        ("GET", ["api", "v2", "users"]) => one(UsersList, "GET /api/v2/users")?,
        ("POST", ["api", "v2", "users"]) => one(UsersCreate, "POST /api/v2/users")?,
        ("POST", ["api", "v2", "users", "create_or_update"]) => {
            one(UsersCreateOrUpdate, "POST /api/v2/users/create_or_update")?
        }
        ("GET", ["api", "v2", "users", "show_many"]) => {
            one(UsersShowMany, "GET /api/v2/users/show_many")?
        }
        ("GET", ["api", "v2", "users", id]) => {
            (UserShow, "GET /api/v2/users/{id}", [num(id)?, 0], None)
        }
        ("GET", ["api", "v2", "ticket_fields"]) => one(Fields, "GET /api/v2/ticket_fields")?,
        ("POST", ["api", "v2", "ticket_fields"]) => one(FieldCreate, "POST /api/v2/ticket_fields")?,
        (_, ["api", "v2", "ticket_fields", id]) => {
            let id = num(id)?;
            let (r, k) = match m {
                "GET" => (Field, "GET /api/v2/ticket_fields/{id}"),
                "PUT" => (FieldUpdate, "PUT /api/v2/ticket_fields/{id}"),
                "DELETE" => (FieldDelete, "DELETE /api/v2/ticket_fields/{id}"),
                _ => return None,
            };
            (r, k, [id, 0], None)
        }
        ("GET", ["api", "v2", "brands"]) => one(Brands, "GET /api/v2/brands")?,
        ("GET", ["api", "v2", "brands", id]) => {
            (Brand, "GET /api/v2/brands/{id}", [num(id)?, 0], None)
        }
        ("GET", ["api", "v2", "groups"]) => one(Groups, "GET /api/v2/groups")?,
        ("GET", ["api", "v2", "groups", id]) => {
            (Group, "GET /api/v2/groups/{id}", [num(id)?, 0], None)
        }
        ("GET", ["api", "v2", "custom_roles"]) => one(CustomRoles, "GET /api/v2/custom_roles")?,
        ("GET", ["api", "v2", "sharing_agreements"]) => {
            one(Sharing, "GET /api/v2/sharing_agreements")?
        }
        ("GET", ["api", "v2", "sharing_agreements", id]) => (
            SharingOne,
            "GET /api/v2/sharing_agreements/{id}",
            [num(id)?, 0],
            None,
        ),
        ("POST", ["api", "v2", "uploads"]) => one(UploadCreate, "POST /api/v2/uploads")?,
        ("DELETE", ["api", "v2", "uploads", t]) => (
            UploadDelete,
            "DELETE /api/v2/uploads/{token}",
            [0, 0],
            Some((*t).to_owned()),
        ),
        ("GET", ["api", "v2", "attachments", id]) => (
            AttachmentShow,
            "GET /api/v2/attachments/{id}",
            [num(id)?, 0],
            None,
        ),
        ("GET", ["attachments", "token", t]) => (
            Attachment,
            "GET /attachments/token/{token}",
            [0, 0],
            Some((*t).to_owned()),
        ),
        ("POST", ["oauth", "tokens"]) => one(OAuthTokens, "POST /oauth/tokens")?,
        _ => return None,
    };
    Some(Resolved {
        route,
        key,
        ids,
        token,
    })
}

/// Calls the handler of `route`.
fn call(route: Route, a: &mut Account, req: &Req, authz: Option<&str>) -> Result<Resp, ApiError> {
    use Route::*;
    match route {
        TicketsList => tickets::list(a, req),
        TicketsCreate => tickets::create(a, req),
        TicketsShowMany => tickets::show_many(a, req),
        TicketShow => tickets::show(a, req),
        TicketUpdate => tickets::update(a, req),
        TicketDelete => tickets::delete(a, req),
        Comments => comments::list(a, req),
        MakePrivate => comments::make_private(a, req),
        RedactText => redaction::redact_text(a, req),
        RedactWorkspace => redaction::redact_workspace(a, req),
        RedactAttachment => redaction::redact_attachment(a, req),
        TagsGet => tickets::tags(a, req),
        TagsSet => tickets::change_tags(a, req, tickets::TagOp::Set),
        TagsAdd => tickets::change_tags(a, req, tickets::TagOp::Add),
        TagsRemove => tickets::change_tags(a, req, tickets::TagOp::Remove),
        ExportTickets => export::tickets_cursor(a, req),
        ExportTicketsTime => export::tickets_time(a, req),
        Search => search::search(a, req),
        SearchCount => search::count(a, req),
        TicketsCount => tickets::count(a, req),
        CommentsCount => comments::count(a, req),
        Audits => tickets::audits(a, req),
        ExportEvents => export::ticket_events(a, req),
        UsersMe => users::me(a, req),
        UsersList => users::list(a, req),
        UsersCreate => users::create_or_update(a, req, false),
        UsersCreateOrUpdate => users::create_or_update(a, req, true),
        UsersShowMany => users::show_many(a, req),
        UserShow => users::show(a, req),
        Fields => catalog::fields(a, req),
        FieldCreate => catalog::create_field(a, req),
        Field => catalog::field(a, req),
        FieldUpdate => catalog::update_field(a, req),
        FieldDelete => catalog::delete_field(a, req),
        Brands => catalog::brands(a, req),
        Brand => catalog::brand(a, req),
        Groups => catalog::groups(a, req),
        Group => catalog::group(a, req),
        CustomRoles => catalog::custom_roles(a, req),
        Sharing => catalog::sharing_agreements(a, req),
        SharingOne => catalog::sharing_agreement(a, req),
        UploadCreate => uploads::create(a, req),
        UploadDelete => uploads::delete(a, req),
        Attachment => uploads::content(a, req),
        AttachmentShow => uploads::show(a, req),
        OAuthTokens => oauth::tokens(a, req, authz),
    }
}

/// A body that fails at once: hyper then closes the connection without sending the
/// response head, which is how a dropped connection looks to the client.
struct Abort;

impl http_body::Body for Abort {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "injected connection drop",
        ))))
    }
}

fn dropped() -> Response {
    Response::new(Body::new(Abort))
}

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// What the rate-limit headers say: limit, remaining, seconds until a slot frees.
#[derive(Debug, Clone, Copy)]
struct RateView {
    limit: u32,
    remaining: u32,
    reset: u64,
}

/// The account's request window as headers show it; unlimited shows as 1000000.
fn rate_view(a: &mut Account, now_ms: i64) -> RateView {
    let limit = a.knobs.limits.requests_per_minute;
    let admit = limits::peek(&mut a.limits.requests, now_ms, limit, limits::MINUTE_MS);
    let reset = a.limits.requests.front().map_or(60, |t| {
        limits::retry_after_secs(t + limits::MINUTE_MS - now_ms)
    });
    let (limit, remaining) = match admit {
        _ if limit == 0 => (1_000_000, 1_000_000),
        Admit::Allowed { remaining } => (limit, remaining),
        Admit::Throttled { .. } => (limit, 0),
    };
    RateView {
        limit,
        remaining,
        reset,
    }
}

/// `X-Rate-Limit`, `X-Rate-Limit-Remaining` and the newer `ratelimit-*` headers.
fn finish(resp: Resp, rate: RateView) -> Response {
    let mut out = plain(resp);
    let h = out.headers_mut();
    h.insert("x-rate-limit", HeaderValue::from(rate.limit));
    h.insert("x-rate-limit-remaining", HeaderValue::from(rate.remaining));
    h.insert("ratelimit-limit", HeaderValue::from(rate.limit));
    h.insert("ratelimit-remaining", HeaderValue::from(rate.remaining));
    h.insert("ratelimit-reset", HeaderValue::from(rate.reset));
    out
}

/// A handler answer as an HTTP response, without rate-limit headers.
fn plain(resp: Resp) -> Response {
    let mut out = Response::new(Body::from(resp.body));
    *out.status_mut() = resp.status;
    let h = out.headers_mut();
    if !resp.content_type.is_empty()
        && let Ok(v) = HeaderValue::from_str(&resp.content_type)
    {
        h.insert(header::CONTENT_TYPE, v);
    }
    for (k, v) in resp.headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    out
}

fn fault_response(kind: FaultKind) -> Resp {
    let (status, body) = match kind {
        FaultKind::TooManyRequests => (
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": "APIRateLimitExceeded", "description": "Number of allowed API requests per minute exceeded"}),
        ),
        FaultKind::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "ServiceUnavailable", "description": "Service temporarily unavailable"}),
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "InternalServerError", "description": "Something went wrong"}),
        ),
    };
    let mut r = Resp::json(status, &body);
    if kind == FaultKind::TooManyRequests {
        r.headers.push(("retry-after", "1".to_owned()));
    }
    r
}

fn invalid_endpoint() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        json!({"error": "InvalidEndpoint", "description": "Not found"}),
    )
}

/// The per-request pipeline for everything but `/sim/*`.
async fn dispatch(State(h): State<Arc<AccountHandle>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    if path == "/sim" || path.starts_with("/sim/") {
        return control(&h, &parts, body).await;
    }
    let latency = h.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let resolved = resolve(&parts.method, path);
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let e = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": "RequestTooLarge", "description": "Request body too large"}),
            );
            return plain(Resp::from_error(&e));
        }
    };
    let headers = &parts.headers;
    let authz = header_str(headers, header::AUTHORIZATION);
    let now_ms = h.shared.clock.now_ms();
    let now = seconds(now_ms);

    let mut guard = h.lock();
    let a = &mut *guard;
    a.stats
        .count(resolved.as_ref().map_or("unmatched", |r| r.key));
    // The fault is decided before the request has any effect.
    let fault = faults::draw(&mut a.rng, &a.knobs.faults);
    if let Some(kind) = fault {
        a.stats.faults += 1;
        match kind {
            FaultKind::Drop => return dropped(),
            FaultKind::DropAfterCommit | FaultKind::LateApply => {}
            other => {
                let rate = rate_view(a, now_ms);
                return finish(fault_response(other), rate);
            }
        }
    }
    // With drop-after-commit, whatever the request did, its answer is lost.
    let lost = fault == Some(FaultKind::DropAfterCommit);
    let answer = |resp: Resp, rate: RateView| if lost { dropped() } else { finish(resp, rate) };
    let Some(r) = resolved else {
        let rate = rate_view(a, now_ms);
        return answer(Resp::from_error(&invalid_endpoint()), rate);
    };
    let public = matches!(r.route, Route::OAuthTokens | Route::Attachment);
    let caller = if public {
        Caller {
            id: 0,
            email: String::new(),
        }
    } else {
        match oauth::authenticate(a, &h.shared.token, authz, now, now_ms) {
            Ok(c) => c,
            Err(e) => {
                let rate = rate_view(a, now_ms);
                return answer(Resp::from_error(&e), rate);
            }
        }
    };
    let mut rate = rate_view(a, now_ms);
    if !public {
        a.stats.count_user(&caller.email);
        let limit = a.knobs.limits.requests_per_minute;
        match limits::admit(&mut a.limits.requests, now_ms, limit, limits::MINUTE_MS) {
            Admit::Allowed { remaining } if limit > 0 => rate.remaining = remaining,
            Admit::Allowed { .. } => {}
            Admit::Throttled { retry_after } => {
                a.stats.throttled += 1;
                let e = ApiError::throttled(
                    retry_after,
                    "Number of allowed API requests per minute exceeded",
                );
                let rate = RateView {
                    remaining: 0,
                    reset: retry_after,
                    ..rate
                };
                return answer(Resp::from_error(&e), rate);
            }
        }
    }
    let req = Req {
        caller,
        ids: r.ids,
        token: r.token,
        query: parts.uri.query().map(parse_query).unwrap_or_default(),
        body: bytes,
        idempotency_key: header_str(headers, "idempotency-key").map(str::to_owned),
        content_type: header_str(headers, header::CONTENT_TYPE).map(str::to_owned),
        now,
        now_ms,
        channel: "api",
    };
    if fault == Some(FaultKind::LateApply) {
        // No answer; a write lands later, under its own time, with its webhooks.
        if parts.method != Method::GET && parts.method != Method::HEAD {
            let delay = a.knobs.late_apply_ms;
            let late = h.clone();
            let authz = authz.map(str::to_owned);
            let route = r.route;
            drop(guard);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                late.apply_late(route, req, authz.as_deref());
            });
        }
        return dropped();
    }
    let resp = match call(r.route, a, &req, authz) {
        Ok(resp) => resp,
        Err(e) => {
            if e.status == StatusCode::TOO_MANY_REQUESTS {
                a.stats.throttled += 1;
            }
            Resp::from_error(&e)
        }
    };
    let touched = a.take_touched();
    drop(guard);
    h.announce(touched);
    let resp = match header_str(headers, header::HOST) {
        Some(host) => rebase(resp, &h.base_url, host),
        None => resp,
    };
    answer(resp, rate)
}

/// Absolute URLs in an answer (`url`, `next_page`, `links.next`, `content_url`, …) name
/// the host the client asked for, as Zendesk's name `{subdomain}.zendesk.com`: a client
/// that reached the simulator as `acme.localhost:PORT` follows links to the same place.
fn rebase(mut resp: Resp, base_url: &str, host: &str) -> Resp {
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    let asked = format!("http://{host}");
    if !valid || asked == base_url || !resp.content_type.contains("json") {
        return resp;
    }
    // JSON escapes no character of an authority, so the URLs appear verbatim.
    if let Ok(text) = std::str::from_utf8(&resp.body)
        && text.contains(base_url)
    {
        resp.body = Bytes::from(text.replace(base_url, &asked));
    }
    resp
}

/// Runtime knobs as `/sim/knobs` shows and takes them (absent = unchanged).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KnobsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_updates_per_minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_updates_per_10min: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exports_per_minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_lag: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_kinds: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_lifetime: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_apply_ms: Option<u64>,
}

fn knobs_view(a: &Account) -> KnobsPatch {
    let k = &a.knobs;
    KnobsPatch {
        requests_per_minute: Some(k.limits.requests_per_minute),
        ticket_updates_per_minute: Some(k.limits.ticket_updates_per_minute),
        ticket_updates_per_10min: Some(k.limits.ticket_updates_per_10min),
        exports_per_minute: Some(k.limits.exports_per_minute),
        export_lag: Some(k.export_lag_secs),
        fault_rate: Some(k.faults.rate),
        fault_kinds: Some(
            k.faults
                .kinds
                .iter()
                .map(|f| f.as_str().to_owned())
                .collect(),
        ),
        latency_ms: Some(k.faults.latency_ms),
        access_token_lifetime: Some(k.access_token_lifetime_secs),
        late_apply_ms: Some(k.late_apply_ms),
    }
}

fn apply_knobs(h: &AccountHandle, p: &KnobsPatch) -> Result<(), String> {
    let kinds = match &p.fault_kinds {
        Some(ks) => Some(
            ks.iter()
                .map(|k| FaultKind::parse(k))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    if let Some(r) = p.fault_rate
        && !(0.0..=1.0).contains(&r)
    {
        return Err(SimError::BadFaultRate(r).to_string());
    }
    let mut a = h.lock();
    let k = &mut a.knobs;
    let set = |slot: &mut u32, v: Option<u32>| {
        if let Some(v) = v {
            *slot = v;
        }
    };
    set(&mut k.limits.requests_per_minute, p.requests_per_minute);
    set(
        &mut k.limits.ticket_updates_per_minute,
        p.ticket_updates_per_minute,
    );
    set(
        &mut k.limits.ticket_updates_per_10min,
        p.ticket_updates_per_10min,
    );
    set(&mut k.limits.exports_per_minute, p.exports_per_minute);
    if let Some(v) = p.export_lag {
        k.export_lag_secs = v;
    }
    if let Some(v) = p.fault_rate {
        k.faults.rate = v;
    }
    if let Some(v) = kinds {
        k.faults.kinds = v;
    }
    if let Some(v) = p.latency_ms {
        k.faults.latency_ms = v;
        h.latency_ms.store(v, Ordering::Relaxed);
    }
    if let Some(v) = p.access_token_lifetime {
        k.access_token_lifetime_secs = v;
    }
    if let Some(v) = p.late_apply_ms {
        k.late_apply_ms = v;
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
struct ClientRequest {
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    user_email: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Advance {
    #[serde(default)]
    seconds: u64,
}

fn control_json<T: Serialize>(status: StatusCode, v: &T) -> Response {
    plain(Resp::json(status, v))
}

fn control_error(status: StatusCode, msg: &str) -> Response {
    control_json(
        status,
        &json!({"error": "InvalidRequest", "description": msg}),
    )
}

/// `/sim/*`: stats, OAuth provisioning, knobs, clock. No faults, auth or limits.
async fn control(h: &AccountHandle, parts: &Parts, body: Body) -> Response {
    let Ok(bytes) = axum::body::to_bytes(body, 1024 * 1024).await else {
        return control_error(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
    };
    let parse = |b: &[u8]| -> Result<serde_json::Value, Box<Response>> {
        if b.iter().all(|c| c.is_ascii_whitespace()) {
            return Ok(json!({}));
        }
        serde_json::from_slice(b)
            .map_err(|_| Box::new(control_error(StatusCode::BAD_REQUEST, "body is not JSON")))
    };
    let path = parts.uri.path().trim_end_matches('/');
    match (parts.method.as_str(), path) {
        ("GET", "/sim/stats") => control_json(StatusCode::OK, &h.lock().stats.snapshot()),
        ("POST", "/sim/stats/reset") => {
            h.lock().stats = Stats::default();
            plain(Resp::no_content())
        }
        ("GET", "/sim/health") => control_json(
            StatusCode::OK,
            &json!({"ok": true, "account": &*h.name, "base_url": h.base_url}),
        ),
        ("POST", "/sim/oauth/clients") => {
            let v = match parse(&bytes) {
                Ok(v) => v,
                Err(r) => return *r,
            };
            let Ok(cr) = serde_json::from_value::<ClientRequest>(v) else {
                return control_error(
                    StatusCode::BAD_REQUEST,
                    "expected {client_id?, client_secret?, user_email?}",
                );
            };
            let email = cr
                .user_email
                .filter(|e| e.contains('@'))
                .unwrap_or_else(|| format!("oauth@{}.example", h.name));
            let now_ms = h.shared.clock.now_ms();
            let grant = oauth::provision(
                &mut h.lock(),
                cr.client_id,
                cr.client_secret,
                &email,
                seconds(now_ms),
                now_ms,
            );
            control_json(StatusCode::CREATED, &grant)
        }
        ("GET", "/sim/knobs") => control_json(StatusCode::OK, &knobs_view(&h.lock())),
        ("PUT" | "POST" | "PATCH", "/sim/knobs") => {
            let v = match parse(&bytes) {
                Ok(v) => v,
                Err(r) => return *r,
            };
            let Ok(p) = serde_json::from_value::<KnobsPatch>(v) else {
                return control_error(StatusCode::BAD_REQUEST, "unknown knob value types");
            };
            match apply_knobs(h, &p) {
                Ok(()) => control_json(StatusCode::OK, &knobs_view(&h.lock())),
                Err(e) => control_error(StatusCode::UNPROCESSABLE_ENTITY, &e),
            }
        }
        ("POST", "/sim/clock/advance") => {
            let v = match parse(&bytes) {
                Ok(v) => v,
                Err(r) => return *r,
            };
            let adv: Advance = serde_json::from_value(v).unwrap_or_default();
            h.shared.clock.advance_ms(adv.seconds.saturating_mul(1000));
            control_json(
                StatusCode::OK,
                &json!({"now": h.shared.clock.now(), "now_unix": h.shared.clock.now_ms() / 1000}),
            )
        }
        _ => plain(Resp::from_error(&invalid_endpoint())),
    }
}

/// A running simulator: one listener per account. Tests hold it to read and seed state
/// and to turn knobs; [`Simulator::shutdown`] stops it (dropping it stops it too).
pub struct Simulator {
    accounts: Vec<Arc<AccountHandle>>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("accounts", &self.account_names())
            .finish_non_exhaustive()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Simulator {
    /// Binds every account (all or nothing) and starts serving.
    pub async fn start(config: SimConfig) -> Result<Simulator, SimError> {
        Self::check(&config)?;
        let mut listeners = Vec::new();
        for spec in &config.accounts {
            let bind_err = |source| SimError::Bind {
                account: spec.name.clone(),
                addr: spec.addr,
                source,
            };
            let l = TcpListener::bind(spec.addr).await.map_err(bind_err)?;
            let addr = l.local_addr().map_err(bind_err)?;
            let ip = if addr.ip().is_unspecified() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                addr.ip()
            };
            let base_url = format!("http://{}", SocketAddr::new(ip, addr.port()));
            listeners.push((Some(l), addr, base_url));
        }
        Self::assemble(config, listeners, None)
    }

    /// The simulator without sockets, for a deterministic simulation: each account's API
    /// is served by [`Simulator::serve`] (its base URL is `http://NAME.sim.invalid`), and
    /// webhooks go to `webhooks` instead of over HTTP. Nothing else differs. Call it
    /// inside a tokio runtime (the webhook sender is a task).
    pub fn start_in_process(
        config: SimConfig,
        webhooks: Arc<dyn webhooks::WebhookSender>,
    ) -> Result<Simulator, SimError> {
        Self::check(&config)?;
        let endpoints = config
            .accounts
            .iter()
            .map(|spec| (None, spec.addr, format!("http://{}.sim.invalid", spec.name)))
            .collect();
        Self::assemble(config, endpoints, Some(webhooks))
    }

    /// Serves one API request to `account` in-process, through the same pipeline as its
    /// listener (faults, auth, limits, handler, webhooks). A dropped connection shows as a
    /// response whose body fails when read. Panics for an unknown account.
    pub async fn serve(&self, account: &str, request: Request) -> Response {
        dispatch(State(self.handle(account).clone()), request).await
    }

    fn check(config: &SimConfig) -> Result<(), SimError> {
        if config.accounts.is_empty() {
            return Err(SimError::NoAccounts);
        }
        for (i, a) in config.accounts.iter().enumerate() {
            if config.accounts[..i].iter().any(|b| b.name == a.name) {
                return Err(SimError::DuplicateAccount(a.name.clone()));
            }
        }
        for w in &config.webhooks {
            if !config.accounts.iter().any(|a| a.name == w.account) {
                return Err(SimError::UnknownWebhookAccount(w.account.clone()));
            }
        }
        if !(0.0..=1.0).contains(&config.faults.rate) {
            return Err(SimError::BadFaultRate(config.faults.rate));
        }
        Ok(())
    }

    /// Builds the accounts on their endpoints (a listener to serve, or none for
    /// in-process use) and starts the webhook sender.
    fn assemble(
        config: SimConfig,
        endpoints: Vec<(Option<TcpListener>, SocketAddr, String)>,
        sender: Option<Arc<dyn webhooks::WebhookSender>>,
    ) -> Result<Simulator, SimError> {
        let clock = Arc::new(Clock::default());
        let cancel = CancellationToken::new();
        let targets = Arc::new(RwLock::new(config.webhooks.clone()));
        let webhook_counters = Arc::new(WebhookCounters::default());
        let (changes, webhook_task) = webhooks::spawn(
            config.webhook_secret.clone(),
            clock.clone(),
            webhook_counters.clone(),
            cancel.clone(),
            sender,
        )?;
        let shared = Arc::new(Shared {
            clock,
            token: config.token.clone(),
            webhooks: targets,
            changes,
            webhook_counters,
        });
        let mut accounts = Vec::new();
        let mut tasks = vec![webhook_task];
        for (i, (spec, (listener, addr, base_url))) in
            config.accounts.iter().zip(endpoints).enumerate()
        {
            let account = Account::new(&spec.name, i, base_url.clone(), &config);
            let handle = Arc::new(AccountHandle {
                name: Arc::from(spec.name.as_str()),
                base_url,
                addr,
                latency_ms: AtomicU64::new(config.faults.latency_ms),
                state: Mutex::new(account),
                shared: shared.clone(),
            });
            accounts.push(handle.clone());
            let Some(listener) = listener else {
                continue;
            };
            let app = Router::new().fallback(dispatch).with_state(handle.clone());
            let stop = cancel.clone();
            tasks.push(tokio::spawn(async move {
                // Small answers go out at once (no Nagle delay behind the previous write).
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await;
                if let Err(e) = served {
                    tracing::warn!(error = %e, "simulator listener stopped");
                }
            }));
        }
        Ok(Simulator {
            accounts,
            shared,
            cancel,
            tasks,
        })
    }

    /// Stops every listener and the webhook sender; waits up to 5 s for open requests.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        for t in std::mem::take(&mut self.tasks) {
            let abort = t.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    fn handle(&self, account: &str) -> &Arc<AccountHandle> {
        match self.accounts.iter().find(|a| &*a.name == account) {
            Some(h) => h,
            None => panic!("simulator has no account named {account:?}"),
        }
    }

    /// Configured account names, in order.
    pub fn account_names(&self) -> Vec<String> {
        self.accounts.iter().map(|a| a.name.to_string()).collect()
    }

    /// `http://127.0.0.1:PORT` of an account. Panics for an unknown account.
    pub fn base_url(&self, account: &str) -> String {
        self.handle(account).base_url.clone()
    }

    /// The bound address of an account. Panics for an unknown account.
    pub fn addr(&self, account: &str) -> SocketAddr {
        self.handle(account).addr
    }

    /// The API token every account accepts.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// The simulator's current time (wall clock plus any [`Simulator::advance_clock`]).
    pub fn now(&self) -> Timestamp {
        self.shared.clock.now()
    }

    /// Moves the simulator's clock forward (export lag, token expiry, limit windows).
    pub fn advance_clock(&self, by: Duration) {
        self.shared
            .clock
            .advance_ms(u64::try_from(by.as_millis()).unwrap_or(u64::MAX / 4));
    }

    /// Live (not deleted) tickets, by id, as the API would render them.
    pub fn tickets(&self, account: &str) -> Vec<Ticket> {
        let a = self.handle(account).lock();
        a.tickets
            .values()
            .filter(|r| !r.deleted)
            .map(|r| a.wire(r).ticket)
            .collect()
    }

    /// One ticket (also a deleted one, with status `deleted`).
    pub fn ticket(&self, account: &str, id: u64) -> Option<Ticket> {
        let a = self.handle(account).lock();
        a.tickets.get(&id).map(|r| a.wire(r).ticket)
    }

    /// A ticket's comments, oldest first (empty for an unknown ticket).
    pub fn comments(&self, account: &str, ticket_id: u64) -> Vec<Comment> {
        let a = self.handle(account).lock();
        a.tickets
            .get(&ticket_id)
            .map(|r| r.comments.clone())
            .unwrap_or_default()
    }

    /// The comments of a ticket from position `skip` on: cheap repeated polling for the
    /// benchmark, which watches mirrors every few milliseconds.
    pub fn comments_from(&self, account: &str, ticket_id: u64, skip: usize) -> Vec<Comment> {
        let a = self.handle(account).lock();
        a.tickets
            .get(&ticket_id)
            .and_then(|r| r.comments.get(skip..))
            .map(<[Comment]>::to_vec)
            .unwrap_or_default()
    }

    /// The account's users.
    pub fn users(&self, account: &str) -> Vec<User> {
        self.handle(account)
            .lock()
            .users
            .values()
            .cloned()
            .collect()
    }

    /// The user id for an email, created as an agent if new.
    pub fn user_id(&self, account: &str, email: &str) -> u64 {
        let now = self.now();
        self.handle(account).lock().ensure_user(email, "agent", now)
    }

    /// Request counters (what `GET /sim/stats` answers).
    pub fn stats(&self, account: &str) -> StatsSnapshot {
        self.handle(account).lock().stats.snapshot()
    }

    /// Zeroes the request counters.
    pub fn reset_stats(&self, account: &str) {
        self.handle(account).lock().stats = Stats::default();
    }

    fn helper_req(&self, a: &mut Account, email: &str) -> Req {
        let now_ms = self.shared.clock.now_ms();
        let now = seconds(now_ms);
        let id = a.ensure_user(email, "agent", now);
        Req {
            caller: Caller {
                id,
                email: email.to_lowercase(),
            },
            ids: [0, 0],
            token: None,
            query: Vec::new(),
            body: Bytes::new(),
            idempotency_key: None,
            content_type: None,
            now,
            now_ms,
            channel: "web",
        }
    }

    /// Creates a ticket as agent `email` would in the web UI (`via.channel` "web"; no
    /// limits, no faults). Webhooks fire as for API writes.
    pub fn create_ticket(
        &self,
        account: &str,
        email: &str,
        write: &TicketWrite,
    ) -> Result<Ticket, SimApiError> {
        let h = self.handle(account);
        let mut a = h.lock();
        let req = self.helper_req(&mut a, email);
        let id = tickets::create_direct(&mut a, &req, write)?;
        let t = a.wire(&a.tickets[&id]).ticket;
        let touched = a.take_touched();
        drop(a);
        h.announce(touched);
        Ok(t)
    }

    /// Updates a ticket as agent `email` would in the web UI (no limits, no faults).
    pub fn update_ticket(
        &self,
        account: &str,
        id: u64,
        email: &str,
        write: &TicketWrite,
    ) -> Result<Ticket, SimApiError> {
        let h = self.handle(account);
        let mut a = h.lock();
        let req = self.helper_req(&mut a, email);
        tickets::update_direct(&mut a, &req, id, write)?;
        let t = a.wire(&a.tickets[&id]).ticket;
        let touched = a.take_touched();
        drop(a);
        h.announce(touched);
        Ok(t)
    }

    /// Adds one comment as agent `email` (a human replying in the UI).
    pub fn add_comment(
        &self,
        account: &str,
        id: u64,
        email: &str,
        body: &str,
        public: bool,
    ) -> Result<Comment, SimApiError> {
        self.update_ticket(account, id, email, &tickets::comment_write(body, public))?;
        self.comments(account, id)
            .pop()
            .ok_or_else(|| ApiError::not_found().into())
    }

    /// Deletes a ticket as agent `email` would (soft: 404 afterwards, `deleted` in the
    /// incremental export); webhooks fire.
    pub fn delete_ticket(&self, account: &str, id: u64, email: &str) -> Result<(), SimApiError> {
        let h = self.handle(account);
        let mut a = h.lock();
        let mut req = self.helper_req(&mut a, email);
        req.ids = [id, 0];
        tickets::delete(&mut a, &req)?;
        let touched = a.take_touched();
        drop(a);
        h.announce(touched);
        Ok(())
    }

    /// Makes a comment private as agent `email` would; webhooks fire.
    pub fn make_private(
        &self,
        account: &str,
        id: u64,
        comment_id: u64,
        email: &str,
    ) -> Result<(), SimApiError> {
        let h = self.handle(account);
        let mut a = h.lock();
        let mut req = self.helper_req(&mut a, email);
        req.ids = [id, comment_id];
        comments::make_private(&mut a, &req)?;
        let touched = a.take_touched();
        drop(a);
        h.announce(touched);
        Ok(())
    }

    /// Redacts a comment as agent `email` would: `Some(text)` blots that string out
    /// (`…/comments/{cid}/redact`), `None` the whole comment and its attachments (agent
    /// workspace). Webhooks fire (`ticket.comment_redacted`).
    pub fn redact_comment(
        &self,
        account: &str,
        id: u64,
        comment_id: u64,
        email: &str,
        text: Option<&str>,
    ) -> Result<(), SimApiError> {
        let h = self.handle(account);
        let mut a = h.lock();
        let mut req = self.helper_req(&mut a, email);
        req.ids = [id, comment_id];
        match text {
            Some(t) => {
                req.body = Bytes::from(serde_json::to_vec(&json!({"text": t})).unwrap_or_default());
                redaction::redact_text(&mut a, &req)?;
            }
            None => redaction::redact_whole(&mut a, &req)?,
        }
        let touched = a.take_touched();
        drop(a);
        h.announce(touched);
        Ok(())
    }

    /// Defines a custom ticket field; `options` are (name, tag value) for drop-downs.
    pub fn add_ticket_field(
        &self,
        account: &str,
        field_type: &str,
        title: &str,
        options: &[(&str, &str)],
    ) -> TicketField {
        let now = self.now();
        let mut a = self.handle(account).lock();
        let opts = options
            .iter()
            .map(|(n, v)| FieldOption {
                id: 0,
                name: (*n).to_owned(),
                value: (*v).to_owned(),
            })
            .collect();
        let id = a.add_field(field_type, title, opts, true, now);
        a.fields[&id].field.clone()
    }

    /// Adds a native sharing agreement (`GET /sharing_agreements` lists it).
    pub fn add_sharing_agreement(
        &self,
        account: &str,
        name: &str,
        agreement_type: &str,
        status: &str,
        remote_subdomain: &str,
    ) -> SharingAgreement {
        let now = self.now();
        let mut a = self.handle(account).lock();
        let s = SharingAgreement {
            id: a.ids.object(),
            name: name.to_owned(),
            agreement_type: agreement_type.to_owned(),
            status: status.to_owned(),
            partner_name: None,
            remote_subdomain: Some(remote_subdomain.to_owned()),
            created_at: now,
            updated_at: now,
        };
        a.agreements.push(s.clone());
        s
    }

    /// Provisions an OAuth client and a token pair for agent `user_email`.
    pub fn oauth_client(&self, account: &str, user_email: &str) -> OAuthGrant {
        let now_ms = self.shared.clock.now_ms();
        let mut a = self.handle(account).lock();
        oauth::provision(&mut a, None, None, user_email, seconds(now_ms), now_ms)
    }

    fn each(&self, account: Option<&str>, f: impl Fn(&AccountHandle)) {
        match account {
            Some(name) => f(self.handle(name)),
            None => self.accounts.iter().for_each(|h| f(h)),
        }
    }

    /// Sets the limits of one account (`Some`) or all; forgets request histories.
    pub fn set_limits(&self, account: Option<&str>, limits: Limits) {
        self.each(account, |h| {
            let mut a = h.lock();
            a.knobs.limits = limits;
            a.limits.clear();
        });
    }

    /// Sets fault injection for one account (`Some`) or all.
    pub fn set_faults(&self, account: Option<&str>, faults: FaultSettings) {
        self.each(account, |h| {
            h.latency_ms.store(faults.latency_ms, Ordering::Relaxed);
            h.lock().knobs.faults = faults.clone();
        });
    }

    /// Sets only the fault rate, on every account.
    pub fn set_fault_rate(&self, rate: f64) {
        let rate = rate.clamp(0.0, 1.0);
        self.each(None, |h| h.lock().knobs.faults.rate = rate);
    }

    /// Sets how long the late-apply fault holds a write back, on every account.
    pub fn set_late_apply_ms(&self, ms: u64) {
        self.each(None, |h| h.lock().knobs.late_apply_ms = ms);
    }

    /// Sets the incremental export lag, on every account.
    pub fn set_export_lag(&self, secs: u64) {
        self.each(None, |h| h.lock().knobs.export_lag_secs = secs);
    }

    /// Sets the lifetime of access tokens issued from now on, on every account.
    pub fn set_access_token_lifetime(&self, secs: u64) {
        self.each(None, |h| h.lock().knobs.access_token_lifetime_secs = secs);
    }

    /// Webhook delivery counters (started, delivered, failed; `pending()`).
    pub fn webhooks(&self) -> &WebhookCounters {
        &self.shared.webhook_counters
    }

    /// Adds a webhook target for an account.
    pub fn add_webhook(&self, account: &str, url: &str) {
        let _ = self.handle(account);
        if let Ok(mut w) = self.shared.webhooks.write() {
            w.push(WebhookSpec {
                account: account.to_owned(),
                url: url.to_owned(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulator_is_shareable_across_tasks() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Simulator>();
    }

    #[test]
    fn routes_resolve_with_and_without_json_suffix() {
        let r = resolve(&Method::GET, "/api/v2/tickets/12.json").unwrap();
        assert_eq!(
            (r.route, r.key, r.ids),
            (Route::TicketShow, "GET /api/v2/tickets/{id}", [12, 0])
        );
        let r = resolve(&Method::GET, "/api/v2/tickets/12").unwrap();
        assert_eq!(r.route, Route::TicketShow);
        let r = resolve(&Method::GET, "/api/v2/tickets.json").unwrap();
        assert_eq!(r.route, Route::TicketsList);
        let r = resolve(&Method::GET, "/api/v2/incremental/tickets/cursor.json").unwrap();
        assert_eq!(r.route, Route::ExportTickets);
        let r = resolve(
            &Method::PUT,
            "/api/v2/tickets/3/comments/9/make_private.json",
        )
        .unwrap();
        assert_eq!(r.ids, [3, 9]);
        assert!(resolve(&Method::GET, "/api/v2/tickets/abc").is_none());
        assert!(resolve(&Method::PATCH, "/api/v2/tickets/1").is_none());
        assert!(resolve(&Method::GET, "/api/v2/nothing").is_none());
        let r = resolve(&Method::GET, "/attachments/token/abc/").unwrap();
        assert_eq!(r.token.as_deref(), Some("abc"));
    }
}
