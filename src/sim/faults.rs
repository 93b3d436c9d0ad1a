//! Seeded, reproducible fault injection: each API request draws once from its account's
//! RNG (seeded from `--seed` and the account's position), before it has any effect.

use crate::sim::config::{FaultKind, FaultSettings};

/// How long a request was on the wire before it reached the simulator (an
/// [`http::Extensions`](axum::http::Extensions) entry; a test's own network sets it). A
/// late-apply fault's `late_apply_ms` counts from when the request was sent, so a request
/// that travelled takes effect that much sooner: a write lands at most `late_apply_ms`
/// after it left the client, never the sum of both delays (found by the deterministic
/// simulation, seed 95644: a write 48 s on the wire, then applied 46 s after arriving,
/// landed after the bridge's stated wait for a write in doubt — Zendesk limit (3) in the
/// README, not a case the harness may generate).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Travelled(pub std::time::Duration);

/// The late-apply delay left once a request has travelled for `travelled`. Pure.
pub fn late_apply_delay(late_apply_ms: u64, travelled: Option<Travelled>) -> u64 {
    let travelled = travelled.map_or(0, |t| u64::try_from(t.0.as_millis()).unwrap_or(u64::MAX));
    late_apply_ms.saturating_sub(travelled)
}

/// Draws the fault for one request: `None` (most requests) or one of `settings.kinds`.
/// Pure apart from advancing `rng`; the same seed and request order give the same faults.
pub fn draw(rng: &mut fastrand::Rng, settings: &FaultSettings) -> Option<FaultKind> {
    if settings.rate <= 0.0 || settings.kinds.is_empty() {
        return None;
    }
    if rng.f64() >= settings.rate {
        return None;
    }
    Some(settings.kinds[rng.usize(..settings.kinds.len())])
}

/// The RNG seed for the account at `index`.
pub fn account_seed(seed: u64, index: usize) -> u64 {
    seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_apply_counts_from_the_send() {
        use std::time::Duration;
        let t = |ms| Some(Travelled(Duration::from_millis(ms)));
        assert_eq!(late_apply_delay(46_000, None), 46_000);
        assert_eq!(late_apply_delay(46_000, t(40)), 45_960);
        assert_eq!(late_apply_delay(46_000, t(48_000)), 0);
        assert_eq!(late_apply_delay(0, t(10)), 0);
    }

    #[test]
    fn reproducible_and_near_rate() {
        let s = FaultSettings {
            rate: 0.3,
            ..FaultSettings::default()
        };
        let run = |seed| {
            let mut rng = fastrand::Rng::with_seed(seed);
            (0..1000).map(|_| draw(&mut rng, &s)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let n = run(7).iter().filter(|f| f.is_some()).count();
        assert!((200..400).contains(&n), "{n}");
        let none = FaultSettings::default();
        let mut rng = fastrand::Rng::with_seed(1);
        assert!((0..1000).all(|_| draw(&mut rng, &none).is_none()));
    }

    #[test]
    fn accounts_get_different_seeds() {
        assert_ne!(account_seed(1, 0), account_seed(1, 1));
    }
}
