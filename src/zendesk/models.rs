//! Zendesk Support API wire types, shared by the client and the simulator; the body
//! Zendesk posts to a webhook is `models/webhook_body.rs`.
//!
//! Deserialisation is tolerant: unknown fields are ignored and optional fields default,
//! because real Zendesk adds fields over time. Serialisation writes what Zendesk writes.
//! Times are `jiff::Timestamp`, which (de)serialises as ISO-8601 UTC (`2026-11-23T05:29:05Z`).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

mod webhook_body;
pub use webhook_body::{
    LooseId, WebhookAuthor, WebhookBody, WebhookComment, WebhookDetail, WebhookEvent,
    WebhookEventMeta, WebhookSequence, WebhookTicketRef, WebhookVia,
};

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
    /// A task's due date (Zendesk keeps it for `type = "task"` only).
    #[serde(default)]
    pub due_at: Option<Timestamp>,
    #[serde(default)]
    pub ticket_form_id: Option<u64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An attachment on a comment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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

/// A list of strings, or one string standing for a list of one.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
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
    /// Upload tokens from `POST /api/v2/uploads` (Zendesk also takes one token as a
    /// string, as zenpy's README sends it).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
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
    /// `Some(None)` clears it (sent as `null`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub priority: Option<Option<String>>,
    /// `Some(None)` clears it (sent as `null`).
    #[serde(
        default,
        rename = "type",
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub ticket_type: Option<Option<String>>,
    /// A task's due date; `Some(None)` clears it (sent as `null`). Read leniently, as
    /// clients send it: an RFC 3339 time, a time without offset (UTC), or a date (noon UTC).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "double_option::serialize",
        deserialize_with = "lenient_time"
    )]
    pub due_at: Option<Option<Timestamp>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_form_id: Option<u64>,
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

/// `Option<Option<T>>` on the wire: absent = `None`, `null` = `Some(None)`, a value =
/// `Some(Some(v))` (a write that clears a field says so).
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// A due date as clients write it: `2026-12-24T10:00:00Z`, `2026-12-24T10:00:00+01:00`,
/// `2026-12-24T10:00:00` (UTC), or `2026-12-24` (noon UTC); `null` clears.
fn lenient_time<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<Timestamp>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(Some(None));
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(Some(None));
    }
    let utc =
        |dt: jiff::civil::DateTime| dt.to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp());
    let day = || {
        text.parse::<jiff::civil::Date>()
            .ok()
            .filter(|_| !text.contains(['T', 't', ' ']))
            .and_then(|day| utc(day.at(12, 0, 0, 0)).ok())
    };
    text.parse::<Timestamp>()
        .ok()
        .or_else(day)
        .or_else(|| {
            text.parse::<jiff::civil::DateTime>()
                .ok()
                .and_then(|dt| utc(dt).ok())
        })
        .map(|t| Some(Some(t)))
        .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a time")))
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
    /// The user's default organization (end users; agents may have one too).
    #[serde(default)]
    pub organization_id: Option<u64>,
    /// The agent's default group.
    #[serde(default)]
    pub default_group_id: Option<u64>,
    /// Which tickets the user may access without a custom role (plans without custom
    /// roles): `organization`, `groups`, `assigned`, `requested` or null (all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_restriction: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An organization (`GET /api/v2/organizations`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub id: u64,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub domain_names: Vec<String>,
    #[serde(default)]
    pub group_id: Option<u64>,
    /// End users of the organization see each other's tickets.
    #[serde(default)]
    pub shared_tickets: bool,
    #[serde(default)]
    pub shared_comments: bool,
    #[serde(default)]
    pub tags: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An agent's membership of a group (`GET /api/v2/group_memberships`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMembership {
    pub id: u64,
    #[serde(default)]
    pub url: String,
    pub user_id: u64,
    pub group_id: u64,
    #[serde(default)]
    pub default: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An agent's membership of a brand (`GET /api/v2/brand_agents`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrandAgent {
    pub id: u64,
    #[serde(default)]
    pub url: String,
    pub user_id: u64,
    pub brand_id: u64,
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

/// A ticket form (`GET /api/v2/ticket_forms`): which fields a ticket shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketForm {
    pub id: u64,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub end_user_visible: bool,
    #[serde(default)]
    pub position: u64,
    #[serde(default)]
    pub ticket_field_ids: Vec<u64>,
    #[serde(default)]
    pub in_all_brands: bool,
    #[serde(default)]
    pub restricted_brand_ids: Vec<u64>,
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
        let clear = TicketWrite {
            priority: Some(None),
            ticket_type: Some(Some("task".into())),
            ..Default::default()
        };
        let text = serde_json::to_string(&clear).unwrap();
        assert_eq!(text, r#"{"priority":null,"type":"task"}"#);
        let back: TicketWrite = serde_json::from_str(&text).unwrap();
        assert_eq!(back, clear);
        let none: TicketWrite = serde_json::from_str("{}").unwrap();
        assert_eq!(none.priority, None);
        let due = |text: &str| {
            serde_json::from_str::<TicketWrite>(&format!(r#"{{"due_at": {text}}}"#))
                .map(|w| w.due_at)
                .ok()
        };
        let noon: Timestamp = "2026-12-24T12:00:00Z".parse().unwrap();
        for text in [
            r#""2026-12-24T12:00:00Z""#,
            r#""2026-12-24T13:00:00+01:00""#,
            r#""2026-12-24T12:00:00""#,
            r#""2026-12-24""#,
        ] {
            assert_eq!(due(text), Some(Some(Some(noon))), "{text}");
        }
        assert_eq!(due("null"), Some(Some(None)));
        assert_eq!(due(r#""soon""#), None);
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
    fn webhook_bodies_of_both_kinds() {
        let event =
            br#"{"type": "zen:event-type:ticket.comment_added", "time": "2026-11-23T05:29:05Z",
            "detail": {"id": "42", "actor_id": "7", "status": "HOLD", "via": {"channel": "web"}},
            "event": {"comment": {"id": "99", "body": "hi", "is_public": false,
                "author": {"id": "7", "name": "Ann"}},
                "meta": {"sequence": {"id": "s1", "position": 2, "total": 3}}}}"#;
        let b = WebhookBody::parse(event).unwrap();
        assert_eq!((b.ticket_id(), b.updater_id()), (Some(42), Some(7)));
        let d = b.detail.as_ref().unwrap();
        assert_eq!(d.status(), Some(Status::Hold));
        assert_eq!(d.via.as_ref().unwrap().channel.as_deref(), Some("web"));
        let e = b.event.as_ref().unwrap();
        assert_eq!(e.comment.as_ref().unwrap().id.get(), Some(99));
        assert_eq!(
            e.meta.as_ref().unwrap().sequence.as_ref().unwrap().position,
            Some(2)
        );
        let trigger =
            WebhookBody::parse(br#"{"ticket_id": "{{ticket.id}}", "current_user_id": 5}"#).unwrap();
        assert_eq!((trigger.ticket_id(), trigger.updater_id()), (None, Some(5)));
        assert_eq!(
            WebhookBody::parse(br#"{"ticket": {"id": 7}}"#)
                .unwrap()
                .ticket_id(),
            Some(7)
        );
        assert_eq!(
            WebhookBody::parse(br#"{"ticket_id": -1}"#)
                .unwrap()
                .ticket_id(),
            None
        );
        let odd = WebhookBody::parse(br#"{"detail": 5, "ticket_id": 3, "type": 1}"#).unwrap();
        assert_eq!(
            (odd.ticket_id(), odd.detail, odd.event_type),
            (Some(3), None, None)
        );
        assert_eq!(WebhookBody::parse(b"[1]").and_then(|b| b.ticket_id()), None);
        assert_eq!(WebhookBody::parse(b"not json"), None);
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
