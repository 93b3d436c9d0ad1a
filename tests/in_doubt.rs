//! A write whose answer was lost is matched by the marker it carries and decided only once
//! it can no longer land (issue #12, case 3); two links writing to one receiving ticket
//! never take each other's writes for their own.

mod common;

use common::{AGENT_A, Setup, simulator_of, world, world_with};
use sharebridge::link::Flow;
use sharebridge::sim::{FaultKind, FaultSettings};
use sharebridge::store::PendingWrite;
use sharebridge::zendesk::models::{NewComment, TicketWrite};

fn count(bodies: &[(String, bool)], text: &str) -> usize {
    bodies.iter().filter(|(b, _)| b.contains(text)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_lands_after_its_answer_timed_out_is_not_sent_again() {
    let w = world(Setup::default()).await;
    let (t, m) = w.shared_ticket("late").await;
    // vendor's next write gets no answer and lands 800 ms later (the world decides a write
    // in doubt after in_doubt_wait = 2s).
    w.sim.set_late_apply_ms(800);
    w.sim.set_faults(
        Some("vendor"),
        FaultSettings {
            rate: 1.0,
            kinds: vec![FaultKind::LateApply],
            latency_ms: 0,
        },
    );
    w.sim.reset_stats("vendor");
    w.sim
        .add_comment("acme", t, AGENT_A, "landed late", true)
        .unwrap();
    w.hints.push("acme", t);
    common::wait_for(|| common::requests_to(&w.sim, "vendor", "PUT /api/v2/tickets/{id}") > 0)
        .await;
    w.sim.set_faults(Some("vendor"), FaultSettings::default());
    w.settle().await;
    let bodies = w.bodies("vendor", m);
    assert_eq!(count(&bodies, "landed late"), 1, "{bodies:?}");
    let link = w.link_of(t);
    let store = w.engine().store();
    assert!(store.pending_writes().unwrap().is_empty());
    let c = w.sim.comments("acme", t).pop().unwrap();
    assert!(
        store
            .mirrored_comment(link.id, Flow::SourceToTarget, c.id)
            .unwrap()
            .is_some()
    );
    // And the next comment crosses normally, once.
    w.sim
        .add_comment("acme", t, AGENT_A, "then on time", true)
        .unwrap();
    w.poke("acme", t).await;
    let bodies = w.bodies("vendor", m);
    assert_eq!(count(&bodies, "landed late"), 1, "{bodies:?}");
    assert_eq!(count(&bodies, "then on time"), 1, "{bodies:?}");
    w.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_links_writing_to_one_ticket_never_claim_each_others_writes() {
    let sim = simulator_of(&["acme", "vendor", "delta"]).await;
    let text = common::two_links_into_one_ticket(&sim);
    let mut w = world_with(sim, &text).await;
    let t = w
        .sim
        .create_ticket(
            "acme",
            AGENT_A,
            &common::new_ticket("Two mirrors", "first", &["escalate"]),
        )
        .unwrap()
        .id;
    w.poke("acme", t).await;
    let (lv, ld) = (w.link_to(t, "vendor"), w.link_to(t, "delta"));
    let (mv, md) = (lv.target_ticket.unwrap(), ld.target_ticket.unwrap());
    let v1 = w
        .sim
        .add_comment(
            "vendor",
            mv,
            "victor@vendor.example",
            "from vendor's side",
            true,
        )
        .unwrap();
    let d1 = w
        .sim
        .add_comment("delta", md, "dora@delta.example", "from delta's side", true)
        .unwrap();
    // A crash left both links' replies in doubt: delta's landed in acme (its audit names
    // its write), vendor's did not.
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(10);
    let marker = |link: u64| format!("sbw:{link}:target-to-source:900{link}:0");
    w.sim
        .update_ticket(
            "acme",
            t,
            "bridge@acme.example",
            &TicketWrite {
                comment: Some(NewComment {
                    body: Some("dora (delta) wrote:\n\nfrom delta's side".into()),
                    public: Some(true),
                    ..Default::default()
                }),
                metadata: Some(serde_json::json!({ "sharebridge_write": marker(ld.id) })),
                ..Default::default()
            },
        )
        .unwrap();
    w.restart_with(|store| {
        for (link, source) in [(lv.id, v1.id), (ld.id, d1.id)] {
            store
                .record_pending_write(&PendingWrite {
                    link,
                    flow: Flow::TargetToSource,
                    source_comments: vec![source],
                    marker: marker(link),
                    created_at: at,
                    ahead: false,
                    note: false,
                    changes: None,
                })
                .unwrap();
        }
    })
    .await;
    w.settle().await;
    w.poke("vendor", mv).await;
    w.poke("delta", md).await;
    let bodies = w.bodies("acme", t);
    assert_eq!(count(&bodies, "from vendor's side"), 1, "{bodies:?}");
    assert_eq!(count(&bodies, "from delta's side"), 1, "{bodies:?}");
    w.stop();
}

/// Case 1 of issue #12, replayed deterministically: under load a write W0 (carrying c1)
/// lost its answer and was still being applied when the bridge looked, so it was judged
/// "did not land" and sent again as W1 with the comments that followed (c1, c2, c3); W1's
/// answer was lost too and W1 did not land, while W0 landed late. Taking "the newest
/// unknown comment by the bridge" for W1's own then recorded c2 and c3 as mirrored inside
/// W0's comment, which holds c1 only: c2 and c3 never reached the mirror.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_write_is_never_taken_for_a_later_one_so_nothing_after_it_is_lost() {
    let mut w = world(Setup::default()).await;
    let (t, m) = w.shared_ticket("under load").await;
    let link = w.link_of(t);
    let mut written = Vec::new();
    for text in ["c-74.0 first", "c-74.1 second", "c-74.2 third"] {
        written.push(w.sim.add_comment("acme", t, AGENT_A, text, true).unwrap());
    }
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(10);
    let w0 = format!("sbw:{}:source-to-target:1:0", link.id);
    let w1 = format!("sbw:{}:source-to-target:2:0", link.id);
    // W0 landed late, on the mirror, naming itself and its one source comment.
    w.sim
        .update_ticket(
            "vendor",
            m,
            "bridge@vendor.example",
            &TicketWrite {
                comment: Some(NewComment {
                    body: Some("alice (acme) wrote:\n\nc-74.0 first".into()),
                    public: Some(true),
                    ..Default::default()
                }),
                metadata: Some(serde_json::json!({
                    "sharebridge_write": w0,
                    "sharebridge_sources": written[0].id.to_string(),
                })),
                ..Default::default()
            },
        )
        .unwrap();
    // W1 (all three) was recorded and sent, and did not land.
    let sources: Vec<u64> = written.iter().map(|c| c.id).collect();
    w.restart_with(|store| {
        store
            .record_pending_write(&PendingWrite {
                link: link.id,
                flow: Flow::SourceToTarget,
                source_comments: sources,
                marker: w1,
                created_at: at,
                ahead: false,
                note: false,
                changes: None,
            })
            .unwrap();
    })
    .await;
    w.settle().await;
    w.poke("acme", t).await;
    let bodies = w.bodies("vendor", m);
    for text in ["c-74.0 first", "c-74.1 second", "c-74.2 third"] {
        assert_eq!(count(&bodies, text), 1, "{text}: {bodies:?}");
    }
    w.stop();
}

/// Found by the deterministic simulation (seed 27): a write in doubt keeps its ticket
/// retrying; a comment made private meanwhile (its webhook's privacy hint) turned the
/// retry into a privacy-only run, which followed the privacy and ended there: the write
/// was never settled by that link's step and the comment behind it never crossed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_privacy_change_during_a_write_in_doubt_does_not_end_its_retries() {
    let w = world(Setup::default()).await;
    let (t, m) = w.shared_ticket("privacy in doubt").await;
    let first = w.sim.comments("acme", t).pop().unwrap();
    // vendor loses the next write (nothing happens, no answer): it is in doubt.
    w.sim.set_faults(
        Some("vendor"),
        FaultSettings {
            rate: 1.0,
            kinds: vec![FaultKind::Drop],
            latency_ms: 0,
        },
    );
    w.sim.reset_stats("vendor");
    w.sim
        .add_comment("acme", t, AGENT_A, "behind the write in doubt", true)
        .unwrap();
    w.hints.push("acme", t);
    common::wait_for(|| common::requests_to(&w.sim, "vendor", "PUT /api/v2/tickets/{id}") > 0)
        .await;
    w.sim.set_faults(Some("vendor"), FaultSettings::default());
    // Meanwhile the first comment is made private at acme, and its webhook says so.
    w.sim.make_private("acme", t, first.id, AGENT_A).unwrap();
    w.hints.push_privacy(
        "acme",
        t,
        sharebridge::engine::hints::PrivacyChange {
            comment: first.id,
            redacted: false,
        },
    );
    w.settle().await;
    let bodies = w.bodies("vendor", m);
    assert_eq!(count(&bodies, "behind the write in doubt"), 1, "{bodies:?}");
    assert!(
        w.engine().store().pending_writes().unwrap().is_empty(),
        "the write in doubt was settled"
    );
    let mirrored_first = w
        .sim
        .comments("vendor", m)
        .into_iter()
        .find(|c| c.body.contains("privacy in doubt: first"))
        .unwrap();
    assert!(!mirrored_first.public, "privacy followed too");
    w.stop();
}

/// The path of the tests/chaos.rs flake (SIGKILL mid-write, the mirror kept its old
/// status): a write carrying a status change (acme `hold`, `open` on the mirror) was in
/// doubt across a crash and decided "did not land" by the recovery pass, and the next
/// run of the ticket comes from a comment's webhook. The status still crosses (here the
/// start's poll reads the ticket; the flake's run had no such read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_change_whose_write_did_not_land_still_crosses_after_a_restart() {
    let mut w = world(Setup::default()).await;
    let (t, m) = w.shared_ticket("status in doubt").await;
    let link = w.link_of(t);
    // The crash: acme set `hold` and wrote a comment; the write carrying both was sent and
    // did not land.
    w.sim
        .update_ticket(
            "acme",
            t,
            AGENT_A,
            &TicketWrite {
                status: Some(sharebridge::zendesk::models::Status::Hold),
                ..Default::default()
            },
        )
        .unwrap();
    let c = w
        .sim
        .add_comment("acme", t, AGENT_A, "sent with the status", true)
        .unwrap();
    let marker = format!("sbw:{}:source-to-target:77:0", link.id);
    w.restart_with(|store| {
        store
            .record_pending_write(&PendingWrite {
                link: link.id,
                flow: Flow::SourceToTarget,
                source_comments: vec![c.id],
                marker,
                created_at: jiff::Timestamp::now(),
                ahead: false,
                note: false,
                changes: None,
            })
            .unwrap();
    })
    .await;
    // The recovery pass decides it (in_doubt_wait = 2s after the start).
    common::wait_for(|| w.engine().store().pending_writes().unwrap().is_empty()).await;
    // Then a comment's webhook: a step for comments only.
    let c2 = w
        .sim
        .add_comment("acme", t, AGENT_A, "after the restart", true)
        .unwrap();
    w.hints.push_comment(
        "acme",
        t,
        sharebridge::engine::hints::CarriedComment {
            id: c2.id,
            body: c2.body.clone(),
            public: true,
            author_id: c2.author_id,
            author_name: "Alice".into(),
            created_at: c2.created_at,
        },
        sharebridge::engine::hints::CarriedTicket {
            status: Some(sharebridge::zendesk::models::Status::Hold),
            tags: vec!["vendor_escalation".into()],
            brand_id: None,
        },
    );
    w.settle().await;
    let bodies = w.bodies("vendor", m);
    assert_eq!(count(&bodies, "sent with the status"), 1, "{bodies:?}");
    assert_eq!(count(&bodies, "after the restart"), 1, "{bodies:?}");
    let mirror = w.sim.ticket("vendor", m).unwrap();
    assert_eq!(
        mirror.status,
        sharebridge::zendesk::models::Status::Open,
        "hold crosses as open"
    );
    w.stop();
}

/// An earlier create with the link's idempotency key made the mirror, after the look-up
/// by external id had found nothing, and the next create carries something else (its
/// source changed meanwhile): Zendesk refuses the key, and the mirror the earlier create
/// made is adopted, never a second one. The earlier create is played here by a client
/// of the test's own, sent while the bridge's read of the source is slowed down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_refused_for_its_reused_key_adopts_the_mirror_the_earlier_one_made() {
    use std::sync::Arc;

    use secrecy::SecretString;
    use sharebridge::zendesk::client::{Auth, ClientSettings, MemoryTokenStore, ZendeskClient};

    let w = world(Setup::default()).await;
    let t = w
        .sim
        .create_ticket(
            "acme",
            AGENT_A,
            &common::new_ticket("Reused key", "help", &["vendor_escalation"]),
        )
        .unwrap()
        .id;
    let external_id = format!("sharebridge:acme:{t}");
    // Every acme answer takes 3 s: the bridge looks the mirror up in vendor, then waits
    // on acme's comments before it sends its create.
    w.sim.set_faults(
        Some("acme"),
        FaultSettings {
            rate: 0.0,
            kinds: Vec::new(),
            latency_ms: 3000,
        },
    );
    let engine = w.engine().clone();
    let share = tokio::spawn(async move { engine.share("acme", t, "vendor", "test").await });
    common::wait_for(|| common::requests_to(&w.sim, "vendor", "GET /api/v2/tickets") > 0).await;
    // The earlier attempt: the same key (the first link's), another body.
    let vendor = ZendeskClient::new(
        ClientSettings::new(
            "vendor",
            w.sim.base_url("vendor"),
            Auth::ApiToken {
                email: "bridge@vendor.example".into(),
                token: SecretString::from(w.sim.token().to_owned()),
            },
        ),
        Arc::new(MemoryTokenStore::new()),
    )
    .unwrap();
    let earlier = TicketWrite {
        subject: Some("Reused key".into()),
        external_id: Some(external_id.clone()),
        comment: Some(NewComment {
            body: Some(format!("Shared from acme ticket #{t} by sharebridge.")),
            public: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let key = format!("sharebridge:acme-to-vendor:acme:{t}:1");
    let made = vendor
        .create_ticket(&earlier, Some(&key))
        .await
        .unwrap()
        .ticket
        .id;
    let link = share.await.unwrap().unwrap();
    w.sim.set_faults(Some("acme"), FaultSettings::default());
    assert_eq!(link.idempotency_key, key, "the test's key is the link's");
    assert_eq!(
        link.target_ticket,
        Some(made),
        "the earlier create's mirror is adopted"
    );
    let mirrors: Vec<u64> = w
        .sim
        .tickets("vendor")
        .iter()
        .filter(|m| m.external_id.as_deref() == Some(external_id.as_str()))
        .map(|m| m.id)
        .collect();
    assert_eq!(mirrors, vec![made], "one mirror, the earlier one");
    assert_eq!(
        common::requests_to(&w.sim, "vendor", "POST /api/v2/tickets"),
        2,
        "the test's create and the bridge's, refused for its key"
    );
    // And the link works: the next comment crosses once.
    w.sim
        .add_comment("acme", t, AGENT_A, "after the adoption", true)
        .unwrap();
    w.poke("acme", t).await;
    let bodies = w.bodies("vendor", made);
    assert_eq!(count(&bodies, "after the adoption"), 1, "{bodies:?}");
    w.stop();
}

fn set_status(w: &common::World, t: u64, status: sharebridge::zendesk::models::Status) {
    w.sim
        .update_ticket(
            "acme",
            t,
            AGENT_A,
            &TicketWrite {
                status: Some(status),
                ..Default::default()
            },
        )
        .unwrap();
}

/// A status write to the mirror that landed but lost its answer is the bridge's own
/// change there: the mirror's next full read must not take it for the partner's and send
/// it back (found by tests/chaos.rs, seed 2 on a loaded CI machine: acme set `hold`, the
/// mirror got `open`, and `open` came back over acme's `hold`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_write_that_lost_its_answer_is_not_echoed_back() {
    use sharebridge::zendesk::models::Status;
    let w = world(Setup::default()).await;
    let (t, m) = w.shared_ticket("status echo").await;
    set_status(&w, t, Status::Pending);
    w.poke("acme", t).await;
    assert_eq!(w.sim.ticket("vendor", m).unwrap().status, Status::Pending);
    // acme sets `hold`; the update to the mirror (`open`) lands, its answer is lost.
    set_status(&w, t, Status::Hold);
    w.sim.reset_stats("vendor");
    w.sim.set_faults(
        Some("vendor"),
        FaultSettings {
            rate: 1.0,
            kinds: vec![FaultKind::DropAfterCommit],
            latency_ms: 0,
        },
    );
    w.hints.push("acme", t);
    common::wait_for(|| common::requests_to(&w.sim, "vendor", "PUT /api/v2/tickets/{id}") > 0)
        .await;
    w.sim.set_faults(Some("vendor"), FaultSettings::default());
    common::wait_for(|| w.sim.ticket("vendor", m).unwrap().status == Status::Open).await;
    // The mirror's webhook for that change, read whole, before the step is retried.
    w.hints.push("vendor", m);
    w.settle().await;
    assert_eq!(
        w.sim.ticket("acme", t).unwrap().status,
        Status::Hold,
        "the bridge's own `open` on the mirror came back over acme's `hold`"
    );
    assert_eq!(w.sim.ticket("vendor", m).unwrap().status, Status::Open);
    w.stop();
}

/// The same across a crash: the status write was on its way when the daemon stopped,
/// and landed after; the next start reads the mirror whole before acme's ticket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_write_that_landed_across_a_crash_is_not_echoed_back() {
    use sharebridge::zendesk::models::Status;
    let mut w = world(Setup::default()).await;
    let (t, m) = w.shared_ticket("status crash").await;
    set_status(&w, t, Status::Pending);
    w.poke("acme", t).await;
    assert_eq!(w.sim.ticket("vendor", m).unwrap().status, Status::Pending);
    set_status(&w, t, Status::Hold);
    // Every write to vendor lands 1.5 s after its answer was lost; the daemon stops while
    // the first is on its way.
    w.sim.set_late_apply_ms(1500);
    w.sim.reset_stats("vendor");
    w.sim.set_faults(
        Some("vendor"),
        FaultSettings {
            rate: 1.0,
            kinds: vec![FaultKind::LateApply],
            latency_ms: 0,
        },
    );
    w.hints.push("acme", t);
    common::wait_for(|| common::requests_to(&w.sim, "vendor", "PUT /api/v2/tickets/{id}") > 0)
        .await;
    w.restart_with(|_| {}).await;
    w.sim.set_faults(Some("vendor"), FaultSettings::default());
    common::wait_for(|| w.sim.ticket("vendor", m).unwrap().status == Status::Open).await;
    w.hints.push("vendor", m);
    w.settle().await;
    w.hints.push("acme", t);
    w.settle().await;
    assert_eq!(
        w.sim.ticket("acme", t).unwrap().status,
        Status::Hold,
        "the bridge's own `open` on the mirror came back over acme's `hold`"
    );
    assert_eq!(w.sim.ticket("vendor", m).unwrap().status, Status::Open);
    w.stop();
}
