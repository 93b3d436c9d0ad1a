//! Status codes, headers and error bodies exactly as `shared/zendesk-api.md` gives them,
//! over raw HTTP (no client library in between), one table row per case.

use std::time::Duration;

use serde_json::{Value, json};
use sharebridge::sim::{FaultKind, FaultSettings, Limits, SimConfig, Simulator};

const AGENT: &str = "agent@acme.example";

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn send(
    sim: &Simulator,
    method: reqwest::Method,
    path: &str,
    auth: bool,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut rb = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .request(method, format!("{}{path}", sim.base_url("acme")));
    if auth {
        rb = rb.basic_auth(format!("{AGENT}/token"), Some(sim.token()));
    }
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(b) = body {
        rb = rb
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

async fn sim(limits: Limits) -> Simulator {
    let mut cfg = SimConfig::local(&["acme"]);
    cfg.limits = limits;
    Simulator::start(cfg).await.unwrap()
}

#[tokio::test]
async fn error_bodies_and_status_codes() {
    use reqwest::Method as M;
    let sim = sim(Limits::unlimited()).await;
    let created = send(
        &sim,
        M::POST,
        "/api/v2/tickets.json",
        true,
        Some(r#"{"ticket":{"comment":{"body":"x"}}}"#),
        &[],
    )
    .await;
    let id = created.body["ticket"]["id"].as_u64().unwrap();
    let stamp = created.body["ticket"]["updated_at"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.advance_clock(Duration::from_secs(2));
    send(
        &sim,
        M::PUT,
        &format!("/api/v2/tickets/{id}"),
        true,
        Some(r#"{"ticket":{"priority":"high"}}"#),
        &[],
    )
    .await;
    let stale =
        format!(r#"{{"ticket":{{"status":"open","safe_update":true,"updated_stamp":"{stamp}"}}}}"#);
    let t = format!("/api/v2/tickets/{id}.json");
    let rows: Vec<(M, String, bool, Option<String>, u16, Value)> = vec![
        (
            M::GET,
            "/api/v2/tickets.json".into(),
            false,
            None,
            401,
            json!({"error": "Couldn't authenticate you"}),
        ),
        (
            M::GET,
            "/api/v2/tickets/999.json".into(),
            true,
            None,
            404,
            json!({"error": "RecordNotFound", "description": "Not found"}),
        ),
        (
            M::GET,
            "/api/v2/nothing/here".into(),
            true,
            None,
            404,
            json!({"error": "InvalidEndpoint", "description": "Not found"}),
        ),
        (
            M::PATCH,
            t.clone(),
            true,
            Some("{}".into()),
            404,
            json!({"error": "InvalidEndpoint", "description": "Not found"}),
        ),
        (
            M::GET,
            "/api/v2/tickets/abc".into(),
            true,
            None,
            404,
            json!({"error": "InvalidEndpoint", "description": "Not found"}),
        ),
        (
            M::POST,
            "/api/v2/tickets".into(),
            true,
            Some(r#"{"ticket":{"subject":"no comment"}}"#.into()),
            422,
            json!({"error": "RecordInvalid", "description": "Record validation errors",
                "details": {"description": [{"description": "Description: cannot be blank", "error": "BlankValue"}]}}),
        ),
        (
            M::PUT,
            t.clone(),
            true,
            Some(r#"{"ticket":{"priority":"whenever"}}"#.into()),
            422,
            json!({"error": "RecordInvalid", "description": "Record validation errors",
                "details": {"priority": [{"description": "Priority: is invalid", "error": "InvalidValue"}]}}),
        ),
        (
            M::PUT,
            t.clone(),
            true,
            Some(stale),
            409,
            json!({"error": "UpdateConflict", "description": "Safe Update prevented the update due to outdated ticket data. Please fetch the latest ticket data and try again."}),
        ),
        (
            M::PUT,
            t.clone(),
            true,
            Some("{not json".into()),
            400,
            json!({"error": "InvalidJSON", "description": "The request body is not valid JSON"}),
        ),
        (
            M::GET,
            "/api/v2/tickets.json?page[size]=101".into(),
            true,
            None,
            400,
            json!({"error": "InvalidPaginationParameter", "description": "page[size] is greater than the maximum allowed: 100"}),
        ),
    ];
    for (method, path, auth, body, status, expected) in rows {
        let a = send(&sim, method.clone(), &path, auth, body.as_deref(), &[]).await;
        assert_eq!((a.status, &a.body), (status, &expected), "{method} {path}");
        assert_eq!(
            a.headers["content-type"], "application/json; charset=utf-8",
            "{method} {path}"
        );
    }
    // Writes answer {"ticket", "audit"}; a delete 204 with no body.
    let up = send(
        &sim,
        M::PUT,
        &t,
        true,
        Some(r#"{"ticket":{"status":"open"}}"#),
        &[],
    )
    .await;
    assert_eq!(up.status, 200);
    assert!(up.body["ticket"].is_object() && up.body["audit"].is_object());
    let del = send(
        &sim,
        M::DELETE,
        &format!("/api/v2/tickets/{id}"),
        true,
        None,
        &[],
    )
    .await;
    assert_eq!(del.status, 204);
    assert_eq!(del.body, Value::String(String::new()));
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limit_and_idempotency_headers() {
    use reqwest::Method as M;
    let sim = sim(Limits {
        requests_per_minute: 3,
        ..Limits::unlimited()
    })
    .await;
    let mut last = None;
    for _ in 0..3 {
        last = Some(send(&sim, M::GET, "/api/v2/users/me.json", true, None, &[]).await);
    }
    let a = last.unwrap();
    assert_eq!(a.headers["x-rate-limit"], "3");
    assert_eq!(a.headers["x-rate-limit-remaining"], "0");
    assert_eq!(a.headers["ratelimit-limit"], "3");
    let throttled = send(&sim, M::GET, "/api/v2/users/me.json", true, None, &[]).await;
    assert_eq!(throttled.status, 429);
    let retry = throttled.headers["retry-after"].to_str().unwrap();
    let secs: u64 = retry.parse().expect("Retry-After is an integer of seconds");
    assert!((1..=60).contains(&secs), "{retry}");
    assert_eq!(throttled.body["error"], "APIRateLimitExceeded");
    sim.set_limits(None, Limits::unlimited());
    // Idempotency-Key: miss, hit (same answer), another body → 400.
    let body = r#"{"ticket":{"comment":{"body":"once"}}}"#;
    let key = [("idempotency-key", "k-1")];
    let first = send(
        &sim,
        M::POST,
        "/api/v2/tickets.json",
        true,
        Some(body),
        &key,
    )
    .await;
    assert_eq!(first.status, 201);
    assert_eq!(first.headers["x-idempotency-lookup"], "miss");
    let again = send(
        &sim,
        M::POST,
        "/api/v2/tickets.json",
        true,
        Some(body),
        &key,
    )
    .await;
    assert_eq!(again.headers["x-idempotency-lookup"], "hit");
    assert_eq!(again.body["ticket"]["id"], first.body["ticket"]["id"]);
    let other = send(
        &sim,
        M::POST,
        "/api/v2/tickets.json",
        true,
        Some(r#"{"ticket":{"comment":{"body":"twice"}}}"#),
        &key,
    )
    .await;
    assert_eq!(other.status, 400);
    assert_eq!(other.body["error"], "IdempotentRequestError");
    // Injected 429s and 503s look like Zendesk's.
    sim.set_faults(
        None,
        FaultSettings {
            rate: 1.0,
            kinds: vec![FaultKind::TooManyRequests],
            latency_ms: 0,
        },
    );
    let f = send(&sim, M::GET, "/api/v2/users/me.json", true, None, &[]).await;
    assert_eq!(
        (f.status, f.headers["retry-after"].to_str().unwrap()),
        (429, "1")
    );
    sim.set_faults(
        None,
        FaultSettings {
            rate: 1.0,
            kinds: vec![FaultKind::Unavailable],
            latency_ms: 0,
        },
    );
    let f = send(&sim, M::GET, "/api/v2/users/me.json", true, None, &[]).await;
    assert_eq!(f.status, 503);
    assert_eq!(f.body["error"], "ServiceUnavailable");
    sim.shutdown().await;
}
