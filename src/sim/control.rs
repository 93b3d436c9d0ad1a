//! The control endpoints under `/sim/*` (never faulted, limited or counted): `GET
//! /sim/stats` and `POST /sim/stats/reset`, `GET /sim/health`, `POST /sim/oauth/clients`,
//! `GET|PUT /sim/knobs`, `POST /sim/clock/advance`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::sim::clock::seconds;
use crate::sim::config::FaultKind;
use crate::sim::error::SimError;
use crate::sim::http::Resp;
use crate::sim::oauth;
use crate::sim::routes::{invalid_endpoint, plain};
use crate::sim::server::AccountHandle;
use crate::sim::state::Account;
use crate::sim::stats::Stats;

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

pub(crate) fn apply_knobs(h: &AccountHandle, p: &KnobsPatch) -> Result<(), String> {
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
pub(crate) async fn control(State(h): State<Arc<AccountHandle>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let h = &*h;
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
        ("POST", "/sim/users") => {
            let v = match parse(&bytes) {
                Ok(v) => v,
                Err(r) => return *r,
            };
            let email = v["email"].as_str().unwrap_or("").to_owned();
            let role = v["role"].as_str().unwrap_or("agent").to_owned();
            if !email.contains('@') || !["end-user", "agent", "admin"].contains(&role.as_str()) {
                return control_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "expected {email, role: end-user|agent|admin}",
                );
            }
            let now = h.shared.clock.now();
            let mut a = h.lock();
            let id = a.set_role(&email, &role, now);
            control_json(StatusCode::OK, &json!({"user": a.users[&id]}))
        }
        ("PUT" | "POST", "/sim/brand_agents") => {
            let v = match parse(&bytes) {
                Ok(v) => v,
                Err(r) => return *r,
            };
            let (Some(user), Some(brands)) = (v["user_id"].as_u64(), v["brand_ids"].as_array())
            else {
                return control_error(
                    StatusCode::BAD_REQUEST,
                    "expected {user_id, brand_ids: [...]}",
                );
            };
            let brands: Vec<u64> = brands.iter().filter_map(Value::as_u64).collect();
            let now = h.shared.clock.now();
            let mut a = h.lock();
            if !a.users.contains_key(&user)
                || brands.iter().any(|b| !a.brands.iter().any(|x| x.id == *b))
            {
                return control_error(StatusCode::UNPROCESSABLE_ENTITY, "unknown user or brand");
            }
            a.set_brand_memberships(user, &brands, now);
            let list: Vec<_> = a
                .brand_agents
                .values()
                .filter(|m| m.user_id == user)
                .cloned()
                .collect();
            control_json(StatusCode::OK, &json!({"brand_agents": list}))
        }
        ("POST", "/sim/oauth/revoke") => {
            let v = match parse(&bytes) {
                Ok(v) => v,
                Err(r) => return *r,
            };
            let token = v["token"].as_str().unwrap_or("");
            let found = h.lock().revoke_access(token);
            control_json(StatusCode::OK, &json!({"revoked": found}))
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
