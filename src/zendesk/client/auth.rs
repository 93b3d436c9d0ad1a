//! Authentication to one Zendesk account: API token (basic auth) or OAuth with rotating
//! refresh tokens.
//!
//! Owns: the `Auth` settings, the `TokenStore` trait through which a rotated OAuth pair is
//! persisted, and the OAuth session that refreshes before expiry (and once after a 401).
//! Invariant: a refreshed pair is saved to the store BEFORE its access token is used, and a
//! stored pair takes precedence over the configured refresh token at start.
//!
//! Must not: put a secret in a `Debug` output, an error message or a log field; secrets
//! live in `secrecy` types and are exposed only to build a header or the refresh body.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use jiff::Timestamp;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::error::{RequestContext, ZendeskError, classify};

/// How the client authenticates to an account.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Basic auth `{email}/token:{token}`.
    ApiToken { email: String, token: SecretString },
    /// OAuth refresh-token grant at `POST {base}/oauth/tokens` (the pair `sharebridge
    /// connect` obtained with the authorization code grant). `refresh_token` is only the
    /// starting point: a pair found in the token store wins. With neither, every request
    /// fails with [`ZendeskError::NotConnected`].
    OAuth {
        client_id: String,
        client_secret: SecretString,
        refresh_token: Option<SecretString>,
    },
    /// OAuth client credentials grant: access tokens are asked for with the client's id
    /// and secret whenever none is valid. They carry no refresh token and are kept in
    /// memory only (the configuration can always get another).
    ClientCredentials {
        client_id: String,
        client_secret: SecretString,
    },
}

impl Auth {
    /// `api_token`, `oauth` or `client_credentials`, for status and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Auth::ApiToken { .. } => "api_token",
            Auth::OAuth { .. } => "oauth",
            Auth::ClientCredentials { .. } => "client_credentials",
        }
    }
}

/// An OAuth access/refresh pair as persisted in the token store.
#[derive(Clone)]
pub struct TokenPair {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    /// When the access token expires (`None`: Zendesk gave no `expires_in`).
    pub access_expires_at: Option<Timestamp>,
    /// When the refresh token expires, if Zendesk said.
    pub refresh_expires_at: Option<Timestamp>,
    /// When Zendesk issued this pair (for refreshing an idle account's refresh token
    /// before half its life is gone); `None` for pairs saved by older versions.
    pub issued_at: Option<Timestamp>,
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"[REDACTED]")
            .field("refresh_token", &"[REDACTED]")
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

/// Error of a token store; its message must not contain a token.
pub type TokenStoreError = Box<dyn std::error::Error + Send + Sync>;

/// Where rotated OAuth pairs are persisted (the daemon's store implements it). Calls are
/// synchronous and short; `save` must be durable when it returns `Ok`.
pub trait TokenStore: Send + Sync {
    /// The last saved pair of `account`, if any.
    fn load(&self, account: &str) -> Result<Option<TokenPair>, TokenStoreError>;
    /// Persists `pair` as the current pair of `account`.
    fn save(&self, account: &str, pair: &TokenPair) -> Result<(), TokenStoreError>;
}

/// An in-memory `TokenStore` for tests and API-token accounts (which never save).
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    pairs: Mutex<HashMap<String, TokenPair>>,
}

impl MemoryTokenStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl TokenStore for MemoryTokenStore {
    fn load(&self, account: &str) -> Result<Option<TokenPair>, TokenStoreError> {
        Ok(self
            .pairs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(account)
            .cloned())
    }

    fn save(&self, account: &str, pair: &TokenPair) -> Result<(), TokenStoreError> {
        self.pairs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(account.to_owned(), pair.clone());
        Ok(())
    }
}

/// `POST /oauth/tokens` answer.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token_expires_in: Option<u64>,
}

#[derive(Serialize)]
struct RefreshRequest<'a> {
    grant_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    client_id: &'a str,
    client_secret: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'static str>,
}

/// What the bridge asks for: it reads and writes tickets and manages its webhook.
pub const SCOPE: &str = "read write";

/// A token answer turned into a pair, `now` being when it was received. Without a new
/// refresh token `previous` stays valid (Zendesk rotates on every refresh, but an answer
/// without one must not lose the old). Pure.
pub(crate) fn pair_from_answer(
    access_token: String,
    refresh_token: Option<String>,
    expires_in: Option<u64>,
    refresh_token_expires_in: Option<u64>,
    previous: Option<&SecretString>,
    now: Timestamp,
) -> TokenPair {
    let in_secs = |s: u64| {
        let s = i64::try_from(s).ok()?;
        now.checked_add(jiff::SignedDuration::from_secs(s)).ok()
    };
    TokenPair {
        access_token: SecretString::from(access_token),
        refresh_token: refresh_token
            .map(SecretString::from)
            .or_else(|| previous.cloned())
            .unwrap_or_else(|| SecretString::from(String::new())),
        access_expires_at: expires_in.and_then(in_secs),
        refresh_expires_at: refresh_token_expires_in.and_then(in_secs),
        issued_at: Some(now),
    }
}

/// Whether an idle account's refresh token should be exchanged now: once half its life
/// has passed (Zendesk's refresh tokens last 30 days; without a stated expiry, that is
/// assumed), so it never lapses unused. `None` when nothing says when it was issued.
/// Pure.
pub fn refresh_token_due(
    pair_issued: Option<Timestamp>,
    expires: Option<Timestamp>,
    now: Timestamp,
) -> bool {
    const ASSUMED_LIFE: jiff::SignedDuration = jiff::SignedDuration::from_hours(30 * 24);
    let Some(issued) = pair_issued else {
        // Issued by an older version: refresh once to learn the pair's dates.
        return true;
    };
    let life = match expires {
        Some(e) if e > issued => e.duration_since(issued),
        _ => ASSUMED_LIFE,
    };
    now.duration_since(issued) >= life / 2
}

/// A usable `Authorization` header plus the OAuth generation it came from (for 401s).
pub(crate) struct Credential {
    pub header: HeaderValue,
    pub generation: u64,
}

/// The credentials of one client.
pub(crate) enum Credentials {
    Basic(HeaderValue),
    OAuth(Box<OAuthSession>),
}

/// How an account authenticates now, for status pages, `doctor` and `/api/accounts`:
/// kinds and times only, never a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthState {
    /// `api_token`, `oauth` or `client_credentials`.
    pub kind: &'static str,
    /// When the access token in use expires (`None`: unknown, or none yet).
    pub access_expires_at: Option<Timestamp>,
    /// When the refresh token expires, if Zendesk said.
    pub refresh_expires_at: Option<Timestamp>,
    /// When the pair in use was issued.
    pub issued_at: Option<Timestamp>,
    /// Whether a token is held at all (a stored pair, a configured refresh token, or a
    /// client-credentials token obtained).
    pub has_token: bool,
    /// Why the credential stopped working (a refused refresh): no more refreshes are tried
    /// until a new pair is stored (`sharebridge connect ACCOUNT`).
    pub dead: Option<String>,
}

impl Credentials {
    pub fn new(
        account: &str,
        base_url: &str,
        auth: &Auth,
        store: Arc<dyn TokenStore>,
    ) -> Result<Credentials, ZendeskError> {
        let (client_id, client_secret, refresh_token, grant) = match auth {
            Auth::ApiToken { email, token } => {
                let raw = format!("{email}/token:{}", token.expose_secret());
                let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                let mut header =
                    HeaderValue::from_str(&format!("Basic {encoded}")).map_err(|_| {
                        ZendeskError::Settings {
                            account: account.to_owned(),
                            reason: "email or token contains characters not allowed in a header"
                                .into(),
                        }
                    })?;
                header.set_sensitive(true);
                return Ok(Credentials::Basic(header));
            }
            Auth::OAuth {
                client_id,
                client_secret,
                refresh_token,
            } => (
                client_id,
                client_secret,
                refresh_token.clone(),
                Grant::Refresh,
            ),
            Auth::ClientCredentials {
                client_id,
                client_secret,
            } => (client_id, client_secret, None, Grant::ClientCredentials),
        };
        let mut state = OAuthState {
            refresh_token,
            refresh_expires_at: None,
            issued_at: None,
            access: None,
            unsaved: None,
            generation: 0,
            dead: None,
        };
        if grant == Grant::Refresh {
            let stored = store.load(account).map_err(|e| ZendeskError::TokenStore {
                account: account.to_owned(),
                reason: format!("loading the stored pair: {e}"),
            })?;
            if let Some(pair) = stored {
                state.adopt(&pair);
            }
        }
        Ok(Credentials::OAuth(Box::new(OAuthSession {
            account: account.to_owned(),
            token_url: format!("{}/oauth/tokens", base_url.trim_end_matches('/')),
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            grant,
            store,
            state: tokio::sync::Mutex::new(state),
            guard: None,
        })))
    }

    /// Makes every OAuth refresh ask `guard` first (a refresh rotates the refresh token:
    /// only the leading daemon may do it).
    pub fn guarded(mut self, guard: Option<Arc<dyn super::SendGuard>>) -> Credentials {
        if let Credentials::OAuth(s) = &mut self {
            s.guard = guard;
        }
        self
    }

    /// The header for the next request, refreshing the OAuth pair first when it is due.
    pub async fn current(&self, http: &reqwest::Client) -> Result<Credential, ZendeskError> {
        match self {
            Credentials::Basic(h) => Ok(Credential {
                header: h.clone(),
                generation: 0,
            }),
            Credentials::OAuth(s) => s.current(http).await,
        }
    }

    /// After a 401 with the credential of `generation`: refresh once (unless another task
    /// already did). Returns false for API tokens, which cannot be refreshed.
    pub async fn refresh_after_401(
        &self,
        http: &reqwest::Client,
        generation: u64,
    ) -> Result<bool, ZendeskError> {
        match self {
            Credentials::Basic(_) => Ok(false),
            Credentials::OAuth(s) => s.refresh_after_401(http, generation).await.map(|()| true),
        }
    }

    /// Exchanges the refresh token now if half its life has passed, so an idle account's
    /// refresh token never lapses. True when it refreshed.
    pub async fn keep_fresh(&self, http: &reqwest::Client) -> Result<bool, ZendeskError> {
        match self {
            Credentials::Basic(_) => Ok(false),
            Credentials::OAuth(s) => s.keep_fresh(http).await,
        }
    }

    /// Drops what the session holds and starts again from the token store (after
    /// `sharebridge connect` stored a new pair).
    pub async fn reload(&self) -> Result<(), ZendeskError> {
        match self {
            Credentials::Basic(_) => Ok(()),
            Credentials::OAuth(s) => s.reload().await,
        }
    }

    pub async fn state(&self, kind: &'static str) -> AuthState {
        match self {
            Credentials::Basic(_) => AuthState {
                kind,
                access_expires_at: None,
                refresh_expires_at: None,
                issued_at: None,
                has_token: true,
                dead: None,
            },
            Credentials::OAuth(s) => {
                let st = s.state.lock().await;
                AuthState {
                    kind,
                    access_expires_at: st.access.as_ref().and_then(|a| a.expires_at),
                    refresh_expires_at: st.refresh_expires_at,
                    issued_at: st.issued_at,
                    has_token: st.access.is_some() || st.refresh_token.is_some(),
                    dead: st.dead.clone(),
                }
            }
        }
    }
}

/// Which grant renews the access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    /// `grant_type=refresh_token`, rotating the pair (saved before use).
    Refresh,
    /// `grant_type=client_credentials`, nothing saved.
    ClientCredentials,
}

struct Access {
    token: SecretString,
    /// Refresh when this passes (a minute before expiry); `None`: only after a 401.
    refresh_at: Option<Instant>,
    /// When it expires, for status.
    expires_at: Option<Timestamp>,
}

struct OAuthState {
    refresh_token: Option<SecretString>,
    refresh_expires_at: Option<Timestamp>,
    issued_at: Option<Timestamp>,
    access: Option<Access>,
    /// A refreshed pair whose save failed: it must be saved before anything else.
    unsaved: Option<TokenPair>,
    /// Bumped at each refresh, so concurrent 401s refresh once.
    generation: u64,
    /// Set when Zendesk refused the refresh token: requests fail fast until a new pair
    /// appears in the token store.
    dead: Option<String>,
}

impl OAuthState {
    /// Takes `pair` (from the store) as the current one; an access token about to expire
    /// is not kept (the next request refreshes first).
    fn adopt(&mut self, pair: &TokenPair) {
        self.refresh_token =
            Some(pair.refresh_token.clone()).filter(|t| !t.expose_secret().is_empty());
        self.refresh_expires_at = pair.refresh_expires_at;
        self.issued_at = pair.issued_at;
        self.dead = None;
        self.access = None;
        let valid_for = pair.access_expires_at.map(|at| {
            let secs = at.as_second() - crate::clock::now().as_second();
            Duration::from_secs(secs.max(0) as u64)
        });
        if valid_for.is_none_or(|d| d > REFRESH_MARGIN) {
            self.access = Some(Access {
                token: pair.access_token.clone(),
                refresh_at: valid_for.map(|d| Instant::now() + d - REFRESH_MARGIN),
                expires_at: pair.access_expires_at,
            });
        }
    }
}

/// How long before its expiry an access token is replaced.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

pub(crate) struct OAuthSession {
    account: String,
    token_url: String,
    client_id: String,
    client_secret: SecretString,
    grant: Grant,
    store: Arc<dyn TokenStore>,
    state: tokio::sync::Mutex<OAuthState>,
    guard: Option<Arc<dyn super::SendGuard>>,
}

impl OAuthSession {
    async fn current(&self, http: &reqwest::Client) -> Result<Credential, ZendeskError> {
        let mut state = self.state.lock().await;
        self.save_pending(&mut state)?;
        self.revive(&mut state)?;
        let due = match &state.access {
            None => true,
            Some(a) => a.refresh_at.is_some_and(|at| Instant::now() >= at),
        };
        // Any request (the poller's, every poll_interval) also renews a refresh token past
        // half its life, so an idle account's pair never lapses.
        let half_life = self.grant == Grant::Refresh
            && state.refresh_token.is_some()
            && refresh_token_due(
                state.issued_at,
                state.refresh_expires_at,
                crate::clock::now(),
            );
        if due || half_life {
            self.refresh(http, &mut state).await?;
        }
        let token = &state.access.as_ref().expect("refresh sets access").token;
        Ok(Credential {
            header: bearer(token),
            generation: state.generation,
        })
    }

    async fn refresh_after_401(
        &self,
        http: &reqwest::Client,
        generation: u64,
    ) -> Result<(), ZendeskError> {
        let mut state = self.state.lock().await;
        self.save_pending(&mut state)?;
        if state.generation != generation {
            return Ok(());
        }
        self.refresh(http, &mut state).await
    }

    async fn keep_fresh(&self, http: &reqwest::Client) -> Result<bool, ZendeskError> {
        if self.grant != Grant::Refresh {
            return Ok(false);
        }
        let mut state = self.state.lock().await;
        self.save_pending(&mut state)?;
        if state.dead.is_some() || state.refresh_token.is_none() {
            return Ok(false);
        }
        if !refresh_token_due(
            state.issued_at,
            state.refresh_expires_at,
            crate::clock::now(),
        ) {
            return Ok(false);
        }
        tracing::info!(account = %self.account, "refreshing the OAuth pair ahead of its refresh token's expiry");
        self.refresh(http, &mut state).await.map(|()| true)
    }

    async fn reload(&self) -> Result<(), ZendeskError> {
        let mut state = self.state.lock().await;
        self.save_pending(&mut state)?;
        if self.grant == Grant::Refresh
            && let Some(pair) = self
                .store
                .load(&self.account)
                .map_err(|e| self.store_error(e))?
        {
            state.adopt(&pair);
            state.generation += 1;
        } else {
            state.access = None;
            state.dead = None;
        }
        Ok(())
    }

    /// A dead credential comes back only when the token store holds another pair.
    fn revive(&self, state: &mut OAuthState) -> Result<(), ZendeskError> {
        let Some(why) = state.dead.clone() else {
            return Ok(());
        };
        if self.grant == Grant::Refresh
            && let Some(pair) = self
                .store
                .load(&self.account)
                .map_err(|e| self.store_error(e))?
        {
            let same = state
                .refresh_token
                .as_ref()
                .is_some_and(|t| t.expose_secret() == pair.refresh_token.expose_secret());
            if !same {
                tracing::info!(account = %self.account, "a new OAuth pair was stored: using it");
                state.adopt(&pair);
                state.generation += 1;
                return Ok(());
            }
        }
        Err(ZendeskError::NotConnected {
            account: self.account.clone(),
            reason: why,
        })
    }

    fn save_pending(&self, state: &mut OAuthState) -> Result<(), ZendeskError> {
        if let Some(pair) = &state.unsaved {
            self.store
                .save(&self.account, pair)
                .map_err(|e| self.store_error(e))?;
            state.unsaved = None;
        }
        Ok(())
    }

    fn store_error(&self, e: TokenStoreError) -> ZendeskError {
        ZendeskError::TokenStore {
            account: self.account.clone(),
            reason: e.to_string(),
        }
    }

    /// Gets a new access token (exchanging the refresh token, or with the client's
    /// credentials), saves a rotated pair, then makes it current.
    async fn refresh(
        &self,
        http: &reqwest::Client,
        state: &mut OAuthState,
    ) -> Result<(), ZendeskError> {
        let ctx = RequestContext {
            account: self.account.clone(),
            method: "POST".into(),
            path: "/oauth/tokens".into(),
            ticket: None,
        };
        let body = match self.grant {
            Grant::Refresh => {
                let Some(refresh_token) = &state.refresh_token else {
                    return Err(ZendeskError::NotConnected {
                        account: self.account.clone(),
                        reason: "no OAuth token is stored for it yet".into(),
                    });
                };
                RefreshRequest {
                    grant_type: "refresh_token",
                    refresh_token: Some(refresh_token.expose_secret()),
                    client_id: &self.client_id,
                    client_secret: self.client_secret.expose_secret(),
                    scope: None,
                }
            }
            Grant::ClientCredentials => RefreshRequest {
                grant_type: "client_credentials",
                refresh_token: None,
                client_id: &self.client_id,
                client_secret: self.client_secret.expose_secret(),
                scope: Some(SCOPE),
            },
        };
        let mut req = http.post(&self.token_url).json(&body);
        if let Some(guard) = &self.guard {
            match guard.send_window() {
                Ok(window) => req = req.timeout(window),
                Err(reason) => return Err(ZendeskError::NotLeading { ctx, reason }),
            }
        }
        tracing::debug!(account = %self.account, grant = body.grant_type, "getting an OAuth access token");
        let resp = req.send().await.map_err(|e| ZendeskError::Transient {
            ctx: ctx.clone(),
            reason: format!("OAuth refresh failed: {}", super::describe_reqwest(&e)),
        })?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| ZendeskError::Transient {
            ctx: ctx.clone(),
            reason: format!("OAuth refresh answer lost: {}", super::describe_reqwest(&e)),
        })?;
        if !(200..300).contains(&status) {
            let err_body = serde_json::from_slice(&bytes).ok();
            let kind = match classify(status, err_body.as_ref(), None) {
                // A refused refresh token is an authentication problem, whatever the code.
                super::error::ErrorKind::Invalid { .. } => super::error::ErrorKind::Auth,
                k => k,
            };
            tracing::warn!(account = %self.account, status, "OAuth token request refused");
            if kind == super::error::ErrorKind::Auth {
                let what = match self.grant {
                    Grant::Refresh => {
                        "Zendesk refused the stored refresh token (revoked, expired or used elsewhere)"
                    }
                    Grant::ClientCredentials => "Zendesk refused the OAuth client's id and secret",
                };
                state.dead = Some(format!("{what} (HTTP {status})"));
                state.access = None;
                return Err(ZendeskError::NotConnected {
                    account: self.account.clone(),
                    reason: format!("{what} (HTTP {status})"),
                });
            }
            return Err(kind.into_error(ctx, status));
        }
        let tr: TokenResponse =
            serde_json::from_slice(&bytes).map_err(|e| ZendeskError::Decode {
                ctx: ctx.clone(),
                reason: format!("OAuth token answer: {}", e.classify_name()),
            })?;
        let now = crate::clock::now();
        let expires_in = tr.expires_in;
        let pair = pair_from_answer(
            tr.access_token,
            tr.refresh_token,
            tr.expires_in,
            tr.refresh_token_expires_in,
            state.refresh_token.as_ref(),
            now,
        );
        state.generation += 1;
        state.dead = None;
        // Refresh a minute before expiry (or halfway, for short-lived tokens).
        let refresh_in =
            |s: u64| Duration::from_secs(s) - Duration::from_secs(s / 2).min(REFRESH_MARGIN);
        state.access = Some(Access {
            token: pair.access_token.clone(),
            // An `expires_in` beyond the clock's range (a broken answer) overflowed the
            // addition: such a token is refreshed when it is refused, like one without.
            refresh_at: expires_in.and_then(|s| Instant::now().checked_add(refresh_in(s))),
            expires_at: pair.access_expires_at,
        });
        if self.grant == Grant::ClientCredentials {
            tracing::info!(account = %self.account, "OAuth access token obtained (client credentials)");
            return Ok(());
        }
        // The old pair is now invalid at Zendesk: the new one is current, but it is used
        // only once it is saved.
        state.refresh_token = Some(pair.refresh_token.clone());
        state.refresh_expires_at = pair.refresh_expires_at;
        state.issued_at = pair.issued_at;
        state.unsaved = Some(pair);
        self.save_pending(state)?;
        tracing::info!(account = %self.account, "OAuth pair rotated and saved");
        Ok(())
    }
}

/// Stable, secret-free name of a serde_json error class.
trait ClassifyName {
    fn classify_name(&self) -> String;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> String {
        format!(
            "{:?} at line {} column {}",
            self.classify(),
            self.line(),
            self.column()
        )
    }
}

fn bearer(token: &SecretString) -> HeaderValue {
    let mut h = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid"));
    h.set_sensitive(true);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_secrets() {
        let auth = Auth::OAuth {
            client_id: "cid".into(),
            client_secret: SecretString::from("s3cret-client"),
            refresh_token: Some(SecretString::from("s3cret-refresh")),
        };
        let api = Auth::ApiToken {
            email: "bridge@acme.example".into(),
            token: SecretString::from("s3cret-token"),
        };
        let pair = TokenPair {
            access_token: SecretString::from("s3cret-access"),
            refresh_token: SecretString::from("s3cret-refresh2"),
            access_expires_at: None,
            refresh_expires_at: None,
            issued_at: None,
        };
        for dbg in [format!("{auth:?}"), format!("{api:?}"), format!("{pair:?}")] {
            assert!(!dbg.contains("s3cret"), "{dbg}");
        }
        assert!(format!("{api:?}").contains("bridge@acme.example"));
    }

    #[test]
    fn basic_header_is_email_slash_token() {
        let auth = Auth::ApiToken {
            email: "a@b.c".into(),
            token: SecretString::from("tok"),
        };
        let creds =
            Credentials::new("acme", "http://x", &auth, Arc::new(MemoryTokenStore::new())).unwrap();
        let Credentials::Basic(h) = creds else {
            panic!()
        };
        assert!(h.is_sensitive());
        let want = base64::engine::general_purpose::STANDARD.encode("a@b.c/token:tok");
        assert_eq!(h.to_str().unwrap(), format!("Basic {want}"));
        assert!(!format!("{h:?}").contains(&want));
    }

    #[test]
    fn stored_pair_takes_precedence() {
        let store = Arc::new(MemoryTokenStore::new());
        store
            .save(
                "acme",
                &TokenPair {
                    access_token: "stored-access".into(),
                    refresh_token: "stored-refresh".into(),
                    access_expires_at: None,
                    refresh_expires_at: None,
                    issued_at: None,
                },
            )
            .unwrap();
        let auth = Auth::OAuth {
            client_id: "cid".into(),
            client_secret: "cs".into(),
            refresh_token: Some("configured".into()),
        };
        let Credentials::OAuth(s) = Credentials::new("acme", "http://x", &auth, store).unwrap()
        else {
            panic!()
        };
        let st = s.state.try_lock().unwrap();
        assert_eq!(
            st.refresh_token.as_ref().unwrap().expose_secret(),
            "stored-refresh"
        );
        assert_eq!(
            st.access.as_ref().unwrap().token.expose_secret(),
            "stored-access"
        );
    }

    #[test]
    fn refresh_token_is_due_at_half_its_life() {
        let t = |h: i64| jiff::Timestamp::UNIX_EPOCH + jiff::SignedDuration::from_hours(h);
        let issued = Some(t(0));
        // A 30-day refresh token: due from day 15 on.
        let exp = Some(t(30 * 24));
        assert!(!refresh_token_due(issued, exp, t(0)));
        assert!(!refresh_token_due(issued, exp, t(15 * 24 - 1)));
        assert!(refresh_token_due(issued, exp, t(15 * 24)));
        assert!(refresh_token_due(issued, exp, t(40 * 24)));
        // No stated expiry: Zendesk's 30 days are assumed.
        assert!(!refresh_token_due(issued, None, t(14 * 24)));
        assert!(refresh_token_due(issued, None, t(15 * 24)));
        // An expiry before the issue (a broken answer) falls back to 30 days too.
        assert!(!refresh_token_due(issued, Some(t(-1)), t(24)));
        // A pair saved without its issue time is refreshed once to learn it.
        assert!(refresh_token_due(None, exp, t(0)));
    }

    #[test]
    fn token_answers_become_pairs() {
        let now: jiff::Timestamp = "2026-11-23T05:00:00Z".parse().unwrap();
        let old = SecretString::from("old-refresh");
        let p = pair_from_answer(
            "acc".into(),
            Some("new-refresh".into()),
            Some(1800),
            Some(30 * 24 * 3600),
            Some(&old),
            now,
        );
        assert_eq!(p.refresh_token.expose_secret(), "new-refresh");
        assert_eq!(
            p.access_expires_at,
            Some("2026-11-23T05:30:00Z".parse().unwrap())
        );
        assert_eq!(
            p.refresh_expires_at,
            Some("2026-12-23T05:00:00Z".parse().unwrap())
        );
        assert_eq!(p.issued_at, Some(now));
        // Without a new refresh token the old one stays; absurd lifetimes are dropped.
        let p = pair_from_answer("acc".into(), None, Some(u64::MAX), None, Some(&old), now);
        assert_eq!(p.refresh_token.expose_secret(), "old-refresh");
        assert_eq!(p.access_expires_at, None);
    }
}
