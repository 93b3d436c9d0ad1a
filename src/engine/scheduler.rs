//! When each changed ticket is processed: a hint waits `coalesce_window` so that comments
//! arriving close together are handled (and mirrored) together; a ticket is processed by
//! one task at a time, and a hint arriving meanwhile runs it once more afterwards.
//!
//! Pure bookkeeping over explicit instants, so it is unit-tested without a clock.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use super::hints::Hint;

#[derive(Debug, Default)]
pub struct Scheduler {
    due: BTreeMap<Hint, Instant>,
    running: HashSet<Hint>,
    dirty: HashSet<Hint>,
}

impl Scheduler {
    /// A ticket changed.
    pub fn hint(&mut self, key: Hint, now: Instant, window: Duration) {
        if self.running.contains(&key) {
            self.dirty.insert(key);
        } else {
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

    /// At most `limit` tickets due now, earliest first; they count as running until
    /// [`Scheduler::finished`].
    pub fn take_due(&mut self, now: Instant, limit: usize) -> Vec<Hint> {
        let mut ready: Vec<(Instant, Hint)> = self
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, at)| (*at, k.clone()))
            .collect();
        ready.sort();
        let ready: Vec<Hint> = ready.into_iter().take(limit).map(|(_, k)| k).collect();
        for k in &ready {
            self.due.remove(k);
            self.running.insert(k.clone());
        }
        ready
    }

    /// A task for `key` ended; a hint that came meanwhile schedules it again.
    pub fn finished(&mut self, key: &Hint, now: Instant, window: Duration) {
        self.running.remove(key);
        if self.dirty.remove(key) {
            self.due.entry(key.clone()).or_insert(now + window);
        }
    }

    /// The earliest due instant.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.values().min().copied()
    }

    #[cfg(test)]
    fn is_idle(&self) -> bool {
        self.due.is_empty() && self.running.is_empty()
    }

    pub fn waiting(&self) -> usize {
        self.due.len()
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
        assert!(s.take_due(t0 + Duration::from_millis(99), 10).is_empty());
        assert_eq!(s.take_due(t0 + w, 10), vec![h(1)]);
        // A hint while running marks it dirty, not due.
        s.hint(h(1), t0 + w, w);
        assert_eq!(s.next_due(), None);
        s.finished(&h(1), t0 + 2 * w, w);
        assert_eq!(s.next_due(), Some(t0 + 3 * w));
        assert_eq!(s.take_due(t0 + 3 * w, 10), vec![h(1)]);
        s.finished(&h(1), t0 + 3 * w, w);
        assert!(s.is_idle());
    }

    #[test]
    fn takes_at_most_the_limit_and_leaves_the_rest_due() {
        let w = Duration::from_millis(10);
        let t0 = Instant::now();
        let mut s = Scheduler::default();
        for t in 1..=5 {
            s.hint(h(t), t0, w);
        }
        assert_eq!(s.take_due(t0 + w, 2).len(), 2);
        assert_eq!(s.waiting(), 3);
        assert_eq!(s.take_due(t0 + w, 10).len(), 3);
    }

    #[test]
    fn retry_schedules_later() {
        let w = Duration::from_millis(100);
        let t0 = Instant::now();
        let mut s = Scheduler::default();
        s.hint(h(2), t0, w);
        assert_eq!(s.take_due(t0 + w, 10), vec![h(2)]);
        s.retry(h(2), t0 + Duration::from_secs(5));
        assert!(s.take_due(t0 + Duration::from_secs(4), 10).is_empty());
        assert_eq!(s.take_due(t0 + Duration::from_secs(5), 10), vec![h(2)]);
    }
}
