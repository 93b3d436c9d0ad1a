//! One thing's failure is that thing's alone: a link that breaks goes to `error` with its
//! reason while the ticket's other links keep flowing (issue #12, case 10).

mod common;

use common::{AGENT_A, DAEMON_SECTION, account_section, new_ticket, simulator_of, world_with};
use sharebridge::store::LinkState;

/// acme shares into vendor and delta; delta's agreement lands mirrors in a group delta
/// does not have, so creating delta's mirror is refused (422).
fn fan_out(sim: &sharebridge::sim::Simulator) -> String {
    format!(
        "{DAEMON_SECTION}{}{}{}
[[agreements]]
name = \"acme-to-delta\"
from = \"acme\"
to = \"delta\"
auto_share_tags = [\"escalate\"]
target = {{ group_id = 424242 }}

[[agreements]]
name = \"acme-to-vendor\"
from = \"acme\"
to = \"vendor\"
auto_share_tags = [\"escalate\"]
",
        account_section(sim, "acme", ""),
        account_section(sim, "vendor", "accept_from = [\"acme\"]"),
        account_section(sim, "delta", "accept_from = [\"acme\"]"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_mirror_puts_its_link_in_error_and_the_other_links_flow() {
    let sim = simulator_of(&["acme", "vendor", "delta"]).await;
    let text = fan_out(&sim);
    let w = world_with(sim, &text).await;
    let t = w
        .sim
        .create_ticket(
            "acme",
            AGENT_A,
            &new_ticket("Fan-out", "first words", &["escalate"]),
        )
        .unwrap();
    w.poke("acme", t.id).await;

    // delta refused the mirror: that link is in error, with the reason, and no mirror.
    let broken = w.link_to(t.id, "delta");
    assert_eq!(broken.state, LinkState::Error, "{broken:?}");
    assert!(
        broken.error.as_deref().unwrap_or_default().contains("422"),
        "{broken:?}"
    );
    assert_eq!(broken.target_ticket, None);
    // vendor's link was not stopped by it: mirrored, and later comments cross.
    let fine = w.link_to(t.id, "vendor");
    assert_eq!(fine.state, LinkState::Active);
    let mirror = fine.target_ticket.expect("vendor's mirror");
    w.sim
        .add_comment("acme", t.id, AGENT_A, "second words", true)
        .unwrap();
    w.poke("acme", t.id).await;
    let bodies = w.bodies("vendor", mirror);
    assert!(
        bodies.iter().any(|(b, _)| b.contains("second words")),
        "{bodies:?}"
    );
    // The broken link stays broken (no retry loop), and nothing reached delta.
    assert_eq!(w.link_to(t.id, "delta").state, LinkState::Error);
    assert!(w.sim.tickets("delta").is_empty());
}
