//! Zendesk Support API wire types, shared by the client and the simulator.
//!
//! Deserialisation is tolerant: unknown fields are ignored and optional fields default,
//! because real Zendesk adds fields over time. Serialisation writes what Zendesk writes.
//! Times are `jiff::Timestamp`, which (de)serialises as ISO-8601 UTC (`2026-11-23T05:29:05Z`).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Ticket status as Zendesk names it. `deleted` only appears in incremental exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    New,
    Open,
    Pending,
    Hold,
    Solved,
    Closed,
    Deleted,
}

impl Status {
    /// The name Zendesk uses on the wire and in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Pending => "pending",
            Status::Hold => "hold",
            Status::Solved => "solved",
            Status::Closed => "closed",
            Status::Deleted => "deleted",
        }
    }

    /// Parses a wire/config name; `None` for anything Zendesk does not define.
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "new" => Status::New,
            "open" => Status::Open,
            "pending" => Status::Pending,
            "hold" => Status::Hold,
            "solved" => Status::Solved,
            "closed" => Status::Closed,
            "deleted" => Status::Deleted,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a ticket or comment came to be (`via.channel` is "api", "web", "email", …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Via {
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub source: serde_json::Value,
}

/// One custom field value on a ticket. Values are strings, numbers, booleans, arrays or null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomField {
    pub id: u64,
    #[serde(default)]
    pub value: serde_json::Value,
}

/// A ticket as Zendesk returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: u64,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub raw_subject: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub status: Status,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default, rename = "type")]
    pub ticket_type: Option<String>,
    #[serde(default)]
    pub requester_id: Option<u64>,
    #[serde(default)]
    pub submitter_id: Option<u64>,
    #[serde(default)]
    pub assignee_id: Option<u64>,
    #[serde(default)]
    pub group_id: Option<u64>,
    #[serde(default)]
    pub organization_id: Option<u64>,
    #[serde(default)]
    pub brand_id: Option<u64>,
    #[serde(default)]
    pub collaborator_ids: Vec<u64>,
    #[serde(default)]
    pub follower_ids: Vec<u64>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub custom_fields: Vec<CustomField>,
    #[serde(default)]
    pub via: Via,
    #[serde(default)]
    pub sharing_agreement_ids: Vec<u64>,
    #[serde(default)]
    pub is_public: bool,
    #[serde(default)]
    pub has_incidents: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An attachment on a comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: u64,
    #[serde(default)]
    pub file_name: String,
    #[serde(default)]
    pub content_url: String,
    #[serde(default)]
    pub content_type: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub inline: bool,
}

/// A ticket comment (`type` is always "Comment" or "VoiceComment").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: u64,
    #[serde(rename = "type", default = "comment_type")]
    pub comment_type: String,
    #[serde(default)]
    pub author_id: u64,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub html_body: String,
    #[serde(default)]
    pub plain_body: String,
    pub public: bool,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    #[serde(default)]
    pub via: Via,
    pub created_at: Timestamp,
    #[serde(default)]
    pub metadata: serde_json::Value,
}

fn comment_type() -> String {
    "Comment".to_owned()
}

/// The comment part of a ticket create or update request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewComment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_body: Option<String>,
    /// Zendesk defaults a missing `public` to true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<u64>,
    /// Upload tokens from `POST /api/v2/uploads`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uploads: Vec<String>,
}

/// The body of `POST /api/v2/tickets` and `PUT /api/v2/tickets/{id}` inside `{"ticket": …}`.
/// Every field is optional; absent means "leave as is".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TicketWrite {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<NewComment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub ticket_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand_id: Option<u64>,
    /// Replaces all tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<Vec<CustomField>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe_update: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_stamp: Option<Timestamp>,
    /// Custom metadata kept in this update's audit (Zendesk shows it as
    /// `metadata.custom`): how a write is recognised later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

/// `{"ticket": …}`: request and single-ticket response envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEnvelope<T> {
    pub ticket: T,
}

/// A user (agents, end users, the bridge's own API user).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub custom_role_id: Option<u64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A custom ticket field definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketField {
    pub id: u64,
    #[serde(default)]
    pub url: String,
    #[serde(rename = "type", default)]
    pub field_type: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub custom_field_options: Vec<FieldOption>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One option of a drop-down field: `value` is the tag it sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldOption {
    #[serde(default)]
    pub id: u64,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Brand {
    pub id: u64,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub subdomain: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub default: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: u64,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub is_public: bool,
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub deleted: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomRole {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub role_type: u64,
    /// `ticket_access` is one of all, within-groups, within-groups-and-public-groups,
    /// within-organization, assigned-only.
    #[serde(default)]
    pub configuration: serde_json::Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// `POST /api/v2/uploads` answer inside `{"upload": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    pub token: String,
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    pub attachment: Attachment,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// A native Zendesk sharing agreement (read-only for sharebridge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharingAgreement {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub agreement_type: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub partner_name: Option<String>,
    #[serde(default)]
    pub remote_subdomain: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Cursor pagination metadata: `meta` of a cursor-paginated list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CursorMeta {
    pub has_more: bool,
    #[serde(default)]
    pub after_cursor: Option<String>,
    #[serde(default)]
    pub before_cursor: Option<String>,
}

/// Cursor pagination links: `links` of a cursor-paginated list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CursorLinks {
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub prev: Option<String>,
}

/// `GET /api/v2/incremental/tickets/cursor.json` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncrementalTickets {
    pub tickets: Vec<Ticket>,
    #[serde(default)]
    pub after_url: Option<String>,
    #[serde(default)]
    pub after_cursor: Option<String>,
    #[serde(default)]
    pub before_url: Option<String>,
    #[serde(default)]
    pub before_cursor: Option<String>,
    pub end_of_stream: bool,
}

/// One entry of `GET /api/v2/incremental/ticket_events.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEvent {
    pub id: u64,
    pub ticket_id: u64,
    /// Unix seconds.
    pub timestamp: i64,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub updater_id: Option<u64>,
    #[serde(default)]
    pub via: serde_json::Value,
    #[serde(default)]
    pub event_type: String,
    #[serde(default)]
    pub child_events: Vec<ChildEvent>,
}

/// A child event: `event_type` "Comment" (with comment fields) or "Change" / "Create"
/// (with `field_name`, `previous_value`, `value`). Unknown kinds keep their raw fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildEvent {
    pub id: u64,
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_value: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// The comment a `CommentPrivacyChange` or `CommentRedactionEvent` is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<u64>,
}

/// `GET /api/v2/incremental/ticket_events.json` answer (time-based pagination).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncrementalTicketEvents {
    pub ticket_events: Vec<TicketEvent>,
    #[serde(default)]
    pub next_page: Option<String>,
    #[serde(default)]
    pub end_time: Option<i64>,
    pub end_of_stream: bool,
    #[serde(default)]
    pub count: u64,
}

/// Zendesk's error bodies. 401: `{"error": "Couldn't authenticate you"}`; 404:
/// `{"error": "RecordNotFound", "description": "Not found"}`; 422: `RecordInvalid` with
/// `details`. `error` may be a string or an object in the wild, so it stays a `Value`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// The `audit` Zendesk returns with a ticket create or update: what that write changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    #[serde(default)]
    pub id: u64,
    #[serde(default)]
    pub events: Vec<AuditEvent>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// `{"system": {…}, "custom": {…}}`; `custom` holds what the write asked to keep.
    #[serde(default)]
    pub metadata: serde_json::Value,
}

/// One event of an [`Audit`]: `type` "Comment" (its `id` is the comment's id), "Change",
/// "Create", … Other fields are kept raw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    #[serde(default)]
    pub id: u64,
    #[serde(rename = "type", default)]
    pub event_type: String,
    #[serde(default)]
    pub author_id: Option<u64>,
}

impl Audit {
    /// A string the write kept in `metadata.custom[key]`.
    pub fn custom(&self, key: &str) -> Option<&str> {
        self.metadata.get("custom")?.get(key)?.as_str()
    }

    /// The id of the comment this write added, if it added one.
    pub fn comment_id(&self) -> Option<u64> {
        self.events
            .iter()
            .find(|e| e.event_type == "Comment" || e.event_type == "VoiceComment")
            .map(|e| e.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_tolerates_unknown_and_missing_fields() {
        let json = r#"{"id": 7, "status": "open", "created_at": "2026-11-23T05:29:05Z",
            "updated_at": "2026-11-23T05:29:05Z", "brand_new_field": {"x": 1}}"#;
        let t: Ticket = serde_json::from_str(json).unwrap();
        assert_eq!(t.id, 7);
        assert_eq!(t.status, Status::Open);
        assert!(t.tags.is_empty());
    }

    #[test]
    fn ticket_write_skips_absent_fields() {
        let w = TicketWrite {
            status: Some(Status::Hold),
            ..Default::default()
        };
        assert_eq!(serde_json::to_string(&w).unwrap(), r#"{"status":"hold"}"#);
    }

    #[test]
    fn audit_names_the_comment_it_added() {
        let json = r#"{"id": 9, "events": [{"id": 1, "type": "Change", "field_name": "status"},
            {"id": 77, "type": "Comment", "body": "x", "public": true}]}"#;
        let a: Audit = serde_json::from_str(json).unwrap();
        assert_eq!(a.comment_id(), Some(77));
        assert_eq!(Audit::default().comment_id(), None);
    }

    #[test]
    fn status_names_round_trip() {
        for s in [
            Status::New,
            Status::Open,
            Status::Pending,
            Status::Hold,
            Status::Solved,
            Status::Closed,
            Status::Deleted,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("reopened"), None);
    }
}
