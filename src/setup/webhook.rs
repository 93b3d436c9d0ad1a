//! Which webhook the bridge wants in an account, and what to do to get it there from
//! what exists: create it, update it, or leave it. Pure: `connect` reads the account's
//! webhooks, asks [`plan`], and carries the answer out (or only prints it, `--dry-run`).
//!
//! The webhook is found by name (`sharebridge ACCOUNT (PUBLIC HOST)`), so running
//! `connect` again finds the one it made, and two bridges with different public URLs
//! never take each other's webhook.

use crate::zendesk::webhooks::{Webhook, WebhookWrite};

/// The ticket events the bridge acts on (`server::webhook` reads any of them as "this
/// ticket changed"; `comment_added` carries the comment itself). `created` matters for
/// tickets created already tagged for sharing.
pub const SUBSCRIPTIONS: &[&str] = &[
    "zen:event-type:ticket.created",
    "zen:event-type:ticket.comment_added",
    "zen:event-type:ticket.comment_made_private",
    "zen:event-type:ticket.comment_redacted",
    "zen:event-type:ticket.status_changed",
    "zen:event-type:ticket.tags_changed",
    "zen:event-type:ticket.custom_field_changed",
    "zen:event-type:ticket.priority_changed",
    "zen:event-type:ticket.type_changed",
    "zen:event-type:ticket.task_due_at_changed",
    "zen:event-type:ticket.group_assignment_changed",
    "zen:event-type:ticket.form_changed",
    "zen:event-type:ticket.brand_changed",
    "zen:event-type:ticket.merged",
    "zen:event-type:ticket.soft_deleted",
    "zen:event-type:ticket.permanently_deleted",
    "zen:event-type:ticket.undeleted",
];

/// The webhook the bridge wants in `account`, posting to `endpoint`.
pub fn wanted(account: &str, endpoint: &str) -> WebhookWrite {
    let host = reqwest::Url::parse(endpoint)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            })
        })
        .unwrap_or_else(|| endpoint.to_owned());
    WebhookWrite {
        name: format!("sharebridge {account} ({host})"),
        status: "active".into(),
        endpoint: endpoint.to_owned(),
        http_method: "POST".into(),
        request_format: "json".into(),
        subscriptions: SUBSCRIPTIONS.iter().map(|s| (*s).to_owned()).collect(),
        description: format!(
            "Managed by sharebridge (`sharebridge connect {account}`): ticket events for the bridge. Changes here are undone by the next connect."
        ),
    }
}

/// The webhook endpoint for `account` under `public_url`.
pub fn endpoint(public_url: &str, account: &str) -> String {
    format!("{}/webhooks/{account}", public_url.trim_end_matches('/'))
}

/// Where Zendesk should post `account`'s webhooks: under `daemon.public_url`; without
/// it, under `http://{daemon.listen}` when that is a loopback address (reachable from
/// this host only: the simulator, a tunnel), flagged `true` so the caller warns; else
/// nowhere. Pure.
pub fn endpoint_for(config: &crate::config::Config, account: &str) -> Option<(String, bool)> {
    if let Some(p) = &config.daemon.public_url {
        return Some((endpoint(p, account), false));
    }
    let listen = config.daemon.listen;
    listen
        .ip()
        .is_loopback()
        .then(|| (endpoint(&format!("http://{listen}"), account), true))
}

/// The warning when [`endpoint_for`] fell back to the listen address.
pub fn fallback_warning(endpoint: &str) -> String {
    format!(
        "daemon.public_url is not set: the webhook posts to {endpoint}, which only this host can reach; set public_url to where Zendesk reaches the daemon (a TLS proxy in front of daemon.listen) and run connect again"
    )
}

/// What `connect` does about the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// No webhook has the name: create it.
    Create,
    /// The webhook exists but differs: these settings change.
    Update { id: String, changes: Vec<String> },
    /// The webhook exists as wanted.
    Keep { id: String },
}

/// The plan and what the operator should know about the other webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub action: Action,
    /// Other webhooks that bear the same name (left alone; the first by id is managed)
    /// or post to the same endpoint under another name (their deliveries fail the
    /// signature check unless they share the secret).
    pub notes: Vec<String>,
}

/// Compares what exists with what is wanted. Pure.
pub fn plan(existing: &[Webhook], want: &WebhookWrite) -> Plan {
    let mut same_name: Vec<&Webhook> = existing.iter().filter(|w| w.name == want.name).collect();
    same_name.sort_by(|a, b| a.id.cmp(&b.id));
    let mut notes = Vec::new();
    for extra in same_name.iter().skip(1) {
        notes.push(format!(
            "webhook {} also has the name {:?}; it is left alone (delete it in Admin Center if it is a leftover)",
            extra.id, want.name
        ));
    }
    for other in existing
        .iter()
        .filter(|w| w.name != want.name && w.endpoint == want.endpoint)
    {
        notes.push(format!(
            "webhook {} ({:?}) also posts to {}; its deliveries are refused unless it is signed with the same secret",
            other.id, other.name, want.endpoint
        ));
    }
    let action = match same_name.first() {
        None => Action::Create,
        Some(w) => {
            let changes = differences(w, want);
            if changes.is_empty() {
                Action::Keep { id: w.id.clone() }
            } else {
                Action::Update {
                    id: w.id.clone(),
                    changes,
                }
            }
        }
    };
    Plan { action, notes }
}

/// The settings of `have` that differ from `want`, in words.
fn differences(have: &Webhook, want: &WebhookWrite) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |name: &str, have: &str, want: &str| {
        if !have.eq_ignore_ascii_case(want) {
            out.push(format!("{name} {have:?} -> {want:?}"));
        }
    };
    field("status", &have.status, &want.status);
    field("endpoint", &have.endpoint, &want.endpoint);
    field("http_method", &have.http_method, &want.http_method);
    field("request_format", &have.request_format, &want.request_format);
    let missing: Vec<&String> = want
        .subscriptions
        .iter()
        .filter(|s| !have.subscriptions.contains(s))
        .collect();
    let extra: Vec<&String> = have
        .subscriptions
        .iter()
        .filter(|s| !want.subscriptions.contains(s))
        .collect();
    if !missing.is_empty() {
        out.push(format!(
            "subscriptions: add {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !extra.is_empty() {
        out.push(format!(
            "subscriptions: remove {}",
            extra
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

/// The subscriptions the bridge needs that `have` lacks (for `doctor`). Pure.
pub fn missing_subscriptions(have: &[String]) -> Vec<&'static str> {
    SUBSCRIPTIONS
        .iter()
        .copied()
        .filter(|s| !have.iter().any(|h| h == s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_existing(w: &WebhookWrite, id: &str) -> Webhook {
        Webhook {
            id: id.into(),
            name: w.name.clone(),
            status: w.status.clone(),
            endpoint: w.endpoint.clone(),
            http_method: w.http_method.clone(),
            request_format: w.request_format.clone(),
            subscriptions: w.subscriptions.clone(),
            description: None,
        }
    }

    #[test]
    fn the_wanted_webhook_is_named_for_account_and_host() {
        let w = wanted(
            "acme",
            &endpoint("https://bridge.example.com:8443/", "acme"),
        );
        assert_eq!(w.name, "sharebridge acme (bridge.example.com:8443)");
        assert_eq!(w.endpoint, "https://bridge.example.com:8443/webhooks/acme");
        assert_eq!(w.status, "active");
        assert!(
            w.subscriptions
                .iter()
                .any(|s| s.ends_with("ticket.comment_added"))
        );
        assert!(
            w.subscriptions
                .iter()
                .all(|s| s.starts_with("zen:event-type:ticket."))
        );
    }

    #[test]
    fn create_update_or_keep() {
        let want = wanted("acme", "https://b.example/webhooks/acme");
        assert_eq!(plan(&[], &want).action, Action::Create);
        // Another name (another bridge, a trigger's webhook) is not ours.
        let mut theirs = as_existing(&want, "01A");
        theirs.name = "Slack".into();
        theirs.endpoint = "https://hooks.slack.example".into();
        assert_eq!(plan(&[theirs.clone()], &want).action, Action::Create);
        // Ours as wanted: kept (case of the method does not matter).
        let mut ours = as_existing(&want, "01B");
        ours.http_method = "post".into();
        let p = plan(&[theirs.clone(), ours.clone()], &want);
        assert_eq!(p.action, Action::Keep { id: "01B".into() });
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        // Deactivated, moved, missing an event, with an extra one: updated, each named.
        let mut drifted = ours.clone();
        drifted.status = "inactive".into();
        drifted.endpoint = "https://old.example/webhooks/acme".into();
        drifted
            .subscriptions
            .retain(|s| !s.ends_with("tags_changed"));
        drifted
            .subscriptions
            .push("conditional_ticket_events".into());
        let Action::Update { id, changes } = plan(&[drifted], &want).action else {
            panic!()
        };
        assert_eq!(id, "01B");
        assert_eq!(changes.len(), 4, "{changes:?}");
        assert!(changes.iter().any(|c| c.contains("tags_changed")));
        assert!(
            changes
                .iter()
                .any(|c| c.contains("remove conditional_ticket_events"))
        );
    }

    #[test]
    fn duplicates_and_strangers_on_our_endpoint_are_noted_not_touched() {
        let want = wanted("acme", "https://b.example/webhooks/acme");
        let a = as_existing(&want, "01B");
        let b = as_existing(&want, "01A");
        let mut stranger = as_existing(&want, "01C");
        stranger.name = "hand-made".into();
        let p = plan(&[a, b, stranger], &want);
        assert_eq!(p.action, Action::Keep { id: "01A".into() });
        assert_eq!(p.notes.len(), 2, "{:?}", p.notes);
        assert!(p.notes[0].contains("01B"));
        assert!(p.notes[1].contains("01C"));
    }

    #[test]
    fn missing_subscriptions_are_listed() {
        let all: Vec<String> = SUBSCRIPTIONS.iter().map(|s| s.to_string()).collect();
        assert!(missing_subscriptions(&all).is_empty());
        assert_eq!(
            missing_subscriptions(&all[1..]),
            vec!["zen:event-type:ticket.created"]
        );
    }
}
