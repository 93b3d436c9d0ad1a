//! Going live (issue #15) from outside, with the real binary against the in-process
//! simulator: `check-config` of an OAuth-only configuration, `fields`, and `doctor` on
//! accounts that are not connected or use API tokens. The OAuth sign-in, webhooks and
//! their failures are in `tests/connect.rs`.

use std::path::{Path, PathBuf};
use std::process::Output;

use sharebridge::sim::{Limits, SimConfig, Simulator};

async fn simulator() -> Simulator {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut sc = SimConfig::local(&["acme", "vendor"]);
    sc.limits = Limits::unlimited();
    sc.export_lag_secs = 0;
    Simulator::start(sc).await.unwrap()
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new(config: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let text = config.replace("STATE", dir.path().join("state").to_str().unwrap());
        std::fs::write(dir.path().join("sharebridge.toml"), text).unwrap();
        Env { dir }
    }
    fn config(&self) -> PathBuf {
        self.dir.path().join("sharebridge.toml")
    }
    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    /// Runs the binary with `args` and this configuration (off the async runtime).
    async fn run(&self, args: &[&str]) -> Output {
        let config = self.config();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        tokio::task::spawn_blocking(move || run_bin(&config, &args))
            .await
            .unwrap()
    }
}

fn run_bin(config: &Path, args: &[String]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sharebridge"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("SHAREBRIDGE_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const DAEMON: &str = "[daemon]\nadmin_token = \"admin\"\nstate_dir = \"STATE\"\npoll_interval = \"1h\"\nreconcile_interval = \"1h\"\n";

fn api_token_account(sim: &Simulator, name: &str) -> String {
    format!(
        "\n[accounts.{name}]\nsubdomain = \"{name}\"\nbase_url = \"{}\"\nemail = \"bridge@{name}.example\"\ntoken = \"{}\"\nrequests_per_minute = 400\n",
        sim.base_url(name),
        sim.token()
    )
}

fn oauth_account(sim: &Simulator, name: &str) -> String {
    format!(
        "\n[accounts.{name}]\nsubdomain = \"{name}\"\nbase_url = \"{}\"\noauth = {{ client_id = \"sb-{name}\", client_secret = \"cs-{name}\" }}\nrequests_per_minute = 400\n",
        sim.base_url(name)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_lists_an_account_and_suggests_a_block_between_two() {
    let sim = simulator().await;
    sim.add_ticket_field(
        "acme",
        "tagger",
        "Tier",
        &[("Gold", "tier_gold"), ("Tin", "tier_tin")],
    );
    sim.add_ticket_field("acme", "text", "Order number", &[]);
    sim.add_ticket_field("acme", "text", "Internal only", &[]);
    let tier_v = sim.add_ticket_field("vendor", "tagger", "tier", &[("gold", "gold")]);
    let order_v = sim.add_ticket_field("vendor", "text", "Order Number", &[]);
    let env = Env::new(&format!(
        "{DAEMON}{}{}",
        api_token_account(&sim, "acme"),
        api_token_account(&sim, "vendor")
    ));

    let listed = env.run(&["fields", "acme"]).await;
    let (out, err) = text(&listed);
    assert!(listed.status.success(), "{out}{err}");
    assert!(
        out.contains("Tier") && out.contains("Gold = tier_gold"),
        "{out}"
    );
    assert!(out.contains("Order number"), "{out}");

    let json = env.run(&["fields", "acme", "--json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let tier = v
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["title"] == "Tier")
        .unwrap();
    assert_eq!(tier["type"], "tagger");
    assert_eq!(tier["options"][0]["value"], "tier_gold");

    let suggested = env.run(&["fields", "acme", "--to", "vendor"]).await;
    let (block, err) = text(&suggested);
    assert!(suggested.status.success(), "{block}{err}");
    // Ready to paste: the block parses as TOML with both fields mapped.
    let parsed: toml::Table = format!("[[agreements]]\nname = \"x\"\n{block}")
        .parse()
        .unwrap_or_else(|e| panic!("not TOML: {e}\n{block}"));
    let fields = parsed["agreements"][0]["fields"].as_array().unwrap();
    let tos: Vec<i64> = fields
        .iter()
        .map(|f| f["to"].as_integer().unwrap())
        .collect();
    assert!(
        tos.contains(&(tier_v.id as i64)) && tos.contains(&(order_v.id as i64)),
        "{block}"
    );
    assert!(block.contains("\"tier_gold\" = \"gold\""), "{block}");
    // What does not match is written as comments.
    assert!(block.contains("# option \"Tin\""), "{block}");
    assert!(block.contains("\"Internal only\""), "{block}");

    let j = env
        .run(&["fields", "acme", "--to", "vendor", "--json"])
        .await;
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(v["pairs"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["unmatched"][0]["title"], "Internal only");

    // An unknown account is bad usage.
    let bad = env.run(&["fields", "nobody"]).await;
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_only_configuration_passes_check_config_and_doctor_names_connect() {
    let sim = simulator().await;
    let env = Env::new(&format!(
        "{DAEMON}public_url = \"https://bridge.example.com\"\n{}{}",
        oauth_account(&sim, "acme"),
        api_token_account(&sim, "vendor")
    ));
    let checked = env.run(&["check-config"]).await;
    let (out, err) = text(&checked);
    assert!(checked.status.success(), "{out}{err}");
    // The API-token account draws the retirement warning; the OAuth one needs connect.
    assert!(
        err.contains("2027-04-30") && err.contains("sharebridge connect vendor"),
        "{err}"
    );
    assert!(out.contains("sharebridge connect acme"), "{out}");
    assert!(
        !env.state().exists(),
        "check-config wrote the state directory"
    );

    let doctor = env.run(&["doctor", "--json"]).await;
    let (out, err) = text(&doctor);
    assert_eq!(doctor.status.code(), Some(1), "{out}{err}");
    let checks: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let find = |account: &str, check: &str| {
        checks
            .iter()
            .find(|c| c["account"] == account && c["check"] == check)
            .unwrap_or_else(|| panic!("no {account}/{check} in {out}"))
            .clone()
    };
    let cred = find("acme", "credentials");
    assert_eq!(cred["status"], "fail");
    assert!(
        cred["fix"]
            .as_str()
            .unwrap()
            .contains("sharebridge connect acme")
    );
    let retire = find("vendor", "api_token");
    assert_eq!(retire["status"], "warn");
    assert!(retire["detail"].as_str().unwrap().contains("2027-04-30"));
    assert_eq!(find("vendor", "credentials")["status"], "ok");
    assert_eq!(
        find("vendor", "role")["status"],
        "warn",
        "the simulator's API users are agents"
    );
    assert_eq!(find("vendor", "rate_limit")["status"], "ok");
    assert_eq!(find("vendor", "clock")["status"], "ok");
    assert_eq!(find("vendor", "dedicated")["status"], "ok");
    assert_eq!(find("vendor", "store")["status"], "ok");

    // One account only, as text: the failure and its fix are printed.
    let one = env.run(&["doctor", "acme"]).await;
    let (out, _) = text(&one);
    assert_eq!(one.status.code(), Some(1));
    assert!(
        out.contains("FAIL") && out.contains("fix: run `sharebridge connect acme`"),
        "{out}"
    );
    assert!(!out.contains("vendor"), "{out}");
    // A healthy-enough account alone exits 0 (warnings do not fail).
    let vendor = env.run(&["doctor", "vendor"]).await;
    let (out, err) = text(&vendor);
    assert_eq!(vendor.status.code(), Some(0), "{out}{err}");

    // Checking writes nothing: no store is created before connect or run.
    assert!(!env.state().exists(), "doctor created the state directory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_catches_a_plan_limit_below_the_budget_and_a_shared_user() {
    let sim = simulator().await;
    let mut limits = Limits::unlimited();
    limits.requests_per_minute = 200;
    sim.set_limits(Some("vendor"), limits);
    // Someone else writes as the bridge's user: a comment the bridge did not write.
    let t = sim
        .create_ticket(
            "vendor",
            "bridge@vendor.example",
            &sharebridge::zendesk::models::TicketWrite {
                subject: Some("written by hand".into()),
                comment: Some(sharebridge::zendesk::models::NewComment {
                    body: Some("typed by a person logged in as the bridge".into()),
                    public: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .unwrap();
    let env = Env::new(&format!("{DAEMON}{}", api_token_account(&sim, "vendor")));
    let doctor = env.run(&["doctor", "--json"]).await;
    let (out, err) = text(&doctor);
    assert_eq!(doctor.status.code(), Some(1), "{out}{err}");
    let checks: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let get = |name: &str| checks.iter().find(|c| c["check"] == name).unwrap().clone();
    let rl = get("rate_limit");
    assert_eq!(rl["status"], "fail", "{rl}");
    assert!(rl["fix"].as_str().unwrap().contains("at most 200"), "{rl}");
    let d = get("dedicated");
    assert_eq!(d["status"], "fail", "{d}");
    assert!(
        d["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("#{}", t.id)),
        "{d}"
    );
    // Nothing secret in what doctor printed.
    assert!(!out.contains(sim.token()) && !err.contains(sim.token()));
}
