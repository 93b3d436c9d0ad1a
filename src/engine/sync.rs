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
use crate::plan::{self, CommentNow, SideNow, Write};
use crate::store::{Link, LinkState, Watermark};
use crate::zendesk::models::Ticket;

use super::write::{Settled, WriteFailure};
use super::{Engine, EngineError};

/// The `lock_ticket` account key under which the two flows of a link take turns.
pub(crate) const LINK_TURN: &str = "#link";

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
        if let Some(pending) = self.store().pending_write(link.id, flow)?
            && let Settled::Undecided { until } = self.settle_pending(&link, &pending).await?
        {
            // Nothing new is sent on this flow while an earlier write may still land.
            return Err(EngineError::Undecided {
                account: ends.receiver_account.clone(),
                ticket: ends.receiver_ticket,
                until,
            });
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
                // A link that ended meanwhile keeps its watermark where its last write
                // left it.
                if tx
                    .view()
                    .link(link.id)?
                    .is_none_or(|l| l.state != LinkState::Active)
                {
                    return Ok(());
                }
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
            Err(WriteFailure::LinkEnded) => Ok(false),
            Err(WriteFailure::Broken(why)) => {
                self.break_link(link.id, &format!("{} flow: {why}", flow.as_str()))?;
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
}
