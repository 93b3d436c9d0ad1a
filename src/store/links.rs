//! Links (shared tickets), their secondary indexes, and the orphans report.
//!
//! Owns the invariant that the indexes agree with the `links` table: every change of a
//! link goes through `write_link`, which updates `links_by_source` (live links only),
//! `links_by_target` (once the mirror exists) and `links_by_state` in the same
//! transaction. A link's identity (id, agreement, source, target account, and the mirror
//! ticket once set) never changes. Must not decide when a link is orphaned or why: the
//! engine says so and the store records it.

use jiff::Timestamp;

use super::Store;
use super::error::StoreError;
use super::keys;
use super::records::{
    Direction, Flow, Link, LinkAllocation, LinkCounts, LinkState, NewLink, Orphan,
};
use super::txn::{ReadView, WriteTxn};

/// Links read at once by [`ReadView::for_each_link`].
const LINK_PAGE: usize = 512;

/// Whether a link holds its (source account, ticket, agreement) slot: an orphaned link
/// frees it, so the ticket can be shared again under the same agreement.
fn holds_source_slot(link: &Link) -> bool {
    link.state != LinkState::Orphaned
}

/// A new link record. The idempotency key is unique per link (the id is never reused)
/// and names what it is for, for whoever finds it in Zendesk's logs.
fn link_record(id: u64, new: NewLink, target_ticket: Option<u64>, state: LinkState) -> Link {
    Link {
        id,
        idempotency_key: format!(
            "sharebridge:{}:{}:{}:{id}",
            new.agreement, new.source_account, new.source_ticket
        ),
        agreement: new.agreement,
        source_account: new.source_account,
        source_ticket: new.source_ticket,
        target_account: new.target_account,
        target_ticket,
        direction: new.direction,
        state,
        error: None,
        created_at: new.created_at,
        updated_at: new.created_at,
        last_synced_at: None,
        mismatches: Vec::new(),
        untagged_share: new.untagged_share,
    }
}

impl ReadView<'_> {
    /// The link with this id.
    pub fn link(&self, id: u64) -> Result<Option<Link>, StoreError> {
        self.get(keys::LINKS, &keys::id(id))
    }

    fn link_at_index(&self, table: &'static str, key: &[u8]) -> Result<Option<Link>, StoreError> {
        let Some(id) = self.get::<u64>(table, key)? else {
            return Ok(None);
        };
        match self.link(id)? {
            Some(link) => Ok(Some(link)),
            None => Err(self.bad_index(table, key, id)),
        }
    }

    fn bad_index(&self, table: &'static str, key: &[u8], id: u64) -> StoreError {
        self.engine(super::engine::EngineError::Corrupt(format!(
            "index {table} at key {} names link {id}, which does not exist",
            keys::render(key)
        )))
    }

    /// The live (not orphaned) link sharing this source ticket under this agreement.
    pub fn link_by_source(
        &self,
        source_account: &str,
        source_ticket: u64,
        agreement: &str,
    ) -> Result<Option<Link>, StoreError> {
        self.link_at_index(
            keys::LINKS_BY_SOURCE,
            &keys::link_source(source_account, source_ticket, agreement),
        )
    }

    /// Every live link whose source is this ticket (one per agreement: fan-out).
    pub fn links_by_source_ticket(
        &self,
        source_account: &str,
        source_ticket: u64,
    ) -> Result<Vec<Link>, StoreError> {
        let ids = self.scan_prefix::<u64>(
            keys::LINKS_BY_SOURCE,
            &keys::link_source_prefix(source_account, source_ticket),
        )?;
        self.links_of(keys::LINKS_BY_SOURCE, ids)
    }

    /// The link whose mirror is this ticket (orphaned links included: the mirror still
    /// belongs to it).
    pub fn link_by_target(
        &self,
        target_account: &str,
        target_ticket: u64,
    ) -> Result<Option<Link>, StoreError> {
        self.link_at_index(
            keys::LINKS_BY_TARGET,
            &keys::link_target(target_account, target_ticket),
        )
    }

    /// Every link, by id.
    pub fn links(&self) -> Result<Vec<Link>, StoreError> {
        Ok(self
            .scan_all::<Link>(keys::LINKS)?
            .into_iter()
            .map(|(_, l)| l)
            .collect())
    }

    /// At most `limit` links with ids above `after` (0: from the first), by id: a page of
    /// a walk over every link that never holds more than one page.
    pub fn links_after(&self, after: u64, limit: usize) -> Result<Vec<Link>, StoreError> {
        Ok(self
            .scan::<Link>(
                keys::LINKS,
                (
                    std::ops::Bound::Excluded(keys::id(after)),
                    std::ops::Bound::Unbounded,
                ),
                false,
                limit,
            )?
            .into_iter()
            .map(|(_, l)| l)
            .collect())
    }

    /// Calls `visit` with every link, by id, one page at a time (memory stays flat
    /// however many links there are).
    pub fn for_each_link(
        &self,
        mut visit: impl FnMut(Link) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut after = 0;
        loop {
            let page = self.links_after(after, LINK_PAGE)?;
            let Some(last) = page.last().map(|l| l.id) else {
                return Ok(());
            };
            page.into_iter().try_for_each(&mut visit)?;
            after = last;
        }
    }

    /// Every link in `state`, by id.
    pub fn links_in_state(&self, state: LinkState) -> Result<Vec<Link>, StoreError> {
        let entries = self.scan_prefix::<serde_json::Value>(
            keys::LINKS_BY_STATE,
            &keys::link_state_prefix(state),
        )?;
        let mut out = Vec::with_capacity(entries.len());
        for (key, _) in entries {
            let id = keys::link_state_id(&key)
                .ok_or_else(|| self.bad_key(keys::LINKS_BY_STATE, &key))?;
            out.push(
                self.link(id)?
                    .ok_or_else(|| self.bad_index(keys::LINKS_BY_STATE, &key, id))?,
            );
        }
        Ok(out)
    }

    /// How many links are in each state, from the state index (no link is decoded).
    pub fn link_counts(&self) -> Result<LinkCounts, StoreError> {
        let count =
            |state| self.count_prefix(keys::LINKS_BY_STATE, &keys::link_state_prefix(state));
        Ok(LinkCounts {
            active: count(LinkState::Active)?,
            orphaned: count(LinkState::Orphaned)?,
            error: count(LinkState::Error)?,
        })
    }

    fn links_of(
        &self,
        table: &'static str,
        ids: Vec<(Vec<u8>, u64)>,
    ) -> Result<Vec<Link>, StoreError> {
        ids.into_iter()
            .map(|(key, id)| {
                self.link(id)?
                    .ok_or_else(|| self.bad_index(table, &key, id))
            })
            .collect()
    }

    /// The orphan record of a link.
    pub fn orphan(&self, link: u64) -> Result<Option<Orphan>, StoreError> {
        self.get(keys::ORPHANS, &keys::id(link))
    }

    /// Every orphan, by link id.
    pub fn orphans(&self) -> Result<Vec<Orphan>, StoreError> {
        Ok(self
            .scan_all::<Orphan>(keys::ORPHANS)?
            .into_iter()
            .map(|(_, o)| o)
            .collect())
    }
}

impl WriteTxn<'_> {
    /// Allocates a link for a source ticket under an agreement, or returns the live one
    /// that already exists (`created: false`): the check and the allocation are one
    /// transaction, so two shares of one ticket under one agreement yield one link.
    pub fn create_link(&self, new: NewLink) -> Result<LinkAllocation, StoreError> {
        if let Some(link) =
            self.view()
                .link_by_source(&new.source_account, new.source_ticket, &new.agreement)?
        {
            return Ok(LinkAllocation {
                link,
                created: false,
            });
        }
        let id = self.next_seq(keys::SEQ_LINK)?;
        let link = link_record(id, new, None, LinkState::Active);
        self.write_link(None, &link)?;
        Ok(LinkAllocation {
            link,
            created: true,
        })
    }

    /// Changes a link with `f` and keeps the indexes in step. `f` may change the state,
    /// error, direction, sync time and set the mirror ticket once; changing the link's
    /// identity is a [`StoreError::Conflict`]. `updated_at` is set to now.
    pub fn update_link(&self, id: u64, f: impl FnOnce(&mut Link)) -> Result<Link, StoreError> {
        let old = self.view().link(id)?.ok_or_else(|| self.unknown_link(id))?;
        let mut new = old.clone();
        f(&mut new);
        let same_identity = new.id == old.id
            && new.agreement == old.agreement
            && new.source_account == old.source_account
            && new.source_ticket == old.source_ticket
            && new.target_account == old.target_account
            && new.idempotency_key == old.idempotency_key
            && new.created_at == old.created_at
            && (old.target_ticket.is_none() || new.target_ticket == old.target_ticket);
        if !same_identity {
            return Err(self.conflict(format!(
                "link {id}: its identity (agreement, source, target, mirror ticket once set) cannot change"
            )));
        }
        if old.state == LinkState::Orphaned && new.state != LinkState::Orphaned {
            return Err(self.conflict(format!(
                "link {id} is orphaned; share the ticket again to make a new link"
            )));
        }
        new.updated_at = crate::clock::now();
        self.write_link(Some(&old), &new)?;
        Ok(new)
    }

    /// Records the mirror ticket once it exists (a link that ended meanwhile gets its
    /// orphan record's mirror from `orphaning::name_orphan_mirror_in`, which also owes
    /// the note).
    pub fn set_mirror_ticket(&self, id: u64, target_ticket: u64) -> Result<Link, StoreError> {
        self.update_link(id, |l| l.target_ticket = Some(target_ticket))
    }

    /// Sets a link's state (`active` or `error`; use [`Self::orphan_link`] to orphan)
    /// and its error text.
    pub fn set_link_state(
        &self,
        id: u64,
        state: LinkState,
        error: Option<String>,
    ) -> Result<Link, StoreError> {
        if state == LinkState::Orphaned {
            return Err(self.conflict(format!(
                "link {id}: orphaning needs a reason; use orphan_link"
            )));
        }
        self.update_link(id, |l| {
            l.state = state;
            l.error = error;
        })
    }

    /// Upgrades or downgrades a link's direction.
    pub fn set_link_direction(&self, id: u64, direction: Direction) -> Result<Link, StoreError> {
        self.update_link(id, |l| l.direction = direction)
    }

    /// Records a completed sync of the link.
    pub fn mark_link_synced(&self, id: u64, at: Timestamp) -> Result<Link, StoreError> {
        self.update_link(id, |l| l.last_synced_at = Some(at))
    }

    /// Ends a link: state `orphaned`, its source slot freed, and an orphan record kept
    /// for the report. Orphaning an orphan returns the existing record unchanged.
    pub fn orphan_link(
        &self,
        id: u64,
        reason: &str,
        detail: &str,
        since: Timestamp,
    ) -> Result<Orphan, StoreError> {
        if let Some(existing) = self.view().orphan(id)? {
            return Ok(existing);
        }
        let link = self.update_link(id, |l| l.state = LinkState::Orphaned)?;
        self.write_orphan(link, reason, detail, since)
    }

    /// Records a mirror ticket found without a live link (e.g. by the reconciliation
    /// sweep) as an orphan: a new link is allocated directly in state `orphaned`, with
    /// its mirror ticket, without taking the source slot (a live link of the same source
    /// ticket is left alone). If the mirror ticket already belongs to a link, that link
    /// is orphaned instead (or its existing orphan record returned).
    pub fn adopt_orphan(
        &self,
        new: NewLink,
        target_ticket: u64,
        reason: &str,
        detail: &str,
        since: Timestamp,
    ) -> Result<Orphan, StoreError> {
        if let Some(existing) = self
            .view()
            .link_by_target(&new.target_account, target_ticket)?
        {
            return self.orphan_link(existing.id, reason, detail, since);
        }
        let id = self.next_seq(keys::SEQ_LINK)?;
        let link = link_record(id, new, Some(target_ticket), LinkState::Orphaned);
        self.write_link(None, &link)?;
        self.write_orphan(link, reason, detail, since)
    }

    /// Re-attaches an orphan's mirror to a new live link (a re-share, or `resync
    /// --relink`): one transaction allocates the link with the same source, target and
    /// mirror, moves the mirror's index to it, carries both flows' watermarks over (so
    /// nothing already mirrored is sent again) and retires the orphan record (the audit
    /// log keeps the history). Fails with [`StoreError::Conflict`] when the link is not an
    /// orphan with a mirror, or when its source ticket is live under that agreement again.
    /// `untagged_share` is the new link's [`Link::untagged_share`].
    pub fn relink(
        &self,
        orphaned: u64,
        direction: Direction,
        at: Timestamp,
        untagged_share: bool,
    ) -> Result<Link, StoreError> {
        let old = self
            .view()
            .link(orphaned)?
            .ok_or_else(|| self.unknown_link(orphaned))?;
        let Some(mirror) = old
            .target_ticket
            .filter(|_| old.state == LinkState::Orphaned)
        else {
            return Err(self.conflict(format!(
                "link {orphaned} is not an orphan with a mirror; nothing to re-attach"
            )));
        };
        if let Some(live) =
            self.view()
                .link_by_source(&old.source_account, old.source_ticket, &old.agreement)?
        {
            return Err(self.conflict(format!(
                "{}#{} is shared again as link {}; unshare it before re-attaching link {orphaned}",
                old.source_account, old.source_ticket, live.id
            )));
        }
        let id = self.next_seq(keys::SEQ_LINK)?;
        let new = NewLink {
            agreement: old.agreement.clone(),
            source_account: old.source_account.clone(),
            source_ticket: old.source_ticket,
            target_account: old.target_account.clone(),
            direction,
            created_at: at,
            untagged_share,
        };
        let link = link_record(id, new, Some(mirror), LinkState::Active);
        // The mirror's index moves from the orphan to the new link.
        self.remove(
            keys::LINKS_BY_TARGET,
            &keys::link_target(&old.target_account, mirror),
        )?;
        self.write_link(None, &link)?;
        for flow in [Flow::SourceToTarget, Flow::TargetToSource] {
            let mark = self.view().watermark(orphaned, flow)?;
            self.put(keys::WATERMARKS, &keys::link_flow(id, flow), &mark)?;
            // What was mirrored (also ahead of the watermark) stays mirrored.
            for m in self.view().comment_mappings(orphaned, flow)? {
                self.put(
                    keys::COMMENT_MAP,
                    &keys::comment_map(id, flow, m.source_comment),
                    &m,
                )?;
            }
        }
        self.remove(keys::ORPHANS, &keys::id(orphaned))?;
        Ok(link)
    }

    /// Records the mirror of an orphan that had none when its link ended (a mirror
    /// created after the unshare, by a create already in flight): the orphan record names
    /// it and owes its tag and note (unless `owed` is false). `None` when the link has no
    /// orphan record, or its record already names a mirror.
    pub fn set_orphan_mirror(
        &self,
        link: u64,
        target_ticket: u64,
        owed: bool,
    ) -> Result<Option<Orphan>, StoreError> {
        let Some(mut orphan) = self.view().orphan(link)? else {
            return Ok(None);
        };
        if orphan.target_ticket.is_some() {
            return Ok(None);
        }
        orphan.target_ticket = Some(target_ticket);
        orphan.note_owed = owed;
        self.put(keys::ORPHANS, &keys::id(link), &orphan)?;
        Ok(Some(orphan))
    }

    /// Records whether an orphan's mirror still owes its tag and note; `false` when the
    /// link has no orphan record.
    pub fn set_orphan_note_owed(&self, link: u64, owed: bool) -> Result<bool, StoreError> {
        let Some(mut orphan) = self.view().orphan(link)? else {
            return Ok(false);
        };
        if orphan.note_owed != owed {
            orphan.note_owed = owed;
            self.put(keys::ORPHANS, &keys::id(link), &orphan)?;
        }
        Ok(true)
    }

    fn write_orphan(
        &self,
        link: Link,
        reason: &str,
        detail: &str,
        since: Timestamp,
    ) -> Result<Orphan, StoreError> {
        let orphan = Orphan {
            link: link.id,
            source_account: link.source_account,
            source_ticket: link.source_ticket,
            target_account: link.target_account,
            target_ticket: link.target_ticket,
            reason: reason.to_owned(),
            since,
            detail: detail.to_owned(),
            note_owed: false,
        };
        self.put(keys::ORPHANS, &keys::id(orphan.link), &orphan)?;
        Ok(orphan)
    }

    /// The one place a link is written: the record and its three indexes.
    fn write_link(&self, old: Option<&Link>, new: &Link) -> Result<(), StoreError> {
        let id = new.id;
        let source_key = keys::link_source(&new.source_account, new.source_ticket, &new.agreement);
        if holds_source_slot(new) {
            if let Some(other) = self.view().get::<u64>(keys::LINKS_BY_SOURCE, &source_key)?
                && other != id
            {
                return Err(self.conflict(format!(
                    "{}#{} under {} is already shared as link {other}",
                    new.source_account, new.source_ticket, new.agreement
                )));
            }
            self.put(keys::LINKS_BY_SOURCE, &source_key, &id)?;
        } else if old.is_some_and(holds_source_slot) {
            self.remove(keys::LINKS_BY_SOURCE, &source_key)?;
        }
        if let Some(ticket) = new.target_ticket {
            let target_key = keys::link_target(&new.target_account, ticket);
            match self.view().get::<u64>(keys::LINKS_BY_TARGET, &target_key)? {
                Some(other) if other != id => {
                    return Err(self.conflict(format!(
                        "mirror ticket {}#{ticket} already belongs to link {other}",
                        new.target_account
                    )));
                }
                Some(_) => {}
                None => self.put(keys::LINKS_BY_TARGET, &target_key, &id)?,
            }
        }
        if let Some(old) = old
            && old.state != new.state
        {
            self.remove(keys::LINKS_BY_STATE, &keys::link_state(old.state, id))?;
        }
        self.put(keys::LINKS_BY_STATE, &keys::link_state(new.state, id), &())?;
        self.put(keys::LINKS, &keys::id(id), new)
    }
}

impl Store {
    /// See [`WriteTxn::create_link`].
    pub fn create_link(&self, new: NewLink) -> Result<LinkAllocation, StoreError> {
        self.transaction_op("create link", |tx| tx.create_link(new))
    }

    /// See [`WriteTxn::update_link`].
    pub fn update_link(&self, id: u64, f: impl FnOnce(&mut Link)) -> Result<Link, StoreError> {
        self.transaction_op("update link", |tx| tx.update_link(id, f))
    }

    /// See [`WriteTxn::set_mirror_ticket`].
    pub fn set_mirror_ticket(&self, id: u64, target_ticket: u64) -> Result<Link, StoreError> {
        self.transaction_op("set mirror ticket", |tx| {
            tx.set_mirror_ticket(id, target_ticket)
        })
    }

    /// See [`WriteTxn::set_link_state`].
    pub fn set_link_state(
        &self,
        id: u64,
        state: LinkState,
        error: Option<String>,
    ) -> Result<Link, StoreError> {
        self.transaction_op("set link state", |tx| tx.set_link_state(id, state, error))
    }

    /// See [`WriteTxn::set_link_direction`].
    pub fn set_link_direction(&self, id: u64, direction: Direction) -> Result<Link, StoreError> {
        self.transaction_op("set link direction", |tx| {
            tx.set_link_direction(id, direction)
        })
    }

    /// See [`WriteTxn::mark_link_synced`].
    pub fn mark_link_synced(&self, id: u64, at: Timestamp) -> Result<Link, StoreError> {
        self.transaction_op("mark link synced", |tx| tx.mark_link_synced(id, at))
    }

    /// See [`WriteTxn::orphan_link`].
    pub fn orphan_link(
        &self,
        id: u64,
        reason: &str,
        detail: &str,
        since: Timestamp,
    ) -> Result<Orphan, StoreError> {
        self.transaction_op("orphan link", |tx| {
            tx.orphan_link(id, reason, detail, since)
        })
    }

    /// See [`WriteTxn::adopt_orphan`].
    pub fn adopt_orphan(
        &self,
        new: NewLink,
        target_ticket: u64,
        reason: &str,
        detail: &str,
        since: Timestamp,
    ) -> Result<Orphan, StoreError> {
        self.transaction_op("adopt orphan", |tx| {
            tx.adopt_orphan(new, target_ticket, reason, detail, since)
        })
    }

    /// See [`WriteTxn::relink`].
    pub fn relink(
        &self,
        orphaned: u64,
        direction: Direction,
        at: Timestamp,
        untagged_share: bool,
    ) -> Result<Link, StoreError> {
        self.transaction_op("relink", |tx| {
            tx.relink(orphaned, direction, at, untagged_share)
        })
    }

    /// See [`ReadView::link_counts`].
    pub fn link_counts(&self) -> Result<LinkCounts, StoreError> {
        self.view_op("count links", |v| v.link_counts())
    }

    /// See [`ReadView::link`].
    pub fn link(&self, id: u64) -> Result<Option<Link>, StoreError> {
        self.view_op("get link", |v| v.link(id))
    }

    /// See [`ReadView::link_by_source`].
    pub fn link_by_source(
        &self,
        source_account: &str,
        source_ticket: u64,
        agreement: &str,
    ) -> Result<Option<Link>, StoreError> {
        self.view_op("find link by source", |v| {
            v.link_by_source(source_account, source_ticket, agreement)
        })
    }

    /// See [`ReadView::links_by_source_ticket`].
    pub fn links_by_source_ticket(
        &self,
        source_account: &str,
        source_ticket: u64,
    ) -> Result<Vec<Link>, StoreError> {
        self.view_op("find links by source", |v| {
            v.links_by_source_ticket(source_account, source_ticket)
        })
    }

    /// See [`ReadView::link_by_target`].
    pub fn link_by_target(
        &self,
        target_account: &str,
        target_ticket: u64,
    ) -> Result<Option<Link>, StoreError> {
        self.view_op("find link by target", |v| {
            v.link_by_target(target_account, target_ticket)
        })
    }

    /// See [`ReadView::links`].
    pub fn links(&self) -> Result<Vec<Link>, StoreError> {
        self.view_op("list links", |v| v.links())
    }

    /// See [`ReadView::links_after`]. Each page is its own snapshot: a walk page by page
    /// may await between pages.
    pub fn links_after(&self, after: u64, limit: usize) -> Result<Vec<Link>, StoreError> {
        self.view_op("list links", |v| v.links_after(after, limit))
    }

    /// See [`ReadView::for_each_link`] (one snapshot).
    pub fn for_each_link(
        &self,
        visit: impl FnMut(Link) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.view_op("walk links", |v| v.for_each_link(visit))
    }

    /// See [`ReadView::links_in_state`].
    pub fn links_in_state(&self, state: LinkState) -> Result<Vec<Link>, StoreError> {
        self.view_op("list links by state", |v| v.links_in_state(state))
    }

    /// See [`ReadView::orphan`].
    pub fn orphan(&self, link: u64) -> Result<Option<Orphan>, StoreError> {
        self.view_op("get orphan", |v| v.orphan(link))
    }

    /// See [`ReadView::orphans`].
    pub fn orphans(&self) -> Result<Vec<Orphan>, StoreError> {
        self.view_op("list orphans", |v| v.orphans())
    }
}
