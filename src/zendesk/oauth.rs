//! Signing the bridge in to Zendesk with OAuth: the authorization code grant with PKCE
//! (RFC 7636, S256) and the client credentials grant, as `sharebridge connect` uses them.
//!
//! Owns: the PKCE verifier and challenge, the `state` value, the authorization URL
//! (`GET /oauth/authorizations/new`), reading what the redirect brought back (a full URL,
//! its query, or a bare code), and the token requests at `POST /oauth/tokens`
//! (`grant_type=authorization_code` with the verifier, or `client_credentials`).
//! Refreshing an existing pair is the client's business (`client::auth`).
//!
//! Must not: log or put in an error a code, a verifier, a token or the client secret.
//! Randomness comes from the system's CSPRNG (ring), never from a seeded generator.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::zendesk::client::TokenPair;
use crate::zendesk::client::auth::{SCOPE, pair_from_answer};

/// A PKCE pair: the verifier stays here, the challenge goes into the authorization URL.
pub struct Pkce {
    pub verifier: SecretString,
    pub challenge: String,
}

impl fmt::Debug for Pkce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &"[redacted]")
            .field("challenge", &self.challenge)
            .finish()
    }
}

/// Errors of the sign-in: what failed and what to do; never a secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OAuthError {
    #[error("the system's random number generator failed")]
    Random,
    #[error(
        "the redirect carries no authorization code; paste the whole address the browser was sent to (it contains ?code=...&state=...)"
    )]
    NoCode,
    #[error(
        "the redirect's state does not match this sign-in (a stale or forged redirect); run connect again and use the new address"
    )]
    StateMismatch,
    #[error("Zendesk did not authorize the bridge: {0}")]
    Denied(String),
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("Zendesk refused the token request (HTTP {status}: {error}); {hint}")]
    Refused {
        status: u16,
        error: String,
        hint: &'static str,
    },
    #[error("Zendesk's token answer is not what its API documents ({0})")]
    Decode(String),
}

fn random_b64(bytes: usize) -> Result<String, OAuthError> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| OAuthError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// The S256 challenge of `verifier`: base64url(SHA-256(verifier)) without padding. Pure.
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Pkce {
    /// A fresh verifier of 32 random bytes (43 characters, RFC 7636 §4.1) and its
    /// S256 challenge.
    pub fn new() -> Result<Pkce, OAuthError> {
        let verifier = random_b64(32)?;
        Ok(Pkce {
            challenge: challenge_of(&verifier),
            verifier: SecretString::from(verifier),
        })
    }
}

/// A fresh `state` value: 16 random bytes, base64url.
pub fn new_state() -> Result<String, OAuthError> {
    random_b64(16)
}

/// The address the operator opens to sign the bridge in. `login_hint` (the account's
/// configured `email`, when there is one) suggests which user signs in; Zendesk's sign-in
/// page decides. Pure.
pub fn authorize_url(
    base_url: &str,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    challenge: &str,
    login_hint: Option<&str>,
) -> String {
    let mut url = reqwest::Url::parse(&format!(
        "{}/oauth/authorizations/new",
        base_url.trim_end_matches('/')
    ))
    .unwrap_or_else(|_| {
        reqwest::Url::parse("https://invalid.zendesk.com/oauth/authorizations/new")
            .expect("static URL")
    });
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", SCOPE)
        .append_pair("state", state)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    if let Some(h) = login_hint {
        url.query_pairs_mut().append_pair("login_hint", h);
    }
    url.into()
}

/// What the redirect brought back, checked against the `state` this sign-in sent.
/// `input` is what the operator pasted or the loopback listener received: a full URL, a
/// query string (`code=…&state=…`, with or without `?`), or a bare code (then the state
/// cannot be checked: accepted only when `allow_bare` is set, i.e. typed by the operator
/// into this very process). Pure.
pub fn read_redirect(
    input: &str,
    expected_state: &str,
    allow_bare: bool,
) -> Result<SecretString, OAuthError> {
    let input = input.trim();
    let query = match reqwest::Url::parse(input) {
        Ok(url) => url.query().unwrap_or_default().to_owned(),
        Err(_) => input
            .split_once('?')
            .map(|(_, q)| q.to_owned())
            .unwrap_or_else(|| input.to_owned()),
    };
    let pairs: Vec<(String, String)> = form_urlencoded(&query);
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(error) = get("error") {
        let detail = get("error_description").unwrap_or_default();
        return Err(OAuthError::Denied(if detail.is_empty() {
            error
        } else {
            format!("{error}: {detail}")
        }));
    }
    match get("code") {
        Some(code) if !code.is_empty() => {
            if get("state").as_deref() != Some(expected_state) {
                return Err(OAuthError::StateMismatch);
            }
            Ok(SecretString::from(code))
        }
        _ if allow_bare && !input.is_empty() && !input.contains(['=', '&', '?', '/', ' ']) => {
            Ok(SecretString::from(input.to_owned()))
        }
        _ => Err(OAuthError::NoCode),
    }
}

fn form_urlencoded(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Serialize)]
struct TokenRequest<'a> {
    grant_type: &'static str,
    client_id: &'a str,
    client_secret: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code_verifier: Option<&'a str>,
    scope: &'static str,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token_expires_in: Option<u64>,
}

/// The OAuth client as the configuration gives it.
pub struct ClientCredentials<'a> {
    pub base_url: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a SecretString,
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tls_backend_rustls()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("sharebridge/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

async fn token_request(
    client: &ClientCredentials<'_>,
    body: &TokenRequest<'_>,
    hint: &'static str,
) -> Result<TokenPair, OAuthError> {
    let url = format!("{}/oauth/tokens", client.base_url.trim_end_matches('/'));
    let resp = http()
        .post(&url)
        .json(body)
        .send()
        .await
        .map_err(|e| OAuthError::Unreachable {
            url: url.clone(),
            reason: crate::zendesk::client::describe_reqwest(&e),
        })?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(|e| OAuthError::Unreachable {
        url: url.clone(),
        reason: crate::zendesk::client::describe_reqwest(&e),
    })?;
    if !(200..300).contains(&status) {
        // Zendesk's OAuth errors are `{"error": "invalid_grant", "error_description": …}`;
        // only the error code is kept (descriptions are Zendesk's words, never a secret,
        // but the code is what the operator can look up).
        let error = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| "no error code".into());
        return Err(OAuthError::Refused {
            status,
            error,
            hint,
        });
    }
    let a: TokenAnswer = serde_json::from_slice(&bytes).map_err(|e| {
        OAuthError::Decode(format!(
            "{:?} at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    Ok(pair_from_answer(
        a.access_token,
        a.refresh_token,
        a.expires_in,
        a.refresh_token_expires_in,
        None,
        crate::clock::now(),
    ))
}

/// Exchanges an authorization code (valid 120 s at Zendesk) and the PKCE verifier for
/// a token pair.
pub async fn exchange_code(
    client: &ClientCredentials<'_>,
    code: &SecretString,
    redirect_uri: &str,
    verifier: &SecretString,
) -> Result<TokenPair, OAuthError> {
    let secret = client.client_secret.expose_secret();
    token_request(
        client,
        &TokenRequest {
            grant_type: "authorization_code",
            client_id: client.client_id,
            client_secret: secret,
            code: Some(code.expose_secret()),
            redirect_uri: Some(redirect_uri),
            code_verifier: Some(verifier.expose_secret()),
            scope: SCOPE,
        },
        "check oauth.client_id and client_secret, that the redirect URL is one of the OAuth client's, and sign in again (a code is valid for 120 seconds, once)",
    )
    .await
}

/// Asks for an access token with the client's credentials alone.
pub async fn client_credentials(client: &ClientCredentials<'_>) -> Result<TokenPair, OAuthError> {
    token_request(
        client,
        &TokenRequest {
            grant_type: "client_credentials",
            client_id: client.client_id,
            client_secret: client.client_secret.expose_secret(),
            code: None,
            redirect_uri: None,
            code_verifier: None,
            scope: SCOPE,
        },
        "check oauth.client_id and client_secret, and that the OAuth client is confidential (Zendesk allows the client credentials grant for confidential clients only)",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let p = Pkce::new().unwrap();
        let v = p.verifier.expose_secret();
        assert_eq!(v.len(), 43);
        assert!(
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(p.challenge, challenge_of(v));
        assert_ne!(Pkce::new().unwrap().challenge, p.challenge);
        assert!(!format!("{p:?}").contains(v));
        assert_ne!(new_state().unwrap(), new_state().unwrap());
    }

    #[test]
    fn the_authorization_url_carries_every_parameter() {
        let u = authorize_url(
            "https://acme.zendesk.com/",
            "sharebridge",
            "http://127.0.0.1:8250/callback",
            "st8",
            "ch4",
            None,
        );
        let url = reqwest::Url::parse(&u).unwrap();
        assert_eq!(url.path(), "/oauth/authorizations/new");
        let q: std::collections::BTreeMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "sharebridge");
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:8250/callback");
        assert_eq!(q["scope"], "read write");
        assert_eq!(q["state"], "st8");
        assert_eq!(q["code_challenge"], "ch4");
        assert_eq!(q["code_challenge_method"], "S256");
        assert!(!q.contains_key("login_hint"));
        let hinted = authorize_url(
            "https://a.zendesk.com",
            "c",
            "http://127.0.0.1:1/callback",
            "s",
            "c",
            Some("bridge@a.example"),
        );
        assert!(
            hinted.ends_with("&login_hint=bridge%40a.example"),
            "{hinted}"
        );
    }

    #[test]
    fn redirects_are_read_and_checked() {
        let ok =
            |s: &str, bare| read_redirect(s, "st8", bare).map(|c| c.expose_secret().to_owned());
        let code = Ok("c0de".to_owned());
        assert_eq!(
            ok("http://127.0.0.1:1/callback?code=c0de&state=st8", false),
            code
        );
        assert_eq!(ok("  /callback?state=st8&code=c0de\n", false), code);
        assert_eq!(ok("code=c0de&state=st8", false), code);
        assert_eq!(ok("?code=c0de&state=st8", false), code);
        assert_eq!(ok("c0de", true), code);
        assert_eq!(ok("c0de", false), Err(OAuthError::NoCode));
        assert_eq!(
            ok("http://127.0.0.1:1/callback?code=c0de&state=other", false),
            Err(OAuthError::StateMismatch)
        );
        assert_eq!(
            ok("http://127.0.0.1:1/callback?code=c0de", false),
            Err(OAuthError::StateMismatch)
        );
        assert_eq!(
            ok("http://127.0.0.1:1/callback?state=st8", false),
            Err(OAuthError::NoCode)
        );
        assert_eq!(ok("", true), Err(OAuthError::NoCode));
        assert_eq!(
            ok(
                "http://127.0.0.1:1/callback?error=access_denied&error_description=The+end-user+denied&state=st8",
                false
            ),
            Err(OAuthError::Denied(
                "access_denied: The end-user denied".into()
            ))
        );
        // The code never appears in an error's words.
        for e in [OAuthError::NoCode, OAuthError::StateMismatch] {
            assert!(!e.to_string().contains("c0de"));
        }
    }
}
