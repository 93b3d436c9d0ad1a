//! Zendesk webhook signing: `base64(HMAC-SHA256(secret, timestamp + body))`, sent in
//! `X-Zendesk-Webhook-Signature` with the ISO-8601 UTC timestamp in
//! `X-Zendesk-Webhook-Signature-Timestamp`. Pure functions: the simulator signs, the server
//! verifies. Verification compares in constant time (`Mac::verify_slice`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "X-Zendesk-Webhook-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Zendesk-Webhook-Signature-Timestamp";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(body);
    mac
}

/// The signature Zendesk would send for this body at this timestamp.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    STANDARD.encode(mac(secret, timestamp, body).finalize().into_bytes())
}

/// Whether `signature` (base64) is right for `timestamp` + `body`; constant time.
pub fn verify(secret: &[u8], timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Ok(raw) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&raw).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify() {
        let sig = sign(b"s3cret", "2026-11-23T05:29:05Z", br#"{"ticket_id":1}"#);
        assert!(verify(
            b"s3cret",
            "2026-11-23T05:29:05Z",
            br#"{"ticket_id":1}"#,
            &sig
        ));
        assert!(!verify(
            b"other",
            "2026-11-23T05:29:05Z",
            br#"{"ticket_id":1}"#,
            &sig
        ));
        assert!(!verify(
            b"s3cret",
            "2026-11-23T05:29:06Z",
            br#"{"ticket_id":1}"#,
            &sig
        ));
        assert!(!verify(
            b"s3cret",
            "2026-11-23T05:29:05Z",
            br#"{"ticket_id":2}"#,
            &sig
        ));
        assert!(!verify(
            b"s3cret",
            "2026-11-23T05:29:05Z",
            b"",
            "not base64!"
        ));
    }

    #[test]
    fn known_vector() {
        // HMAC-SHA256(key="secret", msg="2026-01-01T00:00:00Z{}") computed independently.
        let sig = sign(b"secret", "2026-01-01T00:00:00Z", b"{}");
        assert_eq!(sig, "AA6OcV+iSrr+EN/6UKF2Epg8Hd3gMK9dhFNRr/gXDgA=");
        assert!(verify(b"secret", "2026-01-01T00:00:00Z", b"{}", &sig));
    }
}
