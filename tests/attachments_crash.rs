//! Attachments exactly once across crashes and writes in doubt (issue #16): the real
//! daemon killed (SIGKILL) between its uploads and the comment that carries them uploads
//! again after the restart (the first tokens have expired by then) and writes the comment
//! once, with the file once; a write whose answer was lost is found by its marker and
//! neither uploaded nor written again.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{AGENT_A, Setup, World, new_ticket, wait_for_within, world};
use sharebridge::sim::Simulator;
use sharebridge::zendesk::models::{NewComment, TicketWrite};

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
}

fn comment_with_file(sim: &Simulator, ticket: u64, body: &str, name: &str, data: &[u8]) {
    let up = sim
        .upload(
            "acme",
            AGENT_A,
            name,
            "application/octet-stream",
            data.to_vec(),
        )
        .unwrap();
    sim.update_ticket(
        "acme",
        ticket,
        AGENT_A,
        &TicketWrite {
            comment: Some(NewComment {
                body: Some(body.into()),
                public: Some(true),
                uploads: vec![up.token],
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .unwrap();
}

fn count(sim: &Simulator, account: &str, endpoint: &str) -> u64 {
    sim.stats(account)
        .by_endpoint
        .get(endpoint)
        .copied()
        .unwrap_or(0)
}

/// The mirror's comments containing `text`, with their files' names.
fn carrying(sim: &Simulator, mirror: u64, text: &str) -> Vec<Vec<String>> {
    sim.comments("vendor", mirror)
        .into_iter()
        .filter(|c| c.body.contains(text))
        .map(|c| c.attachments.into_iter().map(|a| a.file_name).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_upload_and_comment_uploads_again_and_writes_once() {
    let sim = common::simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = common::config_text(&sim, &Setup::default())
        .replace(
            "admin_token = \"admin\"",
            &format!("admin_token = \"admin\"\nlisten = \"127.0.0.1:{port}\""),
        )
        .replace(
            "state_dir = \"unused\"",
            &format!("state_dir = {:?}", dir.path().join("state")),
        )
        .replace("poll_interval = \"1h\"", "poll_interval = \"1s\"");
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
    let t = sim
        .create_ticket(
            "acme",
            AGENT_A,
            &new_ticket("crash files", "x", &["vendor_escalation"]),
        )
        .unwrap();
    wait_for_within(20, || sim.tickets("vendor").len() == 1).await;
    let m = sim.tickets("vendor")[0].id;

    // vendor's ticket updates now hang without effect: the daemon uploads the file, sends
    // the comment, and is killed while it waits.
    sim.set_stall_ticket_updates("vendor", true);
    let puts = count(&sim, "vendor", "PUT /api/v2/tickets/{id}");
    let data = bytes(1_000_000, 1);
    comment_with_file(&sim, t.id, "the crash log", "crash.log", &data);
    wait_for_within(20, || {
        count(&sim, "vendor", "POST /api/v2/uploads") >= 1
            && count(&sim, "vendor", "PUT /api/v2/tickets/{id}") > puts
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(carrying(&sim, m, "the crash log").is_empty());

    // Over an hour later the first upload's token has expired: only a fresh upload can
    // carry the file.
    sim.advance_clock(Duration::from_secs(61 * 60));
    sim.set_stall_ticket_updates("vendor", false);
    let uploads_before = count(&sim, "vendor", "POST /api/v2/uploads");
    let mut child = spawn();
    wait_for_within(30, || !carrying(&sim, m, "the crash log").is_empty()).await;
    // Give a second copy every chance to appear (polls every second).
    tokio::time::sleep(Duration::from_secs(3)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    assert_eq!(
        carrying(&sim, m, "the crash log"),
        vec![vec!["crash.log".to_owned()]],
        "one comment, one file"
    );
    assert!(count(&sim, "vendor", "POST /api/v2/uploads") > uploads_before);
    let c = sim
        .comments("vendor", m)
        .into_iter()
        .find(|c| c.body.contains("the crash log"))
        .unwrap();
    let (got, _) = sim.attachment_bytes("vendor", c.attachments[0].id).unwrap();
    assert_eq!(&got[..], &data[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_answer_was_lost_is_not_uploaded_or_written_again() {
    let w: World = world(Setup::default()).await;
    let (t, m) = w.shared_ticket("lost answer").await;
    w.sim.set_lose_ticket_update_answers("vendor", true);
    let data = bytes(50_000, 2);
    comment_with_file(&w.sim, t, "answer lost", "lost.bin", &data);
    w.hints.push("acme", t);
    wait_for_within(20, || !carrying(&w.sim, m, "answer lost").is_empty()).await;
    w.sim.set_lose_ticket_update_answers("vendor", false);
    w.settle().await;
    // A later comment crosses normally after it.
    w.sim
        .add_comment("acme", t, AGENT_A, "and after", true)
        .unwrap();
    w.poke("acme", t).await;

    assert_eq!(
        carrying(&w.sim, m, "answer lost"),
        vec![vec!["lost.bin".to_owned()]]
    );
    assert_eq!(count(&w.sim, "vendor", "POST /api/v2/uploads"), 1);
    assert_eq!(carrying(&w.sim, m, "and after").len(), 1);
    assert!(w.engine().store().pending_writes().unwrap().is_empty());
}
