//! What the simulator accepts and answers because real clients send and expect it
//! (issue #14): ticket bodies as zenpy and node-zendesk build them, audits with their
//! metadata, attachments shown by id, absolute links naming the host asked for, and the
//! `{"ticket", "audit"}` envelope of every write. Raw HTTP over loopback.

use std::time::Duration;

use serde_json::{Value, json};
use sharebridge::sim::{Limits, SimConfig, Simulator};

const AGENT: &str = "agent@acme.example";

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

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut rb = self
            .http
            .request(method, url)
            .basic_auth(format!("{AGENT}/token"), Some(&self.token));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, v)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (s, _, b) = self.call(reqwest::Method::GET, path, None).await;
        (s, b)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, _, b) = self.call(reqwest::Method::POST, path, Some(body)).await;
        (s, b)
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, _, b) = self.call(reqwest::Method::PUT, path, Some(body)).await;
        (s, b)
    }
}

async fn sim() -> Simulator {
    let mut cfg = SimConfig::local(&["acme"]);
    cfg.limits = Limits::unlimited();
    Simulator::start(cfg).await.unwrap()
}

#[tokio::test]
async fn description_is_the_first_comment_and_comment_wins_over_it() {
    let sim = sim().await;
    let api = Api::new(&sim, "acme");
    let (s, b) = api
        .post(
            "/api/v2/tickets.json",
            json!({"ticket": {"subject": "Printer", "description": "It is on fire"}}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["ticket"]["description"], "It is on fire");
    assert_eq!(b["audit"]["events"][0]["type"], "Comment");
    let id = b["ticket"]["id"].as_u64().unwrap();
    let cs = sim.comments("acme", id);
    assert_eq!(cs.len(), 1);
    assert_eq!((cs[0].body.as_str(), cs[0].public), ("It is on fire", true));
    // Both given: the comment is the first comment.
    let (_, b) = api
        .post(
            "/api/v2/tickets",
            json!({"ticket": {"description": "d", "comment": {"body": "c"}}}),
        )
        .await;
    assert_eq!(b["ticket"]["description"], "c");
    // Neither: Zendesk's own refusal.
    let (s, b) = api
        .post("/api/v2/tickets", json!({"ticket": {"subject": "x"}}))
        .await;
    assert_eq!(s, 422);
    assert_eq!(b["error"], "RecordInvalid");
    assert_eq!(
        b["details"]["description"][0]["description"],
        "Description: cannot be blank"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn html_body_and_requester_objects() {
    let sim = sim().await;
    let api = Api::new(&sim, "acme");
    let (s, b) = api
        .post(
            "/api/v2/tickets.json",
            json!({"ticket": {
                "subject": "html",
                "comment": {"html_body": "<p>Hello <b>there</b></p>", "public": false},
                "requester": {"name": "Jane Customer", "email": "Jane@Customer.example"},
            }}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b["ticket"]["id"].as_u64().unwrap();
    let c = &sim.comments("acme", id)[0];
    assert_eq!(c.body, "Hello there");
    assert!(c.html_body.contains("<b>there</b>"));
    assert!(!c.public);
    let requester = b["ticket"]["requester_id"].as_u64().unwrap();
    let (_, u) = api.get(&format!("/api/v2/users/{requester}.json")).await;
    assert_eq!(u["user"]["email"], "jane@customer.example");
    assert_eq!(u["user"]["name"], "Jane Customer");
    assert_eq!(u["user"]["role"], "end-user");
    // The same email again finds the same user and leaves its name alone.
    let (_, b2) = api
        .post(
            "/api/v2/tickets.json",
            json!({"ticket": {"comment": {"body": "again"},
                "requester": {"name": "Someone Else", "email": "jane@customer.example"}}}),
        )
        .await;
    assert_eq!(b2["ticket"]["requester_id"], requester);
    let (_, u) = api.get(&format!("/api/v2/users/{requester}")).await;
    assert_eq!(u["user"]["name"], "Jane Customer");
    // On an update, a requester object changes the requester.
    let (s, up) = api
        .put(
            &format!("/api/v2/tickets/{id}.json"),
            json!({"ticket": {"requester": {"name": "Bob", "email": "bob@customer.example"}}}),
        )
        .await;
    assert_eq!(s, 200, "{up}");
    assert_ne!(up["ticket"]["requester_id"], requester);
    sim.shutdown().await;
}

#[tokio::test]
async fn update_metadata_is_kept_in_that_audit() {
    let sim = sim().await;
    let api = Api::new(&sim, "acme");
    let (_, b) = api
        .post(
            "/api/v2/tickets.json",
            json!({"ticket": {"comment": {"body": "x"}, "metadata": {"custom": {"source": "zenpy"}}}}),
        )
        .await;
    assert_eq!(b["audit"]["metadata"]["custom"], json!({"source": "zenpy"}));
    let id = b["ticket"]["id"].as_u64().unwrap();
    // Zendesk's own example sends the custom keys directly under `metadata`.
    let (s, up) = api
        .put(
            &format!("/api/v2/tickets/{id}.json"),
            json!({"ticket": {"status": "open", "metadata": {"time_spent": "4m12s"}}}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        up["audit"]["metadata"]["custom"],
        json!({"time_spent": "4m12s"})
    );
    assert!(up["audit"]["metadata"]["system"].is_object());
    let (s, audits) = api.get(&format!("/api/v2/tickets/{id}/audits.json")).await;
    assert_eq!(s, 200);
    let audits = audits["audits"].as_array().unwrap();
    assert_eq!(audits.len(), 2);
    assert_eq!(audits[0]["metadata"]["custom"], json!({"source": "zenpy"}));
    assert_eq!(
        audits[1]["metadata"]["custom"],
        json!({"time_spent": "4m12s"})
    );
    assert_eq!(audits[1]["id"], up["audit"]["id"]);
    // An update that changes nothing still answers {"ticket", "audit"} but stores none.
    let (s, same) = api
        .put(
            &format!("/api/v2/tickets/{id}"),
            json!({"ticket": {"status": "open"}}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        same["ticket"].is_object() && same["audit"].is_object(),
        "{same}"
    );
    assert_eq!(same["audit"]["events"], json!([]));
    let (_, audits) = api.get(&format!("/api/v2/tickets/{id}/audits")).await;
    assert_eq!(audits["audits"].as_array().unwrap().len(), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn attachments_are_shown_by_id_once_uploaded() {
    let sim = sim().await;
    let api = Api::new(&sim, "acme");
    let r = api
        .http
        .post(format!("{}/api/v2/uploads.json?filename=log.txt", api.base))
        .basic_auth(format!("{AGENT}/token"), Some(&api.token))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let up: Value = r.json().await.unwrap();
    let att = &up["upload"]["attachment"];
    let att_id = att["id"].as_u64().unwrap();
    for path in [
        format!("/api/v2/attachments/{att_id}.json"),
        format!("/api/v2/attachments/{att_id}"),
    ] {
        let (s, shown) = api.get(&path).await;
        assert_eq!(s, 200, "{path}: {shown}");
        let a = &shown["attachment"];
        assert_eq!(a["id"], att_id);
        assert_eq!(a["file_name"], "log.txt");
        assert_eq!(a["content_type"], "text/plain");
        assert_eq!(a["size"], 5);
        assert_eq!(a["content_url"], att["content_url"]);
        assert_eq!(a["deleted"], false);
        assert!(
            a["url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/api/v2/attachments/{att_id}.json"))
        );
    }
    // Attached to a comment, the comment lists it in the same form.
    let token = up["upload"]["token"].as_str().unwrap();
    let (_, b) = api
        .post(
            "/api/v2/tickets.json",
            json!({"ticket": {"comment": {"body": "see file", "uploads": [token]}}}),
        )
        .await;
    let id = b["ticket"]["id"].as_u64().unwrap();
    let (_, cs) = api
        .get(&format!("/api/v2/tickets/{id}/comments.json"))
        .await;
    assert_eq!(cs["comments"][0]["attachments"][0]["id"], att_id);
    assert_eq!(
        cs["comments"][0]["attachments"][0]["malware_scan_result"],
        "malware_not_found"
    );
    let (s, e) = api.get("/api/v2/attachments/1.json").await;
    assert_eq!(s, 404);
    assert_eq!(
        e,
        json!({"error": "RecordNotFound", "description": "Not found"})
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn absolute_links_name_the_host_the_client_asked_for() {
    let sim = sim().await;
    let api = Api::new(&sim, "acme");
    for i in 0..3 {
        api.post(
            "/api/v2/tickets.json",
            json!({"ticket": {"comment": {"body": format!("t{i}")}}}),
        )
        .await;
    }
    // As the simulator's own address: links are absolute and followable.
    let (_, page) = api.get("/api/v2/tickets.json?per_page=2").await;
    let next = page["next_page"].as_str().unwrap().to_owned();
    assert!(next.starts_with(&api.base), "{next}");
    let (s, page2) = api.get(&next).await;
    assert_eq!(s, 200);
    assert_eq!(page2["tickets"].as_array().unwrap().len(), 1);
    let (_, cur) = api.get("/api/v2/tickets.json?page[size]=2").await;
    let next = cur["links"]["next"].as_str().unwrap().to_owned();
    assert!(next.starts_with(&api.base), "{next}");
    let (_, cur2) = api.get(&next).await;
    assert_eq!(cur2["tickets"].as_array().unwrap().len(), 1);
    assert_eq!(cur2["meta"]["has_more"], false);
    // Asked under another name (as `acme.localhost:PORT` would be): links use that name.
    let port = sim.addr("acme").port();
    let r = api
        .http
        .get(format!("{}/api/v2/tickets.json?per_page=2", api.base))
        .basic_auth(format!("{AGENT}/token"), Some(&api.token))
        .header("host", format!("acme.localhost:{port}"))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let next = v["next_page"].as_str().unwrap();
    assert!(
        next.starts_with(&format!(
            "http://acme.localhost:{port}/api/v2/tickets.json?"
        )),
        "{next}"
    );
    assert!(
        v["tickets"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("http://acme.localhost:")
    );
    sim.shutdown().await;
}
