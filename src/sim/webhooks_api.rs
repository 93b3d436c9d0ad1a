//! The Webhooks API (developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks):
//! `POST/GET /api/v2/webhooks`, `GET/PUT/PATCH/DELETE /api/v2/webhooks/{id}`,
//! `GET/POST /api/v2/webhooks/{id}/signing_secret` (show, reset). Admins only (403
//! otherwise). Ids are ULID-like strings. Updates answer 204. The list is cursor
//! paginated (`page[size]`, `filter[name_contains]`, `filter[status]`).
//!
//! An active webhook is delivered like `--webhook`, signed with its own secret: one
//! subscribed to `zen:event-type:ticket.*` types gets those events, one subscribed to
//! `conditional_ticket_events` the trigger-style body (as if a trigger notified it on
//! every ticket change: the simulator has no triggers).

use std::sync::Arc;

use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::sim::directory::require_admin;
use crate::sim::error::ApiError;
use crate::sim::http::{Req, Resp, envelope, json_value};
use crate::sim::oauth::random;
use crate::sim::pagination;
use crate::sim::state::Account;
use crate::sim::webhooks::{Target, Wants};

/// A webhook as the API shows it (the secret is shown only by `signing_secret`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ApiWebhook {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub status: String,
    pub endpoint: String,
    pub http_method: String,
    pub request_format: String,
    pub subscriptions: Vec<String>,
    pub authentication: Option<Value>,
    pub custom_headers: Value,
    pub created_at: Timestamp,
    pub created_by: String,
    pub updated_at: Timestamp,
    pub updated_by: String,
    #[serde(skip)]
    pub secret: String,
    /// Keeps list order (creation order) apart from the random-looking id.
    #[serde(skip)]
    pub seq: u64,
}

impl ApiWebhook {
    /// Where an active webhook's deliveries go.
    pub fn target(&self) -> Option<Target> {
        if self.status != "active" || self.subscriptions.is_empty() {
            return None;
        }
        let events: Vec<String> = self
            .subscriptions
            .iter()
            .filter(|s| s.starts_with("zen:event-type:"))
            .cloned()
            .collect();
        let wants = if !events.is_empty() {
            Wants::Events(events)
        } else if self
            .subscriptions
            .iter()
            .any(|s| s == "conditional_ticket_events")
        {
            Wants::Trigger
        } else {
            return None;
        };
        Some(Target {
            url: self.endpoint.clone(),
            secret: Some(Arc::from(self.secret.as_bytes())),
            wants,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
struct WebhookWrite {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    http_method: Option<String>,
    #[serde(default)]
    request_format: Option<String>,
    #[serde(default)]
    subscriptions: Option<Vec<String>>,
    #[serde(default)]
    authentication: Option<Value>,
    #[serde(default)]
    custom_headers: Option<Value>,
}

/// Zendesk's webhook errors: `{"errors": [{"code", "title", "detail"}]}`.
fn invalid(title: &str, detail: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        json!({"errors": [{"code": "InvalidInput", "title": title, "detail": detail}]}),
    )
}

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        json!({"errors": [{"code": "WebhookNotFound", "title": "Webhook not found", "detail": "Webhook not found"}]}),
    )
}

/// Applies a write (all fields for create, the given ones for update); checks it.
fn apply(w: WebhookWrite, hook: &mut ApiWebhook) -> Result<(), ApiError> {
    if let Some(n) = w.name {
        hook.name = n;
    }
    if w.description.is_some() {
        hook.description = w.description;
    }
    if let Some(s) = w.status {
        hook.status = s;
    }
    if let Some(e) = w.endpoint {
        hook.endpoint = e;
    }
    if let Some(m) = w.http_method {
        hook.http_method = m.to_uppercase();
    }
    if let Some(f) = w.request_format {
        hook.request_format = f;
    }
    if let Some(s) = w.subscriptions {
        hook.subscriptions = s;
    }
    if w.authentication.is_some() {
        hook.authentication = w.authentication;
    }
    if let Some(h) = w.custom_headers {
        hook.custom_headers = h;
    }
    if hook.name.trim().is_empty() {
        return Err(invalid("Name is required", "name: cannot be blank"));
    }
    if !(hook.endpoint.starts_with("http://") || hook.endpoint.starts_with("https://")) {
        return Err(invalid(
            "Endpoint is invalid",
            "endpoint: must be an http(s) URL",
        ));
    }
    if !["active", "inactive"].contains(&hook.status.as_str()) {
        return Err(invalid("Status is invalid", "status: active or inactive"));
    }
    if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&hook.http_method.as_str()) {
        return Err(invalid("HTTP method is invalid", "http_method"));
    }
    if !["json", "xml", "form_encoded"].contains(&hook.request_format.as_str()) {
        return Err(invalid("Request format is invalid", "request_format"));
    }
    if hook
        .subscriptions
        .iter()
        .any(|s| s != "conditional_ticket_events" && !s.starts_with("zen:event-type:"))
    {
        return Err(invalid(
            "Subscriptions are invalid",
            "subscriptions: conditional_ticket_events or zen:event-type:… types",
        ));
    }
    Ok(())
}

fn new_id(a: &mut Account) -> String {
    format!("01{}", random(&mut a.token_rng, 24).to_uppercase())
}

/// `POST /api/v2/webhooks` → 201 `{"webhook"}`.
pub(crate) fn create(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    if let Some(from) = req.param("clone_webhook_id") {
        return clone(a, req, from.to_owned());
    }
    let (w, _): (WebhookWrite, _) = envelope(json_value(&req.body)?, "webhook")?;
    let by = req.caller.id.to_string();
    let id = new_id(a);
    let secret = random(&mut a.token_rng, 44);
    let seq = a.ids.seq();
    let mut hook = ApiWebhook {
        id: id.clone(),
        name: String::new(),
        description: None,
        status: "active".to_owned(),
        endpoint: String::new(),
        http_method: "POST".to_owned(),
        request_format: "json".to_owned(),
        subscriptions: Vec::new(),
        authentication: None,
        custom_headers: json!({}),
        created_at: req.now,
        created_by: by.clone(),
        updated_at: req.now,
        updated_by: by,
        secret,
        seq,
    };
    apply(w, &mut hook)?;
    a.api_webhooks.insert(id, hook.clone());
    Ok(Resp::json(StatusCode::CREATED, &json!({"webhook": hook})))
}

/// `POST /api/v2/webhooks?clone_webhook_id=ID` → 201 `{webhook}`: a copy with its own id
/// and signing secret.
fn clone(a: &mut Account, req: &Req, from: String) -> Result<Resp, ApiError> {
    let mut hook = a.api_webhooks.get(&from).cloned().ok_or_else(not_found)?;
    hook.id = new_id(a);
    hook.secret = random(&mut a.token_rng, 44);
    hook.seq = a.ids.seq();
    hook.created_at = req.now;
    hook.updated_at = req.now;
    hook.created_by = req.caller.id.to_string();
    hook.updated_by = hook.created_by.clone();
    a.api_webhooks.insert(hook.id.clone(), hook.clone());
    Ok(Resp::json(StatusCode::CREATED, &json!({"webhook": hook})))
}

/// `GET /api/v2/webhooks` (cursor pages; `filter[name_contains]`, `filter[status]`,
/// `sort=name|status`, `-` for descending).
pub(crate) fn list(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let name = req.param("filter[name_contains]").map(str::to_lowercase);
    let status = req.param("filter[status]");
    let mut hooks: Vec<&ApiWebhook> = a
        .api_webhooks
        .values()
        .filter(|h| {
            name.as_ref()
                .is_none_or(|n| h.name.to_lowercase().contains(n))
        })
        .filter(|h| status.is_none_or(|s| h.status == s))
        .collect();
    hooks.sort_by_key(|h| h.seq);
    match req.param("sort").map(|s| s.trim_start_matches('-')) {
        Some("name") => hooks.sort_by(|x, y| x.name.cmp(&y.name)),
        Some("status") => hooks.sort_by(|x, y| x.status.cmp(&y.status)),
        _ => {}
    }
    if req.param("sort").is_some_and(|s| s.starts_with('-')) {
        hooks.reverse();
    }
    // Cursors are positions in this order.
    let keys: Vec<u64> = (0..hooks.len() as u64).collect();
    let mut query = req.query.clone();
    if pagination::cursor_params(&query)?.is_none() {
        query.push(("page[size]".to_owned(), "100".to_owned()));
    }
    let url = format!("{}?", a.url("webhooks"));
    pagination::list(&query, "webhooks", &keys, true, &url, |i| hooks[i])
}

fn find<'a>(a: &'a mut Account, req: &Req) -> Result<&'a mut ApiWebhook, ApiError> {
    let id = req.token.as_deref().unwrap_or("");
    a.api_webhooks.get_mut(id).ok_or_else(not_found)
}

/// `GET /api/v2/webhooks/{id}`.
pub(crate) fn show(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let hook = find(a, req)?;
    Ok(Resp::ok(&json!({"webhook": hook})))
}

/// `PUT` and `PATCH` → 204: the fields given replace the webhook's (zenpy's `update`
/// sends only the changed ones); the result must still be a valid webhook.
pub(crate) fn update(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let (w, _): (WebhookWrite, Value) = envelope(json_value(&req.body)?, "webhook")?;
    let by = req.caller.id.to_string();
    let now = req.now;
    let hook = find(a, req)?;
    let mut next = hook.clone();
    apply(w, &mut next)?;
    next.updated_at = now;
    next.updated_by = by;
    *hook = next;
    Ok(Resp::no_content())
}

/// `DELETE /api/v2/webhooks/{id}` → 204.
pub(crate) fn delete(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let id = req.token.as_deref().unwrap_or("");
    a.api_webhooks.remove(id).ok_or_else(not_found)?;
    Ok(Resp::no_content())
}

/// `GET /api/v2/webhooks/{id}/signing_secret` → `{"signing_secret": {algorithm, secret}}`.
pub(crate) fn signing_secret(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let hook = find(a, req)?;
    Ok(Resp::ok(
        &json!({"signing_secret": {"algorithm": "SHA256", "secret": hook.secret}}),
    ))
}

/// `POST /api/v2/webhooks/{id}/signing_secret` → 201 with the new secret; the old one
/// stops signing at once.
pub(crate) fn reset_signing_secret(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let secret = random(&mut a.token_rng, 44);
    let hook = find(a, req)?;
    hook.secret = secret;
    Ok(Resp::json(
        StatusCode::CREATED,
        &json!({"signing_secret": {"algorithm": "SHA256", "secret": hook.secret}}),
    ))
}
