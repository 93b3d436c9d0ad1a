//! The HTTP server over loopback: webhook verification and enqueueing, health, metrics.

use std::sync::Arc;

use sharebridge::config::{LoadOptions, load_with};
use sharebridge::engine::hints::Hints;
use sharebridge::metrics::Metrics;
use sharebridge::server::{Readiness, ServerState, serve};
use sharebridge::zendesk::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};

const CONFIG: &str = r#"
[daemon]
admin_token = "admin"
state_dir = "/nonexistent"
[accounts.acme]
subdomain = "acme"
email = "bridge@acme.example"
token = "t"
webhook_secret = "hook-secret"
[accounts.vendor]
subdomain = "vendor"
email = "bridge@vendor.example"
token = "t"
"#;

struct Harness {
    url: String,
    hints: Arc<Hints>,
    readiness: Arc<Readiness>,
    http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
    _config: tokio::sync::watch::Sender<Arc<sharebridge::config::Config>>,
    _dir: tempfile::TempDir,
}

async fn start() -> Harness {
    start_with(CONFIG).await
}

async fn start_with(config_text: &str) -> Harness {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sharebridge.toml");
    std::fs::write(&path, config_text).unwrap();
    let config = load_with(&path, &LoadOptions::default()).unwrap().config;
    let (config_tx, rx) = tokio::sync::watch::channel(Arc::new(config));
    let hints = Arc::new(Hints::new());
    let readiness = Arc::new(Readiness::blocked("store not open"));
    let state = Arc::new(ServerState {
        config: rx,
        hints: hints.clone(),
        metrics: Arc::new(Metrics::new()),
        readiness: readiness.clone(),
        engine: None,
        cluster: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Harness {
        url,
        hints,
        readiness,
        http: reqwest::Client::new(),
        _stop: stop,
        _config: config_tx,
        _dir: dir,
    }
}

impl Harness {
    async fn webhook(&self, account: &str, secret: &str, ts: &str, body: &[u8]) -> u16 {
        self.http
            .post(format!("{}/webhooks/{account}", self.url))
            .header(TIMESTAMP_HEADER, ts)
            .header(SIGNATURE_HEADER, sign(secret.as_bytes(), ts, body))
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[tokio::test]
async fn signed_webhook_is_accepted_once_and_enqueued() {
    let h = start().await;
    let body = br#"{"ticket_id": 42}"#;
    assert_eq!(h.webhook("acme", "hook-secret", &now(), body).await, 202);
    assert_eq!(h.webhook("acme", "hook-secret", &now(), body).await, 202);
    let hints = h.hints.drain();
    assert_eq!(hints.len(), 1, "a duplicate delivery is one hint");
    assert_eq!((hints[0].account.as_str(), hints[0].ticket), ("acme", 42));
    let event = br#"{"type":"zen:event-type:ticket.comment_added","detail":{"id":"43"}}"#;
    assert_eq!(h.webhook("acme", "hook-secret", &now(), event).await, 202);
    assert_eq!(h.hints.drain()[0].ticket, 43);
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_enqueued() {
    let h = start().await;
    let body = br#"{"ticket_id": 42}"#;
    assert_eq!(h.webhook("acme", "wrong-secret", &now(), body).await, 401);
    assert_eq!(
        h.webhook("acme", "hook-secret", "2020-01-01T00:00:00Z", body)
            .await,
        401
    );
    assert_eq!(h.webhook("nobody", "hook-secret", &now(), body).await, 404);
    // An account without a webhook secret takes no webhooks.
    assert_eq!(h.webhook("vendor", "hook-secret", &now(), body).await, 404);
    assert_eq!(
        h.webhook("acme", "hook-secret", &now(), b"{\"nothing\": 1}")
            .await,
        400
    );
    let big = format!(
        "{{\"ticket_id\": 1, \"pad\": \"{}\"}}",
        "x".repeat(1024 * 1024 + 10)
    );
    assert_eq!(
        h.webhook("acme", "hook-secret", &now(), big.as_bytes())
            .await,
        413
    );
    let unsigned = h
        .http
        .post(format!("{}/webhooks/acme", h.url))
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(unsigned, 401);
    assert!(
        h.hints.is_empty(),
        "nothing may be enqueued for a refused delivery"
    );
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let h = start().await;
    let get = |p: &str| h.http.get(format!("{}{p}", h.url)).send();
    assert_eq!(get("/healthz").await.unwrap().status().as_u16(), 200);
    let r = get("/readyz").await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.text().await.unwrap().contains("store not open"));
    h.readiness.set_blocker(None);
    assert_eq!(get("/readyz").await.unwrap().status().as_u16(), 200);
    h.webhook("acme", "wrong", &now(), b"{}").await;
    let text = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        text.contains("sharebridge_webhooks_total{account=\"acme\",outcome=\"bad_signature\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn without_an_admin_token_the_admin_api_and_status_page_let_nobody_in() {
    let h = start_with(&CONFIG.replace("admin_token = \"admin\"\n", "")).await;
    for token in ["admin", "", "anything"] {
        let r = h
            .http
            .get(format!("{}/api/links", h.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "token {token:?}");
        let r = h
            .http
            .get(format!("{}/", h.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let page = r.text().await.unwrap();
        assert!(
            page.contains("Sign in") && !page.contains("Request budget"),
            "only the login form, token {token:?}"
        );
    }
}
