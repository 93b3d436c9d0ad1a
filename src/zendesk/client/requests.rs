//! Request bodies the client sends that `models.rs` does not define (user upsert, ticket
//! field create). Kept here rather than in `models.rs`, which the simulator owns.
//!
//! Must not: hold response types (those are `models.rs`).

use serde::{Deserialize, Serialize};

use crate::zendesk::models::FieldOption;

/// `POST /api/v2/users/create_or_update` body inside `{"user": …}`; Zendesk matches an
/// existing user by `email` or `external_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserWrite {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// end-user, agent or admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_role_id: Option<u64>,
}

/// `POST /api/v2/ticket_fields` body inside `{"ticket_field": …}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TicketFieldWrite {
    /// text, textarea, checkbox, date, integer, decimal, regexp, tagger, multiselect, …
    #[serde(rename = "type")]
    pub field_type: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Options of drop-down (`tagger`) fields; `id` is ignored on create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_field_options: Vec<FieldOption>,
}
