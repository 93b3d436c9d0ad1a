//! The Webhooks API's wire types (developer.zendesk.com/api-reference/webhooks/
//! webhooks-api/webhooks): a webhook as Zendesk shows it, what the bridge writes, and
//! the signing secret's envelope. The calls themselves are `client::webhooks`.
//!
//! Tolerant of fields Zendesk adds; ids are strings (`01GC8EF2W3QZVQ8EZ6PH9NDYXD`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A webhook as `GET /api/v2/webhooks[/{id}]` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// `active` or `inactive`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub http_method: String,
    #[serde(default)]
    pub request_format: String,
    /// Event types (`zen:event-type:ticket.comment_added`), or
    /// `conditional_ticket_events` for a trigger's webhook.
    #[serde(default)]
    pub subscriptions: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// The body of a create (`POST`) or update (`PUT`) under `{"webhook": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookWrite {
    pub name: String,
    pub status: String,
    pub endpoint: String,
    pub http_method: String,
    pub request_format: String,
    pub subscriptions: Vec<String>,
    pub description: String,
}

/// `{"signing_secret": {"algorithm": "SHA256", "secret": "…"}}`. `Debug` hides it.
#[derive(Clone, Deserialize)]
pub struct SigningSecret {
    #[serde(default)]
    pub algorithm: String,
    pub secret: String,
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningSecret")
            .field("algorithm", &self.algorithm)
            .field("secret", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_shapes_decode() {
        let w: Webhook = serde_json::from_str(
            r#"{"id": "01GC8EF2W3QZVQ8EZ6PH9NDYXD", "name": "Example", "status": "active",
                "endpoint": "https://example.com/status/200", "http_method": "POST",
                "request_format": "json", "subscriptions": ["conditional_ticket_events"],
                "created_at": "2020-10-20T08:16:28Z", "created_by": "1234567",
                "authentication": {"type": "basic_auth", "add_position": "header"}}"#,
        )
        .unwrap();
        assert_eq!(w.id, "01GC8EF2W3QZVQ8EZ6PH9NDYXD");
        assert_eq!(w.subscriptions, vec!["conditional_ticket_events"]);
        let s: SigningSecret =
            serde_json::from_str(r#"{"algorithm": "SHA256", "secret": "dGhpcyBpcyBh"}"#).unwrap();
        assert_eq!(s.secret, "dGhpcyBpcyBh");
        assert!(!format!("{s:?}").contains("dGhpcyBpcyBh"));
    }
}
