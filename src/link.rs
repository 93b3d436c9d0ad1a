//! Link direction and flow: which way changes may cross a link, decided from the states of
//! the link's agreement and of its reverse (DESIGN §1).
//!
//! A link made under `A → B` is one-way (A's changes reach B). When the reverse agreement
//! `B → A` is accepted too, the link is two-way and B's changes on the mirror flow back
//! under `B → A`'s rules. Links upgrade and downgrade as those states change, from then on.
//!
//! Architecture invariant: pure; no I/O; cannot fail.

use serde::{Deserialize, Serialize};

use crate::agreement::State;

/// Which way a link carries changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    #[serde(rename = "one-way")]
    OneWay,
    #[serde(rename = "two-way")]
    TwoWay,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::OneWay => "one-way",
            Direction::TwoWay => "two-way",
        }
    }
}

/// One way across a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    /// Source ticket → mirror, under the link's own agreement.
    SourceToTarget,
    /// Mirror → source ticket, under the reverse agreement (two-way links only).
    TargetToSource,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::SourceToTarget => "source-to-target",
            Flow::TargetToSource => "target-to-source",
        }
    }
}

/// The direction a link has given its agreement's state and the reverse agreement's
/// (`None` when there is no reverse agreement).
pub fn direction(agreement: State, reverse: Option<State>) -> Direction {
    if agreement == State::Accepted && reverse == Some(State::Accepted) {
        Direction::TwoWay
    } else {
        Direction::OneWay
    }
}

/// Whether changes may flow `flow` across a live link now. Nothing flows unless the link's
/// own agreement is accepted (an inactive or declined agreement orphans its links);
/// backward flow also needs the reverse agreement accepted.
pub fn may_flow(agreement: State, reverse: Option<State>, flow: Flow) -> bool {
    match flow {
        Flow::SourceToTarget => agreement == State::Accepted,
        Flow::TargetToSource => direction(agreement, reverse) == Direction::TwoWay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: [State; 4] = [
        State::Pending,
        State::Accepted,
        State::Declined,
        State::Inactive,
    ];

    #[test]
    fn exhaustive() {
        for a in STATES {
            for r in STATES.map(Some).into_iter().chain([None]) {
                let two_way = a == State::Accepted && r == Some(State::Accepted);
                assert_eq!(direction(a, r) == Direction::TwoWay, two_way, "{a:?} {r:?}");
                assert_eq!(
                    may_flow(a, r, Flow::SourceToTarget),
                    a == State::Accepted,
                    "{a:?} {r:?}"
                );
                assert_eq!(may_flow(a, r, Flow::TargetToSource), two_way, "{a:?} {r:?}");
                // Backward never flows where forward does not.
                assert!(
                    !may_flow(a, r, Flow::TargetToSource) || may_flow(a, r, Flow::SourceToTarget)
                );
            }
        }
    }

    #[test]
    fn json_names() {
        assert_eq!(
            serde_json::to_string(&Direction::TwoWay).unwrap(),
            "\"two-way\""
        );
        assert_eq!(
            serde_json::to_string(&Direction::OneWay).unwrap(),
            "\"one-way\""
        );
    }
}
