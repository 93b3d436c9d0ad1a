//! Seeded, reproducible fault injection: each API request draws once from its account's
//! RNG (seeded from `--seed` and the account's position), before it has any effect.

use crate::sim::config::{FaultKind, FaultSettings};

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
