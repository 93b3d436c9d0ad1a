//! The Zendesk API client of one account: `ZendeskClient`.
//!
//! Layout: this file owns the settings, the HTTP client (reqwest over rustls, explicit
//! timeouts) and the one request path every call takes: gate → credentials → send →
//! classify → retry. The typed methods live beside it by resource: `tickets`, `users`,
//! `account` (fields, brands, groups, roles, sharing agreements), `directory` (staff,
//! brand and group memberships, organizations, search export and count), `incremental`,
//! `uploads`, `pagination`; `gate`, `retry`, `auth` and `error` are the parts they share.
//! [`ZendeskClient::read_only`] gives a handle that refuses writes and counts its own
//! requests (what `plan` and `visibility` use).
//!
//! Invariants: every request passes the account's [`gate::Gate`] (budget, per-endpoint
//! limits, 429 pause); a request that may have reached Zendesk is repeated only when it is
//! idempotent ([`retry::Replay`]); tracing carries `account`, `ticket`, method, path and
//! status, never a body, a token or a comment.
//!
//! Must not: know the store, the sync rules or the engine; decide what to mirror.
//!
//! Using it:
//! - Build one client per account with [`ClientSettings::new`] (defaults: 400 requests per
//!   minute, Zendesk's endpoint limits, 10 s connect, 30 s request timeout, 2 minutes of
//!   retries) and a [`TokenStore`]; OAuth pairs found in the store win over the configured
//!   refresh token.
//! - Calls wait at the gate rather than fail; `remaining()` and `gate_status()` feed
//!   metrics.
//! - Branch on [`ZendeskError`]: `Closed` and `CommentLimit` end a link; `Conflict` means
//!   re-read and retry; `InDoubt` means a write (a create without a key, an update with a
//!   comment) may have been applied: read the ticket (comments, or `external_id`) before
//!   sending it again; `RateLimited`/`Transient` mean try later.
//! - Incremental export: store [`ExportPage::next`] and pass it back after a restart.

pub mod account;
pub mod auth;
pub mod directory;
pub mod error;
pub mod gate;
pub mod incremental;
pub mod pagination;
pub mod requests;
pub mod retry;
pub mod tickets;
pub mod transport;
pub mod uploads;
pub mod users;
pub mod webhooks;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::Retryable as _;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::Instrument as _;

pub use auth::{
    Auth, AuthState, MemoryTokenStore, TokenPair, TokenStore, TokenStoreError, refresh_token_due,
};
pub use error::{RequestContext, ZendeskError};
pub use gate::{EndpointClass, EndpointLimits, GateStatus};
pub use incremental::{ExportPage, ExportStart};
pub use pagination::Page;
pub use requests::{TicketFieldWrite, UserWrite};
pub use retry::{Replay, RetrySettings};
pub use tickets::CreatedTicket;
pub use transport::{Failure, Incoming, Outgoing, Transport};

use auth::Credentials;
use error::{classify, parse_retry_after};
use gate::Gate;

/// Everything needed to build the client of one account. The config layer maps
/// `[accounts.NAME]` onto it; defaults follow Zendesk's documented limits.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Local account handle, used in logs and errors.
    pub account: String,
    /// `https://{subdomain}.zendesk.com`, or the simulator's `http://127.0.0.1:PORT`.
    pub base_url: String,
    pub auth: Auth,
    /// This daemon's request budget against the account.
    pub requests_per_minute: u32,
    /// Zendesk's per-endpoint limits.
    pub limits: EndpointLimits,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout (send to last body byte) of one attempt.
    pub request_timeout: Duration,
    /// Retry bounds of one call.
    pub retry: RetrySettings,
    /// Asked before every write (and OAuth refresh): several daemons on one store send
    /// only from the leader, each write bounded to end while its lease holds.
    pub send_guard: Option<Arc<dyn SendGuard>>,
}

/// Asked right before each request that may change Zendesk (every method but GET and
/// HEAD) and before an OAuth refresh: how long it may take, or why it must not be sent.
/// The request's timeout is cut to that window; a refused request is never sent
/// ([`ZendeskError::NotLeading`]).
pub trait SendGuard: Send + Sync + fmt::Debug {
    fn send_window(&self) -> Result<Duration, String>;
}

/// Asked right before each attempt of a write sent through a
/// [`ZendeskClient::guarded`] handle (every method but GET and HEAD), retries included:
/// why it must not be sent any more (consent withdrawn while the call waited at the gate
/// or between retries), or `Ok`. A refused attempt is never sent
/// ([`ZendeskError::Withheld`]).
pub trait StillAllowed: Send + Sync {
    fn still_allowed(&self) -> Result<(), String>;
}

impl ClientSettings {
    /// Settings with defaults: 400 requests/min (Growth/Professional plans), Zendesk's
    /// endpoint limits, 10 s connect, 30 s request timeout, 2 minutes of retries.
    pub fn new(account: impl Into<String>, base_url: impl Into<String>, auth: Auth) -> Self {
        ClientSettings {
            account: account.into(),
            base_url: base_url.into(),
            auth,
            requests_per_minute: 400,
            limits: EndpointLimits::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            retry: RetrySettings::default(),
            send_guard: None,
        }
    }
}

/// A Zendesk API client for one account. Cheap to clone; clones share the gate and the
/// OAuth session.
#[derive(Clone)]
pub struct ZendeskClient {
    inner: Arc<Inner>,
    /// Set on a handle from [`ZendeskClient::read_only`]: its own attempt count, and the
    /// refusal of every request but GET.
    scope: Option<Arc<Scope>>,
    /// Set on a handle from [`ZendeskClient::guarded`]: asked before every write attempt.
    allowed: Option<Arc<dyn StillAllowed>>,
}

/// What a [`ZendeskClient::read_only`] handle keeps of its own.
#[derive(Debug, Default)]
struct Scope {
    /// Attempts sent through this handle (each retry counts).
    requests: std::sync::atomic::AtomicU64,
}

struct Inner {
    account: String,
    /// Base URL without a trailing slash.
    base: String,
    /// Scheme, host and port of `base`: credentials go only there.
    origin: String,
    /// For OAuth token refreshes (they bypass the transport: the simulation uses API
    /// tokens). Built at once for the reqwest transport, on first use otherwise (building
    /// one reads the system's root certificates).
    http: std::sync::OnceLock<reqwest::Client>,
    connect_timeout: Duration,
    /// Where every API request goes: reqwest, or a simulated network.
    transport: Arc<dyn Transport>,
    /// For attachment files: follows no redirect by itself (`uploads.rs` follows them,
    /// deciding per hop whether credentials go along).
    /// `None` under a caller's transport (not built: it reads the root certificates).
    files_http: Option<reqwest::Client>,
    /// Files are streamed through `files_http`; `false` under a caller's transport (the
    /// deterministic simulation), where they go whole through it.
    streaming: bool,
    /// Whole-attempt timeout (send to last body byte), on tokio time.
    request_timeout: Duration,
    creds: Credentials,
    /// `Auth::kind` of the settings, for [`ZendeskClient::auth_state`].
    auth_kind: &'static str,
    gate: Gate,
    retry: RetrySettings,
    send_guard: Option<Arc<dyn SendGuard>>,
    /// Requests sent (each attempt counts), for metrics.
    requests: std::sync::atomic::AtomicU64,
    /// Attempts that were retries, for metrics.
    retries: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for ZendeskClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZendeskClient")
            .field("account", &self.inner.account)
            .field("base_url", &self.inner.base)
            .finish_non_exhaustive()
    }
}

/// A request body.
#[derive(Clone)]
pub(crate) enum Body {
    Json(Vec<u8>),
    Raw {
        bytes: Vec<u8>,
        content_type: String,
    },
}

/// One API call, as the typed methods describe it.
#[derive(Clone)]
pub(crate) struct Call {
    pub method: Method,
    /// Path under the base URL (`/api/v2/...`), or an absolute URL for downloads.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Body>,
    pub class: EndpointClass,
    pub replay: Replay,
    pub ticket: Option<u64>,
    pub idempotency_key: Option<String>,
    /// Largest answer body accepted (downloads); `None`: no limit.
    pub max_body: Option<u64>,
}

impl Call {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        let replay = if method == Method::POST || method == Method::PATCH {
            Replay::Unsafe
        } else {
            Replay::Safe
        };
        Call {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            class: EndpointClass::General,
            replay,
            ticket: None,
            idempotency_key: None,
            max_body: None,
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Call::new(Method::GET, path)
    }

    pub fn query(mut self, k: &str, v: impl Into<String>) -> Self {
        self.query.push((k.to_owned(), v.into()));
        self
    }

    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        // Serialising our own request types cannot fail (no maps with non-string keys).
        let bytes = serde_json::to_vec(body).expect("request body serialises");
        self.body = Some(Body::Json(bytes));
        self
    }

    pub fn ticket(mut self, id: u64) -> Self {
        self.ticket = Some(id);
        self
    }

    pub fn class(mut self, class: EndpointClass) -> Self {
        self.class = class;
        self
    }

    pub fn replay(mut self, replay: Replay) -> Self {
        self.replay = replay;
        self
    }
}

/// A successful answer.
pub(crate) struct Answer {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// A secret-free description of a reqwest error (its URL may carry query parameters).
pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "body interrupted"
    } else if e.is_request() {
        "request failed (connection dropped?)"
    } else {
        "HTTP error"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

/// The reqwest client of one account (rustls, explicit timeouts).
fn build_http(
    account: &str,
    connect_timeout: Duration,
    request_timeout: Duration,
) -> Result<reqwest::Client, ZendeskError> {
    // reqwest is built without a crypto provider: install ring once per process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tls_backend_rustls()
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .user_agent(concat!("sharebridge/", env!("CARGO_PKG_VERSION")))
        // Attachment URLs may redirect to a file host; reqwest drops Authorization
        // when a redirect leaves the origin.
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .map_err(|e| ZendeskError::Settings {
            account: account.to_owned(),
            reason: format!("HTTP client: {}", describe_reqwest(&e)),
        })
}

fn origin_of(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    let host = u.host_str()?;
    Some(format!(
        "{}://{}:{}",
        u.scheme(),
        host,
        u.port_or_known_default().unwrap_or(0)
    ))
}

impl ZendeskClient {
    /// Builds the client. For OAuth, a pair found in `store` wins over the configured
    /// refresh token, and every rotated pair is saved there before use.
    pub fn new(settings: ClientSettings, store: Arc<dyn TokenStore>) -> Result<Self, ZendeskError> {
        Self::build(settings, store, None)
    }

    /// Builds the client over `transport` instead of reqwest (the deterministic
    /// simulation's network). OAuth refreshes still use reqwest.
    pub fn with_transport(
        settings: ClientSettings,
        store: Arc<dyn TokenStore>,
        transport: Arc<dyn Transport>,
    ) -> Result<Self, ZendeskError> {
        Self::build(settings, store, Some(transport))
    }

    fn build(
        settings: ClientSettings,
        store: Arc<dyn TokenStore>,
        transport: Option<Arc<dyn Transport>>,
    ) -> Result<Self, ZendeskError> {
        let account = settings.account.clone();
        let settings_err = |reason: String| ZendeskError::Settings {
            account: account.clone(),
            reason,
        };
        let base = settings.base_url.trim_end_matches('/').to_owned();
        let origin = origin_of(&base).ok_or_else(|| {
            settings_err(format!("base_url {base:?} is not an absolute http(s) URL"))
        })?;
        let http = std::sync::OnceLock::new();
        let streaming = transport.is_none();
        let transport = match transport {
            Some(t) => t,
            None => {
                let client =
                    build_http(&account, settings.connect_timeout, settings.request_timeout)?;
                let _ = http.set(client.clone());
                Arc::new(transport::Reqwest::new(client))
            }
        };
        let creds = Credentials::new(&account, &base, &settings.auth, store)?
            .guarded(settings.send_guard.clone());
        let files_http = if !streaming {
            None
        } else {
            Some(
                reqwest::Client::builder()
                    .tls_backend_rustls()
                    .connect_timeout(settings.connect_timeout)
                    .user_agent(concat!("sharebridge/", env!("CARGO_PKG_VERSION")))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| settings_err(format!("HTTP client: {}", describe_reqwest(&e))))?,
            )
        };
        let auth_kind = settings.auth.kind();
        Ok(ZendeskClient {
            scope: None,
            allowed: None,
            inner: Arc::new(Inner {
                account,
                base,
                origin,
                http,
                connect_timeout: settings.connect_timeout,
                transport,
                files_http,
                streaming,
                request_timeout: settings.request_timeout,
                creds,
                auth_kind,
                gate: Gate::new(settings.requests_per_minute, settings.limits),
                requests: Default::default(),
                retries: Default::default(),
                retry: settings.retry,
                send_guard: settings.send_guard,
            }),
        })
    }

    /// The reqwest client OAuth refreshes use, built on first use.
    fn http(&self) -> Result<&reqwest::Client, ZendeskError> {
        let inner = &self.inner;
        if let Some(c) = inner.http.get() {
            return Ok(c);
        }
        let built = build_http(&inner.account, inner.connect_timeout, inner.request_timeout)?;
        Ok(inner.http.get_or_init(|| built))
    }

    /// The local account handle.
    pub fn account(&self) -> &str {
        &self.inner.account
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// Requests left in this minute's budget.
    pub fn remaining(&self) -> u32 {
        self.inner.gate.remaining()
    }

    /// Gate snapshot for metrics: budget left, pause, 429 count, Zendesk's own remaining.
    pub fn gate_status(&self) -> GateStatus {
        self.inner.gate.status()
    }

    /// A handle on this client (same gate, budget and OAuth session) for commands that
    /// only read (`plan`, `visibility`): it refuses every request but GET before sending
    /// it, and counts its own attempts ([`ZendeskClient::scoped_requests`]), so a read
    /// made while the engine uses the same client is measured exactly.
    pub fn read_only(&self) -> ZendeskClient {
        ZendeskClient {
            inner: self.inner.clone(),
            scope: Some(Arc::new(Scope::default())),
            allowed: self.allowed.clone(),
        }
    }

    /// A handle on this client (same gate, budget and OAuth session) whose every write
    /// attempt, retries included, is sent only if `allowed` still allows it at that
    /// moment; otherwise the call ends with [`ZendeskError::Withheld`], unsent.
    pub fn guarded(&self, allowed: Arc<dyn StillAllowed>) -> ZendeskClient {
        ZendeskClient {
            inner: self.inner.clone(),
            scope: self.scope.clone(),
            allowed: Some(allowed),
        }
    }

    /// Attempts sent through this [`ZendeskClient::read_only`] handle (retries count);
    /// 0 on any other handle.
    pub fn scoped_requests(&self) -> u64 {
        self.scope
            .as_ref()
            .map_or(0, |s| s.requests.load(Ordering::Relaxed))
    }

    /// How the client authenticates now: kind, token expiry, a dead credential.
    pub async fn auth_state(&self) -> AuthState {
        self.inner.creds.state(self.inner.auth_kind).await
    }

    /// Exchanges the OAuth refresh token if half its life has passed (the background
    /// refresh of an idle account); true when it did. Nothing for other credentials.
    pub async fn keep_fresh(&self) -> Result<bool, ZendeskError> {
        self.inner.creds.keep_fresh(self.http()?).await
    }

    /// Starts the OAuth session again from the token store (after `connect` stored a new
    /// pair for this account).
    pub async fn reload_credentials(&self) -> Result<(), ZendeskError> {
        self.inner.creds.reload().await
    }

    /// Requests sent and retries made since the client was built.
    pub fn counters(&self) -> (u64, u64) {
        (
            self.inner.requests.load(Ordering::Relaxed),
            self.inner.retries.load(Ordering::Relaxed),
        )
    }

    fn context(&self, call: &Call) -> RequestContext {
        // An absolute URL is an attachment's content_url, whose path holds an access
        // token: name it, never print it.
        let path = if reqwest::Url::parse(&call.path).is_ok() {
            "(attachment content_url)".to_owned()
        } else {
            call.path.clone()
        };
        RequestContext {
            account: self.inner.account.clone(),
            method: call.method.to_string(),
            path,
            ticket: call.ticket,
        }
    }

    /// Runs `call` with gate, auth and retries; returns the 2xx answer.
    pub(crate) async fn execute(&self, call: Call) -> Result<Answer, ZendeskError> {
        let ctx = self.context(&call);
        if self.scope.is_some() && call.method != Method::GET {
            return Err(ZendeskError::Settings {
                account: ctx.account,
                reason: format!(
                    "{} {} refused: this handle only reads (plan, visibility)",
                    ctx.method, ctx.path
                ),
            });
        }
        let span = tracing::info_span!(
            "zendesk",
            account = %ctx.account,
            method = %ctx.method,
            path = %ctx.path,
            ticket = ctx.ticket,
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
        );
        let start = Instant::now();
        let attempts = AtomicU32::new(0);
        let max_total = self.inner.retry.max_total;
        let result = (|| async {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.attempt(&call, &ctx).await
        })
        .retry(self.inner.retry.backoff())
        .when(retry::is_retryable)
        .adjust(|e, d| retry::next_delay(e, d, start.elapsed(), max_total))
        .notify(|e, d| {
            self.inner.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = %e, delay_ms = d.as_millis() as u64, "retrying");
        })
        .instrument(span.clone())
        .await;
        let n = attempts.load(Ordering::Relaxed);
        span.record("attempts", n);
        result.map_err(|e| match e {
            ZendeskError::Transient { ctx, reason, .. } => ZendeskError::Transient {
                ctx,
                reason: format!("{reason}; {n} attempts in {:?}", start.elapsed()),
            },
            other => other,
        })
    }

    /// One attempt: wait for the gate, authenticate, send, classify. A 401 under OAuth
    /// refreshes once and resends (a 401 means the request was not processed).
    async fn attempt(&self, call: &Call, ctx: &RequestContext) -> Result<Answer, ZendeskError> {
        let inner = &self.inner;
        let mut refreshed = false;
        loop {
            // Held until this attempt ends: the request counts against the budget until its
            // answer is in (see `gate::SlidingWindow`).
            let grant = inner.gate.acquire(call.class).await;
            inner.requests.fetch_add(1, Ordering::Relaxed);
            if let Some(scope) = &self.scope {
                scope.requests.fetch_add(1, Ordering::Relaxed);
            }
            if grant.waited > Duration::from_millis(500) {
                tracing::debug!(
                    waited_ms = grant.waited.as_millis() as u64,
                    "gate held request"
                );
            }
            let absolute = call.path.starts_with("http://") || call.path.starts_with("https://");
            let url = if absolute {
                call.path.clone()
            } else {
                format!("{}{}", inner.base, call.path)
            };
            let mut url = match reqwest::Url::parse(&url) {
                Ok(u) => u,
                Err(e) => {
                    return Err(ZendeskError::Settings {
                        account: inner.account.clone(),
                        reason: format!("request URL for {}: {e}", ctx.path),
                    });
                }
            };
            if !call.query.is_empty() {
                url.query_pairs_mut().extend_pairs(&call.query);
            }
            let mut headers = HeaderMap::new();
            // Credentials go only to the account's own origin (attachment URLs may not).
            let send_auth = !absolute || origin_of(url.as_str()).as_deref() == Some(&inner.origin);
            let mut generation = 0;
            if send_auth {
                let cred = inner.creds.current(|| self.http()).await?;
                generation = cred.generation;
                headers.insert(AUTHORIZATION, cred.header);
            }
            if let Some(key) = &call.idempotency_key
                && let Ok(v) = HeaderValue::from_str(key)
            {
                headers.insert("Idempotency-Key", v);
            }
            let body = match &call.body {
                Some(Body::Json(b)) => {
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    b.clone()
                }
                Some(Body::Raw {
                    bytes,
                    content_type,
                }) => {
                    if let Ok(v) = HeaderValue::from_str(content_type) {
                        headers.insert(CONTENT_TYPE, v);
                    }
                    bytes.clone()
                }
                None => Vec::new(),
            };
            // Several daemons on one store: only the leader sends a write, and only one
            // that ends (its timeout) while its lease surely holds.
            let mut timeout = inner.request_timeout;
            if call.method != Method::GET
                && call.method != Method::HEAD
                && let Some(guard) = &inner.send_guard
            {
                match guard.send_window() {
                    Ok(window) => timeout = timeout.min(window),
                    Err(reason) => {
                        return Err(ZendeskError::NotLeading {
                            ctx: ctx.clone(),
                            reason,
                        });
                    }
                }
            }
            // Asked last, after the gate and the credential: the moment of the send.
            if call.method != Method::GET
                && call.method != Method::HEAD
                && let Some(allowed) = &self.allowed
                && let Err(reason) = allowed.still_allowed()
            {
                return Err(ZendeskError::Withheld {
                    ctx: ctx.clone(),
                    reason,
                });
            }
            let request = transport::Outgoing {
                method: call.method.clone(),
                url: url.into(),
                headers,
                body,
            };
            // The timeout is the client's, on tokio time, whatever the transport.
            let sent = tokio::time::timeout(timeout, inner.transport.send(request, call.max_body))
                .await
                .unwrap_or_else(|_| Err(Failure::Lost(format!("timed out after {timeout:?}"))));
            let resp = match sent {
                Ok(r) => r,
                Err(Failure::NotSent(reason)) => {
                    // Never reached Zendesk: safe to retry whatever the request.
                    return Err(ZendeskError::Transient {
                        ctx: ctx.clone(),
                        reason,
                    });
                }
                Err(Failure::Lost(reason)) => {
                    tracing::debug!(error = %reason, "request failed after send");
                    return Err(retry::after_send_failure(call.replay, ctx.clone(), reason));
                }
                Err(Failure::TooLarge(limit)) => {
                    return Err(ZendeskError::Invalid {
                        ctx: ctx.clone(),
                        status: 200,
                        details: format!("answer is larger than the {limit}-byte limit"),
                    });
                }
                Err(Failure::Body {
                    status,
                    headers,
                    reason,
                }) => {
                    tracing::Span::current().record("status", status);
                    return Err(if (200..300).contains(&status) {
                        retry::after_send_failure(call.replay, ctx.clone(), reason)
                    } else {
                        // An error status means Zendesk refused it: classify by status alone.
                        Self::status_error(call, ctx, status, &headers, &[])
                    });
                }
            };
            let status = resp.status;
            tracing::Span::current().record("status", status);
            let headers = resp.headers;
            let server_remaining = headers
                .get("X-Rate-Limit-Remaining")
                .or_else(|| headers.get("ratelimit-remaining"))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            if status == 429 {
                let retry_after = headers
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let pause = inner.gate.on_throttled(retry_after);
                tracing::warn!(
                    status,
                    pause_ms = pause.as_millis() as u64,
                    retry_after_header = retry_after.is_some(),
                    "rate limited: pausing the whole account"
                );
                return Err(ZendeskError::RateLimited {
                    ctx: ctx.clone(),
                    retry_after: Some(pause),
                });
            }
            inner.gate.on_response(server_remaining);
            if status == 401 && !refreshed && send_auth {
                if inner
                    .creds
                    .refresh_after_401(|| self.http(), generation)
                    .await?
                {
                    refreshed = true;
                    tracing::info!("401 with OAuth token: refreshed, sending again");
                    continue;
                }
                return Err(ZendeskError::Auth {
                    ctx: ctx.clone(),
                    status,
                });
            }
            let body = resp.body;
            if (200..300).contains(&status) {
                tracing::trace!(status, "ok");
                return Ok(Answer { headers, body });
            }
            tracing::debug!(status, "error status");
            if status == 503 {
                // Zendesk's maintenance answer may say how long: hold the whole account.
                let retry_after = headers
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                if let Some(ra) = retry_after {
                    tracing::warn!(
                        pause_ms = ra.as_millis() as u64,
                        "503 with Retry-After: pausing the account"
                    );
                    inner.gate.pause(ra);
                }
            }
            return Err(Self::status_error(call, ctx, status, &headers, &body));
        }
    }

    fn status_error(
        call: &Call,
        ctx: &RequestContext,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) -> ZendeskError {
        if (500..600).contains(&status) {
            return retry::after_send_failure(call.replay, ctx.clone(), format!("HTTP {status}"));
        }
        let parsed = serde_json::from_slice(body).ok();
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        classify(status, parsed.as_ref(), retry_after).into_error(ctx.clone(), status)
    }

    /// Runs `call` and decodes the value under `key` of the JSON answer.
    pub(crate) async fn fetch<T: DeserializeOwned>(
        &self,
        call: Call,
        key: &str,
    ) -> Result<T, ZendeskError> {
        let ctx = self.context(&call);
        let answer = self.execute(call).await?;
        decode_key(&ctx, &answer.body, key)
    }
}

/// Decodes `{key: T, …}`; the error names the key and serde's position, never the body.
pub(crate) fn decode_key<T: DeserializeOwned>(
    ctx: &RequestContext,
    body: &[u8],
    key: &str,
) -> Result<T, ZendeskError> {
    let mut value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ZendeskError::Decode {
            ctx: ctx.clone(),
            reason: format!(
                "not JSON ({:?} at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ),
        })?;
    let item = value
        .get_mut(key)
        .map(serde_json::Value::take)
        .ok_or_else(|| ZendeskError::Decode {
            ctx: ctx.clone(),
            reason: format!("no `{key}` in the answer"),
        })?;
    serde_json::from_value(item).map_err(|e| ZendeskError::Decode {
        ctx: ctx.clone(),
        reason: format!("`{key}` has an unexpected shape: {}", redact_serde(&e)),
    })
}

/// serde messages quote offending string values, which could be comment text: keep only
/// the part before the first quote.
fn redact_serde(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.find(['"', '`']) {
        Some(i) => format!("{}…", &msg[..i]),
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RequestContext {
        RequestContext {
            account: "acme".into(),
            method: "GET".into(),
            path: "/api/v2/tickets/1".into(),
            ticket: Some(1),
        }
    }

    #[test]
    fn decode_errors_do_not_echo_values() {
        let body = br#"{"ticket": {"id": "secret comment text"}}"#;
        let err = decode_key::<crate::zendesk::models::Ticket>(&ctx(), body, "ticket").unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains("secret comment text"), "{msg}");
        assert!(matches!(err, ZendeskError::Decode { .. }));
        let err = decode_key::<u64>(&ctx(), b"{}", "ticket").unwrap_err();
        assert!(err.to_string().contains("no `ticket`"));
    }

    #[test]
    fn default_replay_follows_method() {
        assert_eq!(Call::new(Method::GET, "/x").replay, Replay::Safe);
        assert_eq!(Call::new(Method::PUT, "/x").replay, Replay::Safe);
        assert_eq!(Call::new(Method::DELETE, "/x").replay, Replay::Safe);
        assert_eq!(Call::new(Method::POST, "/x").replay, Replay::Unsafe);
    }

    #[test]
    fn origin_includes_default_port() {
        assert_eq!(
            origin_of("https://acme.zendesk.com").as_deref(),
            Some("https://acme.zendesk.com:443")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:18081/x").as_deref(),
            Some("http://127.0.0.1:18081")
        );
        assert_eq!(origin_of("not a url"), None);
    }

    #[test]
    fn client_debug_has_no_secret() {
        let s = ClientSettings::new(
            "acme",
            "http://127.0.0.1:1",
            Auth::ApiToken {
                email: "a@b.c".into(),
                token: "s3cret".into(),
            },
        );
        assert!(!format!("{s:?}").contains("s3cret"));
        let c = ZendeskClient::new(s, Arc::new(MemoryTokenStore::new())).unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
