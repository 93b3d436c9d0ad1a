//! One changed ticket: read it once (unless its webhook carried all there is to do, see
//! `carried`), then share, unshare or sync every link it takes part in. A ticket that can
//! no longer be read ends its links (source or mirror deleted).
//!
//! Each part of that work (a share under one agreement, one flow of one link) fails on its
//! own ([`Engine::contain`]): a failure retries cannot fix puts that link in `error` with
//! its reason, a transient one makes the whole ticket run again later, and neither stops
//! the ticket's other links.

use crate::agreement::State;
use crate::link::Direction;
use crate::orphan::Reason;
use crate::rules;
use crate::store::LinkState;
use crate::zendesk::client::ZendeskError;
use crate::zendesk::models::Status;

use super::{Engine, EngineError};
use crate::link::Flow;

impl Engine {
    /// Processes one changed ticket of `account`. What its hints carried is put back if
    /// the run fails or panics (`Hints::put_back`): the retry then reads the ticket
    /// whole, and no privacy change is dropped.
    pub(crate) async fn process(&self, account: &str, id: u64) -> Result<(), EngineError> {
        let mut taken = Taken {
            hints: &self.shared.hints,
            account,
            id,
            carried: self.shared.hints.take_carried(account, id),
            done: false,
        };
        let result = self.process_taken(account, id, taken.carried.clone()).await;
        taken.done = result.is_ok();
        result
    }

    async fn process_taken(
        &self,
        account: &str,
        id: u64,
        carried: Option<super::hints::Carried>,
    ) -> Result<(), EngineError> {
        let privacy = carried
            .as_ref()
            .map(|c| c.privacy.clone())
            .unwrap_or_default();
        // Privacy changes alone need no read of the ticket, only of the comments concerned.
        if let Some(c) = &carried
            && c.privacy_only()
        {
            return self.follow_privacy(account, id, &privacy).await;
        }
        // A comment the webhook brought whole is mirrored without reading the ticket.
        if let Some(carried) = &carried
            && self.process_carried(account, id, carried).await?
        {
            return self.follow_privacy(account, id, &privacy).await;
        }
        let done = self.process_read(account, id, carried.as_ref()).await;
        // After the comments were mirrored (one may just have crossed, and be made
        // private now), privacy follows.
        if privacy.is_empty() {
            return done;
        }
        let mut again = done.err();
        let followed = self.follow_privacy(account, id, &privacy).await;
        self.contain(None, followed, &mut again)?;
        again.map_or(Ok(()), Err)
    }

    /// [`Engine::process`] once the ticket must be read.
    async fn process_read(
        &self,
        account: &str,
        id: u64,
        carried: Option<&super::hints::Carried>,
    ) -> Result<(), EngineError> {
        let store = self.store().clone();
        let as_source = store.links_by_source_ticket(account, id)?;
        let as_mirror = store.link_by_target(account, id)?;
        // A ticket that is no link's source or mirror matters only if an agreement could
        // share it now: decided from what the hints said, without reading it.
        if as_source.is_empty() && as_mirror.is_none() {
            let described = carried.filter(|c| !c.blind).and_then(|c| c.ticket.as_ref());
            if !self.could_share(account, described) {
                tracing::debug!(account, ticket = id, "no agreement can act on it: not read");
                return Ok(());
            }
        }
        let acct = self.account(account)?;
        let ticket = match acct.client.show_ticket(id).await {
            Ok(t) if t.status != Status::Deleted => Some(t),
            Ok(_) | Err(ZendeskError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };

        // A failure that a later run may cure: returned once everything else was tried.
        let mut again = None;
        let Some(ticket) = ticket else {
            for link in as_source.iter().filter(|l| l.state != LinkState::Orphaned) {
                let ended = self.orphan(link, Reason::SourceDeleted, "").await.map(drop);
                self.contain(Some(link.id), ended, &mut again)?;
            }
            if let Some(link) = as_mirror.filter(|l| l.state != LinkState::Orphaned) {
                let ended = self
                    .orphan(&link, Reason::MirrorDeleted, "")
                    .await
                    .map(drop);
                self.contain(Some(link.id), ended, &mut again)?;
            }
            return again.map_or(Ok(()), Err);
        };

        // Auto-share and unshare-on-tag-removal, per agreement from this account.
        let config = self.config();
        for agreement in config.agreements.iter().filter(|a| a.from == account) {
            let live = as_source
                .iter()
                .find(|l| l.agreement == agreement.name && l.state != LinkState::Orphaned);
            match live {
                None => {
                    let accepted = self.state_of(&agreement.name) == Some(State::Accepted);
                    if accepted
                        && ticket.status != Status::Closed
                        && rules::auto_share(agreement, &ticket.tags, ticket.brand_id)
                    {
                        let tag = agreement
                            .auto_share_tags
                            .iter()
                            .find(|t| ticket.tags.contains(t))
                            .cloned()
                            .unwrap_or_default();
                        match self
                            .share_ticket(agreement, &ticket, &format!("tagged {tag}"), false)
                            .await
                        {
                            // A ticket whose link ended is not shared again by its tag
                            // alone: `resync --relink` re-attaches the old mirror.
                            // A mirror tagged for sharing back into the account it
                            // mirrors: never (it would copy that account's own ticket).
                            Err(EngineError::MirrorOfReceiver { .. }) => {
                                tracing::debug!(
                                    account,
                                    ticket = id,
                                    agreement = %agreement.name,
                                    "not shared: it mirrors a ticket of the receiver"
                                );
                            }
                            Err(EngineError::MirrorOfOrphan { link, .. }) => {
                                tracing::debug!(
                                    account,
                                    ticket = id,
                                    link,
                                    "not re-shared: its mirror is an orphan"
                                );
                            }
                            // A link the share made and could not complete is already in
                            // `error` (`share_ticket`); nothing else to do here.
                            other => self.contain(None, other.map(drop), &mut again)?,
                        }
                    }
                }
                // Shared by hand without the tag, and carrying it now: from here on its
                // removal unshares, as for a ticket the tag shared.
                Some(link)
                    if link.state == LinkState::Active
                        && link.untagged_share
                        && rules::carries_tag(agreement, &ticket.tags) =>
                {
                    let gained = store
                        .update_link(link.id, |l| l.untagged_share = false)
                        .map(drop)
                        .map_err(EngineError::from);
                    self.contain(Some(link.id), gained, &mut again)?;
                }
                Some(link)
                    if link.state == LinkState::Active
                        && rules::unshare_on_tag_loss(
                            agreement,
                            link.untagged_share,
                            &ticket.tags,
                        ) =>
                {
                    let ended = self.orphan(link, Reason::TagRemoved, "").await.map(drop);
                    self.contain(Some(link.id), ended, &mut again)?;
                }
                Some(_) => {}
            }
        }

        // Sync every live link this ticket is the source of.
        for link in store.links_by_source_ticket(account, id)? {
            if link.state == LinkState::Active {
                let synced = self.sync(&link, Flow::SourceToTarget, &ticket).await;
                self.contain(Some(link.id), synced, &mut again)?;
            }
        }
        // And, when it is a mirror on a two-way link, sync back.
        if let Some(link) = store.link_by_target(account, id)?
            && link.state == LinkState::Active
            && link.direction == Direction::TwoWay
        {
            let synced = self.sync(&link, Flow::TargetToSource, &ticket).await;
            self.contain(Some(link.id), synced, &mut again)?;
        }
        again.map_or(Ok(()), Err)
    }

    /// Whether a ticket of `account` that no link knows could be shared now: some
    /// accepted agreement from `account` and, when the ticket's description is known (an
    /// event webhook's `detail`, the export's tag events), one whose auto-share tag it
    /// carries.
    pub(crate) fn could_share(
        &self,
        account: &str,
        described: Option<&super::hints::CarriedTicket>,
    ) -> bool {
        let config = self.config();
        config
            .agreements
            .iter()
            .filter(|a| a.from == account && self.state_of(&a.name) == Some(State::Accepted))
            .any(|a| {
                // Only what the description says for sure rules a share out: a closed
                // ticket, or no auto-share tag (the brand is checked once it is read).
                described.is_none_or(|d| {
                    !matches!(d.status, Some(Status::Closed | Status::Deleted))
                        && a.auto_share_tags.iter().any(|t| d.tags.contains(t))
                })
            })
    }

    /// Keeps one part of a ticket's work from stopping the rest: a transient failure is
    /// kept in `again` (the first one; the ticket runs again later), a failure retries
    /// cannot fix puts `link` in `error` with its reason, anything else is logged. Only a
    /// store failure is returned at once: without the store nothing is safe to do.
    pub(crate) fn contain(
        &self,
        link: Option<u64>,
        result: Result<(), EngineError>,
        again: &mut Option<EngineError>,
    ) -> Result<(), EngineError> {
        match result {
            Ok(()) => Ok(()),
            Err(e @ EngineError::Store(_)) => Err(e),
            Err(e) if e.is_transient() => {
                again.get_or_insert(e);
                Ok(())
            }
            Err(e) => {
                match link {
                    Some(id) if e.breaks_link() => self.break_link(id, &e.to_string())?,
                    _ => tracing::warn!(link, error = %e, "not done; the rest goes on"),
                }
                Ok(())
            }
        }
    }

    /// Puts a live link in `error` with `why` (shown by `links show`; `resync` retries).
    pub(crate) fn break_link(&self, id: u64, why: &str) -> Result<(), EngineError> {
        let broken = self.store().transaction(|tx| match tx.view().link(id)? {
            Some(l) if l.state == LinkState::Active => {
                tx.set_link_state(id, LinkState::Error, Some(why.to_owned()))?;
                Ok(true)
            }
            _ => Ok(false),
        })?;
        if broken {
            tracing::warn!(link = id, reason = %why, "link in error");
            self.refresh_gauges();
            // No step of a link in error runs again until it is fixed: a write it left in
            // doubt (the other flow's) is settled by the recovery pass (found by the
            // deterministic simulation, seed 894: a mirror closed by its agents).
            self.recover_stranded(id, &super::recovery::BOTH_FLOWS);
        }
        Ok(())
    }
}

/// What a run of a ticket took from its hints, put back unless the run succeeded (also
/// when it panics or is dropped: `Drop`). Privacy changes are not in the ticket itself,
/// so a read would not find them again; they wait for the retry, or for the ticket's
/// next hint after a failure that is not retried.
struct Taken<'a> {
    hints: &'a super::hints::Hints,
    account: &'a str,
    id: u64,
    carried: Option<super::hints::Carried>,
    done: bool,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.hints
                .put_back(self.account, self.id, self.carried.take());
        }
    }
}
