//! `daemon.ordering = "arrival"` (opt-in): comments an event webhook carries are mirrored
//! without reading the sender (one API call each), and a comment whose webhook was lost is
//! still found by the next complete read, without sending anything twice (it lands after
//! later ones: the exception this mode is named for; the default keeps order, see
//! tests/order.rs).

mod common;

use common::{AGENT_A, Setup, World, config_text, world};
use sharebridge::engine::hints::{CarriedComment, CarriedTicket};
use sharebridge::link::Flow;
use sharebridge::zendesk::models::{Comment, Status};

fn carried(c: &Comment) -> CarriedComment {
    CarriedComment {
        id: c.id,
        body: c.body.clone(),
        public: c.public,
        author_id: c.author_id,
        author_name: "Alice".into(),
        created_at: c.created_at,
    }
}

fn detail() -> CarriedTicket {
    CarriedTicket {
        status: Some(Status::Open),
        tags: vec!["vendor_escalation".into()],
        brand_id: None,
    }
}

/// A world in the `arrival` ordering mode. A webhook does not say whether a comment has
/// files, so the read is saved only where attachments are not copied
/// (`attachments.sync = false` on both agreements).
async fn arrival() -> World {
    let w = world(Setup::default()).await;
    let text = config_text(&w.sim, &Setup::default())
        .replace("[daemon]\n", "[daemon]\nordering = \"arrival\"\n")
        .replace(
            "[agreements.tags]\nexclude = [\"internal_*\"]\n",
            "[agreements.tags]\nexclude = [\"internal_*\"]\n[agreements.attachments]\nsync = false\n",
        )
        .replace(
            "to = \"acme\"\n",
            "to = \"acme\"\n[agreements.attachments]\nsync = false\n",
        );
    assert_eq!(text.matches("sync = false").count(), 2, "{text}");
    w.reconfigure_text(&text).await;
    w
}

/// The bridge's calls other than the export polls, by endpoint.
fn calls(w: &common::World, account: &str) -> Vec<(String, u64)> {
    w.sim
        .stats(account)
        .by_endpoint
        .into_iter()
        .filter(|(e, _)| !e.contains("incremental"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carried_comments_cost_one_call_and_a_lost_one_is_found_later() {
    let w = arrival().await;
    let (t, m) = w.shared_ticket("Carried").await;
    let link = w.link_of(t);
    w.sim.reset_stats("acme");
    w.sim.reset_stats("vendor");

    // One carried comment: one update of the mirror, no read of acme.
    let c1 = w
        .sim
        .add_comment("acme", t, AGENT_A, "Carried one", true)
        .unwrap();
    w.hints.push_comment("acme", t, carried(&c1), detail());
    w.settle().await;
    let bodies = w.bodies("vendor", m);
    assert!(
        bodies.last().unwrap().0.contains("Carried one"),
        "{bodies:?}"
    );
    assert!(
        bodies.last().unwrap().0.contains("Alice"),
        "attributed: {bodies:?}"
    );
    assert_eq!(calls(&w, "acme"), vec![], "nothing read from the sender");
    assert_eq!(
        calls(&w, "vendor"),
        vec![("PUT /api/v2/tickets/{id}".to_owned(), 1)]
    );
    let before = w
        .engine()
        .store()
        .watermark(link.id, Flow::SourceToTarget)
        .unwrap();
    assert!(
        before.last_source_comment < Some(c1.id),
        "a carried comment does not move the watermark"
    );

    // The webhook of c2 is lost; c3's arrives: c3 is mirrored at once.
    let c2 = w
        .sim
        .add_comment("acme", t, AGENT_A, "Lost webhook", true)
        .unwrap();
    let c3 = w
        .sim
        .add_comment("acme", t, AGENT_A, "After the lost one", true)
        .unwrap();
    w.hints.push_comment("acme", t, carried(&c3), detail());
    w.settle().await;
    let bodies = w.bodies("vendor", m);
    assert!(bodies.iter().any(|b| b.0.contains("After the lost one")));
    assert!(!bodies.iter().any(|b| b.0.contains("Lost webhook")));

    // The next complete read (the poll, or any hint that carries nothing) finds c2 and
    // sends nothing twice; the watermark then covers everything.
    w.poke("acme", t).await;
    let bodies = w.bodies("vendor", m);
    for text in ["Carried one", "Lost webhook", "After the lost one"] {
        assert_eq!(
            bodies.iter().filter(|b| b.0.contains(text)).count(),
            1,
            "{text}: {bodies:?}"
        );
    }
    let after = w
        .engine()
        .store()
        .watermark(link.id, Flow::SourceToTarget)
        .unwrap();
    assert_eq!(after.last_source_comment, Some(c3.id.max(c2.id)));

    // A carried comment delivered twice, and one already covered, are not sent again.
    let c4 = w
        .sim
        .add_comment("acme", t, AGENT_A, "Twice delivered", true)
        .unwrap();
    w.hints.push_comment("acme", t, carried(&c4), detail());
    w.settle().await;
    w.hints.push_comment("acme", t, carried(&c4), detail());
    w.hints.push_comment("acme", t, carried(&c1), detail());
    w.settle().await;
    let bodies = w.bodies("vendor", m);
    assert_eq!(
        bodies
            .iter()
            .filter(|b| b.0.contains("Twice delivered"))
            .count(),
        1
    );
    assert_eq!(
        bodies
            .iter()
            .filter(|b| b.0.contains("Carried one"))
            .count(),
        1
    );

    // A private comment is held back on this path too.
    let p = w
        .sim
        .add_comment("acme", t, AGENT_A, "Private carried", false)
        .unwrap();
    w.hints.push_comment("acme", t, carried(&p), detail());
    w.settle().await;
    assert!(
        !w.bodies("vendor", m)
            .iter()
            .any(|b| b.0.contains("Private carried"))
    );

    // A reply on the mirror crosses back the same way (two-way link).
    let r = w
        .sim
        .add_comment("vendor", m, common::AGENT_V, "Reply carried", true)
        .unwrap();
    w.hints.push_comment("vendor", m, carried(&r), detail());
    w.settle().await;
    assert!(
        w.bodies("acme", t)
            .iter()
            .any(|b| b.0.contains("Reply carried"))
    );
    // And nothing echoed back to the mirror.
    assert_eq!(
        w.bodies("vendor", m)
            .iter()
            .filter(|b| b.0.contains("Reply carried"))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carried_comment_on_a_ticket_not_yet_shared_takes_the_full_path() {
    let w = arrival().await;
    let t = w
        .sim
        .create_ticket(
            "acme",
            AGENT_A,
            &common::new_ticket("Tagged", "first", &["vendor_escalation"]),
        )
        .unwrap();
    let c = w
        .sim
        .add_comment("acme", t.id, AGENT_A, "Second", true)
        .unwrap();
    // Only the comment's webhook arrives: the ticket qualifies for sharing, so it is read
    // and shared, with both comments.
    w.hints.push_comment("acme", t.id, carried(&c), detail());
    w.settle().await;
    let m = w.mirror_of(t.id);
    let bodies = w.bodies("vendor", m);
    assert!(bodies.iter().any(|b| b.0.contains("Second")), "{bodies:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_poll_reads_only_tickets_with_unmirrored_changes() {
    let w = arrival().await;
    let (t, m) = w.shared_ticket("Polled").await;
    // The ticket's creation is read once.
    w.engine().poll_now("acme").await.unwrap();
    // Carried by its webhook: the poll sees it mirrored and reads nothing.
    let c1 = w
        .sim
        .add_comment("acme", t, AGENT_A, "Webhook worked", true)
        .unwrap();
    w.hints.push_comment("acme", t, carried(&c1), detail());
    w.settle().await;
    w.sim.reset_stats("acme");
    w.sim.reset_stats("vendor");
    assert!(w.engine().poll_now("acme").await.unwrap() > 0);
    w.settle().await;
    assert_eq!(calls(&w, "acme"), vec![], "nothing read but the export");
    assert_eq!(calls(&w, "vendor"), vec![]);

    // A comment whose webhook was lost: the poll finds it and it is mirrored once.
    w.sim
        .add_comment("acme", t, AGENT_A, "Webhook lost", true)
        .unwrap();
    w.engine().poll_now("acme").await.unwrap();
    w.settle().await;
    let bodies = w.bodies("vendor", m);
    assert_eq!(
        bodies
            .iter()
            .filter(|b| b.0.contains("Webhook lost"))
            .count(),
        1,
        "{bodies:?}"
    );
    assert_eq!(
        bodies
            .iter()
            .filter(|b| b.0.contains("Webhook worked"))
            .count(),
        1
    );
    // A status change is not in any comment: the poll reads the ticket for it.
    w.sim
        .update_ticket(
            "acme",
            t,
            AGENT_A,
            &sharebridge::zendesk::models::TicketWrite {
                status: Some(Status::Pending),
                ..Default::default()
            },
        )
        .unwrap();
    w.engine().poll_now("acme").await.unwrap();
    w.settle().await;
    assert_eq!(w.sim.ticket("vendor", m).unwrap().status, Status::Pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_ahead_of_its_watermark_for_long_is_read_completely() {
    let w = arrival().await;
    let (t, _m) = w.shared_ticket("Verified").await;
    let link = w.link_of(t);
    w.engine().poll_now("acme").await.unwrap();
    let c = w
        .sim
        .add_comment("acme", t, AGENT_A, "Carried, then verified", true)
        .unwrap();
    w.hints.push_comment("acme", t, carried(&c), detail());
    w.settle().await;
    let store = w.engine().store().clone();
    let mark = store.watermark(link.id, Flow::SourceToTarget).unwrap();
    assert!(mark.last_source_comment < Some(c.id));
    // Recent: the poll trusts the comment map and reads nothing.
    w.sim.reset_stats("acme");
    w.engine().poll_now("acme").await.unwrap();
    assert_eq!(calls(&w, "acme"), vec![]);
    // The same, but the watermark has not moved for longer than the verification period:
    // this poll reads the ticket, and the watermark moves past the carried comment.
    w.sim
        .add_comment("acme", t, AGENT_A, "Again", true)
        .unwrap();
    let c2 = w.sim.comments("acme", t).pop().unwrap();
    w.hints.push_comment("acme", t, carried(&c2), detail());
    w.settle().await;
    store
        .transaction(|tx| {
            let mut m = tx.view().watermark(link.id, Flow::SourceToTarget)?;
            m.updated_at = Some(jiff::Timestamp::now() - jiff::SignedDuration::from_mins(11));
            tx.set_watermark(link.id, Flow::SourceToTarget, &m)
        })
        .unwrap();
    w.sim.reset_stats("acme");
    w.engine().poll_now("acme").await.unwrap();
    let read = calls(&w, "acme");
    assert!(
        read.iter()
            .any(|(e, n)| e == "GET /api/v2/tickets/{id}/comments" && *n == 1),
        "{read:?}"
    );
    let mark = store.watermark(link.id, Flow::SourceToTarget).unwrap();
    assert_eq!(mark.last_source_comment, Some(c2.id));
}
