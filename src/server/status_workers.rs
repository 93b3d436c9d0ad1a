//! The status page's "Accounts" section: each account's workers (auth, webhook, poller)
//! with state, since when, last success and last error, the export position, the OAuth
//! token's expiry, and the fix when a person must act. Pure rendering of
//! `engine::workers::AccountView`s, which hold ids, states, times and Zendesk's error
//! descriptions only: never a token or a comment.

use std::fmt::Write as _;

use jiff::Timestamp;

use super::status::{badge, escape, section, span, table_head, time};
use crate::engine::workers::{AccountView, Worker, WorkerState, WorkerStatus};

fn state_badge(s: &WorkerStatus) -> String {
    let class = match s.state {
        WorkerState::Ok => "ok",
        WorkerState::Starting | WorkerState::Off => "off",
        WorkerState::Failing => "warn",
        WorkerState::Stopped => "bad",
    };
    badge(class, s.state.as_str())
}

fn ago(t: Option<Timestamp>, now: Timestamp) -> String {
    match t {
        Some(t) => format!(
            "{} <span class=\"muted\">({} ago)</span>",
            escape(&time(t)),
            escape(&span(now.duration_since(t).as_secs()))
        ),
        None => "<span class=\"muted\">never</span>".to_owned(),
    }
}

pub(super) fn accounts(out: &mut String, accounts: &[AccountView], now: Timestamp) {
    section(
        out,
        "Accounts",
        "each account's workers: credentials, webhooks, the export poller",
    );
    if accounts.is_empty() {
        out.push_str("<p class=\"empty\">No accounts.</p></section>");
        return;
    }
    table_head(
        out,
        &["account", "worker", "state", "last success", "last error"],
    );
    for a in accounts {
        for w in Worker::ALL {
            let s = a.worker(w);
            let mut what = w.as_str().to_owned();
            match w {
                Worker::Auth => {
                    if let Some(exp) = a.token_expires_at {
                        what.push_str(&format!(" (token until {})", time(exp)));
                    }
                }
                Worker::Poller => {
                    if let Some(p) = &a.export_position {
                        what.push_str(&format!(" (position {p})"));
                    }
                }
                Worker::Webhook => {}
            }
            let error = match (&s.last_error, s.last_error_at) {
                (Some(e), at) => format!("{} {}", escape(e), ago(at, now)),
                (None, _) => "<span class=\"muted\">none</span>".to_owned(),
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"t\">{}</td><td>{error}</td></tr>",
                escape(&a.account),
                escape(&what),
                state_badge(s),
                ago(s.last_success, now),
            );
        }
        if let Some(fix) = &a.fix {
            let _ = write!(
                out,
                "<tr><td>{}</td><td colspan=\"4\">{} {}</td></tr>",
                escape(&a.account),
                badge("bad", "fix"),
                escape(fix),
            );
        }
    }
    out.push_str("</tbody></table></section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn status(state: WorkerState, error: Option<&str>) -> WorkerStatus {
        WorkerStatus {
            state,
            since: Some(at("2026-11-25T11:00:00Z")),
            last_success: Some(at("2026-11-25T11:59:00Z")),
            last_error: error.map(str::to_owned),
            last_error_at: error.map(|_| at("2026-11-25T11:59:30Z")),
        }
    }

    #[test]
    fn a_dead_credential_shows_stopped_with_its_fix() {
        let now = at("2026-11-25T12:00:00Z");
        let vendor = AccountView {
            account: "vendor".into(),
            subdomain: "vendor".into(),
            auth: status(WorkerState::Stopped, Some("HTTP 401 <refused>")),
            token_expires_at: None,
            webhook: status(WorkerState::Off, None),
            poller: status(WorkerState::Stopped, Some("HTTP 401")),
            export_position: Some("1764000000:12".into()),
            fix: Some(crate::engine::workers::credential_fix("vendor")),
        };
        let mut out = String::new();
        accounts(&mut out, &[vendor], now);
        for want in [
            ">stopped<",
            ">off<",
            "HTTP 401 &lt;refused&gt;",
            "position 1764000000:12",
            "sharebridge connect vendor",
            "1 min ago",
        ] {
            assert!(out.contains(want), "{want} in {out}");
        }
        assert!(!out.contains("<refused>"), "escaped");
    }
}
