//! `sharebridge demo` (DESIGN §2): the simulator and the daemon in one process, on loopback
//! ports chosen by the OS, with a state directory of its own, then a short scripted story
//! whose every step is verified by reading back — from the simulator, the store and the
//! admin API — what the bridge did.
//!
//! Owns: building the demo configuration from `config/demo.toml` (compiled in) with the
//! real addresses substituted ([`demo_config`], pure), the story, and `--keep-running`.
//!
//! Must not: assume a step worked (each one polls, with a timeout, for the observable
//! result and fails with what it expected and what it found); print comment bodies or any
//! token other than the demo's own admin token (which protects nothing); touch the
//! demo's configured ports or `./state/demo` (it works on any machine, twice in a row).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;

use crate::admin::AdminClient;
use crate::config::{self, Config, LoadOptions};
use crate::daemon::{self, Running};
use crate::sim::{SimConfig, Simulator};
use crate::store::{Link, LinkState};
use crate::zendesk::models::{Comment, NewComment, TicketWrite};

/// The demo configuration as shipped; addresses and state directory are replaced at run time.
pub const DEMO_CONFIG: &str = include_str!("../config/demo.toml");

/// How long each step waits for its observable result.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// The human agents of the story (the bridge uses its own API users).
const ACME_AGENT: &str = "alice@acme.example";
const VENDOR_AGENT: &str = "victor@vendor.example";
const TRIGGER_TAG: &str = "vendor_escalation";
const ORPHAN_TAG: &str = "sharebridge_orphaned";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo setup failed: {what}: {reason}")]
    Setup { what: String, reason: String },
    #[error("✗ step {step} ({what}): expected {expected}; found {found}")]
    Check {
        step: u8,
        what: &'static str,
        expected: String,
        found: String,
    },
}

fn setup(what: &str, reason: impl std::fmt::Display) -> DemoError {
    DemoError::Setup {
        what: what.to_owned(),
        reason: reason.to_string(),
    }
}

/// What the demo reads from its configuration template to drive the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSecrets {
    /// The API token the simulator accepts (the same for both accounts in the template).
    pub api_token: String,
    /// The secret the simulator signs webhooks with.
    pub webhook_secret: String,
    /// The admin token, printed by `--keep-running` (the demo's own, protects nothing).
    pub admin_token: String,
}

/// Where the demo runs: the simulator's accounts, the daemon's address, the state.
#[derive(Debug, Clone)]
pub struct DemoPlaces<'a> {
    pub acme_url: &'a str,
    pub vendor_url: &'a str,
    pub listen: SocketAddr,
    pub state_dir: &'a Path,
}

/// The demo configuration: `template` (normally [`DEMO_CONFIG`]) with the accounts'
/// `base_url`, `daemon.listen` and `daemon.state_dir` replaced. Pure; the error names the
/// key that is missing from the template.
pub fn demo_config(
    template: &str,
    places: &DemoPlaces<'_>,
) -> Result<(String, DemoSecrets), String> {
    let mut doc: toml::Table = template
        .parse()
        .map_err(|e| format!("the demo template is not valid TOML: {e}"))?;
    let daemon = doc
        .get_mut("daemon")
        .and_then(|d| d.as_table_mut())
        .ok_or("the demo template has no [daemon] table")?;
    daemon.insert("listen".into(), places.listen.to_string().into());
    daemon.insert(
        "state_dir".into(),
        places.state_dir.to_string_lossy().into_owned().into(),
    );
    let admin_token = string_at(daemon, "daemon", "admin_token")?;
    let accounts = doc
        .get_mut("accounts")
        .and_then(|a| a.as_table_mut())
        .ok_or("the demo template has no [accounts] table")?;
    let mut secrets = None;
    for (name, url) in [("acme", places.acme_url), ("vendor", places.vendor_url)] {
        let account = accounts
            .get_mut(name)
            .and_then(|a| a.as_table_mut())
            .ok_or_else(|| format!("the demo template has no [accounts.{name}] table"))?;
        account.insert("base_url".into(), url.into());
        let section = format!("accounts.{name}");
        let found = (
            string_at(account, &section, "token")?,
            string_at(account, &section, "webhook_secret")?,
        );
        match &secrets {
            None => secrets = Some(found),
            Some(first) if *first != found => {
                return Err(format!(
                    "the demo template gives acme and vendor different tokens or webhook secrets ({section}); the simulator takes one of each"
                ));
            }
            Some(_) => {}
        }
    }
    let (api_token, webhook_secret) = secrets.ok_or("the demo template has no accounts")?;
    let text =
        toml::to_string(&doc).map_err(|e| format!("cannot write the demo configuration: {e}"))?;
    Ok((
        text,
        DemoSecrets {
            api_token,
            webhook_secret,
            admin_token,
        },
    ))
}

fn string_at(table: &toml::Table, section: &str, key: &str) -> Result<String, String> {
    table
        .get(key)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| format!("the demo template has no string {section}.{key}"))
}

/// Everything the story runs against; dropped (or [`World::stop`]ped) at the end.
struct World {
    sim: Simulator,
    daemon: Running,
    admin: AdminClient,
    secrets: DemoSecrets,
    /// Holds the configuration file and the store; removed when dropped.
    dir: tempfile::TempDir,
}

impl World {
    async fn start() -> Result<World, DemoError> {
        let dir = tempfile::Builder::new()
            .prefix("sharebridge-demo-")
            .tempdir()
            .map_err(|e| setup("cannot create a temporary state directory", e))?;
        // The simulator first (its ports go into the configuration), without webhooks:
        // their target, the daemon, does not exist yet. It takes the template's API
        // token and webhook secret, read here with placeholder addresses.
        let probe = demo_config(
            DEMO_CONFIG,
            &DemoPlaces {
                acme_url: "http://127.0.0.1:1",
                vendor_url: "http://127.0.0.1:1",
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                state_dir: dir.path(),
            },
        )
        .map_err(|e| setup("config/demo.toml", e))?
        .1;
        let mut sc = SimConfig::local(&["acme", "vendor"]);
        sc.token = probe.api_token.clone();
        sc.webhook_secret = probe.webhook_secret.clone();
        // Export without delay, so the poller would see a change a webhook missed at once.
        sc.export_lag_secs = 0;
        let sim = Simulator::start(sc)
            .await
            .map_err(|e| setup("cannot start the Zendesk simulator", e))?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| setup("cannot listen on 127.0.0.1 for the daemon", e))?;
        let listen = listener
            .local_addr()
            .map_err(|e| setup("cannot read the daemon's address", e))?;
        let state_dir = dir.path().join("state");
        let (text, secrets) = demo_config(
            DEMO_CONFIG,
            &DemoPlaces {
                acme_url: &sim.base_url("acme"),
                vendor_url: &sim.base_url("vendor"),
                listen,
                state_dir: &state_dir,
            },
        )
        .map_err(|e| setup("config/demo.toml", e))?;
        let path = dir.path().join("sharebridge.toml");
        std::fs::write(&path, text)
            .map_err(|e| setup(&format!("cannot write {}", path.display()), e))?;
        let config = load(&path)?;
        let daemon = daemon::start(config, listener)
            .await
            .map_err(|e| setup("cannot start the daemon", e))?;
        for account in ["acme", "vendor"] {
            sim.add_webhook(account, &format!("http://{listen}/webhooks/{account}"));
        }
        let admin = AdminClient::new(listen, SecretString::from(secrets.admin_token.clone()));
        Ok(World {
            sim,
            daemon,
            admin,
            secrets,
            dir,
        })
    }

    async fn stop(self) -> Result<(), DemoError> {
        let World {
            sim, daemon, dir, ..
        } = self;
        let stopped = daemon.stop().await;
        sim.shutdown().await;
        drop(dir);
        stopped.map_err(|e| setup("the daemon did not stop cleanly", e))
    }

    fn link_of(&self, ticket: u64) -> Option<Link> {
        self.daemon
            .engine
            .store()
            .links_by_source_ticket("acme", ticket)
            .ok()?
            .into_iter()
            .find(|l| l.target_account == "vendor")
    }
}

/// Loads the written demo configuration without the process environment (a stray
/// `SHAREBRIDGE_…` variable must not change the demo).
fn load(path: &Path) -> Result<Config, DemoError> {
    config::load_with(path, &LoadOptions::default())
        .map(|l| l.config)
        .map_err(|e| {
            let problems: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
            setup("the demo configuration is invalid", problems.join("; "))
        })
}

/// Polls `check` every 50 ms until it returns `Ok` or [`STEP_TIMEOUT`] passes; the last
/// `Err` says what was found.
async fn wait_for<T>(
    step: u8,
    what: &'static str,
    expected: &str,
    check: impl FnMut() -> Result<T, String>,
) -> Result<T, DemoError> {
    wait_within(STEP_TIMEOUT, step, what, expected, check).await
}

async fn wait_within<T>(
    timeout: Duration,
    step: u8,
    what: &'static str,
    expected: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<T, DemoError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match check() {
            Ok(v) => return Ok(v),
            Err(found) if tokio::time::Instant::now() >= deadline => {
                return Err(DemoError::Check {
                    step,
                    what,
                    expected: format!("{expected} within {:.1}s", timeout.as_secs_f64()),
                    found,
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn fail(
    step: u8,
    what: &'static str,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> DemoError {
    DemoError::Check {
        step,
        what,
        expected: expected.into(),
        found: found.into(),
    }
}

fn containing<'a>(comments: &'a [Comment], text: &str) -> Vec<&'a Comment> {
    comments.iter().filter(|c| c.body.contains(text)).collect()
}

/// The one public comment on `ticket` carrying `text`, attributed to `from`; or what is
/// wrong (absent, doubled, private, unattributed).
fn one_public_attributed(
    sim: &Simulator,
    account: &str,
    ticket: u64,
    text: &str,
    from: &str,
) -> Result<u64, String> {
    let comments = sim.comments(account, ticket);
    let attribution = format!("({from}) wrote");
    match containing(&comments, text).as_slice() {
        [one] if one.public && one.body.contains(&attribution) => Ok(one.id),
        [one] => Err(format!(
            "it arrived but public={} attributed={}",
            one.public,
            one.body.contains(&attribution)
        )),
        [] => Err(format!(
            "{account}#{ticket} has {} comment(s), not that one",
            comments.len()
        )),
        many => Err(format!("it arrived {} times", many.len())),
    }
}

/// Runs the demo: setup, the story, then either stops or (with `keep_running`) waits for
/// `shutdown`. Step lines go to stdout as they pass.
pub async fn run(keep_running: bool, shutdown: impl Future<Output = ()>) -> Result<(), DemoError> {
    let started = std::time::Instant::now();
    let world = World::start().await?;
    println!(
        "sharebridge demo: simulator accounts acme at {} and vendor at {}; daemon at http://{} (state in {})",
        world.sim.base_url("acme"),
        world.sim.base_url("vendor"),
        world.daemon.addr,
        world.dir.path().display()
    );
    let told = story(&world).await;
    if let Err(e) = told {
        let _ = world.stop().await;
        return Err(e);
    }
    println!(
        "demo complete: 5 steps verified in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    if keep_running {
        println!();
        println!("still running (--keep-running); press Ctrl-C to stop.");
        println!("  status page:  http://{}/", world.daemon.addr);
        println!(
            "  admin token:  {}   (the demo's own; it protects nothing)",
            world.secrets.admin_token
        );
        println!(
            "  simulator:    acme {}  vendor {}  (API token: the demo's own, \"{}\")",
            world.sim.base_url("acme"),
            world.sim.base_url("vendor"),
            world.secrets.api_token
        );
        println!(
            "  CLI:          sharebridge --config {} links list",
            world.dir.path().join("sharebridge.toml").display()
        );
        shutdown.await;
        println!("stopping");
    }
    world.stop().await
}

async fn story(w: &World) -> Result<(), DemoError> {
    // Step 0: the agreements, as the admin API reports them.
    let agreements = w
        .admin
        .agreements()
        .await
        .map_err(|e| setup("cannot read agreements from the admin API", e))?;
    let summary: Vec<String> = agreements
        .iter()
        .map(|a| format!("{} {} ({})", a.name, a.state, a.direction))
        .collect();
    if agreements.len() != 2
        || agreements
            .iter()
            .any(|a| a.state != crate::agreement::State::Accepted || !a.paired)
    {
        return Err(fail(
            0,
            "agreements",
            "acme-to-vendor and vendor-to-acme both accepted and paired (two-way)",
            summary.join(", "),
        ));
    }
    println!(
        "✓ step 0 agreements (read from /api/agreements): {}",
        summary.join(", ")
    );

    // Step 1: a trigger tags an acme ticket; the bridge mirrors it into vendor.
    let subject = "Printer on fire in building 7";
    let first_body = "The office printer started smoking during a print job.";
    let ticket = w
        .sim
        .create_ticket(
            "acme",
            ACME_AGENT,
            &TicketWrite {
                subject: Some(subject.into()),
                comment: Some(NewComment {
                    body: Some(first_body.into()),
                    public: Some(true),
                    ..Default::default()
                }),
                tags: Some(vec![TRIGGER_TAG.into()]),
                ..Default::default()
            },
        )
        .map_err(|e| setup("cannot create the acme ticket in the simulator", e))?;
    let source = ticket.id;
    let (link, mirror) = wait_for(
        1,
        "share",
        &format!("acme#{source} mirrored into vendor with its first comment"),
        || {
            let link = w.link_of(source).ok_or("no link in the store")?;
            let mirror = link
                .target_ticket
                .ok_or(format!("link {} has no mirror ticket yet", link.id))?;
            if w.sim.comments("vendor", mirror).is_empty() {
                return Err(format!("vendor#{mirror} has no comment yet"));
            }
            Ok((link, mirror))
        },
    )
    .await?;
    let m = w.sim.ticket("vendor", mirror).ok_or_else(|| {
        fail(
            1,
            "share",
            format!("vendor#{mirror} in the simulator"),
            "no such ticket",
        )
    })?;
    if m.subject.as_deref() != Some(subject) {
        return Err(fail(
            1,
            "share",
            "the mirror to carry the source's subject",
            "a different subject",
        ));
    }
    let external_id = format!("sharebridge:acme:{source}");
    if m.external_id.as_deref() != Some(external_id.as_str()) {
        return Err(fail(
            1,
            "share",
            format!("external_id {external_id}"),
            format!("{:?}", m.external_id),
        ));
    }
    let first = w.sim.comments("vendor", mirror);
    let attributed = first[0].body.contains(first_body) && first[0].body.contains("(acme) wrote");
    if !attributed || !first[0].public {
        return Err(fail(
            1,
            "share",
            "a public first comment carrying the source's text, attributed \"… (acme) wrote\"",
            format!(
                "public={}, carries text={}, attributed={}",
                first[0].public,
                first[0].body.contains(first_body),
                first[0].body.contains("(acme) wrote")
            ),
        ));
    }
    let listed = w
        .admin
        .links()
        .await
        .map_err(|e| setup("cannot read links from the admin API", e))?;
    let shown = listed.iter().find(|l| l.id == link.id);
    match shown {
        Some(l) if l.state == LinkState::Active && l.target_ticket == Some(mirror) => {}
        other => {
            return Err(fail(
                1,
                "share",
                format!(
                    "/api/links to list link {} as active with mirror vendor#{mirror}",
                    link.id
                ),
                format!("{other:?}"),
            ));
        }
    }
    println!(
        "✓ step 1 share: a trigger tagged acme#{source} {TRIGGER_TAG} → mirrored as vendor#{mirror} (link {}, {}); subject, attributed first comment and external_id {external_id} read back from vendor",
        link.id,
        link.direction.as_str()
    );

    // Step 2: a public comment crosses.
    let public_text = "Facilities say the fuser unit is overheating.";
    let c = w
        .sim
        .add_comment("acme", source, ACME_AGENT, public_text, true)
        .map_err(|e| setup("cannot add the public comment", e))?;
    wait_for(
        2,
        "public comment",
        &format!("acme comment {} on vendor#{mirror}", c.id),
        || one_public_attributed(&w.sim, "vendor", mirror, public_text, "acme").map(drop),
    )
    .await?;
    println!(
        "✓ step 2 public comment: acme comment {} crossed to vendor#{mirror} as a public, attributed comment",
        c.id
    );

    // Step 3: a private comment is held back.
    let private_text = "Internal: this customer is on the gold plan.";
    let p = w
        .sim
        .add_comment("acme", source, ACME_AGENT, private_text, false)
        .map_err(|e| setup("cannot add the private comment", e))?;
    // Settled: every hint handled (a comment its webhook carried moves no watermark).
    if !w.daemon.engine.settle(Duration::from_secs(10)).await {
        return Err(fail(
            3,
            "private comment",
            format!("the engine to handle acme comment {} within 10 s", p.id),
            "still busy".to_owned(),
        ));
    }
    let comments = w.sim.comments("vendor", mirror);
    if !containing(&comments, private_text).is_empty() || comments.len() != 2 {
        return Err(fail(
            3,
            "private comment",
            format!("vendor#{mirror} unchanged at 2 comments, none of them the private one"),
            format!(
                "{} comment(s), {} of them the private one",
                comments.len(),
                containing(&comments, private_text).len()
            ),
        ));
    }
    println!(
        "✓ step 3 private comment: acme comment {} held back — the engine passed it and vendor#{mirror} still has 2 comments, none of them it",
        p.id
    );

    // Step 4: the vendor agent replies on the mirror; the reply reaches acme.
    let reply_text = "Replacing the fuser tomorrow at 9:00.";
    let r = w
        .sim
        .add_comment("vendor", mirror, VENDOR_AGENT, reply_text, true)
        .map_err(|e| setup("cannot add the vendor reply", e))?;
    let copy = wait_for(
        4,
        "two-way reply",
        &format!("vendor comment {} on acme#{source}", r.id),
        || one_public_attributed(&w.sim, "acme", source, reply_text, "vendor"),
    )
    .await?;
    // No echo: once the engine has settled after the bridge's own copy on acme, the
    // reply is still on vendor exactly once.
    if !w.daemon.engine.settle(Duration::from_secs(10)).await {
        return Err(fail(
            4,
            "two-way reply",
            format!("the engine to handle acme comment {copy} (the bridge's copy) within 10 s"),
            "still busy".to_owned(),
        ));
    }
    let echoes = containing(&w.sim.comments("vendor", mirror), reply_text).len();
    if echoes != 1 {
        return Err(fail(
            4,
            "two-way reply",
            "the reply once on vendor (no echo)",
            format!("{echoes} times"),
        ));
    }
    println!(
        "✓ step 4 two-way reply: vendor comment {} on vendor#{mirror} reached acme#{source} as comment {copy}, attributed, once; not echoed back to vendor",
        r.id
    );

    // Step 5: unshare; the mirror becomes a reported orphan.
    let orphan = w
        .daemon
        .engine
        .unshare("acme", source, "vendor", "sharebridge demo")
        .await
        .map_err(|e| fail(5, "unshare", "the unshare to succeed", e.to_string()))?;
    wait_for(
        5,
        "unshare",
        &format!("vendor#{mirror} tagged {ORPHAN_TAG}"),
        || {
            let t = w.sim.ticket("vendor", mirror).ok_or("the mirror is gone")?;
            if t.tags.iter().any(|t| t == ORPHAN_TAG) {
                Ok(())
            } else {
                Err(format!("tags {:?}", t.tags))
            }
        },
    )
    .await?;
    let notes = w
        .sim
        .comments("vendor", mirror)
        .into_iter()
        .filter(|c| !c.public)
        .count();
    if notes != 1 {
        return Err(fail(
            5,
            "unshare",
            format!("one private note on vendor#{mirror}"),
            format!("{notes}"),
        ));
    }
    let orphans = w
        .admin
        .orphans()
        .await
        .map_err(|e| setup("cannot read orphans from the admin API", e))?;
    match orphans.iter().find(|o| o.link == link.id) {
        Some(o) if o.reason == "unshared" && o.target_ticket == Some(mirror) => {}
        other => {
            return Err(fail(
                5,
                "unshare",
                format!(
                    "/api/orphans to list link {} (vendor#{mirror}) with reason unshared",
                    link.id
                ),
                format!("{other:?}"),
            ));
        }
    }
    println!(
        "✓ step 5 unshare: link {} ended; vendor#{mirror} kept, tagged {ORPHAN_TAG}, one private note; /api/orphans lists it, reason {}, since {}",
        orphan.link,
        orphan.reason,
        orphan.since.strftime("%H:%M:%S")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_config_substitutes_addresses_and_keeps_the_rest() {
        let (text, secrets) = demo_config(
            DEMO_CONFIG,
            &DemoPlaces {
                acme_url: "http://127.0.0.1:4001",
                vendor_url: "http://127.0.0.1:4002",
                listen: "127.0.0.1:4003".parse().unwrap(),
                state_dir: Path::new("/tmp/x"),
            },
        )
        .unwrap();
        let t: toml::Table = text.parse().unwrap();
        assert_eq!(t["daemon"]["listen"].as_str(), Some("127.0.0.1:4003"));
        assert_eq!(t["daemon"]["state_dir"].as_str(), Some("/tmp/x"));
        assert_eq!(
            t["accounts"]["acme"]["base_url"].as_str(),
            Some("http://127.0.0.1:4001")
        );
        assert_eq!(
            t["accounts"]["vendor"]["base_url"].as_str(),
            Some("http://127.0.0.1:4002")
        );
        assert_eq!(t["agreements"].as_array().unwrap().len(), 2);
        assert_eq!(secrets.admin_token, "demo-admin-token");
        assert_eq!(secrets.webhook_secret, "demo-webhook-secret");
    }

    #[tokio::test]
    async fn a_step_that_never_shows_its_result_fails_with_expected_and_found() {
        let mut looks = 0;
        let e = wait_within(
            Duration::from_millis(120),
            2,
            "public comment",
            "acme comment 5 on vendor#9",
            || -> Result<(), String> {
                looks += 1;
                Err(format!("vendor#9 has {looks} comment(s), not that one"))
            },
        )
        .await
        .unwrap_err();
        let shown = e.to_string();
        assert!(shown.starts_with("✗ step 2 (public comment): expected acme comment 5 on vendor#9 within 0.1s; found vendor#9 has"), "{shown}");
        assert!(looks >= 2, "it polled ({looks})");
        let ok = wait_within(Duration::from_millis(120), 1, "share", "x", || Ok(7))
            .await
            .unwrap();
        assert_eq!(ok, 7);
    }

    #[test]
    fn demo_config_names_what_is_missing() {
        let places = DemoPlaces {
            acme_url: "a",
            vendor_url: "v",
            listen: "127.0.0.1:1".parse().unwrap(),
            state_dir: Path::new("/s"),
        };
        let e = demo_config("[daemon]\nadmin_token = \"x\"\n", &places).unwrap_err();
        assert!(e.contains("[accounts]"), "{e}");
        let e = demo_config("x = ", &places).unwrap_err();
        assert!(e.contains("not valid TOML"), "{e}");
    }
}
