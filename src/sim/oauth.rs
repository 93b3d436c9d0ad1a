//! Authentication and OAuth, as Zendesk has them: API token basic auth
//! (`{email}/token:{token}`; any email, which then becomes an agent, or an admin when
//! listed with `--admin`) and bearer tokens this simulator issued.
//!
//! OAuth clients come from `--oauth-client ID=SECRET`, `POST /sim/oauth/clients` or
//! `Simulator::oauth_client`; each has an owner, the admin who "created" it. Grants at
//! `POST /oauth/tokens` (JSON or form; client credentials in the body or as basic auth):
//! - `authorization_code` with PKCE: the code comes from `GET /oauth/authorizations/new`
//!   (a consent page, or at once with `--oauth-auto-approve`; see `oauth_flow`), lives
//!   120 s, is used once, and needs `code_verifier` when a `code_challenge` (S256) was
//!   given;
//! - `client_credentials`: a token (no refresh token) acting as the client's owner;
//! - `refresh_token`: a new pair; the presented refresh token and its access token die
//!   (rotation).
//!
//! Access tokens expire (default 30 minutes, `--access-token-lifetime` or `expires_in`),
//! refresh tokens too (30 days, `--refresh-token-lifetime` or
//! `refresh_token_expires_in`). Revocation: `DELETE /api/v2/oauth/tokens/{id|current}`.

use std::collections::HashMap;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::sim::error::ApiError;
use crate::sim::http::{Caller, Req, Resp, parse_query};
use crate::sim::state::Account;

/// How long an authorization code may be exchanged (Zendesk: 120 seconds).
pub const CODE_LIFETIME_MS: i64 = 120_000;

/// An OAuth client and a fresh token pair for one user, as provisioned for tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthGrant {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    pub access_token: String,
    pub user_email: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub secret: String,
    /// The admin who created it: whom client-credentials tokens act as.
    pub owner: u64,
}

#[derive(Debug, Clone)]
struct AccessToken {
    /// Numeric id (`/api/v2/oauth/tokens/{id}`).
    id: u64,
    client_id: String,
    user_id: u64,
    scope: String,
    created_ms: i64,
    expires_ms: i64,
}

#[derive(Debug, Clone)]
struct RefreshToken {
    client_id: String,
    user_id: u64,
    expires_ms: i64,
    /// The access token issued with it (revoked when this one is used).
    access: String,
}

/// A code handed out by the authorization step, waiting to be exchanged.
#[derive(Debug, Clone)]
pub(crate) struct Code {
    pub client_id: String,
    pub user_id: u64,
    pub redirect_uri: Option<String>,
    pub challenge: Option<String>,
    pub scope: String,
    pub expires_ms: i64,
}

/// One account's OAuth clients, codes and live tokens.
#[derive(Debug, Default)]
pub(crate) struct OAuthStore {
    pub clients: HashMap<String, Client>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    pub codes: HashMap<String, Code>,
}

pub(crate) fn random(rng: &mut fastrand::Rng, n: usize) -> String {
    std::iter::repeat_with(|| rng.alphanumeric())
        .take(n)
        .collect()
}

fn secs_ms(s: u64) -> i64 {
    i64::try_from(s)
        .unwrap_or(i64::MAX / 2_000)
        .saturating_mul(1000)
}

/// Whether `verifier` answers the S256 `challenge` (RFC 7636). Pure.
pub fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    let digest = sha2::Sha256::digest(verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest) == challenge.trim_end_matches('=')
}

impl Account {
    /// Issues an access token (and a refresh token when `refresh`) for `user_id`.
    fn issue(
        &mut self,
        client_id: &str,
        user_id: u64,
        scope: &str,
        now_ms: i64,
        access_secs: u64,
        refresh_secs: Option<u64>,
    ) -> (String, Option<String>) {
        let access = random(&mut self.token_rng, 64);
        let id = self.ids.object();
        self.oauth.access.insert(
            access.clone(),
            AccessToken {
                id,
                client_id: client_id.to_owned(),
                user_id,
                scope: scope.to_owned(),
                created_ms: now_ms,
                expires_ms: now_ms.saturating_add(secs_ms(access_secs)),
            },
        );
        let refresh_token = refresh_secs.map(|secs| {
            let r = random(&mut self.token_rng, 64);
            self.oauth.refresh.insert(
                r.clone(),
                RefreshToken {
                    client_id: client_id.to_owned(),
                    user_id,
                    expires_ms: now_ms.saturating_add(secs_ms(secs)),
                    access: access.clone(),
                },
            );
            r
        });
        (access, refresh_token)
    }

    /// Registers (or keeps) a client owned by the admin `owner_email`.
    pub(crate) fn register_client(
        &mut self,
        client_id: &str,
        secret: &str,
        owner_email: &str,
        now: jiff::Timestamp,
    ) -> Client {
        if let Some(c) = self.oauth.clients.get(client_id) {
            return c.clone();
        }
        let owner = self.ensure_user(owner_email, "admin", now);
        if let Some(u) = self.users.get_mut(&owner) {
            u.role = "admin".to_owned();
            u.custom_role_id = None;
        }
        let c = Client {
            secret: secret.to_owned(),
            owner,
        };
        self.oauth.clients.insert(client_id.to_owned(), c.clone());
        c
    }

    /// Revokes an access token (and refresh tokens issued with it); whether it existed.
    pub(crate) fn revoke_access(&mut self, token: &str) -> bool {
        let found = self.oauth.access.remove(token).is_some();
        self.oauth.refresh.retain(|_, r| r.access != token);
        found
    }
}

/// Creates (or reuses) an OAuth client owned by `email` and issues a token pair for it.
pub(crate) fn provision(
    a: &mut Account,
    client_id: Option<String>,
    client_secret: Option<String>,
    email: &str,
    now: jiff::Timestamp,
    now_ms: i64,
) -> OAuthGrant {
    let client_id =
        client_id.unwrap_or_else(|| format!("sim_client_{}", random(&mut a.token_rng, 8)));
    let secret = client_secret.unwrap_or_else(|| random(&mut a.token_rng, 48));
    let client = a.register_client(&client_id, &secret, email, now);
    let user_id = a.ensure_user(email, "admin", now);
    let lifetime = a.knobs.access_token_lifetime_secs;
    let refresh_life = a.knobs.refresh_token_lifetime_secs;
    let (access, refresh) = a.issue(
        &client_id,
        user_id,
        "read write",
        now_ms,
        lifetime,
        Some(refresh_life),
    );
    OAuthGrant {
        client_id,
        client_secret: client.secret,
        refresh_token: refresh.unwrap_or_default(),
        access_token: access,
        user_email: email.to_lowercase(),
    }
}

/// Who an `Authorization` header authenticates, or 401.
pub(crate) fn authenticate(
    a: &mut Account,
    api_token: &str,
    header: Option<&str>,
    now: jiff::Timestamp,
    now_ms: i64,
) -> Result<Caller, ApiError> {
    let header = header.ok_or_else(ApiError::unauthorized)?;
    if let Some(b64) = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))
    {
        let raw = STANDARD
            .decode(b64.trim())
            .map_err(|_| ApiError::unauthorized())?;
        let text = std::str::from_utf8(&raw).map_err(|_| ApiError::unauthorized())?;
        let (user, pass) = text.split_once(':').ok_or_else(ApiError::unauthorized)?;
        let email = user
            .strip_suffix("/token")
            .ok_or_else(ApiError::unauthorized)?;
        if pass != api_token || !email.contains('@') || api_token.is_empty() {
            return Err(ApiError::unauthorized());
        }
        let key = email.to_lowercase();
        let id = match a.users_by_email.get(&key) {
            Some(id) => *id,
            None => {
                let role = if a.admins.contains(&key) {
                    "admin"
                } else {
                    "agent"
                };
                a.ensure_user(email, role, now)
            }
        };
        let email = a
            .users
            .get(&id)
            .and_then(|u| u.email.clone())
            .unwrap_or(key);
        return Ok(Caller { id, email });
    }
    if let Some(tok) = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
    {
        let tok = tok.trim();
        let id = a
            .oauth
            .access
            .get(tok)
            .filter(|t| t.expires_ms > now_ms)
            .map(|t| t.user_id)
            .ok_or_else(ApiError::unauthorized)?;
        let email = a
            .users
            .get(&id)
            .and_then(|u| u.email.clone())
            .unwrap_or_default();
        return Ok(Caller { id, email });
    }
    Err(ApiError::unauthorized())
}

#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    #[serde(default)]
    grant_type: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    code_verifier: Option<String>,
    #[serde(default)]
    redirect_uri: Option<String>,
    #[serde(default)]
    expires_in: Option<Value>,
    #[serde(default)]
    refresh_token_expires_in: Option<Value>,
}

pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> ApiError {
    ApiError::new(
        status,
        json!({"error": error, "error_description": description}),
    )
}

fn invalid_request() -> ApiError {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "The request is missing a required parameter, includes an unsupported parameter value, or is otherwise malformed.",
    )
}

fn invalid_client() -> ApiError {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.",
    )
}

fn invalid_grant() -> ApiError {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
    )
}

fn secs(v: &Option<Value>) -> Option<u64> {
    match v {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

/// `POST /oauth/tokens` (JSON or `application/x-www-form-urlencoded`).
pub(crate) fn tokens(
    a: &mut Account,
    req: &Req,
    authorization: Option<&str>,
) -> Result<Resp, ApiError> {
    let is_json = req
        .content_type
        .as_deref()
        .is_some_and(|c| c.contains("json"))
        || req.body.first() == Some(&b'{');
    let mut tr: TokenRequest = if is_json {
        serde_json::from_slice(&req.body).map_err(|_| invalid_request())?
    } else {
        let text = std::str::from_utf8(&req.body).map_err(|_| invalid_request())?;
        let pairs = parse_query(text);
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        TokenRequest {
            grant_type: get("grant_type"),
            refresh_token: get("refresh_token"),
            client_id: get("client_id"),
            client_secret: get("client_secret"),
            scope: get("scope"),
            code: get("code"),
            code_verifier: get("code_verifier"),
            redirect_uri: get("redirect_uri"),
            expires_in: get("expires_in").map(Value::String),
            refresh_token_expires_in: get("refresh_token_expires_in").map(Value::String),
        }
    };
    // Client credentials may also come as HTTP basic auth.
    if tr.client_id.is_none()
        && let Some(b64) = authorization.and_then(|h| h.strip_prefix("Basic "))
        && let Ok(raw) = STANDARD.decode(b64.trim())
        && let Ok(text) = String::from_utf8(raw)
        && let Some((id, secret)) = text.split_once(':')
    {
        tr.client_id = Some(id.to_owned());
        tr.client_secret = Some(secret.to_owned());
    }
    let grant = tr.grant_type.clone().ok_or_else(invalid_request)?;
    if !["refresh_token", "client_credentials", "authorization_code"].contains(&grant.as_str()) {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        ));
    }
    let client_id = tr.client_id.clone().ok_or_else(invalid_client)?;
    let client = a
        .oauth
        .clients
        .get(&client_id)
        .cloned()
        .ok_or_else(invalid_client)?;
    let secret_ok = tr.client_secret.as_deref() == Some(client.secret.as_str());
    // A PKCE code exchange may come without the secret (a public client); anything
    // else needs it.
    let pkce_exchange = grant == "authorization_code" && tr.code_verifier.is_some();
    if !(secret_ok || pkce_exchange && tr.client_secret.is_none()) {
        return Err(invalid_client());
    }
    let access_secs = secs(&tr.expires_in)
        .filter(|s| *s > 0)
        .unwrap_or(a.knobs.access_token_lifetime_secs);
    let refresh_secs = secs(&tr.refresh_token_expires_in)
        .filter(|s| *s > 0)
        .unwrap_or(a.knobs.refresh_token_lifetime_secs);
    let requested_scope = tr.scope.clone();
    let (user_id, scope) = match grant.as_str() {
        "client_credentials" => {
            let scope = requested_scope.unwrap_or_else(|| "read write".to_owned());
            let (access, _) = a.issue(
                &client_id,
                client.owner,
                &scope,
                req.now_ms,
                access_secs,
                None,
            );
            return Ok(Resp::ok(&json!({
                "access_token": access, "token_type": "bearer", "scope": scope,
                "expires_in": access_secs,
            })));
        }
        "authorization_code" => {
            let code = tr.code.clone().ok_or_else(invalid_request)?;
            // A code is used once, whatever happens next.
            let c = a.oauth.codes.remove(&code).ok_or_else(invalid_grant)?;
            if c.client_id != client_id || c.expires_ms <= req.now_ms {
                return Err(invalid_grant());
            }
            if let (Some(given), Some(expected)) = (&tr.redirect_uri, &c.redirect_uri)
                && given != expected
            {
                return Err(invalid_grant());
            }
            match (&c.challenge, &tr.code_verifier) {
                (Some(ch), Some(v)) if pkce_matches(ch, v) => {}
                (Some(_), _) => return Err(invalid_grant()),
                (None, _) if !secret_ok => return Err(invalid_client()),
                (None, _) => {}
            }
            (c.user_id, requested_scope.unwrap_or(c.scope))
        }
        _ => {
            let presented = tr.refresh_token.clone().ok_or_else(invalid_request)?;
            let old = a
                .oauth
                .refresh
                .get(&presented)
                .filter(|r| r.client_id == client_id && r.expires_ms > req.now_ms)
                .cloned()
                .ok_or_else(invalid_grant)?;
            // Rotation: the presented refresh token and its access token die now.
            a.oauth.refresh.remove(&presented);
            a.oauth.access.remove(&old.access);
            (
                old.user_id,
                requested_scope.unwrap_or_else(|| "read write".to_owned()),
            )
        }
    };
    let (access, refresh) = a.issue(
        &client_id,
        user_id,
        &scope,
        req.now_ms,
        access_secs,
        Some(refresh_secs),
    );
    Ok(Resp::ok(&json!({
        "access_token": access,
        "token_type": "bearer",
        "scope": scope,
        "expires_in": access_secs,
        "refresh_token": refresh,
        "refresh_token_expires_in": refresh_secs,
    })))
}

/// The bearer token of a request, if it authenticated with one.
fn bearer(authz: Option<&str>) -> Option<&str> {
    authz
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
}

fn token_json(a: &Account, t: &AccessToken, token: &str) -> Value {
    json!({
        "id": t.id,
        "url": a.url(&format!("oauth/tokens/{}.json", t.id)),
        "client_id": t.client_id,
        "user_id": t.user_id,
        "token": token.chars().take(10).collect::<String>(),
        "scopes": t.scope.split_whitespace().collect::<Vec<_>>(),
        "created_at": crate::sim::clock::seconds(t.created_ms),
        "expires_at": crate::sim::clock::seconds(t.expires_ms),
    })
}

/// `GET /api/v2/oauth/tokens`: the caller's live tokens (admins: `?all=true`).
pub(crate) fn list_tokens(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let admin = a
        .users
        .get(&req.caller.id)
        .is_some_and(|u| u.role == "admin");
    let all = admin && req.param("all") == Some("true");
    let mut out: Vec<(u64, Value)> = a
        .oauth
        .access
        .iter()
        .filter(|(_, t)| t.expires_ms > req.now_ms && (all || t.user_id == req.caller.id))
        .map(|(k, t)| (t.id, token_json(a, t, k)))
        .collect();
    out.sort_by_key(|(id, _)| *id);
    let tokens: Vec<Value> = out.into_iter().map(|(_, v)| v).collect();
    let count = tokens.len();
    Ok(Resp::ok(
        &json!({"tokens": tokens, "next_page": null, "previous_page": null, "count": count}),
    ))
}

/// The token `/api/v2/oauth/tokens/{id|current}` names: the one used for the request
/// (`current`), or by id (the caller's own, or anyone's for an admin).
fn named_token(a: &Account, req: &Req, authz: Option<&str>) -> Result<String, ApiError> {
    if req.token.as_deref() == Some("current") {
        return bearer(authz)
            .filter(|t| a.oauth.access.contains_key(*t))
            .map(str::to_owned)
            .ok_or_else(ApiError::not_found);
    }
    let id: u64 = req
        .token
        .as_deref()
        .and_then(|t| t.parse().ok())
        .ok_or_else(ApiError::not_found)?;
    let admin = a
        .users
        .get(&req.caller.id)
        .is_some_and(|u| u.role == "admin");
    a.oauth
        .access
        .iter()
        .find(|(_, t)| t.id == id && (admin || t.user_id == req.caller.id))
        .map(|(k, _)| k.clone())
        .ok_or_else(ApiError::not_found)
}

/// `GET /api/v2/oauth/tokens/{id|current}`.
pub(crate) fn show_token(
    a: &mut Account,
    req: &Req,
    authz: Option<&str>,
) -> Result<Resp, ApiError> {
    let tok = named_token(a, req, authz)?;
    let t = &a.oauth.access[&tok];
    Ok(Resp::ok(&json!({"token": token_json(a, t, &tok)})))
}

/// `DELETE /api/v2/oauth/tokens/{id|current}` → 204: the token (and the refresh token
/// issued with it) stops working at once.
pub(crate) fn revoke_token(
    a: &mut Account,
    req: &Req,
    authz: Option<&str>,
) -> Result<Resp, ApiError> {
    let tok = named_token(a, req, authz)?;
    a.revoke_access(&tok);
    Ok(Resp::no_content())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::http::testing::{T0_MS, account, body, req};

    fn basic(user: &str, pass: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")))
    }

    #[test]
    fn api_token_basic_auth() {
        let mut a = account();
        let now = crate::sim::clock::seconds(T0_MS);
        let h = basic("Bridge@Vendor.example/token", "tok");
        let c = authenticate(&mut a, "tok", Some(&h), now, T0_MS).unwrap();
        assert_eq!(c.email, "bridge@vendor.example");
        assert_eq!(a.users[&c.id].role, "agent");
        let again = authenticate(&mut a, "tok", Some(&h), now, T0_MS).unwrap();
        assert_eq!(again.id, c.id);
        for bad in [
            basic("bridge@vendor.example/token", "nope"),
            basic("bridge@vendor.example", "tok"),
            "Basic !!!".to_owned(),
            "Bearer unknown".to_owned(),
        ] {
            let e = authenticate(&mut a, "tok", Some(&bad), now, T0_MS).unwrap_err();
            assert_eq!(e.status, StatusCode::UNAUTHORIZED);
            assert_eq!(e.body, json!({"error": "Couldn't authenticate you"}));
        }
        assert!(authenticate(&mut a, "tok", None, now, T0_MS).is_err());
    }

    #[test]
    fn refresh_rotates_and_access_expires() {
        let mut a = account();
        a.knobs.access_token_lifetime_secs = 60;
        let now = crate::sim::clock::seconds(T0_MS);
        let g = provision(&mut a, None, None, "o@x.example", now, T0_MS);
        let bearer = format!("Bearer {}", g.access_token);
        assert!(authenticate(&mut a, "tok", Some(&bearer), now, T0_MS).is_ok());
        assert!(authenticate(&mut a, "tok", Some(&bearer), now, T0_MS + 60_000).is_err());

        let form = format!(
            "grant_type=refresh_token&refresh_token={}&client_id={}&client_secret={}",
            g.refresh_token, g.client_id, g.client_secret
        );
        let mut r = req(&mut a, "o@x.example", T0_MS, &form);
        r.content_type = Some("application/x-www-form-urlencoded".to_owned());
        let out = body(&tokens(&mut a, &r, None).unwrap());
        assert_eq!(out["token_type"], "bearer");
        assert_eq!(out["expires_in"], 60);
        assert!(out["refresh_token_expires_in"].as_u64().unwrap() > 0);
        let new_refresh = out["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(new_refresh, g.refresh_token);
        // The old refresh token is dead, the new one works (JSON body this time).
        let e = tokens(&mut a, &r, None).unwrap_err();
        assert_eq!(e.body["error"], "invalid_grant");
        let json_body = json!({"grant_type": "refresh_token", "refresh_token": new_refresh,
            "client_id": g.client_id, "client_secret": g.client_secret});
        let mut r2 = req(&mut a, "o@x.example", T0_MS, &json_body.to_string());
        r2.content_type = Some("application/json".to_owned());
        let out2 = body(&tokens(&mut a, &r2, None).unwrap());
        // Rotation also killed the access token issued with the previous refresh token.
        let prev_access = format!("Bearer {}", out["access_token"].as_str().unwrap());
        assert!(authenticate(&mut a, "tok", Some(&prev_access), now, T0_MS).is_err());
        let cur = format!("Bearer {}", out2["access_token"].as_str().unwrap());
        let c = authenticate(&mut a, "tok", Some(&cur), now, T0_MS).unwrap();
        assert_eq!(c.email, "o@x.example");
        // Wrong secret.
        let bad = json!({"grant_type": "refresh_token", "refresh_token": "x",
            "client_id": g.client_id, "client_secret": "wrong"});
        let r3 = req(&mut a, "o@x.example", T0_MS, &bad.to_string());
        assert_eq!(
            tokens(&mut a, &r3, None).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
    }
}
