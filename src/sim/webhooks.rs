//! Webhook delivery: after every ticket change in an account, each URL configured for it
//! receives either one event-subscribed webhook per ticket event (Zendesk's
//! `zen:event-type:ticket.*` schema: `detail` is the ticket, `event` what happened, a new
//! comment comes whole in `ticket.comment_added`) or one trigger-style body
//! `POST {"ticket_id": <id>, "account": "<name>", "current_user_id": <id>}`, signed as
//! Zendesk signs (`X-Zendesk-Webhook-Signature` = base64 HMAC-SHA256 over timestamp +
//! body, `X-Zendesk-Webhook-Signature-Timestamp`). Sent from a background task, never from
//! the request; best effort: 3 attempts, 10 s timeout each, then dropped (logged).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use serde_json::{Value, json};

use crate::sim::clock::Clock;
use crate::sim::config::WebhookSpec;
use crate::sim::error::SimError;
use crate::sim::state::{Account, Audit, EventKind};
use crate::zendesk::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};

/// Delivery counters, so tests can wait for webhooks instead of sleeping.
#[derive(Debug, Default)]
pub struct WebhookCounters {
    /// Deliveries started (one per change per target URL).
    pub started: AtomicU64,
    /// Deliveries answered 2xx.
    pub delivered: AtomicU64,
    /// Deliveries given up after 3 attempts.
    pub failed: AtomicU64,
}

impl WebhookCounters {
    /// Deliveries started but not yet finished.
    pub fn pending(&self) -> u64 {
        let done = self.delivered.load(Ordering::SeqCst) + self.failed.load(Ordering::SeqCst);
        self.started.load(Ordering::SeqCst).saturating_sub(done)
    }
}

/// One change to announce.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub account: Arc<str>,
    pub ticket_id: u64,
    /// Targets, fixed (and counted as started) when the change is queued.
    pub urls: Vec<String>,
    /// The bodies to send, in order (one trigger body, or one per event).
    pub bodies: Vec<Vec<u8>>,
}

/// Zendesk's ids in event webhooks are strings.
fn id_str(id: Option<u64>) -> Value {
    id.map_or(Value::Null, |i| Value::String(i.to_string()))
}

/// The event-subscribed webhook bodies for one change of `ticket_id` (made by `audit`,
/// or a deletion when the ticket is gone), in the order Zendesk's events would come.
pub(crate) fn events(a: &Account, ticket_id: u64, audit: Option<&Audit>) -> Vec<Vec<u8>> {
    let Some(rec) = a.tickets.get(&ticket_id) else {
        return Vec::new();
    };
    let t = &rec.ticket;
    let actor = audit.map(|x| x.author_id);
    let detail = json!({
        "actor_id": id_str(actor),
        "assignee_id": id_str(t.assignee_id),
        "brand_id": id_str(t.brand_id),
        "created_at": t.created_at,
        "custom_status": null,
        "description": t.description,
        "external_id": t.external_id,
        "form_id": null,
        "group_id": id_str(t.group_id),
        "id": ticket_id.to_string(),
        "is_public": t.is_public,
        "organization_id": id_str(t.organization_id),
        "priority": t.priority.as_deref().map(str::to_uppercase),
        "requester_id": id_str(t.requester_id),
        "status": t.status.as_str().to_uppercase(),
        "subject": t.subject,
        "submitter_id": id_str(t.submitter_id),
        "tags": t.tags,
        "type": t.ticket_type.as_deref().map(str::to_uppercase),
        "updated_at": t.updated_at,
        "via": {"channel": audit.map_or("api", |x| x.via.channel.as_str())},
    });
    let time = audit.map_or(t.updated_at, |x| x.created_at);
    // The events of one action share `event.meta.sequence.id` and are numbered by
    // `position` (1-based) out of `total`, as Zendesk's are.
    let sequence = format!("{:016x}", audit.map_or(ticket_id, |x| x.id));
    let finish = |events: Vec<(usize, String, Value)>| -> Vec<Vec<u8>> {
        let total = events.len();
        events
            .into_iter()
            .enumerate()
            .map(|(i, (n, kind, mut event))| {
                if !event.is_object() {
                    event = json!({});
                }
                event["meta"] = json!({"sequence": {
                    "id": sequence, "position": i + 1, "total": total,
                }});
                let body = json!({
                    "account_id": 1,
                    "detail": detail,
                    "event": event,
                    "id": format!("{sequence}-{n}"),
                    "subject": format!("zen:ticket:{ticket_id}"),
                    "time": time,
                    "type": format!("zen:event-type:ticket.{kind}"),
                    "zendesk_event_version": "2022-11-06",
                });
                serde_json::to_vec(&body).unwrap_or_default()
            })
            .collect()
    };
    let Some(audit) = audit.filter(|_| !rec.deleted) else {
        return finish(vec![(0, "soft_deleted".to_owned(), json!({}))]);
    };
    let mut out: Vec<(usize, String, Value)> = Vec::new();
    let mut wrap = |n: usize, kind: &str, event: Value| out.push((n, kind.to_owned(), event));
    if audit
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Create { .. }))
    {
        wrap(0, "created", json!({}));
    }
    for (n, e) in audit.events.iter().enumerate() {
        let n = n + 1;
        match &e.kind {
            EventKind::Create { .. } => {}
            EventKind::Comment { comment_id } => {
                let Some(c) = rec.comments.iter().find(|c| c.id == *comment_id) else {
                    continue;
                };
                let author = a.users.get(&c.author_id);
                wrap(
                    n,
                    "comment_added",
                    json!({"comment": {
                        "author": {
                            "id": c.author_id.to_string(),
                            "is_staff": author.is_some_and(|u| u.role != "end-user"),
                            "name": author.map_or("", |u| u.name.as_str()),
                        },
                        "body": c.body,
                        "id": c.id.to_string(),
                        "is_public": c.public,
                    }}),
                );
            }
            EventKind::PrivacyChange { comment_id } => wrap(
                n,
                "comment_made_private",
                json!({"comment": {"id": comment_id.to_string(), "is_public": false}}),
            ),
            EventKind::Redaction { comment_id } => {
                let c = rec.comments.iter().find(|c| c.id == *comment_id);
                wrap(
                    n,
                    "comment_redacted",
                    json!({"comment": {
                        "id": comment_id.to_string(),
                        "body": c.map(|c| c.body.as_str()),
                        "is_public": c.map(|c| c.public),
                    }}),
                );
            }
            EventKind::Change {
                field,
                previous,
                value,
            } => {
                let (kind, event) = match field.as_str() {
                    "status" => (
                        "status_changed".to_owned(),
                        json!({"current": value, "previous": previous}),
                    ),
                    "tags" => {
                        let list = |v: &Value| -> Vec<String> {
                            v.as_array()
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|t| t.as_str().map(str::to_owned))
                                        .collect()
                                })
                                .unwrap_or_default()
                        };
                        let (before, after) = (list(previous), list(value));
                        (
                            "tags_changed".to_owned(),
                            json!({
                                "tags_added": after.iter().filter(|t| !before.contains(t)).collect::<Vec<_>>(),
                                "tags_removed": before.iter().filter(|t| !after.contains(t)).collect::<Vec<_>>(),
                            }),
                        )
                    }
                    f if f.parse::<u64>().is_ok() => (
                        "custom_field_changed".to_owned(),
                        json!({"custom_field": {"id": f}, "current": value, "previous": previous}),
                    ),
                    f => (
                        format!("{f}_changed"),
                        json!({"current": value, "previous": previous}),
                    ),
                };
                wrap(n, &kind, event);
            }
        }
    }
    finish(out)
}

/// The webhook body for a change (exact bytes that get signed): what a trigger with the
/// body `{"ticket_id": {{ticket.id}}, "account": "…", "current_user_id":
/// {{current_user.id}}}` sends; `current_user_id` is left out when nobody updated (a
/// deletion).
pub(crate) fn body(account: &str, ticket_id: u64, updater: Option<u64>) -> Vec<u8> {
    let name = serde_json::to_string(account).unwrap_or_else(|_| "\"\"".to_owned());
    match updater {
        Some(u) => {
            format!("{{\"ticket_id\":{ticket_id},\"account\":{name},\"current_user_id\":{u}}}")
                .into_bytes()
        }
        None => format!("{{\"ticket_id\":{ticket_id},\"account\":{name}}}").into_bytes(),
    }
}

/// The URLs configured for `account`.
pub(crate) fn targets_of(targets: &RwLock<Vec<WebhookSpec>>, account: &str) -> Vec<String> {
    match targets.read() {
        Ok(t) => t
            .iter()
            .filter(|w| w.account == account)
            .map(|w| w.url.clone())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// One signed webhook on its way to its URL.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    /// The account whose change it announces.
    pub account: String,
    pub ticket_id: u64,
    pub url: String,
    /// Content type, signature, signature timestamp, webhook and invocation ids.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Where webhooks go instead of over HTTP (the deterministic simulation's network, which
/// decides loss, delay, duplication and order and calls the daemon in-process).
pub trait WebhookSender: Send + Sync + 'static {
    /// Sends one delivery attempt; `true` once it was accepted (2xx).
    fn send(&self, delivery: WebhookDelivery) -> Pin<Box<dyn Future<Output = bool> + Send>>;
}

/// How deliveries leave the simulator.
#[derive(Clone)]
enum Sender {
    Http(reqwest::Client),
    Given(Arc<dyn WebhookSender>),
}

/// Starts the delivery task; returns the queue to feed it. Webhooks go over HTTP, or to
/// `sender` when given.
pub(crate) fn spawn(
    secret: String,
    clock: Arc<Clock>,
    counters: Arc<WebhookCounters>,
    cancel: CancellationToken,
    sender: Option<Arc<dyn WebhookSender>>,
) -> Result<(mpsc::UnboundedSender<Change>, tokio::task::JoinHandle<()>), SimError> {
    let client = match sender {
        Some(s) => Sender::Given(s),
        None => {
            // reqwest is built without a TLS provider; install ring's so https targets work too.
            let _ = rustls::crypto::ring::default_provider().install_default();
            Sender::Http(
                reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|e| SimError::HttpClient(e.to_string()))?,
            )
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Change>();
    let secret: Arc<[u8]> = Arc::from(secret.into_bytes());
    let task = tokio::spawn(async move {
        loop {
            let change = tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                c = rx.recv() => match c { Some(c) => c, None => break },
            };
            for url in change.urls.clone() {
                let counters = counters.clone();
                let client = client.clone();
                let secret = secret.clone();
                let clock = clock.clone();
                let change = change.clone();
                let cancel = cancel.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => {}
                        ok = deliver(&client, &url, &secret, &clock, &change) => {
                            let c = if ok { &counters.delivered } else { &counters.failed };
                            c.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        }
    });
    Ok((tx, task))
}

/// A stable id per target URL (Zendesk sends the webhook's id with every delivery).
fn webhook_id(url: &str) -> String {
    // FNV-1a: stable across runs, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in url.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("01{:016X}", h)
}

/// Delivers one change to one URL; `true` once a 2xx came back.
async fn deliver(client: &Sender, url: &str, secret: &[u8], clock: &Clock, c: &Change) -> bool {
    let mut all = true;
    for payload in &c.bodies {
        all &= deliver_one(client, url, secret, clock, c, payload).await;
    }
    all
}

/// Delivers one body to one URL, 3 attempts.
async fn deliver_one(
    client: &Sender,
    url: &str,
    secret: &[u8],
    clock: &Clock,
    c: &Change,
    payload: &[u8],
) -> bool {
    // Zendesk names the webhook and the invocation (the same across retries).
    let invocation = fastrand::u64(..).to_string();
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 * 5u64.pow(attempt - 1))).await;
        }
        let ts = clock.now().to_string();
        let sig = sign(secret, &ts, payload);
        let headers = vec![
            ("content-type", "application/json".to_owned()),
            (SIGNATURE_HEADER, sig),
            (TIMESTAMP_HEADER, ts),
            ("x-zendesk-webhook-id", webhook_id(url)),
            ("x-zendesk-webhook-invocation-id", invocation.clone()),
        ];
        let client = match client {
            Sender::Http(client) => client,
            Sender::Given(sender) => {
                let delivery = WebhookDelivery {
                    account: c.account.to_string(),
                    ticket_id: c.ticket_id,
                    url: url.to_owned(),
                    headers,
                    body: payload.to_vec(),
                };
                if sender.send(delivery).await {
                    return true;
                }
                continue;
            }
        };
        let mut request = client.post(url).body(payload.to_vec());
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let sent = request.send().await;
        match sent {
            Ok(r) if r.status().is_success() => return true,
            Ok(r) => tracing::debug!(
                url,
                status = r.status().as_u16(),
                attempt,
                "webhook refused"
            ),
            Err(e) => tracing::debug!(url, error = %e, attempt, "webhook failed"),
        }
    }
    tracing::warn!(url, account = %c.account, ticket_id = c.ticket_id, "webhook dropped after 3 attempts");
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zendesk::signature::verify;

    #[test]
    fn body_is_trigger_style_and_verifiable() {
        let b = body("acme", 7, None);
        assert_eq!(b, br#"{"ticket_id":7,"account":"acme"}"#);
        let sig = sign(b"s", "2026-11-23T05:29:05Z", &b);
        assert!(verify(b"s", "2026-11-23T05:29:05Z", &b, &sig));
    }
}
