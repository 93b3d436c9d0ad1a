//! The Zendesk client against the in-process simulator over real HTTP on loopback: every
//! client method, fault injection (retries recover; keyed creates and comment updates are
//! never duplicated), OAuth rotation, and the whole-account pause after a 429.
//!
//! Each test starts its own simulator on port 0, so tests are independent and may run in
//! parallel. Runtime of the whole file is kept to a few seconds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use sharebridge::sim::{AccountSpec, FaultKind, FaultSettings, Limits, SimConfig, Simulator};
use sharebridge::zendesk::client::{
    Auth, ClientSettings, EndpointLimits, ExportStart, MemoryTokenStore, RetrySettings,
    TicketFieldWrite, TokenPair, TokenStore, TokenStoreError, UserWrite, ZendeskClient,
    ZendeskError,
};
use sharebridge::zendesk::models::{FieldOption, NewComment, Status, TicketWrite};

const TOKEN: &str = "sim-token";
const EMAIL: &str = "bridge@acme.example";

fn sim_config(limits: Limits, faults: FaultSettings, seed: u64) -> SimConfig {
    SimConfig {
        accounts: vec![AccountSpec {
            name: "acme".into(),
            addr: "127.0.0.1:0".parse().unwrap(),
        }],
        token: TOKEN.into(),
        webhooks: vec![],
        webhook_style: Default::default(),
        webhook_secret: String::new(),
        limits,
        export_lag_secs: 0,
        faults,
        seed,
        access_token_lifetime_secs: 3600,
        ..SimConfig::local(&["acme"])
    }
}

async fn start_sim(limits: Limits, faults: FaultSettings, seed: u64) -> Simulator {
    Simulator::start(sim_config(limits, faults, seed))
        .await
        .expect("simulator starts")
}

/// Client settings tuned for tests: short timeouts and retry delays.
fn settings(base_url: String, auth: Auth) -> ClientSettings {
    let mut s = ClientSettings::new("acme", base_url, auth);
    s.requests_per_minute = 10_000;
    s.connect_timeout = Duration::from_secs(2);
    s.request_timeout = Duration::from_secs(5);
    s.retry = RetrySettings {
        max_total: Duration::from_secs(20),
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(200),
        max_retries: 30,
    };
    s
}

fn api_token() -> Auth {
    Auth::ApiToken {
        email: EMAIL.into(),
        token: SecretString::from(TOKEN),
    }
}

fn client(sim: &Simulator) -> ZendeskClient {
    ZendeskClient::new(
        settings(sim.base_url("acme"), api_token()),
        Arc::new(MemoryTokenStore::new()),
    )
    .expect("client builds")
}

/// Creates a ticket without an idempotency key; its id.
async fn create(c: &ZendeskClient, subject: &str, external_id: &str) -> u64 {
    c.create_ticket(&new_ticket(subject, external_id), None)
        .await
        .unwrap()
        .ticket
        .id
}

fn comment(body: &str, public: bool) -> NewComment {
    NewComment {
        body: Some(body.into()),
        public: Some(public),
        ..Default::default()
    }
}

fn new_ticket(subject: &str, external_id: &str) -> TicketWrite {
    TicketWrite {
        subject: Some(subject.into()),
        external_id: Some(external_id.into()),
        comment: Some(comment("first", true)),
        ..Default::default()
    }
}

/// Reads the simulator's counters over HTTP (`GET /sim/stats`: no auth, no faults).
async fn sim_stats(sim: &Simulator) -> serde_json::Value {
    reqwest::get(format!("{}/sim/stats", sim.base_url("acme")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn users_me_show_and_create_or_update() {
    let sim = start_sim(Limits::unlimited(), FaultSettings::default(), 1).await;
    let c = client(&sim);
    let me = c.me().await.unwrap();
    assert_eq!(me.email.as_deref(), Some(EMAIL));
    assert_eq!(c.show_user(me.id).await.unwrap().id, me.id);
    let write = UserWrite {
        name: Some("Vendor Agent".into()),
        email: Some("agent@vendor.example".into()),
        role: Some("end-user".into()),
        ..Default::default()
    };
    let created = c.create_or_update_user(&write).await.unwrap();
    let again = c
        .create_or_update_user(&UserWrite {
            name: Some("Renamed".into()),
            ..write
        })
        .await
        .unwrap();
    assert_eq!(created.id, again.id);
    assert_eq!(again.name, "Renamed");
    assert!(matches!(
        c.show_user(1).await,
        Err(ZendeskError::NotFound { .. })
    ));
}

#[tokio::test]
async fn ticket_lifecycle_tags_comments_and_errors() {
    let sim = start_sim(Limits::unlimited(), FaultSettings::default(), 1).await;
    let c = client(&sim);

    let created = c
        .create_ticket(
            &new_ticket("Printer on fire", "sharebridge:acme:1"),
            Some("link-1"),
        )
        .await
        .unwrap();
    assert!(!created.replayed);
    let id = created.ticket.id;
    let replay = c
        .create_ticket(
            &new_ticket("Printer on fire", "sharebridge:acme:1"),
            Some("link-1"),
        )
        .await
        .unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.ticket.id, id);
    // The same key with a different body is refused, not answered from the cache.
    let err = c
        .create_ticket(
            &new_ticket("Something else", "sharebridge:acme:1"),
            Some("link-1"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ZendeskError::Invalid { details, .. } if details.contains("IdempotentRequestError")),
        "{err}"
    );
    assert!(err.is_key_reused(), "{err}");
    assert!(
        !c.show_ticket(999_999_999)
            .await
            .unwrap_err()
            .is_key_reused()
    );
    let other = create(&c, "Other", "x:2").await;

    assert_eq!(
        c.show_ticket(id).await.unwrap().subject.as_deref(),
        Some("Printer on fire")
    );
    let many = c
        .show_many_tickets(&[id, other, 999_999_999])
        .await
        .unwrap();
    let mut ids: Vec<u64> = many.iter().map(|t| t.id).collect();
    ids.sort();
    assert_eq!(ids, vec![id, other]);
    let by_ext = c
        .tickets_by_external_id("sharebridge:acme:1")
        .await
        .unwrap();
    assert_eq!(by_ext.iter().map(|t| t.id).collect::<Vec<_>>(), vec![id]);

    // Update with a comment, status and tags in one request.
    let seen = c.show_ticket(id).await.unwrap();
    let updated = c
        .update_ticket(
            id,
            &TicketWrite {
                comment: Some(comment("second, private", false)),
                status: Some(Status::Open),
                ..Default::default()
            },
            Some(seen.updated_at),
        )
        .await
        .unwrap();
    assert_eq!(updated.status, Status::Open);
    // A stale stamp is a conflict. The simulator's stamps have one-second precision, so
    // use one clearly older than the ticket.
    let stale = seen
        .created_at
        .checked_sub(jiff::SignedDuration::from_secs(3600))
        .unwrap();
    let err = c
        .update_ticket(
            id,
            &TicketWrite {
                priority: Some(Some("high".into())),
                ..Default::default()
            },
            Some(stale),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ZendeskError::Conflict { .. }), "{err}");

    let comments = c.list_comments(id).await.unwrap();
    assert_eq!(comments.len(), 2);
    assert!(comments[0].public && !comments[1].public);

    // Tags.
    let s = |v: &[&str]| v.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    assert_eq!(
        c.set_tags(id, &s(&["a", "b"])).await.unwrap(),
        s(&["a", "b"])
    );
    let mut added = c.add_tags(id, &s(&["c"])).await.unwrap();
    added.sort();
    assert_eq!(added, s(&["a", "b", "c"]));
    let mut left = c.remove_tags(id, &s(&["a"])).await.unwrap();
    left.sort();
    assert_eq!(left, s(&["b", "c"]));
    let mut got = c.get_tags(id).await.unwrap();
    got.sort();
    assert_eq!(got, s(&["b", "c"]));

    // Closed tickets refuse updates.
    c.update_ticket(
        other,
        &TicketWrite {
            status: Some(Status::Closed),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    let err = c
        .update_ticket(
            other,
            &TicketWrite {
                comment: Some(comment("late", true)),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ZendeskError::Closed { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("acme") && msg.contains(&format!("ticket {other}")) && !msg.contains("late"),
        "{msg}"
    );

    // Delete; then show is 404.
    c.delete_ticket(id).await.unwrap();
    assert!(matches!(
        c.show_ticket(id).await,
        Err(ZendeskError::NotFound { .. })
    ));
}

#[tokio::test]
async fn comments_are_read_across_pages() {
    let sim = start_sim(Limits::unlimited(), FaultSettings::default(), 1).await;
    let mut s = settings(sim.base_url("acme"), api_token());
    // This test writes 120 comments to one ticket: lift the client's per-ticket limit.
    s.limits = EndpointLimits {
        updates_per_ticket: 1000,
        ticket_updates_per_minute: 1000,
        ..EndpointLimits::default()
    };
    let c = ZendeskClient::new(s, Arc::new(MemoryTokenStore::new())).unwrap();
    let id = create(&c, "busy", "busy").await;
    for i in 1..120 {
        let w = TicketWrite {
            comment: Some(comment(&format!("c{i}"), true)),
            ..Default::default()
        };
        c.update_ticket(id, &w, None).await.unwrap();
    }
    let comments = c.list_comments(id).await.unwrap();
    assert_eq!(comments.len(), 120);
    assert_eq!(comments[119].body, "c119");
    let page = c
        .list_page::<sharebridge::zendesk::models::Comment>(
            &format!("/api/v2/tickets/{id}/comments"),
            "comments",
            None,
            50,
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 50);
    assert!(page.has_more && page.after_cursor.is_some());
    // Newest first, stopping at the watermark: the same comments, oldest first.
    let tail = c.comments_after(id, comments[9].id).await.unwrap();
    assert_eq!(tail, comments[10..].to_vec());
    assert_eq!(c.comments_after(id, 0).await.unwrap(), comments);
    assert!(
        c.comments_after(id, comments[119].id)
            .await
            .unwrap()
            .is_empty()
    );
    let before = sim.stats("acme").requests;
    c.comments_after(id, comments[110].id).await.unwrap();
    assert_eq!(
        sim.stats("acme").requests - before,
        1,
        "one page when fewer than 100 are new"
    );
}

#[tokio::test]
async fn incremental_exports_resume_from_cursor() {
    let sim = start_sim(Limits::unlimited(), FaultSettings::default(), 1).await;
    let c = client(&sim);
    let t1 = create(&c, "one", "e1").await;
    let t2 = create(&c, "two", "e2").await;

    let first = c.export_tickets(&ExportStart::StartTime(0)).await.unwrap();
    let ids: Vec<u64> = first.tickets.iter().map(|t| t.id).collect();
    assert!(ids.contains(&t1) && ids.contains(&t2), "{ids:?}");
    assert!(first.end_of_stream);
    let ExportStart::Cursor(_) = &first.next else {
        panic!("expected a cursor, got {:?}", first.next)
    };
    // Nothing new: an empty page, the cursor stays usable.
    let idle = c.export_tickets(&first.next).await.unwrap();
    assert!(idle.tickets.is_empty() && idle.end_of_stream);
    // A change shows up after the stored cursor.
    c.update_ticket(
        t1,
        &TicketWrite {
            comment: Some(comment("reply", true)),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    let next = c.export_tickets(&idle.next).await.unwrap();
    assert_eq!(
        next.tickets.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![t1]
    );

    let events = c.export_ticket_events(0).await.unwrap();
    let comment_bodies: Vec<String> = events
        .events
        .iter()
        .filter(|e| e.ticket_id == t1)
        .flat_map(|e| e.child_events.iter())
        .filter(|ce| ce.event_type == "Comment")
        .filter_map(|ce| ce.body.clone())
        .collect();
    assert!(
        comment_bodies.contains(&"reply".to_string()),
        "{comment_bodies:?}"
    );
    assert!(events.next_start_time > 0);
}

#[tokio::test]
async fn account_catalog_uploads_and_attachments() {
    let sim = start_sim(Limits::unlimited(), FaultSettings::default(), 1).await;
    let c = client(&sim);
    let before = c.list_ticket_fields().await.unwrap().len();
    let field = c
        .create_ticket_field(&TicketFieldWrite {
            field_type: "tagger".into(),
            title: "Tier".into(),
            custom_field_options: vec![FieldOption {
                id: 0,
                name: "Gold".into(),
                value: "tier_gold".into(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(field.title, "Tier");
    let fields = c.list_ticket_fields().await.unwrap();
    assert_eq!(fields.len(), before + 1);
    assert!(fields.iter().any(|f| f.id == field.id));

    // Catalog lists decode whatever the simulator seeds.
    let _ = c.list_brands().await.unwrap();
    let _ = c.list_groups().await.unwrap();
    let _ = c.list_custom_roles().await.unwrap();
    let seeded = sim.add_sharing_agreement("acme", "Vendor", "outbound", "accepted", "vendor");
    let agreements = c.list_sharing_agreements().await.unwrap();
    assert!(
        agreements
            .iter()
            .any(|a| a.id == seeded.id && a.status == "accepted")
    );

    let bytes = b"hello attachment".to_vec();
    let upload = c
        .create_upload("hello.txt", "text/plain", bytes.clone())
        .await
        .unwrap();
    assert!(!upload.token.is_empty());
    let id = c
        .create_ticket(
            &TicketWrite {
                subject: Some("with file".into()),
                comment: Some(NewComment {
                    body: Some("see file".into()),
                    uploads: vec![upload.token.clone()],
                    ..Default::default()
                }),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap()
        .ticket
        .id;
    let comments = c.list_comments(id).await.unwrap();
    let att = &comments[0].attachments[0];
    assert_eq!(att.file_name, "hello.txt");
    assert_eq!(
        c.download_attachment(&att.content_url, 1024).await.unwrap(),
        bytes
    );
    assert!(matches!(
        c.download_attachment(&att.content_url, 4).await,
        Err(ZendeskError::Invalid { .. })
    ));
}

#[tokio::test]
async fn bad_token_is_an_auth_error() {
    let sim = start_sim(Limits::unlimited(), FaultSettings::default(), 1).await;
    let auth = Auth::ApiToken {
        email: EMAIL.into(),
        token: SecretString::from("wrong-token"),
    };
    let c = ZendeskClient::new(
        settings(sim.base_url("acme"), auth),
        Arc::new(MemoryTokenStore::new()),
    )
    .unwrap();
    let err = c.me().await.unwrap_err();
    assert!(
        matches!(err, ZendeskError::Auth { status: 401, .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong-token"));
}

fn faults(rate: f64, kinds: Vec<FaultKind>) -> FaultSettings {
    FaultSettings {
        rate,
        kinds,
        latency_ms: 0,
    }
}

/// Faults that leave nothing applied (429/5xx/drop) are retried through for reads and
/// idempotent writes; keyed creates are never duplicated even when a create takes effect
/// and its answer is lost.
#[tokio::test]
async fn fault_injection_retries_recover_and_keyed_creates_are_not_duplicated() {
    let kinds = vec![
        FaultKind::TooManyRequests,
        FaultKind::InternalError,
        FaultKind::Unavailable,
        FaultKind::Drop,
        FaultKind::DropAfterCommit,
    ];
    let sim = start_sim(Limits::unlimited(), faults(0.3, kinds), 42).await;
    let c = client(&sim);
    let mut ids = Vec::new();
    for i in 0..8 {
        let ext = format!("sharebridge:acme:{i}");
        let t = c
            .create_ticket(
                &new_ticket(&format!("t{i}"), &ext),
                Some(&format!("key-{i}")),
            )
            .await
            .unwrap();
        ids.push(t.ticket.id);
        let shown = c.show_ticket(t.ticket.id).await.unwrap();
        assert_eq!(shown.external_id.as_deref(), Some(ext.as_str()));
        c.add_tags(t.ticket.id, &["faulty".to_string()])
            .await
            .unwrap();
    }
    for (i, id) in ids.iter().enumerate() {
        let found = c
            .tickets_by_external_id(&format!("sharebridge:acme:{i}"))
            .await
            .unwrap();
        assert_eq!(
            found.iter().map(|t| t.id).collect::<Vec<_>>(),
            vec![*id],
            "ticket {i} duplicated"
        );
    }
    // And in the simulator itself: exactly 8 tickets.
    assert_eq!(sim.tickets("acme").len(), 8);
    let stats = sim_stats(&sim).await;
    assert!(stats["faults"].as_u64().unwrap() > 0, "{stats}");
    let status = c.gate_status();
    assert!(status.throttled_total > 0 || stats["throttled"].as_u64() == Some(0));
}

/// A comment update is never replayed blindly: a lost answer comes back as `InDoubt`, the
/// caller reads the comments to reconcile, and every comment exists exactly once.
#[tokio::test]
async fn comment_updates_are_never_duplicated_under_faults() {
    let kinds = vec![
        FaultKind::TooManyRequests,
        FaultKind::InternalError,
        FaultKind::Drop,
        FaultKind::DropAfterCommit,
    ];
    let sim = start_sim(Limits::unlimited(), faults(0.3, kinds), 7).await;
    let c = client(&sim);
    let id = c
        .create_ticket(&new_ticket("faulty", "f"), Some("faulty"))
        .await
        .unwrap()
        .ticket
        .id;
    let mut in_doubt = 0;
    for i in 0..10 {
        let body = format!("comment {i}");
        let w = TicketWrite {
            comment: Some(comment(&body, true)),
            ..Default::default()
        };
        // What the engine does: send; on InDoubt read the comments and resend only if the
        // comment is not there.
        loop {
            match c.update_ticket(id, &w, None).await {
                Ok(_) => break,
                Err(ZendeskError::InDoubt { .. }) => {
                    in_doubt += 1;
                    let comments = c.list_comments(id).await.unwrap();
                    if comments.iter().any(|cm| cm.body == body) {
                        break;
                    }
                }
                Err(e) => panic!("unexpected: {e}"),
            }
        }
    }
    assert!(
        in_doubt > 0,
        "the seed should produce at least one lost answer"
    );
    // Count in the simulator itself, not through the client.
    let comments = sim.comments("acme", id);
    for i in 0..10 {
        let body = format!("comment {i}");
        let n = comments.iter().filter(|cm| cm.body == body).count();
        assert_eq!(n, 1, "{body} present {n} times");
    }
}

/// A token store that records the order of saves and checks, at each save, that the
/// token being saved has not been used yet.
#[derive(Default)]
struct RecordingStore {
    inner: MemoryTokenStore,
    saved: Mutex<Vec<(String, String)>>,
}

impl TokenStore for RecordingStore {
    fn load(&self, account: &str) -> Result<Option<TokenPair>, TokenStoreError> {
        self.inner.load(account)
    }
    fn save(&self, account: &str, pair: &TokenPair) -> Result<(), TokenStoreError> {
        self.saved.lock().unwrap().push((
            pair.access_token.expose_secret().to_owned(),
            pair.refresh_token.expose_secret().to_owned(),
        ));
        self.inner.save(account, pair)
    }
}

#[tokio::test]
async fn oauth_rotation_saves_before_use_and_old_refresh_token_is_rejected() {
    let sim = start_sim(Limits::unlimited(), FaultSettings::default(), 1).await;
    let grant = sim.oauth_client("acme", EMAIL);
    let store = Arc::new(RecordingStore::default());
    let auth = Auth::OAuth {
        client_id: grant.client_id.clone(),
        client_secret: SecretString::from(grant.client_secret.clone()),
        refresh_token: Some(SecretString::from(grant.refresh_token.clone())),
    };
    let c =
        ZendeskClient::new(settings(sim.base_url("acme"), auth.clone()), store.clone()).unwrap();
    // No stored pair and no access token: the first call refreshes, saves, then uses it.
    let me = c.me().await.unwrap();
    assert_eq!(me.email.as_deref(), Some(EMAIL));
    let saved = store.saved.lock().unwrap().clone();
    assert_eq!(saved.len(), 1);
    assert_ne!(saved[0].1, grant.refresh_token, "refresh token rotated");

    // The configured (old) refresh token is now dead at the simulator.
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/oauth/tokens", sim.base_url("acme")))
        .json(&serde_json::json!({
            "grant_type": "refresh_token",
            "refresh_token": grant.refresh_token,
            "client_id": grant.client_id,
            "client_secret": grant.client_secret,
        }))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());

    // A second client over the same store starts from the stored pair, not the configured
    // (dead) refresh token, and needs no refresh.
    let c2 = ZendeskClient::new(settings(sim.base_url("acme"), auth), store.clone()).unwrap();
    assert_eq!(c2.me().await.unwrap().id, me.id);
    assert_eq!(store.saved.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn oauth_refreshes_before_expiry() {
    let sim = start_sim(Limits::unlimited(), FaultSettings::default(), 1).await;
    sim.set_access_token_lifetime(2);
    let grant = sim.oauth_client("acme", EMAIL);
    let store = Arc::new(RecordingStore::default());
    let auth = Auth::OAuth {
        client_id: grant.client_id.clone(),
        client_secret: SecretString::from(grant.client_secret.clone()),
        refresh_token: Some(SecretString::from(grant.refresh_token.clone())),
    };
    let c = ZendeskClient::new(settings(sim.base_url("acme"), auth), store.clone()).unwrap();
    c.me().await.unwrap();
    c.me().await.unwrap();
    assert_eq!(store.saved.lock().unwrap().len(), 1, "token still fresh");
    // Past half the 2 s lifetime the client refreshes before using the token.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.me().await.unwrap();
    let saved = store.saved.lock().unwrap().clone();
    assert_eq!(saved.len(), 2);
    assert_ne!(saved[0].1, saved[1].1);
}

#[tokio::test]
async fn oauth_refreshes_once_after_401() {
    let sim = start_sim(Limits::unlimited(), FaultSettings::default(), 1).await;
    let grant = sim.oauth_client("acme", EMAIL);
    let store = Arc::new(RecordingStore::default());
    // A stored pair whose access token the simulator does not know: the first call gets
    // 401, refreshes with the stored refresh token, saves, and succeeds.
    store
        .inner
        .save(
            "acme",
            &TokenPair {
                access_token: SecretString::from("revoked-access"),
                refresh_token: SecretString::from(grant.refresh_token.clone()),
                access_expires_at: None,
                refresh_expires_at: None,
                issued_at: None,
            },
        )
        .unwrap();
    let auth = Auth::OAuth {
        client_id: grant.client_id.clone(),
        client_secret: SecretString::from(grant.client_secret.clone()),
        refresh_token: Some(SecretString::from("configured-but-superseded")),
    };
    let c = ZendeskClient::new(settings(sim.base_url("acme"), auth), store.clone()).unwrap();
    c.me().await.unwrap();
    assert_eq!(store.saved.lock().unwrap().len(), 1);
    let pair = store.load("acme").unwrap().unwrap();
    assert_ne!(pair.access_token.expose_secret(), "revoked-access");
}

/// With the simulator's account limit lowered, a 429 pauses the whole account: a request
/// issued during the pause does not reach Zendesk, and the error carries Retry-After.
#[tokio::test]
async fn throttled_account_pauses_every_request() {
    let limits = Limits {
        requests_per_minute: 3,
        ..Limits::unlimited()
    };
    let sim = start_sim(limits, FaultSettings::default(), 1).await;
    let mut s = settings(sim.base_url("acme"), api_token());
    // Give up at once so the test does not sit out the minute.
    s.retry.max_total = Duration::from_millis(100);
    let c = ZendeskClient::new(s, Arc::new(MemoryTokenStore::new())).unwrap();
    for _ in 0..3 {
        c.me().await.unwrap();
    }
    let err = c.me().await.unwrap_err();
    let ZendeskError::RateLimited {
        retry_after: Some(ra),
        ..
    } = err
    else {
        panic!("expected RateLimited, got {err}")
    };
    assert!(ra >= Duration::from_secs(1), "{ra:?}");
    let status = c.gate_status();
    assert!(status.paused_for.is_some());
    assert_eq!(status.throttled_total, 1);
    // Zendesk's own X-Rate-Limit-Remaining, as last reported before the 429.
    assert_eq!(status.server_remaining, Some(0));
    let before = sim.stats("acme").requests;
    // Another endpoint, same account: held at the gate, never sent.
    let c2 = c.clone();
    let held = tokio::time::timeout(
        Duration::from_millis(300),
        async move { c2.list_groups().await },
    )
    .await;
    assert!(held.is_err(), "request went through during the pause");
    let after = sim.stats("acme").requests;
    assert_eq!(before, after);
}

/// Retry-After from injected 429s (1 s) is honoured and the calls still succeed.
#[tokio::test]
async fn injected_429s_are_waited_out() {
    let sim = start_sim(
        Limits::unlimited(),
        faults(0.3, vec![FaultKind::TooManyRequests]),
        3,
    )
    .await;
    let c = client(&sim);
    let start = Instant::now();
    for _ in 0..6 {
        c.me().await.unwrap();
    }
    let throttled = c.gate_status().throttled_total;
    assert!(throttled > 0);
    // Each 429 paused the account for its Retry-After (1 s).
    assert!(start.elapsed() >= Duration::from_secs(throttled));
}

/// Captured log output, shared with the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// At TRACE level the client's logs name account, method, path, ticket and status, and
/// never a token or a comment body.
#[tokio::test]
async fn logs_carry_context_but_no_secret_or_body() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sim = start_sim(
        Limits::unlimited(),
        faults(0.3, vec![FaultKind::InternalError, FaultKind::Drop]),
        5,
    )
    .await;
    let grant = sim.oauth_client("acme", EMAIL);
    let auth = Auth::OAuth {
        client_id: grant.client_id.clone(),
        client_secret: SecretString::from(grant.client_secret.clone()),
        refresh_token: Some(SecretString::from(grant.refresh_token.clone())),
    };
    let store = Arc::new(MemoryTokenStore::new());
    let c = ZendeskClient::new(settings(sim.base_url("acme"), auth), store.clone()).unwrap();
    let t = c
        .create_ticket(
            &TicketWrite {
                subject: Some("s".into()),
                comment: Some(comment("SECRET-BODY-123", true)),
                ..Default::default()
            },
            Some("log-test"),
        )
        .await
        .unwrap();
    let _ = c
        .update_ticket(
            t.ticket.id,
            &TicketWrite {
                comment: Some(comment("SECRET-BODY-456", false)),
                ..Default::default()
            },
            None,
        )
        .await;
    let _ = c.show_ticket(t.ticket.id).await;
    drop(_guard);

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let pair = store.load("acme").unwrap().unwrap();
    for secret in [
        grant.client_secret.as_str(),
        grant.refresh_token.as_str(),
        grant.access_token.as_str(),
        pair.access_token.expose_secret(),
        pair.refresh_token.expose_secret(),
        "SECRET-BODY",
    ] {
        assert!(!text.contains(secret), "log leaks a secret or body");
    }
    assert!(text.contains("account=acme"), "{text}");
    assert!(text.contains(&format!("ticket={}", t.ticket.id)), "{text}");
    assert!(
        text.contains("status=200") || text.contains("status=201"),
        "{text}"
    );
}

/// Deterministic lost answers: every request takes effect and then loses its answer.
/// A create without a key and an update with a comment come back `InDoubt` after one
/// attempt (applied exactly once); a keyed create is retried and the replay is answered
/// from Zendesk's idempotency cache.
#[tokio::test]
async fn lost_answers_are_in_doubt_for_unsafe_writes_only() {
    let sim = start_sim(Limits::unlimited(), FaultSettings::default(), 1).await;
    let c = client(&sim);
    let id = create(&c, "base", "base").await;
    sim.set_faults(Some("acme"), faults(1.0, vec![FaultKind::DropAfterCommit]));

    let err = c
        .create_ticket(&new_ticket("unkeyed", "unkeyed"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ZendeskError::InDoubt { .. }), "{err}");
    let err = c
        .update_ticket(
            id,
            &TicketWrite {
                comment: Some(comment("once", true)),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ZendeskError::InDoubt { .. }), "{err}");
    assert!(err.to_string().contains("read the ticket"), "{err}");
    sim.set_faults(Some("acme"), FaultSettings::default());
    assert_eq!(
        sim.tickets("acme").len(),
        2,
        "the unkeyed create was sent once"
    );
    let bodies: Vec<String> = sim
        .comments("acme", id)
        .into_iter()
        .map(|c| c.body)
        .collect();
    assert_eq!(bodies, vec!["first".to_string(), "once".to_string()]);

    // Keyed create: half the requests lose their answer after committing.
    sim.set_faults(Some("acme"), faults(0.5, vec![FaultKind::DropAfterCommit]));
    let mut replayed = 0;
    for i in 0..6 {
        let t = c
            .create_ticket(
                &new_ticket(&format!("k{i}"), &format!("k{i}")),
                Some(&format!("key-{i}")),
            )
            .await
            .unwrap();
        replayed += usize::from(t.replayed);
    }
    sim.set_faults(Some("acme"), FaultSettings::default());
    assert!(
        replayed > 0,
        "the seed should lose at least one create answer"
    );
    assert_eq!(
        sim.tickets("acme").len(),
        2 + 6,
        "no keyed create duplicated"
    );
}

/// Connection refused: never sent, so retried even for a non-idempotent write, and
/// reported `Transient` (not `InDoubt`) when the retry time runs out.
#[tokio::test]
async fn refused_connections_are_transient_even_for_writes() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut s = settings(format!("http://127.0.0.1:{port}"), api_token());
    s.retry.max_total = Duration::from_millis(300);
    let c = ZendeskClient::new(s, Arc::new(MemoryTokenStore::new())).unwrap();
    let err = c.me().await.unwrap_err();
    assert!(matches!(err, ZendeskError::Transient { .. }), "{err}");
    let err = c
        .create_ticket(&new_ticket("x", "x"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ZendeskError::Transient { .. }), "{err}");
    assert!(err.to_string().contains("attempts"), "{err}");
}

/// Timeouts: reads are retried until the retry time runs out (`Transient`); a comment
/// update that timed out is `InDoubt`, with one attempt only.
#[tokio::test]
async fn timeouts_are_retried_for_reads_and_in_doubt_for_comment_writes() {
    let sim = start_sim(Limits::unlimited(), FaultSettings::default(), 1).await;
    let mut s = settings(sim.base_url("acme"), api_token());
    s.request_timeout = Duration::from_millis(150);
    s.retry.max_total = Duration::from_millis(600);
    let c = ZendeskClient::new(s, Arc::new(MemoryTokenStore::new())).unwrap();
    let id = create(&c, "slow", "slow").await;
    sim.set_faults(
        Some("acme"),
        FaultSettings {
            latency_ms: 400,
            ..faults(0.0, vec![])
        },
    );
    let err = c.show_ticket(id).await.unwrap_err();
    assert!(matches!(err, ZendeskError::Transient { .. }), "{err}");
    assert!(
        !err.to_string().contains("; 1 attempts"),
        "reads are retried: {err}"
    );
    let err = c
        .update_ticket(
            id,
            &TicketWrite {
                comment: Some(comment("slow", true)),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ZendeskError::InDoubt { .. }), "{err}");
    // The comment is there at most once (the simulator drops a request whose client
    // went away during its latency, so it may be absent).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let n = sim
        .comments("acme", id)
        .iter()
        .filter(|c| c.body == "slow")
        .count();
    assert!(n <= 1, "comment applied {n} times");
}

/// The client's own budget: with 4 requests per minute, 4 go at once and the fifth waits
/// at the gate (it does not fail and is not sent).
#[tokio::test]
async fn client_budget_holds_requests_beyond_requests_per_minute() {
    let sim = start_sim(Limits::unlimited(), FaultSettings::default(), 1).await;
    let mut s = settings(sim.base_url("acme"), api_token());
    s.requests_per_minute = 4;
    let c = ZendeskClient::new(s, Arc::new(MemoryTokenStore::new())).unwrap();
    let calls = (0..4).map(|_| {
        let c = c.clone();
        tokio::spawn(async move { c.me().await })
    });
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(c.remaining(), 0);
    assert_eq!(c.gate_status().budget, 4);
    let held = tokio::time::timeout(Duration::from_millis(300), c.me()).await;
    assert!(held.is_err(), "fifth request was not held");
    assert_eq!(sim.stats("acme").requests, 4);
}

/// A token store that fails its first save.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryTokenStore,
    failed_once: Mutex<bool>,
}

impl TokenStore for FlakyStore {
    fn load(&self, account: &str) -> Result<Option<TokenPair>, TokenStoreError> {
        self.inner.load(account)
    }
    fn save(&self, account: &str, pair: &TokenPair) -> Result<(), TokenStoreError> {
        let mut failed = self.failed_once.lock().unwrap();
        if !*failed {
            *failed = true;
            return Err("disk full".into());
        }
        self.inner.save(account, pair)
    }
}

/// A rotated pair that could not be saved is not used; the next call saves it first and
/// then uses it (the old refresh token is already dead at Zendesk, so it must be kept).
#[tokio::test]
async fn unsaved_oauth_pair_is_saved_before_it_is_used() {
    let sim = start_sim(Limits::unlimited(), FaultSettings::default(), 1).await;
    let grant = sim.oauth_client("acme", EMAIL);
    let store = Arc::new(FlakyStore::default());
    let auth = Auth::OAuth {
        client_id: grant.client_id.clone(),
        client_secret: SecretString::from(grant.client_secret.clone()),
        refresh_token: Some(SecretString::from(grant.refresh_token.clone())),
    };
    let c = ZendeskClient::new(settings(sim.base_url("acme"), auth), store.clone()).unwrap();
    sim.reset_stats("acme");
    let err = c.me().await.unwrap_err();
    assert!(matches!(err, ZendeskError::TokenStore { .. }), "{err}");
    assert!(err.to_string().contains("disk full"));
    assert_eq!(
        sim.stats("acme").by_endpoint.get("GET /api/v2/users/me"),
        None,
        "token used before it was saved"
    );
    assert!(store.load("acme").unwrap().is_none());
    c.me().await.unwrap();
    assert!(store.load("acme").unwrap().is_some());
}

/// Zendesk's 5000-comment limit is `CommentLimit`, not retried.
#[tokio::test]
async fn comment_limit_is_classified() {
    let sim = start_sim(Limits::unlimited(), FaultSettings::default(), 1).await;
    let c = client(&sim);
    let id = create(&c, "full", "full").await;
    // Fill the ticket through the simulator's UI helper (no HTTP) to 5000 comments.
    let w = TicketWrite {
        comment: Some(comment("filler", false)),
        ..Default::default()
    };
    for _ in 1..5000 {
        sim.update_ticket("acme", id, "agent@acme.example", &w)
            .unwrap();
    }
    sim.reset_stats("acme");
    let err = c
        .update_ticket(
            id,
            &TicketWrite {
                comment: Some(comment("one too many", true)),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ZendeskError::CommentLimit { .. }), "{err}");
    assert!(err.is_permanent());
    assert_eq!(sim.stats("acme").requests, 1, "not retried");
}

/// The directory reads visibility gathers, the Search API reads `plan` uses, and the
/// read-only handle: it refuses writes before sending them and counts its own attempts
/// while the shared client is used by others.
#[tokio::test]
async fn directory_reads_search_and_the_read_only_handle() {
    let sim = start_sim(Limits::unlimited(), FaultSettings::default(), 1).await;
    let c = client(&sim);
    sim.set_role("acme", "lead@acme.example", "admin");
    sim.set_role("acme", "pat@acme.example", "agent");
    sim.set_role("acme", "customer@example.com", "end-user");
    let tagged = c
        .create_ticket(
            &TicketWrite {
                tags: Some(vec!["vendor_escalation".into()]),
                ..new_ticket("tagged", "t-1")
            },
            None,
        )
        .await
        .unwrap()
        .ticket
        .id;
    create(&c, "plain", "t-2").await;
    let ro = c.read_only();
    let staff = ro.list_staff().await.unwrap();
    let roles: Vec<&str> = staff.iter().map(|u| u.role.as_str()).collect();
    assert!(
        roles.contains(&"admin") && roles.contains(&"agent"),
        "{roles:?}"
    );
    assert!(!roles.contains(&"end-user"), "{roles:?}");
    let memberships = ro.list_brand_agents().await.unwrap();
    assert!(
        memberships
            .iter()
            .any(|m| staff.iter().any(|u| u.id == m.user_id))
    );
    assert!(ro.list_group_memberships().await.unwrap().is_empty());
    ro.list_organizations().await.unwrap();
    let query = "type:ticket tags:vendor_escalation status<closed";
    let page = ro.search_export_page(query, None, 100).await.unwrap();
    assert_eq!(
        page.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![tagged]
    );
    assert!(!page.has_more);
    assert_eq!(ro.search_count(query).await.unwrap(), 1);
    let before = ro.scoped_requests();
    assert_eq!(before, 6, "one request per read");
    // Writes are refused before they are sent; the shared client is not counted here.
    let err = ro.set_tags(tagged, &["x".to_owned()]).await.unwrap_err();
    assert!(err.to_string().contains("only reads"), "{err}");
    c.show_ticket(tagged).await.unwrap();
    assert_eq!(ro.scoped_requests(), before);
    assert_eq!(c.scoped_requests(), 0);
    let stats = sim_stats(&sim).await;
    assert!(
        stats["by_endpoint"]
            .get("POST /api/v2/tickets/{id}/tags")
            .is_none(),
        "{stats}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn downloads_follow_the_redirect_without_credentials() {
    use sharebridge::zendesk::client::uploads::Downloaded;
    let sim = start_sim(Limits::unlimited(), FaultSettings::default(), 1).await;
    let c = client(&sim);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    // Streamed up from a file.
    let mut src = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut src, &data).unwrap();
    let upload = c
        .upload_file(
            "private.bin",
            "application/octet-stream",
            &src,
            data.len() as u64,
        )
        .await
        .unwrap();
    assert_eq!(upload.attachment.size, data.len() as u64);
    // Not yet on a comment: private, so content_url needs the account's credentials; it
    // redirects to the file host, which must not get them.
    let url = upload.attachment.content_url.clone();
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(anonymous.get(&url).send().await.unwrap().status(), 401);
    let mut dst = tempfile::tempfile().unwrap();
    let got = c.download_to_file(&url, 1_000_000, &mut dst).await.unwrap();
    assert_eq!(got, Downloaded::Stored(data.len() as u64));
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut dst, &mut back).unwrap();
    assert_eq!(back, data);
    let stats = sim.stats("acme");
    assert_eq!(stats.file_downloads, 1);
    assert_eq!(stats.file_downloads_with_credentials, 0, "{stats:?}");
    // Over the limit: stopped, nothing usable kept.
    assert_eq!(
        c.download_to_file(&url, 1_000, &mut dst).await.unwrap(),
        Downloaded::TooLarge
    );
    // A client that forwards credentials on the redirect is seen by the file host.
    let leaky = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let auth = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{EMAIL}/token:{TOKEN}")
        )
    );
    let r = leaky
        .get(&url)
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert_ne!(
        reqwest::Url::parse(&location).unwrap().port(),
        reqwest::Url::parse(&url).unwrap().port(),
        "the file host is another origin"
    );
    let r = leaky
        .get(&location)
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(sim.stats("acme").file_downloads_with_credentials, 1);
    // An unknown grant on the file host is a 404.
    let bad = location.replacen("/acme/", "/acme/x", 1);
    assert_eq!(anonymous.get(&bad).send().await.unwrap().status(), 404);
}
