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
