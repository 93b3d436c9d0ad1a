//! Tests of the store as a whole, through its public API (plus a few internals to
//! forge damaged or future files): round trips, persistence, damage, schema versions,
//! backup, concurrency, and property tests of the link indexes and the audit log.
//! Damage, schema versions, locking, backup, concurrency and crashes: `tests/durability.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::thread;

use jiff::Timestamp;
use proptest::prelude::*;
use tempfile::TempDir;

use super::schema::{Migration, Schema};
use super::*;

mod durability;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(1_790_000_000 + secs).unwrap()
}

fn temp() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sharebridge.redb");
    (dir, path)
}

fn new_link(account: &str, ticket: u64, agreement: &str) -> NewLink {
    NewLink {
        agreement: agreement.into(),
        source_account: account.into(),
        source_ticket: ticket,
        target_account: "vendor".into(),
        direction: Direction::OneWay,
        created_at: ts(0),
        untagged_share: false,
    }
}

fn audit(n: u64) -> NewAudit {
    NewAudit {
        at: ts(i64::try_from(n).unwrap()),
        kind: AuditKind::Share,
        subject: format!("link {n}"),
        detail: format!("shared #{n} as per test"),
    }
}

/// The indexes, recomputed from the links table, must equal the stored ones.
fn check_link_indexes(store: &Store) {
    store
        .view(|v| {
            let links = v.links()?;
            let mut by_source = BTreeMap::new();
            let mut by_target = BTreeMap::new();
            let mut by_state = BTreeSet::new();
            for l in &links {
                if l.state != LinkState::Orphaned {
                    let key = keys::link_source(&l.source_account, l.source_ticket, &l.agreement);
                    assert!(
                        by_source.insert(key, l.id).is_none(),
                        "two live links share a slot"
                    );
                }
                if let Some(t) = l.target_ticket {
                    by_target.insert(keys::link_target(&l.target_account, t), l.id);
                }
                by_state.insert(keys::link_state(l.state, l.id));
            }
            let stored_source: BTreeMap<_, _> = v
                .scan_all::<u64>(keys::LINKS_BY_SOURCE)?
                .into_iter()
                .collect();
            let stored_target: BTreeMap<_, _> = v
                .scan_all::<u64>(keys::LINKS_BY_TARGET)?
                .into_iter()
                .collect();
            let stored_state: BTreeSet<_> = v
                .scan_all::<serde_json::Value>(keys::LINKS_BY_STATE)?
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            assert_eq!(stored_source, by_source, "links_by_source");
            assert_eq!(stored_target, by_target, "links_by_target");
            assert_eq!(stored_state, by_state, "links_by_state");
            Ok(())
        })
        .unwrap();
}

#[test]
fn every_record_kind_round_trips() {
    let (_dir, path) = temp();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version(), SCHEMA_VERSION);

    // Agreements and history.
    let pending = AgreementRecord {
        state: AgreementState::Pending,
        since: ts(1),
        cause: "offered in sharebridge.toml".into(),
        from: "acme".into(),
        to: "vendor".into(),
        inactive_by: None,
    };
    let accepted = AgreementRecord {
        state: AgreementState::Accepted,
        since: ts(2),
        cause: "as per config conf.d/vendor.toml".into(),
        from: "acme".into(),
        to: "vendor".into(),
        inactive_by: None,
    };
    let t1 = store
        .set_agreement_state("acme-to-vendor", &pending)
        .unwrap()
        .unwrap();
    assert_eq!(t1.from, None);
    assert_eq!(
        store
            .set_agreement_state("acme-to-vendor", &pending)
            .unwrap(),
        None
    );
    let t2 = store
        .set_agreement_state("acme-to-vendor", &accepted)
        .unwrap()
        .unwrap();
    assert_eq!(
        (t2.from, t2.to),
        (Some(AgreementState::Pending), AgreementState::Accepted)
    );
    assert_eq!(
        store.agreement("acme-to-vendor").unwrap(),
        Some(accepted.clone())
    );
    assert_eq!(
        store.agreement_history("acme-to-vendor").unwrap(),
        vec![t1, t2]
    );
    assert_eq!(
        store.agreements().unwrap(),
        vec![("acme-to-vendor".into(), accepted)]
    );

    // Links and their lookups.
    let a = store
        .create_link(new_link("acme", 7, "acme-to-vendor"))
        .unwrap();
    assert!(a.created);
    assert_eq!(a.link.target_ticket, None);
    assert!(a.link.idempotency_key.contains("acme-to-vendor"));
    let l = store.set_mirror_ticket(a.link.id, 900).unwrap();
    assert_eq!(l.target_ticket, Some(900));
    let l = store.set_link_direction(l.id, Direction::TwoWay).unwrap();
    let l = store.mark_link_synced(l.id, ts(5)).unwrap();
    assert_eq!(store.link(l.id).unwrap(), Some(l.clone()));
    assert_eq!(
        store.link_by_source("acme", 7, "acme-to-vendor").unwrap(),
        Some(l.clone())
    );
    assert_eq!(
        store.link_by_target("vendor", 900).unwrap(),
        Some(l.clone())
    );
    assert_eq!(
        store.links_by_source_ticket("acme", 7).unwrap(),
        vec![l.clone()]
    );
    let e = store
        .set_link_state(l.id, LinkState::Error, Some("422 closed".into()))
        .unwrap();
    assert_eq!(
        store.links_in_state(LinkState::Error).unwrap(),
        vec![e.clone()]
    );
    assert!(store.links_in_state(LinkState::Active).unwrap().is_empty());
    let l = store.set_link_state(l.id, LinkState::Active, None).unwrap();
    assert_eq!(store.links().unwrap(), vec![l.clone()]);

    // Cursors and tokens.
    store.set_cursor("acme", "tickets", "c-1").unwrap();
    store.set_cursor("acme", "ticket_events", "c-2").unwrap();
    store.set_cursor("vendor", "tickets", "c-3").unwrap();
    assert_eq!(
        store.cursor("acme", "tickets").unwrap().as_deref(),
        Some("c-1")
    );
    assert_eq!(
        store.cursors("acme").unwrap(),
        vec![
            ("tickets".to_string(), "c-1".to_string()),
            ("ticket_events".to_string(), "c-2".to_string())
        ]
    );
    let tokens = OAuthTokens {
        access_token: "a".into(),
        refresh_token: "r".into(),
        expires_at: ts(3600),
        refresh_expires_at: Some(ts(7200)),
        issued_at: Some(ts(0)),
    };
    store.set_oauth_tokens("acme", &tokens).unwrap();
    assert_eq!(store.oauth_tokens("acme").unwrap(), Some(tokens));
    assert_eq!(store.oauth_tokens("vendor").unwrap(), None);

    // Watermarks.
    let snap = serde_json::json!({"status": "open", "tags": ["vendor_escalation"]});
    store
        .set_snapshot(l.id, Flow::SourceToTarget, snap.clone())
        .unwrap();
    assert_eq!(
        store
            .watermark(l.id, Flow::SourceToTarget)
            .unwrap()
            .snapshot,
        Some(snap)
    );
    assert_eq!(
        store.watermark(l.id, Flow::TargetToSource).unwrap(),
        Watermark::default()
    );

    // Audit.
    let first = store.append_audit(audit(1)).unwrap();
    let second = store.append_audit(audit(2)).unwrap();
    assert!(first.seq < second.seq);
    assert_eq!(store.audit_latest(1).unwrap(), vec![second.clone()]);
    assert_eq!(
        store.audit_all().unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(store.audit_after(first.seq, 10).unwrap(), vec![second]);

    // Orphans.
    let o = store
        .orphan_link(l.id, "unshare", "unshared by operator", ts(9))
        .unwrap();
    assert_eq!(o.target_ticket, Some(900));
    assert_eq!(store.orphans().unwrap(), vec![o.clone()]);
    assert_eq!(store.orphan(l.id).unwrap(), Some(o));
    assert_eq!(
        store.link(l.id).unwrap().unwrap().state,
        LinkState::Orphaned
    );
    check_link_indexes(&store);
}

#[test]
fn data_persists_across_reopen() {
    let (_dir, path) = temp();
    let id = {
        let store = Store::open(&path).unwrap();
        let id = store
            .create_link(new_link("acme", 1, "a2v"))
            .unwrap()
            .link
            .id;
        store.set_cursor("acme", "tickets", "c").unwrap();
        store
            .record_pending_write(&PendingWrite {
                link: id,
                flow: Flow::SourceToTarget,
                source_comments: vec![11, 12],
                marker: "sb:1:11".into(),
                created_at: ts(1),
                ahead: false,
                note: false,
                changes: None,
            })
            .unwrap();
        store.append_audit(audit(1)).unwrap();
        id
    };
    let store = Store::open_existing(&path).unwrap();
    assert_eq!(store.link(id).unwrap().unwrap().source_ticket, 1);
    assert_eq!(
        store.cursor("acme", "tickets").unwrap().as_deref(),
        Some("c")
    );
    let pending = store.pending_writes().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].source_comments, vec![11, 12]);
    assert_eq!(store.audit_all().unwrap().len(), 1);
    // Sequences continue after a restart: ids are never reused.
    let next = store
        .create_link(new_link("acme", 2, "a2v"))
        .unwrap()
        .link
        .id;
    assert!(next > id);
    assert_eq!(store.append_audit(audit(2)).unwrap().seq, 2);
}

#[test]
fn comment_map_coalesces_and_suppresses_echoes() {
    let (_dir, path) = temp();
    let store = Store::open(&path).unwrap();
    let link = store.create_link(new_link("acme", 7, "a2v")).unwrap().link;
    store.set_mirror_ticket(link.id, 500).unwrap();
    let write = PendingWrite {
        link: link.id,
        flow: Flow::SourceToTarget,
        source_comments: vec![101, 102, 103],
        marker: "sb-marker".into(),
        created_at: ts(1),
        ahead: false,
        note: false,
        changes: None,
    };
    store.record_pending_write(&write).unwrap();
    store.record_pending_write(&write).unwrap(); // the same again: no-op
    let other = PendingWrite {
        source_comments: vec![104],
        ..write.clone()
    };
    assert!(matches!(
        store.record_pending_write(&other),
        Err(StoreError::Conflict { .. })
    ));

    store
        .commit_mirrored(link.id, Flow::SourceToTarget, &[101, 102, 103], 9001)
        .unwrap();
    for source in [101, 102, 103] {
        let m = store
            .mirrored_comment(link.id, Flow::SourceToTarget, source)
            .unwrap()
            .unwrap();
        assert_eq!(m.mirror_comment, 9001);
    }
    assert_eq!(
        store
            .comment_mappings(link.id, Flow::SourceToTarget)
            .unwrap()
            .len(),
        3
    );
    assert!(
        store.pending_writes().unwrap().is_empty(),
        "intent cleared atomically"
    );
    assert!(store.is_bridge_comment("vendor", 9001).unwrap());
    assert!(
        !store.is_bridge_comment("acme", 9001).unwrap(),
        "per account"
    );
    assert_eq!(
        store
            .bridge_comment("vendor", 9001)
            .unwrap()
            .unwrap()
            .source_comments,
        vec![101, 102, 103]
    );
    assert_eq!(
        store
            .watermark(link.id, Flow::SourceToTarget)
            .unwrap()
            .last_source_comment,
        Some(103)
    );
    // Repeating the commit (a retry after a crash before the reply) is harmless.
    store
        .commit_mirrored(link.id, Flow::SourceToTarget, &[101, 102, 103], 9001)
        .unwrap();
    // Mapping an already mirrored comment elsewhere would duplicate it.
    assert!(matches!(
        store.commit_mirrored(link.id, Flow::SourceToTarget, &[102], 9002),
        Err(StoreError::Conflict { .. })
    ));
    // A pending write split over two mirror comments stays pending until both are in.
    let split = PendingWrite {
        source_comments: vec![104, 105],
        ..write.clone()
    };
    store.record_pending_write(&split).unwrap();
    store
        .commit_mirrored(link.id, Flow::SourceToTarget, &[104], 9003)
        .unwrap();
    assert_eq!(
        store
            .pending_write(link.id, Flow::SourceToTarget)
            .unwrap()
            .unwrap()
            .source_comments,
        vec![105]
    );
    store
        .commit_mirrored(link.id, Flow::SourceToTarget, &[105], 9004)
        .unwrap();
    assert!(store.pending_writes().unwrap().is_empty());
    // The reverse flow writes into the source account.
    store
        .commit_mirrored(link.id, Flow::TargetToSource, &[7001], 8001)
        .unwrap();
    assert!(store.is_bridge_comment("acme", 8001).unwrap());
    store
        .record_bridge_comment("vendor", 9100, link.id, Flow::SourceToTarget)
        .unwrap();
    assert!(store.is_bridge_comment("vendor", 9100).unwrap());
    // Unknown links are refused, not silently recorded.
    assert!(matches!(
        store.commit_mirrored(999, Flow::SourceToTarget, &[1], 2),
        Err(StoreError::UnknownLink { link: 999, .. })
    ));
}

#[test]
fn relink_reattaches_the_mirror_and_carries_the_watermarks() {
    let (_dir, path) = temp();
    let store = Store::open(&path).unwrap();
    let first = store.create_link(new_link("acme", 7, "a2v")).unwrap().link;
    store.set_mirror_ticket(first.id, 500).unwrap();
    store
        .commit_mirrored(first.id, Flow::SourceToTarget, &[11, 12], 901)
        .unwrap();
    assert!(
        matches!(
            store.relink(first.id, Direction::OneWay, ts(2), false),
            Err(StoreError::Conflict { .. })
        ),
        "a live link is not relinked"
    );
    store.orphan_link(first.id, "unshared", "", ts(3)).unwrap();
    let again = store
        .relink(first.id, Direction::TwoWay, ts(4), false)
        .unwrap();
    assert_ne!(again.id, first.id);
    assert_eq!(again.target_ticket, Some(500));
    assert_eq!(again.state, LinkState::Active);
    assert_eq!(again.direction, Direction::TwoWay);
    assert_eq!(
        store.link_by_target("vendor", 500).unwrap().unwrap().id,
        again.id
    );
    assert_eq!(
        store.link_by_source("acme", 7, "a2v").unwrap().unwrap().id,
        again.id
    );
    assert_eq!(
        store
            .watermark(again.id, Flow::SourceToTarget)
            .unwrap()
            .last_source_comment,
        Some(12)
    );
    assert!(
        store.orphan(first.id).unwrap().is_none(),
        "the orphan record is retired"
    );
    assert!(
        store.is_bridge_comment("vendor", 901).unwrap(),
        "bridge comments stay known"
    );
    assert_eq!(
        store
            .mirrored_comment(again.id, Flow::SourceToTarget, 12)
            .unwrap()
            .map(|m| m.mirror_comment),
        Some(901),
        "what was mirrored stays mirrored (also ahead of the watermark)"
    );
    assert!(
        matches!(
            store.relink(first.id, Direction::OneWay, ts(5), false),
            Err(StoreError::Conflict { .. })
        ),
        "the source is live again"
    );
    check_link_indexes(&store);
}

#[test]
fn orphaning_frees_the_source_slot_but_keeps_the_mirror() {
    let (_dir, path) = temp();
    let store = Store::open(&path).unwrap();
    let first = store.create_link(new_link("acme", 7, "a2v")).unwrap().link;
    store.set_mirror_ticket(first.id, 500).unwrap();
    let again = store.create_link(new_link("acme", 7, "a2v")).unwrap();
    assert!(!again.created);
    assert_eq!(again.link.id, first.id);
    // Fan-out: the same ticket under another agreement is another link.
    let fan = store.create_link(new_link("acme", 7, "a2c")).unwrap();
    assert!(fan.created);
    assert_eq!(store.links_by_source_ticket("acme", 7).unwrap().len(), 2);

    store
        .orphan_link(first.id, "tag removed", "vendor_escalation removed", ts(3))
        .unwrap();
    let o2 = store
        .orphan_link(first.id, "other", "other", ts(4))
        .unwrap();
    assert_eq!(
        o2.reason, "tag removed",
        "orphaning twice keeps the first record"
    );
    assert_eq!(store.link_by_source("acme", 7, "a2v").unwrap(), None);
    assert_eq!(
        store.link_by_target("vendor", 500).unwrap().unwrap().id,
        first.id
    );
    assert!(matches!(
        store.set_link_state(first.id, LinkState::Active, None),
        Err(StoreError::Conflict { .. })
    ));
    let reshared = store.create_link(new_link("acme", 7, "a2v")).unwrap();
    assert!(reshared.created);
    assert_ne!(reshared.link.id, first.id);
    // The old mirror ticket cannot be claimed by the new link.
    assert!(matches!(
        store.set_mirror_ticket(reshared.link.id, 500),
        Err(StoreError::Conflict { .. })
    ));
    // Identity cannot change.
    assert!(matches!(
        store.update_link(reshared.link.id, |l| l.source_ticket = 8),
        Err(StoreError::Conflict { .. })
    ));
    check_link_indexes(&store);
}

#[test]
fn a_failed_transaction_keeps_nothing() {
    let (_dir, path) = temp();
    let store = Store::open(&path).unwrap();
    let r: Result<(), StoreError> = store.transaction(|tx| {
        let link = tx.create_link(new_link("acme", 1, "a2v"))?;
        tx.append_audit(audit(1))?;
        tx.set_mirror_ticket(link.link.id + 100, 5)?; // unknown link: fails
        Ok(())
    });
    assert!(matches!(r, Err(StoreError::UnknownLink { .. })));
    assert!(store.links().unwrap().is_empty());
    assert!(store.audit_all().unwrap().is_empty());
    // A successful one keeps both, and the link ids did not advance for the failure.
    let link = store
        .transaction(|tx| {
            let l = tx.create_link(new_link("acme", 1, "a2v"))?;
            tx.append_audit(audit(1))?;
            Ok(l.link)
        })
        .unwrap();
    assert_eq!(link.id, 1);
    assert_eq!(store.audit_all().unwrap().len(), 1);
}

#[test]
fn orphans_found_without_a_link_are_adopted() {
    let (_dir, path) = temp();
    let store = Store::open(&path).unwrap();
    let live = store.create_link(new_link("acme", 7, "a2v")).unwrap().link;
    store.set_mirror_ticket(live.id, 500).unwrap();
    // A stray mirror of the same source ticket: a new orphaned link, the live one kept.
    let stray = store
        .adopt_orphan(
            new_link("acme", 7, "a2v"),
            600,
            "sweep",
            "no live link",
            ts(1),
        )
        .unwrap();
    assert_ne!(stray.link, live.id);
    assert_eq!(stray.target_ticket, Some(600));
    assert_eq!(
        store.link_by_source("acme", 7, "a2v").unwrap().unwrap().id,
        live.id
    );
    assert_eq!(
        store.link_by_target("vendor", 600).unwrap().unwrap().id,
        stray.link
    );
    // Found again: the same record, no new link.
    let again = store
        .adopt_orphan(new_link("acme", 7, "a2v"), 600, "sweep", "again", ts(2))
        .unwrap();
    assert_eq!(again, stray);
    // A mirror that belongs to a live link: that link is orphaned.
    let o = store
        .adopt_orphan(new_link("acme", 7, "a2v"), 500, "mirror closed", "", ts(3))
        .unwrap();
    assert_eq!(o.link, live.id);
    assert_eq!(
        store.link_counts().unwrap(),
        LinkCounts {
            active: 0,
            orphaned: 2,
            error: 0
        }
    );
    assert_eq!(store.orphans().unwrap().len(), 2);
    check_link_indexes(&store);
}

#[test]
fn links_are_walked_page_by_page_in_id_order() {
    let (_dir, path) = temp();
    let store = Store::open(&path).unwrap();
    // More than two pages, one of them orphaned.
    let n = 1_100;
    store
        .transaction(|tx| {
            for t in 0..n {
                tx.create_link(new_link("acme", t, "a2v"))?;
            }
            Ok(())
        })
        .unwrap();
    let first = store.link_by_source("acme", 3, "a2v").unwrap().unwrap();
    store
        .adopt_orphan(new_link("acme", 3, "a2v"), 900, "test", "", ts(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut seen = Vec::new();
    store
        .for_each_link(|l| {
            seen.push(l.id);
            Ok(())
        })
        .unwrap();
    let all: Vec<u64> = store.links().unwrap().iter().map(|l| l.id).collect();
    assert_eq!(seen, all);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    // Paging by hand gives the same walk, and nothing after the last.
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = store.links_after(after, 300).unwrap();
        let Some(last) = page.last() else { break };
        assert!(page.len() <= 300);
        after = last.id;
        paged.extend(page.iter().map(|l| l.id));
    }
    assert_eq!(paged, all);
    assert!(
        store
            .links_after(*all.last().unwrap(), 10)
            .unwrap()
            .is_empty()
    );
    // The counts come from the state index without reading a link.
    let counts = store.link_counts().unwrap();
    assert_eq!(
        counts.active + counts.orphaned + counts.error,
        all.len() as u64
    );
    assert_eq!(store.link(first.id).unwrap().unwrap().id, first.id);
}

#[test]
fn a_write_ahead_of_the_watermark_is_recorded_but_does_not_move_it() {
    let (_dir, path) = temp();
    let store = Store::open(&path).unwrap();
    let link = store.create_link(new_link("acme", 1, "a2v")).unwrap().link;
    store.set_mirror_ticket(link.id, 500).unwrap();
    store
        .commit_mirrored(link.id, Flow::SourceToTarget, &[10], 9001)
        .unwrap();
    let write = |sources: Vec<u64>, ahead| PendingWrite {
        link: link.id,
        flow: Flow::SourceToTarget,
        source_comments: sources,
        marker: "m".into(),
        created_at: ts(1),
        ahead,
        note: false,
        changes: None,
    };
    store.record_pending_write(&write(vec![30], true)).unwrap();
    store
        .commit_mirrored(link.id, Flow::SourceToTarget, &[30], 9002)
        .unwrap();
    let mark = store.watermark(link.id, Flow::SourceToTarget).unwrap();
    assert_eq!(mark.last_source_comment, Some(10));
    assert!(
        store
            .mirrored_comment(link.id, Flow::SourceToTarget, 30)
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .pending_write(link.id, Flow::SourceToTarget)
            .unwrap()
            .is_none()
    );
    // A write in order moves it as always.
    store.record_pending_write(&write(vec![40], false)).unwrap();
    store
        .commit_mirrored(link.id, Flow::SourceToTarget, &[40], 9003)
        .unwrap();
    let mark = store.watermark(link.id, Flow::SourceToTarget).unwrap();
    assert_eq!(mark.last_source_comment, Some(40));
}

#[derive(Clone, Debug)]
enum Op {
    Adopt {
        account: u8,
        ticket: u8,
        mirror: u8,
    },
    Create {
        account: u8,
        ticket: u8,
        agreement: u8,
    },
    Mirror {
        link: u8,
        ticket: u8,
    },
    Error {
        link: u8,
    },
    Orphan {
        link: u8,
    },
    Relink {
        link: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..2u8, 0..4u8, 0..2u8).prop_map(|(account, ticket, agreement)| Op::Create { account, ticket, agreement }),
        2 => (0..12u8, 0..6u8).prop_map(|(link, ticket)| Op::Mirror { link, ticket }),
        1 => (0..12u8).prop_map(|link| Op::Error { link }),
        1 => (0..12u8).prop_map(|link| Op::Orphan { link }),
        1 => (0..12u8).prop_map(|link| Op::Relink { link }),
        1 => (0..2u8, 0..4u8, 0..6u8).prop_map(|(account, ticket, mirror)| Op::Adopt { account, ticket, mirror }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Whatever sequence of operations runs (some failing on purpose), the indexes
    /// always agree with the links, and no slot holds two live links.
    #[test]
    fn link_indexes_stay_consistent(ops in proptest::collection::vec(op(), 1..25)) {
        let (_dir, path) = temp();
        let store = Store::open(&path).unwrap();
        for op in ops {
            let _ = match op {
                Op::Create { account, ticket, agreement } => store
                    .create_link(new_link(&format!("acc{account}"), u64::from(ticket), &format!("ag{agreement}")))
                    .map(drop),
                Op::Mirror { link, ticket } => store.set_mirror_ticket(u64::from(link), u64::from(ticket)).map(drop),
                Op::Error { link } => store.set_link_state(u64::from(link), LinkState::Error, Some("e".into())).map(drop),
                Op::Orphan { link } => store.orphan_link(u64::from(link), "test", "", ts(0)).map(drop),
                Op::Relink { link } => store.relink(u64::from(link), Direction::OneWay, ts(0), false).map(drop),
                Op::Adopt { account, ticket, mirror } => store
                    .adopt_orphan(new_link(&format!("acc{account}"), u64::from(ticket), "ag0"), u64::from(mirror), "sweep", "", ts(0))
                    .map(drop),
            };
        }
        check_link_indexes(&store);
    }

    /// The audit log lists entries in append order; the newest-first view is its
    /// reverse, cut at the limit.
    #[test]
    fn audit_log_order(n in 0usize..40, limit in 0usize..50) {
        let (_dir, path) = temp();
        let store = Store::open(&path).unwrap();
        store.transaction(|tx| {
            for i in 0..n {
                tx.append_audit(audit(u64::try_from(i).unwrap()))?;
            }
            Ok(())
        }).unwrap();
        let all = store.audit_all().unwrap();
        prop_assert_eq!(all.len(), n);
        prop_assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
        let latest = store.audit_latest(limit).unwrap();
        let expected: Vec<_> = all.iter().rev().take(limit).cloned().collect();
        prop_assert_eq!(latest, expected);
    }
}
