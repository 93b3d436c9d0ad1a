//! A `Retry-After` header of any content: parsed or ignored, and the pause it yields goes
//! through the rate gate and the retry delay without overflowing.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sharebridge::zendesk::client::error::{MAX_RETRY_AFTER, classify, parse_retry_after};
use sharebridge::zendesk::client::gate::{EndpointLimits, GateState};
use sharebridge::zendesk::client::retry::next_delay;
use sharebridge::zendesk::client::{RequestContext, ZendeskError};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Some(d) = parse_retry_after(&text) else {
        return;
    };
    assert!(d <= MAX_RETRY_AFTER);
    let now = tokio::time::Instant::now();
    let mut gate = GateState::new(100, EndpointLimits::default());
    assert_eq!(gate.on_throttled(Some(d), now), d);
    gate.pause(d, now);
    let _ = classify(429, None, Some(d));
    let err = ZendeskError::RateLimited {
        ctx: RequestContext {
            account: "a".into(),
            method: "GET".into(),
            path: "/".into(),
            ticket: None,
        },
        retry_after: Some(d),
    };
    let _ = next_delay(
        &err,
        Some(Duration::from_secs(1)),
        Duration::from_secs(30),
        Duration::from_secs(60),
    );
});
