//! Change hints: "ticket T of account A changed", from webhooks and polls. A set, not a
//! queue: a webhook delivered twice (Zendesk may) or a poll that sees the same ticket is
//! one hint, and pushing never blocks, so the webhook handler answers at once.
//!
//! A hint may carry what its webhook said (an event webhook brings a new comment whole):
//! the engine then mirrors it without reading the sender. Any hint that carries nothing
//! (a trigger webhook, another event, a poll) makes the ticket's next run a full read.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use jiff::Timestamp;
use tokio::sync::Notify;

use crate::zendesk::models::Status;

/// A comment an event webhook (`ticket.comment_added`) carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedComment {
    pub id: u64,
    pub body: String,
    pub public: bool,
    pub author_id: u64,
    /// The author's name as the event gave it (empty when it did not).
    pub author_name: String,
    pub created_at: Timestamp,
}

/// The ticket as the event webhook described it (`detail`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CarriedTicket {
    pub status: Option<Status>,
    pub tags: Vec<String>,
    pub brand_id: Option<u64>,
}

/// A comment of the ticket whose privacy changed (an event webhook's
/// `comment_made_private` / `comment_redacted`, or the export's privacy and redaction
/// events): every mirror of it follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrivacyChange {
    pub comment: u64,
    /// Redacted (some or all of its text blotted out); otherwise made private.
    pub redacted: bool,
}

/// What the hints since the ticket's last run carried.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Carried {
    /// Some hint carried no comment: read the ticket.
    pub full: bool,
    /// Some hint did not even describe the ticket (a trigger webhook, a poll): what the
    /// ticket looks like now is unknown until it is read.
    pub blind: bool,
    pub comments: Vec<CarriedComment>,
    /// The newest `detail` seen.
    pub ticket: Option<CarriedTicket>,
    /// Comments whose privacy changed: kept whatever else the hints said.
    pub privacy: Vec<PrivacyChange>,
}

impl Carried {
    /// Nothing but privacy changes: the ticket itself need not be read.
    pub fn privacy_only(&self) -> bool {
        !self.full && self.comments.is_empty() && !self.privacy.is_empty()
    }
}

/// One changed ticket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hint {
    pub account: String,
    pub ticket: u64,
}

/// A deduplicating set of hints with a wake-up for the engine.
#[derive(Debug, Default)]
pub struct Hints {
    pending: Mutex<BTreeSet<Hint>>,
    carried: Mutex<HashMap<Hint, Carried>>,
    notify: Notify,
}

impl Hints {
    pub fn new() -> Hints {
        Hints::default()
    }

    /// Adds a hint that carries nothing (the ticket's next run reads it); returns false
    /// when it was already pending.
    pub fn push(&self, account: &str, ticket: u64) -> bool {
        self.carry(account, ticket, |c| {
            c.full = true;
            c.blind = true;
            c.comments.clear();
        });
        self.enqueue(account, ticket)
    }

    /// Adds a hint that describes the ticket as it is now (an event webhook's `detail`)
    /// but carries no comment: the ticket's next run reads it, if anything can follow.
    pub fn push_detail(&self, account: &str, ticket: u64, detail: CarriedTicket) -> bool {
        self.carry(account, ticket, |c| {
            c.full = true;
            c.comments.clear();
            c.ticket = Some(detail);
        });
        self.enqueue(account, ticket)
    }

    /// Adds a hint carrying a new comment and the ticket as the webhook described it.
    pub fn push_comment(
        &self,
        account: &str,
        ticket: u64,
        comment: CarriedComment,
        detail: CarriedTicket,
    ) -> bool {
        self.carry(account, ticket, |c| {
            if !c.full && !c.comments.iter().any(|x| x.id == comment.id) {
                c.comments.push(comment);
            }
            c.ticket = Some(detail);
        });
        self.enqueue(account, ticket)
    }

    /// Adds a hint that a comment's privacy changed at the source.
    pub fn push_privacy(&self, account: &str, ticket: u64, change: PrivacyChange) -> bool {
        self.carry(account, ticket, |c| {
            if !c.privacy.contains(&change) {
                c.privacy.push(change);
            }
        });
        self.enqueue(account, ticket)
    }

    /// The ticket's next run (a retry the scheduler already holds) reads the whole
    /// ticket, whatever later hints carry; nothing is enqueued.
    pub fn read_next_run(&self, account: &str, ticket: u64) {
        self.carry(account, ticket, |c| {
            c.full = true;
            c.blind = true;
            c.comments.clear();
        });
    }

    /// What the hints for this ticket carried since it was last taken; `None` when no
    /// hint recorded anything (a retry): read the ticket.
    pub fn take_carried(&self, account: &str, ticket: u64) -> Option<Carried> {
        self.carried
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&Hint {
                account: account.to_owned(),
                ticket,
            })
    }

    fn carry(&self, account: &str, ticket: u64, f: impl FnOnce(&mut Carried)) {
        let mut carried = self.carried.lock().unwrap_or_else(|e| e.into_inner());
        f(carried
            .entry(Hint {
                account: account.to_owned(),
                ticket,
            })
            .or_default());
    }

    fn enqueue(&self, account: &str, ticket: u64) -> bool {
        let added = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(Hint {
                account: account.to_owned(),
                ticket,
            });
        self.notify.notify_one();
        added
    }

    /// Takes every pending hint.
    pub fn drain(&self) -> Vec<Hint> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
            .into_iter()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Hints of `account` not yet taken by the scheduler.
    pub fn len_of(&self, account: &str) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|h| h.account == account)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until a hint is pushed (returns at once if one was pushed since the last wait).
    pub async fn wait(&self) {
        self.notify.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn duplicates_collapse_and_wait_wakes() {
        let hints = Hints::new();
        assert!(hints.push("acme", 1));
        assert!(!hints.push("acme", 1));
        assert!(hints.push("vendor", 1));
        hints.wait().await; // a permit was stored by push
        assert_eq!(hints.drain().len(), 2);
        assert!(hints.is_empty());
    }

    fn comment(id: u64) -> CarriedComment {
        CarriedComment {
            id,
            body: format!("c{id}"),
            public: true,
            author_id: 9,
            author_name: "Ann".into(),
            created_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn carried_comments_gather_until_a_full_hint_absorbs_them() {
        let hints = Hints::new();
        let detail = CarriedTicket::default();
        hints.push_comment("acme", 1, comment(5), detail.clone());
        hints.push_comment("acme", 1, comment(5), detail.clone()); // delivered twice
        hints.push_comment("acme", 1, comment(6), detail.clone());
        assert_eq!(hints.drain().len(), 1);
        let c = hints.take_carried("acme", 1).unwrap();
        assert!(!c.full);
        assert_eq!(c.comments.iter().map(|c| c.id).collect::<Vec<_>>(), [5, 6]);
        assert_eq!(hints.take_carried("acme", 1), None, "taken once");
        // Any hint that carries nothing makes the run a full read, before or after.
        hints.push_comment("acme", 2, comment(7), detail.clone());
        hints.push("acme", 2);
        hints.push_comment("acme", 2, comment(8), detail);
        let c = hints.take_carried("acme", 2).unwrap();
        assert!(c.full && c.comments.is_empty());
    }
}
