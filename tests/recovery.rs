//! The real binary at its edges: a damaged store stops it with a pointer to recovery (and
//! is left as it was); OAuth refresh-token rotation survives SIGKILL.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{AGENT_A, Setup, new_ticket, wait_for_within};

#[test]
fn a_damaged_store_stops_the_daemon_with_a_pointer_to_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let garbage: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(state.join("sharebridge.redb"), &garbage).unwrap();
    let config = format!(
        "[daemon]\nadmin_token = \"a\"\nstate_dir = {state:?}\nlisten = \"127.0.0.1:0\"\n\
         [accounts.acme]\nsubdomain = \"acme\"\nbase_url = \"http://127.0.0.1:9\"\nemail = \"b@acme.example\"\ntoken = \"t\"\n"
    );
    let path = dir.path().join("sharebridge.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sharebridge"))
        .args(["run", "--config"])
        .arg(&path)
        .env_remove("SHAREBRIDGE_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("corrupted")
            && err.contains("sharebridge backup")
            && err.contains("sharebridge.redb"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(state.join("sharebridge.redb")).unwrap(),
        garbage,
        "the damaged file is left as it was"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_rotation_survives_sigkill() {
    let sim = common::simulator().await;
    // Short-lived access tokens: every few seconds a refresh rotates the pair.
    sim.set_access_token_lifetime(2);
    let acme = sim.oauth_client("acme", "bridge@acme.example");
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = common::config_text(&sim, &Setup::default())
        .replace("admin_token = \"admin\"", &format!("admin_token = \"admin\"\nlisten = \"127.0.0.1:{port}\""))
        .replace("state_dir = \"unused\"", &format!("state_dir = {:?}", dir.path().join("state")))
        .replace("poll_interval = \"1h\"", "poll_interval = \"1s\"")
        .replace(
            &format!("email = \"bridge@acme.example\"\ntoken = \"{}\"", sim.token()),
            &format!(
                "email = \"bridge@acme.example\"\noauth = {{ client_id = \"{}\", client_secret = \"{}\", refresh_token = \"{}\" }}",
                acme.client_id, acme.client_secret, acme.refresh_token
            ),
        );
    assert!(text.contains("oauth ="), "{text}");
    let path = dir.path().join("sharebridge.toml");
    std::fs::write(&path, &text).unwrap();
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_sharebridge"))
            .args(["run", "--config"])
            .arg(&path)
            .env_remove("SHAREBRIDGE_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = spawn();
    let t1 = sim
        .create_ticket(
            "acme",
            AGENT_A,
            &new_ticket("oauth one", "x", &["vendor_escalation"]),
        )
        .unwrap();
    // Polling (no webhooks here) finds it; sharing reads acme with OAuth.
    wait_for_within(15, || sim.tickets("vendor").len() == 1).await;
    // Let the access token expire so the next request refreshes (rotates), then kill.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    sim.add_comment("acme", t1.id, AGENT_A, "after rotation", true)
        .unwrap();
    let m1 = sim.tickets("vendor")[0].id;
    wait_for_within(15, || {
        sim.comments("vendor", m1)
            .iter()
            .any(|c| c.body.contains("after rotation"))
    })
    .await;
    let refreshes = sim
        .stats("acme")
        .by_endpoint
        .get("POST /oauth/tokens")
        .copied()
        .unwrap_or(0);
    assert!(refreshes >= 1, "the pair rotated before the kill");
    child.kill().unwrap();
    child.wait().unwrap();
    // The configured refresh token is dead now (rotated); the stored pair must carry on.
    let mut child = spawn();
    let t2 = sim
        .create_ticket(
            "acme",
            AGENT_A,
            &new_ticket("oauth two", "y", &["vendor_escalation"]),
        )
        .unwrap();
    wait_for_within(15, || sim.tickets("vendor").len() == 2).await;
    let _ = t2;
    child.kill().unwrap();
    child.wait().unwrap();
}
