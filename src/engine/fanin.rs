//! Order where several links write into one ticket: a source ticket shared two-way into
//! several accounts receives the replies of every mirror (one target-to-source flow per
//! link). On that ticket too, comments appear in the order they were written (DESIGN §5),
//! whichever mirror they were written on.
//!
//! Each flow writes in order on its own; across flows, a step that is about to write
//! replies into the source ticket first looks at its sibling links (the other live two-way
//! links of that ticket): while a sibling (or any other link of the ticket, ended ones
//! too) has a write in doubt there (it may still land), this step writes no reply, nor while a sibling's mirror is not recorded yet (it may be
//! there, with replies); while a sibling's mirror has a reply not mirrored yet, this
//! step writes only its replies written before it, the sibling's mirror is hinted so that
//! its older reply crosses first, and the step is tried again shortly for the rest
//! (`EngineError::Behind`). One read of each sibling's mirror, only for tickets with more
//! than one two-way link and only when a step read replies.
//!
//! Zendesk gives comment times to the second: replies written within one second on two
//! mirrors cannot be told apart, and are taken in link order.
//!
//! Found by the deterministic simulation (seed 239): acme#2 was shared into vendor and
//! extra; T53, written on extra's mirror, lost its write to a panic and was retried a
//! minute later, while T59, written on vendor's mirror 12 s after it, crossed at once:
//! on acme, T59 came before T53.
//!
//! Must not: wait for a sibling that cannot write (not active, not two-way, no consent),
//! or for longer than [`PATIENCE`] on one reply (a sibling whose reply never crosses must
//! not stop the others for ever).

use jiff::{SignedDuration, Timestamp};

use crate::link::{Direction, Flow};
use crate::store::{Link, LinkState};
use crate::zendesk::client::ZendeskError;

use super::{Engine, EngineError};

/// How long a reply waits for an older one on a sibling mirror at most (counted from when
/// the older one was written).
const PATIENCE: SignedDuration = SignedDuration::from_mins(15);

/// What a step may send of the replies it read, given its siblings: `.0` is the oldest
/// sibling reply not mirrored yet, as (written at, sibling link); `None`: all of them.
/// Zendesk gives times to the second, so replies of one second on two mirrors do not
/// wait for each other (they cannot be told apart, and a tie must not hold both up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cut(pub Option<(Timestamp, u64)>);

impl Cut {
    /// The replies read (`ids_times`: id and creation time) that wait; pure.
    pub(crate) fn held(&self, ids_times: &[(u64, Timestamp)]) -> Vec<u64> {
        match self.0 {
            None => Vec::new(),
            Some(cut) => ids_times
                .iter()
                .filter(|(_, at)| *at > cut.0)
                .map(|(id, _)| *id)
                .collect(),
        }
    }

    /// The sibling link holding replies up.
    pub(crate) fn sibling(&self) -> u64 {
        self.0.map_or(0, |(_, s)| s)
    }
}

impl Engine {
    /// Where this target-to-source step of `link`, whose newest reply read was written at
    /// `newest`, must stop for its siblings' older replies; a sibling whose replies hold
    /// it up is hinted (one whose write is in doubt retries on its own).
    pub(crate) async fn sibling_cut(
        &self,
        link: &Link,
        newest: Timestamp,
    ) -> Result<Cut, EngineError> {
        let siblings = self
            .store()
            .links_by_source_ticket(&link.source_account, link.source_ticket)?;
        let now = crate::clock::now();
        let mut cut: Option<(Timestamp, u64)> = None;
        // A reply in doubt from any other link of this ticket, ended, one-way or without
        // consent now included, may still land here: nothing goes before it is decided
        // (found by the deterministic simulation, seed 21436: vendor's agreement was
        // withdrawn while its reply's write was held 47 s, and a later reply from extra's
        // mirror crossed first).
        for p in self.store().pending_writes()?.into_iter().filter(|p| {
            p.flow == Flow::TargetToSource && p.link != link.id && now < p.created_at + PATIENCE
        }) {
            if let Some(other) = self.store().link(p.link)?
                && other.source_account == link.source_account
                && other.source_ticket == link.source_ticket
            {
                tracing::debug!(
                    link = link.id,
                    sibling = other.id,
                    "replies wait for a sibling's reply in doubt"
                );
                cut = Some((Timestamp::MIN, other.id));
            }
        }
        for s in siblings.iter().filter(|s| {
            s.id != link.id && s.state == LinkState::Active && s.direction == Direction::TwoWay
        }) {
            if !self.consents(s, Flow::TargetToSource) {
                continue;
            }
            let Some(mirror) = s.target_ticket else {
                // Its mirror is being made or adopted (after a crash, say): it may hold
                // replies already, and nothing goes before them (found by the
                // deterministic simulation, seed 1204: an adoption held a minute by a
                // panic, and a later reply on the other mirror crossed first). Its
                // source ticket's run, retried on its own, records the mirror.
                if now < s.created_at + PATIENCE {
                    tracing::debug!(
                        link = link.id,
                        sibling = s.id,
                        "replies wait for a sibling's mirror to be recorded"
                    );
                    cut = Some((Timestamp::MIN, s.id));
                }
                continue;
            };
            let mut first: Option<Timestamp> = None;
            let mut in_doubt = false;
            if let Some(p) = self.store().pending_write(s.id, Flow::TargetToSource)?
                && now < p.created_at + PATIENCE
            {
                // What it carries is not known here: nothing goes before it is decided.
                first = Some(Timestamp::MIN);
                in_doubt = true;
            } else {
                let mark = self.store().watermark(s.id, Flow::TargetToSource)?;
                let after = mark.last_source_comment.unwrap_or(0);
                let sender = self.account(&s.target_account)?;
                let bridge = sender.bridge_user().await?;
                let replies = match sender.client.comments_after(mirror, after).await {
                    Ok(replies) => replies,
                    // A sibling mirror that is gone has no reply left to cross: it holds
                    // nothing back, and its own run ends its link (found by the
                    // deterministic simulation, seed 36938: extra's mirror was deleted
                    // while this read of it took 32 s, and the 404 put the vendor link,
                    // which nothing had ended, in error).
                    Err(ZendeskError::NotFound { .. }) => {
                        tracing::debug!(
                            link = link.id,
                            sibling = s.id,
                            account = %s.target_account,
                            ticket = mirror,
                            "a sibling's mirror is gone: its replies hold nothing back"
                        );
                        self.shared.hints.push(&s.target_account, mirror);
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                for c in replies {
                    if c.author_id == bridge
                        || now >= c.created_at + PATIENCE
                        || first.is_some_and(|f| f <= c.created_at)
                        || self.store().is_bridge_comment(&s.target_account, c.id)?
                        || self
                            .store()
                            .mirrored_comment(s.id, Flow::TargetToSource, c.id)?
                            .is_some()
                    {
                        continue;
                    }
                    first = Some(c.created_at);
                }
            }
            if let Some(f) = first.filter(|f| *f < newest) {
                tracing::debug!(
                    link = link.id,
                    sibling = s.id,
                    account = %s.target_account,
                    ticket = mirror,
                    "replies after an older one on a sibling mirror wait for it"
                );
                if !in_doubt {
                    self.shared.hints.push(&s.target_account, mirror);
                }
                if cut.is_none_or(|c| f < c.0) {
                    cut = Some((f, s.id));
                }
            }
        }
        Ok(Cut(cut))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_written_after_the_cut_are_held_and_ties_are_not() {
        let at = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap();
        let read = [(5, at(0)), (6, at(10)), (7, at(20))];
        assert!(Cut(None).held(&read).is_empty());
        // Replies after a sibling's of 10 s wait; one of the same second does not.
        assert_eq!(Cut(Some((at(10), 1))).held(&read), vec![7]);
        assert_eq!(Cut(Some((at(9), 1))).held(&read), vec![6, 7]);
        assert!(Cut(Some((at(30), 1))).held(&read).is_empty());
        // A sibling's write in doubt holds everything up.
        assert_eq!(Cut(Some((Timestamp::MIN, 1))).held(&read), vec![5, 6, 7]);
    }
}
