//! `POST /webhooks/{account}`: Zendesk's signed hint that a ticket changed (DESIGN §4).
//!
//! Verified (HMAC-SHA256 over timestamp + raw body, constant-time compare), timestamp
//! within five minutes, body at most 1 MiB, then the ticket id is pushed onto the engine's
//! hint set and 202 is answered at once. Nothing is enqueued for a rejected delivery.
//! A duplicate delivery is harmless: hints are a set and the engine's work is idempotent.
//! An event webhook announcing a new comment (`ticket.comment_added`) carries the comment
//! into the hint, so the engine can mirror it without reading the sender.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use jiff::{SignedDuration, Timestamp};
use secrecy::ExposeSecret;

use super::ServerState;
use crate::engine::hints::{CarriedComment, CarriedTicket, PrivacyChange};
use crate::metrics::WebhookLabels;
use crate::zendesk::models::WebhookBody;
use crate::zendesk::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// Largest accepted body.
pub const MAX_BODY: usize = 1024 * 1024;
/// How far a signature timestamp may be from now, either way.
pub const MAX_SKEW: SignedDuration = SignedDuration::from_secs(5 * 60);

/// Why a delivery was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    UnknownAccount,
    MissingSignature,
    BadSignature,
    StaleTimestamp,
    BadBody,
}

impl Rejection {
    pub fn status(self) -> StatusCode {
        match self {
            Rejection::UnknownAccount => StatusCode::NOT_FOUND,
            Rejection::MissingSignature | Rejection::BadSignature | Rejection::StaleTimestamp => {
                StatusCode::UNAUTHORIZED
            }
            Rejection::BadBody => StatusCode::BAD_REQUEST,
        }
    }

    /// The metric `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            Rejection::UnknownAccount => "unknown_account",
            Rejection::MissingSignature | Rejection::BadSignature => "bad_signature",
            Rejection::StaleTimestamp => "stale",
            Rejection::BadBody => "bad_body",
        }
    }
}

/// Checks signature and freshness of one delivery. Pure.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature_b64: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<(), Rejection> {
    let (Some(ts), Some(sig)) = (timestamp, signature_b64) else {
        return Err(Rejection::MissingSignature);
    };
    if !signature::verify(secret, ts, body, sig) {
        return Err(Rejection::BadSignature);
    }
    let at: Timestamp = ts.trim().parse().map_err(|_| Rejection::StaleTimestamp)?;
    if now.duration_since(at).abs() > MAX_SKEW {
        return Err(Rejection::StaleTimestamp);
    }
    Ok(())
}

/// The ticket id in a trigger body (`{"ticket_id": 12}` or `"12"`) or an event webhook
/// (`{"detail": {"id": "12"}}`). Pure; the JSON is `zendesk::models::WebhookBody`'s.
pub fn ticket_id(body: &[u8]) -> Option<u64> {
    WebhookBody::parse(body)?.ticket_id()
}

/// Who made the change, when the body says: a trigger's `"current_user_id":
/// "{{current_user.id}}"` or an event's `detail.actor_id`. Pure.
pub fn updater_id(body: &[u8]) -> Option<u64> {
    WebhookBody::parse(body)?.updater_id()
}

/// The comment a `zen:event-type:ticket.comment_added` webhook carries, and the ticket as
/// its `detail` describes it; `None` for any other body (the ticket is then read). Pure.
pub fn carried_comment(body: &[u8]) -> Option<(CarriedComment, CarriedTicket)> {
    let value = WebhookBody::parse(body)?;
    if value.event_type.as_deref()? != "zen:event-type:ticket.comment_added" {
        return None;
    }
    let detail = value.detail.as_ref()?;
    detail.id.get()?;
    let c = value.event.as_ref()?.comment.as_ref()?;
    let author = c.author.as_ref()?;
    let created_at = value.time.as_deref().and_then(|t| t.parse().ok())?;
    let comment = CarriedComment {
        id: c.id.get()?,
        body: c.body.clone()?,
        public: c.is_public?,
        author_id: author.id.0?,
        author_name: author.name.clone().unwrap_or_default(),
        created_at,
    };
    let ticket = described(detail);
    Some((comment, ticket))
}

/// The comment whose privacy a `zen:event-type:ticket.comment_made_private` or
/// `…comment_redacted` webhook announces; `None` for any other body. Pure.
pub fn privacy_change(body: &[u8]) -> Option<PrivacyChange> {
    let value = WebhookBody::parse(body)?;
    let redacted = match value.event_type.as_deref()? {
        "zen:event-type:ticket.comment_made_private" => false,
        "zen:event-type:ticket.comment_redacted" => true,
        _ => return None,
    };
    let comment = value.event.as_ref()?.comment.as_ref()?.id.get()?;
    Some(PrivacyChange { comment, redacted })
}

/// The ticket as an event webhook's `detail` describes it (status, tags, brand).
fn described(detail: &crate::zendesk::models::WebhookDetail) -> CarriedTicket {
    CarriedTicket {
        status: detail.status(),
        tags: detail.tags.clone().unwrap_or_default(),
        brand_id: detail.brand_id.0,
    }
}

/// The ticket an event webhook (`zen:event-type:ticket.*`) describes in its `detail`;
/// `None` for a trigger body or an event without tags (then the ticket must be read to
/// know it). Pure.
pub fn event_detail(body: &[u8]) -> Option<CarriedTicket> {
    let value = WebhookBody::parse(body)?;
    if !value
        .event_type
        .as_deref()?
        .starts_with("zen:event-type:ticket.")
    {
        return None;
    }
    let detail = value.detail.as_ref()?;
    detail.tags.as_ref()?;
    Some(described(detail))
}

pub async fn receive(
    State(state): State<Arc<ServerState>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let outcome = accept(&state, &account, &headers, &body);
    let label = match outcome {
        Ok(None) => "own_change",
        Ok(_) => "accepted",
        Err(r) => r.label(),
    };
    // Count only configured accounts: unknown names must not grow the label set.
    if !matches!(outcome, Err(Rejection::UnknownAccount)) {
        if let Some(engine) = &state.engine {
            engine.note_webhook(&account, outcome.map(drop).map_err(Rejection::label));
        }
        state
            .metrics
            .webhooks
            .get_or_create(&WebhookLabels {
                account: account.clone(),
                outcome: label.to_owned(),
            })
            .inc();
    }
    match outcome {
        Ok(Some(ticket)) => {
            tracing::debug!(account, ticket, "webhook hint");
            StatusCode::ACCEPTED
        }
        Ok(None) => StatusCode::ACCEPTED,
        Err(r) => {
            tracing::warn!(account, reason = r.label(), "webhook refused");
            r.status()
        }
    }
}

/// `Ok(Some(ticket))` when a hint was enqueued, `Ok(None)` when the change was the
/// bridge's own write (nothing to do: its echo would only cost reads).
fn accept(
    state: &ServerState,
    account: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<u64>, Rejection> {
    let config = state.config.borrow().clone();
    let secret = config
        .accounts
        .get(account)
        .and_then(|a| a.webhook_secret.clone())
        .ok_or(Rejection::UnknownAccount)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    verify(
        secret.expose_secret().as_bytes(),
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        body,
        crate::clock::now(),
    )?;
    let ticket = ticket_id(body).ok_or(Rejection::BadBody)?;
    let own = match (&state.engine(), updater_id(body)) {
        (Some(engine), Some(updater)) => engine.known_bridge_user(account) == Some(updater),
        _ => false,
    };
    if own {
        return Ok(None);
    }
    if let Some(change) = privacy_change(body) {
        state.hints.push_privacy(account, ticket, change);
        return Ok(Some(ticket));
    }
    match (carried_comment(body), event_detail(body)) {
        (Some((comment, detail)), _) => state.hints.push_comment(account, ticket, comment, detail),
        (None, Some(detail)) => state.hints.push_detail(account, ticket, detail),
        (None, None) => state.hints.push(account, ticket),
    };
    Ok(Some(ticket))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_event_carries_its_comment_and_nothing_else_does() {
        let event = |kind: &str, comment: serde_json::Value| {
            serde_json::to_vec(&serde_json::json!({
                "type": format!("zen:event-type:ticket.{kind}"),
                "time": "2026-11-23T05:29:05Z",
                "detail": {"id": "42", "actor_id": "7", "status": "HOLD",
                    "tags": ["a", "b"], "brand_id": "3"},
                "event": {"comment": comment},
            }))
            .unwrap()
        };
        let comment = serde_json::json!({"id": "99", "body": "hi", "is_public": false,
            "author": {"id": "7", "name": "Ann", "is_staff": true}});
        let body = event("comment_added", comment.clone());
        let (c, t) = carried_comment(&body).unwrap();
        assert_eq!((c.id, c.body.as_str(), c.public), (99, "hi", false));
        assert_eq!((c.author_id, c.author_name.as_str()), (7, "Ann"));
        assert_eq!(c.created_at, "2026-11-23T05:29:05Z".parse().unwrap());
        assert_eq!(t.status, Some(crate::zendesk::models::Status::Hold));
        assert_eq!((t.tags.len(), t.brand_id), (2, Some(3)));
        assert_eq!((ticket_id(&body), updater_id(&body)), (Some(42), Some(7)));
        // Another event, a comment without body or id, a trigger body: nothing carried.
        assert!(carried_comment(&event("status_changed", comment.clone())).is_none());
        let mut partial = comment.clone();
        partial.as_object_mut().unwrap().remove("body");
        assert!(carried_comment(&event("comment_added", partial)).is_none());
        let mut no_id = comment;
        no_id["id"] = serde_json::json!("0");
        assert!(carried_comment(&event("comment_added", no_id)).is_none());
        assert!(carried_comment(br#"{"ticket_id": 42}"#).is_none());
        // Privacy events name their comment.
        let private = event("comment_made_private", serde_json::json!({"id": "99"}));
        assert_eq!(
            privacy_change(&private),
            Some(PrivacyChange {
                comment: 99,
                redacted: false
            })
        );
        let redacted = event(
            "comment_redacted",
            serde_json::json!({"id": 98, "body": "▇"}),
        );
        assert_eq!(
            privacy_change(&redacted),
            Some(PrivacyChange {
                comment: 98,
                redacted: true
            })
        );
        assert_eq!(privacy_change(&body), None);
        // Any ticket event describes the ticket; a trigger body does not.
        let d = event_detail(&event("status_changed", serde_json::json!({}))).unwrap();
        assert_eq!(d.tags, ["a", "b"]);
        assert_eq!(event_detail(&body).map(|d| d.brand_id), Some(Some(3)));
        assert_eq!(event_detail(br#"{"ticket_id": 42}"#), None);
        assert_eq!(
            event_detail(br#"{"type": "zen:event-type:ticket.created", "detail": {"id": "1"}}"#),
            None,
            "without tags the ticket is not described"
        );
    }

    fn now() -> Timestamp {
        "2026-11-23T05:30:00Z".parse().unwrap()
    }

    #[test]
    fn verification_table() {
        let body = br#"{"ticket_id": 5}"#;
        let ts = "2026-11-23T05:29:05Z";
        let sig = signature::sign(b"k", ts, body);
        assert_eq!(verify(b"k", Some(ts), Some(&sig), body, now()), Ok(()));
        assert_eq!(
            verify(b"x", Some(ts), Some(&sig), body, now()),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify(b"k", None, Some(&sig), body, now()),
            Err(Rejection::MissingSignature)
        );
        assert_eq!(
            verify(b"k", Some(ts), None, body, now()),
            Err(Rejection::MissingSignature)
        );
        assert_eq!(
            verify(b"k", Some(ts), Some(&sig), b"{}", now()),
            Err(Rejection::BadSignature)
        );
        let old = "2026-11-23T05:20:00Z";
        let old_sig = signature::sign(b"k", old, body);
        assert_eq!(
            verify(b"k", Some(old), Some(&old_sig), body, now()),
            Err(Rejection::StaleTimestamp)
        );
        let future = "2026-11-23T05:40:00Z";
        let future_sig = signature::sign(b"k", future, body);
        assert_eq!(
            verify(b"k", Some(future), Some(&future_sig), body, now()),
            Err(Rejection::StaleTimestamp)
        );
        let junk = "yesterday";
        let junk_sig = signature::sign(b"k", junk, body);
        assert_eq!(
            verify(b"k", Some(junk), Some(&junk_sig), body, now()),
            Err(Rejection::StaleTimestamp)
        );
    }

    #[test]
    fn updater_from_a_trigger_body() {
        assert_eq!(
            updater_id(br#"{"ticket_id": 1, "current_user_id": 42}"#),
            Some(42)
        );
        assert_eq!(
            updater_id(br#"{"ticket_id": 1, "current_user_id": "42"}"#),
            Some(42)
        );
        assert_eq!(updater_id(br#"{"ticket_id": 1}"#), None);
        assert_eq!(
            updater_id(br#"{"current_user_id": "{{current_user.id}}"}"#),
            None
        );
    }

    #[test]
    fn ticket_ids_from_trigger_and_event_bodies() {
        assert_eq!(ticket_id(br#"{"ticket_id": 12}"#), Some(12));
        assert_eq!(ticket_id(br#"{"ticket_id": "12"}"#), Some(12));
        assert_eq!(
            ticket_id(br#"{"type":"zen:event-type:ticket.comment_added","detail":{"id":"34"}}"#),
            Some(34)
        );
        assert_eq!(ticket_id(br#"{"ticket": {"id": 7}}"#), Some(7));
        assert_eq!(ticket_id(br#"{"ticket_id": 0}"#), None);
        assert_eq!(ticket_id(br#"{"ticket_id": -1}"#), None);
        assert_eq!(ticket_id(b"not json"), None);
        assert_eq!(ticket_id(br#"{"other": 1}"#), None);
    }
}
