//! The status page's "Accounts" section: each account's workers (auth, webhook, poller)
//! with state, since when, last success and last error, the export position, the OAuth
//! token's expiry, and the fix when a person must act. Pure rendering of
//! `engine::workers::AccountView`s, which hold ids, states, times and Zendesk's error
//! descriptions only: never a token or a comment.

use jiff::Timestamp;
use maud::{Markup, html};

use super::status_html::{badge, muted, section, table, time, when};
use crate::engine::workers::{AccountView, Worker, WorkerState, WorkerStatus};

fn state_badge(s: &WorkerStatus) -> Markup {
    let class = match s.state {
        WorkerState::Ok => "ok",
        WorkerState::Starting | WorkerState::Off => "off",
        WorkerState::Failing => "warn",
        WorkerState::Stopped => "bad",
    };
    badge(class, s.state.as_str())
}

/// The worker's name with what it holds: the token's expiry, the export position.
fn what(a: &AccountView, w: Worker) -> String {
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
    what
}

pub(super) fn accounts(accounts: &[AccountView], now: Timestamp) -> Markup {
    let columns = ["account", "worker", "state", "last success", "last error"];
    section(
        "Accounts",
        "each account's workers: credentials, webhooks, the export poller",
        accounts.is_empty().then_some("No accounts."),
        table(
            &columns,
            html! {
                @for a in accounts {
                    @for w in Worker::ALL {
                        @let s = a.worker(w);
                        tr {
                            td { (a.account) }
                            td { (what(a, w)) }
                            td { (state_badge(s)) }
                            td.t { (when(s.last_success, now)) }
                            td {
                                @match &s.last_error {
                                    Some(e) => { (e) " " (when(s.last_error_at, now)) }
                                    None => { (muted("none")) }
                                }
                            }
                        }
                    }
                    @if let Some(fix) = &a.fix {
                        tr {
                            td { (a.account) }
                            td colspan="4" { (badge("bad", "fix")) " " (fix) }
                        }
                    }
                }
            },
        ),
    )
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
        let out = accounts(&[vendor], now).into_string();
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
