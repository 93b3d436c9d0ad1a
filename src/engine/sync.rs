//! One step of one flow of one link, in four parts: **read** the sending side's comments
//! after the flow's watermark, **plan** with the pure planner (`plan::plan`), **write**
//! each planned update (the exactly-once protocol of `write.rs`: recorded before it is
//! sent, committed before the next), **commit** the step (the watermark past what was
//! decided, both sides' baselines). The flows of one link take turns under the link's
//! lock; writes to one receiving ticket, whatever link they come from, take turns under
//! the ticket's lock.
//!
//! Order (DESIGN §5): a step always starts from a complete read of what follows the
//! watermark and writes in comment order, so on each mirror comments appear in the order
//! they were written at the source, whatever the webhooks did. Only `daemon.ordering =
//! "arrival"` (opt-in, `carried.rs`) writes a webhook's comment before that read.

use crate::config::AgreementConfig;
use crate::link::Flow;
use crate::metrics::AgreementLabels;
use crate::plan::{self, Baseline, CommentNow, Plan, SideNow, Write};
use crate::store::{Link, LinkState, Snapshots, Watermark};
use std::collections::BTreeMap;

use crate::zendesk::models::{Attachment, Ticket};

use super::write::{Settled, WriteFailure};
use super::{Account, Engine, EngineError};

/// Who sends and who receives in one flow.
pub(crate) struct Ends {
    pub sender_account: String,
    pub sender_ticket: u64,
    pub receiver_account: String,
    pub receiver_ticket: u64,
    /// The engine's count of link direction changes when these ends were taken (at the
    /// start of a step, before anything is read): a reply from the mirror is written only
    /// while no link's direction changed since (`Engine::may_write`).
    pub directions: u64,
}

fn ends_of(link: &Link, flow: Flow, directions: u64) -> Option<Ends> {
    let target = link.target_ticket?;
    Some(match flow {
        Flow::SourceToTarget => Ends {
            sender_account: link.source_account.clone(),
            sender_ticket: link.source_ticket,
            receiver_account: link.target_account.clone(),
            receiver_ticket: target,
            directions,
        },
        Flow::TargetToSource => Ends {
            sender_account: link.target_account.clone(),
            sender_ticket: target,
            receiver_account: link.source_account.clone(),
            receiver_ticket: link.source_ticket,
            directions,
        },
    })
}

/// The reverse flow's baseline after this step's writes, keeping what an upgrade to
/// two-way stored meanwhile (where replies start, and that the baseline is to be re-read):
/// the step read that baseline before, and only the upgrade changes those two while the
/// step holds the link's turn (found by the deterministic simulation, seed 2486: a step
/// held by a partition committed after the upgrade and erased its start, and replies
/// written while the link was one-way crossed).
pub(super) fn keep_upgrade(stored: &Watermark, after: &Baseline) -> Baseline {
    let now = Engine::baseline(stored);
    Baseline {
        not_before: now.not_before,
        rebase: now.rebase,
        ..after.clone()
    }
}

/// What a landed ticket change leaves: the sender's new baseline and the receiver's.
fn snapshots(sender: &Baseline, receiver: &Baseline) -> Option<Snapshots> {
    Some(Snapshots {
        sender: serde_json::to_value(sender).ok()?,
        receiver: serde_json::to_value(receiver).ok()?,
    })
}

pub(super) fn reverse(flow: Flow) -> Flow {
    match flow {
        Flow::SourceToTarget => Flow::TargetToSource,
        Flow::TargetToSource => Flow::SourceToTarget,
    }
}

/// What one step read: the comments after the watermark not mirrored yet, and the
/// highest one that was (mirrored ahead of the watermark, or found by a catch-up).
struct Read {
    mark: Watermark,
    baseline: Baseline,
    comments: Vec<CommentNow>,
    ahead: Option<u64>,
    /// The files of the comments read (inline images included), by comment id: each
    /// mirror comment carries those of its source comments.
    files: BTreeMap<u64, Vec<Attachment>>,
}

impl Read {
    /// Holds back the comments from the first one `cut` holds on (ids grow with time in
    /// one account), and the watermark with them: `Some(sibling)` when any was held.
    fn hold(&mut self, cut: &super::fanin::Cut) -> Option<u64> {
        let read: Vec<_> = self.comments.iter().map(|c| (c.id, c.created_at)).collect();
        let first = cut.held(&read).into_iter().min()?;
        self.comments.retain(|c| c.id < first);
        self.ahead = self.ahead.filter(|a| *a < first);
        Some(cut.sibling())
    }

    /// The files of a write's source comments, in order (the union, for a mirror comment
    /// carrying several).
    fn files_of(&self, write: &Write) -> Vec<Attachment> {
        write
            .comment
            .iter()
            .flat_map(|b| &b.source_comment_ids)
            .filter_map(|id| self.files.get(id))
            .flatten()
            .cloned()
            .collect()
    }
}

impl SideNow {
    /// A ticket's status, tags and fields as just read.
    pub(crate) fn of(t: &Ticket) -> SideNow {
        SideNow {
            status: t.status,
            tags: t.tags.clone(),
            custom_fields: t.custom_fields.clone(),
            system: crate::system::SystemNow::of(t),
        }
    }

    /// "Now" taken to be the baseline itself (a step that sends comments only); `None`
    /// when the baseline cannot stand for the ticket (never read, or to be re-based).
    pub(crate) fn from_baseline(b: &Baseline) -> Option<SideNow> {
        let status = b.status.filter(|_| !b.rebase)?;
        Some(SideNow {
            status,
            tags: b.tags.iter().cloned().collect(),
            custom_fields: b
                .fields
                .iter()
                .map(|(id, value)| crate::zendesk::models::CustomField {
                    id: *id,
                    value: value.clone(),
                })
                .collect(),
            system: b.system.clone().unwrap_or_default(),
        })
    }
}

impl Engine {
    /// Who sends and who receives in `flow` of `link` (`None` while it has no mirror),
    /// taken now.
    pub(crate) fn ends(&self, link: &Link, flow: Flow) -> Option<Ends> {
        ends_of(link, flow, self.directions_changed())
    }

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

    /// Syncs one flow of a link from the sending ticket as just read (making the mirror
    /// first if the link has none yet).
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
        self.step(&link, flow, Some(SideNow::of(sender)), &[]).await
    }

    /// One step of `flow` on `link`: read → plan → write → commit. `now` is the sending
    /// ticket as just read; `None` takes the stored baseline for it (a step for comments
    /// only, such as a webhook's), and the ticket is read if the plan would change it.
    pub(crate) async fn step(
        &self,
        link: &Link,
        flow: Flow,
        now: Option<SideNow>,
        known: &[super::hints::CarriedComment],
    ) -> Result<(), EngineError> {
        let (Some(ends), Some(rules)) = (self.ends(link, flow), self.rules_for(link, flow)) else {
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
        let _turn = self.lock_link(link.id).await;
        // Replies from the mirror only on a link stored two-way now (the caller's copy
        // may be older than a downgrade), read after `ends` counted the changes: a change
        // from here on withholds the step's writes (`may_write`).
        if flow == Flow::TargetToSource && !self.stored_two_way(link.id)? {
            return Ok(());
        }
        self.recover_flow(link, flow, &ends).await?;
        let sender = self.account(&ends.sender_account)?;
        let mut read = self.read_step(link, flow, &ends, &sender, known).await?;
        // Replies into a ticket shared two-way into several accounts wait for older ones
        // on the other mirrors (`fanin.rs`).
        let newest = read.comments.iter().map(|c| c.created_at).max();
        let held = match newest {
            Some(newest) if flow == Flow::TargetToSource => {
                let cut = self.sibling_cut(link, newest).await?;
                read.hold(&cut)
            }
            _ => None,
        };
        // Judged when the update changes the ticket, and from a fresh read whenever a
        // field, group or form changed at the sender (an unmapped group plans nothing to
        // send, and is still reported) or mismatches stand (one may be gone).
        let fresh = now.is_some();
        let (mut plan, now) = self.plan_step(&rules, &ends, &sender, &read, now).await?;
        let mut new_baseline = now.to_baseline(read.baseline.not_before);
        let moved = new_baseline.fields != read.baseline.fields
            || new_baseline.system != read.baseline.system;
        let standing = link.mismatches.iter().any(|m| m.flow == flow);
        if plan.changes_ticket() || (fresh && (moved || standing)) {
            // What the receiver cannot take is taken out of the update and reported on
            // the link; the rest crosses (`engine::system`).
            let receiver = self.account(&ends.receiver_account)?;
            let first = plan.writes.first_mut().filter(|w| w.changes_ticket());
            let found = self.judge(&rules, flow, &receiver, &now, first).await?;
            super::system::hold_back(&mut new_baseline, &read.baseline, &found);
            // Also when nothing is found: earlier mismatches of this flow are cleared.
            self.record_mismatches(link, flow, &rules.name, &found)?;
            plan.writes.retain(|w| !w.is_empty());
        }
        tracing::debug!(
            link = link.id,
            flow = flow.as_str(),
            new_comments = read.comments.len(),
            writes = plan.writes.len(),
            held_back = plan.held_back.len(),
            skipped = plan.skipped.len(),
            "planned"
        );
        let labels = AgreementLabels {
            agreement: rules.name.clone(),
        };
        self.count_held_back(&labels, &plan);
        let Some(receiver_baseline) = self
            .write_step(link, flow, &ends, &plan, &read, &new_baseline, &labels)
            .await?
        else {
            return Ok(());
        };
        self.commit_step(link, flow, &plan, &read, &new_baseline, &receiver_baseline)?;
        if !plan.writes.is_empty() {
            tracing::info!(
                link = link.id,
                flow = flow.as_str(),
                writes = plan.writes.len(),
                "synced"
            );
        }
        match held {
            // The rest goes once the older replies on the sibling's mirror crossed.
            Some(sibling) => Err(EngineError::Behind {
                account: ends.receiver_account.clone(),
                ticket: ends.receiver_ticket,
                sibling,
            }),
            None => Ok(()),
        }
    }

    /// Before a step: a write left in doubt is settled (nothing new is sent on this flow
    /// while an earlier write may still land), and once per link and flow after each
    /// start the store is checked against the receiving ticket (an older backup
    /// restored?). Both live in `recovery.rs`.
    async fn recover_flow(&self, link: &Link, flow: Flow, ends: &Ends) -> Result<(), EngineError> {
        if let Some(pending) = self.store().pending_write(link.id, flow)?
            && let Settled::Undecided { until } = self.settle_pending(link, &pending).await?
        {
            return Err(EngineError::Undecided {
                account: ends.receiver_account.clone(),
                ticket: ends.receiver_ticket,
                until,
            });
        }
        // A ticket change the reverse flow left in doubt was written to this flow's
        // sending ticket: until it is settled (and, landed, taken into this flow's
        // baseline), the bridge's own change there would look like the partner's.
        if let Some(pending) = self.store().pending_write(link.id, reverse(flow))?
            && pending.changes.is_some()
            && let Settled::Undecided { until } = self.settle_pending(link, &pending).await?
        {
            return Err(EngineError::Undecided {
                account: ends.sender_account.clone(),
                ticket: ends.sender_ticket,
                until,
            });
        }
        let first_look = self
            .shared
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((link.id, flow));
        if first_look && let Err(e) = self.catch_up(link, flow, ends).await {
            self.shared
                .verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&(link.id, flow));
            return Err(e);
        }
        Ok(())
    }

    /// Read: every comment of the sending ticket after the watermark, with who wrote it
    /// (names the webhooks already gave, in `known`, are not looked up again).
    async fn read_step(
        &self,
        link: &Link,
        flow: Flow,
        ends: &Ends,
        sender: &Account,
        known: &[super::hints::CarriedComment],
    ) -> Result<Read, EngineError> {
        let mark = self.store().watermark(link.id, flow)?;
        let baseline = Self::baseline(&mark);
        let after = mark.last_source_comment.unwrap_or(0);
        let sender_bridge = sender.bridge_user().await?;
        let fresh = sender
            .client
            .comments_after(ends.sender_ticket, after)
            .await?;
        let mut comments = Vec::new();
        let mut files = BTreeMap::new();
        // Comments already mirrored ahead of the watermark are skipped here, and the
        // watermark moves past them with the rest.
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
            let name = known
                .iter()
                .find(|k| k.author_id == c.author_id)
                .map_or("", |k| k.author_name.as_str());
            let (author, author_is_bridge, written_by_bridge) = self
                .authorship(sender, sender_bridge, c.id, c.author_id, name)
                .await?;
            if !c.attachments.is_empty() {
                files.insert(c.id, c.attachments);
            }
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
        Ok(Read {
            mark,
            baseline,
            comments,
            ahead,
            files,
        })
    }

    /// Plan: what to write. A plan that would send a status/tag/field change is made
    /// again from the sending ticket read under the link's turn (see `step`).
    async fn plan_step(
        &self,
        rules: &AgreementConfig,
        ends: &Ends,
        sender: &Account,
        read: &Read,
        now: Option<SideNow>,
    ) -> Result<(Plan, SideNow), EngineError> {
        let now = match now.or_else(|| SideNow::from_baseline(&read.baseline)) {
            Some(now) => now,
            None => SideNow::of(&sender.client.show_ticket(ends.sender_ticket).await?),
        };
        let plan = plan::plan(
            rules,
            &sender.subdomain,
            &read.baseline,
            &now,
            &read.comments,
        );
        if !plan.changes_ticket() {
            return Ok((plan, now));
        }
        let fresh = SideNow::of(&sender.client.show_ticket(ends.sender_ticket).await?);
        let plan = plan::plan(
            rules,
            &sender.subdomain,
            &read.baseline,
            &fresh,
            &read.comments,
        );
        Ok((plan, fresh))
    }

    /// Write: each planned update, recorded before the next. `None` when the step stops
    /// early (the link ended, broke, or lost consent): nothing more is recorded for it.
    #[allow(clippy::too_many_arguments)]
    async fn write_step(
        &self,
        link: &Link,
        flow: Flow,
        ends: &Ends,
        plan: &Plan,
        read: &Read,
        new_baseline: &Baseline,
        labels: &AgreementLabels,
    ) -> Result<Option<Baseline>, EngineError> {
        let receiver = self.account(&ends.receiver_account)?;
        let mut receiver_baseline =
            Self::baseline(&self.store().watermark(link.id, reverse(flow))?);
        for (i, write) in plan.writes.iter().enumerate() {
            let after = plan::receiver_after(receiver_baseline.clone(), write);
            // The status/tag/field changes ride in the first write: the moment it lands,
            // both baselines take it in (`commit_landed`, with its comments), so neither a
            // later write failing nor a crash or lost answer before the commit lets the
            // reverse flow echo those changes back, or loses a sender change reverted
            // before the next step (found by tests/plan_props.rs and tests/chaos.rs).
            let changes = (i == 0 && write.changes_ticket())
                .then(|| snapshots(new_baseline, &after))
                .flatten();
            let result = self
                .write_one(
                    link,
                    flow,
                    ends,
                    &receiver,
                    write,
                    &read.files_of(write),
                    false,
                    changes,
                )
                .await;
            if !self.after_write(link, flow, result).await? {
                return Ok(None);
            }
            self.count_mirrored(labels, write, &read.comments);
            receiver_baseline = after;
        }
        Ok(Some(receiver_baseline))
    }

    /// Commit: everything decided is done, so the watermark moves past held-back and
    /// skipped comments too, and both baselines are kept (one transaction, only while
    /// the link is active: a link that ended meanwhile keeps its watermark where its last
    /// write left it).
    fn commit_step(
        &self,
        link: &Link,
        flow: Flow,
        plan: &Plan,
        read: &Read,
        new_baseline: &Baseline,
        receiver_baseline: &Baseline,
    ) -> Result<(), EngineError> {
        let last = [read.mark.last_source_comment, plan.last_comment, read.ahead]
            .into_iter()
            .flatten()
            .max();
        let changed = !plan.writes.is_empty()
            || last != read.mark.last_source_comment
            || *new_baseline != read.baseline;
        if !changed {
            return Ok(());
        }
        let at = crate::clock::now();
        self.store().transaction(|tx| {
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
            m.snapshot = serde_json::to_value(new_baseline).ok();
            m.updated_at = Some(at);
            tx.set_watermark(link.id, flow, &m)?;
            if !plan.writes.is_empty() {
                let mut r: Watermark = tx.view().watermark(link.id, reverse(flow))?;
                r.snapshot = serde_json::to_value(keep_upgrade(&r, receiver_baseline)).ok();
                tx.set_watermark(link.id, reverse(flow), &r)?;
                tx.mark_link_synced(link.id, at)?;
            }
            Ok(())
        })?;
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
