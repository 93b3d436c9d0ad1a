//! Keys that check-config accepts act at run time (DESIGN §3: no key is accepted and
//! ignored); here the ones whose effect only a running engine shows. With OAuth,
//! `accounts.X.email` names the bridge's own user: a token that signs in as someone else
//! is refused like a refused credential (that user's comments would be taken for the
//! bridge's), and the right one works.

mod common;

use common::{
    AGENT_A, DAEMON_SECTION, account_section, new_ticket, simulator, wait_for, world_with,
};

/// acme on OAuth, its token granted to `signed_in`, its configured email the bridge's.
async fn oauth_world(signed_in: &str) -> common::World {
    let sim = simulator().await;
    let grant = sim.oauth_client("acme", signed_in);
    let acme = account_section(&sim, "acme", "").replace(
        &format!("token = \"{}\"", sim.token()),
        &format!(
            "oauth = {{ client_id = \"{}\", client_secret = \"{}\", refresh_token = \"{}\" }}",
            grant.client_id, grant.client_secret, grant.refresh_token
        ),
    );
    assert!(acme.contains("email = \"bridge@acme.example\""), "{acme}");
    let text = format!(
        "{DAEMON_SECTION}{acme}{}\n[[agreements]]\nname = \"acme-to-vendor\"\nfrom = \"acme\"\nto = \"vendor\"\nauto_share_tags = [\"vendor_escalation\"]\n",
        account_section(&sim, "vendor", "accept_from = [\"acme\"]"),
    );
    world_with(sim, &text).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_oauth_email_names_the_bridges_user_and_another_user_is_refused() {
    let w = oauth_world("someone@acme.example").await;
    let t = w
        .sim
        .create_ticket(
            "acme",
            AGENT_A,
            &new_ticket("s", "b", &["vendor_escalation"]),
        )
        .unwrap();
    w.hints.push("acme", t.id);
    wait_for(|| {
        w.engine()
            .dead_credentials()
            .iter()
            .any(|(account, _)| account == "acme")
    })
    .await;
    let mirrored = w
        .engine()
        .store()
        .links_by_source_ticket("acme", t.id)
        .unwrap()
        .iter()
        .any(|l| l.target_ticket.is_some());
    assert!(!mirrored, "nothing is shared under another user's token");

    let w = oauth_world("bridge@acme.example").await;
    let (_, mirror) = w.shared_ticket("Signed in as the bridge").await;
    assert!(w.sim.ticket("vendor", mirror).is_some());
    assert!(w.engine().dead_credentials().is_empty());
}
