//! Privacy after the fact and writes that land late, as the engine must survive them:
//! `make_private`, string and whole-comment redaction (API and agent workspace), attachment
//! redaction, each with its audit and its event webhook (`via.channel`,
//! `event.meta.sequence`); and the `late-apply` fault (no answer, the write lands later).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sharebridge::sim::{FaultKind, FaultSettings, Limits, SimConfig, Simulator, WebhookSpec};

const AGENT: &str = "agent@acme.example";

type Seen = Arc<Mutex<Vec<Value>>>;

/// A webhook receiver on loopback; returns its URL and what it got.
async fn receiver() -> (String, Seen) {
    use axum::routing::post;
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            post(
                |axum::extract::State(seen): axum::extract::State<Seen>,
                 body: axum::body::Bytes| async move {
                    seen.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    axum::http::StatusCode::OK
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), seen)
}

async fn sim_with_hook() -> (Simulator, Seen) {
    let (url, seen) = receiver().await;
    let mut cfg = SimConfig::local(&["acme"]);
    cfg.limits = Limits::unlimited();
    cfg.webhooks = vec![WebhookSpec {
        account: "acme".to_owned(),
        url,
    }];
    (Simulator::start(cfg).await.unwrap(), seen)
}

/// Waits until every queued webhook is delivered; returns them, oldest first.
async fn drained(sim: &Simulator, seen: &Seen) -> Vec<Value> {
    for _ in 0..500 {
        if sim.webhooks().pending() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sim.webhooks().pending(), 0, "webhooks delivered");
    std::mem::take(&mut *seen.lock().unwrap())
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn put(sim: &Simulator, path: &str, body: Value) -> (u16, Value) {
    let r = http()
        .put(format!("{}{path}", sim.base_url("acme")))
        .basic_auth(format!("{AGENT}/token"), Some(sim.token()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    let t = r.text().await.unwrap();
    (s, serde_json::from_str(&t).unwrap_or(Value::String(t)))
}

fn new_ticket(sim: &Simulator, body: &str) -> (u64, u64) {
    let w = sharebridge::zendesk::models::TicketWrite {
        subject: Some("p".to_owned()),
        comment: Some(sharebridge::zendesk::models::NewComment {
            body: Some(body.to_owned()),
            public: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let t = sim.create_ticket("acme", AGENT, &w).unwrap();
    (t.id, sim.comments("acme", t.id)[0].id)
}

#[tokio::test]
async fn make_private_sends_its_event_with_channel_and_sequence() {
    let (sim, seen) = sim_with_hook().await;
    let (id, cid) = new_ticket(&sim, "my card is 4111");
    drained(&sim, &seen).await;
    let (s, b) = put(
        &sim,
        &format!("/api/v2/tickets/{id}/comments/{cid}/make_private.json"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(!sim.comments("acme", id)[0].public);
    let got = drained(&sim, &seen).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let e = &got[0];
    assert_eq!(e["type"], "zen:event-type:ticket.comment_made_private");
    assert_eq!(e["event"]["comment"]["id"], cid.to_string());
    assert_eq!(e["event"]["comment"]["is_public"], false);
    assert_eq!(e["detail"]["id"], id.to_string());
    assert_eq!(e["detail"]["via"]["channel"], "api");
    assert_eq!(e["event"]["meta"]["sequence"]["position"], 1);
    assert_eq!(e["event"]["meta"]["sequence"]["total"], 1);
    assert!(e["event"]["meta"]["sequence"]["id"].as_str().is_some());
    // Again: already private, nothing changes, nothing is sent.
    put(
        &sim,
        &format!("/api/v2/tickets/{id}/comments/{cid}/make_private"),
        json!({}),
    )
    .await;
    assert!(drained(&sim, &seen).await.is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn events_of_one_write_share_a_sequence() {
    let (sim, seen) = sim_with_hook().await;
    let (id, _) = new_ticket(&sim, "x");
    let created = drained(&sim, &seen).await;
    assert_eq!(created[0]["detail"]["via"]["channel"], "web");
    let (s, _) = put(
        &sim,
        &format!("/api/v2/tickets/{id}.json"),
        json!({"ticket": {"status": "pending", "tags": ["a"], "comment": {"body": "y"}}}),
    )
    .await;
    assert_eq!(s, 200);
    let got = drained(&sim, &seen).await;
    assert!(got.len() >= 3, "{got:?}");
    let seq = &got[0]["event"]["meta"]["sequence"]["id"];
    let mut positions: Vec<u64> = got
        .iter()
        .map(|e| {
            assert_eq!(&e["event"]["meta"]["sequence"]["id"], seq);
            assert_eq!(e["event"]["meta"]["sequence"]["total"], got.len());
            assert_eq!(e["detail"]["via"]["channel"], "api");
            e["event"]["meta"]["sequence"]["position"].as_u64().unwrap()
        })
        .collect();
    positions.sort_unstable();
    assert_eq!(positions, (1..=got.len() as u64).collect::<Vec<_>>());
    assert_ne!(seq, &created[0]["event"]["meta"]["sequence"]["id"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_string_is_redacted_with_an_audit_and_an_event() {
    let (sim, seen) = sim_with_hook().await;
    let (id, cid) = new_ticket(&sim, "my card is 4111 1111, thanks");
    drained(&sim, &seen).await;
    let (s, b) = put(
        &sim,
        &format!("/api/v2/tickets/{id}/comments/{cid}/redact.json"),
        json!({"text": "4111 1111"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["comment"]["body"], "my card is ▇▇▇▇▇▇▇▇▇, thanks");
    let c = &sim.comments("acme", id)[0];
    assert!(
        !c.body.contains("4111") && !c.html_body.contains("4111"),
        "{c:?}"
    );
    let got = drained(&sim, &seen).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["type"], "zen:event-type:ticket.comment_redacted");
    assert_eq!(got[0]["event"]["comment"]["id"], cid.to_string());
    assert!(
        !got[0].to_string().contains("4111"),
        "the event carries no redacted text"
    );
    // The audit names the redaction; the export shows it too.
    let r = http()
        .get(format!(
            "{}/api/v2/tickets/{id}/audits.json",
            sim.base_url("acme")
        ))
        .basic_auth(format!("{AGENT}/token"), Some(sim.token()))
        .send()
        .await
        .unwrap();
    let audits: Value = r.json().await.unwrap();
    let last = audits["audits"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["events"][0]["type"], "CommentRedactionEvent");
    assert_eq!(last["events"][0]["comment_id"], cid);
    // Missing text: 400; unknown comment: 404; closed ticket: 422.
    let (s, _) = put(
        &sim,
        &format!("/api/v2/tickets/{id}/comments/{cid}/redact"),
        json!({}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = put(
        &sim,
        &format!("/api/v2/tickets/{id}/comments/1/redact"),
        json!({"text": "x"}),
    )
    .await;
    assert_eq!(s, 404);
    for status in ["solved", "closed"] {
        put(
            &sim,
            &format!("/api/v2/tickets/{id}"),
            json!({"ticket": {"status": status}}),
        )
        .await;
    }
    let (s, e) = put(
        &sim,
        &format!("/api/v2/tickets/{id}/comments/{cid}/redact"),
        json!({"text": "thanks"}),
    )
    .await;
    assert_eq!(s, 422, "{e}");
    // Agent workspace redaction still works on a closed ticket.
    let (s, b) = put(
        &sim,
        &format!("/api/v2/comment_redactions/{cid}.json"),
        json!({"ticket_id": id, "html_body": "<div class=\"zd-comment\"><p><redact>everything</redact></p></div>"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["comment"]["body"], "▇▇▇▇▇▇▇▇▇▇");
    sim.shutdown().await;
}

#[tokio::test]
async fn whole_comments_and_attachments_are_redacted() {
    let (sim, seen) = sim_with_hook().await;
    let base = sim.base_url("acme");
    let up: Value = http()
        .post(format!("{base}/api/v2/uploads.json?filename=secret.txt"))
        .basic_auth(format!("{AGENT}/token"), Some(sim.token()))
        .body("top secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = up["upload"]["token"].as_str().unwrap();
    let att = up["upload"]["attachment"]["id"].as_u64().unwrap();
    let r = http()
        .post(format!("{base}/api/v2/tickets.json"))
        .basic_auth(format!("{AGENT}/token"), Some(sim.token()))
        .json(&json!({"ticket": {"comment": {"body": "file", "uploads": [token]}}}))
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["ticket"]["id"]
        .as_u64()
        .unwrap();
    let cid = sim.comments("acme", id)[0].id;
    drained(&sim, &seen).await;
    let (s, b) = put(
        &sim,
        &format!("/api/v2/tickets/{id}/comments/{cid}/attachments/{att}/redact.json"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["attachment"]["file_name"], "redacted.txt");
    assert_eq!(b["attachment"]["size"], 0);
    let got = drained(&sim, &seen).await;
    assert_eq!(got[0]["type"], "zen:event-type:ticket.comment_redacted");
    let content = http()
        .get(b["attachment"]["content_url"].as_str().unwrap())
        .basic_auth(format!("{AGENT}/token"), Some(sim.token()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(content.is_empty(), "the bytes are gone");
    // The helper redacts a whole comment as an agent in agent workspace would.
    let (id2, cid2) = new_ticket(&sim, "all of it");
    drained(&sim, &seen).await;
    sim.redact_comment("acme", id2, cid2, AGENT, None).unwrap();
    let c = &sim.comments("acme", id2)[0];
    assert_eq!(c.body, "▇▇▇▇▇▇▇▇▇");
    let got = drained(&sim, &seen).await;
    assert_eq!(got[0]["type"], "zen:event-type:ticket.comment_redacted");
    assert_eq!(got[0]["detail"]["via"]["channel"], "web");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_late_write_has_no_answer_and_lands_later() {
    let (sim, seen) = sim_with_hook().await;
    sim.set_late_apply_ms(3_000);
    sim.set_faults(
        None,
        FaultSettings {
            rate: 1.0,
            kinds: vec![FaultKind::LateApply],
            latency_ms: 0,
        },
    );
    let r = http()
        .post(format!("{}/api/v2/tickets.json", sim.base_url("acme")))
        .basic_auth(format!("{AGENT}/token"), Some(sim.token()))
        .json(&json!({"ticket": {"subject": "late", "comment": {"body": "b"}}}))
        .send()
        .await;
    assert!(r.is_err(), "no answer: {r:?}");
    // Read at once: nothing yet.
    assert!(sim.tickets("acme").is_empty());
    assert!(seen.lock().unwrap().is_empty());
    // A read faulted the same way has no effect and no answer either.
    let r = http()
        .get(format!("{}/api/v2/tickets.json", sim.base_url("acme")))
        .basic_auth(format!("{AGENT}/token"), Some(sim.token()))
        .send()
        .await;
    assert!(r.is_err());
    sim.set_fault_rate(0.0);
    let mut landed = false;
    for _ in 0..100 {
        if !sim.tickets("acme").is_empty() {
            landed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(landed, "the write landed later");
    assert_eq!(sim.tickets("acme").len(), 1);
    assert_eq!(sim.tickets("acme")[0].subject.as_deref(), Some("late"));
    let got = drained(&sim, &seen).await;
    assert_eq!(got[0]["type"], "zen:event-type:ticket.created");
    assert_eq!(sim.stats("acme").faults, 2);
    sim.shutdown().await;
}
