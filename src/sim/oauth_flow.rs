//! The authorization code step of OAuth, as Zendesk's `GET /oauth/authorizations/new`:
//! `response_type=code`, `client_id`, `redirect_uri`, `scope`, `state`, and for PKCE
//! `code_challenge` with `code_challenge_method=S256`. The simulator shows a consent page
//! (HTML: who signs in — an email — and Allow / Deny), whose form posts to
//! `POST /oauth/authorizations`; the answer redirects to `redirect_uri` with `code` and
//! `state` (or `error=access_denied`). With `--oauth-auto-approve` the first request
//! redirects at once, signed in as `login_hint` (or `email`) when given, else as the
//! client's owner. Codes live 120 s and are exchanged once at `POST /oauth/tokens`.

use axum::body::Bytes;
use axum::http::StatusCode;

use crate::sim::error::ApiError;
use crate::sim::http::{Req, Resp, parse_query, percent_encode};
use crate::sim::oauth::{CODE_LIFETIME_MS, Code, oauth_error, random};
use crate::sim::state::Account;

/// The parameters of one authorization request.
#[derive(Debug, Clone, Default)]
struct AuthRequest {
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: Option<String>,
    challenge: Option<String>,
    email: Option<String>,
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Reads and checks the parameters (query or form).
fn read(a: &Account, pairs: &[(String, String)]) -> Result<AuthRequest, ApiError> {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let bad = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", d);
    let client_id = get("client_id").ok_or_else(|| bad("client_id is required"))?;
    if !a.oauth.clients.contains_key(&client_id) {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Client authentication failed due to unknown client",
        ));
    }
    let redirect_uri = get("redirect_uri").ok_or_else(|| bad("redirect_uri is required"))?;
    if !(redirect_uri.starts_with("http://") || redirect_uri.starts_with("https://")) {
        return Err(bad("redirect_uri must be an http(s) URL"));
    }
    if let Some(rt) = get("response_type")
        && rt != "code"
    {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
            "Only response_type=code is supported",
        ));
    }
    let challenge = get("code_challenge");
    if challenge.is_some() && get("code_challenge_method").as_deref() != Some("S256") {
        return Err(bad("code_challenge_method must be S256"));
    }
    Ok(AuthRequest {
        client_id,
        redirect_uri,
        scope: get("scope").unwrap_or_else(|| "read".to_owned()),
        state: get("state"),
        challenge,
        email: get("email").or_else(|| get("login_hint")),
    })
}

fn redirect(to: String) -> Resp {
    let mut r = Resp::no_content();
    r.status = StatusCode::FOUND;
    r.headers.push(("location", to));
    r
}

/// The redirect back to the client: `code` (or `error`) and `state`.
fn back(ar: &AuthRequest, param: &str, value: &str) -> Resp {
    let sep = if ar.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let mut to = format!("{}{sep}{param}={}", ar.redirect_uri, percent_encode(value));
    if let Some(s) = &ar.state {
        to.push_str(&format!("&state={}", percent_encode(s)));
    }
    redirect(to)
}

/// Issues a code for `ar` signed in as `email` (or the client's owner).
fn approve(a: &mut Account, req: &Req, ar: &AuthRequest) -> Resp {
    let user_id = match ar.email.as_deref().filter(|e| e.contains('@')) {
        Some(e) => a.ensure_user(e, "agent", req.now),
        None => a.oauth.clients[&ar.client_id].owner,
    };
    let code = random(&mut a.token_rng, 40);
    a.oauth.codes.retain(|_, c| c.expires_ms > req.now_ms);
    a.oauth.codes.insert(
        code.clone(),
        Code {
            client_id: ar.client_id.clone(),
            user_id,
            redirect_uri: Some(ar.redirect_uri.clone()),
            challenge: ar.challenge.clone(),
            scope: ar.scope.clone(),
            expires_ms: req.now_ms + CODE_LIFETIME_MS,
        },
    );
    back(ar, "code", &code)
}

/// `GET /oauth/authorizations/new`: the consent page, or (auto-approve) the redirect.
pub(crate) fn authorize(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let ar = read(a, &req.query)?;
    if a.knobs.oauth_auto_approve {
        return Ok(approve(a, req, &ar));
    }
    let hidden: String = req
        .query
        .iter()
        .filter(|(k, _)| k != "email" && k != "login_hint")
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                html_escape(k),
                html_escape(v)
            )
        })
        .collect();
    let who = ar.email.clone().unwrap_or_default();
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Allow access</title></head>\
         <body><h1>Allow {client} to access {account}?</h1>\
         <p>Scope: {scope}</p>\
         <form method=\"post\" action=\"/oauth/authorizations\">{hidden}\
         <label>Sign in as <input type=\"email\" name=\"email\" value=\"{who}\"></label>\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\
         </form></body></html>",
        client = html_escape(&ar.client_id),
        account = html_escape(&a.name),
        scope = html_escape(&ar.scope),
        who = html_escape(&who),
    );
    Ok(Resp {
        status: StatusCode::OK,
        body: Bytes::from(page),
        content_type: "text/html; charset=utf-8".to_owned(),
        headers: Vec::new(),
    })
}

/// `POST /oauth/authorizations` (the consent form): `decision=allow|deny`.
pub(crate) fn decide(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let text = std::str::from_utf8(&req.body).unwrap_or("");
    let mut pairs = parse_query(text);
    if pairs.is_empty() {
        pairs = req.query.clone();
    }
    let ar = read(a, &pairs)?;
    let decision = pairs
        .iter()
        .find(|(k, _)| k == "decision")
        .map(|(_, v)| v.as_str());
    if decision == Some("allow") {
        Ok(approve(a, req, &ar))
    } else {
        Ok(back(&ar, "error", "access_denied"))
    }
}
