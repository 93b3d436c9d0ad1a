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
    /// OAuth refresh-token grant at `POST {base}/oauth/tokens`. `refresh_token` is only the
    /// starting point: a pair found in the token store wins.
    OAuth {
        client_id: String,
        client_secret: SecretString,
        refresh_token: SecretString,
    },
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
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"[REDACTED]")
            .field("refresh_token", &"[REDACTED]")
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
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
    refresh_token: &'a str,
    client_id: &'a str,
    client_secret: &'a str,
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

impl Credentials {
    pub fn new(
        account: &str,
        base_url: &str,
        auth: &Auth,
        store: Arc<dyn TokenStore>,
    ) -> Result<Credentials, ZendeskError> {
        match auth {
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
                Ok(Credentials::Basic(header))
            }
            Auth::OAuth {
                client_id,
                client_secret,
                refresh_token,
            } => {
                let stored = store.load(account).map_err(|e| ZendeskError::TokenStore {
                    account: account.to_owned(),
                    reason: format!("loading the stored pair: {e}"),
                })?;
                let mut state = OAuthState {
                    refresh_token: refresh_token.clone(),
                    access: None,
                    unsaved: None,
                    generation: 0,
                };
                if let Some(pair) = stored {
                    state.refresh_token = pair.refresh_token.clone();
                    let valid_for = pair.access_expires_at.map(|at| {
                        let secs = at.as_second() - crate::clock::now().as_second();
                        Duration::from_secs(secs.max(0) as u64)
                    });
                    if valid_for.is_none_or(|d| d > Duration::from_secs(60)) {
                        state.access = Some(Access {
                            token: pair.access_token.clone(),
                            refresh_at: valid_for
                                .map(|d| Instant::now() + d - Duration::from_secs(60)),
                        });
                    }
                }
                Ok(Credentials::OAuth(Box::new(OAuthSession {
                    account: account.to_owned(),
                    token_url: format!("{}/oauth/tokens", base_url.trim_end_matches('/')),
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    store,
                    state: tokio::sync::Mutex::new(state),
                    guard: None,
                })))
            }
        }
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
    /// `http` (the client OAuth refreshes go through) is asked for only under OAuth.
    pub async fn current<'a>(
        &self,
        http: impl FnOnce() -> Result<&'a reqwest::Client, ZendeskError>,
    ) -> Result<Credential, ZendeskError> {
        match self {
            Credentials::Basic(h) => Ok(Credential {
                header: h.clone(),
                generation: 0,
            }),
            Credentials::OAuth(s) => s.current(http()?).await,
        }
    }

    /// After a 401 with the credential of `generation`: refresh once (unless another task
    /// already did). Returns false for API tokens, which cannot be refreshed.
    pub async fn refresh_after_401<'a>(
        &self,
        http: impl FnOnce() -> Result<&'a reqwest::Client, ZendeskError>,
        generation: u64,
    ) -> Result<bool, ZendeskError> {
        match self {
            Credentials::Basic(_) => Ok(false),
            Credentials::OAuth(s) => s
                .refresh_after_401(http()?, generation)
                .await
                .map(|()| true),
        }
    }
}

struct Access {
    token: SecretString,
    /// Refresh when this passes (a minute before expiry); `None`: only after a 401.
    refresh_at: Option<Instant>,
}

struct OAuthState {
    refresh_token: SecretString,
    access: Option<Access>,
    /// A refreshed pair whose save failed: it must be saved before anything else.
    unsaved: Option<TokenPair>,
    /// Bumped at each refresh, so concurrent 401s refresh once.
    generation: u64,
}

pub(crate) struct OAuthSession {
    account: String,
    token_url: String,
    client_id: String,
    client_secret: SecretString,
    store: Arc<dyn TokenStore>,
    state: tokio::sync::Mutex<OAuthState>,
    guard: Option<Arc<dyn super::SendGuard>>,
}

impl OAuthSession {
    async fn current(&self, http: &reqwest::Client) -> Result<Credential, ZendeskError> {
        let mut state = self.state.lock().await;
        self.save_pending(&mut state)?;
        let due = match &state.access {
            None => true,
            Some(a) => a.refresh_at.is_some_and(|at| Instant::now() >= at),
        };
        if due {
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

    /// Exchanges the refresh token for a new pair, saves it, then makes it current.
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
        let body = RefreshRequest {
            grant_type: "refresh_token",
            refresh_token: state.refresh_token.expose_secret(),
            client_id: &self.client_id,
            client_secret: self.client_secret.expose_secret(),
        };
        let mut req = http.post(&self.token_url).json(&body);
        if let Some(guard) = &self.guard {
            match guard.send_window() {
                Ok(window) => req = req.timeout(window),
                Err(reason) => return Err(ZendeskError::NotLeading { ctx, reason }),
            }
        }
        tracing::debug!(account = %self.account, "refreshing OAuth access token");
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
            tracing::warn!(account = %self.account, status, "OAuth refresh refused");
            return Err(kind.into_error(ctx, status));
        }
        let tr: TokenResponse =
            serde_json::from_slice(&bytes).map_err(|e| ZendeskError::Decode {
                ctx: ctx.clone(),
                reason: format!("OAuth token answer: {}", e.classify_name()),
            })?;
        let now = crate::clock::now();
        let in_secs = |s: u64| {
            let s = i64::try_from(s).ok()?;
            now.checked_add(jiff::SignedDuration::from_secs(s)).ok()
        };
        let pair = TokenPair {
            access_token: SecretString::from(tr.access_token),
            // Without a new refresh token the old one stays valid.
            refresh_token: tr
                .refresh_token
                .map(SecretString::from)
                .unwrap_or_else(|| state.refresh_token.clone()),
            access_expires_at: tr.expires_in.and_then(in_secs),
            refresh_expires_at: tr.refresh_token_expires_in.and_then(in_secs),
        };
        // The old pair is now invalid at Zendesk: the new one is current, but it is used only
        // once it is saved.
        state.refresh_token = pair.refresh_token.clone();
        state.generation += 1;
        // Refresh a minute before expiry (or halfway, for short-lived tokens).
        let refresh_in = |s: u64| {
            Duration::from_secs(s) - Duration::from_secs(s / 2).min(Duration::from_secs(60))
        };
        state.access = Some(Access {
            token: pair.access_token.clone(),
            // An `expires_in` beyond the clock's range (a broken answer) overflowed the
            // addition: such a token is refreshed when it is refused, like one without.
            refresh_at: tr
                .expires_in
                .and_then(|s| Instant::now().checked_add(refresh_in(s))),
        });
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
            refresh_token: SecretString::from("s3cret-refresh"),
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
                },
            )
            .unwrap();
        let auth = Auth::OAuth {
            client_id: "cid".into(),
            client_secret: "cs".into(),
            refresh_token: "configured".into(),
        };
        let Credentials::OAuth(s) = Credentials::new("acme", "http://x", &auth, store).unwrap()
        else {
            panic!()
        };
        let st = s.state.try_lock().unwrap();
        assert_eq!(st.refresh_token.expose_secret(), "stored-refresh");
        assert_eq!(
            st.access.as_ref().unwrap().token.expose_secret(),
            "stored-access"
        );
    }
}
