//! The real binary's logs over a full scenario (share, public and private comments, a
//! reply, a file, an unshare, a reload) at the most verbose level: no token, secret,
//! comment body, file name, file content or attachment URL token may appear in them.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{AGENT_A, AGENT_V, Setup, new_ticket, wait_for};

const TOKEN: &str = "tok-SECRET-7c1f";
const WEBHOOK_SECRET: &str = "hook-SECRET-91ab";
const ADMIN: &str = "adm-SECRET-55d0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_secret_and_no_comment_body() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut sc = sharebridge::sim::SimConfig::local(&["acme", "vendor"]);
    sc.limits = sharebridge::sim::Limits::unlimited();
    sc.export_lag_secs = 0;
    sc.token = TOKEN.into();
    sc.webhook_secret = WEBHOOK_SECRET.into();
    let sim = sharebridge::sim::Simulator::start(sc).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = common::config_text(&sim, &Setup::default())
        .replace(
            "admin_token = \"admin\"",
            &format!("admin_token = \"{ADMIN}\"\nlisten = \"127.0.0.1:{port}\""),
        )
        .replace(
            "state_dir = \"unused\"",
            &format!("state_dir = {:?}", dir.path().join("state")),
        )
        .replace("poll_interval = \"1h\"", "poll_interval = \"1s\"")
        .replace(
            "email = \"bridge@acme.example\"",
            &format!("email = \"bridge@acme.example\"\nwebhook_secret = \"{WEBHOOK_SECRET}\""),
        )
        .replace(
            "email = \"bridge@vendor.example\"",
            &format!("email = \"bridge@vendor.example\"\nwebhook_secret = \"{WEBHOOK_SECRET}\""),
        );
    let path = dir.path().join("sharebridge.toml");
    std::fs::write(&path, &text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sharebridge"))
        .args(["run", "--config"])
        .arg(&path)
        .env("RUST_LOG", "trace")
        .env_remove("SHAREBRIDGE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_for(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()).await;
    sim.add_webhook("acme", &format!("{base}/webhooks/acme"));
    sim.add_webhook("vendor", &format!("{base}/webhooks/vendor"));

    let bodies = [
        "BODY-first-3f9",
        "BODY-public-a71",
        "BODY-private-c02",
        "BODY-reply-e55",
    ];
    let t = sim
        .create_ticket(
            "acme",
            AGENT_A,
            &new_ticket("subject", bodies[0], &["vendor_escalation"]),
        )
        .unwrap();
    wait_for(|| sim.tickets("vendor").len() == 1).await;
    let m = sim.tickets("vendor")[0].id;
    sim.add_comment("acme", t.id, AGENT_A, bodies[1], true)
        .unwrap();
    sim.add_comment("acme", t.id, AGENT_A, bodies[2], false)
        .unwrap();
    wait_for(|| {
        sim.comments("vendor", m)
            .iter()
            .any(|c| c.body.contains(bodies[1]))
    })
    .await;
    // A file: its name, content and URLs (which hold access tokens) stay out of the logs.
    let file_name = "FILE-name-b2d.log";
    let file_content = "FILE-content-9e1 ".repeat(1000);
    let up = sim
        .upload(
            "acme",
            AGENT_A,
            file_name,
            "text/plain",
            file_content.clone().into_bytes(),
        )
        .unwrap();
    let source_url = up.attachment.content_url.clone();
    sim.update_ticket(
        "acme",
        t.id,
        AGENT_A,
        &sharebridge::zendesk::models::TicketWrite {
            comment: Some(sharebridge::zendesk::models::NewComment {
                body: Some("BODY-file-7d4".into()),
                uploads: vec![up.token.clone()],
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .unwrap();
    wait_for(|| {
        sim.comments("vendor", m)
            .iter()
            .any(|c| c.attachments.iter().any(|a| a.file_name == file_name))
    })
    .await;
    let mirror_url = sim
        .comments("vendor", m)
        .into_iter()
        .flat_map(|c| c.attachments)
        .find(|a| a.file_name == file_name)
        .unwrap()
        .content_url;
    let url_token = |url: &str| {
        url.split("/token/")
            .nth(1)
            .and_then(|t| t.split('/').next())
            .unwrap()
            .to_owned()
    };
    let file_secrets = [
        file_name.to_owned(),
        "FILE-content-9e1".to_owned(),
        "BODY-file-7d4".to_owned(),
        url_token(&source_url),
        url_token(&mirror_url),
        up.token.clone(),
    ];
    sim.add_comment("vendor", m, AGENT_V, bodies[3], true)
        .unwrap();
    wait_for(|| {
        sim.comments("acme", t.id)
            .iter()
            .any(|c| c.body.contains(bodies[3]))
    })
    .await;
    let r = http
        .post(format!("{base}/api/unshare"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"account": "acme", "ticket": t.id, "to": "vendor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let _ = http
        .get(format!("{base}/api/links"))
        .bearer_auth("wrong-token-x")
        .send()
        .await;
    // Reload (SIGHUP) and stop (SIGTERM).
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || {
        let s = child.wait().unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        (s, err + &out)
    })
    .await
    .unwrap();
    let (status, logs) = status;
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
    assert!(
        logs.contains("mirror ready") && logs.contains("link orphaned"),
        "the scenario ran:\n{}",
        &logs[..logs.len().min(3000)]
    );
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("bridge@acme.example/token:{TOKEN}"));
    let secrets = [
        TOKEN,
        WEBHOOK_SECRET,
        ADMIN,
        "wrong-token-x",
        basic.as_str(),
    ];
    let file_secrets: Vec<&str> = file_secrets.iter().map(String::as_str).collect();
    for secret in secrets
        .iter()
        .chain(bodies.iter())
        .chain(file_secrets.iter())
    {
        if let Some(at) = logs.find(secret) {
            let from = at.saturating_sub(300);
            panic!(
                "{secret:?} appears in the logs: …{}…",
                &logs[from..(at + 100).min(logs.len())]
            );
        }
    }
}
