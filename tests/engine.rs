//! The sync engine against the in-process simulator: a tagged ticket is shared and
//! mirrored, comments cross under the rules, a reply crosses back over a two-way link,
//! nothing echoes, and an unshare leaves a marked orphan.

mod common;

use common::{AGENT_A, AGENT_V, Setup, new_ticket, world};
use sharebridge::store::LinkState;
use sharebridge::zendesk::models::{Status, TicketWrite};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_mirror_rules_reply_and_unshare() {
    let w = world(Setup::default()).await;
    let t = w
        .sim
        .create_ticket(
            "acme",
            AGENT_A,
            &new_ticket(
                "Printer on fire",
                "It is burning",
                &["vendor_escalation", "billing", "internal_x"],
            ),
        )
        .unwrap();
    w.hints.push("acme", t.id);
    w.settle().await;

    // The mirror: subject, attributed first comment, external id, tags per the rules.
    let mirror_id = w.mirror_of(t.id);
    let mirror = w.sim.ticket("vendor", mirror_id).unwrap();
    assert_eq!(mirror.subject.as_deref(), Some("Printer on fire"));
    assert_eq!(
        mirror.external_id.as_deref(),
        Some(format!("sharebridge:acme:{}", t.id).as_str())
    );
    assert!(mirror.tags.contains(&"sharebridge_shared".to_owned()));
    assert!(mirror.tags.contains(&"billing".to_owned()));
    assert!(
        !mirror
            .tags
            .iter()
            .any(|t| t == "internal_x" || t == "vendor_escalation"),
        "{:?}",
        mirror.tags
    );
    let first = w.bodies("vendor", mirror_id);
    assert_eq!(first.len(), 1);
    assert!(
        first[0].0.contains("It is burning") && first[0].0.contains("(acme) wrote"),
        "{:?}",
        first
    );

    // A public comment crosses; a private one is held back; status maps hold → open.
    w.sim
        .add_comment("acme", t.id, AGENT_A, "Public update", true)
        .unwrap();
    w.sim
        .add_comment("acme", t.id, AGENT_A, "Private musing", false)
        .unwrap();
    w.sim
        .update_ticket(
            "acme",
            t.id,
            AGENT_A,
            &TicketWrite {
                status: Some(Status::Hold),
                ..Default::default()
            },
        )
        .unwrap();
    w.hints.push("acme", t.id);
    w.settle().await;
    let bodies = w.bodies("vendor", mirror_id);
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(bodies[1].0.contains("Public update") && bodies[1].1);
    assert!(!bodies.iter().any(|(b, _)| b.contains("Private musing")));
    assert_eq!(
        w.sim.ticket("vendor", mirror_id).unwrap().status,
        Status::Open
    );

    // The partner replies on the mirror: it crosses back, and nothing echoes.
    w.sim
        .add_comment("vendor", mirror_id, AGENT_V, "Vendor reply", true)
        .unwrap();
    w.hints.push("vendor", mirror_id);
    w.hints.push("acme", t.id);
    w.settle().await;
    w.hints.push("acme", t.id);
    w.hints.push("vendor", mirror_id);
    w.settle().await;
    let source = w.bodies("acme", t.id);
    assert_eq!(
        source
            .iter()
            .filter(|(b, _)| b.contains("Vendor reply"))
            .count(),
        1,
        "{source:?}"
    );
    let mirror_bodies = w.bodies("vendor", mirror_id);
    assert_eq!(
        mirror_bodies.len(),
        3,
        "no echo back onto the mirror: {mirror_bodies:?}"
    );
    assert_eq!(
        w.sim.ticket("acme", t.id).unwrap().status,
        Status::Hold,
        "the source keeps its own status"
    );

    // Unshare: the mirror is marked once and reported; sync stops.
    let orphan = w
        .engine()
        .unshare("acme", t.id, "vendor", "test")
        .await
        .unwrap();
    assert_eq!(orphan.reason, "unshared");
    let mirror = w.sim.ticket("vendor", mirror_id).unwrap();
    assert!(mirror.tags.contains(&"sharebridge_orphaned".to_owned()));
    let notes: Vec<_> = w
        .sim
        .comments("vendor", mirror_id)
        .into_iter()
        .filter(|c| !c.public && c.body.contains("no longer shared"))
        .collect();
    assert_eq!(notes.len(), 1);
    w.sim
        .add_comment("acme", t.id, AGENT_A, "After unshare", true)
        .unwrap();
    w.hints.push("acme", t.id);
    w.settle().await;
    assert!(
        !w.bodies("vendor", mirror_id)
            .iter()
            .any(|(b, _)| b.contains("After unshare"))
    );
    assert!(
        w.engine()
            .store()
            .links_by_source_ticket("acme", t.id)
            .unwrap()
            .is_empty(),
        "not re-shared by its tag"
    );
    let link = w.engine().store().link(orphan.link).unwrap().unwrap();
    assert_eq!(link.state, LinkState::Orphaned);
    assert_eq!(w.engine().store().orphans().unwrap().len(), 1);
    w.stop();
}
