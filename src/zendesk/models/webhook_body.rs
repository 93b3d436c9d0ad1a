//! The body Zendesk posts to a webhook: an event-subscribed webhook (`detail` = the
//! ticket, `event` = what happened) or the JSON a trigger's webhook action was given.
//!
//! Architecture invariant: tolerant to the last field: unknown fields are ignored and a
//! value of the wrong type reads as absent, never as an error; decides nothing.

use serde::{Deserialize, Serialize};

use super::Status;

/// An id Zendesk may send as a number or a string (event webhooks send strings; a
/// trigger body has whatever its template made of `{{ticket.id}}`). Anything that is not a
/// positive integer reads as absent, never as an error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LooseId(pub Option<u64>);

impl<'de> Deserialize<'de> for LooseId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<LooseId, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(LooseId(match v {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }))
    }
}

impl LooseId {
    /// The id, if it is a positive integer.
    pub fn get(self) -> Option<u64> {
        self.0.filter(|&id| id > 0)
    }
}

/// A value of the wrong type reads as absent: one odd field never hides the rest.
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

/// A webhook body as Zendesk posts it: an event-subscribed webhook (`type`
/// `zen:event-type:ticket.…`, `detail` = the ticket, `event` = what happened) or the JSON
/// a trigger's webhook action was given (`{"ticket_id": "{{ticket.id}}", …}`). Every
/// field is optional: unknown fields are ignored, odd values read as absent.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WebhookBody {
    #[serde(default, rename = "type", deserialize_with = "lenient")]
    pub event_type: Option<String>,
    /// When the event happened (ISO-8601).
    #[serde(default, deserialize_with = "lenient")]
    pub time: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub detail: Option<WebhookDetail>,
    #[serde(default, deserialize_with = "lenient")]
    pub event: Option<WebhookEvent>,
    /// Trigger bodies.
    #[serde(default)]
    pub ticket_id: LooseId,
    #[serde(default)]
    pub current_user_id: LooseId,
    /// A trigger body shaped `{"ticket": {"id": …}}`.
    #[serde(default, deserialize_with = "lenient")]
    pub ticket: Option<WebhookTicketRef>,
}

/// `{"id": …}` inside a trigger body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WebhookTicketRef {
    #[serde(default)]
    pub id: LooseId,
}

/// `detail` of a ticket event webhook: the ticket after the change (ids are strings,
/// status and priority upper case), who made it and through which channel.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WebhookDetail {
    #[serde(default)]
    pub id: LooseId,
    #[serde(default)]
    pub actor_id: LooseId,
    #[serde(default)]
    pub brand_id: LooseId,
    #[serde(default)]
    pub group_id: LooseId,
    #[serde(default)]
    pub assignee_id: LooseId,
    #[serde(default)]
    pub requester_id: LooseId,
    #[serde(default)]
    pub organization_id: LooseId,
    #[serde(default, deserialize_with = "lenient")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub priority: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient")]
    pub is_public: Option<bool>,
    #[serde(default, deserialize_with = "lenient")]
    pub external_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub via: Option<WebhookVia>,
}

impl WebhookDetail {
    /// `status` as the [`Status`] it names (`"HOLD"` → hold).
    pub fn status(&self) -> Option<Status> {
        self.status
            .as_deref()
            .and_then(|s| Status::parse(&s.to_lowercase()))
    }
}

/// `detail.via` of an event webhook.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WebhookVia {
    #[serde(default, deserialize_with = "lenient")]
    pub channel: Option<String>,
}

/// `event` of a ticket event webhook: the comment for comment events, `current` /
/// `previous` for field changes, and `meta.sequence` (the events of one action share its
/// `id`; `position` numbers them, in no guaranteed order).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WebhookEvent {
    #[serde(default, deserialize_with = "lenient")]
    pub comment: Option<WebhookComment>,
    #[serde(default, deserialize_with = "lenient")]
    pub current: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "lenient")]
    pub previous: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "lenient")]
    pub meta: Option<WebhookEventMeta>,
}

/// `event.comment` of `ticket.comment_added` (whole), `comment_made_private` and
/// `comment_redacted` (id and visibility at least).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WebhookComment {
    #[serde(default)]
    pub id: LooseId,
    #[serde(default, deserialize_with = "lenient")]
    pub body: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub is_public: Option<bool>,
    #[serde(default, deserialize_with = "lenient")]
    pub author: Option<WebhookAuthor>,
}

/// `event.comment.author`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WebhookAuthor {
    #[serde(default)]
    pub id: LooseId,
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub is_staff: Option<bool>,
}

/// `event.meta`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WebhookEventMeta {
    #[serde(default, deserialize_with = "lenient")]
    pub sequence: Option<WebhookSequence>,
}

/// `event.meta.sequence`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WebhookSequence {
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub position: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    pub total: Option<u64>,
}

impl WebhookBody {
    /// Parses a body; `None` when it is not a JSON object.
    pub fn parse(body: &[u8]) -> Option<WebhookBody> {
        serde_json::from_slice(body).ok()
    }

    /// The ticket it is about: a trigger's `ticket_id` (or `ticket.id`), an event's
    /// `detail.id`.
    pub fn ticket_id(&self) -> Option<u64> {
        self.ticket_id
            .get()
            .or_else(|| self.detail.as_ref().and_then(|d| d.id.get()))
            .or_else(|| self.ticket.as_ref().and_then(|t| t.id.get()))
    }

    /// Who made the change: a trigger's `current_user_id`, an event's `detail.actor_id`.
    pub fn updater_id(&self) -> Option<u64> {
        self.current_user_id
            .get()
            .or_else(|| self.detail.as_ref().and_then(|d| d.actor_id.get()))
    }
}
