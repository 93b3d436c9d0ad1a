//! What `sharebridge doctor` concludes about one account from what it gathered: a list
//! of checks, each `ok`, `warn` or `fail` with what was found and, for anything not ok,
//! what to do. Pure and exhaustively tested; `doctor.rs` does the reading.
//!
//! The checks (DESIGN §2): credentials, the API-token retirement, token expiry, the
//! user's role, that the user is the bridge's alone, the webhook (present, active,
//! pointing here, subscribed to every event the bridge uses), its signing secret, clock
//! skew against Zendesk's `Date`, the plan's rate limit against `requests_per_minute`,
//! and the store file itself. A `fail` makes `doctor` exit 1; a `warn` does not.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::webhook;
use crate::config::API_TOKENS_END;
use crate::zendesk::client::AuthState;
use crate::zendesk::webhooks::Webhook;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

/// One finding: JSON `{account, check, status, detail, fix}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Check {
    pub account: String,
    pub check: String,
    pub status: Status,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// Why `users/me` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeFailure {
    /// No usable OAuth credential (none stored, or Zendesk refused its refresh).
    NotConnected(String),
    /// Zendesk refused the credential (HTTP 401/403).
    Refused(u16),
    /// The account could not be reached.
    Unreachable(String),
    /// Anything else, in words.
    Other(String),
}

/// What `users/me` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probed {
    pub user_id: u64,
    pub name: String,
    pub email: Option<String>,
    pub role: String,
    pub server_date: Option<Timestamp>,
    pub rate_limit: Option<u32>,
}

/// What was found about the account's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookFacts {
    /// Neither `connect` nor the configuration knows one.
    None,
    /// The configuration sets `webhook_secret` (a webhook made by hand); these webhooks
    /// post to the bridge's endpoint.
    ByHand { posting_here: Vec<Webhook> },
    /// `connect` made webhook `id`, and Zendesk no longer has it.
    Deleted { id: String },
    /// `connect` made it and Zendesk shows it.
    Found(Webhook),
    /// It could not be read (a non-admin user, a network failure).
    Unreadable(String),
}

/// What `doctor` gathered about one account.
#[derive(Debug, Clone)]
pub struct Facts {
    pub account: String,
    /// The account's auth state (kind, expiries, a dead credential).
    pub auth: AuthState,
    pub probe: Result<Probed, ProbeFailure>,
    /// The user `connect` signed in as, if it ran.
    pub connected_user: Option<u64>,
    pub requests_per_minute: u32,
    /// `{public_url}/webhooks/{account}`, when `daemon.public_url` is set.
    pub expected_endpoint: Option<String>,
    pub webhook: WebhookFacts,
    /// Whether the webhook's signing secret equals the one the bridge verifies with
    /// (`None`: not compared).
    pub secret_matches: Option<bool>,
    /// Comments by the bridge's user since `since` that the store does not know as the
    /// bridge's own: their tickets. `Err`: why it could not be told.
    pub foreign_comments: Result<Vec<u64>, String>,
    pub foreign_since: Option<Timestamp>,
    /// The store file is readable by other users (`None`: not checked).
    pub store_readable_by_others: Option<bool>,
    /// Whether there is a store at all (`connect` or `run` creates it).
    pub store_exists: bool,
    /// The store holds sealed secrets and no `daemon.store_key` opens them.
    pub store_unsealable: Option<String>,
    pub now: Timestamp,
}

fn connect_fix(account: &str) -> Option<String> {
    Some(format!("run `sharebridge connect {account}`"))
}

fn check(
    f: &Facts,
    name: &'static str,
    status: Status,
    detail: impl Into<String>,
    fix: Option<String>,
) -> Check {
    Check {
        account: f.account.clone(),
        check: name.to_owned(),
        status,
        detail: detail.into(),
        fix,
    }
}

fn ts(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// Every check for one account. Pure.
pub fn evaluate(f: &Facts) -> Vec<Check> {
    let a = f.account.as_str();
    let mut out = Vec::new();
    let api_token = f.auth.kind == "api_token";

    // Credentials.
    match &f.probe {
        Ok(p) => {
            let who = format!(
                "signed in as {} <{}> (user {})",
                p.name,
                p.email.as_deref().unwrap_or("no email"),
                p.user_id
            );
            match f.connected_user {
                Some(u) if u != p.user_id => out.push(check(
                    f,
                    "credentials",
                    Status::Fail,
                    format!("{who}, but connect signed the bridge in as user {u}: its own writes would not be recognised"),
                    Some(format!("run `sharebridge connect {a} --sign-in` as the bridge's dedicated user")),
                )),
                _ => out.push(check(f, "credentials", Status::Ok, who, None)),
            }
        }
        Err(ProbeFailure::NotConnected(why)) => out.push(check(
            f,
            "credentials",
            Status::Fail,
            format!("no usable OAuth credential: {why}"),
            connect_fix(a),
        )),
        Err(ProbeFailure::Refused(status)) => out.push(check(
            f,
            "credentials",
            Status::Fail,
            format!("Zendesk refuses the credential (HTTP {status}): revoked, expired, or its user was deactivated"),
            if api_token {
                Some(format!("create an OAuth client, configure accounts.{a}.oauth and run `sharebridge connect {a}`"))
            } else {
                connect_fix(a)
            },
        )),
        Err(ProbeFailure::Unreachable(why)) => out.push(check(
            f,
            "credentials",
            Status::Fail,
            format!("cannot reach the account: {why}"),
            Some(format!("check accounts.{a}.subdomain / base_url, DNS and the network path to Zendesk")),
        )),
        Err(ProbeFailure::Other(why)) => out.push(check(
            f,
            "credentials",
            Status::Fail,
            why.clone(),
            connect_fix(a),
        )),
    }

    if api_token {
        out.push(check(
            f,
            "api_token",
            Status::Warn,
            format!("this account uses an API token: Zendesk stops accepting API tokens on {API_TOKENS_END}"),
            Some(format!("create an OAuth client in Admin Center, replace email/token with oauth = {{ client_id, client_secret_file }} and run `sharebridge connect {a}`")),
        ));
    } else {
        out.push(token_expiry(f));
    }

    if let Ok(p) = &f.probe {
        out.push(role(f, p));
        out.push(dedicated(f, p));
    }
    out.extend(webhook_checks(f));
    if let Ok(p) = &f.probe {
        out.push(clock(f, p));
        out.push(rate_limit(f, p));
    }
    out.push(store_check(f));
    out
}

fn token_expiry(f: &Facts) -> Check {
    let a = &f.account;
    if let Some(why) = &f.auth.dead {
        return check(f, "token_expiry", Status::Fail, why.clone(), connect_fix(a));
    }
    if let Some(r) = f.auth.refresh_expires_at
        && r <= f.now
    {
        return check(
            f,
            "token_expiry",
            Status::Fail,
            format!("the refresh token expired at {}", ts(r)),
            connect_fix(a),
        );
    }
    let access = f
        .auth
        .access_expires_at
        .map(|t| format!("access token valid until {}", ts(t)))
        .unwrap_or_else(|| "no access token held yet".into());
    let detail = match f.auth.kind {
        "client_credentials" => format!("{access}; renewed with the client's credentials"),
        _ => match f.auth.refresh_expires_at {
            Some(r) => format!(
                "{access}; refresh token valid until {} (the daemon refreshes it once half its life has passed)",
                ts(r)
            ),
            None => format!("{access}; refreshed ahead of expiry by the daemon"),
        },
    };
    check(f, "token_expiry", Status::Ok, detail, None)
}

fn role(f: &Facts, p: &Probed) -> Check {
    match p.role.as_str() {
        "admin" => check(f, "role", Status::Ok, "admin: may sync tickets and manage the bridge's webhook", None),
        "agent" => check(
            f,
            "role",
            Status::Warn,
            "agent: enough to sync tickets, but only admins may create or change webhooks (connect)",
            Some("make the bridge's user an admin before running connect, or manage the webhook by hand (webhook_secret)".into()),
        ),
        other => check(
            f,
            "role",
            Status::Fail,
            format!("the bridge's user is {:?}, not an agent: it cannot read or write tickets through the API", if other.is_empty() { "of no role" } else { other }),
            Some("give the bridge a dedicated agent (admin for connect) and sign in as it".into()),
        ),
    }
}

fn dedicated(f: &Facts, p: &Probed) -> Check {
    let since = f
        .foreign_since
        .map(|t| format!(" since {}", ts(t)))
        .unwrap_or_default();
    match &f.foreign_comments {
        Ok(tickets) if tickets.is_empty() => check(
            f,
            "dedicated",
            Status::Ok,
            format!(
                "every comment by {} on the account{since} was written by this bridge",
                p.name
            ),
            None,
        ),
        Ok(tickets) => {
            let shown: Vec<String> = tickets.iter().take(5).map(|t| format!("#{t}")).collect();
            check(
                f,
                "dedicated",
                Status::Fail,
                format!(
                    "{} wrote comments{since} that this bridge did not (tickets {}): the user is used by someone or something else, and such comments are taken for the bridge's and never mirrored",
                    p.name,
                    shown.join(", ")
                ),
                Some(format!(
                    "give the bridge a user of its own (used by nothing and nobody else) and run `sharebridge connect {} --sign-in` as it",
                    f.account
                )),
            )
        }
        Err(why) => check(
            f,
            "dedicated",
            Status::Warn,
            format!(
                "could not tell whether {} is used by the bridge alone: {why}",
                p.name
            ),
            None,
        ),
    }
}

fn webhook_checks(f: &Facts) -> Vec<Check> {
    let a = f.account.as_str();
    let mut out = Vec::new();
    match &f.webhook {
        WebhookFacts::None => out.push(check(
            f,
            "webhook",
            Status::Warn,
            "no webhook: changes are found by polling only (latency up to daemon.poll_interval)",
            Some(if f.expected_endpoint.is_some() {
                format!("run `sharebridge connect {a}`")
            } else {
                format!("set daemon.public_url and run `sharebridge connect {a}`")
            }),
        )),
        WebhookFacts::Deleted { id } => out.push(check(
            f,
            "webhook",
            Status::Fail,
            format!("the webhook connect made ({id}) was deleted: Zendesk no longer has it, and changes are found by polling only"),
            Some(format!("run `sharebridge connect {a}` to create it again")),
        )),
        WebhookFacts::Unreadable(why) => out.push(check(
            f,
            "webhook",
            Status::Warn,
            format!("the webhook could not be read: {why}"),
            None,
        )),
        WebhookFacts::ByHand { posting_here } => match (posting_here.as_slice(), &f.expected_endpoint) {
            (_, None) => out.push(check(
                f,
                "webhook",
                Status::Warn,
                "webhook_secret is set (a webhook made by hand); without daemon.public_url it cannot be checked",
                None,
            )),
            ([], Some(e)) => out.push(check(
                f,
                "webhook",
                Status::Fail,
                format!("webhook_secret is set, but no webhook posts to {e}"),
                Some(format!("create the webhook by hand, or remove webhook_secret and run `sharebridge connect {a}`")),
            )),
            (hooks, Some(_)) => {
                for w in hooks {
                    out.push(found(f, w));
                }
            }
        },
        WebhookFacts::Found(w) => out.push(found(f, w)),
    }
    match f.secret_matches {
        Some(true) => out.push(check(
            f,
            "webhook_secret",
            Status::Ok,
            "the webhook's signing secret is the one the bridge verifies with",
            None,
        )),
        Some(false) => out.push(check(
            f,
            "webhook_secret",
            Status::Fail,
            "wrong signing secret: the webhook signs with a secret other than the one the bridge verifies with, so every delivery is refused (401)",
            Some(if matches!(f.webhook, WebhookFacts::ByHand { .. }) {
                format!("set accounts.{a}.webhook_secret to the webhook's signing secret (Admin Center), or remove it and run `sharebridge connect {a}`")
            } else {
                format!("run `sharebridge connect {a}` to read the secret again (then restart the daemon)")
            }),
        )),
        None => {}
    }
    out
}

fn found(f: &Facts, w: &Webhook) -> Check {
    let a = f.account.as_str();
    let mut problems = Vec::new();
    if !w.status.eq_ignore_ascii_case("active") {
        problems.push(format!(
            "it is {}",
            if w.status.is_empty() {
                "not active"
            } else {
                &w.status
            }
        ));
    }
    if let Some(e) = &f.expected_endpoint
        && &w.endpoint != e
    {
        problems.push(format!("it posts to {}, not {e}", w.endpoint));
    }
    let missing = webhook::missing_subscriptions(&w.subscriptions);
    if !missing.is_empty()
        && !w
            .subscriptions
            .iter()
            .any(|s| s == "conditional_ticket_events")
    {
        problems.push(format!("it is not subscribed to {}", missing.join(", ")));
    }
    if problems.is_empty() {
        check(
            f,
            "webhook",
            Status::Ok,
            format!(
                "webhook {:?} ({}) is active, posts to {} and has every subscription",
                w.name, w.id, w.endpoint
            ),
            None,
        )
    } else {
        check(
            f,
            "webhook",
            Status::Fail,
            format!("webhook {:?} ({}): {}", w.name, w.id, problems.join("; ")),
            Some(format!("run `sharebridge connect {a}` to put it right")),
        )
    }
}

/// Beyond this, a signed webhook is refused as stale (`server::webhook::MAX_SKEW`).
const STALE: SignedDuration = SignedDuration::from_secs(5 * 60);

fn clock(f: &Facts, p: &Probed) -> Check {
    let Some(date) = p.server_date else {
        return check(
            f,
            "clock",
            Status::Warn,
            "Zendesk's answer had no Date header to compare with",
            None,
        );
    };
    let skew = f.now.duration_since(date);
    let secs = skew.as_secs();
    let words = if secs >= 0 {
        format!("this host's clock is {secs} s ahead of Zendesk's")
    } else {
        format!("this host's clock is {} s behind Zendesk's", -secs)
    };
    let fix = Some(
        "synchronise this host's clock (chrony, systemd-timesyncd: `timedatectl set-ntp true`)"
            .to_owned(),
    );
    if skew.abs() <= SignedDuration::from_secs(30) {
        check(f, "clock", Status::Ok, words, None)
    } else if skew.abs() < STALE - SignedDuration::from_secs(60) {
        check(
            f,
            "clock",
            Status::Warn,
            format!("{words}; webhooks are refused as stale beyond 5 minutes"),
            fix,
        )
    } else {
        check(
            f,
            "clock",
            Status::Fail,
            format!(
                "{words}: signed webhooks are refused as stale (5 minutes) and token expiries are misjudged"
            ),
            fix,
        )
    }
}

fn rate_limit(f: &Facts, p: &Probed) -> Check {
    let a = &f.account;
    let rpm = f.requests_per_minute;
    match p.rate_limit {
        None => check(
            f,
            "rate_limit",
            Status::Warn,
            format!("Zendesk sent no X-Rate-Limit header; requests_per_minute is {rpm}"),
            None,
        ),
        Some(limit) if rpm > limit => check(
            f,
            "rate_limit",
            Status::Fail,
            format!(
                "requests_per_minute is {rpm}, above the plan's {limit} per minute: the bridge will be throttled (429)"
            ),
            Some(format!(
                "set accounts.{a}.requests_per_minute to at most {limit} (less if other integrations use this account's API)"
            )),
        ),
        Some(limit) => check(
            f,
            "rate_limit",
            Status::Ok,
            format!("requests_per_minute {rpm} within the plan's {limit} per minute"),
            None,
        ),
    }
}

fn store_check(f: &Facts) -> Check {
    if let Some(why) = &f.store_unsealable {
        return check(
            f,
            "store",
            Status::Fail,
            format!("the store's secrets cannot be opened: {why}"),
            Some("set daemon.store_key to the key that sealed them (or run connect again to replace them)".into()),
        );
    }
    match f.store_readable_by_others {
        Some(true) => check(
            f,
            "store",
            Status::Fail,
            "the store file is readable by other users, and it holds OAuth tokens and webhook secrets",
            Some(
                "run chmod 600 on the store file (sharebridge does so itself when it opens it)"
                    .into(),
            ),
        ),
        Some(false) => check(
            f,
            "store",
            Status::Ok,
            "the store file is readable by its owner alone",
            None,
        ),
        None if !f.store_exists => check(
            f,
            "store",
            Status::Ok,
            "no store yet (`connect` or `run` creates it, owner-only)",
            None,
        ),
        None => check(
            f,
            "store",
            Status::Ok,
            "the daemon holds the store and made it owner-only when it opened it",
            None,
        ),
    }
}

/// True when any check failed.
pub fn any_failed(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.status == Status::Fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn hook() -> Webhook {
        let w = webhook::wanted("acme", "https://b.example/webhooks/acme");
        Webhook {
            id: "01W".into(),
            name: w.name,
            status: "active".into(),
            endpoint: w.endpoint,
            http_method: "POST".into(),
            request_format: "json".into(),
            subscriptions: w.subscriptions,
            description: None,
        }
    }

    /// A healthy OAuth account.
    fn healthy() -> Facts {
        Facts {
            account: "acme".into(),
            auth: AuthState {
                kind: "oauth",
                access_expires_at: Some(t("2026-11-23T06:00:00Z")),
                refresh_expires_at: Some(t("2026-12-20T00:00:00Z")),
                issued_at: Some(t("2026-11-23T05:30:00Z")),
                has_token: true,
                dead: None,
            },
            probe: Ok(Probed {
                user_id: 7,
                name: "Bridge".into(),
                email: Some("bridge@acme.example".into()),
                role: "admin".into(),
                server_date: Some(t("2026-11-23T05:40:00Z")),
                rate_limit: Some(400),
            }),
            connected_user: Some(7),
            requests_per_minute: 400,
            expected_endpoint: Some("https://b.example/webhooks/acme".into()),
            webhook: WebhookFacts::Found(hook()),
            secret_matches: Some(true),
            foreign_comments: Ok(vec![]),
            foreign_since: Some(t("2026-11-16T05:40:00Z")),
            store_readable_by_others: Some(false),
            store_exists: true,
            store_unsealable: None,
            now: t("2026-11-23T05:40:02Z"),
        }
    }

    fn status_of(checks: &[Check], name: &str) -> Option<Status> {
        checks.iter().find(|c| c.check == name).map(|c| c.status)
    }

    #[test]
    fn a_healthy_account_passes_every_check() {
        let checks = evaluate(&healthy());
        for c in &checks {
            assert_eq!(c.status, Status::Ok, "{c:?}");
            assert_eq!(c.fix, None);
        }
        let names: Vec<&str> = checks.iter().map(|c| c.check.as_str()).collect();
        assert_eq!(
            names,
            [
                "credentials",
                "token_expiry",
                "role",
                "dedicated",
                "webhook",
                "webhook_secret",
                "clock",
                "rate_limit",
                "store"
            ]
        );
        assert!(!any_failed(&checks));
    }

    /// Each broken fact fails (or warns) exactly the check that names it, with a fix.
    #[test]
    fn each_failure_is_named_with_its_fix() {
        type Breaker = fn(&mut Facts);
        let table: &[(&str, Status, Breaker, &str)] = &[
            (
                "credentials",
                Status::Fail,
                |f| f.probe = Err(ProbeFailure::Refused(401)),
                "sharebridge connect acme",
            ),
            (
                "credentials",
                Status::Fail,
                |f| {
                    f.probe = Err(ProbeFailure::NotConnected(
                        "no OAuth token is stored".into(),
                    ))
                },
                "sharebridge connect acme",
            ),
            (
                "credentials",
                Status::Fail,
                |f| f.probe = Err(ProbeFailure::Unreachable("connection refused".into())),
                "base_url",
            ),
            (
                "credentials",
                Status::Fail,
                |f| f.connected_user = Some(8),
                "--sign-in",
            ),
            (
                "token_expiry",
                Status::Fail,
                |f| {
                    f.auth.dead = Some("Zendesk refused the stored refresh token (HTTP 401)".into())
                },
                "sharebridge connect acme",
            ),
            (
                "token_expiry",
                Status::Fail,
                |f| f.auth.refresh_expires_at = Some(t("2026-11-01T00:00:00Z")),
                "sharebridge connect acme",
            ),
            (
                "role",
                Status::Warn,
                |f| {
                    if let Ok(p) = &mut f.probe {
                        p.role = "agent".into()
                    }
                },
                "admin",
            ),
            (
                "role",
                Status::Fail,
                |f| {
                    if let Ok(p) = &mut f.probe {
                        p.role = "end-user".into()
                    }
                },
                "agent",
            ),
            (
                "dedicated",
                Status::Fail,
                |f| f.foreign_comments = Ok(vec![12, 15]),
                "user of its own",
            ),
            (
                "webhook",
                Status::Fail,
                |f| f.webhook = WebhookFacts::Deleted { id: "01W".into() },
                "sharebridge connect acme",
            ),
            (
                "webhook",
                Status::Fail,
                |f| {
                    if let WebhookFacts::Found(w) = &mut f.webhook {
                        w.status = "inactive".into()
                    }
                },
                "sharebridge connect acme",
            ),
            (
                "webhook",
                Status::Fail,
                |f| {
                    if let WebhookFacts::Found(w) = &mut f.webhook {
                        w.endpoint = "https://old.example/webhooks/acme".into()
                    }
                },
                "sharebridge connect acme",
            ),
            (
                "webhook",
                Status::Fail,
                |f| {
                    if let WebhookFacts::Found(w) = &mut f.webhook {
                        w.subscriptions.pop();
                    }
                },
                "sharebridge connect acme",
            ),
            (
                "webhook",
                Status::Warn,
                |f| f.webhook = WebhookFacts::None,
                "sharebridge connect acme",
            ),
            (
                "webhook",
                Status::Fail,
                |f| {
                    f.webhook = WebhookFacts::ByHand {
                        posting_here: vec![],
                    }
                },
                "webhook_secret",
            ),
            (
                "webhook_secret",
                Status::Fail,
                |f| f.secret_matches = Some(false),
                "sharebridge connect acme",
            ),
            (
                "clock",
                Status::Warn,
                |f| f.now = t("2026-11-23T05:41:30Z"),
                "timedatectl",
            ),
            (
                "clock",
                Status::Fail,
                |f| f.now = t("2026-11-23T05:30:00Z"),
                "timedatectl",
            ),
            (
                "rate_limit",
                Status::Fail,
                |f| f.requests_per_minute = 700,
                "at most 400",
            ),
            (
                "rate_limit",
                Status::Warn,
                |f| {
                    if let Ok(p) = &mut f.probe {
                        p.rate_limit = None
                    }
                },
                "",
            ),
            (
                "store",
                Status::Fail,
                |f| f.store_readable_by_others = Some(true),
                "chmod 600",
            ),
            (
                "store",
                Status::Fail,
                |f| f.store_unsealable = Some("no key".into()),
                "daemon.store_key",
            ),
        ];
        for (name, status, breaker, fix) in table {
            let mut f = healthy();
            breaker(&mut f);
            let checks = evaluate(&f);
            let bad: Vec<&Check> = checks.iter().filter(|c| c.status != Status::Ok).collect();
            assert!(
                bad.iter().all(|c| c.check == *name),
                "{name}: other checks changed too: {bad:?}"
            );
            let c = bad
                .iter()
                .find(|c| c.status == *status)
                .unwrap_or_else(|| panic!("{name} is not {status:?}: {checks:?}"));
            if !fix.is_empty() {
                let text = c.fix.as_deref().unwrap_or_default();
                assert!(text.contains(fix), "{name}: fix {text:?} lacks {fix:?}");
            }
            assert_eq!(any_failed(&checks), *status == Status::Fail, "{name}");
        }
    }

    #[test]
    fn an_account_that_cannot_sign_in_skips_what_needs_a_session() {
        let mut f = healthy();
        f.probe = Err(ProbeFailure::NotConnected(
            "no OAuth token is stored for it yet".into(),
        ));
        let checks = evaluate(&f);
        for skipped in ["role", "dedicated", "clock", "rate_limit"] {
            assert_eq!(status_of(&checks, skipped), None, "{skipped}");
        }
        assert_eq!(status_of(&checks, "credentials"), Some(Status::Fail));
    }

    #[test]
    fn api_tokens_warn_with_the_date() {
        let mut f = healthy();
        f.auth.kind = "api_token";
        let checks = evaluate(&f);
        let c = checks.iter().find(|c| c.check == "api_token").unwrap();
        assert_eq!(c.status, Status::Warn);
        assert!(c.detail.contains("2027-04-30"));
        assert!(
            c.fix
                .as_deref()
                .unwrap()
                .contains("sharebridge connect acme")
        );
        assert_eq!(status_of(&checks, "token_expiry"), None);
        assert!(!any_failed(&checks));
    }

    #[test]
    fn json_names_are_fixed() {
        let c = &evaluate(&healthy())[0];
        let v = serde_json::to_value(c).unwrap();
        assert_eq!(v["account"], "acme");
        assert_eq!(v["check"], "credentials");
        assert_eq!(v["status"], "ok");
        assert!(v.get("fix").is_none());
    }
}
