//! Shared test world: the simulator and the engine in-process, with a written TOML
//! configuration and a store in a temp dir; restartable on the same store.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sharebridge::config::{Config, LoadOptions, load_with};
use sharebridge::engine::Engine;
use sharebridge::engine::hints::Hints;
use sharebridge::metrics::Metrics;
use sharebridge::sim::{Limits, SimConfig, Simulator};
use sharebridge::store::Store;
use sharebridge::zendesk::models::{NewComment, TicketWrite};
use tokio_util::sync::CancellationToken;

pub const AGENT_A: &str = "alice@acme.example";
pub const AGENT_V: &str = "victor@vendor.example";

pub struct World {
    pub sim: Simulator,
    engine: Option<Engine>,
    pub hints: Arc<Hints>,
    pub config: tokio::sync::watch::Sender<Arc<Config>>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    pub dir: tempfile::TempDir,
}

/// Options for the configuration the world writes.
#[derive(Clone)]
pub struct Setup {
    pub two_way: bool,
    /// Whether vendor accepts acme's agreement.
    pub vendor_accepts: bool,
    pub unshare_on_tag_removal: bool,
    pub private_comments: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            two_way: true,
            vendor_accepts: true,
            unshare_on_tag_removal: true,
            private_comments: false,
        }
    }
}

pub fn config_text(sim: &Simulator, setup: &Setup) -> String {
    let reverse = if setup.two_way {
        "\n[[agreements]]\nname = \"vendor-to-acme\"\nfrom = \"vendor\"\nto = \"acme\"\n"
    } else {
        ""
    };
    format!(
        r#"
[daemon]
admin_token = "admin"
state_dir = "unused"
coalesce_window = "50ms"
poll_interval = "1h"
reconcile_interval = "1h"
in_doubt_wait = "2s"

[accounts.acme]
subdomain = "acme"
base_url = "{acme}"
email = "bridge@acme.example"
token = "{token}"
requests_per_minute = 20000
accept_from = ["vendor"]

[accounts.vendor]
subdomain = "vendor"
base_url = "{vendor}"
email = "bridge@vendor.example"
token = "{token}"
requests_per_minute = 20000
accept_from = [{accept}]

[[agreements]]
name = "acme-to-vendor"
from = "acme"
to = "vendor"
auto_share_tags = ["vendor_escalation"]
unshare_on_tag_removal = {unshare}
[agreements.comments]
private = {private}
[agreements.status]
map = {{ hold = "open" }}
[agreements.tags]
exclude = ["internal_*"]
{reverse}"#,
        acme = sim.base_url("acme"),
        vendor = sim.base_url("vendor"),
        token = sim.token(),
        accept = if setup.vendor_accepts { "\"acme\"" } else { "" },
        unshare = setup.unshare_on_tag_removal,
        private = setup.private_comments,
    )
}

pub async fn simulator() -> Simulator {
    simulator_of(&["acme", "vendor"]).await
}

/// A simulator serving `accounts`, limits lifted, no export lag.
pub async fn simulator_of(accounts: &[&str]) -> Simulator {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut sc = SimConfig::local(accounts);
    sc.limits = Limits::unlimited();
    sc.export_lag_secs = 0;
    Simulator::start(sc).await.unwrap()
}

pub fn load(dir: &std::path::Path, text: &str) -> Config {
    let path = dir.join("sharebridge.toml");
    std::fs::write(&path, text).unwrap();
    load_with(&path, &LoadOptions::default()).unwrap().config
}

pub async fn world(setup: Setup) -> World {
    let sim = simulator().await;
    let text = config_text(&sim, &setup);
    world_with(sim, &text).await
}

/// The `[accounts.NAME]` section of a simulated account: the bridge's user
/// `bridge@NAME.example`, a generous budget, and the given extra lines.
pub fn account_section(sim: &Simulator, name: &str, extra: &str) -> String {
    format!(
        "\n[accounts.{name}]\nsubdomain = \"{name}\"\nbase_url = \"{url}\"\nemail = \"bridge@{name}.example\"\ntoken = \"{token}\"\nrequests_per_minute = 20000\n{extra}\n",
        url = sim.base_url(name),
        token = sim.token(),
    )
}

/// The `[daemon]` section the worlds use (short coalescing, polls and sweeps by hand).
pub const DAEMON_SECTION: &str = "[daemon]\nadmin_token = \"admin\"\nstate_dir = \"unused\"\ncoalesce_window = \"50ms\"\npoll_interval = \"1h\"\nreconcile_interval = \"1h\"\nin_doubt_wait = \"2s\"\n";

/// A world on `sim` running the configuration `text`.
pub async fn world_with(sim: Simulator, text: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let config = load(dir.path(), text);
    let (tx, _) = tokio::sync::watch::channel(Arc::new(config));
    let hints = Arc::new(Hints::new());
    let mut w = World {
        engine: Some(start_engine(&tx, &dir.path().join("store.redb"), &hints).await),
        sim,
        hints,
        config: tx,
        stop: CancellationToken::new(),
        task: None,
        dir,
    };
    w.spawn();
    w
}

async fn start_engine(
    tx: &tokio::sync::watch::Sender<Arc<Config>>,
    store: &PathBuf,
    hints: &Arc<Hints>,
) -> Engine {
    let store = Store::open(store).unwrap();
    Engine::start(
        tx.subscribe(),
        store,
        hints.clone(),
        Arc::new(Metrics::new()),
    )
    .await
    .unwrap()
}

impl World {
    pub fn engine(&self) -> &Engine {
        self.engine.as_ref().expect("engine running")
    }

    fn spawn(&mut self) {
        self.stop = CancellationToken::new();
        let e = self.engine().clone();
        let s = self.stop.clone();
        self.task = Some(tokio::spawn(async move { e.run(s).await }));
    }

    /// Stops the engine, drops the store, starts a fresh engine on the same store file.
    pub async fn restart(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
        let path = self.dir.path().join("store.redb");
        // The old engine's store handle must be gone before redb opens the file again.
        drop(self.engine.take());
        self.engine = Some(start_engine(&self.config, &path, &self.hints).await);
        self.spawn();
    }

    /// Stops the engine, lets `f` change the store as a crash could have left it, starts
    /// again.
    pub async fn restart_with(&mut self, f: impl FnOnce(&Store)) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
        drop(self.engine.take());
        let path = self.dir.path().join("store.redb");
        {
            let store = Store::open(&path).unwrap();
            f(&store);
        }
        self.engine = Some(start_engine(&self.config, &path, &self.hints).await);
        self.spawn();
    }

    /// Stops the engine, puts `backup` in place of the store file, starts again: an
    /// operator restoring an older backup.
    pub async fn restore(&mut self, backup: &std::path::Path) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
        drop(self.engine.take());
        let path = self.dir.path().join("store.redb");
        std::fs::copy(backup, &path).unwrap();
        self.engine = Some(start_engine(&self.config, &path, &self.hints).await);
        self.spawn();
    }

    /// Applies a new configuration as SIGHUP would.
    pub async fn reconfigure(&self, setup: &Setup) {
        let config = load(self.dir.path(), &config_text(&self.sim, setup));
        self.config.send_replace(Arc::new(config));
        self.engine().reload().await.unwrap();
        // Orphan notes owed by the reload are written in the background.
        self.settle().await;
    }

    /// Applies the configuration `text` as SIGHUP would.
    pub async fn reconfigure_text(&self, text: &str) {
        let config = load(self.dir.path(), text);
        self.config.send_replace(Arc::new(config));
        self.engine().reload().await.unwrap();
        self.settle().await;
    }

    /// The link sharing acme ticket `source` into `to`.
    pub fn link_to(&self, source: u64, to: &str) -> sharebridge::store::Link {
        let links = self
            .engine()
            .store()
            .links_by_source_ticket("acme", source)
            .unwrap();
        links
            .into_iter()
            .find(|l| l.target_account == to)
            .unwrap_or_else(|| panic!("acme#{source} has no link to {to}"))
    }

    pub async fn settle(&self) {
        assert!(
            self.engine().settle(Duration::from_secs(20)).await,
            "engine did not settle"
        );
    }

    /// Pushes hints for both tickets of a share and waits.
    pub async fn poke(&self, account: &str, ticket: u64) {
        self.hints.push(account, ticket);
        self.settle().await;
    }

    pub fn link_of(&self, source: u64) -> sharebridge::store::Link {
        let links = self
            .engine()
            .store()
            .links_by_source_ticket("acme", source)
            .unwrap();
        assert_eq!(links.len(), 1, "{links:?}");
        links[0].clone()
    }

    pub fn mirror_of(&self, source: u64) -> u64 {
        self.link_of(source).target_ticket.expect("mirror recorded")
    }

    pub fn bodies(&self, account: &str, ticket: u64) -> Vec<(String, bool)> {
        self.sim
            .comments(account, ticket)
            .into_iter()
            .map(|c| (c.body, c.public))
            .collect()
    }

    /// Creates an acme ticket tagged for sharing and waits until it is mirrored.
    pub async fn shared_ticket(&self, subject: &str) -> (u64, u64) {
        let t = self
            .sim
            .create_ticket(
                "acme",
                AGENT_A,
                &new_ticket(
                    subject,
                    &format!("{subject}: first"),
                    &["vendor_escalation"],
                ),
            )
            .unwrap();
        self.poke("acme", t.id).await;
        (t.id, self.mirror_of(t.id))
    }

    /// Creates an acme ticket tagged for sharing and returns once its mirror's create is
    /// on the wire, held there (`Simulator::set_hold_ticket_creates`) until the caller
    /// lets it go.
    pub async fn tagged_ticket_with_create_held(&self, subject: &str) -> u64 {
        self.sim.set_hold_ticket_creates("vendor", true);
        let held = self.sim.held_ticket_creates("vendor");
        let t = self
            .sim
            .create_ticket(
                "acme",
                AGENT_A,
                &new_ticket(subject, "first words", &["vendor_escalation"]),
            )
            .unwrap();
        self.hints.push("acme", t.id);
        wait_for(|| self.sim.held_ticket_creates("vendor") == held + 1).await;
        t.id
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }
}

pub fn new_ticket(subject: &str, body: &str, tags: &[&str]) -> TicketWrite {
    TicketWrite {
        subject: Some(subject.into()),
        comment: Some(NewComment {
            body: Some(body.into()),
            public: Some(true),
            ..Default::default()
        }),
        tags: Some(tags.iter().map(|t| t.to_string()).collect()),
        ..Default::default()
    }
}

/// Polls `check` every 20 ms until it holds; panics after `secs` seconds.
pub async fn wait_for_within(secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not reached in {secs} s");
}

/// [`wait_for_within`] ten seconds.
pub async fn wait_for(check: impl FnMut() -> bool) {
    wait_for_within(10, check).await
}
/// acme shares into vendor and delta, both two-way: replies on both mirrors are written
/// into acme's one ticket by two links.
pub fn two_links_into_one_ticket(sim: &sharebridge::sim::Simulator) -> String {
    let mut text = format!(
        "{DAEMON_SECTION}{}{}{}",
        account_section(sim, "acme", "accept_from = [\"vendor\", \"delta\"]"),
        account_section(sim, "vendor", "accept_from = [\"acme\"]"),
        account_section(sim, "delta", "accept_from = [\"acme\"]"),
    );
    for (from, to) in [
        ("acme", "vendor"),
        ("vendor", "acme"),
        ("acme", "delta"),
        ("delta", "acme"),
    ] {
        text.push_str(&format!(
            "\n[[agreements]]\nname = \"{from}-to-{to}\"\nfrom = \"{from}\"\nto = \"{to}\"\n"
        ));
        if from == "acme" {
            text.push_str("auto_share_tags = [\"escalate\"]\n");
        }
    }
    text
}

/// How many requests `account` got on `endpoint` (e.g. "PUT /api/v2/tickets/{id}").
pub fn requests_to(sim: &Simulator, account: &str, endpoint: &str) -> u64 {
    sim.stats(account)
        .by_endpoint
        .get(endpoint)
        .copied()
        .unwrap_or(0)
}
pub mod postgres;
