//! The simulator judged by a client nobody here wrote: zenpy 2.0.57 (PyPI), from the
//! virtualenv `scripts/test` makes (`target/venv`, or `$SHAREBRIDGE_TEST_VENV`), runs the
//! pytest suite in `tests/clients/zenpy/` against an in-process simulator on port 0.
//! Without the virtualenv this test fails and says how to make it; it never skips.

mod common;

use std::path::{Path, PathBuf};
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

/// `python -m pytest` on `target` (a suite directory, or one file of it), run from the
/// suite directory `dir` with `env`, quiet, every outcome listed, no cache written.
fn pytest(python: &Path, dir: &Path, target: &Path, env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(python);
    cmd.args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"])
        .arg(target)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("ZENPY_FORCE_SCHEME");
    cmd
}

/// The directory of a suite under `tests/clients/`.
fn suite(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

/// Everything pytest printed, and its exit code (0: all passed; 5, nothing collected,
/// is a failure here too).
fn printed(out: &std::process::Output) -> (Option<i32>, String) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// Runs `cmd` off the async threads and returns what [`printed`] says.
async fn run(mut cmd: Command) -> (Option<i32>, String) {
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("python runs");
    printed(&out)
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
    let dir = suite("zenpy");
    let cmd = pytest(
        &python,
        &dir,
        &dir,
        &[
            ("SIM_URL", sim.base_url("acme")),
            ("SIM_TOKEN", sim.token().to_owned()),
            ("SIM_AGENT", AGENT.to_owned()),
            ("SIM_ADMIN", ADMIN.to_owned()),
            ("SIM_OAUTH_CLIENT", "zenpy".to_owned()),
            ("SIM_OAUTH_SECRET", "zenpy-secret".to_owned()),
        ],
    );
    let (code, text) = run(cmd).await;
    assert_eq!(code, Some(0), "zenpy suite failed:\n{text}");
    assert!(text.contains(" passed"), "{text}");
    sim.shutdown().await;
}

/// End to end through zenpy: agents of two simulated accounts set priority, type with
/// due date, group and form with zenpy; the bridge (the engine, with hints standing in
/// for webhooks) carries them across under `[agreements.system]`, both ways, and
/// nothing bounces back (`tests/clients/zenpy_bridge/`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenpy_agents_system_fields_cross_the_bridge() {
    let python = venv_python();
    let sim = common::simulator().await;
    let ids = serde_json::json!({
        "acme_group": sim.add_group("acme", "Tier 2").id,
        "vendor_group": sim.add_group("vendor", "Escalations").id,
        "acme_default_group": sim.groups("acme")[0].id,
        "vendor_default_group": sim.groups("vendor")[0].id,
        "acme_form": sim.add_ticket_form("acme", "Hardware").id,
        "vendor_form": sim.add_ticket_form("vendor", "Partner hardware").id,
        "acme_default_form": sim.ticket_forms("acme")[0].id,
        "vendor_default_form": sim.ticket_forms("vendor")[0].id,
    });
    let id = |k: &str| ids[k].as_u64().unwrap();
    let system = |g: (u64, u64), dg: (u64, u64), f: (u64, u64), df: (u64, u64)| {
        format!(
            "[agreements.system]\npriority = true\ntype = true\ngroups = {{ \"{}\" = {}, \"{}\" = {} }}\nforms = {{ \"{}\" = {}, \"{}\" = {} }}\n",
            g.0, g.1, dg.0, dg.1, f.0, f.1, df.0, df.1
        )
    };
    let text = format!(
        "{daemon}{acme}{vendor}\n[[agreements]]\nname = \"acme-to-vendor\"\nfrom = \"acme\"\nto = \"vendor\"\nauto_share_tags = [\"vendor_escalation\"]\n{forward}\n[[agreements]]\nname = \"vendor-to-acme\"\nfrom = \"vendor\"\nto = \"acme\"\n{back}",
        daemon = common::DAEMON_SECTION,
        acme = common::account_section(&sim, "acme", "accept_from = [\"vendor\"]"),
        vendor = common::account_section(&sim, "vendor", "accept_from = [\"acme\"]"),
        forward = system(
            (id("acme_group"), id("vendor_group")),
            (id("acme_default_group"), id("vendor_default_group")),
            (id("acme_form"), id("vendor_form")),
            (id("acme_default_form"), id("vendor_default_form")),
        ),
        back = system(
            (id("vendor_group"), id("acme_group")),
            (id("vendor_default_group"), id("acme_default_group")),
            (id("vendor_form"), id("acme_form")),
            (id("vendor_default_form"), id("acme_default_form")),
        ),
    );
    let (acme_url, vendor_url, token) = (
        sim.base_url("acme"),
        sim.base_url("vendor"),
        sim.token().to_owned(),
    );
    let w = common::world_with(sim, &text).await;
    let dir = suite("zenpy_bridge");
    let mut cmd = pytest(
        &python,
        &dir,
        &dir,
        &[
            ("ACME_URL", acme_url),
            ("VENDOR_URL", vendor_url),
            ("SIM_TOKEN", token),
            ("ACME_AGENT", common::AGENT_A.to_owned()),
            ("VENDOR_AGENT", common::AGENT_V.to_owned()),
            ("IDS", ids.to_string()),
        ],
    );
    let zenpy = tokio::task::spawn_blocking(move || cmd.output());
    // While zenpy works, a hint for each ticket that changed, as a webhook would bring
    // it (the world runs no server).
    let mut seen = std::collections::BTreeMap::new();
    while !zenpy.is_finished() {
        for account in ["acme", "vendor"] {
            for t in w.sim.tickets(account) {
                // `updated_at` has whole seconds: the ticket itself tells a change.
                let now = serde_json::to_string(&t).unwrap_or_default();
                if seen.insert((account, t.id), now.clone()) != Some(now) {
                    w.hints.push(account, t.id);
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (code, text) = printed(&zenpy.await.unwrap().expect("python runs"));
    assert_eq!(code, Some(0), "zenpy bridge suite failed:\n{text}");
    assert!(text.contains(" passed"), "{text}");
    // Nothing bounces: looking at both sides again writes nothing more.
    w.settle().await;
    let updates = |account: &str| {
        w.sim
            .stats(account)
            .by_endpoint
            .get("PUT /api/v2/tickets/{id}")
            .copied()
            .unwrap_or(0)
    };
    let source = w.sim.tickets("acme")[0].id;
    let mirror = w.mirror_of(source);
    w.poke("acme", source).await;
    w.poke("vendor", mirror).await;
    let puts = (updates("acme"), updates("vendor"));
    w.poke("acme", source).await;
    w.poke("vendor", mirror).await;
    assert_eq!(
        (updates("acme"), updates("vendor")),
        puts,
        "a bridge write bounced back"
    );
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
    let dir = suite("zenpy");
    let cmd = pytest(
        &python,
        &dir,
        &dir.join("bridge_attachments.py"),
        &[
            ("SIM_URL", acme),
            ("SIM_VENDOR_URL", vendor),
            ("SIM_TOKEN", token),
            ("SIM_AGENT", common::AGENT_A.to_owned()),
            ("SIM_VENDOR_AGENT", common::AGENT_V.to_owned()),
            ("SIM_MAX_BYTES", max_bytes.to_string()),
        ],
    );
    let (code, text) = run(cmd).await;
    assert_eq!(code, Some(0), "zenpy bridge test failed:\n{text}");
    assert!(text.contains("1 passed"), "{text}");
    assert_eq!(w.sim.stats("acme").file_downloads_with_credentials, 0);
    w.stop();
}

/// The promise (issue #12) checked from outside: zenpy agents of acme and vendor work
/// both sides of two-way links while the daemon runs in-process behind its HTTP server,
/// with the simulator's signed webhooks and nothing pushed by hand — a burst from both
/// sides arrives once and in order, private notes stay home, a redaction and a
/// make-private follow the comment, and a mirror tagged for the way back is never
/// shared back (`tests/clients/zenpy_promise/`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenpy_agents_find_the_promise_kept() {
    let python = venv_python();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut sc = SimConfig::local(&["acme", "vendor"]);
    sc.limits = Limits::unlimited();
    sc.export_lag_secs = 0;
    sc.webhook_secret = "hook".into();
    let sim = Simulator::start(sc).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let text = format!(
        "{daemon}{acme}{vendor}\n[[agreements]]\nname = \"acme-to-vendor\"\nfrom = \"acme\"\nto = \"vendor\"\nauto_share_tags = [\"vendor_escalation\"]\n\n[[agreements]]\nname = \"vendor-to-acme\"\nfrom = \"vendor\"\nto = \"acme\"\nauto_share_tags = [\"acme_escalation\"]\n",
        daemon = common::DAEMON_SECTION.replace(
            "state_dir = \"unused\"",
            &format!("state_dir = {:?}", dir.path().join("state")),
        ),
        acme = common::account_section(
            &sim,
            "acme",
            "accept_from = [\"vendor\"]\nwebhook_secret = \"hook\""
        ),
        vendor = common::account_section(
            &sim,
            "vendor",
            "accept_from = [\"acme\"]\nwebhook_secret = \"hook\""
        ),
    );
    let config = common::load(dir.path(), &text);
    let running = sharebridge::daemon::start(config, listener).await.unwrap();
    for account in ["acme", "vendor"] {
        sim.add_webhook(account, &format!("http://{addr}/webhooks/{account}"));
    }
    let dir = suite("zenpy_promise");
    let cmd = pytest(
        &python,
        &dir,
        &dir,
        &[
            ("ACME_URL", sim.base_url("acme")),
            ("VENDOR_URL", sim.base_url("vendor")),
            ("SIM_TOKEN", sim.token().to_owned()),
            ("ACME_AGENT", common::AGENT_A.to_owned()),
            ("VENDOR_AGENT", common::AGENT_V.to_owned()),
        ],
    );
    let (code, text) = run(cmd).await;
    assert_eq!(code, Some(0), "zenpy promise suite failed:\n{text}");
    assert!(text.contains("3 passed"), "{text}");
    running.stop().await.unwrap();
    sim.shutdown().await;
}

/// Issue #12's cases driven from outside (`tests/clients/zenpy_outside/`): the real
/// `sharebridge sim` and `sharebridge run` as processes, zenpy agents, SIGKILL and SIGHUP,
/// the CLI and the HTTP API — three agents' burst with four SIGKILLs and every kind of
/// fault, a reload that adds, changes and removes accounts (a revoked token stops), a
/// link ended mid-burst and shared again, a decline just before a SIGKILL, an agreement
/// without public comments, consent one file cannot give for another account, and a
/// busy account that slows no other. `SHAREBRIDGE_OUTSIDE_SEED` picks the burst's
/// faults and kill points.
#[test]
fn zenpy_agents_drive_the_real_binaries_from_outside() {
    let python = venv_python();
    let dir = suite("zenpy_outside");
    let mut cmd = pytest(
        &python,
        &dir,
        &dir,
        &[(
            "SHAREBRIDGE_BIN",
            env!("CARGO_BIN_EXE_sharebridge").to_owned(),
        )],
    );
    let (code, text) = printed(&cmd.output().expect("python runs"));
    assert_eq!(code, Some(0), "zenpy outside suite failed:\n{text}");
    assert!(text.contains("7 passed"), "{text}");
}
