//! Rate-limit arithmetic: sliding windows over request histories, as pure functions of
//! (now, history). Zendesk's limits: account requests per minute, Update Ticket 100/min
//! per account, 30 updates per 10 minutes per user per ticket, incremental exports 10/min.
//! A limit of 0 means unlimited.

use std::collections::{HashMap, VecDeque};

/// The outcome of asking a window for one more request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Admitted; `remaining` more fit in the window now.
    Allowed { remaining: u32 },
    /// Refused; retry after this many whole seconds (≥ 1).
    Throttled { retry_after: u64 },
}

/// Drops history entries that fell out of the window ending at `now_ms`.
pub fn prune(history: &mut VecDeque<i64>, now_ms: i64, window_ms: i64) {
    while let Some(&t) = history.front() {
        if t <= now_ms - window_ms {
            history.pop_front();
        } else {
            break;
        }
    }
}

/// Admits one request at `now_ms` if fewer than `limit` happened in the last `window_ms`
/// (recording it), else says when a slot frees up. `limit == 0` admits everything
/// without recording.
pub fn admit(history: &mut VecDeque<i64>, now_ms: i64, limit: u32, window_ms: i64) -> Admit {
    if limit == 0 {
        return Admit::Allowed {
            remaining: u32::MAX,
        };
    }
    prune(history, now_ms, window_ms);
    let used = u32::try_from(history.len()).unwrap_or(u32::MAX);
    if used < limit {
        history.push_back(now_ms);
        Admit::Allowed {
            remaining: limit - used - 1,
        }
    } else {
        let oldest = history.front().copied().unwrap_or(now_ms);
        Admit::Throttled {
            retry_after: retry_after_secs(oldest + window_ms - now_ms),
        }
    }
}

/// Like [`admit`] but does not record: would one more request fit?
pub fn peek(history: &mut VecDeque<i64>, now_ms: i64, limit: u32, window_ms: i64) -> Admit {
    if limit == 0 {
        return Admit::Allowed {
            remaining: u32::MAX,
        };
    }
    prune(history, now_ms, window_ms);
    let used = u32::try_from(history.len()).unwrap_or(u32::MAX);
    if used < limit {
        Admit::Allowed {
            remaining: limit - used,
        }
    } else {
        let oldest = history.front().copied().unwrap_or(now_ms);
        Admit::Throttled {
            retry_after: retry_after_secs(oldest + window_ms - now_ms),
        }
    }
}

/// Milliseconds until free → whole seconds for `Retry-After`, at least 1.
pub fn retry_after_secs(wait_ms: i64) -> u64 {
    let secs = (wait_ms.max(0) + 999) / 1000;
    u64::try_from(secs).unwrap_or(1).max(1)
}

pub const MINUTE_MS: i64 = 60_000;
pub const TEN_MINUTES_MS: i64 = 600_000;

/// One account's request histories.
#[derive(Debug, Default)]
pub struct LimitState {
    pub requests: VecDeque<i64>,
    pub ticket_updates: VecDeque<i64>,
    pub exports: VecDeque<i64>,
    /// (user id, ticket id) → update times.
    pub per_user_ticket: HashMap<(u64, u64), VecDeque<i64>>,
}

impl LimitState {
    /// Forgets every history (used when limits change at runtime).
    pub fn clear(&mut self) {
        *self = LimitState::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_limit_then_throttles_until_oldest_ages_out() {
        let mut h = VecDeque::new();
        assert_eq!(
            admit(&mut h, 1_000, 3, MINUTE_MS),
            Admit::Allowed { remaining: 2 }
        );
        assert_eq!(
            admit(&mut h, 2_000, 3, MINUTE_MS),
            Admit::Allowed { remaining: 1 }
        );
        assert_eq!(
            admit(&mut h, 3_000, 3, MINUTE_MS),
            Admit::Allowed { remaining: 0 }
        );
        // Oldest at 1_000 frees at 61_000: at 30_500 that is 30.5 s → 31.
        assert_eq!(
            admit(&mut h, 30_500, 3, MINUTE_MS),
            Admit::Throttled { retry_after: 31 }
        );
        assert_eq!(h.len(), 3, "a throttled request is not recorded");
        assert_eq!(
            admit(&mut h, 61_000, 3, MINUTE_MS),
            Admit::Allowed { remaining: 0 }
        );
    }

    #[test]
    fn zero_limit_is_unlimited() {
        let mut h = VecDeque::new();
        for t in 0..10_000 {
            assert!(matches!(
                admit(&mut h, t, 0, MINUTE_MS),
                Admit::Allowed { .. }
            ));
        }
        assert!(h.is_empty());
    }

    #[test]
    fn retry_after_is_at_least_one_second() {
        assert_eq!(retry_after_secs(0), 1);
        assert_eq!(retry_after_secs(-5), 1);
        assert_eq!(retry_after_secs(1), 1);
        assert_eq!(retry_after_secs(1_001), 2);
        assert_eq!(retry_after_secs(600_000), 600);
    }

    #[test]
    fn thirty_per_ten_minutes() {
        let mut h = VecDeque::new();
        for i in 0..30 {
            assert!(matches!(
                admit(&mut h, i * 1_000, 30, TEN_MINUTES_MS),
                Admit::Allowed { .. }
            ));
        }
        assert_eq!(
            admit(&mut h, 30_000, 30, TEN_MINUTES_MS),
            Admit::Throttled { retry_after: 570 }
        );
        assert_eq!(
            peek(&mut h, 600_001, 30, TEN_MINUTES_MS),
            Admit::Allowed { remaining: 1 }
        );
    }
}
