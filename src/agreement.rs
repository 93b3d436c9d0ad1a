//! Agreement states: a pure function from what the configuration says now and what was
//! stored before to each agreement's state, since-when, cause and pairing (DESIGN §1).
//!
//! Lifecycle: `pending → accepted | declined`, `accepted → inactive`,
//! `inactive | declined → pending` (re-offered), plus `pending → inactive` when the sender
//! withdraws an offer nobody answered. A state never jumps an edge: a re-offered and
//! accepted agreement goes `inactive → pending → accepted`, and both steps are reported so
//! each gets an audit entry.
//!
//! Architecture invariant: no I/O, no clock (the caller passes `now`), cannot fail.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Where an agreement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Accepted,
    Declined,
    Inactive,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Accepted => "accepted",
            State::Declined => "declined",
            State::Inactive => "inactive",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an agreement became inactive; decides what brings it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InactiveBy {
    /// The receiver withdrew its consent (left `accept_from`). Comes back when the receiver
    /// accepts again.
    Receiver,
    /// The sender set `enabled = false` or removed the agreement. Comes back (as pending)
    /// when the sender offers it again.
    Sender,
}

/// What the receiver says about offers from the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Consent {
    /// The sender is in the receiver's `accept_from`.
    Accepted,
    /// The sender is in the receiver's `decline_from`.
    Declined,
    /// Neither: the offer waits.
    Unanswered,
}

/// One agreement as the configuration states it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub name: String,
    pub from: String,
    pub to: String,
    /// `false` when the sender set `enabled = false`.
    pub enabled: bool,
    pub consent: Consent,
    /// The file holding the agreement (the sender's word), for causes.
    pub offer_file: String,
    /// The file holding the receiver's account section (its consent), for causes.
    pub consent_file: String,
}

/// What was stored for an agreement after the last derivation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub name: String,
    pub from: String,
    pub to: String,
    pub state: State,
    pub since: Timestamp,
    /// Set when `state` is inactive.
    #[serde(default)]
    pub inactive_by: Option<InactiveBy>,
}

/// One step of the lifecycle, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: Option<State>,
    pub to: State,
    /// e.g. "vendor accepted (conf.d/vendor.toml)".
    pub cause: String,
}

/// An agreement's derived state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub name: String,
    pub from: String,
    pub to: String,
    pub state: State,
    pub since: Timestamp,
    pub inactive_by: Option<InactiveBy>,
    /// True when this agreement and its reverse (`to → from`) are both accepted.
    pub paired: bool,
    /// The steps taken now, in order; empty when nothing changed.
    pub transitions: Vec<Transition>,
}

impl Derived {
    /// The record to store for the next derivation.
    pub fn to_stored(&self) -> Stored {
        Stored {
            name: self.name.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            state: self.state,
            since: self.since,
            inactive_by: self.inactive_by,
        }
    }
}

/// Is `a → b` an edge of the lifecycle (including the withdrawn-offer edge)?
pub fn is_edge(a: Option<State>, b: State) -> bool {
    use State::*;
    matches!(
        (a, b),
        (None, Pending)
            | (Some(Pending), Accepted | Declined | Inactive)
            | (Some(Accepted), Inactive)
            | (Some(Inactive | Declined), Pending)
    )
}

/// Derives every agreement's state: those offered now, and those stored but no longer
/// offered (removed from the configuration). An agreement that is disabled and was never
/// offered has no state. Output is sorted by name.
pub fn derive(offers: &[Offer], stored: &BTreeMap<String, Stored>, now: Timestamp) -> Vec<Derived> {
    let mut out: Vec<Derived> = Vec::new();
    for offer in offers {
        let prev = stored.get(&offer.name);
        if !offer.enabled && prev.is_none() {
            continue; // never offered: nothing to record
        }
        out.push(step(Some(offer), prev, now));
    }
    for (name, prev) in stored {
        if !offers.iter().any(|o| &o.name == name) {
            out.push(step(None, Some(prev), now));
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    let accepted: Vec<(String, String)> = out
        .iter()
        .filter(|d| d.state == State::Accepted)
        .map(|d| (d.from.clone(), d.to.clone()))
        .collect();
    for d in &mut out {
        d.paired =
            d.state == State::Accepted && accepted.iter().any(|(f, t)| *f == d.to && *t == d.from);
    }
    out
}

fn step(offer: Option<&Offer>, prev: Option<&Stored>, now: Timestamp) -> Derived {
    use State::*;
    let (name, from, to) = match (offer, prev) {
        (Some(o), _) => (o.name.clone(), o.from.clone(), o.to.clone()),
        (None, Some(p)) => (p.name.clone(), p.from.clone(), p.to.clone()),
        (None, None) => unreachable!("derive only steps offered or stored agreements"),
    };
    let mut transitions = Vec::new();
    let mut push = |from: Option<State>, to: State, cause: String| {
        transitions.push(Transition { from, to, cause });
    };
    let prev_state = prev.map(|p| p.state);
    let prev_by = prev.and_then(|p| p.inactive_by);
    let mut inactive_by = prev_by;

    // Causes, in the words an operator reads in the audit log.
    let offered_cause = |o: &Offer| format!("offered by {} ({})", o.from, o.offer_file);
    let accepted_cause = |o: &Offer| format!("{} accepted ({})", o.to, o.consent_file);
    let declined_cause = |o: &Offer| format!("{} declined ({})", o.to, o.consent_file);
    let withdrew_cause = |o: &Offer| format!("{} withdrew consent ({})", o.to, o.consent_file);

    match offer {
        // Not offered: removed from the configuration, or disabled by the sender.
        None | Some(Offer { enabled: false, .. }) => {
            let cause = match offer {
                Some(o) => format!("{} disabled the agreement ({})", o.from, o.offer_file),
                None => format!("removed from the configuration by {from}"),
            };
            if matches!(prev_state, Some(Pending | Accepted)) {
                push(prev_state, Inactive, cause);
                inactive_by = Some(InactiveBy::Sender);
            }
        }
        Some(o) => match (prev_state, o.consent) {
            (None, consent) => {
                push(None, Pending, offered_cause(o));
                match consent {
                    Consent::Accepted => push(Some(Pending), Accepted, accepted_cause(o)),
                    Consent::Declined => push(Some(Pending), Declined, declined_cause(o)),
                    Consent::Unanswered => {}
                }
            }
            (Some(Pending), Consent::Accepted) => push(Some(Pending), Accepted, accepted_cause(o)),
            (Some(Pending), Consent::Declined) => push(Some(Pending), Declined, declined_cause(o)),
            (Some(Pending), Consent::Unanswered) => {}
            (Some(Accepted), Consent::Accepted) => {}
            (Some(Accepted), Consent::Declined | Consent::Unanswered) => {
                push(Some(Accepted), Inactive, withdrew_cause(o));
                inactive_by = Some(InactiveBy::Receiver);
            }
            (Some(Declined), Consent::Declined) => {}
            (Some(Declined), Consent::Unanswered) => {
                push(
                    Some(Declined),
                    Pending,
                    format!("{} no longer declines ({})", o.to, o.consent_file),
                );
            }
            (Some(Declined), Consent::Accepted) => {
                push(
                    Some(Declined),
                    Pending,
                    format!("{} reconsidered ({})", o.to, o.consent_file),
                );
                push(Some(Pending), Accepted, accepted_cause(o));
            }
            (Some(Inactive), consent) => {
                let by_sender = prev_by != Some(InactiveBy::Receiver);
                match (consent, by_sender) {
                    (Consent::Accepted, _) => {
                        let cause = if by_sender {
                            format!("re-offered by {} ({})", o.from, o.offer_file)
                        } else {
                            format!("{} consents again ({})", o.to, o.consent_file)
                        };
                        push(Some(Inactive), Pending, cause);
                        push(Some(Pending), Accepted, accepted_cause(o));
                    }
                    (Consent::Unanswered, true) => {
                        push(
                            Some(Inactive),
                            Pending,
                            format!("re-offered by {} ({})", o.from, o.offer_file),
                        );
                    }
                    (Consent::Declined, true) => {
                        push(
                            Some(Inactive),
                            Pending,
                            format!("re-offered by {} ({})", o.from, o.offer_file),
                        );
                        push(Some(Pending), Declined, declined_cause(o));
                    }
                    // The receiver withdrew and still does not accept: stays inactive.
                    (Consent::Unanswered | Consent::Declined, false) => {}
                }
            }
        },
    }

    let state = transitions
        .last()
        .map(|t| t.to)
        .or(prev_state)
        .unwrap_or(Pending);
    if state != Inactive {
        inactive_by = None;
    }
    let since = match (&transitions.is_empty(), prev) {
        (true, Some(p)) => p.since,
        _ => now,
    };
    Derived {
        name,
        from,
        to,
        state,
        since,
        inactive_by,
        paired: false,
        transitions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> Timestamp {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }
    fn earlier() -> Timestamp {
        "2026-11-01T10:00:00Z".parse().unwrap()
    }

    fn offer(name: &str, from: &str, to: &str, enabled: bool, consent: Consent) -> Offer {
        Offer {
            name: name.into(),
            from: from.into(),
            to: to.into(),
            enabled,
            consent,
            offer_file: format!("conf.d/{from}.toml"),
            consent_file: format!("conf.d/{to}.toml"),
        }
    }

    fn stored(state: State, by: Option<InactiveBy>) -> Stored {
        Stored {
            name: "a".into(),
            from: "acme".into(),
            to: "vendor".into(),
            state,
            since: earlier(),
            inactive_by: by,
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Cfg {
        Absent,
        Disabled,
        Offered(Consent),
    }

    /// Every (previous state × configuration) combination and the expected path.
    #[test]
    fn exhaustive_table() {
        use State::*;
        let prevs: [Option<(State, Option<InactiveBy>)>; 6] = [
            None,
            Some((Pending, None)),
            Some((Accepted, None)),
            Some((Declined, None)),
            Some((Inactive, Some(InactiveBy::Sender))),
            Some((Inactive, Some(InactiveBy::Receiver))),
        ];
        let cfgs = [
            Cfg::Absent,
            Cfg::Disabled,
            Cfg::Offered(Consent::Accepted),
            Cfg::Offered(Consent::Declined),
            Cfg::Offered(Consent::Unanswered),
        ];
        // Expected path (states entered) for each prev (row) × cfg (column); None = no record.
        let p = |v: &[State]| Some(v.to_vec());
        #[rustfmt::skip]
        let table: [[Option<Vec<State>>; 5]; 6] = [
            //             Absent            Disabled          Accepted                   Declined                   Unanswered
            /* none    */ [None,             None,             p(&[Pending, Accepted]),   p(&[Pending, Declined]),   p(&[Pending])],
            /* pending */ [p(&[Inactive]),   p(&[Inactive]),   p(&[Accepted]),            p(&[Declined]),            p(&[])],
            /* accepted*/ [p(&[Inactive]),   p(&[Inactive]),   p(&[]),                    p(&[Inactive]),            p(&[Inactive])],
            /* declined*/ [p(&[]),           p(&[]),           p(&[Pending, Accepted]),   p(&[]),                    p(&[Pending])],
            /* inact/S */ [p(&[]),           p(&[]),           p(&[Pending, Accepted]),   p(&[Pending, Declined]),   p(&[Pending])],
            /* inact/R */ [p(&[]),           p(&[]),           p(&[Pending, Accepted]),   p(&[]),                    p(&[])],
        ];
        for (r, prev) in prevs.iter().enumerate() {
            for (c, cfg) in cfgs.iter().enumerate() {
                let offers: Vec<Offer> = match cfg {
                    Cfg::Absent => vec![],
                    Cfg::Disabled => vec![offer("a", "acme", "vendor", false, Consent::Unanswered)],
                    Cfg::Offered(consent) => vec![offer("a", "acme", "vendor", true, *consent)],
                };
                let stored_map: BTreeMap<String, Stored> = prev
                    .iter()
                    .map(|(s, by)| ("a".to_owned(), stored(*s, *by)))
                    .collect();
                let out = derive(&offers, &stored_map, now());
                let ctx = format!("prev {prev:?}, cfg {cfg:?}");
                match &table[r][c] {
                    None => assert!(out.is_empty(), "{ctx}: expected no record, got {out:?}"),
                    Some(path) => {
                        assert_eq!(out.len(), 1, "{ctx}");
                        let d = &out[0];
                        let entered: Vec<State> = d.transitions.iter().map(|t| t.to).collect();
                        assert_eq!(&entered, path, "{ctx}");
                        let expected_state = path.last().copied().or(prev.map(|p| p.0)).unwrap();
                        assert_eq!(d.state, expected_state, "{ctx}");
                        if path.is_empty() {
                            assert_eq!(d.since, earlier(), "{ctx}: unchanged keeps its since");
                        } else {
                            assert_eq!(d.since, now(), "{ctx}");
                        }
                        assert_eq!(d.inactive_by.is_some(), d.state == Inactive, "{ctx}");
                    }
                }
            }
        }
    }

    #[test]
    fn causes_name_who_and_where() {
        let stored_map = BTreeMap::from([("a".to_owned(), stored(State::Accepted, None))]);
        let out = derive(
            &[offer("a", "acme", "vendor", true, Consent::Unanswered)],
            &stored_map,
            now(),
        );
        assert_eq!(
            out[0].transitions[0].cause,
            "vendor withdrew consent (conf.d/vendor.toml)"
        );
        assert_eq!(out[0].inactive_by, Some(InactiveBy::Receiver));
        let out = derive(&[], &stored_map, now());
        assert_eq!(
            out[0].transitions[0].cause,
            "removed from the configuration by acme"
        );
    }

    #[test]
    fn pairing_needs_both_directions_accepted() {
        let offers = [
            offer("ab", "a", "b", true, Consent::Accepted),
            offer("ba", "b", "a", true, Consent::Accepted),
            offer("ac", "a", "c", true, Consent::Accepted),
            offer("ca", "c", "a", true, Consent::Unanswered),
        ];
        let out = derive(&offers, &BTreeMap::new(), now());
        let paired: BTreeMap<&str, bool> =
            out.iter().map(|d| (d.name.as_str(), d.paired)).collect();
        assert_eq!(
            paired,
            BTreeMap::from([("ab", true), ("ba", true), ("ac", false), ("ca", false)])
        );
    }

    fn arb_consent() -> impl Strategy<Value = Consent> {
        prop_oneof![
            Just(Consent::Accepted),
            Just(Consent::Declined),
            Just(Consent::Unanswered)
        ]
    }

    proptest! {
        /// Over any sequence of configurations: every step is a lifecycle edge, states chain,
        /// and deriving twice with the same configuration changes nothing (a fixpoint).
        #[test]
        fn any_history_follows_the_lifecycle(
            steps in proptest::collection::vec((0u8..3, arb_consent()), 1..20)
        ) {
            let mut stored_map: BTreeMap<String, Stored> = BTreeMap::new();
            for (kind, consent) in steps {
                let offers = match kind {
                    0 => vec![],
                    1 => vec![offer("a", "acme", "vendor", false, consent)],
                    _ => vec![offer("a", "acme", "vendor", true, consent)],
                };
                let out = derive(&offers, &stored_map, now());
                for d in &out {
                    let mut at = stored_map.get(&d.name).map(|s| s.state);
                    for t in &d.transitions {
                        prop_assert_eq!(t.from, at);
                        prop_assert!(is_edge(t.from, t.to), "{:?} -> {:?}", t.from, t.to);
                        at = Some(t.to);
                    }
                }
                stored_map = out.iter().map(|d| (d.name.clone(), d.to_stored())).collect();
                let again = derive(&offers, &stored_map, now());
                prop_assert!(again.iter().all(|d| d.transitions.is_empty()));
                // Only an accepted agreement under an enabled offer with consent lets tickets flow.
                if let Some(d) = out.first().filter(|d| d.state == State::Accepted) {
                    prop_assert!(kind == 2 && consent == Consent::Accepted, "{:?}", d);
                }
            }
        }
    }
}
