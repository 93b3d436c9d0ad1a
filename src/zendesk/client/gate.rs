//! The per-account request gate: how many requests this daemon may send to one Zendesk
//! account, and when.
//!
//! Owns: the arithmetic of the account budget (`requests_per_minute`), Zendesk's
//! per-endpoint limits (Update Ticket 100/min per account, 30 updates per 10 minutes per
//! user per ticket, incremental export 10/min) and the whole-account pause after a 429.
//! [`GateState`] is pure: every method takes the current time as an explicit `now`, so the
//! arithmetic is unit- and property-tested without a clock. [`Gate`] wraps it in a mutex and
//! sleeps until a request may go: the gate waits, it never fails.
//!
//! Must not: send requests, read responses or know Zendesk's JSON; it only hears "a 429
//! arrived, pause until …" from the client.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// One sliding window: at most `limit` grants in any interval of length `window`.
///
/// A log of the grant times inside the current window is kept (at most `limit` entries),
/// so the limit holds for every window, not only for aligned ones.
#[derive(Debug, Clone)]
pub struct SlidingWindow {
    /// Most grants allowed in any interval of length `window`.
    limit: u32,
    /// Length of the interval.
    window: Duration,
    /// Grant times, oldest first, none older than `now - window` after `prune`.
    grants: VecDeque<Instant>,
}

impl SlidingWindow {
    /// A window allowing `limit` grants per `window`. A `limit` of 0 is treated as 1 so the
    /// gate can never deadlock.
    pub fn new(limit: u32, window: Duration) -> Self {
        SlidingWindow {
            limit: limit.max(1),
            window,
            grants: VecDeque::new(),
        }
    }

    fn prune(&mut self, now: Instant) {
        while let Some(&oldest) = self.grants.front() {
            if now.saturating_duration_since(oldest) >= self.window {
                self.grants.pop_front();
            } else {
                break;
            }
        }
    }

    /// How long to wait from `now` until one more grant fits; zero when it fits now.
    pub fn wait(&mut self, now: Instant) -> Duration {
        self.prune(now);
        if (self.grants.len() as u64) < u64::from(self.limit) {
            return Duration::ZERO;
        }
        // The grant that must leave the window first: the one `limit` grants back.
        let idx = self.grants.len() - self.limit as usize;
        let leaves_at = self.grants[idx] + self.window;
        leaves_at.saturating_duration_since(now)
    }

    /// Records a grant at `now`. Call only after `wait(now)` returned zero.
    pub fn record(&mut self, now: Instant) {
        self.grants.push_back(now);
    }

    /// Grants still available at `now` before this window makes a caller wait.
    pub fn remaining(&mut self, now: Instant) -> u32 {
        self.prune(now);
        self.limit.saturating_sub(self.grants.len() as u32)
    }

    /// True when no grant is inside the window any more (the window can be forgotten).
    fn is_idle(&mut self, now: Instant) -> bool {
        self.prune(now);
        self.grants.is_empty()
    }
}

/// Which of Zendesk's limits a request falls under, besides the account budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointClass {
    /// Only the account budget.
    General,
    /// Update Ticket (and tag writes): the per-account update limit and the per-ticket
    /// limit of the bridge's API user on this ticket.
    TicketUpdate { ticket: u64 },
    /// Incremental export endpoints: 10 per minute.
    Export,
}

/// Zendesk's per-endpoint limits; defaults are Zendesk's documented values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointLimits {
    /// Update Ticket requests per minute per account (Zendesk: 100).
    pub ticket_updates_per_minute: u32,
    /// Updates per ticket per user in `ticket_update_window` (Zendesk: 30).
    pub updates_per_ticket: u32,
    /// The per-ticket window (Zendesk: 10 minutes).
    pub ticket_update_window: Duration,
    /// Incremental export requests per minute (Zendesk: 10).
    pub exports_per_minute: u32,
}

impl Default for EndpointLimits {
    fn default() -> Self {
        EndpointLimits {
            ticket_updates_per_minute: 100,
            updates_per_ticket: 30,
            ticket_update_window: Duration::from_secs(600),
            exports_per_minute: 10,
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);

/// Pause after a 429 that carried no `Retry-After`: 5 s, doubling per consecutive 429 up
/// to 60 s.
pub fn fallback_pause(consecutive_429: u32) -> Duration {
    let exp = consecutive_429.saturating_sub(1).min(4);
    Duration::from_secs(5u64 << exp).min(MINUTE)
}

/// The pure gate of one account.
#[derive(Debug, Clone)]
pub struct GateState {
    /// This daemon's budget against the account (`requests_per_minute`).
    account: SlidingWindow,
    /// Update Ticket per account.
    updates: SlidingWindow,
    /// Incremental exports per account.
    exports: SlidingWindow,
    /// Updates per ticket (the bridge is one API user, so per ticket is per user per ticket).
    per_ticket: HashMap<u64, SlidingWindow>,
    limits: EndpointLimits,
    /// Nothing goes to the account before this (set by a 429).
    paused_until: Option<Instant>,
    /// 429s in a row without a success in between, for the fallback pause.
    consecutive_429: u32,
    /// 429s seen in total, for metrics.
    throttled_total: u64,
    /// The last `X-Rate-Limit-Remaining` Zendesk reported, for metrics.
    server_remaining: Option<u32>,
}

impl GateState {
    pub fn new(requests_per_minute: u32, limits: EndpointLimits) -> Self {
        GateState {
            account: SlidingWindow::new(requests_per_minute, MINUTE),
            updates: SlidingWindow::new(limits.ticket_updates_per_minute, MINUTE),
            exports: SlidingWindow::new(limits.exports_per_minute, MINUTE),
            per_ticket: HashMap::new(),
            limits,
            paused_until: None,
            consecutive_429: 0,
            throttled_total: 0,
            server_remaining: None,
        }
    }

    /// How long a request of `class` must wait from `now`; zero when it may go now.
    pub fn wait(&mut self, class: EndpointClass, now: Instant) -> Duration {
        let mut wait = self
            .paused_until
            .map(|until| until.saturating_duration_since(now))
            .unwrap_or_default();
        wait = wait.max(self.account.wait(now));
        match class {
            EndpointClass::General => {}
            EndpointClass::Export => wait = wait.max(self.exports.wait(now)),
            EndpointClass::TicketUpdate { ticket } => {
                wait = wait.max(self.updates.wait(now));
                if let Some(w) = self.per_ticket.get_mut(&ticket) {
                    wait = wait.max(w.wait(now));
                }
            }
        }
        wait
    }

    /// Takes a grant for `class` at `now` if it fits (`Ok`), else says how long to wait.
    pub fn try_acquire(&mut self, class: EndpointClass, now: Instant) -> Result<(), Duration> {
        let wait = self.wait(class, now);
        if !wait.is_zero() {
            return Err(wait);
        }
        self.paused_until = None;
        self.account.record(now);
        match class {
            EndpointClass::General => {}
            EndpointClass::Export => self.exports.record(now),
            EndpointClass::TicketUpdate { ticket } => {
                self.updates.record(now);
                let limits = self.limits;
                self.per_ticket
                    .entry(ticket)
                    .or_insert_with(|| {
                        SlidingWindow::new(limits.updates_per_ticket, limits.ticket_update_window)
                    })
                    .record(now);
                if self.per_ticket.len() > 1024 {
                    self.per_ticket.retain(|_, w| !w.is_idle(now));
                }
            }
        }
        Ok(())
    }

    /// A 429 arrived at `now`: pause the whole account for `retry_after`, or for the
    /// fallback backoff when Zendesk sent no `Retry-After`. Returns the pause applied.
    pub fn on_throttled(&mut self, retry_after: Option<Duration>, now: Instant) -> Duration {
        self.consecutive_429 = self.consecutive_429.saturating_add(1);
        self.throttled_total += 1;
        let pause = retry_after.unwrap_or_else(|| fallback_pause(self.consecutive_429));
        let until = now + pause;
        self.paused_until = Some(match self.paused_until {
            Some(prev) if prev > until => prev,
            _ => until,
        });
        pause
    }

    /// Pauses the whole account until `now + pause` without counting a 429 (a 503 with
    /// `Retry-After`: Zendesk is unavailable for a while).
    pub fn pause(&mut self, pause: Duration, now: Instant) {
        let until = now + pause;
        if self.paused_until.is_none_or(|prev| prev < until) {
            self.paused_until = Some(until);
        }
    }

    /// A response other than 429 arrived; `server_remaining` is `X-Rate-Limit-Remaining`.
    pub fn on_response(&mut self, server_remaining: Option<u32>) {
        self.consecutive_429 = 0;
        if server_remaining.is_some() {
            self.server_remaining = server_remaining;
        }
    }

    /// Requests left in this daemon's per-minute budget at `now`.
    pub fn remaining(&mut self, now: Instant) -> u32 {
        self.account.remaining(now)
    }

    /// A snapshot for metrics and the status page.
    pub fn status(&mut self, now: Instant) -> GateStatus {
        GateStatus {
            remaining: self.account.remaining(now),
            budget: self.account.limit,
            ticket_updates_remaining: self.updates.remaining(now),
            exports_remaining: self.exports.remaining(now),
            paused_for: self
                .paused_until
                .map(|u| u.saturating_duration_since(now))
                .filter(|d| !d.is_zero()),
            throttled_total: self.throttled_total,
            server_remaining: self.server_remaining,
        }
    }
}

/// What the gate reports to metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateStatus {
    /// Requests left in this minute's budget.
    pub remaining: u32,
    /// The budget (`requests_per_minute`).
    pub budget: u32,
    /// Update Ticket requests left this minute.
    pub ticket_updates_remaining: u32,
    /// Incremental export requests left this minute.
    pub exports_remaining: u32,
    /// How much longer the account is paused after a 429, if it is.
    pub paused_for: Option<Duration>,
    /// 429 responses seen since start.
    pub throttled_total: u64,
    /// Zendesk's own `X-Rate-Limit-Remaining`, as last reported.
    pub server_remaining: Option<u32>,
}

/// The shared, waiting gate of one account.
#[derive(Debug)]
pub struct Gate {
    state: Mutex<GateState>,
}

impl Gate {
    pub fn new(requests_per_minute: u32, limits: EndpointLimits) -> Self {
        Gate {
            state: Mutex::new(GateState::new(requests_per_minute, limits)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        // The state stays consistent even if a holder panicked: every method leaves it valid.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a request of `class` may go, then takes its grant. Returns the time
    /// spent waiting.
    pub async fn acquire(&self, class: EndpointClass) -> Duration {
        let start = Instant::now();
        loop {
            let res = self.lock().try_acquire(class, Instant::now());
            match res {
                Ok(()) => return start.elapsed(),
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// Records a 429; returns the pause applied to the whole account.
    pub fn on_throttled(&self, retry_after: Option<Duration>) -> Duration {
        self.lock().on_throttled(retry_after, Instant::now())
    }

    /// Pauses the whole account for `pause` (503 with `Retry-After`).
    pub fn pause(&self, pause: Duration) {
        self.lock().pause(pause, Instant::now());
    }

    pub fn on_response(&self, server_remaining: Option<u32>) {
        self.lock().on_response(server_remaining);
    }

    /// Requests left in this minute's budget.
    pub fn remaining(&self) -> u32 {
        self.lock().remaining(Instant::now())
    }

    pub fn status(&self) -> GateStatus {
        self.lock().status(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn window_waits_until_oldest_grant_leaves() {
        let t0 = Instant::now();
        let mut w = SlidingWindow::new(2, ms(1000));
        assert_eq!(w.wait(t0), Duration::ZERO);
        w.record(t0);
        w.record(t0 + ms(100));
        assert_eq!(w.wait(t0 + ms(200)), ms(800));
        assert_eq!(w.wait(t0 + ms(1000)), Duration::ZERO);
        assert_eq!(w.remaining(t0 + ms(1000)), 1);
    }

    #[test]
    fn throttle_pauses_every_class_and_falls_back_without_retry_after() {
        let t0 = Instant::now();
        let mut g = GateState::new(100, EndpointLimits::default());
        assert_eq!(
            g.on_throttled(Some(Duration::from_secs(3)), t0),
            Duration::from_secs(3)
        );
        for class in [
            EndpointClass::General,
            EndpointClass::Export,
            EndpointClass::TicketUpdate { ticket: 1 },
        ] {
            assert_eq!(g.wait(class, t0 + ms(1000)), ms(2000));
        }
        assert!(g.try_acquire(EndpointClass::General, t0 + ms(3000)).is_ok());
        g.on_response(None);
        // No Retry-After: 5 s, then 10 s for the next one in a row.
        assert_eq!(g.on_throttled(None, t0), Duration::from_secs(5));
        assert_eq!(g.on_throttled(None, t0), Duration::from_secs(10));
        g.on_response(Some(7));
        assert_eq!(g.on_throttled(None, t0), Duration::from_secs(5));
        assert_eq!(g.status(t0).server_remaining, Some(7));
        assert_eq!(g.status(t0).throttled_total, 4);
    }

    #[test]
    fn pause_holds_without_counting_a_throttle() {
        let t0 = Instant::now();
        let mut g = GateState::new(100, EndpointLimits::default());
        g.pause(ms(500), t0);
        g.pause(ms(100), t0);
        assert_eq!(g.wait(EndpointClass::General, t0), ms(500));
        assert_eq!(g.status(t0).throttled_total, 0);
    }

    #[test]
    fn fallback_pause_is_bounded() {
        assert_eq!(fallback_pause(1), Duration::from_secs(5));
        assert_eq!(fallback_pause(3), Duration::from_secs(20));
        assert_eq!(fallback_pause(100), Duration::from_secs(60));
    }

    #[test]
    fn per_ticket_limit_applies_only_to_that_ticket() {
        let t0 = Instant::now();
        let limits = EndpointLimits {
            updates_per_ticket: 2,
            ..EndpointLimits::default()
        };
        let mut g = GateState::new(1000, limits);
        let a = EndpointClass::TicketUpdate { ticket: 1 };
        let b = EndpointClass::TicketUpdate { ticket: 2 };
        assert!(g.try_acquire(a, t0).is_ok());
        assert!(g.try_acquire(a, t0).is_ok());
        assert_eq!(
            g.try_acquire(a, t0 + ms(10)),
            Err(Duration::from_secs(600) - ms(10))
        );
        assert!(g.try_acquire(b, t0).is_ok());
        assert!(g.try_acquire(EndpointClass::General, t0).is_ok());
    }

    #[tokio::test]
    async fn gate_waits_rather_than_fails() {
        let gate = Gate::new(2, EndpointLimits::default());
        assert!(gate.acquire(EndpointClass::General).await < ms(20));
        assert_eq!(gate.remaining(), 1);
        gate.on_throttled(Some(ms(80)));
        assert!(gate.status().paused_for.is_some());
        let waited = gate.acquire(EndpointClass::General).await;
        assert!(waited >= ms(80), "{waited:?}");
        assert_eq!(gate.remaining(), 0);
    }

    fn class_strategy() -> impl Strategy<Value = EndpointClass> {
        prop_oneof![
            Just(EndpointClass::General),
            Just(EndpointClass::Export),
            (0u64..3).prop_map(|ticket| EndpointClass::TicketUpdate { ticket }),
        ]
    }

    /// Grants of each limit, with the window and limit that applies to them.
    fn grants_of(
        grants: &[(u64, EndpointClass)],
        pick: impl Fn(EndpointClass) -> bool,
    ) -> Vec<u64> {
        grants
            .iter()
            .filter(|(_, c)| pick(*c))
            .map(|(t, _)| *t)
            .collect()
    }

    fn max_in_window(times: &[u64], window_ms: u64) -> usize {
        // `times` is sorted: for each start, count grants in [start, start + window).
        let mut best = 0;
        for (i, &start) in times.iter().enumerate() {
            let n = times[i..]
                .iter()
                .take_while(|&&t| t < start + window_ms)
                .count();
            best = best.max(n);
        }
        best
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Callers that wait as told never exceed any limit in any window, and a request
        /// under every limit (and not paused) never waits.
        #[test]
        fn never_exceeds_and_never_waits_under_budget(
            budget in 1u32..8,
            per_ticket in 1u32..4,
            updates in 1u32..5,
            exports in 1u32..3,
            steps in proptest::collection::vec((0u64..40_000, class_strategy()), 1..60),
        ) {
            let limits = EndpointLimits {
                ticket_updates_per_minute: updates,
                updates_per_ticket: per_ticket,
                ticket_update_window: Duration::from_secs(600),
                exports_per_minute: exports,
            };
            let t0 = Instant::now();
            let mut g = GateState::new(budget, limits);
            let mut now_ms = 0u64;
            let mut granted: Vec<(u64, EndpointClass)> = Vec::new();
            for (gap, class) in steps {
                now_ms += gap;
                loop {
                    let now = t0 + ms(now_ms);
                    // What an observer counts: grants in the last window for each limit.
                    let in_last = |pick: &dyn Fn(EndpointClass) -> bool, window: u64| {
                        granted.iter().filter(|(t, c)| pick(*c) && *t + window > now_ms).count()
                    };
                    let under = in_last(&|_| true, 60_000) < budget as usize
                        && match class {
                            EndpointClass::General => true,
                            EndpointClass::Export => in_last(&|c| c == EndpointClass::Export, 60_000) < exports as usize,
                            EndpointClass::TicketUpdate { ticket } => {
                                in_last(&|c| matches!(c, EndpointClass::TicketUpdate { .. }), 60_000) < updates as usize
                                    && in_last(&|c| c == EndpointClass::TicketUpdate { ticket }, 600_000) < per_ticket as usize
                            }
                        };
                    match g.try_acquire(class, now) {
                        Ok(()) => {
                            granted.push((now_ms, class));
                            break;
                        }
                        Err(wait) => {
                            prop_assert!(!under, "waited {wait:?} while under every limit");
                            prop_assert!(!wait.is_zero());
                            // Round up to whole milliseconds, as a sleeping caller would.
                            now_ms += (wait.as_micros() as u64).div_ceil(1000);
                        }
                    }
                }
            }
            let all = grants_of(&granted, |_| true);
            prop_assert!(max_in_window(&all, 60_000) <= budget as usize);
            let ex = grants_of(&granted, |c| c == EndpointClass::Export);
            prop_assert!(max_in_window(&ex, 60_000) <= exports as usize);
            let up = grants_of(&granted, |c| matches!(c, EndpointClass::TicketUpdate { .. }));
            prop_assert!(max_in_window(&up, 60_000) <= updates as usize);
            for ticket in 0..3 {
                let one = grants_of(&granted, |c| c == EndpointClass::TicketUpdate { ticket });
                prop_assert!(max_in_window(&one, 600_000) <= per_ticket as usize);
            }
        }

        /// After a 429 nothing is granted before the pause ends.
        #[test]
        fn nothing_granted_during_pause(retry_after_ms in 1u64..120_000, probe in 0u64..120_000) {
            let t0 = Instant::now();
            let mut g = GateState::new(1000, EndpointLimits::default());
            g.on_throttled(Some(ms(retry_after_ms)), t0);
            let res = g.try_acquire(EndpointClass::General, t0 + ms(probe));
            prop_assert_eq!(res.is_ok(), probe >= retry_after_ms);
        }
    }
}
