//! One write to a receiving ticket, recorded exactly once (ARCHITECTURE.md, the write
//! protocol):
//! 1. under the receiving ticket's lock, record a `PendingWrite` (link, flow, source ids);
//! 2. send the update (the client never replays an update that carries a comment);
//! 3. record what it created (`commit_mirrored`: mappings, bridge-comment mark, watermark,
//!    pending write cleared, in one transaction) before anything else is written there.
//!
//! A lost answer (`InDoubt`) is settled by `recovery` before anything else is sent on that
//! link and flow: found → committed, not found → cleared and planned again.

use crate::link::Flow;
use crate::orphan::Reason;
use crate::plan::Write;
use crate::store::{Link, LinkState, PendingWrite};
use crate::zendesk::client::ZendeskError;
use crate::zendesk::models::{NewComment, TicketWrite};

use super::sync::Ends;
use super::{Engine, EngineError};

impl Engine {
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
        e @ (ZendeskError::Closed { .. }
        | ZendeskError::CommentLimit { .. }
        | ZendeskError::Invalid { .. }) => WriteFailure::Broken(e.to_string()),
        e => WriteFailure::Engine(e.into()),
    }
}
