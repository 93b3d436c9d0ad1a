//! Each account's workers and their status (DESIGN §5, "accounts have status"): the
//! credential (`auth`), the webhook receiver (`webhook`) and the export poller
//! (`poller`). Each has a state, when it entered it, its last success and its last error;
//! the status page, `GET /api/accounts`, `/readyz` and the metric
//! `sharebridge_account_worker_up` render these records and keep no counters of their own.
//!
//! A credential Zendesk refuses (401, or a refused OAuth refresh) is *dead*: the account's
//! poller stops, tickets whose work needs it are parked instead of retried, and the status
//! names the fix. A reload (SIGHUP) tries it again.
//!
//! Pure bookkeeping over plain records apart from the map they live in; the engine calls
//! [`Workers::succeeded`] and [`Workers::failed`] where work succeeds or fails.

use std::collections::BTreeMap;
use std::sync::Mutex;

use jiff::Timestamp;
use serde::Serialize;

/// One of an account's workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Worker {
    Auth,
    Webhook,
    Poller,
}

impl Worker {
    pub const ALL: [Worker; 3] = [Worker::Auth, Worker::Webhook, Worker::Poller];

    pub fn as_str(self) -> &'static str {
        match self {
            Worker::Auth => "auth",
            Worker::Webhook => "webhook",
            Worker::Poller => "poller",
        }
    }
}

/// Where a worker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Nothing has succeeded or failed yet.
    Starting,
    Ok,
    /// The last attempt failed; it is tried again.
    Failing,
    /// Stopped until the fix named in `fix` is made (a dead credential).
    Stopped,
    /// Not configured (an account without `webhook_secret` gets no webhooks).
    Off,
}

impl WorkerState {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Starting => "starting",
            WorkerState::Ok => "ok",
            WorkerState::Failing => "failing",
            WorkerState::Stopped => "stopped",
            WorkerState::Off => "off",
        }
    }
}

/// One worker's status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerStatus {
    pub state: WorkerState,
    /// When it entered `state`.
    pub since: Option<Timestamp>,
    pub last_success: Option<Timestamp>,
    /// What last failed (never a secret: Zendesk errors name account, path and status).
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
}

impl WorkerStatus {
    fn new(state: WorkerState) -> WorkerStatus {
        WorkerStatus {
            state,
            since: None,
            last_success: None,
            last_error: None,
            last_error_at: None,
        }
    }

    fn enter(&mut self, state: WorkerState, now: Timestamp) {
        if self.state != state {
            self.state = state;
            self.since = Some(now);
        }
    }
}

/// One account's workers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountStatus {
    pub account: String,
    pub auth: WorkerStatus,
    pub webhook: WorkerStatus,
    pub poller: WorkerStatus,
    /// What to do when a worker is stopped or failing for a reason a person must fix.
    pub fix: Option<String>,
}

impl AccountStatus {
    fn new(account: &str, webhook: bool) -> AccountStatus {
        AccountStatus {
            account: account.to_owned(),
            auth: WorkerStatus::new(WorkerState::Starting),
            webhook: WorkerStatus::new(if webhook {
                WorkerState::Starting
            } else {
                WorkerState::Off
            }),
            poller: WorkerStatus::new(WorkerState::Starting),
            fix: None,
        }
    }

    pub fn worker(&self, w: Worker) -> &WorkerStatus {
        match w {
            Worker::Auth => &self.auth,
            Worker::Webhook => &self.webhook,
            Worker::Poller => &self.poller,
        }
    }

    fn worker_mut(&mut self, w: Worker) -> &mut WorkerStatus {
        match w {
            Worker::Auth => &mut self.auth,
            Worker::Webhook => &mut self.webhook,
            Worker::Poller => &mut self.poller,
        }
    }

    /// Whether the account's credential is dead (its work waits for a fix).
    pub fn credential_dead(&self) -> bool {
        self.auth.state == WorkerState::Stopped
    }
}

/// An account's status as reported (status page, `GET /api/accounts`): its workers plus
/// what the store knows of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountView {
    pub account: String,
    pub subdomain: String,
    pub auth: WorkerStatus,
    /// When the stored OAuth access token expires (it is refreshed before; `None` for an
    /// API token).
    pub token_expires_at: Option<Timestamp>,
    pub webhook: WorkerStatus,
    pub poller: WorkerStatus,
    /// Where the export resumes (`unix seconds:last event id`), once stored.
    pub export_position: Option<String>,
    /// What to do, when a person must fix something.
    pub fix: Option<String>,
}

impl AccountView {
    pub fn worker(&self, w: Worker) -> &WorkerStatus {
        match w {
            Worker::Auth => &self.auth,
            Worker::Webhook => &self.webhook,
            Worker::Poller => &self.poller,
        }
    }
}

/// What to do about a credential Zendesk refused.
pub fn credential_fix(account: &str) -> String {
    format!(
        "Zendesk refused account {account}'s credentials: run `sharebridge connect {account}` (OAuth) or set a valid accounts.{account}.token, then reload (systemctl reload sharebridge)"
    )
}

/// Every account's workers, by account name.
#[derive(Debug, Default)]
pub struct Workers {
    accounts: Mutex<BTreeMap<String, AccountStatus>>,
}

impl Workers {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, AccountStatus>) -> T) -> T {
        f(&mut self.accounts.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Brings the set in line with the configured accounts (`name`, has a webhook
    /// secret): new ones start, removed ones go, and `fresh` ones (rebuilt or tried again
    /// on reload) start over. Returns the accounts whose dead credential was cleared.
    pub fn configure(&self, accounts: &[(String, bool)], fresh: &[String]) -> Vec<String> {
        self.with(|map| {
            map.retain(|name, _| accounts.iter().any(|(n, _)| n == name));
            let mut revived = Vec::new();
            for (name, webhook) in accounts {
                let again = fresh.contains(name);
                match map.get_mut(name) {
                    Some(s) if !again => {
                        // The webhook secret may have come or gone.
                        match (*webhook, s.webhook.state) {
                            (false, _) => s.webhook = WorkerStatus::new(WorkerState::Off),
                            (true, WorkerState::Off) => {
                                s.webhook = WorkerStatus::new(WorkerState::Starting)
                            }
                            _ => {}
                        }
                    }
                    old => {
                        if old.is_some_and(|s| s.credential_dead()) {
                            revived.push(name.clone());
                        }
                        map.insert(name.clone(), AccountStatus::new(name, *webhook));
                    }
                }
            }
            revived
        })
    }

    /// Accounts whose credential is dead, tried again by a reload.
    pub fn dead(&self) -> Vec<String> {
        self.with(|map| {
            map.values()
                .filter(|s| s.credential_dead())
                .map(|s| s.account.clone())
                .collect()
        })
    }

    /// `worker` of `account` just did its work.
    pub fn succeeded(&self, account: &str, worker: Worker, now: Timestamp) {
        self.with(|map| {
            let Some(s) = map.get_mut(account) else {
                return;
            };
            // A worker that works proves the credential too.
            for w in [worker, Worker::Auth] {
                let ws = s.worker_mut(w);
                if ws.state == WorkerState::Stopped || ws.state == WorkerState::Off {
                    continue;
                }
                ws.enter(WorkerState::Ok, now);
                ws.last_success = Some(now);
            }
        })
    }

    /// `worker` of `account` failed with `error`; `dead` when the credential was refused
    /// (then the account's auth and poller stop until the fix).
    pub fn failed(&self, account: &str, worker: Worker, error: &str, dead: bool, now: Timestamp) {
        self.with(|map| {
            let Some(s) = map.get_mut(account) else {
                return;
            };
            let ws = s.worker_mut(worker);
            if ws.state != WorkerState::Off {
                ws.last_error = Some(error.to_owned());
                ws.last_error_at = Some(now);
                if ws.state != WorkerState::Stopped {
                    ws.enter(WorkerState::Failing, now);
                }
            }
            if dead {
                for w in [Worker::Auth, Worker::Poller] {
                    let ws = s.worker_mut(w);
                    ws.enter(WorkerState::Stopped, now);
                    ws.last_error = Some(error.to_owned());
                    ws.last_error_at = Some(now);
                }
                s.fix = Some(credential_fix(account));
            }
        })
    }

    pub fn credential_dead(&self, account: &str) -> bool {
        self.with(|map| map.get(account).is_some_and(AccountStatus::credential_dead))
    }

    /// Every account's status, by name.
    pub fn snapshot(&self) -> Vec<AccountStatus> {
        self.with(|map| map.values().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_dead_credential_stops_auth_and_poller_until_a_reload_tries_again() {
        let w = Workers::default();
        w.configure(&[("acme".into(), true), ("vendor".into(), false)], &[]);
        let t1 = at("2026-11-23T10:00:00Z");
        w.succeeded("acme", Worker::Poller, t1);
        let acme = &w.snapshot()[0];
        assert_eq!(acme.poller.state, WorkerState::Ok);
        assert_eq!(
            acme.auth.state,
            WorkerState::Ok,
            "a working poller proves auth"
        );
        assert_eq!(acme.webhook.state, WorkerState::Starting);
        assert_eq!(w.snapshot()[1].webhook.state, WorkerState::Off);

        let t2 = at("2026-11-23T10:01:00Z");
        w.failed("acme", Worker::Poller, "HTTP 500", false, t2);
        assert_eq!(w.snapshot()[0].poller.state, WorkerState::Failing);
        assert!(!w.credential_dead("acme"));

        w.failed("acme", Worker::Auth, "HTTP 401", true, t2);
        let acme = &w.snapshot()[0];
        assert!(w.credential_dead("acme"));
        assert_eq!(acme.poller.state, WorkerState::Stopped);
        assert_eq!(acme.auth.since, Some(t2));
        assert!(
            acme.fix
                .as_deref()
                .unwrap()
                .contains("sharebridge connect acme")
        );
        // A success elsewhere does not revive a dead credential; a reload does.
        w.succeeded("acme", Worker::Webhook, t2);
        assert!(w.credential_dead("acme"));
        assert_eq!(w.dead(), ["acme"]);
        let revived = w.configure(&[("acme".into(), true)], &w.dead());
        assert_eq!(revived, ["acme"]);
        assert!(!w.credential_dead("acme"));
        assert_eq!(w.snapshot().len(), 1, "vendor was removed");
    }
}
