//! Webhook load: 200 signed deliveries per second for 60 s (`SHAREBRIDGE_LOAD_SECONDS`
//! changes the length) against the daemon in-process. Every delivery must be answered
//! 202 within Zendesk's 10 s delivery timeout (the client gives up after 10 s, which fails
//! the test), and none may be lost: every ticket tagged during the load and announced by
//! one webhook must end up shared.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{AGENT_A, Setup, new_ticket};
use sharebridge::daemon;
use sharebridge::zendesk::models::TicketWrite;
use sharebridge::zendesk::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};

const SECRET: &str = "load-secret";
const RATE_PER_S: u64 = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_webhooks_a_second_none_lost() {
    let seconds: u64 = std::env::var("SHAREBRIDGE_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let sim = common::simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let text = common::config_text(&sim, &Setup::default())
        .replace(
            "state_dir = \"unused\"",
            &format!("state_dir = {:?}", dir.path().join("state")),
        )
        .replace(
            "email = \"bridge@acme.example\"",
            &format!("email = \"bridge@acme.example\"\nwebhook_secret = \"{SECRET}\""),
        );
    let running = daemon::start(common::load(dir.path(), &text), listener)
        .await
        .unwrap();

    // Background tickets the noise webhooks point at, and the ones tagged during the load.
    let noise: Vec<u64> = (0..200)
        .map(|i| {
            sim.create_ticket("acme", AGENT_A, &new_ticket(&format!("n{i}"), "x", &[]))
                .unwrap()
                .id
        })
        .collect();
    let tagged_total = (seconds * 5).max(10);
    let to_tag: Vec<u64> = (0..tagged_total)
        .map(|i| {
            sim.create_ticket("acme", AGENT_A, &new_ticket(&format!("t{i}"), "y", &[]))
                .unwrap()
                .id
        })
        .collect();

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("http://{addr}/webhooks/acme");
    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let total = seconds * RATE_PER_S;
    let every = total / tagged_total;
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / RATE_PER_S));
    let mut deliveries = tokio::task::JoinSet::new();
    for n in 0..total {
        ticker.tick().await;
        let ticket = if n % every == 0 && ((n / every) as usize) < to_tag.len() {
            let t = to_tag[(n / every) as usize];
            sim.update_ticket(
                "acme",
                t,
                AGENT_A,
                &TicketWrite {
                    additional_tags: Some(vec!["vendor_escalation".into()]),
                    ..Default::default()
                },
            )
            .unwrap();
            t
        } else {
            noise[(n as usize) % noise.len()]
        };
        let (http, url, sent, failed) = (http.clone(), url.clone(), sent.clone(), failed.clone());
        deliveries.spawn(async move {
            let body = format!("{{\"ticket_id\": {ticket}}}");
            let ts = jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            let r = http
                .post(&url)
                .header(TIMESTAMP_HEADER, &ts)
                .header(
                    SIGNATURE_HEADER,
                    sign(SECRET.as_bytes(), &ts, body.as_bytes()),
                )
                .body(body)
                .send()
                .await;
            match r {
                Ok(r) if r.status().as_u16() == 202 => sent.fetch_add(1, Ordering::Relaxed),
                _ => failed.fetch_add(1, Ordering::Relaxed),
            };
        });
        while deliveries.try_join_next().is_some() {}
    }
    while deliveries.join_next().await.is_some() {}
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "every delivery answered 202 within 10 s"
    );
    assert_eq!(sent.load(Ordering::Relaxed), total);
    assert!(
        running.engine.settle(Duration::from_secs(120)).await,
        "the engine caught up"
    );
    let shared: std::collections::BTreeSet<u64> = running
        .engine
        .store()
        .links()
        .unwrap()
        .into_iter()
        .map(|l| l.source_ticket)
        .collect();
    let lost: Vec<u64> = to_tag
        .iter()
        .copied()
        .filter(|t| !shared.contains(t))
        .collect();
    assert!(
        lost.is_empty(),
        "tickets announced by a webhook but never shared: {lost:?}"
    );
    running.stop().await.unwrap();
}
