//! The store on a real PostgreSQL (the tests' own server, see
//! `tests/common/postgres.rs`): the facade behaves as on the file — round trips, order,
//! all-or-nothing transactions, one writer at a time, schema versions and migrations,
//! backups — plus the lease, the fence and the relay queues.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use jiff::Timestamp;

use crate::store::engine::Mode;
use crate::store::schema::{Migration, Schema};
use crate::store::*;

#[path = "../../../tests/common/postgres.rs"]
mod server;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(1_790_000_000 + secs).unwrap()
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

fn fresh() -> (String, Store) {
    let url = server::fresh_database();
    let store = Store::open_postgres(&url, None).unwrap();
    (url, store)
}

/// Fills a store with a bit of everything.
fn fill(store: &Store) -> Vec<u64> {
    let mut ids = Vec::new();
    for t in 0..30 {
        let l = store.create_link(new_link("acme", t, "a2v")).unwrap().link;
        store.set_mirror_ticket(l.id, 1000 + t).unwrap();
        ids.push(l.id);
    }
    let write = PendingWrite {
        link: ids[0],
        flow: Flow::SourceToTarget,
        source_comments: vec![1, 2],
        marker: "m".into(),
        created_at: ts(1),
        ahead: false,
        note: false,
        changes: None,
    };
    store.record_pending_write(&write).unwrap();
    store
        .commit_mirrored(ids[0], Flow::SourceToTarget, &[1, 2], 77)
        .unwrap();
    for n in 1..=25 {
        store.append_audit(audit(n)).unwrap();
    }
    store.set_cursor("acme", "events", "cursor-1").unwrap();
    ids
}

#[test]
fn records_round_trip_in_key_order() {
    let (url, store) = fresh();
    let ids = fill(&store);
    assert_eq!(store.links().unwrap().len(), 30);
    // Pages come back in id order, as on the file.
    let page = store.links_after(ids[9], 5).unwrap();
    assert_eq!(
        page.iter().map(|l| l.id).collect::<Vec<_>>(),
        ids[10..15].to_vec()
    );
    // Reverse scans: the newest audit entries first, then in order.
    let latest = store.audit_latest(3).unwrap();
    assert_eq!(
        latest.iter().map(|a| a.seq).collect::<Vec<_>>(),
        vec![25, 24, 23]
    );
    assert_eq!(
        store
            .comment_mappings(ids[0], Flow::SourceToTarget)
            .unwrap()
            .len(),
        2
    );
    assert!(store.is_bridge_comment("vendor", 77).unwrap());
    assert!(store.pending_writes().unwrap().is_empty());
    assert_eq!(
        store.link_by_target("vendor", 1003).unwrap().map(|l| l.id),
        Some(ids[3])
    );
    // Another handle (another daemon) sees the same.
    drop(store);
    let again = Store::open_postgres(&url, None).unwrap();
    assert_eq!(again.links().unwrap().len(), 30);
    assert_eq!(
        again.cursor("acme", "events").unwrap().as_deref(),
        Some("cursor-1")
    );
    assert_eq!(again.schema_version(), SCHEMA_VERSION);
    again.close().unwrap();
}

#[test]
fn a_failed_transaction_keeps_nothing() {
    let (_url, store) = fresh();
    let err = store.transaction(|tx| {
        tx.create_link(new_link("acme", 1, "a2v"))?;
        tx.append_audit(audit(1))?;
        Err::<(), _>(StoreError::Conflict {
            path: "x".into(),
            op: "test",
            detail: "abort".into(),
        })
    });
    assert!(err.is_err());
    assert!(store.links().unwrap().is_empty());
    assert!(store.audit_all().unwrap().is_empty());
    // And the next transaction works.
    store.create_link(new_link("acme", 1, "a2v")).unwrap();
    assert_eq!(store.links().unwrap().len(), 1);
}

#[test]
fn writers_are_serialised_across_handles() {
    // Two handles are two daemons: every link slot still gets one link, and sequences
    // never hand a number out twice.
    let (url, a) = fresh();
    let b = Store::open_postgres(&url, None).unwrap();
    let threads = 6;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = if t % 2 == 0 { a.clone() } else { b.clone() };
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                let mut out = Vec::new();
                for ticket in 0..4 {
                    out.push(store.create_link(new_link("acme", ticket, "a2v")).unwrap());
                    out.push(
                        store
                            .create_link(new_link("acme", 100 + t as u64, "a2v"))
                            .unwrap(),
                    );
                    store.append_audit(audit(1)).unwrap();
                }
                out
            })
        })
        .collect();
    let results: Vec<LinkAllocation> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let mut by_ticket: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for r in &results {
        by_ticket
            .entry(r.link.source_ticket)
            .or_default()
            .insert(r.link.id);
    }
    assert!(
        by_ticket.values().all(|ids| ids.len() == 1),
        "{by_ticket:?}"
    );
    assert_eq!(results.iter().filter(|r| r.created).count(), 4 + threads);
    let seqs: BTreeSet<u64> = a.audit_all().unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs.len(), 4 * threads, "audit sequence numbers are unique");
}

#[test]
fn a_view_is_one_snapshot() {
    let (_url, store) = fresh();
    let writer = {
        let store = store.clone();
        thread::spawn(move || {
            for i in 0..40 {
                store
                    .transaction(|tx| {
                        tx.create_link(new_link("acme", i, "a2v"))?;
                        tx.append_audit(audit(i + 1))?;
                        Ok(())
                    })
                    .unwrap();
            }
        })
    };
    let mut last = 0;
    loop {
        let (links, entries) = store
            .view(|v| {
                let l = v.links()?.len();
                thread::sleep(Duration::from_millis(2));
                Ok((l, v.audit_all()?.len()))
            })
            .unwrap();
        assert_eq!(links, entries, "links and audit agree within one view");
        assert!(links >= last);
        last = links;
        if links == 40 {
            break;
        }
    }
    writer.join().unwrap();
}

fn add_marker(tx: &WriteTxn<'_>) -> Result<(), StoreError> {
    tx.set_cursor("migration", "v1-to-v2", "ran")
}

static TEST_MIGRATIONS: &[Migration] = &[Migration {
    from: 1,
    name: "test: add a marker cursor",
    run: add_marker,
}];

#[test]
fn schema_versions_and_migrations_as_on_the_file() {
    let (url, store) = fresh();
    let id = store
        .create_link(new_link("acme", 1, "a2v"))
        .unwrap()
        .link
        .id;
    drop(store);
    let v2 = Schema {
        version: 2,
        migrations: TEST_MIGRATIONS,
    };
    {
        let store = Store::open_postgres_with(&url, None, Mode::Existing, &v2).unwrap();
        assert_eq!(store.schema_version(), 2);
        assert_eq!(
            store.cursor("migration", "v1-to-v2").unwrap().as_deref(),
            Some("ran")
        );
        assert!(store.link(id).unwrap().is_some());
        store.set_cursor("migration", "v1-to-v2", "seen").unwrap();
    }
    // The store as it was is kept in a table beside it.
    let kept = server::server().psql(
        &url,
        "SELECT count(*) FROM sharebridge_kv_schema_v1_bak WHERE tbl = 'links'",
    );
    assert_eq!(kept, "1");
    {
        let store = Store::open_postgres_with(&url, None, Mode::Existing, &v2).unwrap();
        assert_eq!(
            store.cursor("migration", "v1-to-v2").unwrap().as_deref(),
            Some("seen"),
            "a migration runs once"
        );
    }
    let err = Store::open_postgres(&url, None).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NewerSchema {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("postgres://"), "{err}");
}

#[test]
fn missing_tables_and_bad_urls_are_clear_errors() {
    let url = server::fresh_database();
    let err = Store::open_postgres_read_only(&url, None).unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err}");
    let err = Store::open_postgres("postgres://nobody:secret@127.0.0.1:1/x", None).unwrap_err();
    let msg = err.to_string();
    assert!(
        !msg.contains("secret"),
        "the password is never shown: {msg}"
    );
    assert!(msg.contains("127.0.0.1:1"), "{msg}");
    let ro = {
        Store::open_postgres(&url, None).unwrap();
        Store::open_postgres_read_only(&url, None).unwrap()
    };
    assert!(matches!(
        ro.create_link(new_link("acme", 1, "a")),
        Err(StoreError::ReadOnly { .. })
    ));
}

#[test]
fn backups_and_copies_between_engines_match() {
    let (url, pg) = fresh();
    fill(&pg);
    let dir = tempfile::tempdir().unwrap();
    // A backup of a PostgreSQL store is a file store.
    let file = dir.path().join("backup.redb");
    pg.backup(&file).unwrap();
    let from_backup = Store::open_existing(&file).unwrap();
    assert_eq!(from_backup.checksums().unwrap(), pg.checksums().unwrap());
    // File → PostgreSQL → file again, verified each way.
    let url2 = server::fresh_database();
    let pg2 = Store::open_postgres(&url2, None).unwrap();
    let report = from_backup.copy_to(&pg2).unwrap();
    assert_eq!(
        report.entries,
        pg.checksums()
            .unwrap()
            .iter()
            .map(|t| t.entries)
            .sum::<u64>()
    );
    assert_eq!(pg2.links().unwrap(), pg.links().unwrap());
    let back = Store::open(dir.path().join("back.redb")).unwrap();
    let again = pg2.copy_to(&back).unwrap();
    assert_eq!(again.checksum, report.checksum);
    // A target that holds data is refused.
    let err = pg.copy_to(&back).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    drop(url);
}

#[test]
fn one_leader_and_its_fence() {
    let (url, a) = fresh();
    let b = Store::open_postgres(&url, None).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let la = a.lead("a").unwrap();
        let mut ra = la.role();
        let fence = loop {
            if let Role::Leader { fence, .. } = &*ra.borrow_and_update() {
                break fence.clone();
            }
            ra.changed().await.unwrap();
        };
        let lb = b.lead("b").unwrap();
        let mut rb = lb.role();
        // b sees a lead, and does not take over while a renews.
        tokio::time::sleep(Duration::from_secs(2)).await;
        match &*rb.borrow_and_update() {
            Role::Follower { leader: Some(r) } => {
                assert_eq!(r.holder.as_deref(), Some("a"));
                assert!(r.live);
            }
            other => panic!("b should follow a: {other:?}"),
        }
        let leader_store = a.fenced(fence.clone());
        leader_store
            .create_link(new_link("acme", 1, "a2v"))
            .unwrap();
        assert!(fence.send_window().is_some());
        // A follower's handle refuses writes before they reach the database.
        assert!(matches!(
            b.reader().create_link(new_link("acme", 2, "a2v")),
            Err(StoreError::NotLeader { .. })
        ));
        // a steps down: b takes over within a poll, and a's fenced writes fail.
        la.step_down().await;
        let started = std::time::Instant::now();
        let record = loop {
            if let Role::Leader { record, .. } = &*rb.borrow_and_update() {
                break record.clone();
            }
            tokio::time::timeout(Duration::from_secs(10), rb.changed())
                .await
                .expect("b takes over within 10 s")
                .unwrap();
        };
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(record.holder.as_deref(), Some("b"));
        assert_eq!(record.previous.as_deref(), Some("a"));
        assert_eq!(record.handovers, 1);
        assert!(fence.send_window().is_none(), "a may not send any more");
        let err = leader_store
            .create_link(new_link("acme", 3, "a2v"))
            .unwrap_err();
        assert!(matches!(err, StoreError::NotLeader { .. }), "{err}");
        lb.step_down().await;
    });
}

#[test]
fn a_dead_leaders_session_hands_over_at_once() {
    // The leader's process dies (its connections close): the follower does not wait for
    // the lease to run out.
    let (url, b) = fresh();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        {
            let a = Store::open_postgres(&url, None).unwrap();
            let la = a.lead("a").unwrap();
            let mut ra = la.role();
            while !ra.borrow_and_update().is_leader() {
                ra.changed().await.unwrap();
            }
            // Dropping the store stops its worker and closes its connections, without
            // giving the lease up: as a kill would.
            std::mem::forget(la);
            drop(a);
        }
        let lb = b.lead("b").unwrap();
        let mut rb = lb.role();
        let started = std::time::Instant::now();
        while !rb.borrow_and_update().is_leader() {
            tokio::time::timeout(Duration::from_secs(10), rb.changed())
                .await
                .expect("b takes over within 10 s")
                .unwrap();
        }
        assert!(
            started.elapsed() < crate::store::cluster::LEASE_TTL,
            "took over before the lease ran out ({:?})",
            started.elapsed()
        );
        lb.step_down().await;
    });
}

#[test]
fn hints_and_commands_reach_the_leader() {
    let (_url, store) = fresh();
    store
        .push_hints(&[("acme".into(), 5), ("acme".into(), 5), ("vendor".into(), 9)])
        .unwrap();
    store.push_hints(&[("acme".into(), 5)]).unwrap();
    let mut hints = store.take_hints().unwrap();
    hints.sort();
    assert_eq!(hints, vec![("acme".into(), 5), ("vendor".into(), 9)]);
    assert!(store.take_hints().unwrap().is_empty());

    let id = store
        .queue_command("share", "{\"x\":1}", "follower")
        .unwrap();
    let cancelled = store.queue_command("share", "{}", "follower").unwrap();
    assert!(store.cancel_command(cancelled).unwrap());
    let taken = store.take_command("leader").unwrap().unwrap();
    assert_eq!((taken.id, taken.kind.as_str()), (id, "share"));
    assert!(!store.cancel_command(id).unwrap(), "a taken command stays");
    assert!(store.take_command("leader").unwrap().is_none());
    assert_eq!(store.command_result(id).unwrap(), None);
    // Its leader died before answering: the next one takes it again.
    assert_eq!(store.requeue_unfinished_commands().unwrap(), 1);
    let again = store.take_command("leader2").unwrap().unwrap();
    store
        .finish_command(again.id, 200, "{\"ok\":true}")
        .unwrap();
    assert_eq!(
        store.command_result(id).unwrap(),
        Some((200, "{\"ok\":true}".into()))
    );
}

#[test]
fn urls_are_shown_without_passwords() {
    use super::shown;
    assert_eq!(
        shown("postgres://bridge:s3cret@db:5432/sb?sslmode=require"),
        "postgres://bridge:***@db:5432/sb?sslmode=require"
    );
    assert_eq!(shown("postgres://bridge@db/sb"), "postgres://bridge@db/sb");
    assert_eq!(
        shown("postgresql://db/sb?user=u&password=p"),
        "postgresql://db/sb?user=u&password=***"
    );
    assert_eq!(
        shown("host=db user=u password=p dbname=sb"),
        "host=db user=u password=*** dbname=sb"
    );
}
