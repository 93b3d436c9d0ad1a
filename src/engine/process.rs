//! One changed ticket: read it once (unless its webhook carried all there is to do, see
//! `carried`), then share, unshare or sync every link it takes part in. A ticket that can no longer be read ends its links (source or mirror deleted).

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
    /// Processes one changed ticket of `account`.
    pub(crate) async fn process(&self, account: &str, id: u64) -> Result<(), EngineError> {
        // A comment the webhook brought whole is mirrored without reading the ticket.
        if let Some(carried) = self.shared.hints.take_carried(account, id)
            && self.process_carried(account, id, &carried).await?
        {
            return Ok(());
        }
        let acct = self.account(account)?;
        let ticket = match acct.client.show_ticket(id).await {
            Ok(t) if t.status != Status::Deleted => Some(t),
            Ok(_) | Err(ZendeskError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let store = self.store().clone();
        let as_source = store.links_by_source_ticket(account, id)?;
        let as_mirror = store.link_by_target(account, id)?;

        let Some(ticket) = ticket else {
            for link in as_source.iter().filter(|l| l.state != LinkState::Orphaned) {
                self.orphan(link, Reason::SourceDeleted, "").await?;
            }
            if let Some(link) = as_mirror.filter(|l| l.state != LinkState::Orphaned) {
                self.orphan(&link, Reason::MirrorDeleted, "").await?;
            }
            return Ok(());
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
                            Err(EngineError::MirrorOfOrphan { link, .. }) => {
                                tracing::debug!(
                                    account,
                                    ticket = id,
                                    link,
                                    "not re-shared: its mirror is an orphan"
                                );
                            }
                            other => {
                                other?;
                            }
                        }
                    }
                }
                Some(link)
                    if link.state == LinkState::Active
                        && rules::unshare_on_tag_loss(agreement, &ticket.tags) =>
                {
                    self.orphan(link, Reason::TagRemoved, "").await?;
                }
                Some(_) => {}
            }
        }

        // Sync every live link this ticket is the source of.
        for link in store.links_by_source_ticket(account, id)? {
            if link.state == LinkState::Active {
                self.sync(&link, Flow::SourceToTarget, &ticket).await?;
            }
        }
        // And, when it is a mirror on a two-way link, sync back.
        if let Some(link) = store.link_by_target(account, id)?
            && link.state == LinkState::Active
            && link.direction == Direction::TwoWay
        {
            self.sync(&link, Flow::TargetToSource, &ticket).await?;
        }
        Ok(())
    }
}
