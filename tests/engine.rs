//! The sync engine against the in-process simulator: a tagged ticket is shared and
//! mirrored, comments cross under the rules, a reply crosses back over a two-way link,
//! nothing echoes, and an unshare leaves a marked orphan.

use std::sync::Arc;
use std::time::Duration;

use sharebridge::config::{Config, LoadOptions, load_with};
use sharebridge::engine::Engine;
use sharebridge::engine::hints::Hints;
use sharebridge::metrics::Metrics;
use sharebridge::sim::{Limits, SimConfig, Simulator};
use sharebridge::store::{LinkState, Store};
use sharebridge::zendesk::models::{NewComment, Status, TicketWrite};
use tokio_util::sync::CancellationToken;

const AGENT_A: &str = "alice@acme.example";
const AGENT_V: &str = "victor@vendor.example";

struct World {
    sim: Simulator,
    engine: Engine,
    hints: Arc<Hints>,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

fn config_text(sim: &Simulator, two_way: bool) -> String {
    let reverse = if two_way {
        r#"
[[agreements]]
name = "vendor-to-acme"
from = "vendor"
to = "acme"
"#
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

[accounts.acme]
subdomain = "acme"
base_url = "{acme}"
email = "bridge@acme.example"
token = "{token}"
accept_from = ["vendor"]

[accounts.vendor]
subdomain = "vendor"
base_url = "{vendor}"
email = "bridge@vendor.example"
token = "{token}"
accept_from = ["acme"]

[[agreements]]
name = "acme-to-vendor"
from = "acme"
to = "vendor"
auto_share_tags = ["vendor_escalation"]
unshare_on_tag_removal = true
[agreements.status]
map = {{ hold = "open" }}
[agreements.tags]
exclude = ["internal_*"]
{reverse}"#,
        acme = sim.base_url("acme"),
        vendor = sim.base_url("vendor"),
        token = sim.token(),
    )
}

async fn world(two_way: bool) -> World {
    let _ = rustls::crypto::ring::default_provider().install_default();
    sharebridge::telemetry::init(
        "info,sharebridge=debug",
        sharebridge::config::LogFormat::Text,
    );
    let mut sc = SimConfig::local(&["acme", "vendor"]);
    sc.limits = Limits::unlimited();
    sc.export_lag_secs = 0;
    let sim = Simulator::start(sc).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sharebridge.toml");
    std::fs::write(&path, config_text(&sim, two_way)).unwrap();
    let config: Config = load_with(&path, &LoadOptions::default()).unwrap().config;
    let (_tx, rx) = tokio::sync::watch::channel(Arc::new(config));
    Box::leak(Box::new(_tx));
    let store = Store::open(dir.path().join("store.redb")).unwrap();
    let hints = Arc::new(Hints::new());
    let engine = Engine::start(rx, store, hints.clone(), Arc::new(Metrics::new()))
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let e = engine.clone();
    let s = stop.clone();
    tokio::spawn(async move { e.run(s).await });
    World {
        sim,
        engine,
        hints,
        stop,
        _dir: dir,
    }
}

impl World {
    async fn settle(&self) {
        assert!(
            self.engine.settle(Duration::from_secs(20)).await,
            "engine did not settle"
        );
    }
    fn mirror_of(&self, source: u64) -> u64 {
        let links = self
            .engine
            .store()
            .links_by_source_ticket("acme", source)
            .unwrap();
        links[0].target_ticket.expect("mirror recorded")
    }
    fn bodies(&self, account: &str, ticket: u64) -> Vec<(String, bool)> {
        self.sim
            .comments(account, ticket)
            .into_iter()
            .map(|c| (c.body, c.public))
            .collect()
    }
}

fn new_ticket(subject: &str, body: &str, tags: &[&str]) -> TicketWrite {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_mirror_rules_reply_and_unshare() {
    let w = world(true).await;
    let t = w
        .sim
        .create_ticket(
            "acme",
            AGENT_A,
            &new_ticket(
                "Printer on fire",
                "It is burning",
                &["vendor_escalation", "billing", "internal_x"],
            ),
        )
        .unwrap();
    w.hints.push("acme", t.id);
    w.settle().await;

    // The mirror: subject, attributed first comment, external id, tags per the rules.
    let mirror_id = w.mirror_of(t.id);
    let mirror = w.sim.ticket("vendor", mirror_id).unwrap();
    assert_eq!(mirror.subject.as_deref(), Some("Printer on fire"));
    assert_eq!(
        mirror.external_id.as_deref(),
        Some(format!("sharebridge:acme:{}", t.id).as_str())
    );
    assert!(mirror.tags.contains(&"sharebridge_shared".to_owned()));
    assert!(mirror.tags.contains(&"billing".to_owned()));
    assert!(
        !mirror
            .tags
            .iter()
            .any(|t| t == "internal_x" || t == "vendor_escalation"),
        "{:?}",
        mirror.tags
    );
    let first = w.bodies("vendor", mirror_id);
    assert_eq!(first.len(), 1);
    assert!(
        first[0].0.contains("It is burning") && first[0].0.contains("(acme) wrote"),
        "{:?}",
        first
    );

    // A public comment crosses; a private one is held back; status maps hold → open.
    w.sim
        .add_comment("acme", t.id, AGENT_A, "Public update", true)
        .unwrap();
    w.sim
        .add_comment("acme", t.id, AGENT_A, "Private musing", false)
        .unwrap();
    w.sim
        .update_ticket(
            "acme",
            t.id,
            AGENT_A,
            &TicketWrite {
                status: Some(Status::Hold),
                ..Default::default()
            },
        )
        .unwrap();
    w.hints.push("acme", t.id);
    w.settle().await;
    let bodies = w.bodies("vendor", mirror_id);
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(bodies[1].0.contains("Public update") && bodies[1].1);
    assert!(!bodies.iter().any(|(b, _)| b.contains("Private musing")));
    assert_eq!(
        w.sim.ticket("vendor", mirror_id).unwrap().status,
        Status::Open
    );

    // The partner replies on the mirror: it crosses back, and nothing echoes.
    w.sim
        .add_comment("vendor", mirror_id, AGENT_V, "Vendor reply", true)
        .unwrap();
    w.hints.push("vendor", mirror_id);
    w.hints.push("acme", t.id);
    w.settle().await;
    w.hints.push("acme", t.id);
    w.hints.push("vendor", mirror_id);
    w.settle().await;
    let source = w.bodies("acme", t.id);
    assert_eq!(
        source
            .iter()
            .filter(|(b, _)| b.contains("Vendor reply"))
            .count(),
        1,
        "{source:?}"
    );
    let mirror_bodies = w.bodies("vendor", mirror_id);
    assert_eq!(
        mirror_bodies.len(),
        3,
        "no echo back onto the mirror: {mirror_bodies:?}"
    );
    assert_eq!(
        w.sim.ticket("acme", t.id).unwrap().status,
        Status::Hold,
        "the source keeps its own status"
    );

    // Unshare: the mirror is marked once and reported; sync stops.
    let orphan = w
        .engine
        .unshare("acme", t.id, "vendor", "test")
        .await
        .unwrap();
    assert_eq!(orphan.reason, "unshared");
    let mirror = w.sim.ticket("vendor", mirror_id).unwrap();
    assert!(mirror.tags.contains(&"sharebridge_orphaned".to_owned()));
    let notes: Vec<_> = w
        .sim
        .comments("vendor", mirror_id)
        .into_iter()
        .filter(|c| !c.public && c.body.contains("no longer shared"))
        .collect();
    assert_eq!(notes.len(), 1);
    w.sim
        .add_comment("acme", t.id, AGENT_A, "After unshare", true)
        .unwrap();
    w.hints.push("acme", t.id);
    w.settle().await;
    assert!(
        !w.bodies("vendor", mirror_id)
            .iter()
            .any(|(b, _)| b.contains("After unshare"))
    );
    assert!(
        w.engine
            .store()
            .links_by_source_ticket("acme", t.id)
            .unwrap()
            .is_empty(),
        "not re-shared by its tag"
    );
    let link = w.engine.store().link(orphan.link).unwrap().unwrap();
    assert_eq!(link.state, LinkState::Orphaned);
    assert_eq!(w.engine.store().orphans().unwrap().len(), 1);
    w.stop.cancel();
}
