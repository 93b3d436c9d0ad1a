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
