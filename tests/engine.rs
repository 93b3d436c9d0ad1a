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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_tags_and_allowed_private_comments() {
    let w = world(Setup {
        private_comments: true,
        ..Setup::default()
    })
    .await;
    // Each account defines its own drop-down; the agreement maps one onto the other.
    let from = w
        .sim
        .add_ticket_field("acme", "tagger", "Tier", &[("Gold", "tier_gold")])
        .id;
    let to = w
        .sim
        .add_ticket_field("vendor", "tagger", "Level", &[("Gold", "gold")])
        .id;
    let unmapped = w.sim.add_ticket_field("acme", "text", "Internal", &[]).id;
    let text = common::config_text(&w.sim, &Setup { private_comments: true, ..Setup::default() }).replace(
        "[agreements.status]",
        &format!("[[agreements.fields]]\nfrom = {from}\nto = {to}\nvalues = {{ \"tier_gold\" = \"gold\" }}\n[agreements.status]"),
    );
    w.config
        .send_replace(std::sync::Arc::new(common::load(w.dir.path(), &text)));
    w.engine().reload().await.unwrap();
    let (t, m) = w.shared_ticket("fields").await;
    w.sim
        .update_ticket(
            "acme",
            t,
            AGENT_A,
            &TicketWrite {
                custom_fields: Some(vec![
                    sharebridge::zendesk::models::CustomField {
                        id: from,
                        value: "tier_gold".into(),
                    },
                    sharebridge::zendesk::models::CustomField {
                        id: unmapped,
                        value: "not mapped".into(),
                    },
                ]),
                additional_tags: Some(vec!["billing".into(), "internal_secret".into()]),
                ..Default::default()
            },
        )
        .unwrap();
    w.sim
        .add_comment("acme", t, AGENT_A, "internal note allowed", false)
        .unwrap();
    w.poke("acme", t).await;
    let mirror = w.sim.ticket("vendor", m).unwrap();
    let f = mirror
        .custom_fields
        .iter()
        .find(|f| f.id == to)
        .map(|f| f.value.clone());
    assert_eq!(
        f,
        Some(serde_json::json!("gold")),
        "{:?}",
        mirror.custom_fields
    );
    assert!(!mirror.custom_fields.iter().any(|f| f.value == "not mapped"));
    assert!(mirror.tags.contains(&"billing".to_owned()));
    assert!(!mirror.tags.contains(&"internal_secret".to_owned()));
    let private: Vec<_> = w
        .sim
        .comments("vendor", m)
        .into_iter()
        .filter(|c| c.body.contains("internal note allowed"))
        .collect();
    assert_eq!(private.len(), 1);
    assert!(
        !private[0].public,
        "an allowed private comment stays private"
    );
    // A tag removed on the source is removed on the mirror; the receiver's own tags stay.
    w.sim
        .update_ticket(
            "vendor",
            m,
            AGENT_V,
            &TicketWrite {
                additional_tags: Some(vec!["vendor_own".into()]),
                ..Default::default()
            },
        )
        .unwrap();
    w.sim
        .update_ticket(
            "acme",
            t,
            AGENT_A,
            &TicketWrite {
                remove_tags: Some(vec!["billing".into()]),
                ..Default::default()
            },
        )
        .unwrap();
    w.poke("acme", t).await;
    let tags = w.sim.ticket("vendor", m).unwrap().tags;
    assert!(
        !tags.contains(&"billing".to_owned()) && tags.contains(&"vendor_own".to_owned()),
        "{tags:?}"
    );
    w.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_arriving_together_become_one_mirror_comment() {
    let w = world(Setup::default()).await;
    let (t, m) = w.shared_ticket("busy").await;
    for (agent, text) in [
        ("a1@acme.example", "one"),
        ("a2@acme.example", "two"),
        ("a3@acme.example", "three"),
    ] {
        w.sim
            .add_comment("acme", t, agent, &format!("burst {text}"), true)
            .unwrap();
    }
    w.poke("acme", t).await;
    let bodies = w.bodies("vendor", m);
    assert_eq!(
        bodies.len(),
        2,
        "first comment + one coalesced comment: {bodies:?}"
    );
    let joined = &bodies[1].0;
    let (i1, i2, i3) = (
        joined.find("burst one").unwrap(),
        joined.find("burst two").unwrap(),
        joined.find("burst three").unwrap(),
    );
    assert!(i1 < i2 && i2 < i3, "order kept");
    assert!(
        joined.contains("a1 (acme) wrote") && joined.contains("a3 (acme) wrote"),
        "each part attributed: {joined}"
    );
    w.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_way_links_and_agreement_transitions() {
    // vendor has not accepted yet: the agreement is pending and nothing is shared.
    let w = world(Setup {
        two_way: false,
        vendor_accepts: false,
        ..Setup::default()
    })
    .await;
    let t = w
        .sim
        .create_ticket(
            "acme",
            AGENT_A,
            &new_ticket("waiting", "x", &["vendor_escalation"]),
        )
        .unwrap();
    w.poke("acme", t.id).await;
    assert!(
        w.engine()
            .store()
            .links_by_source_ticket("acme", t.id)
            .unwrap()
            .is_empty()
    );
    let err = w
        .engine()
        .share("acme", t.id, "vendor", "test")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("acme-to-vendor") && err.contains("pending"),
        "{err}"
    );
    // vendor accepts: the next change shares it, one-way.
    w.reconfigure(&Setup {
        two_way: false,
        ..Setup::default()
    })
    .await;
    w.poke("acme", t.id).await;
    let link = w.link_of(t.id);
    assert_eq!(link.direction, sharebridge::link::Direction::OneWay);
    let m = link.target_ticket.unwrap();
    // A reply on a one-way mirror does not cross back.
    w.sim
        .add_comment("vendor", m, AGENT_V, "vendor only", true)
        .unwrap();
    w.poke("vendor", m).await;
    assert!(
        !w.bodies("acme", t.id)
            .iter()
            .any(|(b, _)| b.contains("vendor only"))
    );
    // The reverse agreement is accepted: the link turns two-way from now on (not
    // retroactively: the earlier reply stays on vendor's side).
    w.reconfigure(&Setup::default()).await;
    assert_eq!(
        w.link_of(t.id).direction,
        sharebridge::link::Direction::TwoWay
    );
    w.sim
        .add_comment("vendor", m, AGENT_V, "vendor now", true)
        .unwrap();
    w.poke("vendor", m).await;
    let acme = w.bodies("acme", t.id);
    assert_eq!(
        acme.iter()
            .filter(|(b, _)| b.contains("vendor now"))
            .count(),
        1,
        "{acme:?}"
    );
    assert!(
        !acme.iter().any(|(b, _)| b.contains("vendor only")),
        "not retroactive: {acme:?}"
    );
    // A closed ticket is refused.
    let closed = w
        .sim
        .create_ticket(
            "acme",
            AGENT_A,
            &TicketWrite {
                status: Some(Status::Closed),
                ..new_ticket("closed", "x", &[])
            },
        )
        .unwrap();
    let err = w
        .engine()
        .share("acme", closed.id, "vendor", "test")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("closed"), "{err}");
    w.stop();
}
