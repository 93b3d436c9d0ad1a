//! The simulator judged by a client nobody here wrote: zenpy 2.0.57 (PyPI), from the
//! virtualenv `scripts/test` makes (`target/venv`, or `$SHAREBRIDGE_TEST_VENV`), runs the
//! pytest suite in `tests/clients/zenpy/` against an in-process simulator on port 0.
//! Without the virtualenv this test fails and says how to make it; it never skips.

mod common;

use std::path::PathBuf;
use std::process::Command;

use sharebridge::sim::{Limits, SimConfig, Simulator};

const AGENT: &str = "agent@acme.example";
const ADMIN: &str = "admin@acme.example";

/// The venv's python, or a panic naming the command that makes it.
fn venv_python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var_os("SHAREBRIDGE_TEST_VENV")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/venv"));
    let python = venv.join("bin/python");
    let ok = python.exists()
        && Command::new(&python)
            .args(["-c", "import zenpy, pytest, importlib.metadata as m; assert m.version('zenpy') == '2.0.57'"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok,
        "no virtualenv with zenpy 2.0.57 and pytest at {}: run scripts/test (it makes one: \
         python3 -m venv target/venv && target/venv/bin/pip install zenpy==2.0.57 pytest), \
         or point SHAREBRIDGE_TEST_VENV at one",
        venv.display()
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenpy_drives_every_endpoint_the_bridge_uses() {
    let python = venv_python();
    let mut cfg = SimConfig::local(&["acme"]);
    cfg.limits = Limits::unlimited();
    cfg.export_lag_secs = 0;
    cfg.admins = vec![ADMIN.to_owned()];
    cfg.oauth_clients = vec![("zenpy".to_owned(), "zenpy-secret".to_owned())];
    let sim = Simulator::start(cfg).await.unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let suite = root.join("tests/clients/zenpy");
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"])
        .arg(&suite)
        .current_dir(&suite)
        .env("SIM_URL", sim.base_url("acme"))
        .env("SIM_TOKEN", sim.token())
        .env("SIM_AGENT", AGENT)
        .env("SIM_ADMIN", ADMIN)
        .env("SIM_OAUTH_CLIENT", "zenpy")
        .env("SIM_OAUTH_SECRET", "zenpy-secret")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("ZENPY_FORCE_SCHEME");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("python runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // pytest: 0 = all passed; 5 = no test collected, which is a failure here too.
    assert_eq!(out.status.code(), Some(0), "zenpy suite failed:\n{text}");
    assert!(text.contains(" passed"), "{text}");
    sim.shutdown().await;
}

/// End to end: zenpy agents attach files in acme; the bridge (the engine in this process,
/// polling every second) mirrors them to vendor, where zenpy reads them back
/// (`bridge_attachments.py`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenpy_agents_files_reach_the_partner_through_the_bridge() {
    let python = venv_python();
    let sim = common::simulator().await;
    let max_bytes = 50_000;
    let text = common::config_text(&sim, &common::Setup::default())
        .replace("poll_interval = \"1h\"", "poll_interval = \"1s\"")
        .replacen(
            "[agreements.tags]\nexclude = [\"internal_*\"]\n",
            &format!(
                "[agreements.tags]\nexclude = [\"internal_*\"]\n[agreements.attachments]\nmax_bytes = {max_bytes}\n"
            ),
            1,
        );
    assert!(text.contains("max_bytes"), "{text}");
    let acme = sim.base_url("acme");
    let vendor = sim.base_url("vendor");
    let token = sim.token().to_owned();
    let w = common::world_with(sim, &text).await;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let suite = root.join("tests/clients/zenpy");
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"])
        .arg(suite.join("bridge_attachments.py"))
        .current_dir(&suite)
        .env("SIM_URL", acme)
        .env("SIM_VENDOR_URL", vendor)
        .env("SIM_TOKEN", token)
        .env("SIM_AGENT", common::AGENT_A)
        .env("SIM_VENDOR_AGENT", common::AGENT_V)
        .env("SIM_MAX_BYTES", max_bytes.to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("ZENPY_FORCE_SCHEME");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("python runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "zenpy bridge test failed:\n{text}"
    );
    assert!(text.contains("1 passed"), "{text}");
    assert_eq!(w.sim.stats("acme").file_downloads_with_credentials, 0);
    w.stop();
}
