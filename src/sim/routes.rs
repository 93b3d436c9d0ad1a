//! The simulator's HTTP surface for one account, as axum routes: every Zendesk endpoint
//! it serves is a route template (`/api/v2/tickets/{id}`), which is also its key in
//! `/sim/stats` (`GET /api/v2/tickets/{id}`); `/sim/*` are the control endpoints. A
//! request's path loses a trailing `/` and `.json` before routing, so both spellings
//! reach the same route.
//!
//! Per API request, in order: count in stats → draw the fault (before anything has an
//! effect) → authenticate → account rate limit → handler (under the account's one lock,
//! synchronous) → webhooks queued → `X-Rate-Limit` headers. `/sim/*` skips faults, auth,
//! limits and stats. Anything else is Zendesk's 404 `InvalidEndpoint`, counted as
//! `unmatched`.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawPathParams, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, any};
use serde_json::json;

use crate::sim::clock::seconds;
use crate::sim::config::FaultKind;
use crate::sim::directory::{self, MembershipFilter};
use crate::sim::error::ApiError;
use crate::sim::http::{Caller, Req, Resp, parse_query};
use crate::sim::limits::{self, Admit};
use crate::sim::server::AccountHandle;
use crate::sim::state::{Account, Knobs};
use crate::sim::{
    catalog, comments, control, export, faults, redaction, search, tickets, uploads, users,
};
use crate::sim::{forms, oauth, oauth_flow, webhooks_api};

/// Largest request body accepted (uploads may be up to 50 MB).
const MAX_BODY: usize = 51 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
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
    SearchExport,
    TicketsCount,
    CommentsCount,
    Audits,
    ExportEvents,
    UsersMe,
    UsersList,
    UsersCreate,
    UsersCreateOrUpdate,
    UsersShowMany,
    UsersSearch,
    UserShow,
    Fields,
    FieldCreate,
    Field,
    FieldUpdate,
    FieldDelete,
    Brands,
    Brand,
    BrandCreate,
    BrandUpdate,
    BrandDelete,
    BrandAgents,
    BrandAgent,
    UserBrandAgents,
    Groups,
    Forms,
    Form,
    FormCreate,
    FormDelete,
    Group,
    GroupCreate,
    GroupUpdate,
    GroupDelete,
    GroupMemberships,
    GroupMembers,
    UserGroupMemberships,
    GroupMembershipCreate,
    GroupMembershipShow,
    GroupMembershipDelete,
    CustomRoles,
    CustomRole,
    CustomRoleCreate,
    CustomRoleUpdate,
    CustomRoleDelete,
    Organizations,
    Organization,
    OrganizationCreate,
    OrganizationUpdate,
    OrganizationDelete,
    UserUpdate,
    Sharing,
    SharingOne,
    UploadCreate,
    UploadDelete,
    Attachment,
    AttachmentShow,
    OAuthTokens,
    OAuthAuthorize,
    OAuthDecide,
    OAuthTokenList,
    OAuthTokenShow,
    OAuthTokenRevoke,
    Webhooks,
    WebhookCreate,
    WebhookShow,
    WebhookPut,
    WebhookPatch,
    WebhookDelete,
    WebhookSecret,
    WebhookSecretReset,
}

/// Every API route: method, template, handler. The template is the stats key.
const ROUTES: &[(Method, &str, Route)] = {
    use Route::*;
    &[
        (Method::GET, "/api/v2/tickets", TicketsList),
        (Method::POST, "/api/v2/tickets", TicketsCreate),
        (Method::GET, "/api/v2/tickets/show_many", TicketsShowMany),
        (Method::GET, "/api/v2/tickets/count", TicketsCount),
        (Method::GET, "/api/v2/tickets/{id}", TicketShow),
        (Method::PUT, "/api/v2/tickets/{id}", TicketUpdate),
        (Method::DELETE, "/api/v2/tickets/{id}", TicketDelete),
        (Method::GET, "/api/v2/tickets/{id}/comments", Comments),
        (
            Method::GET,
            "/api/v2/tickets/{id}/comments/count",
            CommentsCount,
        ),
        (
            Method::PUT,
            "/api/v2/tickets/{id}/comments/{comment_id}/make_private",
            MakePrivate,
        ),
        (
            Method::PUT,
            "/api/v2/tickets/{id}/comments/{comment_id}/redact",
            RedactText,
        ),
        (
            Method::PUT,
            "/api/v2/tickets/{id}/comments/{comment_id}/attachments/{attachment_id}/redact",
            RedactAttachment,
        ),
        // node-zendesk 6 sends DELETE here; Zendesk documents PUT. Both redact.
        (
            Method::DELETE,
            "/api/v2/tickets/{id}/comments/{comment_id}/attachments/{attachment_id}/redact",
            RedactAttachment,
        ),
        (
            Method::PUT,
            "/api/v2/comment_redactions/{comment_id}",
            RedactWorkspace,
        ),
        (Method::GET, "/api/v2/tickets/{id}/tags", TagsGet),
        (Method::POST, "/api/v2/tickets/{id}/tags", TagsSet),
        (Method::PUT, "/api/v2/tickets/{id}/tags", TagsAdd),
        (Method::DELETE, "/api/v2/tickets/{id}/tags", TagsRemove),
        (Method::GET, "/api/v2/tickets/{id}/audits", Audits),
        (
            Method::GET,
            "/api/v2/incremental/tickets/cursor",
            ExportTickets,
        ),
        (
            Method::GET,
            "/api/v2/incremental/tickets",
            ExportTicketsTime,
        ),
        (
            Method::GET,
            "/api/v2/incremental/ticket_events",
            ExportEvents,
        ),
        (Method::GET, "/api/v2/search", Search),
        (Method::GET, "/api/v2/search/count", SearchCount),
        (Method::GET, "/api/v2/search/export", SearchExport),
        (Method::GET, "/api/v2/users/me", UsersMe),
        (Method::GET, "/api/v2/users", UsersList),
        (Method::POST, "/api/v2/users", UsersCreate),
        (
            Method::POST,
            "/api/v2/users/create_or_update",
            UsersCreateOrUpdate,
        ),
        (Method::GET, "/api/v2/users/show_many", UsersShowMany),
        (Method::GET, "/api/v2/users/search", UsersSearch),
        (Method::GET, "/api/v2/users/{id}", UserShow),
        (Method::PUT, "/api/v2/users/{id}", UserUpdate),
        (
            Method::GET,
            "/api/v2/users/{id}/brand_agents",
            UserBrandAgents,
        ),
        (
            Method::GET,
            "/api/v2/users/{id}/group_memberships",
            UserGroupMemberships,
        ),
        (Method::GET, "/api/v2/ticket_fields", Fields),
        (Method::POST, "/api/v2/ticket_fields", FieldCreate),
        (Method::GET, "/api/v2/ticket_fields/{id}", Field),
        (Method::PUT, "/api/v2/ticket_fields/{id}", FieldUpdate),
        (Method::DELETE, "/api/v2/ticket_fields/{id}", FieldDelete),
        (Method::GET, "/api/v2/brands", Brands),
        (Method::POST, "/api/v2/brands", BrandCreate),
        (Method::GET, "/api/v2/brands/{id}", Brand),
        (Method::PUT, "/api/v2/brands/{id}", BrandUpdate),
        (Method::DELETE, "/api/v2/brands/{id}", BrandDelete),
        (Method::GET, "/api/v2/brand_agents", BrandAgents),
        (Method::GET, "/api/v2/brand_agents/{id}", BrandAgent),
        (Method::GET, "/api/v2/ticket_forms", Forms),
        (Method::POST, "/api/v2/ticket_forms", FormCreate),
        (Method::GET, "/api/v2/ticket_forms/{id}", Form),
        (Method::DELETE, "/api/v2/ticket_forms/{id}", FormDelete),
        (Method::GET, "/api/v2/groups", Groups),
        (Method::POST, "/api/v2/groups", GroupCreate),
        (Method::GET, "/api/v2/groups/{id}", Group),
        (Method::PUT, "/api/v2/groups/{id}", GroupUpdate),
        (Method::DELETE, "/api/v2/groups/{id}", GroupDelete),
        (Method::GET, "/api/v2/groups/{id}/memberships", GroupMembers),
        (Method::GET, "/api/v2/group_memberships", GroupMemberships),
        (
            Method::POST,
            "/api/v2/group_memberships",
            GroupMembershipCreate,
        ),
        (
            Method::GET,
            "/api/v2/group_memberships/{id}",
            GroupMembershipShow,
        ),
        (
            Method::DELETE,
            "/api/v2/group_memberships/{id}",
            GroupMembershipDelete,
        ),
        (Method::GET, "/api/v2/custom_roles", CustomRoles),
        (Method::POST, "/api/v2/custom_roles", CustomRoleCreate),
        (Method::GET, "/api/v2/custom_roles/{id}", CustomRole),
        (Method::PUT, "/api/v2/custom_roles/{id}", CustomRoleUpdate),
        (
            Method::DELETE,
            "/api/v2/custom_roles/{id}",
            CustomRoleDelete,
        ),
        (Method::GET, "/api/v2/organizations", Organizations),
        (Method::POST, "/api/v2/organizations", OrganizationCreate),
        (Method::GET, "/api/v2/organizations/{id}", Organization),
        (
            Method::PUT,
            "/api/v2/organizations/{id}",
            OrganizationUpdate,
        ),
        (
            Method::DELETE,
            "/api/v2/organizations/{id}",
            OrganizationDelete,
        ),
        (Method::GET, "/api/v2/sharing_agreements", Sharing),
        (Method::GET, "/api/v2/sharing_agreements/{id}", SharingOne),
        (Method::POST, "/api/v2/uploads", UploadCreate),
        (Method::DELETE, "/api/v2/uploads/{token}", UploadDelete),
        (Method::GET, "/api/v2/attachments/{id}", AttachmentShow),
        (Method::GET, "/attachments/token/{token}", Attachment),
        (Method::POST, "/oauth/tokens", OAuthTokens),
        (Method::GET, "/oauth/authorizations/new", OAuthAuthorize),
        (Method::POST, "/oauth/authorizations", OAuthDecide),
        (Method::GET, "/api/v2/oauth/tokens", OAuthTokenList),
        (Method::GET, "/api/v2/oauth/tokens/{token}", OAuthTokenShow),
        (
            Method::DELETE,
            "/api/v2/oauth/tokens/{token}",
            OAuthTokenRevoke,
        ),
        (Method::GET, "/api/v2/webhooks", Webhooks),
        (Method::POST, "/api/v2/webhooks", WebhookCreate),
        (Method::GET, "/api/v2/webhooks/{webhook_id}", WebhookShow),
        (Method::PUT, "/api/v2/webhooks/{webhook_id}", WebhookPut),
        (Method::PATCH, "/api/v2/webhooks/{webhook_id}", WebhookPatch),
        (
            Method::DELETE,
            "/api/v2/webhooks/{webhook_id}",
            WebhookDelete,
        ),
        (
            Method::GET,
            "/api/v2/webhooks/{webhook_id}/signing_secret",
            WebhookSecret,
        ),
        (
            Method::POST,
            "/api/v2/webhooks/{webhook_id}/signing_secret",
            WebhookSecretReset,
        ),
    ]
};

/// A matched route: what to call, the stats key (method + template), path parameters.
pub(crate) struct Resolved {
    route: Route,
    key: Arc<str>,
    ids: [u64; 2],
    token: Option<String>,
}

/// Path parameters → numeric ids (`id`, `comment_id`) and the string one (`token`, or an
/// `attachment_id`); `None` when a numeric one is not a number (Zendesk: 404).
fn path_params(params: &RawPathParams) -> Option<([u64; 2], Option<String>)> {
    let mut ids = [0, 0];
    let mut token = None;
    for (name, value) in params.iter() {
        match name {
            "id" => ids[0] = value.parse().ok()?,
            "comment_id" => ids[1] = value.parse().ok()?,
            "attachment_id" => token = Some(value.parse::<u64>().ok()?.to_string()),
            _ => token = Some(value.to_owned()),
        }
    }
    Some((ids, token))
}

/// The API router of one account (state applied), `.json` and trailing `/` optional.
pub(crate) fn app(h: Arc<AccountHandle>) -> Router {
    let mut api: Router<Arc<AccountHandle>> = Router::new();
    let mut templates: Vec<&str> = ROUTES.iter().map(|(_, t, _)| *t).collect();
    templates.dedup();
    for template in templates {
        let mut methods: MethodRouter<Arc<AccountHandle>> = MethodRouter::new();
        for (method, _, route) in ROUTES.iter().filter(|(_, t, _)| *t == template) {
            let route = *route;
            let key: Arc<str> = Arc::from(format!("{method} {template}"));
            let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
            methods = methods.on(
                filter,
                move |State(h): State<Arc<AccountHandle>>,
                      params: RawPathParams,
                      request: Request| async move {
                    let resolved = path_params(&params).map(|(ids, token)| Resolved {
                        route,
                        key: key.clone(),
                        ids,
                        token,
                    });
                    pipeline(h, resolved, request).await
                },
            );
        }
        api = api.route(template, methods);
    }
    let unmatched =
        |State(h): State<Arc<AccountHandle>>, request: Request| pipeline(h, None, request);
    let api = api
        .route("/sim", any(control::control))
        .route("/sim/{*rest}", any(control::control))
        .method_not_allowed_fallback(unmatched)
        .fallback(unmatched)
        .with_state(h);
    // Routing sees the path without `.json` and trailing `/`.
    Router::new()
        .fallback_service(api)
        .layer(axum::middleware::map_request(
            |mut req: Request| async move {
                if let Some(uri) = normalized(req.uri()) {
                    *req.uri_mut() = uri;
                }
                req
            },
        ))
}

/// `uri` without a trailing `/` and `.json` suffix on its path; `None` when unchanged.
fn normalized(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let trimmed = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let trimmed = trimmed.strip_suffix(".json").unwrap_or(trimmed);
    if trimmed == path {
        return None;
    }
    let pq = match uri.query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = pq.parse().ok();
    Uri::from_parts(parts).ok()
}

/// Calls the handler of `route`.
pub(crate) fn call(
    route: Route,
    a: &mut Account,
    req: &Req,
    authz: Option<&str>,
) -> Result<Resp, ApiError> {
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
        SearchExport => search::export(a, req),
        TicketsCount => tickets::count(a, req),
        CommentsCount => comments::count(a, req),
        Audits => tickets::audits(a, req),
        ExportEvents => export::ticket_events(a, req),
        UsersMe => users::me(a, req),
        UsersList => users::list(a, req),
        UsersCreate => users::create_or_update(a, req, false),
        UsersCreateOrUpdate => users::create_or_update(a, req, true),
        UsersShowMany => users::show_many(a, req),
        UsersSearch => users::search(a, req),
        UserShow => users::show(a, req),
        Fields => catalog::fields(a, req),
        FieldCreate => catalog::create_field(a, req),
        Field => catalog::field(a, req),
        FieldUpdate => catalog::update_field(a, req),
        FieldDelete => catalog::delete_field(a, req),
        Brands => catalog::brands(a, req),
        Brand => catalog::brand(a, req),
        Groups => directory::groups(a, req),
        Forms => forms::list(a, req),
        Form => forms::show(a, req),
        FormCreate => forms::create(a, req),
        FormDelete => forms::delete(a, req),
        Group => catalog::group(a, req),
        CustomRoles => catalog::custom_roles(a, req),
        CustomRole => directory::custom_role(a, req),
        CustomRoleCreate => directory::create_custom_role(a, req),
        CustomRoleUpdate => directory::update_custom_role(a, req),
        CustomRoleDelete => directory::delete_custom_role(a, req),
        BrandCreate => directory::create_brand(a, req),
        BrandUpdate => directory::update_brand(a, req),
        BrandDelete => directory::delete_brand(a, req),
        BrandAgents | UserBrandAgents => directory::brand_agents(a, req),
        BrandAgent => directory::brand_agent(a, req),
        GroupCreate => directory::create_group(a, req),
        GroupUpdate => directory::update_group(a, req),
        GroupDelete => directory::delete_group(a, req),
        GroupMemberships => directory::group_memberships(a, req, MembershipFilter::All),
        GroupMembers => directory::group_memberships(a, req, MembershipFilter::Group),
        UserGroupMemberships => directory::group_memberships(a, req, MembershipFilter::User),
        GroupMembershipCreate => directory::create_group_membership(a, req),
        GroupMembershipShow => directory::group_membership(a, req),
        GroupMembershipDelete => directory::delete_group_membership(a, req),
        Organizations => directory::organizations(a, req),
        Organization => directory::organization(a, req),
        OrganizationCreate => directory::create_organization(a, req),
        OrganizationUpdate => directory::update_organization(a, req),
        OrganizationDelete => directory::delete_organization(a, req),
        UserUpdate => users::update(a, req),
        Sharing => catalog::sharing_agreements(a, req),
        SharingOne => catalog::sharing_agreement(a, req),
        UploadCreate => uploads::create(a, req),
        UploadDelete => uploads::delete(a, req),
        Attachment => uploads::content(a, req),
        AttachmentShow => uploads::show(a, req),
        OAuthTokens => oauth::tokens(a, req, authz),
        OAuthAuthorize => oauth_flow::authorize(a, req),
        OAuthDecide => oauth_flow::decide(a, req),
        OAuthTokenList => oauth::list_tokens(a, req),
        OAuthTokenShow => oauth::show_token(a, req, authz),
        OAuthTokenRevoke => oauth::revoke_token(a, req, authz),
        Webhooks => webhooks_api::list(a, req),
        WebhookCreate => webhooks_api::create(a, req),
        WebhookShow => webhooks_api::show(a, req),
        WebhookPut | WebhookPatch => webhooks_api::update(a, req),
        WebhookDelete => webhooks_api::delete(a, req),
        WebhookSecret => webhooks_api::signing_secret(a, req),
        WebhookSecretReset => webhooks_api::reset_signing_secret(a, req),
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

pub(crate) fn dropped() -> Response {
    Response::new(Body::new(Abort))
}

pub(crate) fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
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
pub(crate) fn plain(resp: Resp) -> Response {
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

pub(crate) fn invalid_endpoint() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        json!({"error": "InvalidEndpoint", "description": "Not found"}),
    )
}

/// A held route's knob and count: ticket creates and updates.
fn hold_knob(k: &mut Knobs, route: Option<Route>) -> Option<(&mut bool, &mut u64)> {
    match route {
        Some(Route::TicketsCreate) => {
            Some((&mut k.hold_ticket_creates, &mut k.held_ticket_creates))
        }
        Some(Route::TicketUpdate) => Some((&mut k.hold_ticket_updates, &mut k.held_ticket_updates)),
        _ => None,
    }
}

/// Holds a ticket create or update on the wire while its knob is set (counted first).
async fn hold(h: &AccountHandle, route: Option<Route>) {
    match hold_knob(&mut h.lock().knobs, route) {
        Some((hold, count)) if *hold => *count += 1,
        _ => return,
    }
    while hold_knob(&mut h.lock().knobs, route).is_some_and(|(hold, _)| *hold) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The per-request pipeline for every API route (and the fallback, `resolved = None`).
async fn pipeline(h: Arc<AccountHandle>, resolved: Option<Resolved>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    hold(&h, resolved.as_ref().map(|r| r.route)).await;
    let latency = h.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
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
    // A stalled ticket update: counted, then held without effect until the knob is
    // cleared, then its connection drops.
    if let Some(r) = resolved.as_ref().filter(|r| r.route == Route::TicketUpdate)
        && h.lock().knobs.stall_ticket_updates
    {
        h.lock().stats.count(&r.key);
        while h.lock().knobs.stall_ticket_updates {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        return dropped();
    }
    let headers = &parts.headers;
    let authz = header_str(headers, header::AUTHORIZATION);
    let now_ms = h.shared.clock.now_ms();
    let now = seconds(now_ms);

    let mut guard = h.lock();
    let a = &mut *guard;
    a.stats
        .count(resolved.as_ref().map_or("unmatched", |r| &*r.key));
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
    let lost = fault == Some(FaultKind::DropAfterCommit)
        || (a.knobs.lose_ticket_update_answers
            && resolved
                .as_ref()
                .is_some_and(|r| r.route == Route::TicketUpdate));
    let answer = |resp: Resp, rate: RateView| if lost { dropped() } else { finish(resp, rate) };
    let Some(r) = resolved else {
        let rate = rate_view(a, now_ms);
        return answer(Resp::from_error(&invalid_endpoint()), rate);
    };
    let public = matches!(
        r.route,
        Route::OAuthTokens | Route::OAuthAuthorize | Route::OAuthDecide | Route::Attachment
    );
    // An attachment's content is public or needs the account's credentials (a private
    // attachment): credentials, when sent, are checked.
    let optional = r.route == Route::Attachment && authz.is_some();
    let caller = if public && !optional {
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
            let delay = faults::late_apply_delay(
                a.knobs.late_apply_ms,
                parts.extensions.get::<faults::Travelled>().copied(),
            );
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
    h.settle(guard);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_json_and_trailing_slash_before_routing() {
        let n = |s: &str| normalized(&s.parse::<Uri>().unwrap()).map(|u| u.to_string());
        assert_eq!(
            n("/api/v2/tickets/12.json").as_deref(),
            Some("/api/v2/tickets/12")
        );
        assert_eq!(
            n("/api/v2/tickets.json?page=2").as_deref(),
            Some("/api/v2/tickets?page=2")
        );
        assert_eq!(
            n("/attachments/token/abc/?name=x").as_deref(),
            Some("/attachments/token/abc?name=x")
        );
        assert_eq!(n("/api/v2/tickets/12"), None);
        assert_eq!(n("/"), None);
    }

    #[test]
    fn every_template_is_unique_per_method_and_has_known_parameters() {
        let mut seen = std::collections::HashSet::new();
        for (method, template, _) in ROUTES {
            assert!(
                seen.insert((method.clone(), *template)),
                "{method} {template} twice"
            );
            for seg in template.split('/').filter(|s| s.starts_with('{')) {
                assert!(
                    [
                        "{id}",
                        "{comment_id}",
                        "{attachment_id}",
                        "{token}",
                        "{webhook_id}"
                    ]
                    .contains(&seg),
                    "{template}"
                );
            }
        }
        // Templates with several methods are listed together (one axum route each).
        let templates: Vec<&str> = ROUTES.iter().map(|(_, t, _)| *t).collect();
        let mut deduped = templates.clone();
        deduped.dedup();
        let mut unique = templates.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(deduped.len(), unique.len());
    }
}
