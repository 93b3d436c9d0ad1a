//! Account configuration objects: ticket fields (list/show/create/update/delete), brands
//! and groups (list/show; one default each), custom roles (list), sharing agreements
//! (list/show; empty unless seeded).

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::sim::error::ApiError;
use crate::sim::http::{Req, Resp, envelope, json_value};
use crate::sim::pagination::{ListBody, Tail};
use crate::sim::state::Account;
use crate::zendesk::models::FieldOption;

/// Custom field types Zendesk accepts.
const FIELD_TYPES: [&str; 12] = [
    "text",
    "textarea",
    "checkbox",
    "date",
    "integer",
    "decimal",
    "regexp",
    "partialcreditcard",
    "multiselect",
    "tagger",
    "lookup",
    "dropdown",
];

fn offset_all<T: serde::Serialize>(key: &'static str, items: Vec<T>) -> Resp {
    let count = items.len();
    Resp::ok(&ListBody {
        key,
        items,
        tail: Tail::Offset {
            next: None,
            previous: None,
            count,
        },
    })
}

/// `GET /api/v2/ticket_fields`.
pub(crate) fn fields(a: &mut Account, _req: &Req) -> Result<Resp, ApiError> {
    let items: Vec<_> = a.fields.values().map(|f| a.wire_field(f)).collect();
    Ok(offset_all("ticket_fields", items))
}

/// `GET /api/v2/ticket_fields/{id}`.
pub(crate) fn field(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let f = a.fields.get(&req.ids[0]).ok_or_else(ApiError::not_found)?;
    Ok(Resp::ok(&json!({"ticket_field": a.wire_field(f)})))
}

#[derive(Debug, Deserialize)]
struct FieldWrite {
    #[serde(default, rename = "type")]
    field_type: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    required: Option<bool>,
    #[serde(default)]
    custom_field_options: Option<Vec<FieldOption>>,
}

/// `POST /api/v2/ticket_fields` → 201.
pub(crate) fn create_field(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let (w, _): (FieldWrite, _) = envelope(json_value(&req.body)?, "ticket_field")?;
    let ty = w.field_type.unwrap_or_default();
    if !FIELD_TYPES.contains(&ty.as_str()) {
        return Err(ApiError::invalid("type", "Type: is invalid"));
    }
    let title = w.title.unwrap_or_default();
    if title.trim().is_empty() {
        return Err(ApiError::invalid_with(
            "title",
            "Title: cannot be blank",
            "BlankValue",
        ));
    }
    let options = w.custom_field_options.unwrap_or_default();
    if (ty == "tagger" || ty == "multiselect" || ty == "dropdown") && options.is_empty() {
        return Err(ApiError::invalid_with(
            "custom_field_options",
            "Field options: must have at least one option",
            "BlankValue",
        ));
    }
    let ty = if ty == "dropdown" {
        "tagger".to_owned()
    } else {
        ty
    };
    let id = a.add_field(&ty, &title, options, true, req.now);
    if let Some(f) = a.fields.get_mut(&id) {
        f.description = w.description.unwrap_or_default();
        f.field.required = w.required.unwrap_or(false);
        f.field.active = w.active.unwrap_or(true);
    }
    let f = &a.fields[&id];
    Ok(Resp::json(
        StatusCode::CREATED,
        &json!({"ticket_field": a.wire_field(f)}),
    ))
}

/// `PUT /api/v2/ticket_fields/{id}`.
pub(crate) fn update_field(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let (w, _): (FieldWrite, _) = envelope(json_value(&req.body)?, "ticket_field")?;
    let id = req.ids[0];
    let mut next_ids = Vec::new();
    if let Some(opts) = &w.custom_field_options {
        for o in opts {
            next_ids.push(if o.id == 0 { a.ids.object() } else { o.id });
        }
    }
    let f = a.fields.get_mut(&id).ok_or_else(ApiError::not_found)?;
    if let Some(t) = w.title.filter(|t| !t.trim().is_empty()) {
        f.field.title = t;
    }
    if let Some(d) = w.description {
        f.description = d;
    }
    if let Some(x) = w.active {
        f.field.active = x;
    }
    if let Some(x) = w.required {
        f.field.required = x;
    }
    if let Some(opts) = w.custom_field_options {
        f.field.custom_field_options = opts
            .into_iter()
            .zip(next_ids)
            .map(|(mut o, id)| {
                o.id = id;
                o
            })
            .collect();
    }
    f.field.updated_at = req.now;
    let f = &a.fields[&id];
    Ok(Resp::ok(&json!({"ticket_field": a.wire_field(f)})))
}

/// `DELETE /api/v2/ticket_fields/{id}` → 204 (system fields cannot be deleted: 403).
pub(crate) fn delete_field(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let f = a.fields.get(&req.ids[0]).ok_or_else(ApiError::not_found)?;
    if !f.removable {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            json!({"error": "Forbidden", "description": "You do not have access to this page. Please contact the account owner of this help desk for further help."}),
        ));
    }
    a.fields.remove(&req.ids[0]);
    Ok(Resp::no_content())
}

pub(crate) fn brands(a: &mut Account, _req: &Req) -> Result<Resp, ApiError> {
    Ok(offset_all("brands", a.brands.iter().collect()))
}

pub(crate) fn brand(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let b = a
        .brands
        .iter()
        .find(|b| b.id == req.ids[0])
        .ok_or_else(ApiError::not_found)?;
    Ok(Resp::ok(&json!({"brand": b})))
}

pub(crate) fn group(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let g = a
        .groups
        .iter()
        .find(|g| g.id == req.ids[0])
        .ok_or_else(ApiError::not_found)?;
    Ok(Resp::ok(&json!({"group": g})))
}

/// `GET /api/v2/custom_roles` (not paginated in Zendesk).
pub(crate) fn custom_roles(a: &mut Account, _req: &Req) -> Result<Resp, ApiError> {
    Ok(Resp::ok(&json!({"custom_roles": a.roles})))
}

pub(crate) fn sharing_agreements(a: &mut Account, _req: &Req) -> Result<Resp, ApiError> {
    Ok(Resp::ok(&json!({"sharing_agreements": a.agreements})))
}

pub(crate) fn sharing_agreement(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let s = a
        .agreements
        .iter()
        .find(|s| s.id == req.ids[0])
        .ok_or_else(ApiError::not_found)?;
    Ok(Resp::ok(&json!({"sharing_agreement": s})))
}
