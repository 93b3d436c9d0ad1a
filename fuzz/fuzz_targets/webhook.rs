//! Webhook deliveries: `ticket_id` on the raw body, and `verify` with the first two lines
//! of the input as timestamp and signature headers and the rest as the body (and once more
//! correctly signed). Never a panic; a correct, fresh signature is accepted.
#![no_main]

use jiff::Timestamp;
use libfuzzer_sys::fuzz_target;
use sharebridge::server::webhook::{MAX_SKEW, Rejection, ticket_id, verify};
use sharebridge::zendesk::signature;

fuzz_target!(|data: &[u8]| {
    if let Some(id) = ticket_id(data) {
        assert!(id > 0);
    }
    let mut lines = data.splitn(3, |&b| b == b'\n');
    let ts = lines.next().map(String::from_utf8_lossy);
    let sig = lines.next().map(String::from_utf8_lossy);
    let body = lines.next().unwrap_or_default();
    let now: Timestamp = "2026-11-23T05:30:00Z".parse().unwrap();
    let secret = b"fuzz-secret";
    let _ = verify(secret, ts.as_deref(), sig.as_deref(), body, now);
    if let Some(ts) = ts.as_deref() {
        let good = signature::sign(secret, ts, body);
        let got = verify(secret, Some(ts), Some(&good), body, now);
        let fresh = ts
            .trim()
            .parse::<Timestamp>()
            .is_ok_and(|at| now.duration_since(at).abs() <= MAX_SKEW);
        assert_eq!(got.is_ok(), fresh, "{got:?}");
        if !fresh {
            assert_eq!(got, Err(Rejection::StaleTimestamp));
        }
    }
});
