//! Sharing: a link allocated once in the store, then its mirror created exactly once
//! (Idempotency-Key, and a look-up by `external_id` first, so a crash between Zendesk's
//! answer and the store commit adopts the mirror instead of creating a second one).

use crate::agreement::State;
use crate::coalesce::{self, Part};
use crate::config::AgreementConfig;
use crate::link::Flow;
use crate::plan::{Baseline, SideNow};
use crate::rules::{self, CommentVerdict, SHARED_TAG, TagFilter};
use crate::store::{AuditKind, Link, LinkState, NewAudit, NewLink, Watermark};
use crate::zendesk::models::{Comment, NewComment, Status, Ticket, TicketWrite};

use super::{Engine, EngineError};

/// Whether the source's first comment goes into the mirror, under the same rules as every
/// later comment (`comments.public`, `comments.private`).
fn first_verdict(agreement: &AgreementConfig, first: &Comment) -> CommentVerdict {
    rules::comment_verdict(
        &agreement.comments,
        rules::CommentFacts {
            public: first.public,
            written_by_bridge: false,
            author_is_bridge: false,
        },
    )
}

/// What a mirror's first comment says in place of a source's first comment held back as
/// private, and held back because the agreement mirrors no public comments.
const HELD_PRIVATE: &str = "\n\n(The first comment is private and was held back.)";
const HELD_PUBLIC: &str =
    "\n\n(The first comment was held back: this agreement mirrors no public comments.)";

/// Whether a mirror's first comment (as the bridge wrote it at the mirror's creation)
/// carries the source's first comment, not a note that it was held back. Pure.
pub(crate) fn intro_carries_first(body: &str) -> bool {
    body.contains("\n\n") && !body.ends_with(HELD_PRIVATE) && !body.ends_with(HELD_PUBLIC)
}

/// What [`Engine::names_before_read`] looked up.
struct Names {
    requester: String,
}

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
                return self.relink(other.id, cause).await;
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
        };
        let detail = format!(
            "{}#{} shared to {} under {}: {cause}",
            agreement.from, source.id, agreement.to, agreement.name
        );
        let alloc = self.store().transaction(|tx| {
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

    /// The live (not deleted) mirror of `source` in the agreement's receiver, found by
    /// external id.
    async fn existing_mirror(
        &self,
        agreement: &AgreementConfig,
        source: u64,
    ) -> Result<Option<Ticket>, EngineError> {
        let from = self.account(&agreement.from)?;
        let to = self.account(&agreement.to)?;
        Ok(to
            .client
            .tickets_by_external_id(&external_id(&from.subdomain, source))
            .await?
            .into_iter()
            .filter(|t| t.status != Status::Deleted)
            .min_by_key(|t| t.id))
    }

    /// Creates (or adopts) the mirror of a link that has none recorded yet.
    pub(crate) async fn ensure_mirror(
        &self,
        link: &Link,
        agreement: &AgreementConfig,
        source: &Ticket,
    ) -> Result<Link, EngineError> {
        if link.target_ticket.is_some() {
            return Ok(link.clone());
        }
        self.earlier_create_settled(agreement, source.id)?;
        let existing = self.existing_mirror(agreement, source.id).await?;
        self.ensure_mirror_with(link, agreement, source, existing)
            .await
    }

    async fn ensure_mirror_with(
        &self,
        link: &Link,
        agreement: &AgreementConfig,
        source: &Ticket,
        existing: Option<Ticket>,
    ) -> Result<Link, EngineError> {
        if link.target_ticket.is_some() {
            return Ok(link.clone());
        }
        // Consent at the moment of the write (the mirror's creation is the first one).
        let state = self.state_of(&agreement.name).unwrap_or(State::Pending);
        if state != State::Accepted {
            return Err(EngineError::NotAccepted {
                name: agreement.name.clone(),
                state,
            });
        }
        let from = self.account(&link.source_account)?;
        let to = self.account(&link.target_account)?;
        let bridge_to = to.bridge_user().await?;
        // Everything else the mirror needs is looked up before the source's comments are
        // read, so the window between that read and the mirror's creation is as short as
        // it can be: a comment made private at the source in that window still crosses
        // public (Zendesk has no conditional write), and privacy then follows it.
        let names = self.names_before_read(&from, source).await;
        let found = match existing {
            Some(_) => Vec::new(),
            None => {
                self.judge(
                    agreement,
                    Flow::SourceToTarget,
                    &to,
                    &SideNow::of(source),
                    None,
                )
                .await?
            }
        };
        let source_comments = from.client.list_comments(source.id).await?;
        let first = source_comments.first();
        let adopted = existing.is_some();

        let (mirror, intro) = match existing {
            Some(t) => {
                if let Some(other) = self.store().link_by_target(&link.target_account, t.id)?
                    && other.id != link.id
                {
                    return Err(EngineError::MirrorOfOrphan {
                        account: link.target_account.clone(),
                        ticket: t.id,
                        link: other.id,
                    });
                }
                tracing::info!(link = link.id, account = %link.target_account, ticket = t.id, "adopting an existing mirror");
                // Created by an earlier attempt whose answer was lost: its first comment
                // is the bridge's.
                let comments = to.client.list_comments(t.id).await?;
                let intro = comments
                    .iter()
                    .find(|c| c.author_id == bridge_to)
                    .map(|c| c.id);
                (t, intro)
            }
            None => {
                let mut write = self
                    .mirror_create(agreement, &from, source, first, bridge_to, &found, &names)
                    .await;
                let prepared = self
                    .attach_first(agreement, &from, &to, link.id, first, &mut write)
                    .await?;
                // Consent at the moment of each attempt of the create (a retry after a
                // 5xx or a 429 can come after the agreement was withdrawn). An unshare
                // meanwhile does not stop it: the mirror it makes is the orphan's.
                let created = match to
                    .client
                    .guarded(self.consent_guard(link, Flow::SourceToTarget, None))
                    .create_ticket(&write, Some(&link.idempotency_key))
                    .await
                {
                    Ok(c) => c,
                    Err(crate::zendesk::client::ZendeskError::Withheld { reason, .. }) => {
                        tracing::info!(link = link.id, account = %link.target_account, %reason, "mirror not created");
                        return Err(EngineError::NotAccepted {
                            name: agreement.name.clone(),
                            state: self.state_of(&agreement.name).unwrap_or(State::Pending),
                        });
                    }
                    Err(e) => return Err(e.into()),
                };
                self.count_files(&agreement.name, &prepared);
                let mut intro = created.audit.as_ref().and_then(|a| a.comment_id());
                if intro.is_none() {
                    let comments = to.client.list_comments(created.ticket.id).await?;
                    intro = comments
                        .iter()
                        .find(|c| c.author_id == bridge_to)
                        .map(|c| c.id);
                }
                (created.ticket, intro)
            }
        };

        let first_crossed = first
            .filter(|c| first_verdict(agreement, c).crosses())
            .map(|c| c.id);
        let source_now = SideNow::of(source);
        let mirror_now = SideNow::of(&mirror);
        // Replies on the mirror cross from the moment this link could carry them, never
        // before (DESIGN §5, not retroactively): not before the mirror existed, nor before
        // an upgrade to two-way that found no mirror yet (its `not_before`), nor, for a
        // mirror adopted, before this link was made (it may be the late mirror of a link
        // that ended, one-way then or no link at all).
        let upgraded =
            Self::baseline(&self.store().watermark(link.id, Flow::TargetToSource)?).not_before;
        let replies_from = [
            Some(mirror.created_at),
            upgraded,
            adopted.then_some(link.created_at),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(mirror.created_at);
        // Baselines: what each side looked like when the bridge last aligned them.
        let (source_base, mirror_base) = if adopted {
            // Race (found by tests/chaos.rs): the mirror was created by an earlier attempt
            // (a crash or a lost answer before `set_mirror_ticket`), and both sides may
            // have changed since — a partner tagging the new mirror, an agent changing
            // the source's status or tags. Taking either side *as it is now* as the
            // baseline would treat those changes as already synced, and they would never
            // cross. So the source's state is sent again once (idempotent: status, tags
            // added, fields), and the mirror's baseline leaves out the tags the source
            // does not explain, so the partner's tags cross back. (The mirror's status
            // and fields stay as they are: the source's win, as the agreement says.)
            let from_source: std::collections::BTreeSet<String> = TagFilter::new(agreement)
                .filter(source.tags.iter())
                .into_iter()
                .chain([SHARED_TAG.to_owned()])
                .collect();
            let known = SideNow {
                tags: mirror_now
                    .tags
                    .iter()
                    .filter(|t| from_source.contains(*t))
                    .cloned()
                    .collect(),
                ..mirror_now.clone()
            };
            (Baseline::default(), known.to_baseline(Some(replies_from)))
        } else {
            let mut source_base = source_now.to_baseline(None);
            super::system::hold_back(&mut source_base, &Baseline::default(), &found);
            (source_base, mirror_now.to_baseline(Some(replies_from)))
        };
        if adopted {
            // Created long ago maybe: privacy changes since then follow before the mirror
            // is recorded (a failure leaves it unrecorded, and the retry adopts it again).
            let mut with_mirror = link.clone();
            with_mirror.target_ticket = Some(mirror.id);
            self.follow_intro(&with_mirror).await?;
        }
        let last_mirror_comment = intro;
        let updated = self.store().transaction(|tx| {
            let l = tx.set_mirror_ticket(link.id, mirror.id)?;
            // Ended while the create was on its way: the new mirror is an orphan.
            super::orphaning::name_orphan_mirror_in(tx, link.id, mirror.id)?;
            if let Some(intro) = intro {
                match first_crossed {
                    Some(src) => {
                        tx.commit_mirrored(link.id, Flow::SourceToTarget, &[src], intro)?
                    }
                    None => tx.record_bridge_comment(
                        &link.target_account,
                        intro,
                        link.id,
                        Flow::SourceToTarget,
                    )?,
                }
            }
            tx.set_watermark(
                link.id,
                Flow::SourceToTarget,
                &Watermark {
                    last_source_comment: first.map(|c| c.id),
                    snapshot: serde_json::to_value(&source_base).ok(),
                    updated_at: Some(crate::clock::now()),
                },
            )?;
            tx.set_watermark(
                link.id,
                Flow::TargetToSource,
                &Watermark {
                    last_source_comment: last_mirror_comment,
                    snapshot: serde_json::to_value(&mirror_base).ok(),
                    updated_at: Some(crate::clock::now()),
                },
            )?;
            Ok(l)
        })?;
        tracing::info!(link = link.id, account = %link.target_account, ticket = mirror.id, "mirror ready");
        // Replies written on the mirror before it was recorded here had their webhooks
        // handled while no link knew it: on a two-way link the mirror is read once now
        // (found by the deterministic simulation, seeds 1633 and 1689: an adoption held
        // by slow reads, and the replies' hints came meanwhile).
        if updated.direction == crate::link::Direction::TwoWay && updated.state == LinkState::Active
        {
            self.shared.hints.push(&link.target_account, mirror.id);
        }
        self.name_orphan_mirror(&updated).await;
        if !found.is_empty() {
            self.record_mismatches(&updated, Flow::SourceToTarget, &agreement.name, &found)?;
            return Ok(self.store().link(link.id)?.unwrap_or(updated));
        }
        Ok(updated)
    }

    /// The names a new mirror shows, looked up before the source's comments are read:
    /// the requester's, and the submitter's (who wrote the first comment, as a rule).
    async fn names_before_read(&self, from: &super::Account, source: &Ticket) -> Names {
        let requester = match source.requester_id {
            Some(id) => from.user_name(id).await,
            None => "unknown".to_owned(),
        };
        if let Some(id) = source.submitter_id {
            from.user_name(id).await;
        }
        Names { requester }
    }

    #[allow(clippy::too_many_arguments)]
    async fn mirror_create(
        &self,
        agreement: &AgreementConfig,
        from: &super::Account,
        source: &Ticket,
        first: Option<&Comment>,
        bridge_to: u64,
        found: &[crate::system::Mismatch],
        names: &Names,
    ) -> TicketWrite {
        let requester = &names.requester;
        let mut body = format!(
            "Shared from {} ticket #{} by sharebridge. Requester: {requester}.",
            from.subdomain, source.id
        );
        let mut public = true;
        match first.map(|c| (c, first_verdict(agreement, c))) {
            Some((c, CommentVerdict::Send { public: shown })) => {
                let part = Part {
                    source_comment_id: c.id,
                    author: from.user_name(c.author_id).await,
                    account: from.subdomain.clone(),
                    public: shown,
                    body: c.body.clone(),
                };
                body.push_str("\n\n");
                body.push_str(&coalesce::render(&part, agreement.comments.attribution));
                public = shown;
            }
            Some((_, CommentVerdict::PublicDisabled)) => body.push_str(HELD_PUBLIC),
            Some(_) => body.push_str(HELD_PRIVATE),
            None => {}
        }
        let filter = TagFilter::new(agreement);
        let mut tags: Vec<String> = filter.filter(source.tags.iter()).into_iter().collect();
        tags.push(SHARED_TAG.to_owned());
        let status =
            rules::map_status(&agreement.status, source.status).filter(|s| *s != Status::Closed);
        let mut fields = rules::map_fields(&agreement.fields, &source.custom_fields);
        let mut system = crate::system::changes(
            &agreement.system,
            &crate::system::SystemNow::default(),
            &crate::system::SystemNow::of(source),
        );
        crate::system::screen(&mut fields, &mut system, found);
        TicketWrite {
            subject: Some(
                source
                    .subject
                    .clone()
                    .unwrap_or_else(|| format!("Shared ticket #{}", source.id)),
            ),
            comment: Some(NewComment {
                body: Some(body),
                public: Some(public),
                ..Default::default()
            }),
            external_id: Some(external_id(&from.subdomain, source.id)),
            status,
            requester_id: Some(bridge_to),
            brand_id: agreement.target.brand_id,
            // A mapped group wins over the agreement's landing group.
            group_id: system.group_id.or(agreement.target.group_id),
            ticket_form_id: system.form_id,
            priority: system.priority.filter(Option::is_some),
            ticket_type: system.ticket_type.filter(Option::is_some),
            due_at: system.due_at.filter(Option::is_some),
            tags: Some(tags),
            custom_fields: Some(fields).filter(|f| !f.is_empty()),
            ..Default::default()
        }
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
                return self.relink(id, "resync --relink").await;
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
    pub(crate) async fn relink(&self, orphaned: u64, cause: &str) -> Result<Link, EngineError> {
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
        let link = self.store().transaction(|tx| {
            let link = tx.relink(orphaned, direction, now)?;
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
