//! Change hints: "ticket T of account A changed", from webhooks and polls. A set, not a
//! queue: a webhook delivered twice (Zendesk may) or a poll that sees the same ticket is
//! one hint, and pushing never blocks, so the webhook handler answers at once.

use std::collections::BTreeSet;
use std::sync::Mutex;

use tokio::sync::Notify;

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
    notify: Notify,
}

impl Hints {
    pub fn new() -> Hints {
        Hints::default()
    }

    /// Adds a hint; returns false when it was already pending.
    pub fn push(&self, account: &str, ticket: u64) -> bool {
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
}
