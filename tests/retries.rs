//! A ticket's run that fails is tried again, and what its hints said is not lost on the
//! way: the retry reads the ticket whole, whatever webhooks came meanwhile.

mod common;

use common::{AGENT_A, Setup, world};
use sharebridge::engine::hints::{CarriedComment, CarriedTicket};
use sharebridge::link::Flow;
use sharebridge::store::PendingWrite;
use sharebridge::zendesk::models::{Status, TicketWrite};

/// Where a write in doubt is looked for on the receiving ticket.
const AUDITS: &str = "GET /api/v2/tickets/{id}/audits";

/// Found by tests/chaos.rs (workload, seed 2, under load): the export's hint for acme's
/// status change was taken by a run that failed (a write left in doubt by a crash was
/// not decided yet); comment webhooks came before the retry, so the retry took only
/// their comments, mirrored them without reading the ticket, and the status never
/// crossed (the export had already moved past the change).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_change_taken_by_a_failed_run_crosses_on_the_retry_despite_newer_webhooks() {
    let mut w = world(Setup::default()).await;
    let (t, m) = w.shared_ticket("Retried").await;
    let link = w.link_of(t);
    // A crash left a write in doubt on the link: runs fail until it can no longer land
    // (`in_doubt_wait` = 2 s in the tests' configuration).
    w.restart_with(|store| {
        store
            .record_pending_write(&PendingWrite {
                link: link.id,
                flow: Flow::SourceToTarget,
                source_comments: vec![],
                marker: format!("sbw:{}:source-to-target:99:0", link.id),
                created_at: jiff::Timestamp::now(),
                ahead: false,
                note: false,
                changes: None,
            })
            .unwrap();
    })
    .await;
    let audits_before = common::requests_to(&w.sim, "vendor", AUDITS);
    // acme's agent sets the status; the export's hint says only "changed".
    w.sim
        .update_ticket(
            "acme",
            t,
            AGENT_A,
            &TicketWrite {
                status: Some(Status::Pending),
                ..Default::default()
            },
        )
        .unwrap();
    w.hints.push("acme", t);
    // The run took that hint and failed on the write in doubt (it looked for it on the
    // mirror and did not find it).
    common::wait_for_within(10, || {
        common::requests_to(&w.sim, "vendor", AUDITS) > audits_before
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // A comment's webhook comes before the retry.
    let c = w
        .sim
        .add_comment("acme", t, AGENT_A, "after the status", true)
        .unwrap();
    w.hints.push_comment(
        "acme",
        t,
        CarriedComment {
            id: c.id,
            body: c.body.clone(),
            public: true,
            author_id: c.author_id,
            author_name: "Alice".into(),
            created_at: c.created_at,
        },
        CarriedTicket {
            status: Some(Status::Pending),
            tags: vec!["vendor_escalation".into()],
            brand_id: None,
        },
    );
    common::wait_for_within(20, || {
        w.sim.ticket("vendor", m).map(|t| t.status) == Some(Status::Pending)
            && w.bodies("vendor", m)
                .iter()
                .any(|(b, _)| b.contains("after the status"))
    })
    .await;
    w.stop();
}
