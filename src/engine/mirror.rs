//! A link's mirror, made exactly once: looked up by `external_id` first (so a crash
//! between Zendesk's answer and the store commit adopts it instead of creating a second
//! one), created under the link's turn with its Idempotency-Key, and adopted when an
//! earlier create with that key made it. Owns the mirror's first comment and where each
//! side's baselines start. Allocating links and deciding whether to share is `share`'s.

use crate::agreement::State;
use crate::coalesce::{self, Part};
use crate::config::AgreementConfig;
use crate::link::Flow;
use crate::plan::{Baseline, SideNow};
use crate::rules::{self, CommentVerdict, SHARED_TAG, TagFilter};
use crate::store::{Link, LinkState, Watermark};
use crate::zendesk::client::ZendeskError;
use crate::zendesk::models::{Comment, NewComment, Status, Ticket, TicketWrite};

use super::share::external_id;
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

impl Engine {
    /// The live (not deleted) mirror of `source` in the agreement's receiver, found by
    /// external id.
    pub(super) async fn existing_mirror(
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

    pub(super) async fn ensure_mirror_with(
        &self,
        link: &Link,
        agreement: &AgreementConfig,
        source: &Ticket,
        existing: Option<Ticket>,
    ) -> Result<Link, EngineError> {
        if link.target_ticket.is_some() {
            return Ok(link.clone());
        }
        // One creation per link at a time, under the link's turn: a share and a step of
        // the same link once both created, and the second create, its body changed
        // meanwhile, was refused for its reused key and broke the link (found by the
        // deterministic simulation, seed 32).
        let _turn = self.lock_link(link.id).await;
        let link = &match self.store().link(link.id)? {
            Some(l) if l.target_ticket.is_some() => return Ok(l),
            Some(l) => l,
            None => link.clone(),
        };
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
        let made = match existing {
            Some(t) => Made::Earlier(t),
            None => {
                let inputs = Inputs {
                    agreement,
                    from: &from,
                    to: &to,
                    source,
                    first,
                    bridge_to,
                    found: &found,
                    names: &names,
                };
                self.create_mirror(link, &inputs).await?
            }
        };
        let adopted = matches!(made, Made::Earlier(_));
        let (mirror, intro) = match made {
            Made::New { ticket, intro } => (ticket, intro),
            Made::Earlier(t) => {
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
                let intro = Self::bridge_intro(&to, t.id, bridge_to).await?;
                (t, intro)
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
        // Only a mirror an ended link made is bounded by this link's making: one that
        // this link's own earlier attempt made (its record lost in a crash) carries its
        // replies from its creation (found by the deterministic simulation, seed 1499:
        // a reply written in the second the link was made was dropped, Zendesk's times
        // being whole seconds).
        let foreign = adopted && self.ended_link_may_have_made(link, mirror.id)?;
        let replies_from = [
            Some(mirror.created_at),
            upgraded,
            foreign.then_some(link.created_at),
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
            // An upgrade to two-way committed while this was reading (it found no
            // mirror then) keeps its start: replies written before it stay on the mirror
            // (found by the deterministic simulation, seed 14950: the reads above took
            // 46 s, and the upgrade's start was overwritten by the one read before it).
            let mut mirror_base = mirror_base.clone();
            let upgraded_since =
                Self::baseline(&tx.view().watermark(link.id, Flow::TargetToSource)?).not_before;
            mirror_base.not_before = mirror_base.not_before.max(upgraded_since);
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

    /// The create's write: subject, the first comment (or why it was held back), status,
    /// system fields, tags and custom fields as the agreement maps them.
    async fn mirror_create(&self, inputs: &Inputs<'_>) -> TicketWrite {
        let Inputs {
            agreement,
            from,
            source,
            first,
            bridge_to,
            found,
            names,
            ..
        } = *inputs;
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

    /// Creates the mirror (its first comment, files and fields as `inputs` say), or
    /// finds that an earlier create with the link's key made it.
    async fn create_mirror(&self, link: &Link, inputs: &Inputs<'_>) -> Result<Made, EngineError> {
        let Inputs {
            agreement,
            to,
            first,
            bridge_to,
            ..
        } = *inputs;
        let mut write = self.mirror_create(inputs).await;
        // Shared because of its tag: the tag's loss, heard of while the create is
        // retried, withholds the next attempt (the link ends on that news).
        let tagged = crate::rules::carries_tag(agreement, &inputs.source.tags);
        let untag = if agreement.unshare_on_tag_removal && tagged {
            agreement.auto_share_tags.clone()
        } else {
            Vec::new()
        };
        let prepared = self
            .attach_first(agreement, inputs.from, to, link.id, first, &mut write)
            .await?;
        // Consent at the moment of each attempt of the create (a retry after a 5xx or a
        // 429 can come after the agreement was withdrawn). An unshare meanwhile does not
        // stop it: the mirror it makes is the orphan's.
        let created = match to
            .client
            .guarded(self.create_guard(link, first.map(|c| c.id), untag))
            .create_ticket(&write, Some(&link.idempotency_key))
            .await
        {
            Ok(c) => c,
            // Its first comment was made private meanwhile, or the tag that shared it
            // was removed: the ticket is read again, and decided from what it shows then
            // (the mirror made from that, or what an earlier attempt made, adopted).
            Err(ZendeskError::Withheld { reason, .. })
                if reason == super::write::NEWS || reason == super::write::UNTAGGED =>
            {
                return Err(EngineError::Replan {
                    account: link.source_account.clone(),
                    ticket: link.source_ticket,
                    reason: if reason == super::write::NEWS {
                        super::write::NEWS
                    } else {
                        super::write::UNTAGGED
                    },
                });
            }
            // The link ended before this attempt: nothing more is sent for it.
            Err(ZendeskError::Withheld { reason, .. }) if reason == super::write::ENDED => {
                tracing::info!(link = link.id, account = %link.target_account, "mirror not created: the link ended");
                return Err(EngineError::Orphaned { id: link.id });
            }
            Err(ZendeskError::Withheld { reason, .. }) => {
                tracing::info!(link = link.id, account = %link.target_account, %reason, "mirror not created");
                return Err(EngineError::NotAccepted {
                    name: agreement.name.clone(),
                    state: self.state_of(&agreement.name).unwrap_or(State::Pending),
                });
            }
            // An earlier create with this key made the mirror (its answer was lost, and
            // what it carried has changed since): adopted (found by the deterministic
            // simulation, seed 32).
            Err(e) if e.is_key_reused() => {
                tracing::info!(link = link.id, account = %link.target_account, "an earlier create with this key made the mirror: looked up to adopt it");
                return match self.existing_mirror(agreement, inputs.source.id).await? {
                    Some(t) => Ok(Made::Earlier(t)),
                    None => Err(e.into()),
                };
            }
            Err(e) => return Err(e.into()),
        };
        self.count_files(&agreement.name, &prepared);
        let intro = match created.audit.as_ref().and_then(|a| a.comment_id()) {
            Some(id) => Some(id),
            None => Self::bridge_intro(to, created.ticket.id, bridge_to).await?,
        };
        Ok(Made::New {
            ticket: created.ticket,
            intro,
        })
    }

    /// The first comment the bridge wrote on `mirror`: the one it made the mirror with.
    async fn bridge_intro(
        to: &super::Account,
        mirror: u64,
        bridge_to: u64,
    ) -> Result<Option<u64>, EngineError> {
        let comments = to.client.list_comments(mirror).await?;
        Ok(comments
            .iter()
            .find(|c| c.author_id == bridge_to)
            .map(|c| c.id))
    }
}

/// What a mirror's create is made from.
#[derive(Clone, Copy)]
struct Inputs<'a> {
    agreement: &'a AgreementConfig,
    from: &'a super::Account,
    to: &'a super::Account,
    source: &'a Ticket,
    first: Option<&'a Comment>,
    bridge_to: u64,
    found: &'a [crate::system::Mismatch],
    names: &'a Names,
}

/// A mirror this link's create made, or one an earlier create made (adopted).
enum Made {
    New { ticket: Ticket, intro: Option<u64> },
    Earlier(Ticket),
}
