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

    /// Whether a hint not taken yet says that one of `comments` of this ticket was made
    /// private or redacted: news a write built from an earlier read must not outrun (it
    /// would send the comment as that read showed it). When so, the ticket's next run
    /// reads it whole (the write is withheld, and what it carried is planned again).
    pub fn privacy_news(&self, account: &str, ticket: u64, comments: &[u64]) -> bool {
        let mut carried = self.carried.lock().unwrap_or_else(|e| e.into_inner());
        let key = Hint {
            account: account.to_owned(),
            ticket,
        };
        let Some(c) = carried.get_mut(&key) else {
            return false;
        };
        if !c.privacy.iter().any(|p| comments.contains(&p.comment)) {
            return false;
        }
        c.full = true;
        c.comments.clear();
        true
    }

    /// Whether a hint not taken yet describes this ticket (a webhook's `detail`, newer
    /// than any read the caller made) without any of `tags`: an auto-share decided from
    /// an earlier read that showed one must not go on. When so, the ticket's next run
    /// reads it whole and decides again.
    pub fn untagged_news(&self, account: &str, ticket: u64, tags: &[String]) -> bool {
        let mut carried = self.carried.lock().unwrap_or_else(|e| e.into_inner());
        let key = Hint {
            account: account.to_owned(),
            ticket,
        };
        let Some(c) = carried.get_mut(&key) else {
            return false;
        };
        let untagged = c
            .ticket
            .as_ref()
            .is_some_and(|t| !t.tags.iter().any(|tag| tags.contains(tag)));
        if untagged {
            c.full = true;
            c.comments.clear();
        }
        untagged
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

    /// A run of this ticket failed (or panicked) after taking `taken`: its retry reads
    /// the ticket whole, and keeps the privacy changes. Found by tests/chaos.rs: a run
    /// took the export's hint for a status change and failed (a write in doubt); comment
    /// webhooks came meanwhile, so the retry took only their comments, mirrored them
    /// without reading the ticket, and the status change never crossed (the export had
    /// moved past it). Hints that came meanwhile are kept (their detail is newer).
    pub fn put_back(&self, account: &str, ticket: u64, taken: Option<Carried>) {
        let key = Hint {
            account: account.to_owned(),
            ticket,
        };
        let mut carried = self.carried.lock().unwrap_or_else(|e| e.into_inner());
        // Nothing taken and nothing new: the retry already finds nothing and reads.
        if taken.is_none() && !carried.contains_key(&key) {
            return;
        }
        let now = carried.entry(key).or_default();
        now.full = true;
        now.comments.clear();
        let taken = taken.unwrap_or(Carried {
            blind: true,
            ..Carried::default()
        });
        now.blind |= taken.blind;
        if now.ticket.is_none() {
            now.ticket = taken.ticket;
        }
        for change in taken.privacy.into_iter().rev() {
            if !now.privacy.contains(&change) {
                now.privacy.insert(0, change);
            }
        }
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

    #[test]
    fn a_failed_run_puts_back_a_full_read_and_its_privacy_changes() {
        let hints = Hints::new();
        let detail = CarriedTicket::default();
        let made_private = PrivacyChange {
            comment: 4,
            redacted: false,
        };
        // The run took a poll's hint (a status change) and a privacy change, and failed;
        // a comment's webhook came meanwhile.
        hints.push("acme", 1);
        hints.push_privacy("acme", 1, made_private);
        let taken = hints.take_carried("acme", 1);
        hints.push_comment("acme", 1, comment(7), detail.clone());
        hints.put_back("acme", 1, taken);
        let c = hints.take_carried("acme", 1).unwrap();
        assert!(c.full && c.blind && c.comments.is_empty(), "{c:?}");
        assert_eq!(c.ticket, Some(detail.clone()), "the newer detail is kept");
        assert_eq!(c.privacy, [made_private]);
        // A run that took only carried comments: its retry reads the ticket too.
        hints.push_comment("acme", 2, comment(8), detail.clone());
        let taken = hints.take_carried("acme", 2);
        hints.push_comment("acme", 2, comment(9), detail.clone());
        hints.put_back("acme", 2, taken);
        let c = hints.take_carried("acme", 2).unwrap();
        assert!(c.full && !c.blind && c.comments.is_empty(), "{c:?}");
        // A retry that took nothing, with nothing new: nothing is kept.
        hints.put_back("acme", 3, None);
        assert_eq!(hints.take_carried("acme", 3), None);
        // ... and with a comment's webhook meanwhile: the retry reads, blind.
        hints.push_comment("acme", 4, comment(10), detail);
        hints.put_back("acme", 4, None);
        let c = hints.take_carried("acme", 4).unwrap();
        assert!(c.full && c.blind && c.comments.is_empty(), "{c:?}");
    }

    #[test]
    fn news_of_a_comment_made_private_stops_a_write_of_it_and_makes_the_next_run_read() {
        let hints = Hints::new();
        let detail = CarriedTicket::default();
        // No hint at all, or one about other comments: no news.
        assert!(!hints.privacy_news("acme", 1, &[4]));
        hints.push_comment("acme", 1, comment(7), detail.clone());
        let other = PrivacyChange {
            comment: 5,
            redacted: false,
        };
        hints.push_privacy("acme", 1, other);
        assert!(!hints.privacy_news("acme", 1, &[4, 6]));
        assert!(
            !hints.privacy_news("vendor", 1, &[5]),
            "another account's ticket"
        );
        let c = hints.take_carried("acme", 1).unwrap();
        assert!(
            !c.full && c.comments.len() == 1,
            "no news changes nothing: {c:?}"
        );
        // A comment the write carries was made private (or redacted) since its read.
        for redacted in [false, true] {
            let change = PrivacyChange {
                comment: 4,
                redacted,
            };
            hints.push_comment("acme", 2, comment(8), detail.clone());
            hints.push_privacy("acme", 2, change);
            assert!(hints.privacy_news("acme", 2, &[3, 4]));
            let c = hints.take_carried("acme", 2).unwrap();
            assert!(c.full && c.comments.is_empty(), "the next run reads: {c:?}");
            assert_eq!(c.privacy, [change], "and follows the change");
        }
    }

    #[test]
    fn news_that_the_share_tag_is_gone_stops_an_auto_share() {
        let hints = Hints::new();
        let tags = ["vendor_escalation".to_owned()];
        assert!(!hints.untagged_news("acme", 1, &tags));
        // A hint with no detail says nothing about tags.
        hints.push("acme", 1);
        assert!(!hints.untagged_news("acme", 1, &tags));
        let detail = |t: &[&str]| CarriedTicket {
            tags: t.iter().map(|t| (*t).to_owned()).collect(),
            ..Default::default()
        };
        hints.push_detail("acme", 1, detail(&["vendor_escalation", "x"]));
        assert!(!hints.untagged_news("acme", 1, &tags));
        hints.push_detail("acme", 1, detail(&["x"]));
        assert!(hints.untagged_news("acme", 1, &tags));
        assert!(!hints.untagged_news("acme", 2, &tags));
        // The next run reads the ticket whole.
        assert!(hints.take_carried("acme", 1).is_some_and(|c| c.full));
    }
}
