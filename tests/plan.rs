//! `sharebridge plan` through the real binary against the simulator: what it counts
//! (comments crossing and held back, attachments, tags, fields and values with no
//! mapping, tickets already linked or never shared back), the API calls it reports
//! (exactly the simulator's count when nothing else talks to it), and the proof that it
//! only reads: on an account of 10,000 tickets, with a running daemon and without, no
//! request but GET reaches Zendesk and the store is left as it was.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sha2::Digest as _;
use sharebridge::sim::Simulator;
use sharebridge::zendesk::models::{CustomField, NewComment, TicketWrite};

use common::AGENT_A;

fn cli(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sharebridge"))
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

async fn run(config: &Path, args: &[&str]) -> (i32, String, String) {
    let config = config.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&config, &a)
    })
    .await
    .unwrap()
}

async fn plan_json(config: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["plan", "--json"];
    args.extend_from_slice(extra);
    let (code, out, err) = run(config, &args).await;
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

async fn stats(sim: &Simulator, account: &str) -> Value {
    reqwest::get(format!("{}/sim/stats", sim.base_url(account)))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn reset(sim: &Simulator) {
    for a in ["acme", "vendor"] {
        sim.reset_stats(a);
    }
}

/// Requests both accounts received since the last reset, and every endpoint hit that
/// was not a GET.
async fn requests_and_writes(sim: &Simulator) -> (u64, Vec<String>) {
    let mut total = 0;
    let mut writes = Vec::new();
    for a in ["acme", "vendor"] {
        let s = stats(sim, a).await;
        total += s["requests"].as_u64().unwrap();
        for (k, n) in s["by_endpoint"].as_object().unwrap() {
            if !k.starts_with("GET ") && n.as_u64().unwrap() > 0 {
                writes.push(format!("{a}: {k} x{n}"));
            }
        }
    }
    (total, writes)
}

fn checksum(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    format!("{:x}", sha2::Sha256::digest(&bytes))
}

/// A configuration acme → vendor; `accept` decides whether vendor accepts it.
fn write_config(dir: &Path, sim: &Simulator, accept: bool, rules: &str, port: u16) -> PathBuf {
    let text = format!(
        "{daemon}listen = \"127.0.0.1:{port}\"\n{acme}{vendor}\n[[agreements]]\nname = \"acme-to-vendor\"\nfrom = \"acme\"\nto = \"vendor\"\nauto_share_tags = [\"vendor_escalation\"]\n{rules}\n",
        daemon = common::DAEMON_SECTION.replace(
            "state_dir = \"unused\"",
            &format!("state_dir = {:?}", dir.join("state"))
        ),
        acme = common::account_section(sim, "acme", ""),
        vendor = common::account_section(
            sim,
            "vendor",
            if accept {
                "accept_from = [\"acme\"]"
            } else {
                ""
            }
        ),
    );
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let path = dir.join("sharebridge.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn start_daemon(path: &Path) -> (sharebridge::daemon::Running, u16) {
    let config = sharebridge::config::load_with(path, &Default::default())
        .unwrap()
        .config;
    let port = config.daemon.listen.port();
    let listener = tokio::net::TcpListener::bind(config.daemon.listen)
        .await
        .unwrap();
    (
        sharebridge::daemon::start(config, listener).await.unwrap(),
        port,
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn upload(sim: &Simulator, name: &str, size: usize) -> String {
    let v: Value = reqwest::Client::new()
        .post(format!(
            "{}/api/v2/uploads?filename={name}",
            sim.base_url("acme")
        ))
        .basic_auth(format!("{AGENT_A}/token"), Some(sim.token()))
        .header("content-type", "application/octet-stream")
        .body(vec![b'x'; size])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["upload"]["token"].as_str().unwrap().to_owned()
}

fn comment(body: &str, public: bool, uploads: Vec<String>) -> TicketWrite {
    TicketWrite {
        comment: Some(NewComment {
            body: Some(body.into()),
            public: Some(public),
            uploads,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// What crosses and what is held back, counted; tickets already linked and mirrors of
/// the receiver left out; API calls reported exactly; nothing written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_counts_what_would_cross_and_what_is_held_back() {
    let sim = common::simulator().await;
    let tier = sim.add_ticket_field(
        "acme",
        "tagger",
        "Tier",
        &[("Gold", "tier_gold"), ("Silver", "tier_silver")],
    );
    let notes = sim.add_ticket_field("acme", "text", "Notes", &[]);
    let vendor_tier = sim.add_ticket_field("vendor", "tagger", "Tier", &[("Gold", "gold")]);
    sim.set_role("vendor", common::AGENT_V, "agent");
    let rules = format!(
        "[agreements.tags]\nexclude = [\"internal_*\"]\n[agreements.attachments]\nmax_bytes = 1000\n[[agreements.fields]]\nfrom = {}\nto = {}\nvalues = {{ \"tier_gold\" = \"gold\" }}\n",
        tier.id, vendor_tier.id
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &sim, true, &rules, free_port());

    // One ticket shared by the daemon first: then it is "already linked".
    let shared = sim
        .create_ticket(
            "acme",
            AGENT_A,
            &common::new_ticket("old", "first", &["vendor_escalation"]),
        )
        .unwrap();
    let (daemon, _) = start_daemon(&path).await;
    let (code, _, err) = run(
        &path,
        &["share", "acme", &shared.id.to_string(), "--to", "vendor"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    tokio::time::timeout(Duration::from_secs(20), daemon.stop())
        .await
        .unwrap()
        .unwrap();

    // The ticket to plan: public and private comments, a small and a large attachment,
    // tags that cross and do not, a drop-down value with no mapping, an unmapped field.
    let t = sim
        .create_ticket(
            "acme",
            AGENT_A,
            &TicketWrite {
                custom_fields: Some(vec![
                    CustomField {
                        id: tier.id,
                        value: "tier_silver".into(),
                    },
                    CustomField {
                        id: notes.id,
                        value: "the customer's secret plan".into(),
                    },
                ]),
                ..common::new_ticket(
                    "Printer on fire",
                    "Help, it burns",
                    &["vendor_escalation", "vip", "internal_x"],
                )
            },
        )
        .unwrap();
    sim.update_ticket(
        "acme",
        t.id,
        AGENT_A,
        &comment("a private thought", false, vec![]),
    )
    .unwrap();
    let small = upload(&sim, "small.txt", 10).await;
    let big = upload(&sim, "big.bin", 5000).await;
    sim.update_ticket(
        "acme",
        t.id,
        AGENT_A,
        &comment("logs attached", true, vec![small, big]),
    )
    .unwrap();
    // A mirror of a vendor ticket, tagged here: never shared back.
    let mirror_of_vendor = sim
        .create_ticket(
            "acme",
            AGENT_A,
            &TicketWrite {
                external_id: Some("sharebridge:vendor:77".into()),
                ..common::new_ticket("from vendor", "x", &["vendor_escalation"])
            },
        )
        .unwrap();
    // Closed and untagged tickets are not found by the search at all.
    let closed = sim
        .create_ticket(
            "acme",
            AGENT_A,
            &common::new_ticket("closed", "x", &["vendor_escalation"]),
        )
        .unwrap();
    sim.update_ticket(
        "acme",
        closed.id,
        AGENT_A,
        &TicketWrite {
            status: Some(sharebridge::zendesk::models::Status::Closed),
            ..Default::default()
        },
    )
    .unwrap();
    sim.create_ticket("acme", AGENT_A, &common::new_ticket("other", "x", &[]))
        .unwrap();

    let store = dir.path().join("state").join("sharebridge.redb");
    let before = checksum(&store);
    reset(&sim).await;
    let j = plan_json(&path, &[]).await;
    let (requests, writes) = requests_and_writes(&sim).await;
    assert!(writes.is_empty(), "plan wrote: {writes:?}");
    assert_eq!(
        j["api_calls"], requests,
        "the plan reports every request it sent"
    );
    assert_eq!(checksum(&store), before, "the store is unchanged");
    assert_eq!(j["read_only"], true);

    let a = &j["agreements"][0];
    assert_eq!(a["name"], "acme-to-vendor");
    assert_eq!(a["state"], "accepted");
    assert_eq!(
        a["searches"][0]["query"],
        "type:ticket tags:vendor_escalation status<closed"
    );
    assert_eq!(a["searches"][0]["found"], 3, "{a}");
    assert_eq!(a["matching"], 3);
    assert_eq!(a["already_linked"], 1);
    assert_eq!(a["would_share"], 1);
    assert_eq!(a["detailed"], 1);
    assert_eq!(a["skipped"][0]["ticket"], mirror_of_vendor.id);
    assert_eq!(a["skipped"][0]["reason"], "mirror_of_receiver");
    assert!(
        a["target"]["brand_id"].is_u64(),
        "the receiver's default brand"
    );
    assert_eq!(a["visibility"]["seen_by"], 1, "vendor's one agent: {a}");
    let p = &a["tickets"][0];
    assert_eq!(p["ticket"], t.id);
    let c = &p["comments"];
    assert_eq!(
        (
            c["total"].as_u64(),
            c["crossing"].as_u64(),
            c["public"].as_u64(),
            c["held_back"].as_u64()
        ),
        (Some(3), Some(2), Some(2), Some(1)),
        "{c}"
    );
    let at = &p["attachments"];
    assert_eq!(at["copied"], 1);
    assert_eq!(at["copied_bytes"], 10);
    assert_eq!(at["over_max_bytes"][0]["size"], 5000);
    // A drop-down value is also a tag on the ticket (Zendesk sets it): it crosses.
    assert_eq!(
        p["tags"]["crossing"],
        serde_json::json!(["vip", "tier_silver"])
    );
    let held: Vec<(String, String)> = p["tags"]["held"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["tag"].as_str().unwrap().into(),
                h["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        held.contains(&("vendor_escalation".into(), "auto_share".into())),
        "{held:?}"
    );
    assert!(
        held.contains(&("internal_x".into(), "excluded".into())),
        "{held:?}"
    );
    let unmapped: Vec<(String, u64)> = p["fields"]["unmapped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["kind"].as_str().unwrap().into(),
                u["field"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        unmapped.contains(&("value".into(), tier.id)),
        "{unmapped:?}"
    );
    assert!(
        unmapped.contains(&("field".into(), notes.id)),
        "{unmapped:?}"
    );
    let text = serde_json::to_string(&j).unwrap();
    for secret in [
        "Help, it burns",
        "a private thought",
        "secret plan",
        "Printer on fire",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into plan --json");
    }

    // For people; with --limit 0 nothing is detailed, only counted.
    let (code, out, err) = run(&path, &["plan"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("would share now: 1 (1 detailed); already linked: 1"),
        "{out}"
    );
    assert!(out.contains("nothing was written"), "{out}");
    assert!(!out.contains("a private thought"));
    let j = plan_json(&path, &["acme-to-vendor", "--limit", "0"]).await;
    assert_eq!(j["agreements"][0]["would_share"], 1);
    assert_eq!(j["agreements"][0]["detailed"], 0);
    let (code, _, err) = run(&path, &["plan", "nope"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("no agreement named \"nope\""), "{err}");
    assert_eq!(checksum(&store), before);
    sim.shutdown().await;
}

/// 10,000 tickets, five tagged: `plan` finds them by search (a handful of requests, not
/// one per ticket), with the daemon running and without; no request but GET, the
/// daemon's store counts unchanged, the store file unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_only_reads_an_account_of_ten_thousand_tickets() {
    let sim = common::simulator().await;
    let mut tagged = Vec::new();
    for i in 0..10_000 {
        let tags: &[&str] = if i % 2000 == 7 {
            &["vendor_escalation"]
        } else {
            &[]
        };
        let t = sim
            .create_ticket("acme", AGENT_A, &common::new_ticket("t", "body", tags))
            .unwrap();
        if !tags.is_empty() {
            tagged.push(t.id);
        }
    }
    assert_eq!(tagged.len(), 5);
    let dir = tempfile::tempdir().unwrap();
    // Pending: vendor has not accepted, so the daemon itself shares nothing.
    let path = write_config(dir.path(), &sim, false, "", free_port());
    let (daemon, _) = start_daemon(&path).await;
    let counts = |path: PathBuf| async move {
        let (c1, links, e1) = run(&path, &["links", "list", "--json"]).await;
        let (c2, audit, e2) = run(&path, &["audit", "--json"]).await;
        assert_eq!((c1, c2), (0, 0), "{e1}{e2}");
        let n = |s: &str| {
            serde_json::from_str::<Value>(s)
                .unwrap()
                .as_array()
                .unwrap()
                .len()
        };
        (n(&links), n(&audit))
    };
    let store_before = counts(path.clone()).await;
    reset(&sim).await;
    let j = plan_json(&path, &[]).await;
    let (requests, writes) = requests_and_writes(&sim).await;
    assert!(writes.is_empty(), "with the daemon running: {writes:?}");
    let a = &j["agreements"][0];
    assert_eq!(a["state"], "pending", "plan works before acceptance");
    assert_eq!(a["would_share"], 5);
    assert_eq!(a["detailed"], 5);
    let planned: Vec<u64> = a["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ticket"].as_u64().unwrap())
        .collect();
    assert_eq!(planned, tagged);
    let calls = j["api_calls"].as_u64().unwrap();
    assert!(calls <= requests, "{calls} reported, {requests} received");
    assert!(
        calls < 40,
        "search, not a read of every ticket: {calls} calls"
    );
    assert_eq!(
        counts(path.clone()).await,
        store_before,
        "the daemon's store"
    );
    tokio::time::timeout(Duration::from_secs(20), daemon.stop())
        .await
        .unwrap()
        .unwrap();

    // Without the daemon: the store opened read-only and left byte for byte.
    let store = dir.path().join("state").join("sharebridge.redb");
    let before = checksum(&store);
    reset(&sim).await;
    let j = plan_json(&path, &["--limit", "2"]).await;
    let (requests, writes) = requests_and_writes(&sim).await;
    assert!(writes.is_empty(), "without the daemon: {writes:?}");
    assert_eq!(j["api_calls"], requests, "alone, the count is exact");
    assert_eq!(j["agreements"][0]["would_share"], 5);
    assert_eq!(j["agreements"][0]["detailed"], 2);
    assert!(requests < 30, "{requests}");
    assert_eq!(checksum(&store), before, "the store file is unchanged");
    sim.shutdown().await;
}
