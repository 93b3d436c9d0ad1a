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

/// One sliding window: at most `limit` requests in any interval of length `window`, as
/// Zendesk counts them: when they arrive, which the client cannot see.
///
/// A request therefore counts from its grant (`reserve`) until its answer came back
/// (`settle`), and then for a whole `window` after the answer: it reached Zendesk at some
/// instant in between, so whenever Zendesk counted it, it has left Zendesk's window by
/// then. Recording the grant time alone let requests queued on Zendesk's side (loopback:
/// milliseconds; the internet: hundreds) still count there when the client's window had
/// already freed them, and the next burst got 429s (found by the bench's budget phase).
#[derive(Debug, Clone)]
pub struct SlidingWindow {
    /// Most requests allowed in any interval of length `window`.
    limit: u32,
    /// Length of the interval.
    window: Duration,
    /// Answer times, oldest first, none older than `now - window` after `prune`.
    grants: VecDeque<Instant>,
    /// Granted and not answered yet.
    in_flight: u32,
}

impl SlidingWindow {
    /// A window allowing `limit` grants per `window`. A `limit` of 0 is treated as 1 so the
    /// gate can never deadlock.
    pub fn new(limit: u32, window: Duration) -> Self {
        SlidingWindow {
            limit: limit.max(1),
            window,
            grants: VecDeque::new(),
            in_flight: 0,
        }
    }

    fn used(&self) -> u64 {
        self.grants.len() as u64 + u64::from(self.in_flight)
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
        let used = self.used();
        if used < u64::from(self.limit) {
            return Duration::ZERO;
        }
        // How many answered requests must leave before one more fits.
        let must_leave = (used - u64::from(self.limit) + 1) as usize;
        match self.grants.get(must_leave - 1) {
            Some(&at) => (at + self.window).saturating_duration_since(now),
            // Requests in flight fill it: none leaves before a window after its answer.
            None => self.window,
        }
    }

    /// A request was granted: it counts as in flight. Call only after `wait` returned zero.
    pub fn reserve(&mut self) {
        self.in_flight = self.in_flight.saturating_add(1);
    }

    /// A granted request was answered (or given up) at `now`: it counts for a window from
    /// now on.
    pub fn settle(&mut self, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        // Answers are settled in time order; keep the log sorted if a caller was late.
        let at = self.grants.back().map_or(now, |&last| last.max(now));
        self.grants.push_back(at);
    }

    /// A request granted and answered at once (tests).
    #[cfg(test)]
    pub fn record(&mut self, now: Instant) {
        self.reserve();
        self.settle(now);
    }

    /// Requests still available at `now` before this window makes a caller wait.
    pub fn remaining(&mut self, now: Instant) -> u32 {
        self.prune(now);
        u32::try_from(u64::from(self.limit).saturating_sub(self.used())).unwrap_or(0)
    }

    /// True when no grant is inside the window any more (the window can be forgotten).
    fn is_idle(&mut self, now: Instant) -> bool {
        self.prune(now);
        self.grants.is_empty() && self.in_flight == 0
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
        self.account.reserve();
        match class {
            EndpointClass::General => {}
            EndpointClass::Export => self.exports.reserve(),
            EndpointClass::TicketUpdate { ticket } => {
                self.updates.reserve();
                let limits = self.limits;
                self.per_ticket
                    .entry(ticket)
                    .or_insert_with(|| {
                        SlidingWindow::new(limits.updates_per_ticket, limits.ticket_update_window)
                    })
                    .reserve();
                if self.per_ticket.len() > 1024 {
                    self.per_ticket.retain(|_, w| !w.is_idle(now));
                }
            }
        }
        Ok(())
    }

    /// The request granted for `class` was answered (or given up) at `now`.
    pub fn settle(&mut self, class: EndpointClass, now: Instant) {
        self.account.settle(now);
        match class {
            EndpointClass::General => {}
            EndpointClass::Export => self.exports.settle(now),
            EndpointClass::TicketUpdate { ticket } => {
                self.updates.settle(now);
                if let Some(w) = self.per_ticket.get_mut(&ticket) {
                    w.settle(now);
                }
            }
        }
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

/// One request's place in the gate's windows; dropping it settles the request.
#[derive(Debug)]
pub struct Grant<'a> {
    gate: &'a Gate,
    class: EndpointClass,
    /// How long the caller waited for it.
    pub waited: Duration,
}

impl Drop for Grant<'_> {
    fn drop(&mut self) {
        self.gate.lock().settle(self.class, Instant::now());
    }
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

    /// Waits until a request of `class` may go, then takes its grant. The grant counts as
    /// in flight until it is dropped (when the answer came back or the request was given
    /// up), and for a window after that.
    pub async fn acquire(&self, class: EndpointClass) -> Grant<'_> {
        let start = Instant::now();
        loop {
            let res = self.lock().try_acquire(class, Instant::now());
            match res {
                Ok(()) => {
                    return Grant {
                        gate: self,
                        class,
                        waited: start.elapsed(),
                    };
                }
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
        for _ in 0..2 {
            assert!(g.try_acquire(a, t0).is_ok());
            g.settle(a, t0);
        }
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
        drop(gate.acquire(EndpointClass::General).await);
        assert_eq!(gate.remaining(), 1);
        gate.on_throttled(Some(ms(80)));
        assert!(gate.status().paused_for.is_some());
        let grant = gate.acquire(EndpointClass::General).await;
        assert!(grant.waited >= ms(80), "{:?}", grant.waited);
        assert_eq!(gate.remaining(), 0);
    }

    #[test]
    fn a_request_counts_from_its_grant_until_a_window_after_its_answer() {
        let t0 = Instant::now();
        let mut w = SlidingWindow::new(2, ms(1000));
        w.reserve();
        w.reserve();
        // Both in flight, however long: nothing leaves before a window after its answer.
        assert_eq!(w.wait(t0 + ms(5000)), ms(1000));
        assert_eq!(w.remaining(t0), 0);
        w.settle(t0 + ms(300)); // answered after 300 ms
        assert_eq!(w.wait(t0 + ms(400)), ms(900));
        w.settle(t0 + ms(500));
        // A window after each answer, not after the grants at t0.
        assert_eq!(w.wait(t0 + ms(1000)), ms(300));
        assert_eq!(w.wait(t0 + ms(1300)), Duration::ZERO);
        assert_eq!(w.remaining(t0 + ms(1500)), 2);
    }

    #[test]
    fn a_grant_dropped_settles_every_window_it_took() {
        let t0 = Instant::now();
        let limits = EndpointLimits {
            exports_per_minute: 1,
            ..EndpointLimits::default()
        };
        let mut g = GateState::new(10, limits);
        assert!(g.try_acquire(EndpointClass::Export, t0).is_ok());
        assert_eq!(
            g.wait(EndpointClass::Export, t0),
            Duration::from_secs(60),
            "in flight"
        );
        g.settle(EndpointClass::Export, t0 + ms(100));
        assert_eq!(
            g.wait(EndpointClass::Export, t0 + ms(100)),
            Duration::from_secs(60)
        );
        assert_eq!(g.status(t0 + ms(100)).remaining, 9);
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
                            // Answered at once: the window counts from the grant.
                            g.settle(class, now);
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

        /// With answers that take a while, wherever in between Zendesk counted each request,
        /// no window of Zendesk's ever holds more than the budget: every interval [grant,
        /// answer] that touches a window counts.
        #[test]
        fn never_exceeds_wherever_zendesk_counts(
            budget in 1u32..6,
            steps in proptest::collection::vec((0u64..30_000, 0u64..5_000), 1..40),
        ) {
            let t0 = Instant::now();
            let mut g = GateState::new(budget, EndpointLimits::default());
            let class = EndpointClass::General;
            // (grant, answer) in ms; answers pending until their time comes.
            let mut done: Vec<(u64, u64)> = Vec::new();
            let mut pending: Vec<(u64, u64)> = Vec::new();
            let mut now_ms = 0u64;
            for (gap, latency) in steps {
                now_ms += gap;
                loop {
                    // Settle, in time order, every answer due by now.
                    pending.sort_by_key(|p| p.1);
                    while pending.first().is_some_and(|p| p.1 <= now_ms) {
                        let p = pending.remove(0);
                        g.settle(class, t0 + ms(p.1));
                        done.push(p);
                    }
                    match g.try_acquire(class, t0 + ms(now_ms)) {
                        Ok(()) => {
                            pending.push((now_ms, now_ms + latency));
                            break;
                        }
                        Err(wait) => {
                            let next_answer = pending.iter().map(|p| p.1).min();
                            let by_clock = now_ms + (wait.as_micros() as u64).div_ceil(1000);
                            now_ms = next_answer.map_or(by_clock, |a| a.max(now_ms).min(by_clock));
                        }
                    }
                }
            }
            done.extend(pending);
            // Every window [s, s + 60 s) that starts at an answer or a grant.
            let starts: Vec<u64> = done.iter().flat_map(|&(gr, an)| [gr, an]).collect();
            for s in starts {
                let touching = done
                    .iter()
                    .filter(|&&(gr, an)| an >= s && gr < s + 60_000)
                    .count();
                prop_assert!(touching <= budget as usize, "{touching} requests touch the window at {s}");
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
