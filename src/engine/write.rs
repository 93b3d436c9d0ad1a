//! One write to a receiving ticket, recorded exactly once (ARCHITECTURE.md, the write
//! protocol):
//! 1. under the receiving ticket's lock, record a `PendingWrite` (link, flow, source ids,
//!    and for a status/tag/field change both flows' baselines as it leaves them);
//! 2. send the update, naming the write in its audit (the client never replays an update
//!    that carries a comment);
//! 3. record what it did (`commit_landed`: mappings, bridge-comment mark, watermark, the
//!    baselines, pending write cleared, in one transaction) before anything else is
//!    written there.
//!
//! A lost answer is settled by `recovery` before anything else is sent on that link and
//! flow (and, for a ticket change, before the reverse flow compares that ticket with its
//! baseline): found → committed, not found → cleared and planned again.

use jiff::Timestamp;

use crate::coalesce::Batch;
use crate::link::Flow;
use crate::orphan::Reason;
use crate::plan::Write;
use crate::store::{Link, LinkState, PendingWrite, Snapshots, StoreError};
use crate::zendesk::client::ZendeskError;
use crate::zendesk::models::{Attachment, NewComment, TicketWrite};

use super::attachments::Prepared;
use super::sync::Ends;
use super::{Engine, EngineError};

impl Engine {
    /// One update to the receiving ticket, recorded exactly once; `files` are the
    /// attachments of the source comments it carries.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn write_one(
        &self,
        link: &Link,
        flow: Flow,
        ends: &Ends,
        receiver: &super::Account,
        write: &Write,
        files: &[Attachment],
        ahead: bool,
        changes: Option<Snapshots>,
    ) -> Result<(), WriteFailure> {
        let _guard = self
            .lock_ticket(&ends.receiver_account, ends.receiver_ticket)
            .await;
        // The link may have ended while we waited for the lock: then nothing more is
        // written, and the step stops where it is, so its watermark does not pass the
        // comments it did not send (a re-share or `resync --relink` sends them).
        match self.store().link(link.id).map_err(EngineError::from)? {
            Some(l) if l.state == LinkState::Active => {}
            _ => return Err(WriteFailure::LinkEnded),
        }
        // Consent at the moment of the write: an agreement that stopped being accepted
        // (its links are being orphaned) writes nothing more, and the step stops here.
        if !self.consents(link, flow) {
            tracing::info!(
                link = link.id,
                flow = flow.as_str(),
                "not written: the agreement is not accepted now"
            );
            return Err(WriteFailure::LinkEnded);
        }
        if !self.may_write(link, flow, ends) {
            return Err(replan(ends, TURNED));
        }
        // The files go up just before the comment that carries them (upload tokens
        // expire): every attempt of a write uploads afresh (`attachments.rs`).
        let rules = self.rules_for(link, flow);
        let prepared = match (&write.comment, &rules) {
            (Some(_), Some(rules)) if !files.is_empty() => {
                let sender = self.account(&ends.sender_account)?;
                self.prepare_files(rules, &sender, receiver, link.id, files)
                    .await?
            }
            _ => Prepared::default(),
        };
        // Files take time: consent is asked again at the moment of the write.
        if !files.is_empty() && !self.consents(link, flow) {
            return Err(WriteFailure::LinkEnded);
        }
        if !files.is_empty() && !self.may_write(link, flow, ends) {
            return Err(replan(ends, TURNED));
        }
        let sources = write
            .comment
            .as_ref()
            .map(|b| b.source_comment_ids.clone())
            .unwrap_or_default();
        if self.privacy_news(ends, &sources) {
            return Err(replan(ends, NEWS));
        }
        let started = crate::clock::now();
        // Every write that adds a comment or changes the ticket is recorded before it is
        // sent and names itself in its audit: a lost answer or a crash is settled by what
        // the receiving ticket shows (`recovery.rs`).
        let mut pending = (write.comment.is_some() || changes.is_some()).then(|| PendingWrite {
            link: link.id,
            flow,
            source_comments: sources.clone(),
            marker: String::new(),
            created_at: started,
            ahead,
            note: false,
            changes,
        });
        if let Some(p) = pending.as_mut() {
            self.store()
                .transaction(|tx| {
                    p.marker = marker(link.id, flow, tx.next_write_id()?, started);
                    tx.record_pending_write(p)
                })
                .map_err(EngineError::from)?;
        }
        let ticket_write = TicketWrite {
            comment: write.comment.as_ref().map(|b| comment_of(b, &prepared)),
            status: write.status,
            additional_tags: (!write.tags.add.is_empty())
                .then(|| write.tags.add.iter().cloned().collect()),
            remove_tags: (!write.tags.remove.is_empty())
                .then(|| write.tags.remove.iter().cloned().collect()),
            custom_fields: (!write.fields.is_empty()).then(|| write.fields.clone()),
            priority: write.system.priority.clone(),
            ticket_type: write.system.ticket_type.clone(),
            due_at: write.system.due_at,
            group_id: write.system.group_id,
            ticket_form_id: write.system.form_id,
            metadata: pending.as_ref().map(metadata),
            ..Default::default()
        };
        // Consent once more at the moment of each attempt (a 429 or a wait at the gate can
        // hold the update long after the checks above): withheld, nothing is sent.
        let result = receiver
            .client
            .guarded(self.consent_guard(link, flow, Some((ends, sources))))
            .update_ticket_audited(ends.receiver_ticket, &ticket_write)
            .await;
        let outcome = match result {
            // Withheld for a reason a fresh read answers: the run fails and reads again.
            Err(ZendeskError::Withheld { reason, .. }) if reason == TURNED || reason == NEWS => {
                if pending.is_some() {
                    let _ = self.store().clear_pending_write(link.id, flow);
                }
                Err(replan(ends, if reason == TURNED { TURNED } else { NEWS }))
            }
            result => self.after_send(link, flow, ends, result, pending).await,
        };
        if outcome.is_ok()
            && let Some(rules) = &rules
        {
            self.count_files(&rules.name, &prepared);
        }
        outcome
    }

    /// Records a write that landed, in one transaction: the comment it added (`comment`)
    /// as mirroring its source comments, or as an orphan's note; for a write that changed
    /// the ticket, both flows' baselines as its step leaves them, so that no crash or lost
    /// answer before the step's commit lets the reverse flow take the bridge's own change
    /// for the partner's (found by tests/chaos.rs: acme's `hold` crossed as `open`, the
    /// daemon was killed before its commit, and `open` came back over `hold`); and its
    /// pending write cleared.
    pub(crate) fn commit_landed(
        &self,
        link: &Link,
        pending: &PendingWrite,
        receiver_account: &str,
        comment: Option<u64>,
    ) -> Result<(), StoreError> {
        let flow = pending.flow;
        self.store().transaction(|tx| {
            match comment {
                Some(id) if pending.source_comments.is_empty() => {
                    tx.record_bridge_comment(receiver_account, id, link.id, flow)?;
                    tx.clear_pending_write(link.id, flow)?;
                }
                Some(id) => tx.commit_mirrored(link.id, flow, &pending.source_comments, id)?,
                None => {
                    tx.clear_pending_write(link.id, flow)?;
                }
            }
            if pending.is_note() {
                tx.set_orphan_note_owed(link.id, false)?;
            }
            if let Some(changes) = &pending.changes {
                let mut m = tx.view().watermark(link.id, flow)?;
                m.snapshot = Some(changes.sender.clone());
                tx.set_watermark(link.id, flow, &m)?;
                let back = super::sync::reverse(flow);
                let mut r = tx.view().watermark(link.id, back)?;
                let after = serde_json::from_value(changes.receiver.clone()).unwrap_or_default();
                r.snapshot = serde_json::to_value(super::sync::keep_upgrade(&r, &after)).ok();
                tx.set_watermark(link.id, back, &r)?;
            }
            Ok(())
        })
    }

    /// What a write on `link` and `flow` asks right before each attempt it sends: its
    /// agreement(s) still accepted and, for an update (`update`: its ends and the source
    /// comments it carries), the link still active, for a reply from the mirror still
    /// two-way as when the step began, and no news that a comment it carries was made
    /// private or redacted since it was read ([`ConsentGuard`]).
    pub(crate) fn consent_guard(
        &self,
        link: &Link,
        flow: Flow,
        update: Option<(&Ends, Vec<u64>)>,
    ) -> std::sync::Arc<dyn crate::zendesk::client::StillAllowed> {
        std::sync::Arc::new(ConsentGuard {
            engine: self.clone(),
            link: link.clone(),
            flow,
            update: update.map(|(ends, sources)| Update {
                directions: ends.directions,
                sender_account: ends.sender_account.clone(),
                sender_ticket: ends.sender_ticket,
                sources,
            }),
            intro: Vec::new(),
            untag: Vec::new(),
        })
    }

    /// What each attempt of a mirror's keyed create asks: its agreement still accepted,
    /// and no news that `intro` (the source's first comment, which the create carries)
    /// was made private or redacted since it was read. A retry sent after that news
    /// would make the mirror with the comment as it was (found by the deterministic
    /// simulation, seed 1795: a create whose first attempt was held 46 s was sent again,
    /// public, half a minute after its comment was made private).
    ///
    /// `untag`: for a share the auto-share tag decided, the tags whose loss ends the link;
    /// news that the ticket shows none of them since it was read withholds the attempt
    /// too (as `Hints::untagged_news` stops the share before its link is stored).
    pub(crate) fn create_guard(
        &self,
        link: &Link,
        intro: Option<u64>,
        untag: Vec<String>,
    ) -> std::sync::Arc<dyn crate::zendesk::client::StillAllowed> {
        std::sync::Arc::new(ConsentGuard {
            engine: self.clone(),
            link: link.clone(),
            flow: Flow::SourceToTarget,
            update: None,
            intro: intro.into_iter().collect(),
            untag,
        })
    }

    /// Whether a hint not taken yet says a comment among `sources` of the sending ticket
    /// was made private or redacted since the step read it (`Hints::privacy_news`): the
    /// write would send it as it was. Withheld, the ticket's next run reads it whole and
    /// plans it again (found by the deterministic simulation, seed 813: a read held 61 s
    /// by slow answers, and the make-private webhook came in between).
    pub(crate) fn privacy_news(&self, ends: &Ends, sources: &[u64]) -> bool {
        let news = !sources.is_empty()
            && self
                .shared
                .hints
                .privacy_news(&ends.sender_account, ends.sender_ticket, sources);
        if news {
            tracing::info!(
                account = %ends.sender_account,
                ticket = ends.sender_ticket,
                "not written: a comment it carries was made private or redacted since it was read"
            );
        }
        news
    }

    /// Records what a sent write did (see the module's protocol, step 3).
    async fn after_send(
        &self,
        link: &Link,
        flow: Flow,
        ends: &Ends,
        result: Result<
            (
                crate::zendesk::models::Ticket,
                Option<crate::zendesk::models::Audit>,
            ),
            ZendeskError,
        >,
        pending: Option<PendingWrite>,
    ) -> Result<(), WriteFailure> {
        let comment = match &result {
            Ok((_, audit)) => audit.as_ref().and_then(|a| a.comment_id()),
            Err(_) => None,
        };
        match (result, pending) {
            (Ok(_), None) => Ok(()),
            // The answer names the comment it added, or the write added none: it landed,
            // and is recorded with no read.
            (Ok(_), Some(p)) if comment.is_some() || p.source_comments.is_empty() => {
                self.commit_landed(link, &p, &ends.receiver_account, comment)
                    .map_err(EngineError::from)?;
                Ok(())
            }
            // A ticket change is safe to repeat, so the client retried it; still failing,
            // any attempt may have landed or may still land: it is in doubt like the rest.
            (Ok(_), Some(p))
            | (Err(ZendeskError::InDoubt { .. }), Some(p))
            | (
                Err(ZendeskError::Transient { .. }),
                Some(
                    p @ PendingWrite {
                        changes: Some(_), ..
                    },
                ),
            ) => {
                match self
                    .settle_locked(link, &p)
                    .await
                    .map_err(WriteFailure::Engine)?
                {
                    Settled::Landed(_) => Ok(()),
                    // Not there, and it can no longer land: planned again.
                    Settled::NotLanded => Err(WriteFailure::Engine(EngineError::NotApplied {
                        account: ends.receiver_account.clone(),
                        ticket: ends.receiver_ticket,
                    })),
                    // Not there yet, but it may still land: nothing more is written on
                    // this link and flow until it is found or can no longer land.
                    Settled::Undecided { until } => {
                        Err(WriteFailure::Engine(EngineError::Undecided {
                            account: ends.receiver_account.clone(),
                            ticket: ends.receiver_ticket,
                            until,
                        }))
                    }
                }
            }
            (Err(e), pending) => {
                if pending.is_some() {
                    let _ = self.store().clear_pending_write(link.id, flow);
                }
                Err(classify(e, flow))
            }
        }
    }
}

/// The mirror comment of a batch: its text with the note about files not copied, its
/// uploads, and as HTML when it shows images inline.
fn comment_of(batch: &Batch, prepared: &Prepared) -> NewComment {
    let text = crate::attachments::body_with_note(&batch.body, &prepared.note());
    let (body, html_body) = if prepared.inline.is_empty() {
        (Some(text), None)
    } else {
        (
            None,
            Some(crate::attachments::html_with_images(
                &text,
                &prepared.inline,
            )),
        )
    };
    NewComment {
        body,
        html_body,
        public: Some(batch.public),
        uploads: prepared.uploads.clone(),
        ..Default::default()
    }
}

/// The key under which a write names itself in its update's `metadata.custom`.
pub(crate) const MARKER_KEY: &str = "sharebridge_write";
/// Beside it: the source comments the write carries (for a store catching up).
pub(crate) const SOURCES_KEY: &str = "sharebridge_sources";
/// Markers start so; older stores' pending writes have other markers.
pub(crate) const MARKER_PREFIX: &str = "sbw:";

/// A write's marker: unique per write (the store's write number) and across a restored
/// older store (the instant), and naming its link and flow, so two links writing to one
/// receiving ticket never take each other's writes for their own.
pub(crate) fn marker(link: u64, flow: Flow, write: u64, at: Timestamp) -> String {
    format!(
        "{MARKER_PREFIX}{link}:{}:{write}:{}",
        flow.as_str(),
        at.as_millisecond()
    )
}

/// The link and flow a marker names (`None` for anything else).
pub(crate) fn parse_marker(marker: &str) -> Option<(u64, Flow)> {
    let mut parts = marker.strip_prefix(MARKER_PREFIX)?.split(':');
    let link = parts.next()?.parse().ok()?;
    let flow = match parts.next()? {
        f if f == Flow::SourceToTarget.as_str() => Flow::SourceToTarget,
        f if f == Flow::TargetToSource.as_str() => Flow::TargetToSource,
        _ => return None,
    };
    Some((link, flow))
}

/// The `metadata` of the update a pending write sends (kept by Zendesk in its audit).
pub(crate) fn metadata(p: &PendingWrite) -> serde_json::Value {
    let sources = p
        .source_comments
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    serde_json::json!({ MARKER_KEY: p.marker, SOURCES_KEY: sources })
}

/// What a look at the receiving ticket says about a write in doubt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Its audit was found: it landed, as this comment (`None`: it added none).
    Landed(Option<u64>),
    /// Not found, and too long ago to land still: it did not land.
    NotLanded,
    /// Not found yet, but it may still land until `until`.
    Undecided { until: Timestamp },
}

/// Decides a write in doubt from what was found: found → landed; not found → not landed
/// only once `wait` has passed since it was sent (Zendesk may still be applying a write
/// whose answer was lost), else undecided. Pure.
pub(crate) fn judge(
    found: Option<Option<u64>>,
    sent_at: Timestamp,
    now: Timestamp,
    wait: jiff::SignedDuration,
) -> Settled {
    match found {
        Some(comment) => Settled::Landed(comment),
        None if now >= sent_at + wait => Settled::NotLanded,
        None => Settled::Undecided {
            until: sent_at + wait,
        },
    }
}

/// The latest moment a write in doubt can have been sent, from which it may still land for
/// `daemon.in_doubt_wait`: not when it was recorded (`created_at`), since the client may
/// hold the request at the account's gate or retry it after a 429 long after that. A
/// write left by an earlier run was sent before this run started (`run_started`); one of
/// this run was sent before the first settle of it began (`first_settle`: the call that
/// sent it held the receiving ticket's lock until it returned). Pure.
pub(crate) fn sent_by(
    created_at: Timestamp,
    run_started: Timestamp,
    first_settle: Timestamp,
) -> Timestamp {
    if created_at < run_started {
        run_started
    } else {
        first_settle.max(created_at)
    }
}

/// Consent at the moment of every attempt of one write: asked by the client right before
/// it sends each attempt (retries after a 429 or a 5xx included), so an agreement
/// withdrawn while the write waited at the gate or between retries stops it unsent.
struct ConsentGuard {
    engine: Engine,
    link: Link,
    flow: Flow,
    /// For updates: also withheld for a reply from the mirror once a direction changed
    /// since its step began, and on news that a comment it carries was made private.
    /// Either kind is withheld once the link ended (unshare, tag removed); for a mirror's
    /// keyed create (`None`), an attempt sent before may still land, and is recorded as
    /// the orphan's mirror (`claim_unknown_mirror`).
    update: Option<Update>,
    /// For a create: the source comment its first comment carries (privacy news about it
    /// withholds the attempt; what an earlier attempt made is adopted by the next run).
    intro: Vec<u64>,
    /// For a create an auto-share tag decided: the tags whose loss withholds it.
    untag: Vec<String>,
}

/// What [`ConsentGuard`] checks an update against.
struct Update {
    /// [`Ends::directions`] of its step.
    directions: u64,
    sender_account: String,
    sender_ticket: u64,
    /// The source comments it carries.
    sources: Vec<u64>,
}

impl crate::zendesk::client::StillAllowed for ConsentGuard {
    fn still_allowed(&self) -> Result<(), String> {
        let stored = self.engine.store().link(self.link.id).ok().flatten();
        let (active, turned, news) = match &self.update {
            // A create: no attempt goes out once the link has ended; one sent before may
            // still land, and is recorded as the orphan's mirror (found by the
            // deterministic simulation, seed 35051: a create held 24 s behind a slow
            // look-up went out after its link was unshared, landed 52 s later, and a
            // share after the wait for ended links' creates made a second mirror). A link
            // the store cannot read now is not known to live: withheld, as updates are.
            None => (
                stored
                    .as_ref()
                    .is_some_and(|l| l.state != LinkState::Orphaned),
                false,
                !self.intro.is_empty()
                    && self.engine.shared.hints.privacy_news(
                        &self.link.source_account,
                        self.link.source_ticket,
                        &self.intro,
                    ),
            ),
            Some(u) => (
                stored
                    .as_ref()
                    .is_some_and(|l| l.state == LinkState::Active),
                self.flow == Flow::TargetToSource
                    && (self.engine.directions_changed() != u.directions
                        || stored.is_none_or(|l| l.direction != crate::link::Direction::TwoWay)),
                !u.sources.is_empty()
                    && self.engine.shared.hints.privacy_news(
                        &u.sender_account,
                        u.sender_ticket,
                        &u.sources,
                    ),
            ),
        };
        if let Some(r) = withheld_reason(
            active,
            self.engine.consents(&self.link, self.flow),
            turned,
            news,
        ) {
            return Err(r.to_owned());
        }
        if !self.untag.is_empty()
            && self.engine.shared.hints.untagged_news(
                &self.link.source_account,
                self.link.source_ticket,
                &self.untag,
            )
        {
            return Err(UNTAGGED.to_owned());
        }
        Ok(())
    }
}

/// Why a write must not be sent now (`None`: it may). `turned`: a reply from the mirror
/// whose link's direction changed since its step began; `news`: a comment it carries was
/// made private or redacted since it was read. Pure.
pub(crate) fn withheld_reason(
    link_active: bool,
    consents: bool,
    turned: bool,
    news: bool,
) -> Option<&'static str> {
    if !link_active {
        Some(ENDED)
    } else if !consents {
        Some("the agreement is not accepted now")
    } else if turned {
        Some(TURNED)
    } else if news {
        Some(NEWS)
    } else {
        None
    }
}

/// Why a write was withheld when a fresh read of its sending ticket answers the doubt.
const TURNED: &str = "the link's direction changed since the step read the mirror";
pub(crate) const NEWS: &str = "a comment it carries was made private or redacted since it was read";
pub(crate) const ENDED: &str = "the link ended";
pub(crate) const UNTAGGED: &str = "the ticket lost its auto-share tag since it was read";

/// A write withheld until its ticket is read again: the run fails (transient), its hints
/// go back as a full read, and the retry plans from what Zendesk shows then.
fn replan(ends: &Ends, reason: &'static str) -> WriteFailure {
    WriteFailure::Engine(EngineError::Replan {
        account: ends.sender_account.clone(),
        ticket: ends.sender_ticket,
        reason,
    })
}

/// Why a write did not land.
pub(crate) enum WriteFailure {
    /// The receiving ticket is gone: the link ends with this reason.
    Ended(Reason),
    /// The link ended (unshare, consent withdrawn), or its agreement is not accepted at
    /// the moment of the write: nothing was sent.
    LinkEnded,
    /// Retrying will not help (closed, 5000 comments, a 4xx): the link goes to `error`.
    Broken(String),
    Engine(EngineError),
}

impl From<EngineError> for WriteFailure {
    fn from(e: EngineError) -> Self {
        WriteFailure::Engine(e)
    }
}

fn classify(e: ZendeskError, flow: Flow) -> WriteFailure {
    match e {
        ZendeskError::NotFound { .. } => WriteFailure::Ended(match flow {
            Flow::SourceToTarget => Reason::MirrorDeleted,
            Flow::TargetToSource => Reason::SourceDeleted,
        }),
        // Consent withdrawn (or the link ended) just before an attempt: nothing was sent.
        ZendeskError::Withheld { .. } => WriteFailure::LinkEnded,
        e @ (ZendeskError::Closed { .. }
        | ZendeskError::CommentLimit { .. }
        | ZendeskError::Invalid { .. }) => WriteFailure::Broken(e.to_string()),
        e => WriteFailure::Engine(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_in_doubt_is_not_landed_only_once_it_can_no_longer_land() {
        let sent: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        let wait = jiff::SignedDuration::from_secs(60);
        let later = |s| sent + jiff::SignedDuration::from_secs(s);
        assert_eq!(
            judge(Some(Some(7)), sent, later(1), wait),
            Settled::Landed(Some(7))
        );
        assert_eq!(
            judge(Some(None), sent, later(600), wait),
            Settled::Landed(None)
        );
        assert_eq!(
            judge(None, sent, later(1), wait),
            Settled::Undecided { until: later(60) }
        );
        assert_eq!(judge(None, sent, later(60), wait), Settled::NotLanded);
        assert_eq!(judge(None, sent, later(61), wait), Settled::NotLanded);
    }

    #[test]
    fn a_write_is_waited_for_from_when_it_can_have_been_sent() {
        let at = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap();
        let wait = jiff::SignedDuration::from_secs(60);
        // Recorded at 0, held 45 s at the gate (a 429's Retry-After), its answer lost,
        // first settled at 50: not judged "not landed" before 110 (it was at 60).
        let sent = sent_by(at(0), at(-100), at(50));
        assert_eq!(sent, at(50));
        assert_eq!(
            judge(None, sent, at(61), wait),
            Settled::Undecided { until: at(110) }
        );
        assert_eq!(judge(None, sent, at(110), wait), Settled::NotLanded);
        assert_eq!(
            judge(Some(Some(9)), sent, at(61), wait),
            Settled::Landed(Some(9))
        );
        // Left by an earlier run (recorded at 0, this run started at 30): sent by 30.
        assert_eq!(sent_by(at(0), at(30), at(31)), at(30));
        // Never before it was recorded.
        assert_eq!(sent_by(at(40), at(30), at(35)), at(40));
    }

    #[test]
    fn a_write_is_withheld_for_the_first_reason_that_holds() {
        let ended = Some("the link ended");
        let refused = Some("the agreement is not accepted now");
        let turned = Some("the link's direction changed since the step read the mirror");
        let news = Some("a comment it carries was made private or redacted since it was read");
        // (link active, consents, direction turned, privacy news) → why withheld.
        let table = [
            ((true, true, false, false), None),
            ((false, true, false, false), ended),
            ((false, false, true, true), ended),
            ((true, false, false, false), refused),
            ((true, false, true, true), refused),
            ((true, true, true, false), turned),
            ((true, true, true, true), turned),
            ((true, true, false, true), news),
        ];
        for ((active, consents, t, n), expected) in table {
            assert_eq!(
                withheld_reason(active, consents, t, n),
                expected,
                "{active} {consents} {t} {n}"
            );
        }
    }

    #[test]
    fn markers_name_their_link_and_flow_and_differ_per_write() {
        let at: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        let a = marker(7, Flow::TargetToSource, 1, at);
        let b = marker(7, Flow::TargetToSource, 2, at);
        assert_ne!(a, b);
        assert_eq!(parse_marker(&a), Some((7, Flow::TargetToSource)));
        assert_eq!(
            parse_marker(&marker(8, Flow::SourceToTarget, 3, at)),
            Some((8, Flow::SourceToTarget))
        );
        assert_eq!(parse_marker("vendor:42"), None);
        assert_eq!(parse_marker("orphan-note"), None);
        assert_eq!(parse_marker("sbw:x:source_to_target:1:2"), None);
    }
}
