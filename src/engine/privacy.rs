//! Privacy follows the comment (DESIGN §5): a comment made private or redacted at the
//! source after it crossed is made private or redacted on every mirror that carries it —
//! live links and orphans alike (a mirror kept after its link ended must not keep what
//! its source no longer shows) — audited and counted (`sharebridge_privacy_followed_total`).
//!
//! The news comes from an event webhook (`comment_made_private`, `comment_redacted`) or
//! from the export's `CommentPrivacyChange` / `CommentRedactionEvent`, as a
//! `hints::PrivacyChange`. Following is idempotent (making private twice, or redacting a
//! string no longer there, changes nothing), so a repeated hint is harmless. What to
//! redact on the mirror is decided by the pure `privacy::redactions` (text) and
//! `attachments::to_redact` (files: a file redacted at the source is redacted on the
//! mirror comment that carries its copy).

use crate::link::Flow;
use crate::metrics::PrivacyLabels;
use crate::store::{AuditKind, Link, NewAudit};
use crate::zendesk::client::ZendeskError;

use super::hints::PrivacyChange;
use super::{Engine, EngineError};

impl Engine {
    /// Follows privacy changes of comments on ticket `id` of `account` to every mirror
    /// comment that carries them.
    pub(crate) async fn follow_privacy(
        &self,
        account: &str,
        id: u64,
        changes: &[PrivacyChange],
    ) -> Result<(), EngineError> {
        let store = self.store();
        // Every flow this ticket sends in: as source (live links and orphans) and, on a
        // two-way link, as mirror.
        let mut flows: Vec<(Link, Flow)> = store
            .links_by_source_ticket(account, id)?
            .into_iter()
            .map(|l| (l, Flow::SourceToTarget))
            .collect();
        for o in store.orphans()? {
            if o.source_account == account
                && o.source_ticket == id
                && let Some(l) = store.link(o.link)?
            {
                flows.push((l, Flow::SourceToTarget));
            }
        }
        if let Some(l) = store.link_by_target(account, id)? {
            flows.push((l, Flow::TargetToSource));
        }
        let mut again = None;
        for (link, flow) in &flows {
            for change in changes {
                let done = self.follow_one(link, *flow, *change).await;
                self.contain(None, done, &mut again)?;
            }
        }
        again.map_or(Ok(()), Err)
    }

    /// A mirror recorded late (adopted by a share, or found as the late mirror of a link
    /// that ended): its first comment was written from the source's first comment as it
    /// was when the create was sent, perhaps long before, and a make-private or a
    /// redaction since then was news for no mirror. So the copy is recorded as carrying
    /// that comment (later changes follow it) and brought in line now: made private if
    /// the source's is, redacted where it is (found by the deterministic simulation, seed
    /// 395). Nothing when the mirror's first comment holds a note in its place.
    pub(crate) async fn follow_intro(&self, link: &Link) -> Result<(), EngineError> {
        let flow = Flow::SourceToTarget;
        let Some(ends) = self.ends(link, flow) else {
            return Ok(());
        };
        let sender = self.account(&ends.sender_account)?;
        let receiver = self.account(&ends.receiver_account)?;
        let bridge = receiver.bridge_user().await?;
        let Some(first) = sender
            .client
            .list_comments(ends.sender_ticket)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(());
        };
        let intro = receiver
            .client
            .list_comments(ends.receiver_ticket)
            .await?
            .into_iter()
            .find(|c| c.author_id == bridge);
        let Some(intro) = intro.filter(|c| super::mirror::intro_carries_first(&c.body)) else {
            return Ok(());
        };
        match self.store().mirrored_comment(link.id, flow, first.id)? {
            Some(m) if m.mirror_comment != intro.id => return Ok(()),
            Some(_) => {}
            None => match self
                .store()
                .transaction(|tx| tx.record_mirrored_ahead(link.id, flow, &[first.id], intro.id))
            {
                Ok(()) => {}
                // Recorded for another link: not this link's to follow.
                Err(crate::store::StoreError::Conflict { .. }) => return Ok(()),
                Err(e) => return Err(e.into()),
            },
        }
        for redacted in [false, true] {
            if !redacted && first.public {
                continue;
            }
            let change = PrivacyChange {
                comment: first.id,
                redacted,
            };
            self.follow_one(link, flow, change).await?;
        }
        Ok(())
    }

    /// One change on one flow: nothing when the comment never crossed on it.
    async fn follow_one(
        &self,
        link: &Link,
        flow: Flow,
        change: PrivacyChange,
    ) -> Result<(), EngineError> {
        let Some(mapping) = self
            .store()
            .mirrored_comment(link.id, flow, change.comment)?
        else {
            return Ok(());
        };
        let Some(ends) = self.ends(link, flow) else {
            return Ok(());
        };
        let mirror = mapping.mirror_comment;
        let receiver = self.account(&ends.receiver_account)?;
        let _guard = self
            .lock_ticket(&ends.receiver_account, ends.receiver_ticket)
            .await;
        let on_mirror = receiver
            .client
            .list_comments(ends.receiver_ticket)
            .await?
            .into_iter()
            .find(|c| c.id == mirror);
        let Some(on_mirror) = on_mirror else {
            return Ok(()); // the mirror comment is gone
        };
        let what = if change.redacted {
            let sender = self.account(&ends.sender_account)?;
            let all = sender.client.list_comments(ends.sender_ticket).await?;
            let source = all.iter().find(|c| c.id == change.comment).cloned();
            let Some(source) = source else {
                return Ok(());
            };
            let carried = self
                .store()
                .bridge_comment(&ends.receiver_account, mirror)?
                .map(|r| r.source_comments)
                .unwrap_or_else(|| vec![change.comment]);
            let strings =
                crate::privacy::redactions(&on_mirror.body, &carried, change.comment, &source.body);
            let mut redacted = self
                .follow_file_redactions(&ends, &all, &receiver, &on_mirror, &carried)
                .await?;
            for text in strings
                .iter()
                .filter(|t| on_mirror.body.contains(t.as_str()))
            {
                match receiver
                    .client
                    .redact_comment_text(ends.receiver_ticket, mirror, text)
                    .await
                {
                    Ok(()) => redacted += 1,
                    Err(ZendeskError::NotFound { .. }) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
            if redacted == 0 {
                return Ok(()); // nothing left to redact: done before
            }
            "redacted"
        } else {
            if !on_mirror.public {
                return Ok(()); // already private
            }
            match receiver
                .client
                .make_comment_private(ends.receiver_ticket, mirror)
                .await
            {
                Ok(()) => {}
                Err(ZendeskError::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
            "made private"
        };
        self.audit_and_count(link, flow, &ends, change, mirror, what)
    }

    /// Redacts the mirror comment's copies of source files that were redacted
    /// (`attachments::to_redact`); how many.
    async fn follow_file_redactions(
        &self,
        ends: &super::sync::Ends,
        sender_comments: &[crate::zendesk::models::Comment],
        receiver: &super::Account,
        on_mirror: &crate::zendesk::models::Comment,
        carried: &[u64],
    ) -> Result<usize, EngineError> {
        if on_mirror.attachments.is_empty() {
            return Ok(0);
        }
        let sources: Vec<crate::zendesk::models::Attachment> = sender_comments
            .iter()
            .filter(|c| carried.contains(&c.id))
            .flat_map(|c| c.attachments.iter().cloned())
            .collect();
        let mut n = 0;
        for id in crate::attachments::to_redact(&on_mirror.attachments, &sources) {
            match receiver
                .client
                .redact_attachment(ends.receiver_ticket, on_mirror.id, id)
                .await
            {
                Ok(()) => n += 1,
                Err(ZendeskError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(n)
    }

    fn audit_and_count(
        &self,
        link: &Link,
        flow: Flow,
        ends: &super::sync::Ends,
        change: PrivacyChange,
        mirror: u64,
        what: &str,
    ) -> Result<(), EngineError> {
        let rules = self
            .rules_for(link, flow)
            .map(|r| r.name)
            .unwrap_or_default();
        self.store().append_audit(NewAudit {
            at: crate::clock::now(),
            kind: AuditKind::Privacy,
            subject: format!("link {}", link.id),
            detail: format!(
                "{}#{} comment {} was {what} at the source: {}#{} comment {mirror} {what} too",
                ends.sender_account,
                ends.sender_ticket,
                change.comment,
                ends.receiver_account,
                ends.receiver_ticket,
            ),
        })?;
        self.metrics()
            .privacy_followed
            .get_or_create(&PrivacyLabels {
                agreement: rules,
                change: if change.redacted {
                    "redacted"
                } else {
                    "made_private"
                }
                .to_owned(),
            })
            .inc();
        tracing::info!(
            link = link.id,
            flow = flow.as_str(),
            comment = change.comment,
            mirror,
            change = what,
            "privacy followed"
        );
        Ok(())
    }
}
