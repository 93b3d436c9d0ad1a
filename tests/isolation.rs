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

/// acme shares into vendor; delta's own agreement (into vendor) shares only tickets
/// tagged `delta_escalation`. Each account has its own request budget.
fn three_accounts(sim: &sharebridge::sim::Simulator, delta_rpm: u32, delta_offers: bool) -> String {
    let mut text = format!(
        "{DAEMON_SECTION}{}{}{}
[[agreements]]
name = \"acme-to-vendor\"
from = \"acme\"
to = \"vendor\"
auto_share_tags = [\"escalate\"]
",
        account_section(sim, "acme", ""),
        account_section(sim, "vendor", "accept_from = [\"acme\", \"delta\"]"),
        account_section(sim, "delta", "").replace(
            "requests_per_minute = 20000",
            &format!("requests_per_minute = {delta_rpm}"),
        ),
    );
    if delta_offers {
        text.push_str(
            "\n[[agreements]]\nname = \"delta-to-vendor\"\nfrom = \"delta\"\nto = \"vendor\"\nauto_share_tags = [\"delta_escalation\"]\n",
        );
    }
    text
}

/// How often the bridge read tickets of `account` (one by one or in bulk, or their
/// comments). The test agents write through the simulator's helpers, not the API.
fn bridge_calls(w: &common::World, account: &str) -> u64 {
    w.sim
        .stats(account)
        .by_endpoint
        .iter()
        .filter(|(e, _)| e.starts_with("GET /api/v2/tickets"))
        .map(|(_, n)| n)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_no_agreement_can_act_on_is_not_read() {
    let sim = simulator_of(&["acme", "vendor", "delta"]).await;
    let text = three_accounts(&sim, 100, false);
    let w = world_with(sim, &text).await;
    // Nothing is shared from delta: its new tickets cannot matter, whatever the hints.
    let before = bridge_calls(&w, "delta");
    for n in 0..30 {
        let t = w
            .sim
            .create_ticket(
                "delta",
                "dora@delta.example",
                &new_ticket(&format!("delta {n}"), "busy", &[]),
            )
            .unwrap();
        w.hints.push("delta", t.id);
    }
    w.settle().await;
    assert_eq!(
        bridge_calls(&w, "delta"),
        before,
        "no delta ticket was read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_shows_no_auto_share_tag_is_not_read() {
    let sim = simulator_of(&["acme", "vendor", "delta"]).await;
    let text = three_accounts(&sim, 100, true);
    let w = world_with(sim, &text).await;
    let before = bridge_calls(&w, "delta");
    let t = w
        .sim
        .create_ticket(
            "delta",
            "dora@delta.example",
            &new_ticket("delta", "busy", &["other"]),
        )
        .unwrap();
    // An event webhook describes the ticket: no auto-share tag, so nothing to read.
    w.hints.push_detail(
        "delta",
        t.id,
        sharebridge::engine::hints::CarriedTicket {
            status: Some(sharebridge::zendesk::models::Status::New),
            tags: vec!["other".into()],
            brand_id: None,
        },
    );
    w.settle().await;
    assert_eq!(bridge_calls(&w, "delta"), before);
    // One that shows the tag is read, and shared.
    w.hints.push_detail(
        "delta",
        t.id,
        sharebridge::engine::hints::CarriedTicket {
            status: Some(sharebridge::zendesk::models::Status::New),
            tags: vec!["delta_escalation".into()],
            brand_id: None,
        },
    );
    w.sim
        .update_ticket(
            "delta",
            t.id,
            "dora@delta.example",
            &sharebridge::zendesk::models::TicketWrite {
                additional_tags: Some(vec!["delta_escalation".into()]),
                ..Default::default()
            },
        )
        .unwrap();
    w.settle().await;
    assert!(
        !w.engine()
            .store()
            .links_by_source_ticket("delta", t.id)
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_accounts_exhausted_budget_does_not_hold_back_the_others() {
    let sim = simulator_of(&["acme", "vendor", "delta"]).await;
    // delta's budget is two requests a minute, and 40 of its tickets must be read.
    let text = three_accounts(&sim, 2, true);
    let w = world_with(sim, &text).await;
    for n in 0..40 {
        let t = w
            .sim
            .create_ticket(
                "delta",
                "dora@delta.example",
                &new_ticket(&format!("delta {n}"), "busy", &[]),
            )
            .unwrap();
        w.hints.push("delta", t.id);
    }
    // acme's ticket goes through on acme's and vendor's budgets, while delta waits on its.
    let t = w
        .sim
        .create_ticket(
            "acme",
            AGENT_A,
            &new_ticket("acme's", "urgent", &["escalate"]),
        )
        .unwrap();
    w.hints.push("acme", t.id);
    let store = w.engine().store().clone();
    common::wait_for(|| {
        store
            .links_by_source_ticket("acme", t.id)
            .unwrap()
            .iter()
            .any(|l| l.target_ticket.is_some())
    })
    .await;
    assert!(
        w.engine().backlog() > 0,
        "delta's tickets are still waiting on delta's budget"
    );
    w.stop();
}
