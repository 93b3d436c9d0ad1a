//! Ticket forms: list, show, create, delete (`/api/v2/ticket_forms`). Every account has
//! one default form, which a new ticket gets when its write names none; a ticket write
//! naming a form that does not exist (or is inactive) is refused with 422.

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::sim::directory::require_admin;
use crate::sim::error::ApiError;
use crate::sim::http::{Req, Resp, envelope, json_value};
use crate::sim::state::Account;

/// `GET /api/v2/ticket_forms` (Zendesk does not paginate it; `?active=true` filters).
pub(crate) fn list(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let active_only = req.param("active").is_some_and(|v| v == "true");
    let items: Vec<_> = a
        .forms
        .iter()
        .filter(|f| !active_only || f.active)
        .cloned()
        .collect();
    let count = items.len();
    Ok(Resp::ok(&json!({
        "ticket_forms": items,
        "next_page": null,
        "previous_page": null,
        "count": count,
    })))
}

/// `GET /api/v2/ticket_forms/{id}`.
pub(crate) fn show(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let f = a
        .forms
        .iter()
        .find(|f| f.id == req.ids[0])
        .ok_or_else(ApiError::not_found)?;
    Ok(Resp::ok(&json!({"ticket_form": f})))
}

#[derive(Debug, Deserialize)]
struct FormWrite {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    ticket_field_ids: Option<Vec<u64>>,
}

/// `POST /api/v2/ticket_forms` → 201 (admins).
pub(crate) fn create(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let (w, _): (FormWrite, _) = envelope(json_value(&req.body)?, "ticket_form")?;
    let name = w
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_with("name", "Name: cannot be blank", "BlankValue"))?;
    let id = a.add_form(&name, false, req.now).id;
    let Some(form) = a.forms.iter_mut().find(|f| f.id == id) else {
        return Err(ApiError::not_found());
    };
    if let Some(active) = w.active {
        form.active = active;
    }
    if let Some(ids) = w.ticket_field_ids {
        form.ticket_field_ids = ids;
    }
    Ok(Resp::json(
        StatusCode::CREATED,
        &json!({"ticket_form": form}),
    ))
}

/// `DELETE /api/v2/ticket_forms/{id}` → 204 (admins; the default form cannot go).
pub(crate) fn delete(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let id = req.ids[0];
    let pos = a
        .forms
        .iter()
        .position(|f| f.id == id)
        .ok_or_else(ApiError::not_found)?;
    if a.forms[pos].default {
        return Err(ApiError::invalid(
            "default",
            "Default: the default ticket form cannot be deleted",
        ));
    }
    a.forms.remove(pos);
    Ok(Resp::no_content())
}

/// Whether a ticket write may name this form.
pub(crate) fn usable(a: &Account, id: u64) -> bool {
    a.forms.iter().any(|f| f.id == id && f.active)
}
