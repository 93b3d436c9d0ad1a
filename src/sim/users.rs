//! Users: `me`, show, `show_many`, list, create and `create_or_update` (by email or
//! external_id). Every email that authenticates is an agent of the account.

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::sim::error::ApiError;
use crate::sim::http::{Req, Resp, envelope, id_list, json_value};
use crate::sim::pagination;
use crate::sim::state::Account;

/// `GET /api/v2/users/me`.
pub(crate) fn me(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let u = a
        .users
        .get(&req.caller.id)
        .ok_or_else(ApiError::not_found)?;
    Ok(Resp::ok(&json!({"user": u})))
}

/// `GET /api/v2/users/{id}`.
pub(crate) fn show(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let u = a.users.get(&req.ids[0]).ok_or_else(ApiError::not_found)?;
    Ok(Resp::ok(&json!({"user": u})))
}

/// `GET /api/v2/users/show_many?ids=…`.
pub(crate) fn show_many(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let users: Vec<_> = id_list(req.param("ids").unwrap_or(""))
        .iter()
        .filter_map(|id| a.users.get(id))
        .collect();
    Ok(Resp::ok(&json!({"users": users})))
}

/// `GET /api/v2/users`.
pub(crate) fn list(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let keys: Vec<u64> = a.users.keys().copied().collect();
    let url = format!("{}?", a.url("users.json"));
    pagination::list(&req.query, "users", &keys, true, &url, |i| {
        &a.users[&keys[i]]
    })
}

/// `GET /api/v2/users/search?query=…` (email, name or id, case-insensitive; `role:`
/// narrows) or `?external_id=…` → `{users, next_page, previous_page, count}`.
pub(crate) fn search(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let ext = req.param("external_id");
    let query = req.param("query").map(str::to_lowercase);
    if ext.is_none() && query.as_deref().is_none_or(|q| q.trim().is_empty()) {
        return Err(ApiError::bad_param(
            "InvalidSearchParameter",
            "query or external_id is required",
        ));
    }
    let mut role = None;
    let mut words = Vec::new();
    for w in query.as_deref().unwrap_or("").split_whitespace() {
        match w.strip_prefix("role:") {
            Some(r) => role = Some(r.to_owned()),
            None => words.push(w.trim_start_matches("email:").to_owned()),
        }
    }
    let keys: Vec<u64> = a
        .users
        .values()
        .filter(|u| ext.is_none_or(|x| u.external_id.as_deref() == Some(x)))
        .filter(|u| role.as_ref().is_none_or(|r| &u.role == r))
        .filter(|u| {
            words.iter().all(|w| {
                u.id.to_string() == *w
                    || u.email.as_deref().is_some_and(|e| e.contains(w.as_str()))
                    || u.name.to_lowercase().contains(w.as_str())
            })
        })
        .map(|u| u.id)
        .collect();
    let url = format!("{}?", a.url("users/search.json"));
    pagination::list(&req.query, "users", &keys, true, &url, |i| {
        &a.users[&keys[i]]
    })
}

#[derive(Debug, Deserialize)]
struct UserWrite {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    custom_role_id: Option<u64>,
    #[serde(default)]
    organization_id: Option<u64>,
}

/// Checks the role, custom role and organization a write names.
fn check_refs(a: &Account, w: &UserWrite) -> Result<(), ApiError> {
    if let Some(r) = &w.role
        && !["end-user", "agent", "admin"].contains(&r.as_str())
    {
        return Err(ApiError::invalid("role", "Role: is invalid"));
    }
    if let Some(c) = w.custom_role_id
        && !a.roles.iter().any(|r| r.id == c)
    {
        return Err(ApiError::invalid(
            "custom_role_id",
            "Custom role: is invalid",
        ));
    }
    if let Some(o) = w.organization_id
        && !a.organizations.contains_key(&o)
    {
        return Err(ApiError::invalid(
            "organization_id",
            "Organization: is invalid",
        ));
    }
    Ok(())
}

/// Applies role, custom role and organization to user `id` (agents join every brand).
fn apply_refs(a: &mut Account, id: u64, w: &UserWrite, now: jiff::Timestamp) {
    let Some(u) = a.users.get_mut(&id) else {
        return;
    };
    let was_staff = u.role != "end-user";
    if let Some(r) = &w.role {
        u.role = r.clone();
    }
    if let Some(c) = w.custom_role_id {
        u.custom_role_id = Some(c);
        if u.role == "end-user" {
            u.role = "agent".to_owned();
        }
    }
    if w.organization_id.is_some() {
        u.organization_id = w.organization_id;
    }
    if u.role == "admin" {
        u.custom_role_id = None;
    }
    u.updated_at = now;
    let staff = u.role != "end-user";
    if staff && !was_staff {
        a.join_all_brands(id, now);
    }
}

/// `PUT /api/v2/users/{id}` `{"user": {…}}`: name, email, role, custom_role_id,
/// organization_id, external_id. Changing a role or custom role needs an admin.
pub(crate) fn update(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let (w, _): (UserWrite, _) = envelope(json_value(&req.body)?, "user")?;
    let id = req.ids[0];
    if !a.users.contains_key(&id) {
        return Err(ApiError::not_found());
    }
    if w.role.is_some() || w.custom_role_id.is_some() {
        crate::sim::directory::require_admin(a, req)?;
    }
    check_refs(a, &w)?;
    if let Some(e) = &w.email {
        let key = e.to_lowercase();
        if !key.contains('@') {
            return Err(ApiError::invalid("email", "Email: is invalid"));
        }
        if a.users_by_email.get(&key).is_some_and(|other| *other != id) {
            return Err(ApiError::invalid_with(
                "email",
                &format!("Email: {key} is already being used by another user"),
                "DuplicateValue",
            ));
        }
        if let Some(u) = a.users.get_mut(&id) {
            if let Some(old) = u.email.replace(key.clone()) {
                a.users_by_email.remove(&old);
            }
            a.users_by_email.insert(key, id);
        }
    }
    if let Some(u) = a.users.get_mut(&id) {
        if let Some(n) = w.name.clone().filter(|n| !n.trim().is_empty()) {
            u.name = n;
        }
        if w.external_id.is_some() {
            u.external_id = w.external_id.clone();
        }
    }
    apply_refs(a, id, &w, req.now);
    Ok(Resp::ok(&json!({"user": a.users[&id]})))
}

/// `POST /api/v2/users` (create) and `POST /api/v2/users/create_or_update` (201 when
/// created, 200 when an existing user matched by email or external_id was updated).
pub(crate) fn create_or_update(a: &mut Account, req: &Req, upsert: bool) -> Result<Resp, ApiError> {
    let (w, _): (UserWrite, _) = envelope(json_value(&req.body)?, "user")?;
    let name = w.name.clone().unwrap_or_default();
    if name.trim().is_empty() && w.email.is_none() {
        return Err(ApiError::invalid_with(
            "name",
            "Name: is too short (minimum one character)",
            "ValueTooShort",
        ));
    }
    let role = w.role.clone().unwrap_or_else(|| "end-user".to_owned());
    check_refs(a, &w)?;
    if role != "end-user" || w.custom_role_id.is_some() {
        crate::sim::directory::require_admin(a, req)?;
    }
    if let Some(e) = &w.email
        && !e.contains('@')
    {
        return Err(ApiError::invalid("email", "Email: is invalid"));
    }
    let existing = w
        .email
        .as_ref()
        .and_then(|e| a.users_by_email.get(&e.to_lowercase()).copied())
        .or_else(|| {
            w.external_id.as_ref().and_then(|x| {
                a.users
                    .values()
                    .find(|u| u.external_id.as_deref() == Some(x.as_str()))
                    .map(|u| u.id)
            })
        });
    if let Some(id) = existing {
        if !upsert {
            let email = w.email.clone().unwrap_or_default();
            return Err(ApiError::invalid_with(
                "email",
                &format!("Email: {email} is already being used by another user"),
                "DuplicateValue",
            ));
        }
        if let Some(u) = a.users.get_mut(&id) {
            if let Some(n) = w.name.clone().filter(|n| !n.trim().is_empty()) {
                u.name = n;
            }
            if w.external_id.is_some() {
                u.external_id = w.external_id.clone();
            }
            u.updated_at = req.now;
        }
        apply_refs(a, id, &w, req.now);
        let u = &a.users[&id];
        return Ok(Resp::ok(&json!({"user": u})));
    }
    let id = match &w.email {
        Some(e) => a.ensure_user(e, &role, req.now),
        None => {
            let placeholder = format!("user-{}@users.sim.invalid", a.users.len() + 1);
            let id = a.ensure_user(&placeholder, &role, req.now);
            a.users_by_email.remove(&placeholder);
            if let Some(u) = a.users.get_mut(&id) {
                u.email = None;
            }
            id
        }
    };
    if let Some(u) = a.users.get_mut(&id) {
        if !name.trim().is_empty() {
            u.name = name;
        }
        u.external_id = w.external_id.clone();
    }
    apply_refs(a, id, &w, req.now);
    Ok(Resp::json(
        StatusCode::CREATED,
        &json!({"user": a.users[&id]}),
    ))
}
