//! Comment maps, the bridge's own comments (echo suppression), pending writes (the
//! outbox) and per-link watermarks: what makes mirroring exactly-once across crashes.
//!
//! The protocol the engine follows, per link and flow: record a [`PendingWrite`] with
//! the source comments it is about to send, write to Zendesk, then
//! [`WriteTxn::commit_mirrored`], which records every source → mirror mapping, marks
//! the mirror comment as the bridge's own, advances the watermark and clears the pending
//! write, all in one transaction. After a crash, [`ReadView::pending_writes`] lists what
//! may or may not have reached Zendesk; the engine reads the mirror to decide. Must not
//! decide what to mirror or coalesce; it records what the engine did.

use super::Store;
use super::error::StoreError;
use super::keys;
use super::records::{CommentMapping, Flow, Link, MirrorCommentRef, PendingWrite, Watermark};
use super::txn::{ReadView, WriteTxn};

/// The account a flow writes its mirror comments into.
fn written_account(link: &Link, flow: Flow) -> &str {
    match flow {
        Flow::SourceToTarget => &link.target_account,
        Flow::TargetToSource => &link.source_account,
    }
}

impl ReadView<'_> {
    /// The mirror comment a source comment was mirrored as, if it was.
    pub fn mirrored_comment(
        &self,
        link: u64,
        flow: Flow,
        source_comment: u64,
    ) -> Result<Option<CommentMapping>, StoreError> {
        self.get(
            keys::COMMENT_MAP,
            &keys::comment_map(link, flow, source_comment),
        )
    }

    /// Every mapping of a link in one flow, by source comment id.
    pub fn comment_mappings(
        &self,
        link: u64,
        flow: Flow,
    ) -> Result<Vec<CommentMapping>, StoreError> {
        Ok(self
            .scan_prefix::<CommentMapping>(keys::COMMENT_MAP, &keys::link_flow(link, flow))?
            .into_iter()
            .map(|(_, m)| m)
            .collect())
    }

    /// What the bridge recorded about a comment it wrote in `account`; `None` if the
    /// bridge did not write it.
    pub fn bridge_comment(
        &self,
        account: &str,
        comment: u64,
    ) -> Result<Option<MirrorCommentRef>, StoreError> {
        self.get(
            keys::MIRROR_COMMENTS,
            &keys::mirror_comment(account, comment),
        )
    }

    /// Whether the comment was written by the bridge (so it must not be mirrored back).
    pub fn is_bridge_comment(&self, account: &str, comment: u64) -> Result<bool, StoreError> {
        Ok(self.bridge_comment(account, comment)?.is_some())
    }

    /// The pending write of a link in one flow.
    pub fn pending_write(&self, link: u64, flow: Flow) -> Result<Option<PendingWrite>, StoreError> {
        self.get(keys::INTENTS, &keys::link_flow(link, flow))
    }

    /// Every pending write, by link and flow: after a restart, what to reconcile.
    pub fn pending_writes(&self) -> Result<Vec<PendingWrite>, StoreError> {
        Ok(self
            .scan_all::<PendingWrite>(keys::INTENTS)?
            .into_iter()
            .map(|(_, w)| w)
            .collect())
    }

    /// How far a link has been mirrored in one flow (empty if never).
    pub fn watermark(&self, link: u64, flow: Flow) -> Result<Watermark, StoreError> {
        Ok(self
            .get(keys::WATERMARKS, &keys::link_flow(link, flow))?
            .unwrap_or_default())
    }
}

impl WriteTxn<'_> {
    fn existing_link(&self, id: u64) -> Result<Link, StoreError> {
        self.view().link(id)?.ok_or_else(|| self.unknown_link(id))
    }

    /// Records a write the engine is about to make. At most one per link and flow: a
    /// second, different one is a [`StoreError::Conflict`] (reconcile the first);
    /// recording the same one again is a no-op.
    pub fn record_pending_write(&self, write: &PendingWrite) -> Result<(), StoreError> {
        self.existing_link(write.link)?;
        let key = keys::link_flow(write.link, write.flow);
        match self.view().get::<PendingWrite>(keys::INTENTS, &key)? {
            Some(existing) if &existing == write => Ok(()),
            Some(existing) => Err(self.conflict(format!(
                "link {} ({:?}) already has a pending write (source comments {:?}, marker {:?}); reconcile it first",
                write.link, write.flow, existing.source_comments, existing.marker
            ))),
            None => self.put(keys::INTENTS, &key, write),
        }
    }

    /// Drops the pending write of a link and flow (the write failed for good, or was a
    /// field-only update now done); whether there was one.
    pub fn clear_pending_write(&self, link: u64, flow: Flow) -> Result<bool, StoreError> {
        self.remove(keys::INTENTS, &keys::link_flow(link, flow))
    }

    /// Records that `source_comments` (in order) were mirrored as `mirror_comment`, in
    /// one transaction: each source → mirror mapping, the mirror comment as the bridge's
    /// own (in the account the flow writes to), the watermark advanced to the highest
    /// source id, and the pending write of this link and flow cleared (or, if it carried
    /// more source comments than these, narrowed to the rest). Repeating the same
    /// call is harmless; mapping a source comment to a second mirror comment is a
    /// [`StoreError::Conflict`] (it would be a duplicate).
    pub fn commit_mirrored(
        &self,
        link: u64,
        flow: Flow,
        source_comments: &[u64],
        mirror_comment: u64,
    ) -> Result<(), StoreError> {
        self.record_mirrored(link, flow, source_comments, mirror_comment, false)
    }

    /// [`Self::commit_mirrored`] for comments mirrored ahead of the watermark (found on
    /// the receiving ticket without knowing what came before them): mappings and the
    /// bridge-comment mark, the watermark left where it is.
    pub fn record_mirrored_ahead(
        &self,
        link: u64,
        flow: Flow,
        source_comments: &[u64],
        mirror_comment: u64,
    ) -> Result<(), StoreError> {
        self.record_mirrored(link, flow, source_comments, mirror_comment, true)
    }

    fn record_mirrored(
        &self,
        link: u64,
        flow: Flow,
        source_comments: &[u64],
        mirror_comment: u64,
        ahead: bool,
    ) -> Result<(), StoreError> {
        let l = self.existing_link(link)?;
        let now = crate::clock::now();
        let view = self.view();
        for &source in source_comments {
            let key = keys::comment_map(link, flow, source);
            match view.get::<CommentMapping>(keys::COMMENT_MAP, &key)? {
                Some(m) if m.mirror_comment != mirror_comment => {
                    return Err(self.conflict(format!(
                        "link {link} ({flow:?}): source comment {source} is already mirrored as comment {}",
                        m.mirror_comment
                    )));
                }
                Some(_) => {}
                None => self.put(
                    keys::COMMENT_MAP,
                    &key,
                    &CommentMapping {
                        source_comment: source,
                        mirror_comment,
                        at: now,
                    },
                )?,
            }
        }
        let ref_key = keys::mirror_comment(written_account(&l, flow), mirror_comment);
        let mut carried = match view.get::<MirrorCommentRef>(keys::MIRROR_COMMENTS, &ref_key)? {
            Some(r) if r.link != link || r.flow != flow => {
                return Err(self.conflict(format!(
                    "comment {mirror_comment} is already recorded for link {} ({:?})",
                    r.link, r.flow
                )));
            }
            Some(r) => r.source_comments,
            None => Vec::new(),
        };
        for &source in source_comments {
            if !carried.contains(&source) {
                carried.push(source);
            }
        }
        self.put(
            keys::MIRROR_COMMENTS,
            &ref_key,
            &MirrorCommentRef {
                link,
                flow,
                source_comments: carried,
            },
        )?;
        // The pending write is done once every source comment it carried is recorded;
        // a write split over several mirror comments stays pending for the rest.
        let intent_key = keys::link_flow(link, flow);
        let pending = view.get::<PendingWrite>(keys::INTENTS, &intent_key)?;
        let ahead = ahead || pending.as_ref().is_some_and(|p| p.ahead);
        if let Some(&highest) = source_comments.iter().max().filter(|_| !ahead) {
            let mut mark = view.watermark(link, flow)?;
            if mark.last_source_comment.is_none_or(|last| highest > last) {
                mark.last_source_comment = Some(highest);
            }
            mark.updated_at = Some(now);
            self.put(keys::WATERMARKS, &keys::link_flow(link, flow), &mark)?;
        }
        if let Some(mut pending) = pending {
            pending
                .source_comments
                .retain(|c| !source_comments.contains(c));
            if pending.source_comments.is_empty() {
                self.remove(keys::INTENTS, &intent_key)?;
            } else {
                self.put(keys::INTENTS, &intent_key, &pending)?;
            }
        }
        Ok(())
    }

    /// Marks a comment the bridge wrote that mirrors nothing (an orphan note, a notice)
    /// as the bridge's own, so it is never mirrored back.
    pub fn record_bridge_comment(
        &self,
        account: &str,
        comment: u64,
        link: u64,
        flow: Flow,
    ) -> Result<(), StoreError> {
        let key = keys::mirror_comment(account, comment);
        if self.view().bridge_comment(account, comment)?.is_some() {
            return Ok(());
        }
        self.put(
            keys::MIRROR_COMMENTS,
            &key,
            &MirrorCommentRef {
                link,
                flow,
                source_comments: Vec::new(),
            },
        )
    }

    /// Replaces the last seen fields/status/tags snapshot of a link and flow.
    pub fn set_snapshot(
        &self,
        link: u64,
        flow: Flow,
        snapshot: serde_json::Value,
    ) -> Result<(), StoreError> {
        self.existing_link(link)?;
        let key = keys::link_flow(link, flow);
        let mut mark = self.view().watermark(link, flow)?;
        mark.snapshot = Some(snapshot);
        mark.updated_at = Some(crate::clock::now());
        self.put(keys::WATERMARKS, &key, &mark)
    }

    /// Replaces a link's watermark in one flow as a whole (e.g. a resync resetting it).
    pub fn set_watermark(&self, link: u64, flow: Flow, mark: &Watermark) -> Result<(), StoreError> {
        self.existing_link(link)?;
        self.put(keys::WATERMARKS, &keys::link_flow(link, flow), mark)
    }
}

impl Store {
    /// See [`ReadView::mirrored_comment`].
    pub fn mirrored_comment(
        &self,
        link: u64,
        flow: Flow,
        source_comment: u64,
    ) -> Result<Option<CommentMapping>, StoreError> {
        self.view_op("get comment mapping", |v| {
            v.mirrored_comment(link, flow, source_comment)
        })
    }

    /// See [`ReadView::comment_mappings`].
    pub fn comment_mappings(
        &self,
        link: u64,
        flow: Flow,
    ) -> Result<Vec<CommentMapping>, StoreError> {
        self.view_op("list comment mappings", |v| v.comment_mappings(link, flow))
    }

    /// See [`ReadView::bridge_comment`].
    pub fn bridge_comment(
        &self,
        account: &str,
        comment: u64,
    ) -> Result<Option<MirrorCommentRef>, StoreError> {
        self.view_op("get bridge comment", |v| v.bridge_comment(account, comment))
    }

    /// See [`ReadView::is_bridge_comment`].
    pub fn is_bridge_comment(&self, account: &str, comment: u64) -> Result<bool, StoreError> {
        self.view_op("check bridge comment", |v| {
            v.is_bridge_comment(account, comment)
        })
    }

    /// See [`ReadView::pending_write`].
    pub fn pending_write(&self, link: u64, flow: Flow) -> Result<Option<PendingWrite>, StoreError> {
        self.view_op("get pending write", |v| v.pending_write(link, flow))
    }

    /// See [`ReadView::pending_writes`].
    pub fn pending_writes(&self) -> Result<Vec<PendingWrite>, StoreError> {
        self.view_op("list pending writes", |v| v.pending_writes())
    }

    /// See [`ReadView::watermark`].
    pub fn watermark(&self, link: u64, flow: Flow) -> Result<Watermark, StoreError> {
        self.view_op("get watermark", |v| v.watermark(link, flow))
    }

    /// See [`WriteTxn::record_pending_write`].
    pub fn record_pending_write(&self, write: &PendingWrite) -> Result<(), StoreError> {
        self.transaction_op("record pending write", |tx| tx.record_pending_write(write))
    }

    /// See [`WriteTxn::clear_pending_write`].
    pub fn clear_pending_write(&self, link: u64, flow: Flow) -> Result<bool, StoreError> {
        self.transaction_op("clear pending write", |tx| {
            tx.clear_pending_write(link, flow)
        })
    }

    /// See [`WriteTxn::commit_mirrored`].
    pub fn commit_mirrored(
        &self,
        link: u64,
        flow: Flow,
        source_comments: &[u64],
        mirror_comment: u64,
    ) -> Result<(), StoreError> {
        self.transaction_op("commit mirrored comment", |tx| {
            tx.commit_mirrored(link, flow, source_comments, mirror_comment)
        })
    }

    /// See [`WriteTxn::record_bridge_comment`].
    pub fn record_bridge_comment(
        &self,
        account: &str,
        comment: u64,
        link: u64,
        flow: Flow,
    ) -> Result<(), StoreError> {
        self.transaction_op("record bridge comment", |tx| {
            tx.record_bridge_comment(account, comment, link, flow)
        })
    }

    /// See [`WriteTxn::set_snapshot`].
    pub fn set_snapshot(
        &self,
        link: u64,
        flow: Flow,
        snapshot: serde_json::Value,
    ) -> Result<(), StoreError> {
        self.transaction_op("set snapshot", |tx| tx.set_snapshot(link, flow, snapshot))
    }

    /// See [`WriteTxn::set_watermark`].
    pub fn set_watermark(&self, link: u64, flow: Flow, mark: &Watermark) -> Result<(), StoreError> {
        self.transaction_op("set watermark", |tx| tx.set_watermark(link, flow, mark))
    }
}
