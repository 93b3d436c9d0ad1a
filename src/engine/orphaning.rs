//! Ending a link: recorded first (sync stops at once, and the note is owed:
//! `Orphan::note_owed`), then the mirror — when there still is one — gets the tag
//! `sharebridge_orphaned` and exactly one private note saying since when, why and from
//! which account. The note is written like any comment (a pending write, settled after a
//! crash or a lost answer), so it is never written twice, and it stays owed until it is
//! recorded, whatever else held the link's pending-write slot when the link ended.

use crate::config::AgreementConfig;
use crate::link::Flow;
use crate::orphan::{self, Reason};
use crate::rules::ORPHANED_TAG;
use crate::store::{AuditKind, Link, NewAudit, Orphan, PendingWrite};
use crate::zendesk::client::ZendeskError;
use crate::zendesk::models::{NewComment, TicketWrite};

use super::write::{Settled, marker, metadata};
use super::{Engine, EngineError};

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
        if orphan.note_owed
            && let Err(e) = self.write_orphan_note(link).await
        {
            // The link has ended either way; the note stays owed and is written later.
            tracing::warn!(link = link.id, error = %e, "orphan note not written yet; tried again shortly");
            self.write_owed_notes_later();
        }
        Ok(self.store().orphan(link.id)?.unwrap_or(orphan))
    }

    /// Tries the owed orphan notes again after a while (and at every start, reload and
    /// sweep): the engine's loop runs a recovery pass then, which settles the writes left
    /// in doubt — those of ended links too — and writes the notes still owed. Not a
    /// detached task: it ends with the engine, and a crash loses nothing (the store says
    /// what is owed).
    pub(crate) fn write_owed_notes_later(&self) {
        self.recover_at(crate::clock::now() + super::RETRY_AFTER);
    }

    /// A mirror made for a link that had already ended (unshared while the mirror's
    /// create was in flight or in doubt) is an orphan like any other: once its creation
    /// is recorded (with [`name_orphan_mirror_in`], in the same transaction), it gets its
    /// tag and its one note — now, or by a later recovery pass.
    pub(crate) async fn name_orphan_mirror(&self, link: &Link) {
        let owed = matches!(self.store().orphan(link.id), Ok(Some(o)) if o.note_owed);
        if !owed {
            return;
        }
        tracing::info!(link = link.id, account = %link.target_account, ticket = ?link.target_ticket, "mirror created for a link that had ended: marked as an orphan");
        if let Err(e) = self.write_orphan_note(link).await {
            tracing::warn!(link = link.id, error = %e, "orphan note not written yet; tried again shortly");
            self.write_owed_notes_later();
        }
    }

    /// A mirror no link knows may still be one of ours whose creation was never recorded:
    /// the create landed after a crash, or after the link had ended. If its source's link
    /// under this agreement is live and has no mirror yet, that link adopts it at its next
    /// step (it is left alone here); if that link has ended with no mirror recorded, the
    /// mirror is recorded as its and marked an orphan once — not as a second, unexplained
    /// orphan (found by the deterministic simulation, seed 79). Whether it was either.
    pub(crate) async fn claim_unknown_mirror(
        &self,
        agreement: &AgreementConfig,
        source_ticket: u64,
        mirror: u64,
    ) -> Result<bool, EngineError> {
        if let Some(live) =
            self.store()
                .link_by_source(&agreement.from, source_ticket, &agreement.name)?
            && live.target_account == agreement.to
        {
            return Ok(live.target_ticket.is_none());
        }
        let ended = self
            .store()
            .orphans()?
            .into_iter()
            .filter(|o| {
                o.source_account == agreement.from
                    && o.source_ticket == source_ticket
                    && o.target_account == agreement.to
                    && o.target_ticket.is_none()
            })
            .filter_map(|o| self.store().link(o.link).ok().flatten())
            .filter(|l| l.agreement == agreement.name && l.target_ticket.is_none())
            .max_by_key(|l| l.id);
        let Some(link) = ended else {
            return Ok(false);
        };
        // Its first comment is brought in line with the source's first before it is
        // recorded: a failure here leaves it unclaimed, and the next sweep tries again.
        // A closed mirror cannot be changed (Zendesk refuses): it is claimed as it is.
        let mut with_mirror = link.clone();
        with_mirror.target_ticket = Some(mirror);
        match self.follow_intro(&with_mirror).await {
            Ok(()) | Err(EngineError::Zendesk(ZendeskError::Closed { .. })) => {}
            Err(e) => return Err(e),
        }
        let now = crate::clock::now();
        let claimed = self.store().transaction(|tx| {
            if tx.view().link_by_target(&agreement.to, mirror)?.is_some() {
                return Ok(None);
            }
            let l = tx.set_mirror_ticket(link.id, mirror)?;
            name_orphan_mirror_in(tx, link.id, mirror)?;
            tx.append_audit(NewAudit {
                at: now,
                kind: AuditKind::Orphan,
                subject: format!("link {}", link.id),
                detail: format!(
                    "{}#{} -> {}#{mirror}: the mirror of the ended link, created after it ended",
                    link.source_account, link.source_ticket, link.target_account
                ),
            })?;
            Ok(Some(l))
        })?;
        let Some(link) = claimed else {
            return Ok(false);
        };
        tracing::info!(link = link.id, account = %agreement.to, ticket = mirror, "mirror of an ended link found: recorded as its orphan");
        self.name_orphan_mirror(&link).await;
        self.refresh_gauges();
        Ok(true)
    }

    /// Whether an ended link of `link`'s ticket and receiver may have made `mirror` (its
    /// create landed after it ended): one whose mirror was never recorded, or is that one.
    pub(crate) fn ended_link_may_have_made(
        &self,
        link: &Link,
        mirror: u64,
    ) -> Result<bool, EngineError> {
        Ok(self.store().orphans()?.into_iter().any(|o| {
            o.link != link.id
                && o.source_account == link.source_account
                && o.source_ticket == link.source_ticket
                && o.target_account == link.target_account
                && o.target_ticket.is_none_or(|t| t == mirror)
        }))
    }

    /// A second mirror is never made while the first may still land: a link of this
    /// ticket and agreement that ended with its mirror's create unanswered (unshared while
    /// the create was in flight or in doubt) may still get its mirror until
    /// `daemon.in_doubt_wait` after it ended (the create's guard sends no attempt once
    /// the link ended, so the last one went out before). Until then a new link's create waits (`EarlierMirror`), so the
    /// look-up by external id that follows finds the late mirror and re-attaches or
    /// reports it instead of creating a copy (found by the deterministic simulation,
    /// seeds 32 and 242).
    pub(crate) fn earlier_create_settled(
        &self,
        agreement: &AgreementConfig,
        source_ticket: u64,
    ) -> Result<(), EngineError> {
        let mut ended = Vec::new();
        for o in self.store().orphans()?.into_iter().filter(|o| {
            o.source_account == agreement.from
                && o.source_ticket == source_ticket
                && o.target_account == agreement.to
                && o.target_ticket.is_none()
        }) {
            if self
                .store()
                .link(o.link)?
                .is_some_and(|l| l.agreement == agreement.name && l.target_ticket.is_none())
            {
                ended.push((o.target_ticket, o.since));
            }
        }
        let wait = jiff::SignedDuration::try_from(self.config().daemon.in_doubt_wait)
            .unwrap_or(jiff::SignedDuration::from_secs(60));
        match may_still_land_until(&ended, crate::clock::now(), wait) {
            Some(until) => {
                tracing::info!(account = %agreement.to, ticket = source_ticket, agreement = %agreement.name, %until, "mirror not created yet: an ended link's create may still land");
                Err(EngineError::EarlierMirror {
                    source_account: agreement.from.clone(),
                    ticket: source_ticket,
                    account: agreement.to.clone(),
                    until,
                })
            }
            None => Ok(()),
        }
    }

    /// The store side of orphaning, in one transaction: the link ends, the orphan is
    /// recorded and audited, and the note is owed. No Zendesk call.
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
            let mut o = tx.orphan_link(link.id, reason.as_str(), detail, since)?;
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
            if reason.mirror_remains() && o.target_ticket.is_some() {
                tx.set_orphan_note_owed(link.id, true)?;
                o.note_owed = true;
            }
            Ok((o, true))
        })?;
        if fresh {
            tracing::info!(link = link.id, reason = reason.as_str(), account = %link.target_account, "link orphaned");
            self.refresh_gauges();
            self.recover_stranded(link.id, &super::recovery::BOTH_FLOWS);
        }
        Ok(orphan)
    }

    /// Writes the orphan tag and note if the store says they are still owed. A write in
    /// doubt on the link (a comment, or an earlier attempt at the note) is settled first.
    pub(crate) async fn write_orphan_note(&self, link: &Link) -> Result<(), EngineError> {
        let Some(mirror) = link.target_ticket else {
            return Ok(());
        };
        // A write in doubt on the link is settled first; a few rounds at most (each
        // settles one), then the note waits for the next try.
        for round in 0..4 {
            let guard = self.lock_ticket(&link.target_account, mirror).await;
            let Some(orphan) = self.store().orphan(link.id)?.filter(|o| o.note_owed) else {
                return Ok(());
            };
            if let Some(p) = self.store().pending_write(link.id, Flow::SourceToTarget)? {
                drop(guard);
                tracing::debug!(
                    link = link.id,
                    round,
                    note = p.is_note(),
                    "a write in doubt before the orphan note"
                );
                if round >= 3 {
                    return Err(EngineError::NotApplied {
                        account: link.target_account.clone(),
                        ticket: mirror,
                    });
                }
                if let Settled::Undecided { until } = self.settle_pending(link, &p).await? {
                    return Err(EngineError::Undecided {
                        account: link.target_account.clone(),
                        ticket: mirror,
                        until,
                    });
                }
                continue;
            }
            let at = crate::clock::now();
            let mut note = PendingWrite {
                link: link.id,
                flow: Flow::SourceToTarget,
                source_comments: Vec::new(),
                marker: String::new(),
                created_at: at,
                ahead: false,
                note: true,
                changes: None,
            };
            self.store().transaction(|tx| {
                note.marker = marker(link.id, Flow::SourceToTarget, tx.next_write_id()?, at);
                tx.record_pending_write(&note)
            })?;
            let body = orphan::note(
                orphan.reason.parse_reason(),
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
                metadata: Some(metadata(&note)),
                ..Default::default()
            };
            let account = self.account(&link.target_account)?;
            return match account.client.update_ticket_audited(mirror, &write).await {
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
                        tx.set_orphan_note_owed(link.id, false)?;
                        Ok(())
                    })?;
                    Ok(())
                }
                Ok(_) | Err(ZendeskError::InDoubt { .. }) => {
                    drop(guard);
                    match self.settle_pending(link, &note).await? {
                        Settled::Landed(_) => Ok(()),
                        Settled::NotLanded => Err(EngineError::NotApplied {
                            account: link.target_account.clone(),
                            ticket: mirror,
                        }),
                        Settled::Undecided { until } => Err(EngineError::Undecided {
                            account: link.target_account.clone(),
                            ticket: mirror,
                            until,
                        }),
                    }
                }
                Err(ZendeskError::NotFound { .. }) | Err(ZendeskError::Closed { .. }) => {
                    // Nothing left to mark (deleted) or markable (closed): the report stands.
                    self.store().transaction(|tx| {
                        tx.clear_pending_write(link.id, Flow::SourceToTarget)?;
                        tx.set_orphan_note_owed(link.id, false)?;
                        Ok(())
                    })?;
                    Ok(())
                }
                Err(e) => {
                    // Not sent (the client says so for anything but `InDoubt`): still owed.
                    self.store()
                        .clear_pending_write(link.id, Flow::SourceToTarget)?;
                    Err(e.into())
                }
            };
        }
        Err(EngineError::NotApplied {
            account: link.target_account.clone(),
            ticket: mirror,
        })
    }
}

/// In the transaction that records a link's new mirror: when the link has already ended
/// (its orphan record names no mirror), the record names this one and owes its tag and
/// note (see [`Engine::name_orphan_mirror`]). Whether a note is owed now.
pub(crate) fn name_orphan_mirror_in(
    tx: &crate::store::WriteTxn<'_>,
    link: u64,
    mirror: u64,
) -> Result<bool, crate::store::StoreError> {
    let Some(orphan) = tx.view().orphan(link)? else {
        return Ok(false);
    };
    if orphan.target_ticket.is_some() {
        return Ok(false);
    }
    let owed = orphan.reason.parse_reason().mirror_remains();
    Ok(tx.set_orphan_mirror(link, mirror, owed)?.is_some() && owed)
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

/// Until when the create of an ended link may still land (`None`: none may): each ended
/// link is given as (the mirror its orphan record names, when it ended); one that names
/// no mirror may get it until `wait` after it ended. Pure.
pub(crate) fn may_still_land_until(
    ended: &[(Option<u64>, jiff::Timestamp)],
    now: jiff::Timestamp,
    wait: jiff::SignedDuration,
) -> Option<jiff::Timestamp> {
    ended
        .iter()
        .filter(|(mirror, _)| mirror.is_none())
        .map(|(_, since)| *since + wait)
        .filter(|until| *until > now)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ended_create_blocks_a_second_mirror_only_while_it_may_still_land() {
        let t0: jiff::Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let wait = jiff::SignedDuration::from_secs(60);
        let at = |s: i64| t0 + jiff::SignedDuration::from_secs(s);
        // Ended with no mirror 20 s ago: its create may land for 40 s more.
        assert_eq!(
            may_still_land_until(&[(None, t0)], at(20), wait),
            Some(at(60))
        );
        // Once the wait has passed, or when the ended link has its mirror: nothing waits.
        assert_eq!(may_still_land_until(&[(None, t0)], at(60), wait), None);
        assert_eq!(may_still_land_until(&[(Some(7), t0)], at(1), wait), None);
        assert_eq!(may_still_land_until(&[], at(1), wait), None);
        // The latest of several.
        assert_eq!(
            may_still_land_until(&[(None, t0), (None, at(30))], at(40), wait),
            Some(at(90))
        );
    }
}
