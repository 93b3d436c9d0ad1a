//! The daemon in-process (`daemon::start`) behind its HTTP server, with the simulator's
//! signed webhooks: the admin API's JSON shapes and auth, metrics, and the path from a
//! webhook to a mirrored comment.

mod common;

use common::{AGENT_A, Setup, new_ticket, wait_for};
use sharebridge::daemon;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_metrics_and_webhook_path() {
    // A simulator whose webhooks are signed with the daemon's secret.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut sc = sharebridge::sim::SimConfig::local(&["acme", "vendor"]);
    sc.limits = sharebridge::sim::Limits::unlimited();
    sc.export_lag_secs = 0;
    sc.webhook_secret = "hook".into();
    let sim = sharebridge::sim::Simulator::start(sc).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let text = common::config_text(&sim, &Setup::default())
        .replace(
            "state_dir = \"unused\"",
            &format!("state_dir = {:?}", dir.path().join("state")),
        )
        .replace(
            "email = \"bridge@acme.example\"",
            "email = \"bridge@acme.example\"\nwebhook_secret = \"hook\"",
        )
        .replace(
            "email = \"bridge@vendor.example\"",
            "email = \"bridge@vendor.example\"\nwebhook_secret = \"hook\"",
        );
    let config = common::load(dir.path(), &text);
    let running = daemon::start(config, listener).await.unwrap();
    sim.add_webhook("acme", &format!("http://{addr}/webhooks/acme"));
    sim.add_webhook("vendor", &format!("http://{addr}/webhooks/vendor"));
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");

    // Webhook → mirror, with no hint pushed by hand.
    let t = sim
        .create_ticket(
            "acme",
            AGENT_A,
            &new_ticket("via webhook", "hello", &["vendor_escalation"]),
        )
        .unwrap();
    wait_for(|| sim.tickets("vendor").len() == 1).await;
    let mirror = sim.tickets("vendor")[0].id;
    sim.add_comment("acme", t.id, AGENT_A, "second words", true)
        .unwrap();
    wait_for(|| {
        sim.comments("vendor", mirror)
            .iter()
            .any(|c| c.body.contains("second words"))
    })
    .await;

    // Auth.
    let r = http.get(format!("{base}/api/links")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = http
        .get(format!("{base}/api/links"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // JSON shapes (DESIGN §2 names).
    let get = |p: &str| http.get(format!("{base}{p}")).bearer_auth("admin").send();
    let agreements: serde_json::Value = get("/api/agreements").await.unwrap().json().await.unwrap();
    let a = &agreements[0];
    for k in ["name", "from", "to", "state", "since", "paired"] {
        assert!(a.get(k).is_some(), "agreement lacks {k}: {a}");
    }
    assert_eq!(a["state"], "accepted");
    assert_eq!(a["paired"], true);
    let links: serde_json::Value = get("/api/links").await.unwrap().json().await.unwrap();
    let l = &links[0];
    for k in [
        "id",
        "source_account",
        "source_ticket",
        "target_account",
        "target_ticket",
        "direction",
        "state",
        "last_synced_at",
    ] {
        assert!(l.get(k).is_some(), "link lacks {k}: {l}");
    }
    assert_eq!(l["direction"], "two-way");
    assert_eq!(l["state"], "active");
    assert_eq!(l["target_ticket"], mirror);

    // Unshare through the API; the orphan shape.
    let r = http
        .post(format!("{base}/api/unshare"))
        .bearer_auth("admin")
        .json(&serde_json::json!({"account": "acme", "ticket": t.id, "to": "vendor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let orphans: serde_json::Value = get("/api/orphans").await.unwrap().json().await.unwrap();
    let o = &orphans[0];
    for k in [
        "link",
        "source_account",
        "source_ticket",
        "target_account",
        "target_ticket",
        "reason",
        "since",
    ] {
        assert!(o.get(k).is_some(), "orphan lacks {k}: {o}");
    }
    assert_eq!(o["reason"], "unshared");
    let audit: serde_json::Value = get("/api/audit").await.unwrap().json().await.unwrap();
    for k in ["at", "kind", "subject", "detail"] {
        assert!(audit[0].get(k).is_some(), "audit lacks {k}");
    }
    // Errors say what and where.
    let r = http
        .post(format!("{base}/api/share"))
        .bearer_auth("admin")
        .json(&serde_json::json!({"account": "acme", "ticket": t.id, "to": "nobody"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no agreement shares from acme to nobody"),
        "{body}"
    );

    // Metrics.
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "sharebridge_shares_total{agreement=\"acme-to-vendor\"} 1",
        "sharebridge_mirrored_comments_total{agreement=\"acme-to-vendor\"}",
        "sharebridge_zendesk_requests_total{account=\"acme\"}",
        "sharebridge_zendesk_budget_remaining{account=\"vendor\"}",
        "sharebridge_orphans{agreement=\"acme-to-vendor\",reason=\"unshared\"} 1",
        "sharebridge_links{agreement=\"acme-to-vendor\",state=\"orphaned\"} 1",
        "sharebridge_webhooks_total{account=\"acme\",outcome=\"accepted\"}",
        "sharebridge_lag_seconds{agreement=\"acme-to-vendor\"}",
        // The bridge's own writes come back as webhooks and are dropped unread.
        "sharebridge_webhooks_total{account=\"vendor\",outcome=\"own_change\"}",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    running.stop().await.unwrap();
}
