//! Helpers for the going-live tests (`tests/connect.rs`, `tests/readme.rs`): the
//! in-process simulator with an OAuth client, consent auto-approved and an admin (driven
//! only through its HTTP API, as DESIGN §6 gives it), the real binary's commands, a
//! browser that follows Zendesk's redirect to `connect`'s loopback listener, and the
//! daemon as a child process.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const CLIENT_ID: &str = "sharebridge";
pub const CLIENT_SECRET: &str = "client-s3cret";
pub const SIM_TOKEN: &str = "sim-token";
/// An admin in every simulated account (API token basic auth), for what an operator
/// does in Admin Center (delete a webhook, reset its secret, revoke a token).
pub const OPS: &str = "ops@example.com";
/// An agent writing tickets.
pub const AGENT: &str = "agent@acme.example";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sharebridge")
}

/// The simulator for `acme` and `vendor` on free ports, in this test's process (its own
/// runtime), with the OAuth client registered in both accounts, consent auto-approved and
/// an admin; driven only through its HTTP API, as an outside check would.
pub struct Sim {
    sim: Option<sharebridge::sim::Simulator>,
    rt: Option<tokio::runtime::Runtime>,
    pub urls: Vec<(String, String)>,
}

impl Sim {
    pub fn start() -> Sim {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut sc = sharebridge::sim::SimConfig::local(&["acme", "vendor"]);
        sc.token = SIM_TOKEN.into();
        sc.oauth_clients = vec![(CLIENT_ID.into(), CLIENT_SECRET.into())];
        sc.oauth_auto_approve = true;
        sc.admins = vec![OPS.into()];
        sc.export_lag_secs = 0;
        let sim = rt
            .block_on(sharebridge::sim::Simulator::start(sc))
            .expect("the simulator starts");
        let urls = ["acme", "vendor"]
            .iter()
            .map(|a| (a.to_string(), sim.base_url(a)))
            .collect();
        Sim {
            sim: Some(sim),
            rt: Some(rt),
            urls,
        }
    }

    pub fn url(&self, account: &str) -> String {
        self.urls
            .iter()
            .find(|(n, _)| n == account)
            .map(|(_, u)| u.clone())
            .unwrap()
    }

    /// An API request authenticated as `email` with the simulator's API token.
    pub fn api(
        &self,
        account: &str,
        email: &str,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.url(account));
        let r = request(method, &url, Some(email), body);
        (
            r.status,
            serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null),
        )
    }

    /// A control endpoint under `/sim` (no auth).
    pub fn control(
        &self,
        account: &str,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let url = format!("{}{path}", self.url(account));
        let r = request(method, &url, None, body);
        serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn stats(&self, account: &str) -> serde_json::Value {
        self.control(account, "GET", "/sim/stats", None)
    }

    pub fn reset_stats(&self, account: &str) {
        self.control(account, "POST", "/sim/stats/reset", None);
    }

    /// Requests that change something (`POST`/`PUT`/`PATCH`/`DELETE` under `/api/`).
    pub fn writes(&self, account: &str) -> Vec<String> {
        let stats = self.stats(account);
        stats["by_endpoint"]
            .as_object()
            .map(|m| {
                m.keys()
                    .filter(|k| {
                        let (method, path) = k.split_once(' ').unwrap_or(("", ""));
                        method != "GET" && path.starts_with("/api/")
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn webhooks(&self, account: &str) -> Vec<serde_json::Value> {
        let (status, v) = self.api(account, OPS, "GET", "/api/v2/webhooks", None);
        assert_eq!(status, 200, "{v}");
        v["webhooks"].as_array().cloned().unwrap_or_default()
    }

    pub fn tickets(&self, account: &str) -> Vec<serde_json::Value> {
        let (status, v) = self.api(account, OPS, "GET", "/api/v2/tickets", None);
        assert_eq!(status, 200, "{v}");
        v["tickets"].as_array().cloned().unwrap_or_default()
    }

    pub fn comments(&self, account: &str, ticket: u64) -> Vec<serde_json::Value> {
        let (status, v) = self.api(
            account,
            OPS,
            "GET",
            &format!("/api/v2/tickets/{ticket}/comments"),
            None,
        );
        assert_eq!(status, 200, "{v}");
        v["comments"].as_array().cloned().unwrap_or_default()
    }

    /// A ticket created by an agent, tagged for sharing.
    pub fn tagged_ticket(&self, account: &str, subject: &str) -> u64 {
        let (status, v) = self.api(
            account,
            AGENT,
            "POST",
            "/api/v2/tickets",
            Some(serde_json::json!({"ticket": {"subject": subject,
                "comment": {"body": format!("{subject}: first words"), "public": true},
                "tags": ["vendor_escalation"]}})),
        );
        assert_eq!(status, 201, "{v}");
        v["ticket"]["id"].as_u64().unwrap()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let (Some(sim), Some(rt)) = (self.sim.take(), self.rt.take()) {
            rt.block_on(sim.shutdown());
            rt.shutdown_background();
        }
    }
}

/// One HTTP answer.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

/// One HTTP request, redirects not followed; `email` authenticates with the simulator's
/// API token.
pub fn request(
    method: &str,
    url: &str,
    email: Option<&str>,
    body: Option<serde_json::Value>,
) -> Answer {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut req = http.request(method.parse().unwrap(), url);
        if let Some(e) = email {
            req = req.basic_auth(format!("{e}/token"), Some(SIM_TOKEN));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        match req.send().await {
            Ok(resp) => Answer {
                status: resp.status().as_u16(),
                location: resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                body: resp.text().await.unwrap_or_default(),
            },
            Err(e) => Answer {
                status: 0,
                location: None,
                body: e.to_string(),
            },
        }
    })
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A configuration directory holding only each account's subdomain and OAuth client.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Setup {
    pub fn new(sim: &Sim) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        std::fs::write(dir.path().join("acme.oauth_secret"), CLIENT_SECRET).unwrap();
        std::fs::write(dir.path().join("vendor.oauth_secret"), CLIENT_SECRET).unwrap();
        #[cfg(unix)]
        for f in ["acme.oauth_secret", "vendor.oauth_secret"] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path().join(f), std::fs::Permissions::from_mode(0o600))
                .unwrap();
        }
        let text = format!(
            r#"[daemon]
state_dir = "{state}"
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
admin_token = "admin"
poll_interval = "1h"
reconcile_interval = "1h"
coalesce_window = "50ms"

[accounts.acme]
subdomain = "acme"
base_url = "{acme}"
oauth = {{ client_id = "{CLIENT_ID}", client_secret_file = "acme.oauth_secret" }}
accept_from = ["vendor"]

[accounts.vendor]
subdomain = "vendor"
base_url = "{vendor}"
oauth = {{ client_id = "{CLIENT_ID}", client_secret_file = "vendor.oauth_secret" }}
accept_from = ["acme"]

[[agreements]]
name = "acme-to-vendor"
from = "acme"
to = "vendor"
auto_share_tags = ["vendor_escalation"]

[[agreements]]
name = "vendor-to-acme"
from = "vendor"
to = "acme"
"#,
            state = dir.path().join("state").display(),
            acme = sim.url("acme"),
            vendor = sim.url("vendor"),
        );
        std::fs::write(dir.path().join("sharebridge.toml"), text).unwrap();
        Setup { dir, port }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("sharebridge.toml")
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("state").join("sharebridge.redb")
    }

    /// Replaces `from` by `to` in the configuration file.
    pub fn edit(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.config()).unwrap();
        assert!(text.contains(from), "{from:?} not in the configuration");
        std::fs::write(self.config(), text.replacen(from, to, 1)).unwrap();
    }

    /// A command of the real binary (with `--config`).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .arg("--config")
            .arg(self.config())
            .env_remove("SHAREBRIDGE_CONFIG")
            .env_remove("RUST_LOG");
        c
    }

    /// A command as the README writes it: the configuration from `$SHAREBRIDGE_CONFIG`.
    pub fn command_from_env(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .env("SHAREBRIDGE_CONFIG", self.config())
            .env_remove("RUST_LOG");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The access token the store holds for `account` (the daemon must be stopped).
    pub fn stored_access_token(&self, account: &str) -> String {
        let store = sharebridge::store::Store::open_existing(self.store()).unwrap();
        store.oauth_tokens(account).unwrap().unwrap().access_token
    }

    /// The access token the store holds for `account`, if any.
    pub fn stored_access_token_opt(&self, account: &str) -> Option<String> {
        let store = sharebridge::store::Store::open_existing(self.store()).ok()?;
        store
            .oauth_tokens(account)
            .ok()
            .flatten()
            .map(|t| t.access_token)
    }

    /// Every secret the store holds (tokens, signing secrets), to look for in outputs.
    pub fn stored_secrets(&self) -> Vec<String> {
        let store = sharebridge::store::Store::open_existing(self.store()).unwrap();
        let mut out = Vec::new();
        for a in ["acme", "vendor"] {
            if let Some(t) = store.oauth_tokens(a).unwrap() {
                out.push(t.access_token);
                out.push(t.refresh_token);
            }
            if let Some(w) = store.connection(a).unwrap().and_then(|c| c.webhook) {
                out.push(w.signing_secret);
            }
        }
        out.retain(|s| s.len() >= 8);
        out
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// What the browser does after the operator opens `url` and approves: follow Zendesk's
/// redirect to where it points (connect's loopback listener). Returns that address.
pub fn approve(url: &str) -> String {
    let r = request("GET", url, None, None);
    assert!(
        (300..400).contains(&r.status),
        "Zendesk's authorization step answered {} (consent auto-approval expected): {}",
        r.status,
        r.body
    );
    r.location.expect("a redirect names where it goes")
}

/// Runs `connect` (loopback redirect): reads the address it prints, "opens" it in the
/// browser (which then lands on the loopback listener), waits for connect to end.
pub fn connect_with_browser(setup: &Setup, args: &[&str]) -> Output {
    browse(setup.command(args))
}

/// [`connect_with_browser`] for any prepared `connect` command.
pub fn browse(mut command: Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("/oauth/authorizations/new") {
                let _ = tx.send(line.trim().to_owned());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let mut browsed = false;
    if let Ok(url) = rx.recv_timeout(Duration::from_secs(30)) {
        let landing = approve(&url);
        let page = request("GET", &landing, None, None);
        assert_eq!(
            page.status, 200,
            "the loopback listener refused the redirect: {}",
            page.body
        );
        browsed = true;
    }
    let status = wait_with_timeout(&mut child, Duration::from_secs(60));
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    let out = reader.join().unwrap();
    assert!(
        browsed || status.success() || !out.is_empty(),
        "connect printed nothing: {err}"
    );
    Output {
        status,
        stdout: out.into_bytes(),
        stderr: err.into_bytes(),
    }
}

/// Runs `connect --print-url`: the address is opened, and the address the browser was
/// sent to is pasted back on stdin.
pub fn connect_pasting(setup: &Setup, args: &[&str]) -> Output {
    let mut child = setup
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("/oauth/authorizations/new") {
                let _ = tx.send(line.trim().to_owned());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    if let Ok(url) = rx.recv_timeout(Duration::from_secs(30)) {
        let landing = approve(&url);
        writeln!(stdin, "{landing}").unwrap();
    }
    drop(stdin);
    let status = wait_with_timeout(&mut child, Duration::from_secs(60));
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    Output {
        status,
        stdout: reader.join().unwrap().into_bytes(),
        stderr: err.into_bytes(),
    }
}

pub fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the command did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `sharebridge run` as a child process; its log goes to a file.
pub struct Daemon {
    child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(setup: &Setup) -> Daemon {
        Self::start_with(setup.command(&["run"]), setup.dir.path(), setup.port)
    }

    /// Starts `command` (a `sharebridge run`) and waits until it answers on `port`.
    pub fn start_with(mut command: Command, dir: &Path, port: u16) -> Daemon {
        let log = dir.join("daemon.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        let d = Daemon { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if request(
                "GET",
                &format!("http://127.0.0.1:{port}/readyz"),
                None,
                None,
            )
            .status
                == 200
            {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not get ready: {}",
                d.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and waits for a clean exit.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = wait_with_timeout(&mut self.child, Duration::from_secs(30));
        assert!(
            status.success(),
            "the daemon did not stop cleanly: {}",
            self.log_text()
        );
        self.log_text()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 50 ms for up to `secs` seconds.
pub fn wait_until(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not reached within {secs} s");
}
