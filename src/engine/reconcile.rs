//! The reconcile sweep (`daemon.reconcile_interval`): finds what change detection cannot.
//! - Links whose tickets no longer answer (deleted while no webhook or poll said so): read
//!   in bulk (`show_many`), orphaned as source or mirror deleted.
//! - Mirrors carrying sharebridge's `external_id` and tag that no live link knows (e.g.
//!   after an older store was restored): recorded as orphans (`no_live_link`) and marked.

use tokio_util::sync::CancellationToken;

use crate::orphan::Reason;
use crate::rules::{ORPHANED_TAG, SHARED_TAG};
use crate::store::LinkState;
use crate::zendesk::models::Status;

use super::{Engine, EngineError};

/// What one sweep found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub links_checked: usize,
    pub ended: usize,
    pub unknown_mirrors: usize,
}

pub(crate) async fn run(engine: Engine, shutdown: CancellationToken) {
    loop {
        let every = engine.config().daemon.reconcile_interval;
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        engine.write_owed_notes().await;
        match engine.sweep().await {
            Ok(r) => tracing::info!(
                checked = r.links_checked,
                ended = r.ended,
                unknown_mirrors = r.unknown_mirrors,
                "reconcile sweep done"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "reconcile sweep failed; trying again next interval")
            }
        }
    }
}

/// Links checked per page of the sweep (a few `show_many` calls of 100 each).
const SWEEP_PAGE: usize = 500;

impl Engine {
    /// Orphans the links of `links` whose source or mirror no longer answers; how many.
    async fn sweep_deleted(&self, links: &[crate::store::Link]) -> Result<usize, EngineError> {
        let mut ended = 0;
        for account in self.accounts() {
            let ids: Vec<u64> = links
                .iter()
                .filter(|l| l.source_account == account.name)
                .map(|l| l.source_ticket)
                .chain(
                    links
                        .iter()
                        .filter(|l| l.target_account == account.name)
                        .filter_map(|l| l.target_ticket),
                )
                .collect();
            if ids.is_empty() {
                continue;
            }
            let alive: std::collections::HashSet<u64> = account
                .client
                .show_many_tickets(&ids)
                .await?
                .into_iter()
                .filter(|t| t.status != Status::Deleted)
                .map(|t| t.id)
                .collect();
            for link in links {
                if link.source_account == account.name && !alive.contains(&link.source_ticket) {
                    self.orphan(link, Reason::SourceDeleted, "found by the reconcile sweep")
                        .await?;
                    ended += 1;
                } else if link.target_account == account.name
                    && link.target_ticket.is_some_and(|t| !alive.contains(&t))
                {
                    self.orphan(link, Reason::MirrorDeleted, "found by the reconcile sweep")
                        .await?;
                    ended += 1;
                }
            }
        }
        Ok(ended)
    }

    /// One reconcile sweep.
    pub async fn sweep(&self) -> Result<SweepReport, EngineError> {
        let mut report = SweepReport::default();
        // Tickets that no longer answer, read in bulk per account, a page of links at a
        // time (memory stays flat with 100k links).
        let mut after = 0;
        loop {
            let page = self.store().links_after(after, SWEEP_PAGE)?;
            let Some(last) = page.last().map(|l| l.id) else {
                break;
            };
            after = last;
            let links: Vec<_> = page
                .into_iter()
                .filter(|l| l.state != LinkState::Orphaned)
                .collect();
            report.links_checked += links.len();
            report.ended += self.sweep_deleted(&links).await?;
        }
        // Mirrors nobody knows.
        let config = self.config();
        for account in self.accounts() {
            if !config.agreements.iter().any(|a| a.to == account.name) {
                continue;
            }
            let found = account
                .client
                .search_tickets(&format!("tags:{SHARED_TAG} -tags:{ORPHANED_TAG}"))
                .await?;
            for t in found.into_iter().filter(|t| t.status != Status::Deleted) {
                let Some((from_subdomain, source_ticket)) =
                    t.external_id.as_deref().and_then(parse_external_id)
                else {
                    continue;
                };
                if self.store().link_by_target(&account.name, t.id)?.is_some() {
                    continue;
                }
                let Some(agreement) = config.agreements.iter().find(|a| {
                    a.to == account.name
                        && config
                            .accounts
                            .get(&a.from)
                            .is_some_and(|s| s.subdomain == from_subdomain)
                }) else {
                    continue;
                };
                self.record_unknown_mirror(agreement, source_ticket, t.id)
                    .await?;
                report.unknown_mirrors += 1;
            }
        }
        self.refresh_gauges();
        Ok(report)
    }
}

/// `sharebridge:{from_subdomain}:{ticket}` → its parts.
pub(crate) fn parse_external_id(s: &str) -> Option<(String, u64)> {
    let rest = s.strip_prefix("sharebridge:")?;
    let (sub, id) = rest.rsplit_once(':')?;
    Some((sub.to_owned(), id.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::parse_external_id;

    #[test]
    fn external_ids() {
        assert_eq!(
            parse_external_id("sharebridge:acme:42"),
            Some(("acme".into(), 42))
        );
        assert_eq!(parse_external_id("sharebridge:acme:x"), None);
        assert_eq!(parse_external_id("other:acme:42"), None);
        assert_eq!(parse_external_id("sharebridge:42"), None);
    }
}
