//! Orphan reasons: why a link ended, in the words the report, the metric label and the
//! mirror's private note use (DESIGN §1, §5).
//!
//! Architecture invariant: pure; the engine detects, this module names and words it.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::agreement::State;

/// Why a mirror became an orphan. The snake_case name is the JSON value and the
/// `reason` label of `sharebridge_orphans`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// An operator ran `unshare` (CLI or admin API).
    Unshared,
    /// The auto-share tag was removed from the source and `unshare_on_tag_removal` is set.
    TagRemoved,
    /// The receiver declined the agreement.
    AgreementDeclined,
    /// The agreement became inactive (consent withdrawn, disabled or removed).
    AgreementInactive,
    /// The source ticket was deleted or can no longer be read.
    SourceDeleted,
    /// The mirror was deleted in the receiver: the link ends, there is no copy to mark.
    MirrorDeleted,
    /// The reconcile sweep found a mirror carrying sharebridge's external_id with no live
    /// link (e.g. after restoring an older store).
    NoLiveLink,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::Unshared,
        Reason::TagRemoved,
        Reason::AgreementDeclined,
        Reason::AgreementInactive,
        Reason::SourceDeleted,
        Reason::MirrorDeleted,
        Reason::NoLiveLink,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unshared => "unshared",
            Reason::TagRemoved => "tag_removed",
            Reason::AgreementDeclined => "agreement_declined",
            Reason::AgreementInactive => "agreement_inactive",
            Reason::SourceDeleted => "source_deleted",
            Reason::MirrorDeleted => "mirror_deleted",
            Reason::NoLiveLink => "no_live_link",
        }
    }

    /// A sentence for people.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::Unshared => "the ticket was unshared",
            Reason::TagRemoved => "the auto-share tag was removed from the source ticket",
            Reason::AgreementDeclined => "the sharing agreement was declined",
            Reason::AgreementInactive => "the sharing agreement became inactive",
            Reason::SourceDeleted => "the source ticket was deleted or can no longer be read",
            Reason::MirrorDeleted => "the mirror ticket was deleted",
            Reason::NoLiveLink => "no live link points to this ticket any more",
        }
    }

    /// Whether there is a mirror left to tag and annotate.
    pub fn mirror_remains(self) -> bool {
        self != Reason::MirrorDeleted
    }

    /// The reason an agreement state orphans its links with, if it does.
    pub fn for_agreement(state: State) -> Option<Reason> {
        match state {
            State::Declined => Some(Reason::AgreementDeclined),
            State::Inactive => Some(Reason::AgreementInactive),
            State::Pending | State::Accepted => None,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one private note written on an orphaned mirror: since when, why, from which account.
pub fn note(
    reason: Reason,
    since: Timestamp,
    source_account: &str,
    source_ticket: u64,
    detail: &str,
) -> String {
    let mut text = format!(
        "sharebridge: this ticket is no longer shared with {source_account} (ticket #{source_ticket}) since {since}: {}.",
        reason.describe()
    );
    if !detail.is_empty() {
        text.push_str(&format!(" {detail}."));
    }
    text.push_str(" Changes here no longer sync in either direction; the ticket stays as it is.");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_distinct() {
        let names: std::collections::BTreeSet<&str> =
            Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), Reason::ALL.len());
        for r in Reason::ALL {
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
    }

    #[test]
    fn agreement_states_that_orphan() {
        assert_eq!(
            Reason::for_agreement(State::Declined),
            Some(Reason::AgreementDeclined)
        );
        assert_eq!(
            Reason::for_agreement(State::Inactive),
            Some(Reason::AgreementInactive)
        );
        assert_eq!(Reason::for_agreement(State::Accepted), None);
        assert_eq!(Reason::for_agreement(State::Pending), None);
    }

    #[test]
    fn note_says_when_why_and_from_where() {
        let n = note(
            Reason::Unshared,
            "2026-11-23T10:00:00Z".parse().unwrap(),
            "acme",
            42,
            "",
        );
        assert!(n.contains("2026-11-23T10:00:00Z"));
        assert!(n.contains("acme"));
        assert!(n.contains("#42"));
        assert!(n.contains("unshared"));
    }
}
