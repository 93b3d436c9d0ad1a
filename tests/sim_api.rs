//! The Zendesk simulator driven over loopback with raw `reqwest`, the way an independent
//! Zendesk client would use it: paths, envelopes, status codes, headers.

use std::time::Duration;

use serde_json::{Value, json};
use sharebridge::sim::{FaultKind, FaultSettings, Limits, SimConfig, Simulator};

const AGENT: &str = "bridge@vendor.example";

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(sim: &Simulator, account: &str) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            base: sim.base_url(account),
            token: sim.token().to_owned(),
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(format!("{AGENT}/token"), Some(&self.token))
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, headers, body)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (s, _, b) = self.send(self.req(reqwest::Method::GET, path)).await;
        (s, b)
    }

    async fn write(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let (s, _, b) = self.send(self.req(method, path).json(&body)).await;
        (s, b)
    }

    async fn create(&self, subject: &str, body: &str) -> Value {
        let (s, b) = self
            .write(
                reqwest::Method::POST,
                "/api/v2/tickets.json",
                json!({"ticket": {"subject": subject, "comment": {"body": body}}}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        b["ticket"].clone()
    }
}

async fn sim(names: &[&str]) -> Simulator {
    let mut cfg = SimConfig::local(names);
    cfg.limits = Limits::unlimited();
    Simulator::start(cfg).await.unwrap()
}

#[tokio::test]
async fn create_show_update_and_comments() {
    let sim = sim(&["acme"]).await;
    let api = Api::new(&sim, "acme");
    let t = api.create("Printer", "It is on fire").await;
    let id = t["id"].as_u64().unwrap();
    assert_eq!(t["description"], "It is on fire");
    assert_eq!(t["status"], "new");
    assert_eq!(t["via"]["channel"], "api");
    let (s, me) = api.get("/api/v2/users/me.json").await;
    assert_eq!(s, 200);
    assert_eq!(t["requester_id"], me["user"]["id"]);
    assert_eq!(me["user"]["email"], AGENT);

    let (s, shown) = api.get(&format!("/api/v2/tickets/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(shown["ticket"]["subject"], "Printer");

    let (s, up) = api
        .write(
            reqwest::Method::PUT,
            &format!("/api/v2/tickets/{id}.json"),
            json!({"ticket": {"status": "pending", "comment": {"body": "internal", "public": false}, "tags": ["a", "b"]}}),
        )
        .await;
    assert_eq!(s, 200, "{up}");
    assert_eq!(up["ticket"]["status"], "pending");
    assert_eq!(up["ticket"]["tags"], json!(["a", "b"]));
    assert!(up["audit"]["events"].as_array().unwrap().len() >= 2);

    let (s, cs) = api
        .get(&format!("/api/v2/tickets/{id}/comments.json"))
        .await;
    assert_eq!(s, 200);
    let cs = cs["comments"].as_array().unwrap().clone();
    assert_eq!(cs.len(), 2);
    assert_eq!(cs[0]["public"], true);
    assert_eq!(cs[1]["public"], false);
    assert_eq!(cs[1]["body"], "internal");
    assert_eq!(sim.comments("acme", id).len(), 2);

    let (s, err) = api.get("/api/v2/tickets/999.json").await;
    assert_eq!(s, 404);
    assert_eq!(
        err,
        json!({"error": "RecordNotFound", "description": "Not found"})
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_credentials_get_401() {
    let sim = sim(&["acme"]).await;
    let api = Api::new(&sim, "acme");
    let (s, _, b) = api
        .send(
            api.http
                .get(format!("{}/api/v2/tickets.json", api.base))
                .basic_auth(format!("{AGENT}/token"), Some("wrong")),
        )
        .await;
    assert_eq!(s, 401);
    assert_eq!(b, json!({"error": "Couldn't authenticate you"}));
    let (s, _, _) = api
        .send(api.http.get(format!("{}/api/v2/tickets.json", api.base)))
        .await;
    assert_eq!(s, 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn stats_count_route_templates_and_users() {
    let sim = sim(&["acme"]).await;
    let api = Api::new(&sim, "acme");
    let t = api.create("s", "b").await;
    let id = t["id"].as_u64().unwrap();
    api.get(&format!("/api/v2/tickets/{id}.json")).await;
    api.get(&format!("/api/v2/tickets/{id}")).await;
    let stats: Value = reqwest::get(format!("{}/sim/stats", api.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"], 3);
    assert_eq!(stats["by_endpoint"]["GET /api/v2/tickets/{id}"], 2);
    assert_eq!(stats["by_endpoint"]["POST /api/v2/tickets"], 1);
    assert_eq!(stats["by_user"][AGENT], 3);
    assert_eq!(stats["throttled"], 0);
    assert_eq!(stats["faults"], 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_drop_connections_and_return_errors() {
    let sim = sim(&["acme"]).await;
    let api = Api::new(&sim, "acme");
    sim.set_faults(
        None,
        FaultSettings {
            rate: 1.0,
            kinds: vec![FaultKind::Drop],
            latency_ms: 0,
        },
    );
    let r = api
        .req(reqwest::Method::GET, "/api/v2/tickets.json")
        .send()
        .await;
    assert!(r.is_err(), "a dropped connection is an error, got {r:?}");
    sim.set_faults(
        None,
        FaultSettings {
            rate: 1.0,
            kinds: vec![FaultKind::TooManyRequests],
            latency_ms: 0,
        },
    );
    let (s, h, _) = api
        .send(
            api.req(reqwest::Method::POST, "/api/v2/tickets.json")
                .json(&json!({"ticket": {"subject": "x", "comment": {"body": "y"}}})),
        )
        .await;
    assert_eq!(s, 429);
    assert_eq!(h["retry-after"], "1");
    assert!(
        sim.tickets("acme").is_empty(),
        "a faulted write does nothing"
    );
    sim.set_fault_rate(0.0);
    assert_eq!(api.get("/api/v2/tickets.json").await.0, 200);
    assert_eq!(sim.stats("acme").faults, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn cursor_and_offset_pagination() {
    let sim = sim(&["acme"]).await;
    let api = Api::new(&sim, "acme");
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            api.create(&format!("t{i}"), "b").await["id"]
                .as_u64()
                .unwrap(),
        );
    }
    // Cursor: walk with links.next until has_more is false.
    let mut seen = Vec::new();
    let mut url = format!("{}/api/v2/tickets.json?page[size]=2", api.base);
    loop {
        let (s, _, page) = api
            .send(
                api.http
                    .get(&url)
                    .basic_auth(format!("{AGENT}/token"), Some(&api.token)),
            )
            .await;
        assert_eq!(s, 200, "{page}");
        for t in page["tickets"].as_array().unwrap() {
            seen.push(t["id"].as_u64().unwrap());
        }
        if !page["meta"]["has_more"].as_bool().unwrap() {
            assert!(page["links"]["next"].is_null());
            break;
        }
        assert!(page["meta"]["after_cursor"].is_string());
        url = page["links"]["next"].as_str().unwrap().to_owned();
    }
    assert_eq!(seen, ids);
    // Offset.
    let (s, p2) = api.get("/api/v2/tickets.json?per_page=2&page=2").await;
    assert_eq!(s, 200);
    assert_eq!(p2["count"], 5);
    assert_eq!(p2["tickets"].as_array().unwrap().len(), 2);
    assert!(p2["next_page"].as_str().unwrap().contains("page=3"));
    assert!(p2["previous_page"].as_str().unwrap().contains("page=1"));
    // page[size] over 100 is refused.
    assert_eq!(api.get("/api/v2/tickets.json?page[size]=101").await.0, 400);
    // Comments: desc order and cursor.
    let id = ids[0];
    for i in 0..3 {
        sim.add_comment("acme", id, "human@acme.example", &format!("c{i}"), true)
            .unwrap();
    }
    let (_, desc) = api
        .get(&format!(
            "/api/v2/tickets/{id}/comments.json?sort_order=desc&page[size]=2"
        ))
        .await;
    let bodies: Vec<_> = desc["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bodies, ["c2", "c1"]);
    assert_eq!(desc["meta"]["has_more"], true);
    sim.shutdown().await;
}

#[tokio::test]
async fn external_id_show_many_and_delete() {
    let sim = sim(&["acme", "vendor"]).await;
    let api = Api::new(&sim, "acme");
    let (s, b) = api
        .write(
            reqwest::Method::POST,
            "/api/v2/tickets",
            json!({"ticket": {"subject": "m", "external_id": "sharebridge:acme:1", "comment": {"body": "x"}}}),
        )
        .await;
    assert_eq!(s, 201);
    let id = b["ticket"]["id"].as_u64().unwrap();
    let other = api.create("o", "o").await["id"].as_u64().unwrap();
    let (_, found) = api
        .get("/api/v2/tickets.json?external_id=sharebridge%3Aacme%3A1")
        .await;
    assert_eq!(found["tickets"].as_array().unwrap().len(), 1);
    assert_eq!(found["tickets"][0]["id"], id);
    let (_, many) = api
        .get(&format!(
            "/api/v2/tickets/show_many.json?ids={id},{other},42"
        ))
        .await;
    assert_eq!(many["tickets"].as_array().unwrap().len(), 2);
    // Ids differ across accounts.
    let vendor = Api::new(&sim, "vendor");
    let vid = vendor.create("v", "v").await["id"].as_u64().unwrap();
    assert_ne!(vid, id);
    assert_eq!(
        vendor.get(&format!("/api/v2/tickets/{id}.json")).await.0,
        404
    );
    // Soft delete.
    let (s, _, _) = api
        .send(api.req(
            reqwest::Method::DELETE,
            &format!("/api/v2/tickets/{id}.json"),
        ))
        .await;
    assert_eq!(s, 204);
    assert_eq!(api.get(&format!("/api/v2/tickets/{id}.json")).await.0, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn incremental_exports_respect_lag_and_cursor() {
    let sim = sim(&["acme"]).await;
    let api = Api::new(&sim, "acme");
    let start = sim.now().as_second() - 10;
    let id = api.create("e", "first").await["id"].as_u64().unwrap();
    let path = format!("/api/v2/incremental/tickets/cursor.json?start_time={start}");
    let (s, fresh) = api.get(&path).await;
    assert_eq!(s, 200, "{fresh}");
    assert_eq!(
        fresh["tickets"].as_array().unwrap().len(),
        0,
        "inside the lag"
    );
    assert_eq!(fresh["end_of_stream"], true);
    sim.advance_clock(Duration::from_secs(61));
    let (_, page) = api.get(&path).await;
    assert_eq!(page["tickets"].as_array().unwrap().len(), 1);
    assert_eq!(page["tickets"][0]["id"], id);
    let cursor = page["after_cursor"].as_str().unwrap().to_owned();
    assert!(page["after_url"].as_str().unwrap().contains(&cursor));
    // Nothing new since the cursor.
    let (_, none) = api
        .get(&format!(
            "/api/v2/incremental/tickets/cursor.json?cursor={cursor}"
        ))
        .await;
    assert_eq!(none["tickets"].as_array().unwrap().len(), 0);
    // A change, then a delete: the ticket comes back with status deleted.
    api.write(
        reqwest::Method::PUT,
        &format!("/api/v2/tickets/{id}.json"),
        json!({"ticket": {"comment": {"body": "second", "public": false}}}),
    )
    .await;
    api.send(api.req(reqwest::Method::DELETE, &format!("/api/v2/tickets/{id}")))
        .await;
    sim.advance_clock(Duration::from_secs(61));
    let (_, again) = api
        .get(&format!(
            "/api/v2/incremental/tickets/cursor.json?cursor={cursor}"
        ))
        .await;
    assert_eq!(again["tickets"][0]["status"], "deleted");
    let (_, excl) = api
        .get(&format!(
            "/api/v2/incremental/tickets/cursor.json?cursor={cursor}&exclude_deleted=true"
        ))
        .await;
    assert_eq!(excl["tickets"].as_array().unwrap().len(), 0);
    // Ticket events with comment events.
    let (s, ev) = api
        .get(&format!(
            "/api/v2/incremental/ticket_events.json?start_time={start}&include=comment_events"
        ))
        .await;
    assert_eq!(s, 200, "{ev}");
    let events = ev["ticket_events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    let comment = events[1]["child_events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["event_type"] == "Comment")
        .unwrap();
    assert_eq!(comment["body"], "second");
    assert_eq!(comment["public"], false);
    assert_eq!(ev["end_of_stream"], true);
    assert!(ev["next_page"].as_str().unwrap().contains("start_time="));
    sim.shutdown().await;
}

#[tokio::test]
async fn tags_endpoints_and_make_private() {
    let sim = sim(&["acme"]).await;
    let api = Api::new(&sim, "acme");
    let id = api.create("t", "public words").await["id"]
        .as_u64()
        .unwrap();
    let p = format!("/api/v2/tickets/{id}/tags.json");
    let (s, b) = api
        .write(reqwest::Method::POST, &p, json!({"tags": ["a", "b"]}))
        .await;
    assert_eq!((s, b), (201, json!({"tags": ["a", "b"]})));
    let (s, b) = api
        .write(reqwest::Method::PUT, &p, json!({"tags": ["c"]}))
        .await;
    assert_eq!((s, b), (200, json!({"tags": ["a", "b", "c"]})));
    let (s, b) = api
        .write(reqwest::Method::DELETE, &p, json!({"tags": ["a"]}))
        .await;
    assert_eq!((s, b), (200, json!({"tags": ["b", "c"]})));
    assert_eq!(api.get(&p).await.1, json!({"tags": ["b", "c"]}));
    let cid = sim.comments("acme", id)[0].id;
    let (s, _) = api
        .write(
            reqwest::Method::PUT,
            &format!("/api/v2/tickets/{id}/comments/{cid}/make_private.json"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(!sim.comments("acme", id)[0].public);
    sim.shutdown().await;
}

#[tokio::test]
async fn uploads_attach_and_serve_content() {
    let sim = sim(&["acme"]).await;
    let api = Api::new(&sim, "acme");
    let (s, _, up) = api
        .send(
            api.req(
                reqwest::Method::POST,
                "/api/v2/uploads.json?filename=log.txt",
            )
            .header("content-type", "text/plain")
            .body("hello bytes"),
        )
        .await;
    assert_eq!(s, 201, "{up}");
    let token = up["upload"]["token"].as_str().unwrap().to_owned();
    assert_eq!(up["upload"]["attachment"]["file_name"], "log.txt");
    let (s, t) = api
        .write(
            reqwest::Method::POST,
            "/api/v2/tickets.json",
            json!({"ticket": {"subject": "a", "comment": {"body": "see file", "uploads": [token]}}}),
        )
        .await;
    assert_eq!(s, 201);
    let id = t["ticket"]["id"].as_u64().unwrap();
    let (_, cs) = api.get(&format!("/api/v2/tickets/{id}/comments")).await;
    let att = &cs["comments"][0]["attachments"][0];
    assert_eq!(att["size"], 11);
    let url = att["content_url"].as_str().unwrap();
    let got = reqwest::get(url).await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "text/plain");
    assert_eq!(got.text().await.unwrap(), "hello bytes");
    sim.shutdown().await;
}

#[tokio::test]
async fn oauth_refresh_rotates_over_http() {
    let sim = sim(&["acme"]).await;
    let api = Api::new(&sim, "acme");
    let grant: Value = api
        .http
        .post(format!("{}/sim/oauth/clients", api.base))
        .json(&json!({"user_email": "oauth@acme.example"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let me = |token: String| {
        let http = api.http.clone();
        let url = format!("{}/api/v2/users/me.json", api.base);
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let access = grant["access_token"].as_str().unwrap().to_owned();
    assert_eq!(me(access.clone()).await, 200);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", grant["refresh_token"].as_str().unwrap()),
        ("client_id", grant["client_id"].as_str().unwrap()),
        ("client_secret", grant["client_secret"].as_str().unwrap()),
    ];
    let body = form
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let r = api
        .http
        .post(format!("{}/oauth/tokens", api.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let fresh: Value = r.json().await.unwrap();
    assert_eq!(fresh["token_type"], "bearer");
    for k in [
        "access_token",
        "scope",
        "expires_in",
        "refresh_token",
        "refresh_token_expires_in",
    ] {
        assert!(!fresh[k].is_null(), "{k} missing: {fresh}");
    }
    assert_eq!(me(access).await, 401, "old access token revoked");
    assert_eq!(
        me(fresh["access_token"].as_str().unwrap().to_owned()).await,
        200
    );
    let replay = api
        .http
        .post(format!("{}/oauth/tokens", api.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400, "old refresh token revoked");
    sim.shutdown().await;
}

#[tokio::test]
async fn account_rate_limit_answers_429_with_headers() {
    let mut cfg = SimConfig::local(&["acme"]);
    cfg.limits = Limits {
        requests_per_minute: 3,
        ..Limits::unlimited()
    };
    let sim = Simulator::start(cfg).await.unwrap();
    let api = Api::new(&sim, "acme");
    for left in [2, 1, 0] {
        let (s, h, _) = api
            .send(api.req(reqwest::Method::GET, "/api/v2/tickets.json"))
            .await;
        assert_eq!(s, 200);
        assert_eq!(h["x-rate-limit"], "3");
        assert_eq!(h["x-rate-limit-remaining"], left.to_string().as_str());
        assert_eq!(h["ratelimit-limit"], "3");
        assert_eq!(h["ratelimit-remaining"], left.to_string().as_str());
        assert!(h.contains_key("ratelimit-reset"));
    }
    let (s, h, b) = api
        .send(api.req(reqwest::Method::GET, "/api/v2/tickets.json"))
        .await;
    assert_eq!(s, 429);
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(b["error"], "APIRateLimitExceeded");
    assert_eq!(sim.stats("acme").throttled, 1);
    sim.advance_clock(Duration::from_secs(61));
    assert_eq!(api.get("/api/v2/tickets.json").await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn idempotency_key_over_http() {
    let sim = sim(&["acme"]).await;
    let api = Api::new(&sim, "acme");
    let body = json!({"ticket": {"subject": "once", "comment": {"body": "only once"}}});
    let post = |b: Value| {
        api.req(reqwest::Method::POST, "/api/v2/tickets.json")
            .header("Idempotency-Key", "link-1")
            .json(&b)
    };
    let (s1, h1, t1) = api.send(post(body.clone())).await;
    let (s2, h2, t2) = api.send(post(body.clone())).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(h1["x-idempotency-lookup"], "miss");
    assert_eq!(h2["x-idempotency-lookup"], "hit");
    assert_eq!(t1["ticket"]["id"], t2["ticket"]["id"]);
    let (s3, _, e) = api
        .send(post(
            json!({"ticket": {"subject": "other", "comment": {"body": "x"}}}),
        ))
        .await;
    assert_eq!(s3, 400);
    assert_eq!(e["error"], "IdempotentRequestError");
    assert_eq!(sim.tickets("acme").len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn webhooks_are_signed_like_zendesk() {
    use axum::routing::post;
    use std::sync::{Arc, Mutex};
    type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            post(
                |axum::extract::State(seen): axum::extract::State<Seen>,
                 headers: axum::http::HeaderMap,
                 body: axum::body::Bytes| async move {
                    let h = |n: &str| headers[n].to_str().unwrap().to_owned();
                    seen.lock().unwrap().push((
                        h("x-zendesk-webhook-signature"),
                        h("x-zendesk-webhook-signature-timestamp"),
                        body.to_vec(),
                    ));
                    axum::http::StatusCode::OK
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut cfg = SimConfig::local(&["acme"]);
    cfg.limits = Limits::unlimited();
    cfg.webhook_secret = "whsec".to_owned();
    cfg.webhook_style = sharebridge::sim::WebhookStyle::Trigger;
    cfg.webhooks = vec![sharebridge::sim::WebhookSpec {
        account: "acme".to_owned(),
        url: format!("http://{addr}/hook"),
    }];
    let sim = Simulator::start(cfg).await.unwrap();
    let api = Api::new(&sim, "acme");
    let id = api.create("w", "x").await["id"].as_u64().unwrap();
    for _ in 0..250 {
        if sim.webhooks().pending() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sim.webhooks().pending(), 0);
    assert_eq!(
        sim.webhooks()
            .delivered
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    let got = seen.lock().unwrap().clone();
    let (sig, ts, body) = got.first().expect("webhook received").clone();
    assert!(sharebridge::zendesk::signature::verify(
        b"whsec", &ts, &body, &sig
    ));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["ticket_id"], json!(id));
    assert_eq!(v["account"], json!("acme"));
    assert!(
        v["current_user_id"].as_u64().is_some(),
        "names who changed it: {v}"
    );
    assert!(ts.ends_with('Z') && ts.len() == 20, "{ts}");
    sim.shutdown().await;
}

#[tokio::test]
async fn event_webhooks_carry_the_comment_and_name_each_change() {
    use axum::routing::post;
    use std::sync::{Arc, Mutex};
    type Seen = Arc<Mutex<Vec<Value>>>;
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
    let mut cfg = SimConfig::local(&["acme"]);
    cfg.limits = Limits::unlimited();
    cfg.webhooks = vec![sharebridge::sim::WebhookSpec {
        account: "acme".to_owned(),
        url: format!("http://{addr}/hook"),
    }];
    let sim = Simulator::start(cfg).await.unwrap();
    let api = Api::new(&sim, "acme");
    let id = api.create("w", "x").await["id"].as_u64().unwrap();
    let (s, _) = api
        .write(
            reqwest::Method::PUT,
            &format!("/api/v2/tickets/{id}.json"),
            json!({"ticket": {"comment": {"body": "hello there", "public": false},
                "status": "pending"}}),
        )
        .await;
    assert_eq!(s, 200);
    for _ in 0..250 {
        if sim.webhooks().pending() == 0 && seen.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = seen.lock().unwrap().clone();
    let types: Vec<&str> = got.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(types[0], "zen:event-type:ticket.created", "{types:?}");
    assert!(
        types.contains(&"zen:event-type:ticket.status_changed"),
        "{types:?}"
    );
    let added = got
        .iter()
        .rfind(|v| v["type"] == "zen:event-type:ticket.comment_added")
        .expect("comment_added");
    assert_eq!(added["event"]["comment"]["body"], "hello there");
    assert_eq!(added["event"]["comment"]["is_public"], false);
    assert!(
        added["event"]["comment"]["id"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    assert_eq!(added["detail"]["id"], json!(id.to_string()));
    assert_eq!(added["detail"]["status"], "PENDING");
    assert!(added["detail"]["actor_id"].as_str().is_some());
    // The bridge's parser takes exactly this shape.
    let body = serde_json::to_vec(added).unwrap();
    let (c, t) = sharebridge::server::webhook::carried_comment(&body).expect("carried");
    assert_eq!((c.body.as_str(), c.public), ("hello there", false));
    assert_eq!(
        t.status,
        Some(sharebridge::zendesk::models::Status::Pending)
    );
    assert_eq!(sharebridge::server::webhook::ticket_id(&body), Some(id));
    sim.shutdown().await;
}

#[tokio::test]
async fn catalog_endpoints() {
    let sim = sim(&["acme"]).await;
    let api = Api::new(&sim, "acme");
    let (s, f) = api
        .write(
            reqwest::Method::POST,
            "/api/v2/ticket_fields.json",
            json!({"ticket_field": {"type": "tagger", "title": "Tier",
                "custom_field_options": [{"name": "Gold", "value": "tier_gold"}]}}),
        )
        .await;
    assert_eq!(s, 201, "{f}");
    let fid = f["ticket_field"]["id"].as_u64().unwrap();
    let (_, all) = api.get("/api/v2/ticket_fields.json").await;
    assert!(
        all["ticket_fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == fid)
    );
    let (_, brands) = api.get("/api/v2/brands.json").await;
    assert_eq!(brands["brands"][0]["default"], true);
    let (_, groups) = api.get("/api/v2/groups.json").await;
    assert_eq!(groups["groups"].as_array().unwrap().len(), 1);
    let (_, roles) = api.get("/api/v2/custom_roles.json").await;
    assert!(roles["custom_roles"][0]["configuration"]["ticket_access"].is_string());
    let (s, sa) = api.get("/api/v2/sharing_agreements.json").await;
    assert_eq!((s, sa), (200, json!({"sharing_agreements": []})));
    let (s, u) = api
        .write(
            reqwest::Method::POST,
            "/api/v2/users/create_or_update.json",
            json!({"user": {"name": "Jo", "email": "jo@customer.example"}}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, u2) = api
        .write(
            reqwest::Method::POST,
            "/api/v2/users/create_or_update.json",
            json!({"user": {"name": "Jo B", "email": "jo@customer.example"}}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(u["user"]["id"], u2["user"]["id"]);
    assert_eq!(u2["user"]["name"], "Jo B");
    assert_eq!(u2["user"]["role"], "end-user");
    sim.shutdown().await;
}

/// CPU seconds this process has used (Linux `/proc/self/stat`; 0 elsewhere), so the
/// figure means something on a machine shared with other work.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let after_comm = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command name.
    let ticks: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// One keep-alive HTTP/1.1 connection speaking just enough HTTP to load the simulator
/// without a heavy client competing for the same two cores.
struct RawConn {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
    auth: String,
}

impl RawConn {
    async fn open(addr: std::net::SocketAddr, token: &str) -> RawConn {
        use base64::Engine as _;
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let creds =
            base64::engine::general_purpose::STANDARD.encode(format!("{AGENT}/token:{token}"));
        RawConn {
            stream: tokio::io::BufReader::new(stream),
            auth: format!("Basic {creds}"),
        }
    }

    /// Sends one request and reads the whole answer; returns the status.
    async fn call(&mut self, method: &str, path: &str, body: &str) -> u16 {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let req = format!(
            "{method} {path} HTTP/1.1\r\nhost: sim\r\nauthorization: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            self.auth,
            body.len()
        );
        self.stream
            .get_mut()
            .write_all(req.as_bytes())
            .await
            .unwrap();
        let mut line = String::new();
        self.stream.read_line(&mut line).await.unwrap();
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut len = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut buf = vec![0; len];
        self.stream.read_exact(&mut buf).await.unwrap();
        status
    }
}

/// Throughput with faults and limits off: 32 keep-alive connections for 3 s, mixed reads
/// (60 % show ticket, 30 % list comments) and writes (10 % update with a comment). Run
/// with `cargo test --test sim_api throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measures throughput; run on demand"]
async fn throughput() {
    let sim = sim(&["acme"]).await;
    let api = Api::new(&sim, "acme");
    let mut ids = Vec::new();
    for i in 0..64 {
        ids.push(
            api.create(&format!("t{i}"), "b").await["id"]
                .as_u64()
                .unwrap(),
        );
    }
    let addr = sim.addr("acme");
    let token = api.token.clone();
    let secs = 3;
    let cpu_before = cpu_seconds();
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for w in 0..32usize {
        let ids = ids.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = RawConn::open(addr, &token).await;
            let update = r#"{"ticket":{"comment":{"body":"x","public":false}}}"#;
            let mut n = 0u64;
            let mut i = w;
            while std::time::Instant::now() < deadline {
                let id = ids[i % ids.len()];
                let status = match i % 10 {
                    0 => {
                        conn.call("PUT", &format!("/api/v2/tickets/{id}.json"), update)
                            .await
                    }
                    1..=3 => {
                        let p = format!("/api/v2/tickets/{id}/comments.json?page[size]=10");
                        conn.call("GET", &p, "").await
                    }
                    _ => {
                        conn.call("GET", &format!("/api/v2/tickets/{id}.json"), "")
                            .await
                    }
                };
                assert_eq!(status, 200);
                n += 1;
                i += 32;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let rps = total as f64 / secs as f64;
    let cpu = cpu_seconds() - cpu_before;
    println!(
        "sim throughput: {total} requests in {secs} s = {rps:.0} req/s wall (32 connections, \
         in-process); {cpu:.2} CPU-s used by server + client = {:.0} requests per CPU-second",
        total as f64 / cpu.max(0.001)
    );
    assert_eq!(sim.stats("acme").requests, total + 64);
    sim.shutdown().await;
}

#[tokio::test]
async fn time_based_export_audits_and_sorting() {
    let sim = sim(&["acme"]).await;
    let api = Api::new(&sim, "acme");
    let start = sim.now().as_second() - 5;
    let a = api.create("a", "x").await["id"].as_u64().unwrap();
    let b = api.create("b", "y").await["id"].as_u64().unwrap();
    let (_, desc) = api.get("/api/v2/tickets.json?sort=-id&page[size]=1").await;
    assert_eq!(desc["tickets"][0]["id"], b);
    assert!(desc["links"]["next"].as_str().unwrap().contains("sort=-id"));
    // Tags with a string safe_update, as Zendesk's own example sends it.
    let t = sim.ticket("acme", a).unwrap();
    let (s, _) = api
        .write(
            reqwest::Method::PUT,
            &format!("/api/v2/tickets/{a}/tags.json"),
            json!({"tags": ["x"], "safe_update": "true", "updated_stamp": t.updated_at}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .write(
            reqwest::Method::PUT,
            &format!("/api/v2/tickets/{a}/tags.json"),
            json!({"tags": ["y"], "safe_update": "true", "updated_stamp": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, audits) = api.get(&format!("/api/v2/tickets/{a}/audits.json")).await;
    assert_eq!(s, 200);
    assert_eq!(audits["count"], 2);
    assert_eq!(audits["audits"][0]["events"][0]["type"], "Comment");
    sim.advance_clock(Duration::from_secs(61));
    let (s, inc) = api
        .get(&format!(
            "/api/v2/incremental/tickets.json?start_time={start}"
        ))
        .await;
    assert_eq!(s, 200, "{inc}");
    let ids: Vec<_> = inc["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [b, a], "oldest change first");
    assert_eq!(inc["end_of_stream"], true);
    assert!(inc["end_time"].as_i64().unwrap() >= start);
    sim.shutdown().await;
}

#[tokio::test]
async fn search_counts_and_user_sideload() {
    let sim = sim(&["acme"]).await;
    let api = Api::new(&sim, "acme");
    let (_, a) = api
        .write(
            reqwest::Method::POST,
            "/api/v2/tickets.json",
            json!({"ticket": {"subject": "Printer on fire", "tags": ["vip"], "external_id": "ext-1",
                "comment": {"body": "smoke everywhere"}}}),
        )
        .await;
    let a = a["ticket"]["id"].as_u64().unwrap();
    let b = api.create("Login broken", "cannot log in").await["id"]
        .as_u64()
        .unwrap();
    let q = |query: &str| format!("/api/v2/search.json?query={}", query.replace(' ', "%20"));
    let (s, r) = api.get(&q("type:ticket tags:vip")).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["count"], 1);
    assert_eq!(r["results"][0]["id"], a);
    assert_eq!(r["results"][0]["result_type"], "ticket");
    assert_eq!(
        api.get(&q("type:ticket -tags:vip")).await.1["results"][0]["id"],
        b
    );
    assert_eq!(api.get(&q("external_id:ext-1")).await.1["count"], 1);
    assert_eq!(api.get(&q("smoke")).await.1["count"], 1);
    assert_eq!(api.get(&q("type:user smoke")).await.1["count"], 0);
    let (_, c) = api
        .get("/api/v2/search/count.json?query=type%3Aticket")
        .await;
    assert_eq!(c["count"], 2);
    let (_, c) = api.get("/api/v2/tickets/count.json").await;
    assert_eq!(c["count"]["value"], 2);
    sim.add_comment("acme", a, "human@acme.example", "on it", true)
        .unwrap();
    let (_, c) = api
        .get(&format!("/api/v2/tickets/{a}/comments/count"))
        .await;
    assert_eq!(c["count"]["value"], 2);
    let (_, cs) = api
        .get(&format!("/api/v2/tickets/{a}/comments.json?include=users"))
        .await;
    let emails: Vec<_> = cs["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        emails.contains(&AGENT.to_owned()) && emails.contains(&"human@acme.example".to_owned())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn drop_after_commit_applies_the_write_and_loses_the_answer() {
    let sim = sim(&["acme"]).await;
    let api = Api::new(&sim, "acme");
    sim.set_faults(
        None,
        FaultSettings {
            rate: 1.0,
            kinds: vec![FaultKind::DropAfterCommit],
            latency_ms: 0,
        },
    );
    let r = api
        .req(reqwest::Method::POST, "/api/v2/tickets.json")
        .header("Idempotency-Key", "k")
        .json(&json!({"ticket": {"subject": "x", "comment": {"body": "y"}}}))
        .send()
        .await;
    assert!(r.is_err());
    assert_eq!(sim.tickets("acme").len(), 1, "the write happened");
    sim.set_fault_rate(0.0);
    // The retry with the same key finds the ticket instead of creating another.
    let (s, h, _) = api
        .send(
            api.req(reqwest::Method::POST, "/api/v2/tickets.json")
                .header("Idempotency-Key", "k")
                .json(&json!({"ticket": {"subject": "x", "comment": {"body": "y"}}})),
        )
        .await;
    assert_eq!(
        (s, &h["x-idempotency-lookup"]),
        (201, &"hit".parse().unwrap())
    );
    assert_eq!(sim.tickets("acme").len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_are_reproducible_for_a_seed() {
    async fn pattern(seed: u64) -> Vec<u16> {
        let mut cfg = SimConfig::local(&["acme"]);
        cfg.limits = Limits::unlimited();
        cfg.seed = seed;
        cfg.faults = FaultSettings {
            rate: 0.5,
            kinds: vec![FaultKind::InternalError, FaultKind::Unavailable],
            latency_ms: 0,
        };
        let sim = Simulator::start(cfg).await.unwrap();
        let api = Api::new(&sim, "acme");
        let mut out = Vec::new();
        for _ in 0..40 {
            out.push(api.get("/api/v2/users/me.json").await.0);
        }
        // Control endpoints never fault.
        for _ in 0..20 {
            let r = reqwest::get(format!("{}/sim/stats", api.base))
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        sim.shutdown().await;
        out
    }
    let a = pattern(42).await;
    assert_eq!(a, pattern(42).await);
    assert_ne!(a, pattern(43).await);
    assert!(a.contains(&500) && a.contains(&503) && a.contains(&200));
}

#[tokio::test]
async fn helpers_act_like_a_human_agent() {
    let sim = sim(&["acme"]).await;
    let write = sharebridge::zendesk::models::TicketWrite {
        subject: Some("From the UI".into()),
        comment: Some(sharebridge::zendesk::models::NewComment {
            body: Some("hello".into()),
            ..Default::default()
        }),
        tags: Some(vec!["vendor_escalation".into()]),
        ..Default::default()
    };
    let t = sim
        .create_ticket("acme", "human@acme.example", &write)
        .unwrap();
    assert_eq!(t.via.channel, "web");
    assert_eq!(t.tags, ["vendor_escalation"]);
    let c = sim
        .add_comment("acme", t.id, "human@acme.example", "note", false)
        .unwrap();
    assert!(!c.public);
    let first = sim.comments("acme", t.id)[0].id;
    sim.make_private("acme", t.id, first, "human@acme.example")
        .unwrap();
    assert!(sim.comments("acme", t.id).iter().all(|c| !c.public));
    sim.delete_ticket("acme", t.id, "human@acme.example")
        .unwrap();
    assert!(sim.tickets("acme").is_empty());
    assert_eq!(
        sim.ticket("acme", t.id).unwrap().status,
        sharebridge::zendesk::models::Status::Deleted
    );
    let err = sim
        .delete_ticket("acme", t.id, "human@acme.example")
        .unwrap_err();
    assert_eq!(err.status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn retried_idempotent_creates_make_exactly_one_ticket_each_under_faults() {
    let mut cfg = SimConfig::local(&["acme"]);
    cfg.limits = Limits::unlimited();
    cfg.seed = 7;
    cfg.faults = FaultSettings {
        rate: 0.5,
        kinds: vec![
            FaultKind::Drop,
            FaultKind::DropAfterCommit,
            FaultKind::InternalError,
            FaultKind::TooManyRequests,
        ],
        latency_ms: 0,
    };
    let sim = Simulator::start(cfg).await.unwrap();
    let api = Api::new(&sim, "acme");
    for k in 0..20 {
        let body = json!({"ticket": {"subject": format!("s{k}"), "comment": {"body": "b"}}});
        let mut attempts = 0;
        loop {
            attempts += 1;
            assert!(attempts < 100, "no success for key {k}");
            let r = api
                .req(reqwest::Method::POST, "/api/v2/tickets.json")
                .header("Idempotency-Key", format!("key-{k}"))
                .json(&body)
                .send()
                .await;
            if let Ok(r) = r
                && r.status() == 201
                && r.bytes().await.is_ok()
            {
                break;
            }
        }
    }
    assert_eq!(sim.tickets("acme").len(), 20);
    assert!(sim.stats("acme").faults > 0);
    sim.shutdown().await;
}
