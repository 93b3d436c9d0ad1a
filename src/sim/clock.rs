//! The simulator's clock: wall-clock time plus an offset that tests may advance (to age
//! export lag, token expiry and rate-limit windows without sleeping). Never goes back.

use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;

/// Wall clock (or a fixed start) plus a test-controlled forward offset.
#[derive(Debug, Default)]
pub struct Clock {
    /// Milliseconds added to the start; only ever grows.
    offset_ms: AtomicI64,
    /// `Some`: simulated time from this start (ms since the epoch), no wall clock.
    start_ms: Option<i64>,
}

impl Clock {
    /// A simulated clock: `start_ms` until advanced.
    pub fn starting_at(start_ms: i64) -> Clock {
        Clock {
            offset_ms: AtomicI64::new(0),
            start_ms: Some(start_ms),
        }
    }

    /// Milliseconds since the Unix epoch, as the simulator sees them.
    pub fn now_ms(&self) -> i64 {
        let start = self
            .start_ms
            .unwrap_or_else(|| crate::clock::now().as_millisecond());
        start + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Now, truncated to whole seconds (Zendesk's precision on the wire).
    pub fn now(&self) -> Timestamp {
        seconds(self.now_ms())
    }

    /// Moves the clock forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: u64) {
        let ms = i64::try_from(ms).unwrap_or(i64::MAX / 4);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// Whole-second timestamp for `ms` since the epoch.
pub fn seconds(ms: i64) -> Timestamp {
    Timestamp::from_second(ms.div_euclid(1000)).unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_to_seconds_and_advances() {
        assert_eq!(
            seconds(1_700_000_000_999).to_string(),
            "2023-11-14T22:13:20Z"
        );
        let c = Clock::default();
        let before = c.now_ms();
        c.advance_ms(61_000);
        assert!(c.now_ms() - before >= 61_000);
    }
}
