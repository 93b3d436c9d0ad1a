//! Ending a link: recorded first (sync stops at once), then the mirror — when there still is
//! one — gets the tag `sharebridge_orphaned` and exactly one private note saying since
//! when, why and from which account. The note is a pending write like any other, so a
//! crash never writes it twice.

use crate::link::Flow;
use crate::orphan::{self, Reason};
use crate::rules::ORPHANED_TAG;
use crate::store::{AuditKind, Link, NewAudit, Orphan, PendingWrite};
use crate::zendesk::client::ZendeskError;
use crate::zendesk::models::{NewComment, TicketWrite};

use super::{Engine, EngineError};

/// Marks the pending write of an orphan note.
pub(crate) const NOTE_MARKER: &str = "orphan-note";

impl Engine {
    /// Orphans `link` for `reason`; returns the orphan record (the existing one if the
    /// link was already orphaned).
    pub(crate) async fn orphan(
        &self,
        link: &Link,
        reason: Reason,
        detail: &str,
    ) -> Result<Orphan, EngineError> {
        let orphan = self.orphan_record(link, reason, detail)?;
        if reason.mirror_remains() {
            self.write_orphan_note(link, &orphan).await?;
        }
        Ok(orphan)
    }

    /// The store side of orphaning, in one transaction: the link ends, the orphan is
    /// recorded and audited, and the note is owed (a pending write). No Zendesk call.
    pub(crate) fn orphan_record(
        &self,
        link: &Link,
        reason: Reason,
        detail: &str,
    ) -> Result<Orphan, EngineError> {
        let since = crate::clock::now();
        let (orphan, fresh) = self.store().transaction(|tx| {
            if let Some(existing) = tx.view().orphan(link.id)? {
                return Ok((existing, false));
            }
            let o = tx.orphan_link(link.id, reason.as_str(), detail, since)?;
            let kind = if reason == Reason::Unshared {
                AuditKind::Unshare
            } else {
                AuditKind::Orphan
            };
            let mirror = link
                .target_ticket
                .map(|t| format!("{}#{t}", link.target_account))
                .unwrap_or_default();
            let mut text = format!(
                "{}#{} -> {mirror} under {}: {}",
                link.source_account,
                link.source_ticket,
                link.agreement,
                reason.describe()
            );
            if !detail.is_empty() {
                text.push_str(&format!(" ({detail})"));
            }
            tx.append_audit(NewAudit {
                at: since,
                kind,
                subject: format!("link {}", link.id),
                detail: text,
            })?;
            if reason.mirror_remains() && link.target_ticket.is_some() {
                tx.record_pending_write(&PendingWrite {
                    link: link.id,
                    flow: Flow::SourceToTarget,
                    source_comments: Vec::new(),
                    marker: NOTE_MARKER.to_owned(),
                    created_at: since,
                    ahead: false,
                })
                .or_else(|e| match e {
                    // A comment write of this link is still in doubt: it is settled first
                    // (below), then the note is recorded.
                    crate::store::StoreError::Conflict { .. } => Ok(()),
                    e => Err(e),
                })?;
            }
            Ok((o, true))
        })?;
        if fresh {
            tracing::info!(link = link.id, reason = reason.as_str(), account = %link.target_account, "link orphaned");
            self.refresh_gauges();
        }
        Ok(orphan)
    }

    /// Writes the orphan tag and note if the store says it is still owed.
    pub(crate) async fn write_orphan_note(
        &self,
        link: &Link,
        orphan: &Orphan,
    ) -> Result<(), EngineError> {
        let Some(mirror) = link.target_ticket else {
            return Ok(());
        };
        let _guard = self.lock_ticket(&link.target_account, mirror).await;
        let mut pending = self.store().pending_write(link.id, Flow::SourceToTarget)?;
        if let Some(p) = pending.as_ref().filter(|p| p.marker != NOTE_MARKER) {
            // A comment write in doubt comes first; then the note is owed.
            let p = p.clone();
            drop(_guard);
            self.settle_pending(link, &p).await?;
            let note = PendingWrite {
                link: link.id,
                flow: Flow::SourceToTarget,
                source_comments: Vec::new(),
                marker: NOTE_MARKER.to_owned(),
                created_at: crate::clock::now(),
                ahead: false,
            };
            self.store()
                .transaction(|tx| tx.record_pending_write(&note))?;
            return Box::pin(self.write_orphan_note(link, orphan)).await;
        }
        let Some(p) = pending.take() else {
            return Ok(());
        };
        let reason = orphan.reason.parse_reason();
        let account = self.account(&link.target_account)?;
        let body = orphan::note(
            reason,
            orphan.since,
            &link.source_account,
            link.source_ticket,
            &orphan.detail,
        );
        let write = TicketWrite {
            comment: Some(NewComment {
                body: Some(body),
                public: Some(false),
                ..Default::default()
            }),
            additional_tags: Some(vec![ORPHANED_TAG.to_owned()]),
            ..Default::default()
        };
        match account.client.update_ticket_audited(mirror, &write).await {
            Ok((_, Some(audit))) if audit.comment_id().is_some() => {
                let id = audit.comment_id().unwrap_or_default();
                self.store().transaction(|tx| {
                    tx.record_bridge_comment(
                        &link.target_account,
                        id,
                        link.id,
                        Flow::SourceToTarget,
                    )?;
                    tx.clear_pending_write(link.id, Flow::SourceToTarget)?;
                    Ok(())
                })?;
                Ok(())
            }
            Ok(_) | Err(ZendeskError::InDoubt { .. }) => {
                drop(_guard);
                if !self.settle_pending(link, &p).await? {
                    // Not applied: owed again.
                    self.store().transaction(|tx| tx.record_pending_write(&p))?;
                    return Err(EngineError::NotApplied {
                        account: link.target_account.clone(),
                        ticket: mirror,
                    });
                }
                Ok(())
            }
            Err(ZendeskError::NotFound { .. }) | Err(ZendeskError::Closed { .. }) => {
                // Nothing left to mark (deleted) or markable (closed): the report stands.
                self.store()
                    .clear_pending_write(link.id, Flow::SourceToTarget)?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Orphan records keep the reason as text; read it back.
trait ParseReason {
    fn parse_reason(&self) -> Reason;
}

impl ParseReason for String {
    fn parse_reason(&self) -> Reason {
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == self)
            .unwrap_or(Reason::Unshared)
    }
}
