//! What a comment's privacy allows, from the first comment on (issue #12, cases 11 and 7).

mod common;

use common::{AGENT_A, DAEMON_SECTION, account_section, new_ticket, simulator_of, world_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_public_false_sends_no_comment_body_not_even_the_first() {
    let sim = simulator_of(&["acme", "vendor"]).await;
    let text = format!(
        "{DAEMON_SECTION}{}{}
[[agreements]]
name = \"acme-to-vendor\"
from = \"acme\"
to = \"vendor\"
auto_share_tags = [\"escalate\"]
[agreements.comments]
public = false
private = false
",
        account_section(&sim, "acme", ""),
        account_section(&sim, "vendor", "accept_from = [\"acme\"]"),
    );
    let w = world_with(sim, &text).await;
    let t = w
        .sim
        .create_ticket(
            "acme",
            AGENT_A,
            &new_ticket("Quiet", "first words stay home", &["escalate"]),
        )
        .unwrap();
    w.poke("acme", t.id).await;
    w.sim
        .add_comment("acme", t.id, AGENT_A, "second words stay home", true)
        .unwrap();
    w.poke("acme", t.id).await;
    let mirror = w.mirror_of(t.id);
    let bodies = w.bodies("vendor", mirror);
    assert!(!bodies.is_empty(), "the mirror exists with its intro");
    assert!(
        !bodies
            .iter()
            .any(|(b, _)| b.contains("first words") || b.contains("second words")),
        "{bodies:?}"
    );
    // The intro says a comment was held back, and no comment is recorded as mirrored.
    assert!(bodies[0].0.contains("held back"), "{bodies:?}");
    let link = w.link_of(t.id);
    let mapped = w
        .engine()
        .store()
        .comment_mappings(link.id, sharebridge::link::Flow::SourceToTarget)
        .unwrap();
    assert!(mapped.is_empty(), "{mapped:?}");
}

/// The mirror comment (on vendor) that carries `text`.
fn mirror_comment(w: &common::World, m: u64, text: &str) -> sharebridge::zendesk::models::Comment {
    let found: Vec<_> = w
        .sim
        .comments("vendor", m)
        .into_iter()
        .filter(|c| c.body.contains(text))
        .collect();
    assert_eq!(found.len(), 1, "{text}: {found:?}");
    found[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_made_private_at_the_source_is_made_private_on_the_mirror() {
    let w = common::world(common::Setup::default()).await;
    let (t, m) = w.shared_ticket("privacy").await;
    let c = w
        .sim
        .add_comment("acme", t, AGENT_A, "meant for us only", true)
        .unwrap();
    w.poke("acme", t).await;
    assert!(mirror_comment(&w, m, "meant for us only").public);
    // Made private at the source; the export says so (and a webhook would too).
    w.engine().poll_now("acme").await.unwrap();
    w.sim.make_private("acme", t, c.id, AGENT_A).unwrap();
    w.engine().poll_now("acme").await.unwrap();
    w.settle().await;
    assert!(
        !mirror_comment(&w, m, "meant for us only").public,
        "privacy follows the comment"
    );
    let audit = w.engine().store().audit_all().unwrap();
    assert!(
        audit.iter().any(|e| e.detail.contains("made private")),
        "{audit:?}"
    );
    let metrics = w.engine().metrics().render();
    assert!(
        metrics.contains("sharebridge_privacy_followed_total{agreement=\"acme-to-vendor\",change=\"made_private\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redaction_at_the_source_is_redacted_on_the_mirror_and_only_that() {
    let w = common::world(common::Setup::default()).await;
    let (t, m) = w.shared_ticket("redaction").await;
    // Two comments close together: one mirror comment carries both.
    let card = w
        .sim
        .add_comment(
            "acme",
            t,
            AGENT_A,
            "my card is 4111-1111-1111-1111 thanks",
            true,
        )
        .unwrap();
    w.sim
        .add_comment("acme", t, AGENT_A, "and the second part stays", true)
        .unwrap();
    let whole = w
        .sim
        .add_comment("acme", t, AGENT_A, "an entire secret comment", true)
        .unwrap();
    w.poke("acme", t).await;
    let before = mirror_comment(&w, m, "4111-1111-1111-1111");
    assert!(
        before.body.contains("and the second part stays"),
        "coalesced: {before:?}"
    );
    w.engine().poll_now("acme").await.unwrap();
    w.sim
        .redact_comment("acme", t, card.id, AGENT_A, Some("4111-1111-1111-1111"))
        .unwrap();
    w.sim
        .redact_comment("acme", t, whole.id, AGENT_A, None)
        .unwrap();
    // This time a webhook brings the news (the hint a comment_redacted event makes).
    w.hints.push_privacy(
        "acme",
        t,
        sharebridge::engine::hints::PrivacyChange {
            comment: card.id,
            redacted: true,
        },
    );
    w.hints.push_privacy(
        "acme",
        t,
        sharebridge::engine::hints::PrivacyChange {
            comment: whole.id,
            redacted: true,
        },
    );
    w.settle().await;
    let bodies: Vec<String> = w
        .sim
        .comments("vendor", m)
        .into_iter()
        .map(|c| c.body)
        .collect();
    assert!(!bodies.iter().any(|b| b.contains("4111")), "{bodies:?}");
    assert!(
        !bodies.iter().any(|b| b.contains("entire secret")),
        "{bodies:?}"
    );
    let after = mirror_comment(&w, m, "my card is");
    assert!(after.body.contains("my card is \u{2587}"), "{after:?}");
    assert!(
        after.body.contains("and the second part stays"),
        "only that: {after:?}"
    );
    assert!(
        bodies.iter().any(|b| b.contains("(acme) wrote:")),
        "attributions stay: {bodies:?}"
    );
    let audit = w.engine().store().audit_all().unwrap();
    assert!(
        audit
            .iter()
            .filter(|e| e.detail.contains("redacted"))
            .count()
            >= 2,
        "{audit:?}"
    );
}
