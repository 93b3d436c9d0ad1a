//! The real binary as an operator runs it: SIGHUP with a valid and an invalid
//! configuration, the CLI against the running daemon (agreements, links, backup), and
//! SIGTERM draining to exit 0.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{AGENT_A, Setup, new_ticket, wait_for};

fn cli(config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sharebridge"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("SHAREBRIDGE_CONFIG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn state_of(config: &std::path::Path, name: &str) -> String {
    let (code, out, err) = cli(config, &["agreements", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap()["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_valid_and_invalid_backup_and_drain() {
    let sim = common::simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let configure = |setup: &Setup| {
        common::config_text(&sim, setup)
            .replace(
                "admin_token = \"admin\"",
                &format!("admin_token = \"admin\"\nlisten = \"127.0.0.1:{port}\""),
            )
            .replace(
                "state_dir = \"unused\"",
                &format!("state_dir = {:?}", dir.path().join("state")),
            )
            .replace("poll_interval = \"1h\"", "poll_interval = \"1s\"")
    };
    let path = dir.path().join("sharebridge.toml");
    std::fs::write(&path, configure(&Setup::default())).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sharebridge"))
        .args(["run", "--config"])
        .arg(&path)
        .env_remove("SHAREBRIDGE_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()).await;
    assert_eq!(state_of(&path, "acme-to-vendor"), "accepted");

    // Work for the daemon (found by polling), then the CLI reads it back.
    let t = sim
        .create_ticket(
            "acme",
            AGENT_A,
            &new_ticket("ops", "x", &["vendor_escalation"]),
        )
        .unwrap();
    wait_for(|| sim.tickets("vendor").len() == 1).await;
    let (code, out, _) = cli(&path, &["links", "list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("acme#{}", t.id)) && out.contains("active"),
        "{out}"
    );

    // A consistent backup while the daemon runs.
    let backup = dir.path().join("backup.redb");
    let (code, out, err) = cli(&path, &["backup", backup.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("backup.redb"), "{out}");
    let copy = sharebridge::store::Store::open_read_only(&backup).unwrap();
    assert_eq!(copy.links().unwrap().len(), 1);
    drop(copy);

    // A valid change: vendor withdraws consent. SIGHUP applies it.
    std::fs::write(
        &path,
        configure(&Setup {
            vendor_accepts: false,
            ..Setup::default()
        }),
    )
    .unwrap();
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    wait_for(|| state_of(&path, "acme-to-vendor") == "inactive").await;
    // The state is published first (every write checks it), then the reload's pass
    // orphans the links: the report follows within moments.
    wait_for(|| {
        cli(&path, &["orphans", "list"])
            .1
            .contains("agreement_inactive")
    })
    .await;

    // An invalid file: refused, every problem logged, the previous configuration stays.
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        good.replace("[daemon]", "[daemon]\ncolour = \"red\"")
            .replace("requests_per_minute = 20000", "requests_per_minute = 0"),
    )
    .unwrap();
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running after a bad reload"
    );
    std::fs::write(&path, &good).unwrap();
    assert_eq!(state_of(&path, "acme-to-vendor"), "inactive");

    // SIGTERM: drains and exits 0.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let (status, logs) = tokio::task::spawn_blocking(move || {
        let s = child.wait().unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (s, err)
    })
    .await
    .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(logs.contains("reload refused"), "{logs}");
    assert!(
        logs.contains("daemon.colour") && logs.contains("requests_per_minute"),
        "every problem logged: {logs}"
    );
    assert!(logs.contains("configuration reloaded"), "{logs}");
}
