//! One flow of one link: read the sending side's new comments, let the pure planner decide,
//! write each planned update to the receiving side and record it before the next.
//!
//! The exactly-once protocol for a write carrying comments (see ARCHITECTURE.md):
//! 1. under the receiving ticket's lock, record a `PendingWrite` (link, flow, source ids);
//! 2. send the update (the client never replays an update that carries a comment);
//! 3. find the comment it created (the newest comment by the bridge's user on that ticket
//!    that the store does not know yet) and `commit_mirrored` — mappings, bridge-comment
//!    mark, watermark and pending write cleared, in one transaction.
//!
//! If the answer is lost (`InDoubt`) or the process dies between 1 and 3, the pending
//! write is reconciled by the same look-up before anything else is sent: found → commit,
//! not found → clear and plan again.

use crate::config::AgreementConfig;
use crate::link::Flow;
use crate::metrics::AgreementLabels;
use crate::orphan::Reason;
use crate::plan::{self, CommentNow, SideNow, Write};
use crate::store::{Link, LinkState, PendingWrite, Watermark};
use crate::zendesk::client::ZendeskError;
use crate::zendesk::models::{NewComment, Ticket, TicketWrite};

use super::{Engine, EngineError};

/// The `lock_ticket` account key under which the two flows of a link take turns.
pub(crate) const LINK_TURN: &str = "#link";

/// Clock skew allowed between this host and Zendesk when matching a comment in doubt.
const SKEW: jiff::SignedDuration = jiff::SignedDuration::from_secs(120);

/// Who sends and who receives in one flow.
pub(crate) struct Ends {
    pub sender_account: String,
    pub sender_ticket: u64,
    pub receiver_account: String,
    pub receiver_ticket: u64,
}

pub(crate) fn ends(link: &Link, flow: Flow) -> Option<Ends> {
    let target = link.target_ticket?;
    Some(match flow {
        Flow::SourceToTarget => Ends {
            sender_account: link.source_account.clone(),
            sender_ticket: link.source_ticket,
            receiver_account: link.target_account.clone(),
            receiver_ticket: target,
        },
        Flow::TargetToSource => Ends {
            sender_account: link.target_account.clone(),
            sender_ticket: target,
            receiver_account: link.source_account.clone(),
            receiver_ticket: link.source_ticket,
        },
    })
}

fn reverse(flow: Flow) -> Flow {
    match flow {
        Flow::SourceToTarget => Flow::TargetToSource,
        Flow::TargetToSource => Flow::SourceToTarget,
    }
}

impl Engine {
    /// The agreement whose rules govern `flow` on `link`.
    pub(crate) fn rules_for(&self, link: &Link, flow: Flow) -> Option<AgreementConfig> {
        let config = self.config();
        match flow {
            Flow::SourceToTarget => config.agreement(&link.agreement).cloned(),
            Flow::TargetToSource => {
                self.agreement_between(&link.target_account, &link.source_account)
            }
        }
    }

    /// Syncs one flow of a link from the sending ticket as just read.
    pub(crate) async fn sync(
        &self,
        link: &Link,
        flow: Flow,
        sender: &Ticket,
    ) -> Result<(), EngineError> {
        let mut link = link.clone();
        if link.target_ticket.is_none() {
            let Some(agreement) = self.config().agreement(&link.agreement).cloned() else {
                return Ok(());
            };
            link = self.ensure_mirror(&link, &agreement, sender).await?;
        }
        let (Some(ends), Some(rules)) = (ends(&link, flow), self.rules_for(&link, flow)) else {
            return Ok(());
        };
        // Race (found by tests/chaos.rs, no crash needed): the two flows of a two-way
        // link ran at once. Flow A wrote a status to the mirror and recorded it in the
        // mirror's baseline only at the end of its step; flow B read the mirror after
        // that write but the baseline before it was recorded, took the bridge's own
        // write for the partner's change and sent it back (acme set `hold`, the mirror
        // got `open`, and `open` came back over acme's `hold`). So the flows of one link
        // take turns (lock order: link, then ticket), and a step that would send a
        // status/tag/field change re-reads the sending ticket under that turn: a ticket
        // read before the other flow's write is not compared with the baseline after it.
        let _turn = self.lock_ticket(LINK_TURN, link.id).await;
        // A write left in doubt is settled before anything new is planned.
        if let Some(pending) = self.store().pending_write(link.id, flow)? {
            self.settle_pending(&link, &pending).await?;
        }
        // Once per link and flow after each start: is the store behind the receiving
        // ticket (an older backup restored)?
        let first_look = self
            .shared
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((link.id, flow));
        if first_look && let Err(e) = self.catch_up(&link, flow, &ends).await {
            self.shared
                .verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&(link.id, flow));
            return Err(e);
        }
        let sender_acct = self.account(&ends.sender_account)?;
        let receiver_acct = self.account(&ends.receiver_account)?;
        let mark = self.store().watermark(link.id, flow)?;
        let baseline = Self::baseline(&mark);
        let after = mark.last_source_comment.unwrap_or(0);
        let sender_bridge = sender_acct.bridge_user().await?;
        let fresh = sender_acct
            .client
            .comments_after(ends.sender_ticket, after)
            .await?;
        let mut comments = Vec::new();
        // Comments a webhook carried were mirrored ahead of the watermark: skipped here,
        // and the watermark moves past them with the rest.
        let mut ahead = None;
        for c in fresh {
            if self
                .store()
                .mirrored_comment(link.id, flow, c.id)?
                .is_some()
            {
                ahead = ahead.max(Some(c.id));
                continue;
            }
            let (author, author_is_bridge, written_by_bridge) = self
                .authorship(&sender_acct, sender_bridge, c.id, c.author_id, "")
                .await?;
            comments.push(CommentNow {
                id: c.id,
                public: c.public,
                author,
                author_is_bridge,
                written_by_bridge,
                created_at: c.created_at,
                body: c.body,
            });
        }
        let mut now = SideNow {
            status: sender.status,
            tags: sender.tags.clone(),
            custom_fields: sender.custom_fields.clone(),
        };
        let mut plan = plan::plan(&rules, &sender_acct.subdomain, &baseline, &now, &comments);
        if plan.changes_ticket() {
            let fresh = sender_acct.client.show_ticket(ends.sender_ticket).await?;
            now = SideNow {
                status: fresh.status,
                tags: fresh.tags,
                custom_fields: fresh.custom_fields,
            };
            plan = plan::plan(&rules, &sender_acct.subdomain, &baseline, &now, &comments);
        }
        tracing::debug!(
            link = link.id,
            flow = flow.as_str(),
            new_comments = comments.len(),
            writes = plan.writes.len(),
            held_back = plan.held_back.len(),
            skipped = plan.skipped.len(),
            "planned"
        );
        let labels = AgreementLabels {
            agreement: rules.name.clone(),
        };
        self.count_held_back(&labels, &plan);
        let mut receiver_baseline =
            Self::baseline(&self.store().watermark(link.id, reverse(flow))?);
        let new_baseline = now.to_baseline(baseline.not_before);
        for (i, write) in plan.writes.iter().enumerate() {
            let result = self
                .write_one(&link, flow, &ends, &receiver_acct, write, false)
                .await;
            if !self.after_write(&link, flow, result).await? {
                return Ok(());
            }
            self.count_mirrored(&labels, write, &comments);
            receiver_baseline = plan::receiver_after(receiver_baseline, write);
            // The status/tag/field changes ride in the first write: once it landed, both
            // baselines take it in before the next write, so a later write failing neither
            // lets the reverse flow echo those changes back nor loses a sender change
            // reverted before the next step (found by tests/plan_props.rs).
            if i == 0 && write.changes_ticket() && plan.writes.len() > 1 {
                self.store().transaction(|tx| {
                    let mut m = tx.view().watermark(link.id, flow)?;
                    m.snapshot = serde_json::to_value(&new_baseline).ok();
                    tx.set_watermark(link.id, flow, &m)?;
                    let mut r = tx.view().watermark(link.id, reverse(flow))?;
                    r.snapshot = serde_json::to_value(&receiver_baseline).ok();
                    tx.set_watermark(link.id, reverse(flow), &r)?;
                    Ok(())
                })?;
            }
        }
        // Everything decided is done: advance the watermark past held-back and skipped
        // comments too, and keep both baselines.
        let last = [mark.last_source_comment, plan.last_comment, ahead]
            .into_iter()
            .flatten()
            .max();
        let changed =
            !plan.writes.is_empty() || last != mark.last_source_comment || new_baseline != baseline;
        if changed {
            let at = crate::clock::now();
            self.store().transaction(|tx| {
                let mut m = tx.view().watermark(link.id, flow)?;
                m.last_source_comment = match (m.last_source_comment, last) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                m.snapshot = serde_json::to_value(&new_baseline).ok();
                m.updated_at = Some(at);
                tx.set_watermark(link.id, flow, &m)?;
                if !plan.writes.is_empty() {
                    let mut r: Watermark = tx.view().watermark(link.id, reverse(flow))?;
                    r.snapshot = serde_json::to_value(&receiver_baseline).ok();
                    tx.set_watermark(link.id, reverse(flow), &r)?;
                    tx.mark_link_synced(link.id, at)?;
                }
                Ok(())
            })?;
        }
        if !plan.writes.is_empty() {
            tracing::info!(
                link = link.id,
                flow = flow.as_str(),
                writes = plan.writes.len(),
                "synced"
            );
        }
        Ok(())
    }

    /// Acts on a write's failure: the link ends or goes to `error` (`Ok(false)`: stop this
    /// step), or the error is returned (retried later). `Ok(true)` when it landed.
    pub(crate) async fn after_write(
        &self,
        link: &Link,
        flow: Flow,
        result: Result<(), WriteFailure>,
    ) -> Result<bool, EngineError> {
        match result {
            Ok(()) => Ok(true),
            Err(WriteFailure::Ended(reason)) => {
                self.orphan(link, reason, "").await?;
                Ok(false)
            }
            Err(WriteFailure::Broken(why)) => {
                tracing::warn!(link = link.id, flow = flow.as_str(), reason = %why, "link in error");
                self.store()
                    .set_link_state(link.id, LinkState::Error, Some(why))?;
                self.refresh_gauges();
                Ok(false)
            }
            Err(WriteFailure::Engine(e)) => Err(e),
        }
    }

    /// Who wrote a sending side's comment, as the planner needs it: `(name,
    /// author_is_bridge, written_by_bridge)`. The bridge's own comments carry no name; an
    /// agent's is `known_name` when the caller has it, else looked up (cached).
    pub(crate) async fn authorship(
        &self,
        sender: &super::Account,
        sender_bridge: u64,
        comment: u64,
        author_id: u64,
        known_name: &str,
    ) -> Result<(String, bool, bool), EngineError> {
        let written_by_bridge = self.store().is_bridge_comment(&sender.name, comment)?;
        let author_is_bridge = author_id == sender_bridge;
        let name = if written_by_bridge || author_is_bridge {
            String::new()
        } else if known_name.is_empty() {
            sender.user_name(author_id).await
        } else {
            known_name.to_owned()
        };
        Ok((name, author_is_bridge, written_by_bridge))
    }

    /// Counts the private comments a plan held back.
    pub(crate) fn count_held_back(&self, labels: &AgreementLabels, plan: &plan::Plan) {
        if !plan.held_back.is_empty() {
            self.metrics()
                .held_back_comments
                .get_or_create(labels)
                .inc_by(plan.held_back.len() as u64);
        }
    }

    /// Counts the comments a landed write mirrored, and the lag of its oldest.
    pub(crate) fn count_mirrored(
        &self,
        labels: &AgreementLabels,
        write: &Write,
        comments: &[CommentNow],
    ) {
        let Some(batch) = &write.comment else {
            return;
        };
        self.metrics()
            .mirrored_comments
            .get_or_create(labels)
            .inc_by(batch.source_comment_ids.len() as u64);
        let oldest = comments
            .iter()
            .filter(|c| batch.source_comment_ids.contains(&c.id))
            .map(|c| c.created_at)
            .min();
        if let Some(t) = oldest {
            let lag = crate::clock::now().duration_since(t).as_secs_f64().max(0.0);
            self.metrics().lag_seconds.get_or_create(labels).set(lag);
        }
    }

    /// One update to the receiving ticket, recorded exactly once.
    pub(crate) async fn write_one(
        &self,
        link: &Link,
        flow: Flow,
        ends: &Ends,
        receiver: &super::Account,
        write: &Write,
        ahead: bool,
    ) -> Result<(), WriteFailure> {
        let _guard = self
            .lock_ticket(&ends.receiver_account, ends.receiver_ticket)
            .await;
        // The link may have ended while we waited for the lock.
        match self.store().link(link.id).map_err(EngineError::from)? {
            Some(l) if l.state == LinkState::Active => {}
            _ => return Ok(()),
        }
        let started = crate::clock::now();
        let pending = write.comment.as_ref().map(|b| PendingWrite {
            link: link.id,
            flow,
            source_comments: b.source_comment_ids.clone(),
            marker: format!("{}:{}", ends.receiver_account, ends.receiver_ticket),
            created_at: started,
            ahead,
        });
        if let Some(p) = &pending {
            self.store()
                .transaction(|tx| tx.record_pending_write(p))
                .map_err(EngineError::from)?;
        }
        let ticket_write = TicketWrite {
            comment: write.comment.as_ref().map(|b| NewComment {
                body: Some(b.body.clone()),
                public: Some(b.public),
                ..Default::default()
            }),
            status: write.status,
            additional_tags: (!write.tags.add.is_empty())
                .then(|| write.tags.add.iter().cloned().collect()),
            remove_tags: (!write.tags.remove.is_empty())
                .then(|| write.tags.remove.iter().cloned().collect()),
            custom_fields: (!write.fields.is_empty()).then(|| write.fields.clone()),
            ..Default::default()
        };
        let result = receiver
            .client
            .update_ticket_audited(ends.receiver_ticket, &ticket_write)
            .await;
        match (result, pending) {
            (Ok(_), None) => Ok(()),
            (Ok((_, Some(audit))), Some(p)) if audit.comment_id().is_some() => {
                // The answer names the comment it added: record it, no read needed.
                let id = audit.comment_id().unwrap_or_default();
                self.store()
                    .commit_mirrored(link.id, flow, &p.source_comments, id)
                    .map_err(EngineError::from)?;
                Ok(())
            }
            (Ok(_), Some(p)) | (Err(ZendeskError::InDoubt { .. }), Some(p)) => {
                if self
                    .settle_locked(link, &p)
                    .await
                    .map_err(WriteFailure::Engine)?
                {
                    Ok(())
                } else {
                    // In doubt and not found: not applied. Plan again later.
                    Err(WriteFailure::Engine(EngineError::NotApplied {
                        account: ends.receiver_account.clone(),
                        ticket: ends.receiver_ticket,
                    }))
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

    /// Comments by the bridge's user on the receiving ticket that the store does not know
    /// mean the store is older than Zendesk (a backup was restored): the sending side's
    /// comments created before the newest of them count as mirrored (the watermark moves
    /// up to them), so nothing is sent twice. Costs one read per link and flow per start.
    async fn catch_up(&self, link: &Link, flow: Flow, ends: &Ends) -> Result<(), EngineError> {
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
        let Some(newest) = unknown.iter().map(|c| c.created_at).max() else {
            return Ok(());
        };
        let sender = self.account(&ends.sender_account)?;
        let on_sender = sender.client.list_comments(ends.sender_ticket).await?;
        let covered = on_sender
            .iter()
            .filter(|c| c.created_at <= newest)
            .map(|c| c.id)
            .max();
        tracing::warn!(
            link = link.id,
            flow = flow.as_str(),
            unknown = unknown.len(),
            "the receiving ticket has bridge comments this store does not know (restored backup?); catching up without resending"
        );
        self.store().transaction(|tx| {
            for c in &unknown {
                tx.record_bridge_comment(&ends.receiver_account, c.id, link.id, flow)?;
            }
            let mut m = tx.view().watermark(link.id, flow)?;
            m.last_source_comment = match (m.last_source_comment, covered) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            tx.set_watermark(link.id, flow, &m)?;
            Ok(())
        })?;
        Ok(())
    }

    /// Settles a pending write after a restart or a lost answer (takes the ticket lock).
    pub(crate) async fn settle_pending(
        &self,
        link: &Link,
        pending: &PendingWrite,
    ) -> Result<bool, EngineError> {
        let Some(ends) = ends(link, pending.flow) else {
            self.store().clear_pending_write(link.id, pending.flow)?;
            return Ok(false);
        };
        let _guard = self
            .lock_ticket(&ends.receiver_account, ends.receiver_ticket)
            .await;
        self.settle_locked(link, pending).await
    }

    /// Looks for the comment a pending write created: the newest comment by the bridge's
    /// user on the receiving ticket, created after the write started, not yet recorded.
    /// Found → committed; not found → the pending write is cleared. Caller holds the lock.
    async fn settle_locked(
        &self,
        link: &Link,
        pending: &PendingWrite,
    ) -> Result<bool, EngineError> {
        let Some(ends) = ends(link, pending.flow) else {
            return Ok(false);
        };
        let receiver = self.account(&ends.receiver_account)?;
        let bridge = receiver.bridge_user().await?;
        let comments = match receiver.client.list_comments(ends.receiver_ticket).await {
            Ok(c) => c,
            Err(ZendeskError::NotFound { .. }) => {
                self.store().clear_pending_write(link.id, pending.flow)?;
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        };
        let since = pending.created_at - SKEW;
        let mut found = None;
        for c in comments.iter().rev() {
            if c.author_id != bridge || c.created_at < since {
                continue;
            }
            if !self
                .store()
                .is_bridge_comment(&ends.receiver_account, c.id)?
            {
                found = Some(c.id);
                break;
            }
        }
        match found {
            Some(id) => {
                if pending.source_comments.is_empty() {
                    self.store().transaction(|tx| {
                        tx.record_bridge_comment(
                            &ends.receiver_account,
                            id,
                            link.id,
                            pending.flow,
                        )?;
                        tx.clear_pending_write(link.id, pending.flow)?;
                        Ok(())
                    })?;
                } else {
                    self.store().commit_mirrored(
                        link.id,
                        pending.flow,
                        &pending.source_comments,
                        id,
                    )?;
                }
                Ok(true)
            }
            // A note not found is still owed (it is written, not planned again).
            None if pending.marker == super::orphaning::NOTE_MARKER => Ok(false),
            None => {
                self.store().clear_pending_write(link.id, pending.flow)?;
                Ok(false)
            }
        }
    }

    /// At start: every write a crash left in doubt is settled before new work.
    pub(crate) async fn reconcile_pending(&self) {
        let Ok(pending) = self.store().pending_writes() else {
            return;
        };
        for p in pending {
            let Ok(Some(link)) = self.store().link(p.link) else {
                let _ = self.store().clear_pending_write(p.link, p.flow);
                continue;
            };
            if p.marker == super::orphaning::NOTE_MARKER {
                // An orphan note: settled if it landed, else written now.
                let result = match (
                    self.settle_pending(&link, &p).await,
                    self.store().orphan(link.id),
                ) {
                    (Ok(true), _) => Ok(()),
                    (Ok(false), Ok(Some(orphan))) => self.write_orphan_note(&link, &orphan).await,
                    (Ok(false), _) => self
                        .store()
                        .clear_pending_write(link.id, p.flow)
                        .map(drop)
                        .map_err(Into::into),
                    (Err(e), _) => Err(e),
                };
                if let Err(e) = result {
                    tracing::warn!(link = link.id, error = %e, "orphan note not written yet; tried again at the next start or reload");
                }
                continue;
            }
            match self.settle_pending(&link, &p).await {
                Ok(found) => {
                    tracing::info!(
                        link = link.id,
                        flow = p.flow.as_str(),
                        applied = found,
                        "write in doubt settled"
                    );
                    // A link orphaned while a write to its mirror was in doubt has not
                    // had its note (the note waits for that write): it is owed now.
                    if p.flow == Flow::SourceToTarget
                        && let Err(e) = self.owe_note_if_orphaned(&link).await
                    {
                        tracing::warn!(link = link.id, error = %e, "orphan note not written yet");
                    }
                }
                Err(e) => {
                    tracing::warn!(link = link.id, error = %e, "write in doubt not settled yet; retried when the link syncs")
                }
            }
        }
    }

    async fn owe_note_if_orphaned(&self, link: &Link) -> Result<(), EngineError> {
        let Some(orphan) = self.store().orphan(link.id)? else {
            return Ok(());
        };
        let remains = crate::orphan::Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == orphan.reason)
            .is_none_or(|r| r.mirror_remains());
        if !remains
            || self
                .store()
                .pending_write(link.id, Flow::SourceToTarget)?
                .is_some()
        {
            return Ok(());
        }
        let note = PendingWrite {
            link: link.id,
            flow: Flow::SourceToTarget,
            source_comments: Vec::new(),
            marker: super::orphaning::NOTE_MARKER.to_owned(),
            created_at: crate::clock::now(),
            ahead: false,
        };
        self.store()
            .transaction(|tx| tx.record_pending_write(&note))?;
        self.write_orphan_note(link, &orphan).await
    }
}

/// Why a write did not land.
pub(crate) enum WriteFailure {
    /// The receiving ticket is gone: the link ends with this reason.
    Ended(Reason),
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
        e @ (ZendeskError::Closed { .. }
        | ZendeskError::CommentLimit { .. }
        | ZendeskError::Invalid { .. }) => WriteFailure::Broken(e.to_string()),
        e => WriteFailure::Engine(e.into()),
    }
}
