//! The status page's visibility column: who can see each agreement's mirrors and each
//! listed link's mirror ("seen by N people" and the first warning), read in the
//! background and kept here, so the page renders at once and never waits on Zendesk.
//!
//! A refresh starts when the page is shown and what is kept is older than
//! [`MAX_AGE`] (or absent), at most one at a time; nothing is read while nobody looks
//! (so the bench and tests that never open the page spend no request on it). One refresh
//! reads each receiving account once ([`super::directory::read_receiver`]) and the
//! listed links' mirrors in `show_many` batches of 100.
//!
//! Must not: write to Zendesk or the store; keep anything but counts, ids and the
//! warnings' sentences.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::Timestamp;

use crate::engine::Engine;
use crate::store::{Link, LinkState};
use crate::visibility::{self, MirrorView, View};

use super::directory::{self, Receiver};
use super::gather::Sources;

/// What is kept is refreshed when older than this.
pub const MAX_AGE: Duration = Duration::from_secs(300);
/// Links whose mirrors are read per refresh (the page lists at most this many).
pub const MAX_LINKS: usize = crate::server::status::MAX_ROWS;

/// One cell of the column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// How many people see the mirror, and the first warning.
    Seen {
        seen_by: usize,
        warning: Option<String>,
    },
    /// The link's mirror was not found in the receiver.
    Missing,
}

impl Cell {
    fn of(view: &View) -> Cell {
        Cell::Seen {
            seen_by: view.seen_by,
            warning: view.warnings.first().map(|w| w.message.clone()),
        }
    }
}

/// The cached column, as the page renders it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// When the last refresh finished; `None` before the first.
    pub refreshed_at: Option<Timestamp>,
    /// Agreement name → who would see a mirror it creates.
    pub agreements: BTreeMap<String, Cell>,
    /// Link id → who sees its mirror as it is.
    pub links: BTreeMap<u64, Cell>,
    /// What the last refresh could not read.
    pub problems: Vec<String>,
}

/// The kept column and whether a refresh is under way.
#[derive(Debug, Default)]
pub struct VisibilityCache {
    snapshot: Mutex<Snapshot>,
    refreshing: AtomicBool,
}

impl VisibilityCache {
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether a refresh is under way.
    pub fn refreshing(&self) -> bool {
        self.refreshing.load(Ordering::Acquire)
    }

    /// Starts a background refresh when what is kept is older than [`MAX_AGE`] and none
    /// is under way; returns at once.
    pub fn refresh_if_stale(self: &std::sync::Arc<Self>, engine: &Engine, now: Timestamp) {
        let fresh = self
            .snapshot()
            .refreshed_at
            .is_some_and(|t| now.duration_since(t).unsigned_abs() < MAX_AGE);
        if fresh || self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let cache = self.clone();
        let engine = engine.clone();
        crate::tasks::spawn(async move {
            // Cleared however the task ends (a panic, an abort at a simulated crash), so
            // a later view starts the next refresh instead of "reading…" for ever.
            let _done = Done(&cache.refreshing);
            let snapshot = refresh(&engine).await;
            *cache.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = snapshot;
        });
    }
}

/// Clears the "refresh under way" flag when dropped.
struct Done<'a>(&'a AtomicBool);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The links the page lists, in its order (errors, active, orphaned; newest first).
pub fn listed(links: &[Link]) -> Vec<&Link> {
    let mut rows: Vec<&Link> = links.iter().collect();
    rows.sort_by_key(|l| {
        let rank = match l.state {
            LinkState::Error => 0,
            LinkState::Active => 1,
            LinkState::Orphaned => 2,
        };
        (rank, std::cmp::Reverse(l.id))
    });
    rows.truncate(MAX_LINKS);
    rows
}

/// One refresh: every receiving account read once, then each agreement's placement and
/// each listed link's mirror judged.
pub async fn refresh(engine: &Engine) -> Snapshot {
    let sources = Sources::from_engine(engine);
    let mut snap = Snapshot::default();
    let links = match sources.store.links() {
        Ok(l) => l,
        Err(e) => {
            snap.problems.push(format!("links could not be read: {e}"));
            Vec::new()
        }
    };
    let rows = listed(&links);
    let receivers: BTreeSet<&str> = sources
        .config
        .agreements
        .iter()
        .map(|a| a.to.as_str())
        .chain(rows.iter().map(|l| l.target_account.as_str()))
        .collect();
    let mut read: BTreeMap<String, Receiver> = BTreeMap::new();
    for account in receivers {
        let Some(side) = sources.sides.get(account) else {
            continue;
        };
        match directory::read_receiver(&side.client, side.bridge_user).await {
            Ok(r) => {
                read.insert(account.to_owned(), r);
            }
            Err(e) => snap
                .problems
                .push(format!("visibility in {account} could not be read: {e}")),
        }
    }
    for a in &sources.config.agreements {
        if let Some(r) = read.get(&a.to) {
            let target = super::Target {
                brand_id: a.target.brand_id.or(r.default_brand),
                group_id: a.target.group_id,
            };
            let mirror = directory::planned_mirror(r, target);
            let report = visibility::report(&r.directory, &mirror);
            let view = View::new(
                &a.name,
                &a.to,
                MirrorView::new(&mirror, None, true),
                &report,
                Vec::new(),
            );
            snap.agreements.insert(a.name.clone(), Cell::of(&view));
        }
    }
    let mut by_account: BTreeMap<&str, Vec<(u64, u64, &str)>> = BTreeMap::new();
    for l in &rows {
        if let Some(t) = l.target_ticket {
            by_account
                .entry(l.target_account.as_str())
                .or_default()
                .push((l.id, t, l.agreement.as_str()));
        }
    }
    for (account, mirrors) in by_account {
        let (Some(side), Some(r)) = (sources.sides.get(account), read.get(account)) else {
            continue;
        };
        for chunk in mirrors.chunks(100) {
            let ids: Vec<u64> = chunk.iter().map(|(_, t, _)| *t).collect();
            let tickets = match side.client.show_many_tickets(&ids).await {
                Ok(t) => t,
                Err(e) => {
                    snap.problems
                        .push(format!("mirrors in {account} could not be read: {e}"));
                    continue;
                }
            };
            for (link, ticket, agreement) in chunk {
                let cell = match tickets.iter().find(|t| t.id == *ticket) {
                    Some(t) => {
                        let mirror = directory::mirror_of(t);
                        let report = visibility::report(&r.directory, &mirror);
                        Cell::of(&View::new(
                            agreement,
                            account,
                            MirrorView::new(&mirror, Some(*ticket), false),
                            &report,
                            Vec::new(),
                        ))
                    }
                    None => Cell::Missing,
                };
                snap.links.insert(*link, cell);
            }
        }
    }
    snap.refreshed_at = Some(crate::clock::now());
    snap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_clears_even_when_a_refresh_panics() {
        let flag = AtomicBool::new(true);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _done = Done(&flag);
            panic!("a refresh that fails");
        }));
        assert!(r.is_err());
        assert!(!flag.load(Ordering::Acquire));
    }

    #[test]
    fn listed_links_are_errors_first_newest_first() {
        let now = crate::clock::now();
        let link = |id, state| Link {
            id,
            agreement: "a".into(),
            source_account: "acme".into(),
            source_ticket: id,
            target_account: "vendor".into(),
            target_ticket: Some(id + 1000),
            direction: crate::link::Direction::OneWay,
            state,
            error: None,
            created_at: now,
            updated_at: now,
            last_synced_at: None,
            idempotency_key: format!("k{id}"),
            mismatches: Vec::new(),
            untagged_share: false,
        };
        let links = [
            link(1, LinkState::Active),
            link(2, LinkState::Orphaned),
            link(3, LinkState::Error),
            link(4, LinkState::Active),
        ];
        let ids: Vec<u64> = listed(&links).iter().map(|l| l.id).collect();
        assert_eq!(ids, [3, 4, 1, 2]);
    }
}
