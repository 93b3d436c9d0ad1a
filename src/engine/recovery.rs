//! Crash recovery, in one place: what a crash or a lost answer left undecided is decided
//! here, before anything new is written where it matters.
//!
//! - A write in doubt (a `PendingWrite` left by a crash or a lost answer) is settled before
//!   its link and flow write again (`settle_pending`, called by `sync`, by the orphan note
//!   and, for all of them, by [`Engine::recover`] at every start and reload). A link that
//!   ended has no next step: its writes in doubt go to a recovery pass of the engine's
//!   loop (`recover_stranded`, `keep_stranded_in_view`, `recover_at`).
//! - An orphan whose tag and note are still owed (`Orphan::note_owed`) gets them.
//! - A store older than the receiving ticket (a restored backup) catches up without
//!   resending (`catch_up`, once per link and flow after each start).
//!
//! Must not: plan or send comments; it only decides what an earlier attempt did.

use crate::link::Flow;
use crate::orphan::Reason;
use crate::store::{Link, LinkState, PendingWrite};
use crate::zendesk::client::ZendeskError;

use super::sync::Ends;
use super::write::{MARKER_KEY, MARKER_PREFIX, SOURCES_KEY, Settled, judge, parse_marker};
use super::{Engine, EngineError};

/// Both flows of a link: what a link that ended leaves stranded.
pub(crate) const BOTH_FLOWS: [Flow; 2] = [Flow::SourceToTarget, Flow::TargetToSource];

/// Clock skew allowed between this host and Zendesk when matching a comment in doubt.
const SKEW: jiff::SignedDuration = jiff::SignedDuration::from_secs(120);

impl Engine {
    /// Comments by the bridge's user on the receiving ticket that the store does not know
    /// mean the store is older than Zendesk (a backup was restored). Each such comment
    /// names its write in its audit (`metadata.custom`): one of this link and flow has its
    /// source comments recorded as mirrored (like comments mirrored ahead: the watermark
    /// moves past them at the next complete read), so nothing is sent twice; one of
    /// another link is left to that link. A comment without a marker (written by an older
    /// sharebridge) falls back to time: the sending side's comments created before the
    /// newest of them count as mirrored. Costs one read per link and flow per start, two
    /// more when something is unknown.
    pub(crate) async fn catch_up(
        &self,
        link: &Link,
        flow: Flow,
        ends: &Ends,
    ) -> Result<(), EngineError> {
        let receiver = self.account(&ends.receiver_account)?;
        let bridge = receiver.bridge_user().await?;
        let on_receiver = receiver.client.list_comments(ends.receiver_ticket).await?;
        let mut unknown = Vec::new();
        for c in on_receiver.iter().filter(|c| c.author_id == bridge) {
            if !self
                .store()
                .is_bridge_comment(&ends.receiver_account, c.id)?
            {
                unknown.push(c);
            }
        }
        let Some(oldest) = unknown.iter().map(|c| c.created_at).min() else {
            return Ok(());
        };
        // What each unknown comment's write said about itself.
        let audits = receiver
            .client
            .audits_since(ends.receiver_ticket, oldest - SKEW)
            .await?;
        let mut ours: Vec<(u64, Vec<u64>)> = Vec::new();
        let mut unmarked = Vec::new();
        for c in &unknown {
            let audit = audits.iter().find(|a| a.comment_id() == Some(c.id));
            match audit
                .and_then(|a| a.custom(MARKER_KEY))
                .and_then(parse_marker)
            {
                Some((l, f)) if l == link.id && f == flow => {
                    let sources = audit
                        .and_then(|a| a.custom(SOURCES_KEY))
                        .unwrap_or_default()
                        .split(',')
                        .filter_map(|s| s.trim().parse().ok())
                        .collect();
                    ours.push((c.id, sources));
                }
                Some(_) => {}
                None => unmarked.push(*c),
            }
        }
        let covered = match unmarked.iter().map(|c| c.created_at).max() {
            Some(newest) => {
                let sender = self.account(&ends.sender_account)?;
                let on_sender = sender.client.list_comments(ends.sender_ticket).await?;
                on_sender
                    .iter()
                    .filter(|c| c.created_at <= newest)
                    .map(|c| c.id)
                    .max()
            }
            None => None,
        };
        if ours.is_empty() && unmarked.is_empty() {
            return Ok(());
        }
        tracing::warn!(
            link = link.id,
            flow = flow.as_str(),
            unknown = ours.len() + unmarked.len(),
            "the receiving ticket has bridge comments this store does not know (restored backup?); catching up without resending"
        );
        self.store().transaction(|tx| {
            for (comment, sources) in &ours {
                let mut fresh = Vec::new();
                for &s in sources {
                    if tx.view().mirrored_comment(link.id, flow, s)?.is_none() {
                        fresh.push(s);
                    }
                }
                if fresh.is_empty() {
                    tx.record_bridge_comment(&ends.receiver_account, *comment, link.id, flow)?;
                } else {
                    tx.record_mirrored_ahead(link.id, flow, &fresh, *comment)?;
                }
            }
            for c in &unmarked {
                tx.record_bridge_comment(&ends.receiver_account, c.id, link.id, flow)?;
            }
            if covered.is_some() {
                let mut m = tx.view().watermark(link.id, flow)?;
                m.last_source_comment = match (m.last_source_comment, covered) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                tx.set_watermark(link.id, flow, &m)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Settles a pending write after a restart or a lost answer (takes the ticket lock).
    /// A write another settle decided meanwhile counts as not landed here (there is
    /// nothing left of it to settle).
    pub(crate) async fn settle_pending(
        &self,
        link: &Link,
        pending: &PendingWrite,
    ) -> Result<Settled, EngineError> {
        Ok(self
            .settle_recorded(link, pending)
            .await?
            .map_or(Settled::NotLanded, |(_, settled)| settled))
    }

    /// [`Engine::settle_pending`], saying which write it settled: while this waited for
    /// the lock, another settle (a second recovery pass, the link's own step, its
    /// orphan note) may have decided `pending`, and a later write of the link may be in
    /// doubt in its place. What the store holds now is what is settled (a stale "not
    /// landed" must never clear a later write's record); `None` when nothing is.
    async fn settle_recorded(
        &self,
        link: &Link,
        pending: &PendingWrite,
    ) -> Result<Option<(PendingWrite, Settled)>, EngineError> {
        let Some(ends) = self.ends(link, pending.flow) else {
            self.store().clear_pending_write(link.id, pending.flow)?;
            return Ok(Some((pending.clone(), Settled::NotLanded)));
        };
        let _guard = self
            .lock_ticket(&ends.receiver_account, ends.receiver_ticket)
            .await;
        match self.store().pending_write(link.id, pending.flow)? {
            Some(current) => {
                let settled = self.settle_locked(link, &current).await?;
                Ok(Some((current, settled)))
            }
            None => Ok(None),
        }
    }

    /// Settles a pending write by what the receiving ticket shows, and records the
    /// verdict: landed → committed (mappings, watermark, the note written); not landed →
    /// cleared (comments are planned again, a note stays owed); undecided → left as it
    /// is, and nothing more is written on that link and flow until it is decided.
    /// Caller holds the receiving ticket's lock.
    pub(crate) async fn settle_locked(
        &self,
        link: &Link,
        pending: &PendingWrite,
    ) -> Result<Settled, EngineError> {
        let settled = self.decide(link, pending).await;
        let left = match &settled {
            Ok(Settled::Undecided { until }) => Some(*until),
            Ok(_) => None,
            Err(e) if e.is_transient() => Some(crate::clock::now() + super::RETRY_AFTER),
            Err(_) => None,
        };
        if let Some(at) = left {
            self.keep_stranded_in_view(link.id, pending.flow, at);
        }
        settled
    }

    /// A write left in doubt is settled by its flow's next step, if one comes: a link
    /// that has ended has none, nor has the reverse flow of a link turned one-way (found
    /// by the deterministic simulation, seeds 1 and 2155), and a step that runs only on
    /// a hint may get none either (seed 4007: a reply in doubt settled by a reload's pass
    /// as "not yet", on a link turned one-way and back, whose mirror changed no more).
    /// So every write left undecided is also handed to the recovery pass of the engine's
    /// loop, at `at`; whichever comes first settles it, the other finds it settled.
    fn keep_stranded_in_view(&self, link: u64, flow: Flow, at: jiff::Timestamp) {
        let steps = matches!(
            self.store().link(link),
            Ok(Some(l)) if l.state == LinkState::Active
                && (flow == Flow::SourceToTarget || l.direction == crate::link::Direction::TwoWay)
        );
        if !steps {
            tracing::debug!(link, flow = flow.as_str(), %at, "write in doubt on a flow that no longer steps: left to the recovery pass");
        }
        self.recover_at(at);
    }

    /// At the moment a link ends (`flows`: both) or turns one-way (the reverse one): the
    /// writes it left in doubt on those flows are stranded, as no step will settle them;
    /// the recovery pass of the engine's loop does, now.
    pub(crate) fn recover_stranded(&self, link: u64, flows: &[Flow]) {
        let stranded = flows
            .iter()
            .any(|flow| matches!(self.store().pending_write(link, *flow), Ok(Some(_))));
        if stranded {
            tracing::debug!(
                link,
                "the link left a write in doubt on a flow that no longer steps: left to the recovery pass"
            );
            self.recover_at(crate::clock::now());
        }
    }

    /// [`Engine::settle_locked`]'s verdict and its record.
    async fn decide(&self, link: &Link, pending: &PendingWrite) -> Result<Settled, EngineError> {
        let Some(ends) = self.ends(link, pending.flow) else {
            return Ok(Settled::NotLanded);
        };
        let found = match self.find_write(&ends, pending).await {
            Ok(found) => found,
            Err(EngineError::Zendesk(ZendeskError::NotFound { .. })) => {
                // The receiving ticket is gone: nothing landed, nothing is owed there.
                self.store().transaction(|tx| {
                    tx.clear_pending_write(link.id, pending.flow)?;
                    if pending.is_note() {
                        tx.set_orphan_note_owed(link.id, false)?;
                    }
                    Ok(())
                })?;
                return Ok(Settled::NotLanded);
            }
            Err(e) => return Err(e),
        };
        let wait = jiff::SignedDuration::try_from(self.config().daemon.in_doubt_wait)
            .unwrap_or(jiff::SignedDuration::from_secs(60));
        let verdict = judge(found, self.sent_by(pending), crate::clock::now(), wait);
        if !matches!(verdict, Settled::Undecided { .. }) {
            tracing::info!(
                link = link.id,
                flow = pending.flow.as_str(),
                account = %ends.receiver_account,
                ticket = ends.receiver_ticket,
                applied = matches!(verdict, Settled::Landed(_)),
                left_by = if pending.created_at < self.shared.started_at {
                    "an earlier run"
                } else {
                    "this run"
                },
                "write in doubt settled"
            );
        }
        if !matches!(verdict, Settled::Undecided { .. }) {
            self.shared
                .sent_by
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&(link.id, pending.flow, pending.marker.clone()));
        }
        match verdict {
            Settled::Landed(comment) => {
                self.commit_landed(link, pending, &ends.receiver_account, comment)?;
            }
            Settled::NotLanded => {
                self.store().transaction(|tx| {
                    tx.clear_pending_write(link.id, pending.flow)?;
                    if pending.is_note() {
                        tx.set_orphan_note_owed(link.id, true)?;
                    }
                    Ok(())
                })?;
            }
            Settled::Undecided { until } => {
                tracing::info!(
                    link = link.id,
                    flow = pending.flow.as_str(),
                    account = %ends.receiver_account,
                    ticket = ends.receiver_ticket,
                    %until,
                    "write in doubt not visible yet; decided once it can no longer land"
                );
            }
        }
        Ok(verdict)
    }

    /// When a write in doubt was sent at the latest ([`super::write::sent_by`]); the first
    /// settle of a write of this run is remembered until it is decided.
    fn sent_by(&self, pending: &PendingWrite) -> jiff::Timestamp {
        let first_settle = *self
            .shared
            .sent_by
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((pending.link, pending.flow, pending.marker.clone()))
            .or_insert_with(crate::clock::now);
        super::write::sent_by(pending.created_at, self.shared.started_at, first_settle)
    }

    /// Whether the receiving ticket shows a pending write, and the comment it created
    /// (`Some(None)`: a ticket change that carried none): the audit whose
    /// `metadata.custom` carries exactly this write's marker (one read of the ticket's
    /// recent audits). A pending write of an older store, without a marker, is matched as
    /// before: the newest comment by the bridge's user, created after it began, that the
    /// store does not know.
    async fn find_write(
        &self,
        ends: &Ends,
        pending: &PendingWrite,
    ) -> Result<Option<Option<u64>>, EngineError> {
        let receiver = self.account(&ends.receiver_account)?;
        let since = pending.created_at - SKEW;
        if pending.marker.starts_with(MARKER_PREFIX) {
            let audits = receiver
                .client
                .audits_since(ends.receiver_ticket, since)
                .await?;
            let audit = audits
                .iter()
                .find(|a| a.custom(MARKER_KEY) == Some(pending.marker.as_str()));
            return Ok(match audit {
                Some(a) if pending.source_comments.is_empty() && !pending.is_note() => {
                    Some(a.comment_id())
                }
                Some(a) => a.comment_id().map(Some),
                None => None,
            });
        }
        let bridge = receiver.bridge_user().await?;
        let comments = receiver.client.list_comments(ends.receiver_ticket).await?;
        for c in comments.iter().rev() {
            if c.author_id != bridge || c.created_at < since {
                continue;
            }
            if !self
                .store()
                .is_bridge_comment(&ends.receiver_account, c.id)?
            {
                return Ok(Some(Some(c.id)));
            }
        }
        Ok(None)
    }

    /// At every start and reload: each write a crash left in doubt is settled, and each
    /// orphan note still owed is written. A write that cannot be decided yet (it may
    /// still land) or whose check failed is looked at again by a later pass — its link's
    /// next step may settle it sooner, but an orphaned link has no next step (found by
    /// the deterministic simulation: such a write stayed in doubt for ever).
    pub(crate) async fn recover(&self) {
        let Ok(pending) = self.store().pending_writes() else {
            return;
        };
        let mut again: Option<jiff::Timestamp> = None;
        let mut sooner = |at: jiff::Timestamp| again = Some(again.map_or(at, |a| a.min(at)));
        for p in pending {
            let Ok(Some(link)) = self.store().link(p.link) else {
                let _ = self.store().clear_pending_write(p.link, p.flow);
                continue;
            };
            match self.settle_recorded(&link, &p).await {
                Ok(Some((_, Settled::Undecided { until }))) => sooner(until),
                // Settled by someone else meanwhile: what followed from it is done.
                Ok(None) => {}
                // Only the write this pass read: a later one settled here would owe a
                // note a second time (found by the deterministic simulation: two notes).
                Ok(Some((settled, _))) => {
                    if settled.marker == p.marker
                        && !settled.is_note()
                        && settled.flow == Flow::SourceToTarget
                    {
                        self.owe_legacy_note(&link);
                    }
                }
                Err(e) => {
                    tracing::warn!(link = link.id, error = %e, "write in doubt not settled yet; tried again shortly");
                    if e.is_transient() && e.dead_credential().is_none() {
                        sooner(crate::clock::now() + super::RETRY_AFTER);
                    }
                }
            }
        }
        self.write_owed_notes().await;
        if let Some(at) = again {
            self.recover_at(at);
        }
    }

    /// Asks the engine's loop to run [`Engine::recover`] again at `at` (the earliest of
    /// all such asks wins); the loop runs it among its background tasks, which end with
    /// the engine.
    pub(crate) fn recover_at(&self, at: jiff::Timestamp) {
        let mut due = self
            .shared
            .recover_due
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *due = Some(due.map_or(at, |d| d.min(at)));
    }

    /// Whether a recovery pass asked for by [`Engine::recover_at`] is due now (taking it).
    pub(crate) fn take_due_recovery(&self) -> bool {
        let mut due = self
            .shared
            .recover_due
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if due.is_some_and(|d| d <= crate::clock::now()) {
            *due = None;
            return true;
        }
        false
    }

    /// Writes every orphan note still owed.
    pub(crate) async fn write_owed_notes(&self) {
        let Ok(orphans) = self.store().orphans() else {
            return;
        };
        let mut again = false;
        for o in orphans.into_iter().filter(|o| o.note_owed) {
            let Ok(Some(link)) = self.store().link(o.link) else {
                continue;
            };
            // A receiver whose credential is dead waits for its fix (and the reload).
            if self.shared.workers.credential_dead(&link.target_account) {
                continue;
            }
            if let Err(e) = self.write_orphan_note(&link).await {
                tracing::warn!(link = link.id, error = %e, "orphan note not written yet; tried again shortly");
                again |= e.is_transient() && e.dead_credential().is_none();
            }
        }
        if again {
            self.write_owed_notes_later();
        }
    }

    /// A store written before `Orphan::note_owed` existed recorded an orphan's note as a
    /// pending write, which a comment write in doubt could hold instead: once that comment
    /// write is settled on an orphaned link whose mirror remains, the note is owed.
    fn owe_legacy_note(&self, link: &Link) {
        let Ok(Some(orphan)) = self.store().orphan(link.id) else {
            return;
        };
        let remains = Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == orphan.reason)
            .is_none_or(|r| r.mirror_remains());
        if remains && !orphan.note_owed {
            let _ = self
                .store()
                .transaction(|tx| tx.set_orphan_note_owed(link.id, true));
        }
    }
}
