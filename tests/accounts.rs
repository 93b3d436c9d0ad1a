//! Accounts have workers with a status, and a reload adds, changes and removes them
//! (issue #12, cases 8 and 9): a new account is polled, a changed one uses its new
//! client, a removed one stops; a credential Zendesk refuses stops retries, parks the work
//! that needs it, names the fix, shows on `/api/accounts`, `/readyz` and the metric, and
//! holds back no other account.

mod common;

use common::{AGENT_A, account_section, new_ticket, simulator_of, wait_for, world_with};
use sharebridge::engine::workers::WorkerState;
use sharebridge::sim::Simulator;

/// Daemon settings with a fast poll (the tests lean on the pollers, not on hints).
const POLLING: &str = "[daemon]\nadmin_token = \"admin\"\nstate_dir = \"unused\"\ncoalesce_window = \"50ms\"\npoll_interval = \"100ms\"\nreconcile_interval = \"1h\"\nin_doubt_wait = \"2s\"\n";

fn agreement(from: &str, to: &str, tag: &str) -> String {
    format!(
        "\n[[agreements]]\nname = \"{from}-to-{to}\"\nfrom = \"{from}\"\nto = \"{to}\"\nauto_share_tags = [\"{tag}\"]\n"
    )
}

fn with_token(section: String, token: &str, sim: &Simulator) -> String {
    section.replace(
        &format!("token = \"{}\"", sim.token()),
        &format!("token = \"{token}\""),
    )
}

fn status(w: &common::World, account: &str) -> Option<sharebridge::engine::workers::AccountView> {
    w.engine()
        .account_views()
        .into_iter()
        .find(|a| a.account == account)
}

fn mirrored(w: &common::World, account: &str, ticket: u64) -> bool {
    w.engine()
        .store()
        .links_by_source_ticket(account, ticket)
        .unwrap()
        .iter()
        .any(|l| l.target_ticket.is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_adds_changes_and_removes_accounts_workers() {
    let sim = simulator_of(&["acme", "vendor", "delta"]).await;
    // acme starts with a token Zendesk refuses.
    let first = format!(
        "{POLLING}{}{}{}",
        with_token(account_section(&sim, "acme", ""), "wrong", &sim),
        account_section(&sim, "vendor", "accept_from = [\"acme\"]"),
        agreement("acme", "vendor", "escalate"),
    );
    let w = world_with(sim, &first).await;
    let a = w
        .sim
        .create_ticket(
            "acme",
            AGENT_A,
            &new_ticket("found by polling", "hi", &["escalate"]),
        )
        .unwrap()
        .id;
    wait_for(|| status(&w, "acme").is_some_and(|s| s.auth.state == WorkerState::Stopped)).await;
    assert!(!mirrored(&w, "acme", a));

    // The reload fixes acme's token and adds delta with an agreement into vendor.
    let second = format!(
        "{POLLING}{}{}{}{}{}",
        account_section(&w.sim, "acme", ""),
        account_section(&w.sim, "vendor", "accept_from = [\"acme\", \"delta\"]"),
        account_section(&w.sim, "delta", ""),
        agreement("acme", "vendor", "escalate"),
        agreement("delta", "vendor", "escalate"),
    );
    w.reconfigure_text(&second).await;
    let d = w
        .sim
        .create_ticket(
            "delta",
            "dora@delta.example",
            &new_ticket("delta's, found by polling", "hi", &["escalate"]),
        )
        .unwrap()
        .id;
    // No hint is pushed: only the pollers can find them (acme's with its new client,
    // delta's new one).
    wait_for(|| mirrored(&w, "acme", a) && mirrored(&w, "delta", d)).await;
    assert_eq!(status(&w, "acme").unwrap().poller.state, WorkerState::Ok);
    wait_for(|| status(&w, "delta").is_some_and(|s| s.poller.state == WorkerState::Ok)).await;

    // Removing delta stops its workers.
    let third = format!(
        "{POLLING}{}{}{}",
        account_section(&w.sim, "acme", ""),
        account_section(&w.sim, "vendor", "accept_from = [\"acme\"]"),
        agreement("acme", "vendor", "escalate"),
    );
    w.reconfigure_text(&third).await;
    assert!(status(&w, "delta").is_none());
    w.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_credential_stops_retries_parks_its_work_and_holds_back_nothing_else() {
    let sim = simulator_of(&["acme", "vendor", "delta"]).await;
    let text = |vendor_token: &str, sim: &Simulator| {
        format!(
            "{POLLING}{}{}{}{}",
            account_section(sim, "acme", ""),
            with_token(
                account_section(sim, "vendor", "accept_from = [\"acme\"]"),
                vendor_token,
                sim
            ),
            account_section(sim, "delta", ""),
            agreement("acme", "vendor", "escalate"),
        )
    };
    let revoked = text("revoked", &sim);
    let w = world_with(sim, &revoked).await;
    let t = w
        .sim
        .create_ticket(
            "acme",
            AGENT_A,
            &new_ticket("needs vendor", "hi", &["escalate"]),
        )
        .unwrap()
        .id;
    w.hints.push("acme", t);
    wait_for(|| w.engine().parked() == 1).await;
    let vendor = status(&w, "vendor").unwrap();
    assert_eq!(vendor.auth.state, WorkerState::Stopped);
    assert_eq!(vendor.poller.state, WorkerState::Stopped);
    let fix = vendor.fix.unwrap();
    assert!(fix.contains("sharebridge connect vendor"), "{fix}");
    assert!(vendor.auth.last_error.unwrap().contains("401"));

    // Nothing is retried against vendor while its credential is dead, and delta's export
    // position moves on meanwhile.
    let tried = w.sim.stats("vendor").requests;
    let position = |w: &common::World| status(w, "delta").and_then(|s| s.export_position);
    let before = position(&w);
    w.sim
        .create_ticket(
            "delta",
            "dora@delta.example",
            &new_ticket("delta", "x", &[]),
        )
        .unwrap();
    wait_for(|| position(&w) != before).await;
    w.hints.push("acme", t);
    w.settle().await;
    assert_eq!(
        w.sim.stats("vendor").requests,
        tried,
        "no retry against vendor"
    );
    assert_eq!(w.engine().parked(), 1);

    // The fix, then a reload: the parked ticket is shared.
    let fixed = text(w.sim.token(), &w.sim);
    w.reconfigure_text(&fixed).await;
    wait_for(|| mirrored(&w, "acme", t)).await;
    assert_eq!(w.engine().parked(), 0);
    wait_for(|| status(&w, "vendor").is_some_and(|s| s.auth.state == WorkerState::Ok)).await;
    w.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_credential_shows_on_api_accounts_readyz_and_the_metric() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = simulator_of(&["acme", "vendor"]).await;
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let text = format!(
        "{}{}{}",
        POLLING.replace(
            "state_dir = \"unused\"",
            &format!("state_dir = {:?}", dir.path().join("state"))
        ),
        account_section(&sim, "acme", "webhook_secret = \"hook\""),
        with_token(
            account_section(&sim, "vendor", "accept_from = [\"acme\"]"),
            "revoked",
            &sim
        ),
    ) + &agreement("acme", "vendor", "escalate");
    let config = common::load(dir.path(), &text);
    let running = sharebridge::daemon::start(config, listener).await.unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    let mut accounts = serde_json::Value::Null;
    for _ in 0..500 {
        accounts = http
            .get(format!("{base}/api/accounts"))
            .bearer_auth("admin")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if accounts[1]["auth"]["state"] == "stopped" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let vendor = &accounts[1];
    assert_eq!(vendor["account"], "vendor", "{accounts}");
    assert_eq!(vendor["auth"]["state"], "stopped", "{accounts}");
    assert_eq!(vendor["poller"]["state"], "stopped");
    assert!(
        vendor["fix"]
            .as_str()
            .unwrap()
            .contains("sharebridge connect vendor")
    );
    assert_eq!(
        accounts[0]["webhook"]["state"], "starting",
        "acme has a webhook secret"
    );
    assert_eq!(vendor["webhook"]["state"], "off");
    for k in [
        "since",
        "last_success",
        "last_error",
        "export_position",
        "token_expires_at",
    ] {
        assert!(
            vendor.get(k).is_some()
                || vendor["poller"].get(k).is_some()
                || vendor["auth"].get(k).is_some(),
            "{k} in {vendor}"
        );
    }
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let body = ready.text().await.unwrap();
    assert!(
        body.contains("account vendor") && body.contains("sharebridge connect vendor"),
        "{body}"
    );
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sharebridge_account_worker_up{account=\"vendor\",worker=\"auth\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sharebridge_account_worker_up{account=\"acme\",worker=\"poller\"} 1")
    );
    // The status page shows it too.
    let page = http
        .get(format!("{base}/"))
        .bearer_auth("admin")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Accounts") && page.contains("sharebridge connect vendor"));
    running.stop().await.unwrap();
}
