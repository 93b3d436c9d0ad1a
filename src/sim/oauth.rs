//! Authentication: API token basic auth (`{email}/token:{token}`; any email, which then
//! becomes an agent) and OAuth bearer tokens this simulator issued. `POST /oauth/tokens`
//! (JSON or form) serves the `refresh_token` grant (rotating: the old refresh and access
//! tokens stop working) and `client_credentials`. OAuth clients are provisioned with
//! `POST /sim/oauth/clients` or `Simulator::oauth_client`.

use std::collections::HashMap;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::sim::error::ApiError;
use crate::sim::http::{Caller, Req, Resp, parse_query};
use crate::sim::state::Account;

/// Lifetime of refresh tokens (30 days).
pub const REFRESH_TOKEN_LIFETIME_SECS: u64 = 30 * 24 * 3600;

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
struct Client {
    secret: String,
}

#[derive(Debug, Clone)]
struct AccessToken {
    user_id: u64,
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

/// One account's OAuth clients and live tokens.
#[derive(Debug, Default)]
pub(crate) struct OAuthStore {
    clients: HashMap<String, Client>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
}

fn random(n: usize) -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(n)
        .collect()
}

fn secs_ms(s: u64) -> i64 {
    i64::try_from(s)
        .unwrap_or(i64::MAX / 2_000)
        .saturating_mul(1000)
}

impl OAuthStore {
    /// Issues an access token (and a refresh token when `refresh`) for `user_id`.
    fn issue(
        &mut self,
        client_id: &str,
        user_id: u64,
        now_ms: i64,
        access_secs: u64,
        refresh_secs: u64,
        refresh: bool,
    ) -> (String, Option<String>) {
        let access = random(64);
        self.access.insert(
            access.clone(),
            AccessToken {
                user_id,
                expires_ms: now_ms.saturating_add(secs_ms(access_secs)),
            },
        );
        let refresh_token = refresh.then(|| {
            let r = random(64);
            self.refresh.insert(
                r.clone(),
                RefreshToken {
                    client_id: client_id.to_owned(),
                    user_id,
                    expires_ms: now_ms.saturating_add(secs_ms(refresh_secs)),
                    access: access.clone(),
                },
            );
            r
        });
        (access, refresh_token)
    }

    /// The user a live bearer token belongs to.
    fn bearer(&self, token: &str, now_ms: i64) -> Option<u64> {
        self.access
            .get(token)
            .filter(|t| t.expires_ms > now_ms)
            .map(|t| t.user_id)
    }
}

/// Creates (or reuses) an OAuth client and issues a token pair for `email`.
pub(crate) fn provision(
    a: &mut Account,
    client_id: Option<String>,
    client_secret: Option<String>,
    email: &str,
    now: jiff::Timestamp,
    now_ms: i64,
) -> OAuthGrant {
    let client_id = client_id.unwrap_or_else(|| format!("sim_client_{}", random(8)));
    let secret = match a.oauth.clients.get(&client_id) {
        Some(c) => c.secret.clone(),
        None => {
            let s = client_secret.unwrap_or_else(|| random(48));
            a.oauth
                .clients
                .insert(client_id.clone(), Client { secret: s.clone() });
            s
        }
    };
    let user_id = a.ensure_user(email, "agent", now);
    let lifetime = a.knobs.access_token_lifetime_secs;
    let (access, refresh) = a.oauth.issue(
        &client_id,
        user_id,
        now_ms,
        lifetime,
        REFRESH_TOKEN_LIFETIME_SECS,
        true,
    );
    OAuthGrant {
        client_id,
        client_secret: secret,
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
        let id = match a.users_by_email.get(email) {
            Some(id) => *id,
            None => a.ensure_user(email, "agent", now),
        };
        let email = a
            .users
            .get(&id)
            .and_then(|u| u.email.clone())
            .unwrap_or_else(|| email.to_lowercase());
        return Ok(Caller { id, email });
    }
    if let Some(tok) = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
    {
        let id = a
            .oauth
            .bearer(tok.trim(), now_ms)
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
    expires_in: Option<Value>,
    #[serde(default)]
    refresh_token_expires_in: Option<Value>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> ApiError {
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
    if grant != "refresh_token" && grant != "client_credentials" {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        ));
    }
    let client_id = tr.client_id.clone().ok_or_else(invalid_client)?;
    let client = a.oauth.clients.get(&client_id).ok_or_else(invalid_client)?;
    if tr.client_secret.as_deref() != Some(client.secret.as_str()) {
        return Err(invalid_client());
    }
    let access_secs = secs(&tr.expires_in)
        .filter(|s| *s > 0)
        .unwrap_or(a.knobs.access_token_lifetime_secs);
    let refresh_secs = secs(&tr.refresh_token_expires_in)
        .filter(|s| *s > 0)
        .unwrap_or(REFRESH_TOKEN_LIFETIME_SECS);
    let scope = tr.scope.clone().unwrap_or_else(|| "read write".to_owned());
    if grant == "client_credentials" {
        let user_id = a.ensure_user(&format!("{client_id}@oauth.sim.invalid"), "agent", req.now);
        let (access, _) = a.oauth.issue(
            &client_id,
            user_id,
            req.now_ms,
            access_secs,
            refresh_secs,
            false,
        );
        return Ok(Resp::ok(&json!({
            "access_token": access, "token_type": "bearer", "scope": scope,
            "expires_in": access_secs,
        })));
    }
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
    let (access, refresh) = a.oauth.issue(
        &client_id,
        old.user_id,
        req.now_ms,
        access_secs,
        refresh_secs,
        true,
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
