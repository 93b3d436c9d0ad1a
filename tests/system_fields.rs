//! Zendesk's own fields across a link (`[agreements.system]`) and the mismatches reported
//! on it, against the in-process simulator: priority, type with due date, group and form
//! cross in both directions of a two-way link without bouncing back; a value with no
//! mapping, a missing field, group or form, and a type mismatch are each reported on the
//! link (store, metric) while the rest of the update crosses; the real daemon shows them
//! on `links show`, the status page, `/metrics` and in a warning, by ids and never by
//! value; and the simulator serves and refuses what Zendesk does.

mod common;

use common::{
    AGENT_A, AGENT_V, DAEMON_SECTION, account_section, new_ticket, simulator, world_with,
};
use jiff::Timestamp;
use sharebridge::link::Flow;
use sharebridge::sim::Simulator;
use sharebridge::store::LinkState;
use sharebridge::system::MismatchKind;
use sharebridge::zendesk::models::{CustomField, TicketWrite};

const DUE: &str = "2026-12-24T10:00:00Z";

struct Ids {
    acme_group: u64,
    vendor_group: u64,
    acme_default_group: u64,
    vendor_default_group: u64,
    acme_form: u64,
    vendor_form: u64,
    acme_default_form: u64,
    vendor_default_form: u64,
}

fn ids(sim: &Simulator) -> Ids {
    let acme_group = sim.add_group("acme", "Tier 2").id;
    let vendor_group = sim.add_group("vendor", "Escalations").id;
    let acme_form = sim.add_ticket_form("acme", "Hardware").id;
    let vendor_form = sim.add_ticket_form("vendor", "Partner hardware").id;
    Ids {
        acme_group,
        vendor_group,
        acme_default_group: sim.groups("acme")[0].id,
        vendor_default_group: sim.groups("vendor")[0].id,
        acme_form,
        vendor_form,
        acme_default_form: sim.ticket_forms("acme")[0].id,
        vendor_default_form: sim.ticket_forms("vendor")[0].id,
    }
}

/// Two-way: each side sends its system fields under its own maps.
fn two_way(sim: &Simulator, i: &Ids) -> String {
    format!(
        r#"{DAEMON_SECTION}{acme}{vendor}
[[agreements]]
name = "acme-to-vendor"
from = "acme"
to = "vendor"
auto_share_tags = ["vendor_escalation"]
[agreements.system]
priority = true
type = true
groups = {{ "{ag}" = {vg}, "{adg}" = {vdg} }}
forms = {{ "{af}" = {vf}, "{adf}" = {vdf} }}

[[agreements]]
name = "vendor-to-acme"
from = "vendor"
to = "acme"
[agreements.system]
priority = true
type = true
groups = {{ "{vg}" = {ag}, "{vdg}" = {adg} }}
forms = {{ "{vf}" = {af}, "{vdf}" = {adf} }}
"#,
        acme = account_section(sim, "acme", "accept_from = [\"vendor\"]"),
        vendor = account_section(sim, "vendor", "accept_from = [\"acme\"]"),
        ag = i.acme_group,
        vg = i.vendor_group,
        adg = i.acme_default_group,
        vdg = i.vendor_default_group,
        af = i.acme_form,
        vf = i.vendor_form,
        adf = i.acme_default_form,
        vdf = i.vendor_default_form,
    )
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// The bridge's ticket updates in `account` so far.
fn bridge_updates(sim: &Simulator, account: &str) -> u64 {
    // The agents' writes go through the simulator's helpers, not HTTP: every counted
    // update is the bridge's.
    sim.stats(account)
        .by_endpoint
        .get("PUT /api/v2/tickets/{id}")
        .copied()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_type_due_date_group_and_form_cross_both_ways_and_never_bounce() {
    let sim = simulator().await;
    let i = ids(&sim);
    let text = two_way(&sim, &i);
    let w = world_with(sim, &text).await;

    // The new mirror gets priority, type, due date, mapped group and form.
    let mut create = new_ticket("Server down", "It is down", &["vendor_escalation"]);
    create.priority = Some(Some("high".into()));
    create.ticket_type = Some(Some("task".into()));
    create.due_at = Some(Some(ts(DUE)));
    create.group_id = Some(i.acme_group);
    create.ticket_form_id = Some(i.acme_form);
    let t = w.sim.create_ticket("acme", AGENT_A, &create).unwrap();
    w.poke("acme", t.id).await;
    let mirror = w.mirror_of(t.id);
    let m = w.sim.ticket("vendor", mirror).unwrap();
    assert_eq!(m.priority.as_deref(), Some("high"));
    assert_eq!(m.ticket_type.as_deref(), Some("task"));
    assert_eq!(m.due_at, Some(ts(DUE)));
    assert_eq!(m.group_id, Some(i.vendor_group));
    assert_eq!(m.ticket_form_id, Some(i.vendor_form));
    assert!(w.link_of(t.id).mismatches.is_empty());

    // Changes at the source cross, riding with the comment in one update.
    let before = bridge_updates(&w.sim, "vendor");
    w.sim
        .add_comment("acme", t.id, AGENT_A, "Escalating", true)
        .unwrap();
    w.sim
        .update_ticket(
            "acme",
            t.id,
            AGENT_A,
            &TicketWrite {
                priority: Some(Some("urgent".into())),
                ticket_type: Some(Some("incident".into())),
                group_id: Some(i.acme_default_group),
                ticket_form_id: Some(i.acme_default_form),
                ..Default::default()
            },
        )
        .unwrap();
    w.poke("acme", t.id).await;
    let m = w.sim.ticket("vendor", mirror).unwrap();
    assert_eq!(m.priority.as_deref(), Some("urgent"));
    assert_eq!(m.ticket_type.as_deref(), Some("incident"));
    assert_eq!(m.due_at, None, "no due date on an incident");
    assert_eq!(m.group_id, Some(i.vendor_default_group));
    assert_eq!(m.ticket_form_id, Some(i.vendor_default_form));
    assert_eq!(
        bridge_updates(&w.sim, "vendor") - before,
        1,
        "comment and changes in one update"
    );

    // The partner's changes on the mirror cross back under vendor's own maps.
    w.sim
        .update_ticket(
            "vendor",
            mirror,
            AGENT_V,
            &TicketWrite {
                priority: Some(None),
                ticket_type: Some(Some("task".into())),
                due_at: Some(Some(ts(DUE))),
                group_id: Some(i.vendor_group),
                ..Default::default()
            },
        )
        .unwrap();
    w.poke("vendor", mirror).await;
    let s = w.sim.ticket("acme", t.id).unwrap();
    assert_eq!(s.priority, None, "a cleared priority is cleared");
    assert_eq!(s.ticket_type.as_deref(), Some("task"));
    assert_eq!(s.due_at, Some(ts(DUE)));
    assert_eq!(s.group_id, Some(i.acme_group));

    // Nothing bounces: both sides read again, no further write either way.
    let (acme_writes, vendor_writes) = (
        bridge_updates(&w.sim, "acme"),
        bridge_updates(&w.sim, "vendor"),
    );
    for _ in 0..2 {
        w.poke("acme", t.id).await;
        w.poke("vendor", mirror).await;
    }
    assert_eq!(bridge_updates(&w.sim, "acme"), acme_writes);
    assert_eq!(bridge_updates(&w.sim, "vendor"), vendor_writes);
    let m = w.sim.ticket("vendor", mirror).unwrap();
    assert_eq!((m.priority, m.group_id), (None, Some(i.vendor_group)));
    assert_eq!(w.link_of(t.id).state, LinkState::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_by_default_nothing_of_the_system_crosses() {
    let sim = simulator().await;
    let group = sim.add_group("acme", "Tier 2").id;
    let text = format!(
        "{DAEMON_SECTION}{}{}\n[[agreements]]\nname = \"acme-to-vendor\"\nfrom = \"acme\"\nto = \"vendor\"\nauto_share_tags = [\"vendor_escalation\"]\n[agreements.system]\npriority = false\n",
        account_section(&sim, "acme", ""),
        account_section(&sim, "vendor", "accept_from = [\"acme\"]"),
    );
    let w = world_with(sim, &text).await;
    let mut create = new_ticket("Quiet", "first", &["vendor_escalation"]);
    create.priority = Some(Some("high".into()));
    create.ticket_type = Some(Some("problem".into()));
    create.group_id = Some(group);
    let t = w.sim.create_ticket("acme", AGENT_A, &create).unwrap();
    w.poke("acme", t.id).await;
    let m = w.sim.ticket("vendor", w.mirror_of(t.id)).unwrap();
    assert_eq!((m.priority, m.ticket_type), (None, None));
    assert_eq!(m.group_id, None);
    assert!(w.link_of(t.id).mismatches.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_mismatch_is_reported_on_the_link_and_the_rest_crosses() {
    let sim = simulator().await;
    let tier = sim.add_ticket_field(
        "acme",
        "tagger",
        "Tier",
        &[("Gold", "tier_gold"), ("Bronze", "tier_bronze")],
    );
    let vendor_tier = sim.add_ticket_field("vendor", "tagger", "Tier", &[("Gold", "gold")]);
    let rush = sim.add_ticket_field("acme", "checkbox", "Rush", &[]);
    let vendor_choice = sim.add_ticket_field("vendor", "tagger", "Rush", &[("Yes", "yes")]);
    let note = sim.add_ticket_field("acme", "text", "Note", &[]);
    let mapped_group = sim.add_group("acme", "Tier 2").id;
    let unmapped_group = sim.add_group("acme", "Tier 3").id;
    let mapped_form = sim.add_ticket_form("acme", "Hardware").id;
    let default_form = sim.ticket_forms("acme")[0].id;
    let text = format!(
        r#"{DAEMON_SECTION}{acme}{vendor}
[[agreements]]
name = "acme-to-vendor"
from = "acme"
to = "vendor"
auto_share_tags = ["vendor_escalation"]
[[agreements.fields]]
from = {tier}
to = {vendor_tier}
values = {{ "tier_gold" = "gold" }}
[[agreements.fields]]
from = {rush}
to = {vendor_choice}
[[agreements.fields]]
from = {note}
to = 999999
[agreements.system]
priority = true
groups = {{ "{mapped_group}" = 999998 }}
forms = {{ "{mapped_form}" = 999997 }}
"#,
        acme = account_section(&sim, "acme", ""),
        vendor = account_section(&sim, "vendor", "accept_from = [\"acme\"]"),
        tier = tier.id,
        vendor_tier = vendor_tier.id,
        rush = rush.id,
        vendor_choice = vendor_choice.id,
        note = note.id,
    );
    let w = world_with(sim, &text).await;

    // One ticket carrying every kind of mismatch on the field side, a mapped group the
    // receiver lacks and a form with no entry; its priority still crosses.
    let mut create = new_ticket("Mixed", "first", &["vendor_escalation"]);
    create.priority = Some(Some("high".into()));
    create.group_id = Some(mapped_group);
    create.custom_fields = Some(vec![
        CustomField {
            id: tier.id,
            value: "tier_bronze".into(),
        },
        CustomField {
            id: rush.id,
            value: true.into(),
        },
        CustomField {
            id: note.id,
            value: "call back".into(),
        },
    ]);
    let t = w.sim.create_ticket("acme", AGENT_A, &create).unwrap();
    w.poke("acme", t.id).await;
    let link = w.link_of(t.id);
    assert_eq!(link.state, LinkState::Active, "{:?}", link.error);
    let mirror = w.sim.ticket("vendor", link.target_ticket.unwrap()).unwrap();
    assert_eq!(mirror.priority.as_deref(), Some("high"), "the rest crossed");
    let kinds: Vec<(MismatchKind, u64, Option<u64>)> = link
        .mismatches
        .iter()
        .map(|m| (m.kind, m.sender_id, m.receiver_id))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (MismatchKind::UnmappedValue, tier.id, Some(vendor_tier.id)),
            (MismatchKind::MissingField, note.id, Some(999999)),
            (MismatchKind::TypeMismatch, rush.id, Some(vendor_choice.id)),
            (MismatchKind::MissingGroup, mapped_group, Some(999998)),
            (MismatchKind::UnmappedForm, default_form, None),
        ]
    );
    assert!(
        link.mismatches
            .iter()
            .all(|m| m.flow == Flow::SourceToTarget)
    );
    let value_of = |id: u64| {
        mirror
            .custom_fields
            .iter()
            .find(|f| f.id == id)
            .map(|f| f.value.clone())
            .unwrap_or_default()
    };
    assert!(value_of(vendor_tier.id).is_null() && value_of(vendor_choice.id).is_null());
    let metrics = w.engine().metrics().render();
    for kind in [
        "unmapped_value",
        "missing_field",
        "type_mismatch",
        "missing_group",
        "unmapped_form",
    ] {
        assert!(
            metrics.contains(&format!(
                "sharebridge_mismatches_total{{agreement=\"acme-to-vendor\",kind=\"{kind}\"}} 1"
            )),
            "{kind} not counted:\n{metrics}"
        );
    }

    // An update with a comment: the unmapped group and the missing form are reported,
    // the comment, the mappable value and the priority cross in the same update.
    w.sim
        .add_comment("acme", t.id, AGENT_A, "More detail", true)
        .unwrap();
    w.sim
        .update_ticket(
            "acme",
            t.id,
            AGENT_A,
            &TicketWrite {
                priority: Some(Some("low".into())),
                group_id: Some(unmapped_group),
                ticket_form_id: Some(mapped_form),
                custom_fields: Some(vec![CustomField {
                    id: tier.id,
                    value: "tier_gold".into(),
                }]),
                ..Default::default()
            },
        )
        .unwrap();
    w.poke("acme", t.id).await;
    let link = w.link_of(t.id);
    let mirror_id = link.target_ticket.unwrap();
    let mirror = w.sim.ticket("vendor", mirror_id).unwrap();
    assert_eq!(mirror.priority.as_deref(), Some("low"));
    assert!(
        mirror
            .custom_fields
            .iter()
            .any(|f| f.id == vendor_tier.id && f.value == "gold"),
        "{:?}",
        mirror.custom_fields
    );
    assert!(
        w.bodies("vendor", mirror_id)
            .iter()
            .any(|(b, _)| b.contains("More detail"))
    );
    let kinds: Vec<MismatchKind> = link.mismatches.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        vec![
            MismatchKind::MissingField,
            MismatchKind::TypeMismatch,
            MismatchKind::UnmappedGroup,
            MismatchKind::MissingForm,
        ],
        "the tier value now maps; what still does not fit stays reported"
    );
    assert_eq!(link.state, LinkState::Active);
    w.engine().recount_gauges(); // as a scrape of /metrics does
    let metrics = w.engine().metrics().render();
    assert!(
        metrics.contains(
            "sharebridge_link_mismatches{agreement=\"acme-to-vendor\",kind=\"unmapped_group\"} 1"
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_serves_forms_and_refuses_what_zendesk_refuses() {
    let sim = simulator().await;
    let url = sim.base_url("acme");
    let http = reqwest::Client::new();
    let auth =
        |r: reqwest::RequestBuilder| r.basic_auth("agent@acme.example/token", Some(sim.token()));
    let forms: serde_json::Value = auth(http.get(format!("{url}/api/v2/ticket_forms.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Priorities and types, as Zendesk lists them: system fields with their options.
    let fields: serde_json::Value = auth(http.get(format!("{url}/api/v2/ticket_fields.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let options = |ty: &str| -> Vec<String> {
        fields["ticket_fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["type"] == ty)
            .map(|f| {
                f["system_field_options"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o["value"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(options("priority"), ["low", "normal", "high", "urgent"]);
    assert_eq!(
        options("tickettype"),
        ["question", "incident", "problem", "task"]
    );
    let list = forms["ticket_forms"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["default"], true);
    let default_form = list[0]["id"].as_u64().unwrap();

    let created: serde_json::Value = auth(http.post(format!("{url}/api/v2/tickets.json")))
        .json(&serde_json::json!({"ticket": {"subject": "s", "description": "d", "type": "task", "due_at": DUE}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t = &created["ticket"];
    assert_eq!(t["ticket_form_id"].as_u64(), Some(default_form));
    assert_eq!(t["due_at"], DUE);
    let id = t["id"].as_u64().unwrap();

    let put = |body: serde_json::Value| {
        auth(http.put(format!("{url}/api/v2/tickets/{id}.json")))
            .json(&body)
            .send()
    };
    for (body, field) in [
        (
            serde_json::json!({"ticket": {"group_id": 424242}}),
            "group_id",
        ),
        (
            serde_json::json!({"ticket": {"ticket_form_id": 424242}}),
            "ticket_form_id",
        ),
        (
            serde_json::json!({"ticket": {"priority": "whenever"}}),
            "priority",
        ),
        (serde_json::json!({"ticket": {"type": "chore"}}), "type"),
    ] {
        let r = put(body).await.unwrap();
        assert_eq!(r.status().as_u16(), 422, "{field}");
        let e: serde_json::Value = r.json().await.unwrap();
        assert_eq!(e["error"], "RecordInvalid");
        assert!(e["details"][field].is_array(), "{field}: {e}");
    }
    // A ticket that stops being a task loses its due date.
    let r: serde_json::Value = put(serde_json::json!({"ticket": {"type": "question"}}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["ticket"]["due_at"].is_null(), "{r}");
    assert_eq!(r["ticket"]["type"], "question");
}

/// The real daemon: a mismatch shows on `links show`, the status page, `/metrics` and in
/// a warning naming ids, while the value itself appears in none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatch_shows_everywhere_by_ids_never_by_value() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    const VALUE: &str = "tier_secret_bronze";
    let sim = simulator().await;
    let tier = sim.add_ticket_field(
        "acme",
        "tagger",
        "Tier",
        &[("Gold", "tier_gold"), ("Bronze", VALUE)],
    );
    let vendor_tier = sim.add_ticket_field("vendor", "tagger", "Tier", &[("Gold", "gold")]);
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = format!(
        "[daemon]\nadmin_token = \"admin\"\nlisten = \"127.0.0.1:{port}\"\nstate_dir = {state:?}\npoll_interval = \"1s\"\ncoalesce_window = \"50ms\"\n{acme}{vendor}\n[[agreements]]\nname = \"acme-to-vendor\"\nfrom = \"acme\"\nto = \"vendor\"\nauto_share_tags = [\"vendor_escalation\"]\n[[agreements.fields]]\nfrom = {from}\nto = {to}\nvalues = {{ \"tier_gold\" = \"gold\" }}\n[agreements.system]\npriority = true\n",
        state = dir.path().join("state"),
        acme = account_section(&sim, "acme", ""),
        vendor = account_section(&sim, "vendor", "accept_from = [\"acme\"]"),
        from = tier.id,
        to = vendor_tier.id,
    );
    let path = dir.path().join("sharebridge.toml");
    std::fs::write(&path, &text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sharebridge"))
        .args(["run", "--config"])
        .arg(&path)
        .env("RUST_LOG", "info")
        .env_remove("SHAREBRIDGE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    common::wait_for(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()).await;

    let mut create = new_ticket("Tiered", "first", &["vendor_escalation"]);
    create.priority = Some(Some("high".into()));
    create.custom_fields = Some(vec![CustomField {
        id: tier.id,
        value: VALUE.into(),
    }]);
    sim.create_ticket("acme", AGENT_A, &create).unwrap();
    common::wait_for_within(20, || {
        sim.tickets("vendor")
            .first()
            .is_some_and(|m| m.priority.as_deref() == Some("high"))
    })
    .await;
    let http = reqwest::Client::new();
    let links: serde_json::Value = http
        .get(format!("{base}/api/links"))
        .bearer_auth("admin")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = links[0]["id"].as_u64().unwrap();
    assert_eq!(links[0]["state"], "active");
    assert_eq!(
        links[0]["mismatches"][0]["kind"], "unmapped_value",
        "{links}"
    );

    let show = Command::new(env!("CARGO_BIN_EXE_sharebridge"))
        .args(["links", "show", &link.to_string(), "--config"])
        .arg(&path)
        .env_remove("SHAREBRIDGE_CONFIG")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&show.stdout).into_owned();
    assert!(show.status.success(), "{shown}");
    let want = format!(
        "mismatch: source-to-target unmapped_value field {} -> {}",
        tier.id, vendor_tier.id
    );
    assert!(shown.contains(&want), "{shown}");
    let page = http
        .get(format!("{base}/"))
        .bearer_auth("admin")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&want.replace("->", "-&gt;")), "{page}");
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "sharebridge_mismatches_total{agreement=\"acme-to-vendor\",kind=\"unmapped_value\"} 1"
        ) && metrics.contains(
            "sharebridge_link_mismatches{agreement=\"acme-to-vendor\",kind=\"unmapped_value\"} 1"
        ),
        "{metrics}"
    );

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let logs = tokio::task::spawn_blocking(move || {
        child.wait().unwrap();
        let mut logs = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut logs)
            .unwrap();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut logs)
            .unwrap();
        logs
    })
    .await
    .unwrap();
    let warning = logs
        .lines()
        .find(|l| l.contains("not crossed") && l.contains("unmapped_value"))
        .unwrap_or_else(|| panic!("no mismatch warning in:\n{logs}"));
    assert!(
        warning.contains(&format!("link={link}"))
            && warning.contains(&tier.id.to_string())
            && warning.contains(&vendor_tier.id.to_string()),
        "{warning}"
    );
    for (what, text) in [
        ("links show", &shown),
        ("status page", &page),
        ("metrics", &metrics),
        ("logs", &logs),
    ] {
        assert!(!text.contains(VALUE), "the value appears in {what}");
    }
}

/// A mismatch that goes away without anything to send (the group set back to the one
/// that crossed) is cleared at the next read; the held-back group crosses once mapped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatch_gone_is_cleared_and_a_held_back_group_crosses_once_mapped() {
    let sim = simulator().await;
    let support = sim.add_group("acme", "Support 2").id;
    let tier3 = sim.add_group("acme", "Tier 3").id;
    let partner = sim.add_group("vendor", "Partner").id;
    let partner3 = sim.add_group("vendor", "Partner tier 3").id;
    let config = |groups: &str| {
        format!(
            "{DAEMON_SECTION}{}{}\n[[agreements]]\nname = \"acme-to-vendor\"\nfrom = \"acme\"\nto = \"vendor\"\nauto_share_tags = [\"vendor_escalation\"]\n[agreements.system]\ngroups = {{ {groups} }}\n",
            account_section(&sim, "acme", ""),
            account_section(&sim, "vendor", "accept_from = [\"acme\"]"),
        )
    };
    let one = config(&format!("\"{support}\" = {partner}"));
    let both = config(&format!(
        "\"{support}\" = {partner}, \"{tier3}\" = {partner3}"
    ));
    let w = world_with(sim, &one).await;
    let mut create = new_ticket("Grouped", "first", &["vendor_escalation"]);
    create.group_id = Some(support);
    let t = w.sim.create_ticket("acme", AGENT_A, &create).unwrap();
    w.poke("acme", t.id).await;
    let mirror = w.mirror_of(t.id);
    assert_eq!(
        w.sim.ticket("vendor", mirror).unwrap().group_id,
        Some(partner)
    );
    let set_group = |g: u64| TicketWrite {
        group_id: Some(g),
        ..Default::default()
    };

    w.sim
        .update_ticket("acme", t.id, AGENT_A, &set_group(tier3))
        .unwrap();
    w.poke("acme", t.id).await;
    let kinds: Vec<MismatchKind> = w.link_of(t.id).mismatches.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, vec![MismatchKind::UnmappedGroup]);
    assert_eq!(
        w.sim.ticket("vendor", mirror).unwrap().group_id,
        Some(partner)
    );

    // Back to the group that crossed: nothing to send, and the mismatch is gone.
    w.sim
        .update_ticket("acme", t.id, AGENT_A, &set_group(support))
        .unwrap();
    w.poke("acme", t.id).await;
    assert!(w.link_of(t.id).mismatches.is_empty());

    // Unmapped again, then the mapping is added: the held-back group crosses at the next
    // read, with nothing changed at the source.
    w.sim
        .update_ticket("acme", t.id, AGENT_A, &set_group(tier3))
        .unwrap();
    w.poke("acme", t.id).await;
    assert_eq!(w.link_of(t.id).mismatches.len(), 1);
    w.reconfigure_text(&both).await;
    w.poke("acme", t.id).await;
    assert_eq!(
        w.sim.ticket("vendor", mirror).unwrap().group_id,
        Some(partner3)
    );
    assert!(w.link_of(t.id).mismatches.is_empty());
}
