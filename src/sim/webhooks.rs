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
use crate::sim::config::{WebhookSpec, WebhookStyle};
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

/// One change to announce to one target.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub account: Arc<str>,
    pub ticket_id: u64,
    pub url: String,
    /// The target's own signing secret (a Webhooks API webhook); `None`: the
    /// simulator's `--webhook-secret`.
    pub secret: Option<Arc<[u8]>>,
    /// The bodies to send, in order (one trigger body, or one per event).
    pub bodies: Vec<Vec<u8>>,
}

/// Which bodies a target takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wants {
    /// `--webhook`: what `--webhook-style` says.
    Style(WebhookStyle),
    /// A Webhooks API webhook subscribed to these `zen:event-type:…` types.
    Events(Vec<String>),
    /// A Webhooks API webhook subscribed to `conditional_ticket_events` (what a trigger
    /// would send it): the trigger-style body.
    Trigger,
}

/// A webhook target of an account.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub url: String,
    pub secret: Option<Arc<[u8]>>,
    pub wants: Wants,
}

/// Drains the tickets the last operation touched into the deliveries they cause, one
/// per (ticket, target), in the order the tickets changed: each with its bodies (the
/// events of the ticket's newest audit, or one trigger-style body naming who changed it).
pub(crate) fn changes(a: &mut Account, account: &Arc<str>, targets: &[Target]) -> Vec<Change> {
    let touched = std::mem::take(&mut a.touched);
    if targets.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for id in touched {
        let deleted = a.tickets.get(&id).is_none_or(|r| r.deleted);
        let audit = if deleted {
            None
        } else {
            a.audits.iter().rev().take(64).find(|x| x.ticket_id == id)
        };
        let needs_events = targets.iter().any(|t| {
            matches!(
                t.wants,
                Wants::Events(_) | Wants::Style(WebhookStyle::Events)
            )
        });
        let evs = if needs_events {
            events(a, id, audit)
        } else {
            Vec::new()
        };
        let trigger = body(account, id, audit.map(|x| x.author_id));
        for t in targets {
            let bodies: Vec<Vec<u8>> = match &t.wants {
                Wants::Style(WebhookStyle::Events) => evs.iter().map(|(_, b)| b.clone()).collect(),
                Wants::Style(WebhookStyle::Trigger) | Wants::Trigger => vec![trigger.clone()],
                Wants::Events(types) => evs
                    .iter()
                    .filter(|(ty, _)| types.iter().any(|x| x == ty))
                    .map(|(_, b)| b.clone())
                    .collect(),
            };
            if bodies.is_empty() {
                continue;
            }
            out.push(Change {
                account: account.clone(),
                ticket_id: id,
                url: t.url.clone(),
                secret: t.secret.clone(),
                bodies,
            });
        }
    }
    out
}

/// Zendesk's ids in event webhooks are strings.
fn id_str(id: Option<u64>) -> Value {
    id.map_or(Value::Null, |i| Value::String(i.to_string()))
}

/// The event-subscribed webhook bodies for one change of `ticket_id` (made by `audit`,
/// or a deletion when the ticket is gone), in the order Zendesk's events would come.
pub(crate) fn events(a: &Account, ticket_id: u64, audit: Option<&Audit>) -> Vec<(String, Vec<u8>)> {
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
    let finish = |events: Vec<(usize, String, Value)>| -> Vec<(String, Vec<u8>)> {
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
                let ty = format!("zen:event-type:ticket.{kind}");
                let body = json!({
                    "account_id": 1,
                    "detail": detail,
                    "event": event,
                    "id": format!("{sequence}-{n}"),
                    "subject": format!("zen:ticket:{ticket_id}"),
                    "time": time,
                    "type": ty,
                    "zendesk_event_version": "2022-11-06",
                });
                (ty, serde_json::to_vec(&body).unwrap_or_default())
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

/// The targets of `account`: its `--webhook` URLs (as `style` says) and its active
/// Webhooks API webhooks.
pub(crate) fn targets_of(
    configured: &RwLock<Vec<WebhookSpec>>,
    a: &Account,
    account: &str,
) -> Vec<Target> {
    let mut out: Vec<Target> = match configured.read() {
        Ok(t) => t
            .iter()
            .filter(|w| w.account == account)
            .map(|w| Target {
                url: w.url.clone(),
                secret: None,
                wants: Wants::Style(a.knobs.webhook_style),
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    out.extend(a.api_webhooks.values().filter_map(|w| w.target()));
    out
}

/// One signed webhook delivery attempt, as it goes on the wire: `POST url` with these
/// headers (content type, signature, timestamp, webhook and invocation ids) and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// The account whose change it announces.
    pub account: String,
    /// The ticket it is about.
    pub ticket_id: u64,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Where the simulator's webhooks go: over HTTP ([`HttpSender`], what
/// [`crate::sim::Simulator::start`] uses) or anywhere a caller chooses (a deterministic
/// simulation delivers them in-process; an `mpsc::UnboundedSender<WebhookDelivery>` is
/// one: every delivery is queued and counts as answered 2xx).
pub trait WebhookSender: Send + Sync + 'static {
    /// Makes one delivery attempt; resolves to `true` when the target answered 2xx.
    /// Failed attempts are retried (3 in all) by the simulator.
    fn send(&self, delivery: WebhookDelivery) -> Pin<Box<dyn Future<Output = bool> + Send>>;
}

/// Webhooks over HTTP: 10 s timeout per attempt.
#[derive(Debug, Clone)]
pub struct HttpSender {
    client: reqwest::Client,
}

impl HttpSender {
    pub fn new() -> Result<HttpSender, SimError> {
        // reqwest is built without a TLS provider; install ring's so https targets work.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SimError::HttpClient(e.to_string()))?;
        Ok(HttpSender { client })
    }
}

impl WebhookSender for HttpSender {
    fn send(&self, d: WebhookDelivery) -> Pin<Box<dyn Future<Output = bool> + Send>> {
        let client = self.client.clone();
        Box::pin(async move {
            let mut rb = client.post(&d.url);
            for (k, v) in &d.headers {
                rb = rb.header(*k, v);
            }
            match rb.body(d.body).send().await {
                Ok(r) if r.status().is_success() => true,
                Ok(r) => {
                    tracing::debug!(url = %d.url, status = r.status().as_u16(), "webhook refused");
                    false
                }
                Err(e) => {
                    tracing::debug!(url = %d.url, error = %e, "webhook failed");
                    false
                }
            }
        })
    }
}

impl WebhookSender for mpsc::UnboundedSender<WebhookDelivery> {
    fn send(&self, d: WebhookDelivery) -> Pin<Box<dyn Future<Output = bool> + Send>> {
        let ok = mpsc::UnboundedSender::send(self, d).is_ok();
        Box::pin(async move { ok })
    }
}

/// Starts the delivery task; returns the queue to feed it.
pub(crate) fn spawn(
    secret: String,
    clock: Arc<Clock>,
    counters: Arc<WebhookCounters>,
    cancel: CancellationToken,
    sender: Arc<dyn WebhookSender>,
) -> (mpsc::UnboundedSender<Change>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Change>();
    let secret: Arc<[u8]> = Arc::from(secret.into_bytes());
    let task = tokio::spawn(async move {
        loop {
            let change = tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                c = rx.recv() => match c { Some(c) => c, None => break },
            };
            let counters = counters.clone();
            let sender = sender.clone();
            let secret = change.secret.clone().unwrap_or_else(|| secret.clone());
            let clock = clock.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => {}
                    ok = deliver(&*sender, &change.url, &secret, &clock, &change) => {
                        let c = if ok { &counters.delivered } else { &counters.failed };
                        c.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    (tx, task)
}

/// A stable id per target URL (Zendesk sends the webhook's id with every delivery).
fn webhook_id(url: &str) -> String {
    format!("01{:016X}", fnv(&[url.as_bytes()]))
}

/// FNV-1a: stable across runs, unlike the std hasher.
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in *p {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Delivers one change to one URL; `true` once a 2xx came back.
async fn deliver(
    sender: &dyn WebhookSender,
    url: &str,
    secret: &[u8],
    clock: &Clock,
    c: &Change,
) -> bool {
    let mut all = true;
    for payload in &c.bodies {
        all &= deliver_one(sender, url, secret, clock, c, payload).await;
    }
    all
}

/// Delivers one body to one URL, 3 attempts.
async fn deliver_one(
    sender: &dyn WebhookSender,
    url: &str,
    secret: &[u8],
    clock: &Clock,
    c: &Change,
    payload: &[u8],
) -> bool {
    // Zendesk names the webhook and the invocation (the same across retries).
    let invocation = fnv(&[url.as_bytes(), payload]).to_string();
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 * 5u64.pow(attempt - 1))).await;
        }
        let ts = clock.now().to_string();
        let sig = sign(secret, &ts, payload);
        let delivery = WebhookDelivery {
            account: c.account.to_string(),
            ticket_id: c.ticket_id,
            url: url.to_owned(),
            headers: vec![
                ("content-type", "application/json".to_owned()),
                (SIGNATURE_HEADER, sig),
                (TIMESTAMP_HEADER, ts),
                ("x-zendesk-webhook-id", webhook_id(url)),
                ("x-zendesk-webhook-invocation-id", invocation.clone()),
            ],
            body: payload.to_vec(),
        };
        if sender.send(delivery).await {
            return true;
        }
        tracing::debug!(url, attempt, "webhook attempt failed");
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
