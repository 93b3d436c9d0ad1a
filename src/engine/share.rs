//! Sharing: whether a ticket may be shared (consent, closed, a mirror of the receiver, an
//! earlier create still landing), the link allocated once in the store, then its mirror
//! made by `mirror`; unshare, resync and relink.

use crate::agreement::State;
use crate::config::AgreementConfig;
use crate::link::Flow;
use crate::plan::{Baseline, SideNow};
use crate::rules;
use crate::store::{AuditKind, Link, LinkState, NewAudit, NewLink, Watermark};
use crate::zendesk::models::{Status, Ticket};

use super::{Engine, EngineError};

/// `sharebridge:{from_subdomain}:{ticket}`: how a mirror names its source.
pub fn external_id(from_subdomain: &str, ticket: u64) -> String {
    format!("sharebridge:{from_subdomain}:{ticket}")
}

impl Engine {
    /// `share ACCOUNT TICKET --to ACCOUNT`: shares now, under the accepted agreement.
    pub async fn share(
        &self,
        account: &str,
        ticket: u64,
        to: &str,
        actor: &str,
    ) -> Result<Link, EngineError> {
        let agreement =
            self.agreement_between(account, to)
                .ok_or_else(|| EngineError::NoAgreement {
                    from: account.to_owned(),
                    to: to.to_owned(),
                })?;
        let acct = self.account(account)?;
        let source = match acct.client.show_ticket(ticket).await {
            Ok(t) if t.status != Status::Deleted => t,
            Ok(_) | Err(crate::zendesk::client::ZendeskError::NotFound { .. }) => {
                return Err(EngineError::TicketNotFound {
                    account: account.to_owned(),
                    ticket,
                });
            }
            Err(e) => return Err(e.into()),
        };
        let link = self
            .share_ticket(&agreement, &source, &format!("shared by {actor}"), true)
            .await?;
        self.sync(&link, Flow::SourceToTarget, &source).await?;
        Ok(self.store().link(link.id)?.unwrap_or(link))
    }

    /// Allocates the link (once) and makes sure its mirror exists.
    pub(crate) async fn share_ticket(
        &self,
        agreement: &AgreementConfig,
        source: &Ticket,
        cause: &str,
        explicit: bool,
    ) -> Result<Link, EngineError> {
        let state = self.state_of(&agreement.name).unwrap_or(State::Pending);
        if state != State::Accepted {
            return Err(EngineError::NotAccepted {
                name: agreement.name.clone(),
                state,
            });
        }
        if source.status == Status::Closed {
            return Err(EngineError::Closed {
                account: agreement.from.clone(),
                ticket: source.id,
            });
        }
        // A mirror is never shared back into the account it mirrors, whatever tags it
        // gets there: known by its link (orphaned ones too) or by its external id.
        let to = self.account(&agreement.to)?;
        let mirror_of_receiver = self
            .store()
            .link_by_target(&agreement.from, source.id)?
            .is_some_and(|l| l.source_account == agreement.to)
            || rules::mirrors_account(source.external_id.as_deref(), &to.subdomain);
        if mirror_of_receiver {
            return Err(EngineError::MirrorOfReceiver {
                account: agreement.from.clone(),
                ticket: source.id,
                to: agreement.to.clone(),
            });
        }
        // An ended link's create that may still land is waited for, not copied.
        let mirrored = self
            .store()
            .link_by_source(&agreement.from, source.id, &agreement.name)?
            .is_some_and(|l| l.target_account == agreement.to && l.target_ticket.is_some());
        if !mirrored {
            self.earlier_create_settled(agreement, source.id)?;
        }
        // A mirror left by an earlier link of this ticket is re-attached, not copied: by
        // an explicit share, or when the ticket gains the tag whose removal ended it.
        let existing = self.existing_mirror(agreement, source.id).await?;
        // The late mirror of an ended link (unshared while its create was in doubt) is
        // that link's orphan, recorded as such before anything else looks at it: a new
        // link adopting it would undo the unshare (found by the deterministic simulation,
        // seed 13930: the tag still on the ticket shared it again into the mirror the
        // operator had unshared).
        if let Some(mirror) = &existing
            && self
                .store()
                .link_by_target(&agreement.to, mirror.id)?
                .is_none()
            && self
                .store()
                .link_by_source(&agreement.from, source.id, &agreement.name)?
                .is_none()
        {
            self.claim_unknown_mirror(agreement, source.id, mirror.id)
                .await?;
        }
        if let Some(mirror) = &existing
            && self
                .store()
                .link_by_target(&agreement.to, mirror.id)?
                .is_none()
            && self.has_history(&agreement.to, mirror.id).await?
        {
            // A mirror with a past that no link knows (an older store was restored):
            // reported as an orphan rather than adopted, so nothing is sent twice.
            self.record_unknown_mirror(agreement, source.id, mirror.id)
                .await?;
        }
        if let Some(mirror) = &existing
            && let Some(other) = self.store().link_by_target(&agreement.to, mirror.id)?
            && !(other.source_account == agreement.from
                && other.source_ticket == source.id
                && other.state != LinkState::Orphaned)
        {
            let same_source = other.source_account == agreement.from
                && other.source_ticket == source.id
                && other.agreement == agreement.name;
            let reason = self.store().orphan(other.id)?.map(|o| o.reason);
            let tag_came_back =
                reason.as_deref() == Some(crate::orphan::Reason::TagRemoved.as_str());
            if same_source && (explicit || tag_came_back) {
                let untagged = explicit && !rules::carries_tag(agreement, &source.tags);
                return self.relink(other.id, cause, untagged).await;
            }
            return Err(EngineError::MirrorOfOrphan {
                account: agreement.to.clone(),
                ticket: mirror.id,
                link: other.id,
            });
        }
        let now = crate::clock::now();
        let new = NewLink {
            agreement: agreement.name.clone(),
            source_account: agreement.from.clone(),
            source_ticket: source.id,
            target_account: agreement.to.clone(),
            direction: self.direction_for(agreement),
            created_at: now,
            untagged_share: explicit && !rules::carries_tag(agreement, &source.tags),
        };
        let detail = format!(
            "{}#{} shared to {} under {}: {cause}",
            agreement.from, source.id, agreement.to, agreement.name
        );
        // An auto-share decided from a read the ticket has moved on from: a webhook since
        // shows it without the tag (found by the deterministic simulation, seed 9286: a
        // look-up held 36 s, and the share went on half a minute after the tag was
        // removed). Its next run reads it and decides again.
        if !explicit
            && !agreement.auto_share_tags.is_empty()
            && self.shared.hints.untagged_news(
                &agreement.from,
                source.id,
                &agreement.auto_share_tags,
            )
        {
            return Err(EngineError::Replan {
                account: agreement.from.clone(),
                ticket: source.id,
                reason: super::write::UNTAGGED,
            });
        }
        // Consent again, in one breath with storing the link: the reads above take time.
        let alloc = self.with_consent(&agreement.name, || {
            Ok(self.store().transaction(|tx| {
                let alloc = tx.create_link(new)?;
                if alloc.created {
                    tx.append_audit(NewAudit {
                        at: now,
                        kind: AuditKind::Share,
                        subject: format!("link {}", alloc.link.id),
                        detail: detail.clone(),
                    })?;
                }
                Ok(alloc)
            })?)
        })?;
        if alloc.created {
            tracing::info!(link = alloc.link.id, account = %agreement.from, ticket = source.id, agreement = %agreement.name, "shared");
            self.metrics()
                .shares
                .get_or_create(&crate::metrics::AgreementLabels {
                    agreement: agreement.name.clone(),
                })
                .inc();
        }
        let link = match self
            .ensure_mirror_with(&alloc.link, agreement, source, existing)
            .await
        {
            Ok(link) => link,
            Err(e) => {
                // A mirror that cannot be made (refused, unreadable) leaves the link in
                // `error`, not active without a mirror; `resync` tries again.
                if e.breaks_link() {
                    self.break_link(alloc.link.id, &format!("creating the mirror: {e}"))?;
                }
                return Err(e);
            }
        };
        self.refresh_gauges();
        Ok(link)
    }

    /// Whether a mirror holds more than the first comment the bridge writes when it
    /// creates one: then it is not a creation of ours whose answer was lost, but an older
    /// mirror.
    async fn has_history(&self, account: &str, mirror: u64) -> Result<bool, EngineError> {
        let to = self.account(account)?;
        let bridge = to.bridge_user().await?;
        let comments = to.client.list_comments(mirror).await?;
        Ok(comments.iter().filter(|c| c.author_id == bridge).count() > 1)
    }

    /// `unshare ACCOUNT TICKET --to ACCOUNT`: ends the link; the mirror becomes an orphan.
    pub async fn unshare(
        &self,
        account: &str,
        ticket: u64,
        to: &str,
        actor: &str,
    ) -> Result<crate::store::Orphan, EngineError> {
        let link = self
            .store()
            .links_by_source_ticket(account, ticket)?
            .into_iter()
            .find(|l| l.target_account == to && l.state != LinkState::Orphaned)
            .ok_or_else(|| EngineError::NotShared {
                account: account.to_owned(),
                ticket,
                to: to.to_owned(),
            })?;
        self.orphan(
            &link,
            crate::orphan::Reason::Unshared,
            &format!("unshared by {actor}"),
        )
        .await
    }

    /// A baseline read back from a stored watermark (empty when none).
    pub(crate) fn baseline(mark: &Watermark) -> Baseline {
        mark.snapshot
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    }
}

impl Engine {
    /// `resync LINK`: a link in `error` goes back to `active` and both sides are read and
    /// repaired (idempotent: what was mirrored is recorded and not sent again).
    pub async fn resync(&self, id: u64, relink: bool) -> Result<Link, EngineError> {
        let link = self.store().link(id)?.ok_or(EngineError::UnknownLink(id))?;
        if link.state == LinkState::Orphaned {
            if relink {
                // The operator re-attaches it as it is: a link its tag's removal ended
                // is not ended again by that same removal.
                let untagged = link.untagged_share
                    || self
                        .store()
                        .orphan(id)?
                        .is_some_and(|o| o.reason == crate::orphan::Reason::TagRemoved.as_str());
                return self.relink(id, "resync --relink", untagged).await;
            }
            return Err(EngineError::Orphaned { id });
        }
        if link.state == LinkState::Error {
            self.store().set_link_state(id, LinkState::Active, None)?;
            self.store().append_audit(NewAudit {
                at: crate::clock::now(),
                kind: AuditKind::Resync,
                subject: format!("link {id}"),
                detail: format!(
                    "resync requested; previous error: {}",
                    link.error.clone().unwrap_or_default()
                ),
            })?;
        }
        self.process(&link.source_account, link.source_ticket)
            .await?;
        if let Some(t) = link.target_ticket {
            self.process(&link.target_account, t).await?;
        }
        self.refresh_gauges();
        self.store().link(id)?.ok_or(EngineError::UnknownLink(id))
    }
}

impl Engine {
    /// Re-attaches an orphan to its existing mirror under a new live link (never a second
    /// copy): the agreement must be accepted again; the orphan tag is taken off the
    /// mirror; what was mirrored before is not sent again.
    /// `untagged_share`: the new link's [`Link::untagged_share`].
    pub(crate) async fn relink(
        &self,
        orphaned: u64,
        cause: &str,
        untagged_share: bool,
    ) -> Result<Link, EngineError> {
        let old = self
            .store()
            .link(orphaned)?
            .ok_or(EngineError::UnknownLink(orphaned))?;
        let agreement = self
            .config()
            .agreement(&old.agreement)
            .cloned()
            .ok_or_else(|| EngineError::NoAgreement {
                from: old.source_account.clone(),
                to: old.target_account.clone(),
            })?;
        let state = self.state_of(&agreement.name).unwrap_or(State::Pending);
        if state != State::Accepted {
            return Err(EngineError::NotAccepted {
                name: agreement.name.clone(),
                state,
            });
        }
        let now = crate::clock::now();
        let direction = self.direction_for(&agreement);
        let link = self.with_consent(&agreement.name, || {
            Ok(self.store().transaction(|tx| {
                let link = tx.relink(orphaned, direction, now, untagged_share)?;
                tx.append_audit(NewAudit {
                    at: now,
                    kind: AuditKind::Share,
                    subject: format!("link {}", link.id),
                    detail: format!(
                        "{}#{} re-attached to its mirror {}#{} (was link {orphaned}): {cause}",
                        link.source_account,
                        link.source_ticket,
                        link.target_account,
                        link.target_ticket.unwrap_or_default()
                    ),
                })?;
                Ok(link)
            })?)
        })?;
        tracing::info!(link = link.id, previous = orphaned, "orphan re-attached");
        self.watermark_from_mirror(&link).await?;
        if let Some(mirror) = link.target_ticket {
            let to = self.account(&link.target_account)?;
            let _guard = self.lock_ticket(&link.target_account, mirror).await;
            to.client
                .remove_tags(mirror, &[crate::rules::ORPHANED_TAG.to_owned()])
                .await?;
        }
        self.refresh_gauges();
        Ok(link)
    }
}

impl Engine {
    /// Records a mirror no live link knows as an orphan (`no_live_link`), marked with the
    /// tag and one note, like the reconcile sweep does.
    pub(crate) async fn record_unknown_mirror(
        &self,
        agreement: &AgreementConfig,
        source_ticket: u64,
        mirror: u64,
    ) -> Result<(), EngineError> {
        // Ours after all: the mirror of a link whose create was never recorded.
        if self
            .claim_unknown_mirror(agreement, source_ticket, mirror)
            .await?
        {
            return Ok(());
        }
        let now = crate::clock::now();
        let detail = "a mirror no live link knows (an older store was restored?)";
        let new = NewLink {
            agreement: agreement.name.clone(),
            source_account: agreement.from.clone(),
            source_ticket,
            target_account: agreement.to.clone(),
            direction: crate::link::Direction::OneWay,
            created_at: now,
            untagged_share: false,
        };
        let orphan = self.store().transaction(|tx| {
            let was_orphan = match tx.view().link_by_target(&agreement.to, mirror)? {
                Some(l) => tx.view().orphan(l.id)?.is_some(),
                None => false,
            };
            let o = tx.adopt_orphan(
                new,
                mirror,
                crate::orphan::Reason::NoLiveLink.as_str(),
                detail,
                now,
            )?;
            tx.append_audit(NewAudit {
                at: now,
                kind: AuditKind::Orphan,
                subject: format!("link {}", o.link),
                detail: format!(
                    "{}#{} -> {}#{}: {detail}",
                    o.source_account, o.source_ticket, o.target_account, mirror
                ),
            })?;
            // An orphan recorded before has had (or still owes) its note.
            if !was_orphan {
                tx.set_orphan_note_owed(o.link, true)?;
            }
            Ok(o)
        })?;
        tracing::warn!(link = orphan.link, account = %agreement.to, ticket = mirror, "unknown mirror recorded as an orphan");
        if let Some(link) = self.store().link(orphan.link)? {
            self.write_orphan_note(&link).await?;
        }
        self.refresh_gauges();
        Ok(())
    }

    /// After a relink whose orphan carried no watermark (a mirror found, not made, by this
    /// store): the source comments created before the mirror's newest bridge comment
    /// count as mirrored. Errs towards sending nothing twice.
    pub(crate) async fn watermark_from_mirror(&self, link: &Link) -> Result<(), EngineError> {
        if self
            .store()
            .watermark(link.id, Flow::SourceToTarget)?
            .last_source_comment
            .is_some()
        {
            return Ok(());
        }
        let Some(mirror) = link.target_ticket else {
            return Ok(());
        };
        let from = self.account(&link.source_account)?;
        let to = self.account(&link.target_account)?;
        let bridge = to.bridge_user().await?;
        let mirror_comments = to.client.list_comments(mirror).await?;
        let Some(last_bridge) = mirror_comments
            .iter()
            .filter(|c| c.author_id == bridge)
            .map(|c| c.created_at)
            .max()
        else {
            return Ok(());
        };
        let source_comments = from.client.list_comments(link.source_ticket).await?;
        let last = source_comments
            .iter()
            .filter(|c| c.created_at <= last_bridge)
            .map(|c| c.id)
            .max();
        let source = from.client.show_ticket(link.source_ticket).await?;
        let mirror_ticket = to.client.show_ticket(mirror).await?;
        let now = crate::clock::now();
        let forward = Watermark {
            last_source_comment: last,
            snapshot: serde_json::to_value(SideNow::of(&source).to_baseline(None)).ok(),
            updated_at: Some(now),
        };
        let backward = Watermark {
            last_source_comment: mirror_comments.iter().map(|c| c.id).max(),
            snapshot: serde_json::to_value(SideNow::of(&mirror_ticket).to_baseline(Some(now))).ok(),
            updated_at: Some(now),
        };
        self.store().transaction(|tx| {
            tx.set_watermark(link.id, Flow::SourceToTarget, &forward)?;
            tx.set_watermark(link.id, Flow::TargetToSource, &backward)?;
            for c in mirror_comments.iter().filter(|c| c.author_id == bridge) {
                tx.record_bridge_comment(
                    &link.target_account,
                    c.id,
                    link.id,
                    Flow::SourceToTarget,
                )?;
            }
            Ok(())
        })?;
        Ok(())
    }
}
