//! When each changed ticket is processed: a hint waits `coalesce_window` so that comments
//! arriving close together are handled (and mirrored) together; a ticket is processed by
//! one task at a time, and a hint arriving meanwhile runs it once more afterwards.
//!
//! Accounts do not wait on each other: each account's tickets get at most
//! `per_account` of the task slots, so one account whose tasks wait on its own request
//! budget (or on a slow Zendesk) never holds the slots another account needs. A ticket
//! whose work needs an account with a dead credential is parked until that account is
//! fixed (a reload), not retried every few seconds.
//!
//! Pure bookkeeping over explicit instants, so it is unit-tested without a clock.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use super::hints::Hint;

#[derive(Debug, Default)]
pub struct Scheduler {
    due: BTreeMap<Hint, Instant>,
    running: HashSet<Hint>,
    dirty: HashSet<Hint>,
    /// Tickets waiting for an account's credential to be fixed, by that account.
    parked: BTreeMap<String, BTreeSet<Hint>>,
}

impl Scheduler {
    /// A ticket changed.
    pub fn hint(&mut self, key: Hint, now: Instant, window: Duration) {
        if self.running.contains(&key) {
            self.dirty.insert(key);
        } else if !self.parked.values().any(|p| p.contains(&key)) {
            self.due.entry(key).or_insert(now + window);
        }
    }

    /// Process `key` again no earlier than `at` (after a transient failure).
    pub fn retry(&mut self, key: Hint, at: Instant) {
        self.running.remove(&key);
        self.dirty.remove(&key);
        self.due
            .entry(key)
            .and_modify(|d| *d = (*d).min(at))
            .or_insert(at);
    }

    /// `key` cannot be done until `account`'s credential works again.
    pub fn park(&mut self, key: Hint, account: &str) {
        self.running.remove(&key);
        self.dirty.remove(&key);
        self.due.remove(&key);
        self.parked
            .entry(account.to_owned())
            .or_default()
            .insert(key);
    }

    /// `account` works again: what waited for it is due now.
    pub fn unpark(&mut self, account: &str, now: Instant) {
        for key in self.parked.remove(account).unwrap_or_default() {
            self.due.entry(key).or_insert(now);
        }
    }

    /// At most `limit` tickets due now, earliest first, and at most `per_account`
    /// running per account; they count as running until [`Scheduler::finished`].
    pub fn take_due(&mut self, now: Instant, limit: usize, per_account: usize) -> Vec<Hint> {
        let mut ready: Vec<(Instant, Hint)> = self
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, at)| (*at, k.clone()))
            .collect();
        ready.sort();
        let mut busy: HashMap<String, usize> = HashMap::new();
        for k in &self.running {
            *busy.entry(k.account.clone()).or_default() += 1;
        }
        let mut taken = Vec::new();
        for (_, k) in ready {
            if taken.len() >= limit {
                break;
            }
            let n = busy.entry(k.account.clone()).or_default();
            if *n >= per_account {
                continue;
            }
            *n += 1;
            taken.push(k);
        }
        for k in &taken {
            self.due.remove(k);
            self.running.insert(k.clone());
        }
        taken
    }

    /// A task for `key` ended; a hint that came meanwhile schedules it again.
    pub fn finished(&mut self, key: &Hint, now: Instant, window: Duration) {
        self.running.remove(key);
        if self.dirty.remove(key) {
            self.due.entry(key.clone()).or_insert(now + window);
        }
    }

    /// The earliest instant at which [`Scheduler::take_due`] (with the same `limit` and
    /// `per_account`) could take a ticket. A ticket whose account has all its slots, or
    /// any ticket while every slot is taken, waits for a task to end (which wakes the
    /// loop): counting it would have the loop wake for nothing, over and over.
    pub fn next_due(&self, limit: usize, per_account: usize) -> Option<Instant> {
        if limit == 0 {
            return None;
        }
        let mut busy: HashMap<&str, usize> = HashMap::new();
        for k in &self.running {
            *busy.entry(k.account.as_str()).or_default() += 1;
        }
        self.due
            .iter()
            .filter(|(k, _)| busy.get(k.account.as_str()).copied().unwrap_or(0) < per_account)
            .map(|(_, at)| *at)
            .min()
    }

    #[cfg(test)]
    fn is_idle(&self) -> bool {
        self.due.is_empty() && self.running.is_empty()
    }

    /// Tickets due or running (parked ones are not counted: they wait for a fix).
    pub fn waiting(&self) -> usize {
        self.due.len()
    }

    /// Tickets of `account` not done yet: due, running or parked. Its export position
    /// waits for them.
    pub fn unfinished(&self) -> HashMap<String, usize> {
        let mut out: HashMap<String, usize> = HashMap::new();
        let parked = self.parked.values().flatten();
        for k in self.due.keys().chain(self.running.iter()).chain(parked) {
            *out.entry(k.account.clone()).or_default() += 1;
        }
        out
    }

    /// Tickets parked until an account is fixed.
    pub fn parked(&self) -> usize {
        self.parked.values().map(BTreeSet::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(t: u64) -> Hint {
        Hint {
            account: "acme".into(),
            ticket: t,
        }
    }

    #[test]
    fn coalesces_hints_within_the_window_and_reruns_when_dirty() {
        let w = Duration::from_millis(100);
        let t0 = Instant::now();
        let mut s = Scheduler::default();
        s.hint(h(1), t0, w);
        s.hint(h(1), t0 + Duration::from_millis(50), w);
        assert!(
            s.take_due(t0 + Duration::from_millis(99), 10, 10)
                .is_empty()
        );
        assert_eq!(s.take_due(t0 + w, 10, 10), vec![h(1)]);
        // A hint while running marks it dirty, not due.
        s.hint(h(1), t0 + w, w);
        assert_eq!(s.next_due(10, 10), None);
        s.finished(&h(1), t0 + 2 * w, w);
        assert_eq!(s.next_due(10, 10), Some(t0 + 3 * w));
        assert_eq!(s.take_due(t0 + 3 * w, 10, 10), vec![h(1)]);
        s.finished(&h(1), t0 + 3 * w, w);
        assert!(s.is_idle());
    }

    #[test]
    fn a_ticket_that_cannot_be_taken_is_not_due_so_the_loop_does_not_spin() {
        let w = Duration::from_millis(10);
        let t0 = Instant::now();
        let mut s = Scheduler::default();
        s.hint(h(1), t0, w);
        s.hint(h(2), t0, w);
        assert_eq!(s.take_due(t0 + w, 10, 1), vec![h(1)]);
        // acme has its one slot: ticket 2 waits for ticket 1 to end, not for a time.
        assert_eq!(s.next_due(10, 1), None);
        assert_eq!(s.next_due(10, 2), Some(t0 + w));
        // No slot free at all: nothing is due either.
        assert_eq!(s.next_due(0, 2), None);
        s.finished(&h(1), t0 + 2 * w, w);
        assert_eq!(s.next_due(10, 1), Some(t0 + w));
        assert_eq!(s.take_due(t0 + 2 * w, 10, 1), vec![h(2)]);
    }

    #[test]
    fn takes_at_most_the_limit_and_leaves_the_rest_due() {
        let w = Duration::from_millis(10);
        let t0 = Instant::now();
        let mut s = Scheduler::default();
        for t in 1..=5 {
            s.hint(h(t), t0, w);
        }
        assert_eq!(s.take_due(t0 + w, 2, 10).len(), 2);
        assert_eq!(s.waiting(), 3);
        assert_eq!(s.take_due(t0 + w, 10, 10).len(), 3);
    }

    #[test]
    fn retry_schedules_later() {
        let w = Duration::from_millis(100);
        let t0 = Instant::now();
        let mut s = Scheduler::default();
        s.hint(h(2), t0, w);
        assert_eq!(s.take_due(t0 + w, 10, 10), vec![h(2)]);
        s.retry(h(2), t0 + Duration::from_secs(5));
        assert!(s.take_due(t0 + Duration::from_secs(4), 10, 10).is_empty());
        assert_eq!(s.take_due(t0 + Duration::from_secs(5), 10, 10), vec![h(2)]);
    }

    fn of(account: &str, t: u64) -> Hint {
        Hint {
            account: account.into(),
            ticket: t,
        }
    }

    #[test]
    fn one_account_never_takes_the_slots_of_another() {
        let w = Duration::from_millis(10);
        let t0 = Instant::now();
        let mut s = Scheduler::default();
        // The busy account's tickets are all due before acme's.
        for t in 1..=10 {
            s.hint(of("busy", t), t0, w);
        }
        s.hint(of("acme", 1), t0 + w, w);
        let first = s.take_due(t0 + 2 * w, 4, 3);
        assert_eq!(first.iter().filter(|k| k.account == "busy").count(), 3);
        assert!(first.contains(&of("acme", 1)), "{first:?}");
        // Nothing more for it until one of its tasks ends.
        assert!(s.take_due(t0 + 2 * w, 10, 3).is_empty());
        s.finished(&of("busy", 1), t0 + 2 * w, w);
        assert_eq!(s.take_due(t0 + 2 * w, 10, 3).len(), 1);
        assert_eq!(s.unfinished()["busy"], 9);
    }

    #[test]
    fn parked_tickets_wait_for_their_account_and_count_as_unfinished() {
        let w = Duration::from_millis(10);
        let t0 = Instant::now();
        let mut s = Scheduler::default();
        s.hint(of("acme", 1), t0, w);
        assert_eq!(s.take_due(t0 + w, 10, 10), vec![of("acme", 1)]);
        s.park(of("acme", 1), "vendor");
        // A new hint for it does not run it before vendor is fixed.
        s.hint(of("acme", 1), t0 + w, w);
        assert!(s.take_due(t0 + 10 * w, 10, 10).is_empty());
        assert_eq!(s.parked(), 1);
        assert_eq!(s.unfinished()["acme"], 1);
        s.unpark("vendor", t0 + 10 * w);
        assert_eq!(s.take_due(t0 + 10 * w, 10, 10), vec![of("acme", 1)]);
        assert_eq!(s.parked(), 0);
    }
}
