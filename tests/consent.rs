//! Nothing crosses without consent, whatever crashed in between (issue #12, case 5), and
//! nothing loops back through a mirror (case 6).

mod common;

use common::{AGENT_A, AGENT_V, Setup, world};
use sharebridge::agreement::{InactiveBy, State};
use sharebridge::store::{AgreementRecord, AuditKind, LinkState, NewAudit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_a_transition_and_its_orphaning_still_ends_the_links() {
    let mut w = world(Setup::default()).await;
    let (t, m) = w.shared_ticket("consent").await;
    let link = w.link_of(t);
    // vendor withdraws its consent; the daemon commits the transition, then dies before
    // it orphans the agreement's links.
    let withdrawn = Setup {
        vendor_accepts: false,
        ..Setup::default()
    };
    let text = common::config_text(&w.sim, &withdrawn);
    w.config
        .send_replace(std::sync::Arc::new(common::load(w.dir.path(), &text)));
    w.restart_with(|store| {
        let now = jiff::Timestamp::now();
        store
            .transaction(|tx| {
                tx.append_audit(NewAudit {
                    at: now,
                    kind: AuditKind::Agreement,
                    subject: "acme-to-vendor".into(),
                    detail: "agreement acme-to-vendor inactive: vendor withdrew consent".into(),
                })?;
                tx.set_agreement_state(
                    "acme-to-vendor",
                    &AgreementRecord {
                        state: State::Inactive,
                        since: now,
                        cause: "vendor withdrew consent".into(),
                        from: "acme".into(),
                        to: "vendor".into(),
                        inactive_by: Some(InactiveBy::Receiver),
                    },
                )
            })
            .unwrap();
    })
    .await;
    w.settle().await;
    // The start brought the link in line: orphaned, marked, and nothing crosses.
    let now = w.engine().store().link(link.id).unwrap().unwrap();
    assert_eq!(now.state, LinkState::Orphaned, "{now:?}");
    w.sim
        .add_comment("acme", t, AGENT_A, "acme words after consent", true)
        .unwrap();
    w.poke("acme", t).await;
    w.sim
        .add_comment("vendor", m, AGENT_V, "vendor after consent ended", true)
        .unwrap();
    w.poke("vendor", m).await;
    assert!(
        !w.bodies("vendor", m)
            .iter()
            .any(|(b, _)| b.contains("acme words after consent")),
        "{:?}",
        w.bodies("vendor", m)
    );
    assert!(
        !w.bodies("acme", t)
            .iter()
            .any(|(b, _)| b.contains("vendor after consent ended"))
    );
    let notes = w
        .bodies("vendor", m)
        .iter()
        .filter(|(b, public)| !public && b.contains("no longer shared"))
        .count();
    assert_eq!(notes, 1);
    w.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_is_never_shared_back_into_the_account_it_mirrors() {
    // Both directions auto-share: vendor's agreement shares tickets tagged acme_escalation.
    let mut w = world(Setup::default()).await;
    let text = common::config_text(&w.sim, &Setup::default()).replace(
        "from = \"vendor\"\nto = \"acme\"\n",
        "from = \"vendor\"\nto = \"acme\"\nauto_share_tags = [\"acme_escalation\"]\n",
    );
    w.reconfigure_text(&text).await;
    let (t, m) = w.shared_ticket("loop").await;
    let tag = |w: &common::World, m: u64| {
        w.sim
            .update_ticket(
                "vendor",
                m,
                AGENT_V,
                &sharebridge::zendesk::models::TicketWrite {
                    additional_tags: Some(vec!["acme_escalation".into()]),
                    ..Default::default()
                },
            )
            .unwrap();
    };
    // Tagging the mirror with vendor's auto-share tag does not copy acme's own ticket
    // back into acme.
    tag(&w, m);
    w.poke("vendor", m).await;
    assert_eq!(
        w.sim.tickets("acme").len(),
        1,
        "{:?}",
        w.sim.tickets("acme")
    );
    assert!(
        w.engine()
            .store()
            .links_by_source_ticket("vendor", m)
            .unwrap()
            .is_empty()
    );
    // Nor by hand, and nor once the mirror is an orphan (a store that forgot the link
    // still refuses: the mirror's external id names acme, `rules::mirrors_account`).
    let refused = w.engine().share("vendor", m, "acme", "test").await;
    assert!(refused.is_err(), "{refused:?}");
    let msg = refused.unwrap_err().to_string();
    assert!(msg.contains("mirror"), "{msg}");
    w.engine()
        .unshare("acme", t, "vendor", "test")
        .await
        .unwrap();
    w.poke("vendor", m).await;
    w.restart().await;
    tag(&w, m);
    w.poke("vendor", m).await;
    assert_eq!(
        w.sim.tickets("acme").len(),
        1,
        "{:?}",
        w.sim.tickets("acme")
    );
    w.stop();
}

/// DST seed 253 (and 10, 19, 142, 277, 285): the mirror's create got a 503, consent was
/// withdrawn while the client waited to retry, and the retry created the mirror anyway.
/// Consent is now asked before every attempt: the retry is withheld, nothing crosses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_consent_was_withdrawn_is_not_sent() {
    use sharebridge::sim::{FaultKind, FaultSettings};
    let w = world(Setup::default()).await;
    let count = |w: &common::World, key: &str| {
        w.sim
            .stats("vendor")
            .by_endpoint
            .get(key)
            .copied()
            .unwrap_or(0)
    };
    let lookups = count(&w, "GET /api/v2/tickets");
    // acme answers slowly, so vendor can be made to refuse between the share's look-up
    // of an existing mirror there and the create.
    w.sim.set_faults(
        Some("acme"),
        FaultSettings {
            latency_ms: 300,
            ..FaultSettings::default()
        },
    );
    let t = w
        .sim
        .create_ticket(
            "acme",
            AGENT_A,
            &common::new_ticket("retried", "retried: first", &["vendor_escalation"]),
        )
        .unwrap();
    w.hints.push("acme", t.id);
    common::wait_for(|| count(&w, "GET /api/v2/tickets") > lookups).await;
    w.sim.set_faults(
        Some("vendor"),
        FaultSettings {
            rate: 1.0,
            kinds: vec![FaultKind::Unavailable],
            latency_ms: 0,
        },
    );
    // The create is refused at least once and waits for its retry.
    common::wait_for(|| count(&w, "POST /api/v2/tickets") > 0).await;
    let withdrawn = Setup {
        vendor_accepts: false,
        ..Setup::default()
    };
    w.config.send_replace(std::sync::Arc::new(common::load(
        w.dir.path(),
        &common::config_text(&w.sim, &withdrawn),
    )));
    w.engine().reload().await.unwrap();
    w.sim.set_faults(None, FaultSettings::default());
    w.settle().await;
    assert!(
        w.sim.tickets("vendor").is_empty(),
        "a mirror was created after consent was withdrawn: {:?}",
        w.sim.tickets("vendor")
    );
    w.stop();
}
