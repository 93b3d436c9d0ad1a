//! `sharebridge doctor [ACCOUNT]`: reads each account from outside and hands the facts
//! to the pure [`super::checks::evaluate`].
//!
//! What it reads, per account: `users/me` (with its `Date` and `X-Rate-Limit` headers),
//! the client's auth state, the webhook `connect` recorded (or, with a hand-made one,
//! the webhooks posting to the bridge's endpoint) and its signing secret, and the
//! ticket events export since the bridge signed in (at most a week, a few pages) to find
//! comments by the bridge's user that the store does not know as the bridge's own. It
//! writes nothing to Zendesk; an OAuth refresh it triggers is saved like any other.
//!
//! Runs where the store is: in the CLI when no daemon holds the store, else inside the
//! daemon (admin API `GET /api/doctor`), with the daemon's own clients.

use jiff::{SignedDuration, Timestamp};
use secrecy::ExposeSecret;

use super::checks::{Check, Facts, ProbeFailure, Probed, WebhookFacts, evaluate};
use super::webhook;
use crate::config::{AccountConfig, Config};
use crate::engine::Account;
use crate::store::Store;
use crate::zendesk::client::ZendeskError;

/// How far back the dedication check looks at most.
const LOOK_BACK: SignedDuration = SignedDuration::from_hours(7 * 24);
/// Export pages read at most (each up to 1000 events; the export allows 10 a minute).
const MAX_PAGES: usize = 3;

/// Where the store doctor reads is.
#[derive(Debug, Clone, Copy)]
pub enum StorePlace<'a> {
    /// The real file, whose permissions are checked.
    File(&'a std::path::Path),
    /// Inside the daemon, which made the file owner-only when it opened it.
    Daemon,
    /// No store yet (nothing was connected or run): an empty one stands in.
    None,
}

/// Gathers the facts about `account` and evaluates them.
pub async fn check_account(
    config: &Config,
    ac: &AccountConfig,
    account: &Account,
    store: &Store,
    place: StorePlace<'_>,
) -> Vec<Check> {
    let facts = gather(config, ac, account, store, place).await;
    evaluate(&facts)
}

fn classify(e: &ZendeskError) -> ProbeFailure {
    match e {
        ZendeskError::NotConnected { reason, .. } => ProbeFailure::NotConnected(reason.clone()),
        ZendeskError::Auth { status, .. } => ProbeFailure::Refused(*status),
        ZendeskError::Transient { reason, .. } => ProbeFailure::Unreachable(reason.clone()),
        other => ProbeFailure::Other(other.to_string()),
    }
}

async fn gather(
    config: &Config,
    ac: &AccountConfig,
    account: &Account,
    store: &Store,
    place: StorePlace<'_>,
) -> Facts {
    let name = ac.name.as_str();
    let client = &account.client;
    let probe = client.probe().await.map_err(|e| classify(&e));
    let auth = client.auth_state().await;
    let now = crate::clock::now();
    let mut unsealable = None;
    let connection = match store.connection(name) {
        Ok(c) => c,
        Err(e) => {
            unsealable = Some(e.to_string());
            None
        }
    };
    let expected_endpoint = webhook::endpoint_for(config, name).map(|(e, _)| e);
    let mut facts = Facts {
        account: name.to_owned(),
        auth,
        probe: probe.clone().map(|p| Probed {
            user_id: p.user.id,
            name: p.user.name.clone(),
            email: p.user.email.clone(),
            role: p.user.role.clone(),
            server_date: p.server_date,
            rate_limit: p.rate_limit,
        }),
        connected_user: connection.as_ref().map(|c| c.user_id),
        requests_per_minute: ac.requests_per_minute,
        expected_endpoint: expected_endpoint.clone(),
        webhook: WebhookFacts::None,
        secret_matches: None,
        foreign_comments: Err("not checked".into()),
        foreign_since: None,
        store_readable_by_others: match place {
            StorePlace::File(p) => crate::daemon::readable_by_others(p),
            StorePlace::Daemon | StorePlace::None => None,
        },
        store_exists: !matches!(place, StorePlace::None),
        store_unsealable: unsealable,
        now,
    };
    let Ok(probed) = probe else {
        return facts;
    };

    // The webhook and its secret.
    let in_use = ac
        .webhook_secret
        .as_ref()
        .map(|s| s.expose_secret().to_owned())
        .or_else(|| {
            connection
                .as_ref()
                .and_then(|c| c.webhook.as_ref())
                .map(|w| w.signing_secret.clone())
        });
    let recorded = connection.as_ref().and_then(|c| c.webhook.clone());
    // A webhook connect recorded is checked by its id (inside the daemon, the
    // configuration's secret is the one connect kept); a configured secret without one
    // means a webhook made by hand, found by its endpoint.
    if recorded.is_none() && ac.webhook_secret.is_some() {
        match (&expected_endpoint, client.list_webhooks().await) {
            (_, Err(e)) => facts.webhook = WebhookFacts::Unreadable(e.to_string()),
            (None, Ok(_)) => {
                facts.webhook = WebhookFacts::ByHand {
                    posting_here: vec![],
                }
            }
            (Some(e), Ok(all)) => {
                let here: Vec<_> = all.into_iter().filter(|w| &w.endpoint == e).collect();
                if let (Some(w), Some(secret)) = (here.first(), &in_use) {
                    facts.secret_matches = compare_secret(client, &w.id, secret).await;
                }
                facts.webhook = WebhookFacts::ByHand { posting_here: here };
            }
        }
    } else if let Some(rec) = &recorded {
        match client.webhook(&rec.id).await {
            Ok(w) => {
                if let Some(secret) = &in_use {
                    facts.secret_matches = compare_secret(client, &w.id, secret).await;
                }
                facts.webhook = WebhookFacts::Found(w);
            }
            Err(ZendeskError::NotFound { .. }) => {
                facts.webhook = WebhookFacts::Deleted { id: rec.id.clone() }
            }
            Err(e) => facts.webhook = WebhookFacts::Unreadable(e.to_string()),
        }
    }

    // Comments by the bridge's user that the bridge did not write.
    let since = connection
        .as_ref()
        .map(|c| c.connected_at)
        .filter(|t| *t > now - LOOK_BACK)
        .unwrap_or(now - LOOK_BACK);
    facts.foreign_since = Some(since);
    facts.foreign_comments = foreign_comments(account, store, probed.user.id, since).await;
    facts
}

/// `Some(true)` when the webhook's signing secret is `secret`.
async fn compare_secret(
    client: &crate::zendesk::client::ZendeskClient,
    id: &str,
    secret: &str,
) -> Option<bool> {
    let theirs = client.webhook_signing_secret(id).await.ok()?;
    Some(constant_time_eq(
        theirs.secret.as_bytes(),
        secret.as_bytes(),
    ))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    // Equal-length digests compared without early exit.
    let (x, y) = (Sha256::digest(a), Sha256::digest(b));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

/// Tickets holding comments by `user` since `since` that the store does not record as
/// written by the bridge.
async fn foreign_comments(
    account: &Account,
    store: &Store,
    user: u64,
    since: Timestamp,
) -> Result<Vec<u64>, String> {
    let mut start = since.as_second();
    let mut tickets = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = account
            .client
            .export_ticket_events(start)
            .await
            .map_err(|e| e.to_string())?;
        for ev in &page.events {
            for child in &ev.child_events {
                if child.event_type != "Comment" || child.author_id != Some(user) {
                    continue;
                }
                let ours = store
                    .is_bridge_comment(&account.name, child.id)
                    .map_err(|e| e.to_string())?;
                if !ours && !tickets.contains(&ev.ticket_id) {
                    tickets.push(ev.ticket_id);
                }
            }
        }
        if page.end_of_stream || page.next_start_time <= start {
            return Ok(tickets);
        }
        start = page.next_start_time;
    }
    Ok(tickets)
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_compare_by_content() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"abcd"));
    }
}
