//! Property tests of agreement states across several accounts and agreements at once
//! (`agreement::derive` with `link::direction`): the in-code proptest follows one
//! agreement; this one follows every agreement among three accounts through random
//! configuration histories (offers added, removed, disabled; consent given, withdrawn,
//! refused), with a stored state carried from each derivation to the next.
//!
//! Deterministic: a fixed seed unless `PROPTEST_RNG_SEED` is set; `SHAREBRIDGE_FUZZ_CASES`
//! (or `PROPTEST_CASES`) sets the number of cases.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, FileFailurePersistence, RngSeed};

use sharebridge::agreement::{Consent, Offer, State, Stored, derive, is_edge};
use sharebridge::link::{self, Direction, Flow};

fn config(default: u32) -> PtConfig {
    let mut c = PtConfig::default();
    let from_env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u32>().ok());
    c.cases = from_env("SHAREBRIDGE_FUZZ_CASES")
        .or_else(|| from_env("PROPTEST_CASES"))
        .unwrap_or(default);
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = RngSeed::Fixed(0xa9_4ee);
    }
    c.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(
        "proptest-regressions/agreement_props.txt",
    )));
    c
}

const ACCOUNTS: [&str; 3] = ["acme", "vendor", "partner"];

/// The six possible directed agreements, one per ordered pair.
fn pairs() -> Vec<(usize, usize)> {
    (0..3)
        .flat_map(|f| (0..3).filter(move |&t| t != f).map(move |t| (f, t)))
        .collect()
}

/// What the configuration says about one directed pair at one moment.
#[derive(Debug, Clone, Copy)]
struct Said {
    /// 0 = no agreement, 1 = offered but disabled, 2 = offered.
    offer: u8,
    consent: Consent,
}

fn said() -> impl Strategy<Value = Said> {
    (
        0u8..3,
        prop_oneof![
            Just(Consent::Accepted),
            Just(Consent::Declined),
            Just(Consent::Unanswered)
        ],
    )
        .prop_map(|(offer, consent)| Said { offer, consent })
}

fn offers(config: &[Said]) -> Vec<Offer> {
    pairs()
        .into_iter()
        .zip(config)
        .filter(|(_, s)| s.offer > 0)
        .map(|((f, t), s)| Offer {
            name: format!("{}-to-{}", ACCOUNTS[f], ACCOUNTS[t]),
            from: ACCOUNTS[f].into(),
            to: ACCOUNTS[t].into(),
            enabled: s.offer == 2,
            consent: s.consent,
            offer_file: format!("conf.d/{}.toml", ACCOUNTS[f]),
            consent_file: format!("conf.d/{}.toml", ACCOUNTS[t]),
        })
        .collect()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn every_agreement_follows_the_lifecycle_and_pairs_only_when_both_accept(
        history in prop::collection::vec(prop::collection::vec(said(), 6), 1..12)
    ) {
        let t0: Timestamp = "2026-11-23T00:00:00Z".parse().unwrap();
        let mut stored: BTreeMap<String, Stored> = BTreeMap::new();
        for (step, config) in history.iter().enumerate() {
            let now = t0 + SignedDuration::from_hours(step as i64);
            let offers = offers(config);
            let out = derive(&offers, &stored, now);

            // Sorted, one entry per name; every offered-and-enabled or stored agreement
            // is there.
            let names: Vec<&String> = out.iter().map(|d| &d.name).collect();
            prop_assert!(names.windows(2).all(|w| w[0] < w[1]), "{:?}", names);
            for o in offers.iter().filter(|o| o.enabled) {
                prop_assert!(names.contains(&&o.name), "{} missing", o.name);
            }
            for name in stored.keys() {
                prop_assert!(names.contains(&name), "stored {} dropped", name);
            }

            let by_pair: BTreeMap<(String, String), State> =
                out.iter().map(|d| ((d.from.clone(), d.to.clone()), d.state)).collect();
            for d in &out {
                let prev = stored.get(&d.name);
                // Every step an edge, chained from the stored state, each with a cause.
                let mut at = prev.map(|s| s.state);
                for t in &d.transitions {
                    prop_assert_eq!(t.from, at);
                    prop_assert!(is_edge(t.from, t.to), "{:?} -> {:?}", t.from, t.to);
                    prop_assert!(!t.cause.trim().is_empty());
                    at = Some(t.to);
                }
                prop_assert_eq!(at, Some(d.state));
                // `since` moves exactly when the state moved.
                match prev {
                    Some(p) if d.transitions.is_empty() => prop_assert_eq!(d.since, p.since),
                    _ => prop_assert_eq!(d.since, now),
                }
                prop_assert_eq!(d.inactive_by.is_some(), d.state == State::Inactive);

                // Consent is two-sided: accepted exactly when offered, enabled and accepted.
                let offer = offers.iter().find(|o| o.name == d.name);
                let consented = offer.is_some_and(|o| o.enabled && o.consent == Consent::Accepted);
                prop_assert_eq!(d.state == State::Accepted, consented, "{:?} under {:?}", d, offer);

                // Paired exactly when the reverse is accepted too; the link direction and
                // the flows agree.
                let reverse = by_pair.get(&(d.to.clone(), d.from.clone())).copied();
                let both = d.state == State::Accepted && reverse == Some(State::Accepted);
                prop_assert_eq!(d.paired, both);
                prop_assert_eq!(link::direction(d.state, reverse) == Direction::TwoWay, d.paired);
                prop_assert_eq!(link::may_flow(d.state, reverse, Flow::SourceToTarget), d.state == State::Accepted);
                prop_assert_eq!(link::may_flow(d.state, reverse, Flow::TargetToSource), d.paired);
            }

            stored = out.iter().map(|d| (d.name.clone(), d.to_stored())).collect();
            // A fixpoint: the same configuration again changes nothing.
            let again = derive(&offers, &stored, now + SignedDuration::from_secs(1));
            for d in &again {
                prop_assert!(d.transitions.is_empty(), "{} moved again: {:?}", d.name, d.transitions);
                prop_assert_eq!(d.since, stored[&d.name].since);
            }
        }
    }
}
