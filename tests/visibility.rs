//! `sharebridge visibility` through the real binary against the simulator: each access
//! mode of the seed's table (all, within-groups, within-groups-and-public-groups,
//! within-organization, assigned-only; brand membership; admins; followers; the
//! assignee and CCs), each warning (only admins, no group, a group outside the brand,
//! unknown ids), by agreement without a daemon and by link through a running daemon
//! (and `links show`); unknown agreement and link.
//!
//! The receiver is built as an admin would through the API (roles, brands, groups,
//! memberships, an organization), brand memberships narrowed as Zendesk's admin UI does.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sharebridge::sim::{Limits, SimConfig, Simulator};

const ADMIN: &str = "admin@vendor.example";
const BRIDGE: &str = "bridge@vendor.example";

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

async fn cli_async(config: &Path, args: &[&str]) -> (i32, String, String) {
    let config = config.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&config, &a)
    })
    .await
    .unwrap()
}

async fn admin(sim: &Simulator, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut rb = reqwest::Client::new()
        .request(method, format!("{}{path}", sim.base_url("vendor")))
        .basic_auth(format!("{ADMIN}/token"), Some(sim.token()));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

async fn post(sim: &Simulator, path: &str, body: Value) -> Value {
    admin(sim, reqwest::Method::POST, path, Some(body)).await
}

/// The receiver as the tests build it; ids by name.
struct Vendor {
    default_brand: u64,
    empty_brand: u64,
    private_group: u64,
    public_group: u64,
    outside_group: u64,
    /// Agent (or admin) ids by the name the tests use.
    users: BTreeMap<&'static str, u64>,
}

async fn build_vendor(sim: &Simulator) -> Vendor {
    let brands = admin(sim, reqwest::Method::GET, "/api/v2/brands", None).await;
    let default_brand = brands["brands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["default"] == true)
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let brand = |name: &'static str| json!({"brand": {"name": name, "subdomain": name}});
    let partner_brand = post(sim, "/api/v2/brands", brand("partner")).await["brand"]["id"]
        .as_u64()
        .unwrap();
    let empty_brand = post(sim, "/api/v2/brands", brand("empty")).await["brand"]["id"]
        .as_u64()
        .unwrap();
    let group = |name: &str, public: bool| json!({"group": {"name": name, "is_public": public}});
    let private_group =
        post(sim, "/api/v2/groups", group("Escalations", false)).await["group"]["id"]
            .as_u64()
            .unwrap();
    let public_group = post(sim, "/api/v2/groups", group("Public desk", true)).await["group"]["id"]
        .as_u64()
        .unwrap();
    let outside_group =
        post(sim, "/api/v2/groups", group("Partner desk", false)).await["group"]["id"]
            .as_u64()
            .unwrap();
    let org = post(
        sim,
        "/api/v2/organizations",
        json!({"organization": {"name": "Partner Inc"}}),
    )
    .await["organization"]["id"]
        .as_u64()
        .unwrap();
    let mut roles = BTreeMap::new();
    for access in [
        "all",
        "within-groups",
        "within-groups-and-public-groups",
        "within-organization",
        "assigned-only",
    ] {
        let r = post(
            sim,
            "/api/v2/custom_roles",
            json!({"custom_role": {"name": format!("role {access}"),
                "configuration": {"ticket_access": access}}}),
        )
        .await;
        roles.insert(access, r["custom_role"]["id"].as_u64().unwrap());
    }
    // The bridge's user (the mirror's requester) belongs to the organization.
    let bridge = sim.set_role("vendor", BRIDGE, "agent");
    admin(
        sim,
        reqwest::Method::PUT,
        &format!("/api/v2/users/{bridge}"),
        Some(json!({"user": {"organization_id": org}})),
    )
    .await;
    // name, custom role, in the organization, groups, brands (None: every brand).
    type AgentSpec<'a> = (&'a str, Option<&'a str>, bool, Vec<u64>, Option<Vec<u64>>);
    let agents: [AgentSpec; 10] = [
        (
            "all_in",
            Some("all"),
            false,
            vec![],
            Some(vec![default_brand]),
        ),
        (
            "all_out",
            Some("all"),
            false,
            vec![outside_group],
            Some(vec![partner_brand]),
        ),
        (
            "wg_in",
            Some("within-groups"),
            false,
            vec![private_group],
            Some(vec![default_brand]),
        ),
        (
            "wg_out",
            Some("within-groups"),
            false,
            vec![],
            Some(vec![default_brand]),
        ),
        (
            "wgp",
            Some("within-groups-and-public-groups"),
            false,
            vec![],
            Some(vec![default_brand]),
        ),
        (
            "org_in",
            Some("within-organization"),
            true,
            vec![],
            Some(vec![default_brand]),
        ),
        (
            "org_out",
            Some("within-organization"),
            false,
            vec![],
            Some(vec![default_brand]),
        ),
        (
            "assigned",
            Some("assigned-only"),
            false,
            vec![],
            Some(vec![default_brand]),
        ),
        ("plain", None, false, vec![], Some(vec![default_brand])),
        (
            "cc_out",
            Some("assigned-only"),
            false,
            vec![],
            Some(vec![partner_brand]),
        ),
    ];
    let mut users = BTreeMap::new();
    users.insert("bridge", bridge);
    for (name, role, in_org, groups, brands) in agents {
        let email = format!("{name}@vendor.example");
        let mut u = json!({"name": name, "email": email, "role": "agent"});
        if let Some(r) = role {
            u["custom_role_id"] = json!(roles[r]);
        }
        if in_org {
            u["organization_id"] = json!(org);
        }
        let id = post(sim, "/api/v2/users", json!({"user": u})).await["user"]["id"]
            .as_u64()
            .unwrap();
        for g in groups {
            post(
                sim,
                "/api/v2/group_memberships",
                json!({"group_membership": {"user_id": id, "group_id": g}}),
            )
            .await;
        }
        if let Some(b) = brands {
            sim.set_brand_memberships("vendor", &email, &b);
        }
        users.insert(name, id);
    }
    // The admin belongs to no brand: admins see every brand anyway.
    let admin_id = sim.set_role("vendor", ADMIN, "admin");
    sim.set_brand_memberships("vendor", ADMIN, &[]);
    users.insert("admin", admin_id);
    // The bridge's user is in the default brand only (not in the empty one).
    sim.set_brand_memberships("vendor", BRIDGE, &[default_brand]);
    Vendor {
        default_brand,
        empty_brand,
        private_group,
        public_group,
        outside_group,
        users,
    }
}

async fn simulator() -> Simulator {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut sc = SimConfig::local(&["acme", "vendor"]);
    sc.limits = Limits::unlimited();
    sc.export_lag_secs = 0;
    sc.admins = vec![ADMIN.to_owned()];
    Simulator::start(sc).await.unwrap()
}

/// A configuration acme → vendor placing mirrors at `target` (a TOML inline table).
fn write_config(dir: &Path, sim: &Simulator, target: &str, listen: Option<u16>) -> PathBuf {
    let listen = listen
        .map(|p| format!("listen = \"127.0.0.1:{p}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "{daemon}{listen}{acme}{vendor}\n[[agreements]]\nname = \"acme-to-vendor\"\nfrom = \"acme\"\nto = \"vendor\"\nauto_share_tags = [\"vendor_escalation\"]\ntarget = {target}\n",
        daemon = common::DAEMON_SECTION.replace(
            "state_dir = \"unused\"",
            &format!("state_dir = {:?}", dir.join("state"))
        ),
        acme = common::account_section(sim, "acme", ""),
        vendor = common::account_section(sim, "vendor", "accept_from = [\"acme\"]"),
    );
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let path = dir.join("sharebridge.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `why` per agent name, and the warnings' kinds, from `visibility --json`.
fn verdicts(v: &Value, vendor: &Vendor) -> BTreeMap<&'static str, (bool, String)> {
    let by_id: BTreeMap<u64, &'static str> = vendor.users.iter().map(|(n, id)| (*id, *n)).collect();
    v["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| {
            let name = by_id.get(&x["agent_id"].as_u64().unwrap())?;
            Some((
                *name,
                (
                    x["can_see"].as_bool().unwrap(),
                    x["why"].as_str().unwrap().to_owned(),
                ),
            ))
        })
        .collect()
}

fn kinds(v: &Value) -> Vec<String> {
    v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn by_agreement(dir: &Path, sim: &Simulator, target: &str) -> Value {
    let path = write_config(dir, sim, target, None);
    let (code, out, err) = cli_async(
        &path,
        &["visibility", "--agreement", "acme-to-vendor", "--json"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn expect(got: &BTreeMap<&'static str, (bool, String)>, want: &[(&'static str, bool, &str)]) {
    for (name, sees, why) in want {
        assert_eq!(
            got.get(name),
            Some(&(*sees, (*why).to_owned())),
            "{name} in {got:?}"
        );
    }
}

/// Each access mode of the seed's table against mirrors placed by the agreement, and
/// each warning, through the real binary with no daemon running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_access_mode_and_warning_by_agreement() {
    let sim = simulator().await;
    let v = build_vendor(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let d = v.default_brand;

    // The private group of the default brand.
    let j = by_agreement(
        dir.path(),
        &sim,
        &format!("{{ brand_id = {d}, group_id = {} }}", v.private_group),
    )
    .await;
    assert_eq!(j["agreement"], "acme-to-vendor");
    assert_eq!(j["account"], "vendor");
    assert_eq!(j["mirror"]["brand_id"], d);
    assert_eq!(j["mirror"]["group_id"], v.private_group);
    assert_eq!(j["mirror"]["planned"], true);
    assert!(j["mirror"]["organization_id"].is_u64(), "{j}");
    let got = verdicts(&j, &v);
    expect(
        &got,
        &[
            ("all_in", true, "all_tickets"),
            ("all_out", false, "not_in_brand"),
            ("wg_in", true, "group"),
            ("wg_out", false, "not_in_group"),
            ("wgp", false, "not_in_group"),
            ("org_in", true, "organization"),
            ("org_out", false, "other_organization"),
            ("assigned", false, "not_assigned"),
            ("plain", true, "all_tickets"),
            ("admin", true, "admin"),
        ],
    );
    let roles: BTreeMap<u64, (String, String)> = j["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["agent_id"].as_u64().unwrap(),
                (
                    x["role"].as_str().unwrap().to_owned(),
                    x["ticket_access"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    assert_eq!(
        roles[&v.users["wgp"]],
        ("agent".into(), "within-groups-and-public-groups".into())
    );
    assert_eq!(roles[&v.users["plain"]], ("agent".into(), "all".into()));
    assert_eq!(roles[&v.users["admin"]].0, "admin");
    let bridge = j["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["agent_id"] == v.users["bridge"])
        .unwrap();
    assert_eq!(bridge["bridge"], true);
    // all_in, wg_in, org_in, plain, admin (the bridge not counted).
    assert_eq!(j["seen_by"], 5, "{j}");
    assert_eq!(kinds(&j), Vec::<String>::new());

    // The public group: public groups are seen by within-groups-and-public-groups only.
    let j = by_agreement(
        dir.path(),
        &sim,
        &format!("{{ brand_id = {d}, group_id = {} }}", v.public_group),
    )
    .await;
    expect(
        &verdicts(&j, &v),
        &[
            ("wgp", true, "public_group"),
            ("wg_in", false, "not_in_group"),
            ("wg_out", false, "not_in_group"),
        ],
    );

    // No group: group-restricted agents cannot see it (warning), the default brand.
    let j = by_agreement(dir.path(), &sim, "{ brand_id = 0, group_id = 0 }").await;
    assert_eq!(j["mirror"]["brand_id"], d, "the receiver's default brand");
    assert_eq!(j["mirror"]["group_id"], Value::Null);
    expect(
        &verdicts(&j, &v),
        &[
            ("wg_in", false, "no_group"),
            ("wgp", false, "no_group"),
            ("all_in", true, "all_tickets"),
        ],
    );
    assert_eq!(kinds(&j), vec!["no_group"]);
    let msg = j["warnings"][0]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("the mirror has no group: agents with within-groups access cannot see it"),
        "{msg}"
    );

    // A brand with no agent members: only admins see it.
    let j = by_agreement(
        dir.path(),
        &sim,
        &format!("{{ brand_id = {} }}", v.empty_brand),
    )
    .await;
    assert_eq!(j["seen_by"], 1, "the admin: {j}");
    expect(
        &verdicts(&j, &v),
        &[("all_in", false, "not_in_brand"), ("admin", true, "admin")],
    );
    assert_eq!(kinds(&j)[0], "only_admins");
    assert_eq!(
        j["warnings"][0]["message"],
        format!(
            "no agent but admins can see mirrors of acme-to-vendor: brand {} has no agent members",
            v.empty_brand
        )
    );
    assert_eq!(j["warnings"][0]["brand_without_agents"], true);

    // A group whose agents are all outside the brand.
    let j = by_agreement(
        dir.path(),
        &sim,
        &format!("{{ brand_id = {d}, group_id = {} }}", v.outside_group),
    )
    .await;
    assert!(kinds(&j).contains(&"group_outside_brand".to_owned()), "{j}");
    let w = j["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["kind"] == "group_outside_brand")
        .unwrap();
    assert!(
        w["message"].as_str().unwrap().contains(&format!(
            "the target group belongs to no role that can see brand {d}"
        )),
        "{w}"
    );

    // Ids the receiver does not have.
    let j = by_agreement(dir.path(), &sim, "{ brand_id = 999999, group_id = 888888 }").await;
    let k = kinds(&j);
    assert!(
        k.contains(&"unknown_brand".to_owned()) && k.contains(&"unknown_group".to_owned()),
        "{k:?}"
    );

    // The human form says the same.
    let path = write_config(dir.path(), &sim, "{ brand_id = 0 }", None);
    let (code, out, err) = cli_async(&path, &["visibility", "--agreement", "acme-to-vendor"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("seen by") && out.contains("warning: the mirror has no group"),
        "{out}"
    );

    // Errors: an unknown agreement is bad usage (2); a link without a daemon is looked
    // up in the store (none here: 1).
    let (code, _, err) = cli_async(&path, &["visibility", "--agreement", "nope"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no agreement named \"nope\""), "{err}");
    let (code, _, err) = cli_async(&path, &["visibility", "999"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no link 999"), "{err}");
    let (code, _, _) = cli_async(&path, &["visibility"]).await;
    assert_eq!(code, 2, "a link or --agreement is required");
    sim.shutdown().await;
}

/// A link's mirror as it is, through a running daemon: followers see it whatever their
/// brand and role; the assignee and CCs whatever their role, within their brands; and
/// `links show` says who sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_mirror_as_it_is_through_the_daemon() {
    let sim = simulator().await;
    let v = build_vendor(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let path = write_config(
        dir.path(),
        &sim,
        &format!(
            "{{ brand_id = {}, group_id = {} }}",
            v.default_brand, v.private_group
        ),
        Some(port),
    );
    let config = sharebridge::config::load_with(&path, &Default::default())
        .unwrap()
        .config;
    let daemon = sharebridge::daemon::start(config, listener).await.unwrap();
    let t = sim
        .create_ticket(
            "acme",
            common::AGENT_A,
            &common::new_ticket("vis", "first", &[]),
        )
        .unwrap();
    let (code, out, err) = cli_async(
        &path,
        &[
            "share",
            "acme",
            &t.id.to_string(),
            "--to",
            "vendor",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let link: Value = serde_json::from_str(&out).unwrap();
    let link_id = link["id"].as_u64().unwrap();
    let mirror = link["target_ticket"].as_u64().unwrap();
    // An admin of vendor makes all_out a follower, assigns the ticket to `assigned` and
    // copies cc_out (outside the brand) and org_out (inside).
    admin(
        &sim,
        reqwest::Method::PUT,
        &format!("/api/v2/tickets/{mirror}"),
        Some(json!({"ticket": {
            "follower_ids": [v.users["all_out"]],
            "assignee_id": v.users["assigned"],
            "collaborator_ids": [v.users["cc_out"], v.users["org_out"]],
        }})),
    )
    .await;
    let (code, out, err) = cli_async(&path, &["visibility", &link_id.to_string(), "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["link"], link_id);
    assert_eq!(j["mirror"]["ticket"], mirror);
    assert_eq!(j["mirror"]["planned"], false);
    assert_eq!(j["mirror"]["follower_ids"], json!([v.users["all_out"]]));
    expect(
        &verdicts(&j, &v),
        &[
            ("all_out", true, "follower"),
            ("assigned", true, "assignee"),
            ("org_out", true, "cc"),
            ("cc_out", false, "not_in_brand"),
            ("wg_in", true, "group"),
            ("wg_out", false, "not_in_group"),
            ("admin", true, "admin"),
        ],
    );
    // links show: the link and who sees its mirror.
    let (code, out, err) = cli_async(&path, &["links", "show", &link_id.to_string()]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("visibility: seen by"), "{out}");
    let (code, out, _) = cli_async(&path, &["links", "show", &link_id.to_string(), "--json"]).await;
    assert_eq!(code, 0);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["id"], link_id);
    assert_eq!(shown["visibility"]["seen_by"], j["seen_by"]);
    // Through the daemon too: an unknown link (1) and an unknown agreement (2).
    let (code, _, err) = cli_async(&path, &["visibility", "4242"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no link 4242"), "{err}");
    let (code, _, _) = cli_async(&path, &["visibility", "--agreement", "nope"]).await;
    assert_eq!(code, 2);
    let (code, out, err) = cli_async(
        &path,
        &["visibility", "--agreement", "acme-to-vendor", "--json"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let planned: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(planned["mirror"]["planned"], true);
    tokio::time::timeout(Duration::from_secs(20), daemon.stop())
        .await
        .unwrap()
        .unwrap();
    sim.shutdown().await;
}
