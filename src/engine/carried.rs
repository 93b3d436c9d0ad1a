//! Comments an event webhook carried (`ticket.comment_added`): handled without reading
//! the whole sending ticket.
//!
//! Only a plain new comment takes this path: the ticket must already be a live sender with
//! its mirror, and the step must send no status, tag or field change (the planner runs
//! against the stored baseline as "now"). Anything else returns `false` and the caller
//! reads the ticket as usual.
//!
//! Two modes (`daemon.ordering`):
//! - `per-ticket` (the default): the webhook says *that* comments came, not that nothing
//!   before them is missing (Zendesk loses webhooks and does not order them). So the step
//!   reads the comments after the watermark first (one call) and writes them in order:
//!   two calls per steady comment, fewer when several come together, and on each mirror
//!   comments appear in the order they were written, without exception.
//! - `arrival` (opt-in): the carried comment is written at once, without reading the
//!   sender (one call per steady comment). It is recorded as mirrored *ahead* of the
//!   watermark (`PendingWrite::ahead`), which it must not move: the next complete read
//!   skips it and moves the watermark past it. A comment whose webhook was lost or late
//!   then lands after later ones.

use crate::agreement::State;
use crate::config::Ordering;
use crate::link::{Direction, Flow};
use crate::metrics::AgreementLabels;
use crate::plan::{self, CommentNow, SideNow};
use crate::rules;
use crate::store::{Link, LinkState};
use crate::zendesk::models::{CustomField, Status};

use super::hints::{Carried, CarriedComment};
use super::{Engine, EngineError};

impl Engine {
    /// Mirrors the comments `carried` brought for ticket `id` of `account`; `false` when
    /// this path does not apply and the ticket must be read.
    pub(crate) async fn process_carried(
        &self,
        account: &str,
        id: u64,
        carried: &Carried,
    ) -> Result<bool, EngineError> {
        if carried.full || carried.comments.is_empty() {
            return Ok(false);
        }
        let detail = carried.ticket.clone().unwrap_or_default();
        if matches!(detail.status, None | Some(Status::Closed | Status::Deleted)) {
            return Ok(false);
        }
        let store = self.store().clone();
        let as_source = store.links_by_source_ticket(account, id)?;
        let as_mirror = store.link_by_target(account, id)?;
        // Sharing decisions need the whole ticket: a ticket that could be auto-shared or
        // unshared, or whose mirror does not exist yet, takes the full path.
        let config = self.config();
        for agreement in config.agreements.iter().filter(|a| a.from == account) {
            let live = as_source
                .iter()
                .find(|l| l.agreement == agreement.name && l.state != LinkState::Orphaned);
            let needs_read = match live {
                None => {
                    self.state_of(&agreement.name) == Some(State::Accepted)
                        && rules::auto_share(agreement, &detail.tags, detail.brand_id)
                }
                Some(l) => {
                    l.state == LinkState::Active
                        && (l.target_ticket.is_none()
                            || rules::unshare_on_tag_loss(
                                agreement,
                                l.untagged_share,
                                &detail.tags,
                            )
                            || (l.untagged_share && rules::carries_tag(agreement, &detail.tags)))
                }
            };
            if needs_read {
                return Ok(false);
            }
        }
        let mut flows: Vec<(Link, Flow)> = as_source
            .into_iter()
            .filter(|l| l.state == LinkState::Active)
            .map(|l| (l, Flow::SourceToTarget))
            .collect();
        if let Some(l) = as_mirror
            && l.state == LinkState::Active
            && l.direction == Direction::TwoWay
        {
            flows.push((l, Flow::TargetToSource));
        }
        for (link, flow) in flows {
            // A flow that cannot take the carried path sends the whole ticket through the
            // full one; what this path already sent is recorded and not sent again.
            if !self.sync_carried(&link, flow, &carried.comments).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One flow of one link from carried comments; `false` when it needs a full read.
    async fn sync_carried(
        &self,
        link: &Link,
        flow: Flow,
        carried: &[CarriedComment],
    ) -> Result<bool, EngineError> {
        if self.config().daemon.ordering == Ordering::PerTicket {
            // The comments after the watermark are read, then written in order.
            self.step(link, flow, None, carried).await?;
            return Ok(true);
        }
        let (Some(ends), Some(rules)) = (self.ends(link, flow), self.rules_for(link, flow)) else {
            return Ok(false);
        };
        // A webhook does not say whether a comment has files: where they are copied, the
        // comments are read first (`attachments.sync = false` keeps the read saved).
        if rules.attachments.sync {
            self.step(link, flow, None, carried).await?;
            return Ok(true);
        }
        let _turn = self.lock_link(link.id).await;
        if flow == Flow::TargetToSource && !self.stored_two_way(link.id)? {
            return Ok(true);
        }
        let verified = self
            .shared
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(link.id, flow));
        if !verified || self.store().pending_write(link.id, flow)?.is_some() {
            return Ok(false);
        }
        let mark = self.store().watermark(link.id, flow)?;
        let baseline = Self::baseline(&mark);
        let Some(status) = baseline.status.filter(|_| !baseline.rebase) else {
            return Ok(false);
        };
        let after = mark.last_source_comment.unwrap_or(0);
        let sender = self.account(&ends.sender_account)?;
        let sender_bridge = sender.bridge_user().await?;
        let mut ordered: Vec<&CarriedComment> = carried.iter().collect();
        ordered.sort_by_key(|c| c.id);
        let mut comments = Vec::new();
        for c in ordered {
            if c.id <= after
                || self
                    .store()
                    .mirrored_comment(link.id, flow, c.id)?
                    .is_some()
            {
                continue;
            }
            let (author, author_is_bridge, written_by_bridge) = self
                .authorship(&sender, sender_bridge, c.id, c.author_id, &c.author_name)
                .await?;
            comments.push(CommentNow {
                id: c.id,
                public: c.public,
                author,
                author_is_bridge,
                written_by_bridge,
                created_at: c.created_at,
                body: c.body.clone(),
            });
        }
        if comments.is_empty() {
            return Ok(true);
        }
        // "Now" is the baseline itself: this path sends comments and nothing else.
        let now = SideNow {
            status,
            tags: baseline.tags.iter().cloned().collect(),
            custom_fields: baseline
                .fields
                .iter()
                .map(|(id, value)| CustomField {
                    id: *id,
                    value: value.clone(),
                })
                .collect(),
            system: baseline.system.clone().unwrap_or_default(),
        };
        let plan = plan::plan(&rules, &sender.subdomain, &baseline, &now, &comments);
        if plan.changes_ticket() {
            return Ok(false);
        }
        let labels = AgreementLabels {
            agreement: rules.name.clone(),
        };
        self.count_held_back(&labels, &plan);
        let receiver = self.account(&ends.receiver_account)?;
        for write in &plan.writes {
            let result = self
                .write_one(link, flow, &ends, &receiver, write, &[], true, None)
                .await;
            if !self.after_write(link, flow, result).await? {
                return Ok(true);
            }
            self.count_mirrored(&labels, write, &comments);
        }
        if !plan.writes.is_empty() {
            self.store()
                .mark_link_synced(link.id, crate::clock::now())?;
            tracing::info!(
                link = link.id,
                flow = flow.as_str(),
                writes = plan.writes.len(),
                "synced from the webhook"
            );
        }
        Ok(true)
    }
}
