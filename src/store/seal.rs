//! Sealing the secrets the store keeps (OAuth pairs, webhook signing secrets) when the
//! operator gives a key (`daemon.store_key`, a file or a systemd credential).
//!
//! A sealed value is the text `sealed:v1:` followed by base64url of a random 96-bit nonce
//! and the ChaCha20-Poly1305 ciphertext with its tag (ring's AEAD; nothing home-made).
//! The key is derived from the operator's material with HKDF-SHA256, and each value is
//! bound to where it lives (table, account, field) as associated data, so a sealed
//! value copied to another record does not open. A value without the prefix is clear
//! text (written before a key was set) and is read as is; it is sealed the next time it
//! is written.
//!
//! Must not: log or put in an error any part of a key, a clear value or a sealed value.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};

const PREFIX: &str = "sealed:v1:";
const SALT: &[u8] = b"sharebridge store seal v1";

/// Why a value could not be sealed or opened (never the value itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealError {
    /// The value is sealed but no key is configured.
    NoKey,
    /// The value does not open with this key (another key sealed it, or it was altered).
    WrongKey,
    /// The value has the prefix but not the layout.
    Malformed,
    /// The system's random generator failed.
    Random,
}

impl std::fmt::Display for SealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SealError::NoKey => {
                "it is sealed, and daemon.store_key (the key that sealed it) is not set"
            }
            SealError::WrongKey => {
                "it does not open with daemon.store_key: another key sealed it (restore that key, or run `sharebridge connect` again to replace it)"
            }
            SealError::Malformed => "its sealed form is damaged",
            SealError::Random => "the system's random number generator failed",
        })
    }
}

/// Seals and opens values with one key.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// A sealer whose key is derived from `material` (what the operator gave; at least
    /// 16 bytes of it, checked by the configuration).
    pub fn new(material: &[u8]) -> Sealer {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(material);
        let okm = prk
            .expand(&[b"chacha20-poly1305"], &CHACHA20_POLY1305)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Sealer {
            key: LessSafeKey::new(UnboundKey::from(okm)),
            rng: SystemRandom::new(),
        }
    }

    /// `clear` sealed for the place `aad` names.
    pub fn seal(&self, clear: &str, aad: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut buf = clear.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut buf,
            )
            .map_err(|_| SealError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }
}

/// Whether `value` is sealed.
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(PREFIX)
}

/// Opens `value` (sealed for `aad`) with `sealer`; clear text comes back as is.
pub fn open(sealer: Option<&Sealer>, value: &str, aad: &str) -> Result<String, SealError> {
    let Some(body) = value.strip_prefix(PREFIX) else {
        return Ok(value.to_owned());
    };
    let sealer = sealer.ok_or(SealError::NoKey)?;
    let raw = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| SealError::Malformed)?;
    if raw.len() < NONCE_LEN + CHACHA20_POLY1305.tag_len() {
        return Err(SealError::Malformed);
    }
    let (nonce, sealed) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Malformed)?;
    let mut buf = sealed.to_vec();
    let clear = sealer
        .key
        .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
        .map_err(|_| SealError::WrongKey)?;
    String::from_utf8(clear.to_vec()).map_err(|_| SealError::Malformed)
}

/// Seals `clear` when there is a sealer, else keeps it clear.
pub fn seal_if(sealer: Option<&Sealer>, clear: &str, aad: &str) -> Result<String, SealError> {
    match sealer {
        Some(s) => s.seal(clear, aad),
        None => Ok(clear.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let s = Sealer::new(b"0123456789abcdef0123456789abcdef");
        let sealed = s
            .seal("refresh-secret", "oauth_tokens/acme/refresh")
            .unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("refresh-secret"));
        assert_eq!(
            open(Some(&s), &sealed, "oauth_tokens/acme/refresh").unwrap(),
            "refresh-secret"
        );
        // Two seals of one value differ (random nonces).
        assert_ne!(
            sealed,
            s.seal("refresh-secret", "oauth_tokens/acme/refresh")
                .unwrap()
        );
        // Bound to its place, its key, and intact.
        assert_eq!(
            open(Some(&s), &sealed, "oauth_tokens/vendor/refresh"),
            Err(SealError::WrongKey)
        );
        let other = Sealer::new(b"another key, also long enough");
        assert_eq!(
            open(Some(&other), &sealed, "oauth_tokens/acme/refresh"),
            Err(SealError::WrongKey)
        );
        assert_eq!(
            open(None, &sealed, "oauth_tokens/acme/refresh"),
            Err(SealError::NoKey)
        );
        let mut tampered = sealed.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(open(Some(&s), &tampered, "oauth_tokens/acme/refresh").is_err());
        assert_eq!(
            open(Some(&s), "sealed:v1:AAAA", "x"),
            Err(SealError::Malformed)
        );
        // Clear text written before a key was set reads as is.
        assert_eq!(open(Some(&s), "plain", "x").unwrap(), "plain");
        assert_eq!(seal_if(None, "plain", "x").unwrap(), "plain");
        // Messages carry no secret.
        for e in [SealError::NoKey, SealError::WrongKey, SealError::Malformed] {
            assert!(!e.to_string().contains("refresh-secret"));
        }
    }
}
