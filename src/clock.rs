//! The clock: the one place the crate reads the time of day.
//!
//! Owns: [`now`], the wall-clock time every module uses (records, audit entries, webhook
//! timestamps, the simulator's tickets), and its simulated form for `sharebridge chaos`.
//! Monotonic time is `tokio::time::Instant` everywhere (timeouts, rate windows, the
//! scheduler), which a paused tokio runtime already simulates.
//!
//! In production `now` is `jiff::Timestamp::now()`. Inside [`simulate`] (one seed of
//! `sharebridge chaos`, one current-thread runtime with paused time, on one OS thread) it is
//! a fixed start time plus the tokio time elapsed since the run began, so the wall clock
//! moves exactly as the paused runtime's timers do and a run reads the same times on any
//! machine, under any load.
//!
//! Must not: be bypassed. `jiff::Timestamp::now()`, `std::time::Instant::now()` and
//! `std::time::SystemTime::now()` appear nowhere else in the daemon, the engine, the
//! store, the server or the simulator (ARCHITECTURE.md lists this rule; the benchmark,
//! which measures real elapsed time, is the one exception).

use std::cell::Cell;

use jiff::{SignedDuration, Timestamp};

thread_local! {
    /// The simulated clock of the run on this thread: its start time and the tokio instant
    /// it started at.
    static SIMULATED: Cell<Option<(Timestamp, tokio::time::Instant)>> = const { Cell::new(None) };
}

/// The time of day: the wall clock, or the simulated one inside [`simulate`].
pub fn now() -> Timestamp {
    match SIMULATED.with(Cell::get) {
        None => Timestamp::now(),
        Some((start, origin)) => {
            let elapsed = tokio::time::Instant::now().saturating_duration_since(origin);
            let elapsed = SignedDuration::try_from(elapsed).unwrap_or(SignedDuration::MAX);
            start.saturating_add(elapsed).unwrap_or(start)
        }
    }
}

/// Whether [`now`] is simulated on this thread.
pub fn is_simulated() -> bool {
    SIMULATED.with(Cell::get).is_some()
}

/// While the returned guard lives, [`now`] on this thread is `start` plus the tokio time
/// elapsed since this call (call it inside a runtime with paused time, so that tokio time
/// only moves when every task waits). Dropping the guard restores the wall clock.
pub fn simulate(start: Timestamp) -> Simulated {
    let previous = SIMULATED.with(|s| s.replace(Some((start, tokio::time::Instant::now()))));
    Simulated { previous }
}

/// Restores the previous clock of the thread when dropped.
#[must_use = "the clock is simulated only while this guard lives"]
pub struct Simulated {
    previous: Option<(Timestamp, tokio::time::Instant)>,
}

impl Drop for Simulated {
    fn drop(&mut self) {
        SIMULATED.with(|s| s.set(self.previous));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn simulated_time_follows_the_paused_runtime() {
        let start: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        {
            let _sim = simulate(start);
            assert!(is_simulated());
            assert_eq!(now(), start);
            tokio::time::sleep(Duration::from_millis(1500)).await;
            assert_eq!(now(), start + SignedDuration::from_millis(1500));
        }
        assert!(!is_simulated());
    }
}
