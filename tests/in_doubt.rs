//! A write whose answer was lost is matched by the marker it carries and decided only once
//! it can no longer land (issue #12, case 3); two links writing to one receiving ticket
//! never take each other's writes for their own.

mod common;

use common::{AGENT_A, DAEMON_SECTION, Setup, account_section, simulator_of, world, world_with};
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
    common::wait_for(|| {
        w.sim
            .stats("vendor")
            .by_endpoint
            .get("PUT /api/v2/tickets/{id}")
            .is_some_and(|n| *n > 0)
    })
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

/// acme shares into vendor and delta, both two-way: replies on both mirrors are written
/// into acme's one ticket by two links.
fn two_links_into_one_ticket(sim: &sharebridge::sim::Simulator) -> String {
    let mut text = format!(
        "{DAEMON_SECTION}{}{}{}",
        account_section(sim, "acme", "accept_from = [\"vendor\", \"delta\"]"),
        account_section(sim, "vendor", "accept_from = [\"acme\"]"),
        account_section(sim, "delta", "accept_from = [\"acme\"]"),
    );
    for (from, to) in [
        ("acme", "vendor"),
        ("vendor", "acme"),
        ("acme", "delta"),
        ("delta", "acme"),
    ] {
        text.push_str(&format!(
            "\n[[agreements]]\nname = \"{from}-to-{to}\"\nfrom = \"{from}\"\nto = \"{to}\"\n"
        ));
        if from == "acme" {
            text.push_str("auto_share_tags = [\"escalate\"]\n");
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_links_writing_to_one_ticket_never_claim_each_others_writes() {
    let sim = simulator_of(&["acme", "vendor", "delta"]).await;
    let text = two_links_into_one_ticket(&sim);
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
