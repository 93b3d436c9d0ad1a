//! The one place that knows the table names and the key layout of the store.
//!
//! Every table is a plain ordered map from bytes to bytes; this file says which tables
//! exist and how a key is spelled in each. Keys are order-preserving: integers are
//! big-endian `u64`, strings are a big-endian `u32` length followed by their UTF-8
//! bytes, small enumerations are one byte. A prefix of a key (its first components)
//! therefore selects a contiguous range, which is how the secondary indexes are scanned.
//!
//! Architecture invariant: nothing outside `store/` sees these bytes, and nothing in
//! `store/` other than this file builds or parses them. Changing a layout means a new
//! schema version and a migration (see `schema.rs`). No values are encoded here.

use std::ops::Bound;

use super::records::{Flow, LinkState};

/// `meta`: string name → JSON value (schema version, who created the file).
pub(super) const META: &str = "meta";
/// `sequences`: sequence name → last value handed out (JSON number).
pub(super) const SEQUENCES: &str = "sequences";
/// `agreements`: agreement name → `AgreementRecord`.
pub(super) const AGREEMENTS: &str = "agreements";
/// `agreement_history`: (agreement name, seq) → `AgreementTransition`.
pub(super) const AGREEMENT_HISTORY: &str = "agreement_history";
/// `links`: link id → `Link`.
pub(super) const LINKS: &str = "links";
/// `links_by_source`: (source account, source ticket, agreement) → link id, for live
/// (non-orphaned) links only.
pub(super) const LINKS_BY_SOURCE: &str = "links_by_source";
/// `links_by_target`: (target account, target ticket) → link id, once the mirror exists.
pub(super) const LINKS_BY_TARGET: &str = "links_by_target";
/// `links_by_state`: (state byte, link id) → `null`.
pub(super) const LINKS_BY_STATE: &str = "links_by_state";
/// `comment_map`: (link id, flow, source comment id) → `CommentMapping`.
pub(super) const COMMENT_MAP: &str = "comment_map";
/// `mirror_comments`: (account written to, mirror comment id) → `MirrorCommentRef`.
pub(super) const MIRROR_COMMENTS: &str = "mirror_comments";
/// `intents`: (link id, flow) → `PendingWrite` (at most one per link and flow).
pub(super) const INTENTS: &str = "intents";
/// `watermarks`: (link id, flow) → `Watermark`.
pub(super) const WATERMARKS: &str = "watermarks";
/// `cursors`: (account, stream) → cursor string.
pub(super) const CURSORS: &str = "cursors";
/// `oauth_tokens`: account → `OAuthTokens`.
pub(super) const OAUTH_TOKENS: &str = "oauth_tokens";
/// `connections`: account → `Connection` (what `sharebridge connect` set up). Added
/// without a schema change: every open creates missing tables, and a file without it
/// reads as holding no connection.
pub(super) const CONNECTIONS: &str = "connections";
/// `audit`: seq → `AuditEntry`.
pub(super) const AUDIT: &str = "audit";
/// `orphans`: link id → `Orphan`.
pub(super) const ORPHANS: &str = "orphans";

/// Every table of the current schema, in the order a backup copies them.
pub(super) const ALL_TABLES: &[&str] = &[
    META,
    SEQUENCES,
    AGREEMENTS,
    AGREEMENT_HISTORY,
    LINKS,
    LINKS_BY_SOURCE,
    LINKS_BY_TARGET,
    LINKS_BY_STATE,
    COMMENT_MAP,
    MIRROR_COMMENTS,
    INTENTS,
    WATERMARKS,
    CURSORS,
    OAUTH_TOKENS,
    CONNECTIONS,
    AUDIT,
    ORPHANS,
];

/// Names in the `meta` table.
pub(super) const META_SCHEMA_VERSION: &str = "schema_version";
pub(super) const META_CREATED_BY: &str = "created_by";

/// Names in the `sequences` table.
pub(super) const SEQ_LINK: &str = "link";
pub(super) const SEQ_AUDIT: &str = "audit";
pub(super) const SEQ_AGREEMENT_HISTORY: &str = "agreement_history";
pub(super) const SEQ_WRITE: &str = "write";

/// An order-preserving key under construction.
#[derive(Default)]
struct KeyBuf(Vec<u8>);

impl KeyBuf {
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }

    fn str(mut self, s: &str) -> Self {
        // A name longer than 4 GiB is not a name; saturating keeps the layout total.
        let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self
    }

    fn done(self) -> Vec<u8> {
        self.0
    }
}

/// Reads the components of a key back, in the order they were written.
pub(super) struct KeyReader<'a>(&'a [u8]);

impl<'a> KeyReader<'a> {
    pub(super) fn new(key: &'a [u8]) -> Self {
        Self(key)
    }

    pub(super) fn u64(&mut self) -> Option<u64> {
        let (head, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(u64::from_be_bytes(*head))
    }

    pub(super) fn u8(&mut self) -> Option<u8> {
        let (head, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*head)
    }

    pub(super) fn str(&mut self) -> Option<&'a str> {
        let (len, rest) = self.0.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        if rest.len() < len {
            return None;
        }
        let (s, rest) = rest.split_at(len);
        self.0 = rest;
        std::str::from_utf8(s).ok()
    }
}

/// A key rendered for an error message: printable ASCII as is, other bytes escaped.
pub(super) fn render(key: &[u8]) -> String {
    key.escape_ascii().to_string()
}

/// The bounds selecting every key that starts with `prefix`.
pub(super) fn prefix_bounds(prefix: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return (Bound::Included(prefix.to_vec()), Bound::Excluded(end));
        }
    }
    (Bound::Included(prefix.to_vec()), Bound::Unbounded)
}

pub(super) fn name(name: &str) -> Vec<u8> {
    KeyBuf::default().str(name).done()
}

pub(super) fn id(id: u64) -> Vec<u8> {
    KeyBuf::default().u64(id).done()
}

pub(super) fn agreement_history(agreement: &str, seq: u64) -> Vec<u8> {
    KeyBuf::default().str(agreement).u64(seq).done()
}

pub(super) fn agreement_history_prefix(agreement: &str) -> Vec<u8> {
    KeyBuf::default().str(agreement).done()
}

pub(super) fn link_source(account: &str, ticket: u64, agreement: &str) -> Vec<u8> {
    KeyBuf::default()
        .str(account)
        .u64(ticket)
        .str(agreement)
        .done()
}

pub(super) fn link_source_prefix(account: &str, ticket: u64) -> Vec<u8> {
    KeyBuf::default().str(account).u64(ticket).done()
}

pub(super) fn link_target(account: &str, ticket: u64) -> Vec<u8> {
    KeyBuf::default().str(account).u64(ticket).done()
}

fn state_byte(state: LinkState) -> u8 {
    match state {
        LinkState::Active => 1,
        LinkState::Orphaned => 2,
        LinkState::Error => 3,
    }
}

pub(super) fn link_state(state: LinkState, link: u64) -> Vec<u8> {
    KeyBuf::default().u8(state_byte(state)).u64(link).done()
}

pub(super) fn link_state_prefix(state: LinkState) -> Vec<u8> {
    KeyBuf::default().u8(state_byte(state)).done()
}

/// The id part of a `links_by_state` key.
pub(super) fn link_state_id(key: &[u8]) -> Option<u64> {
    let mut r = KeyReader::new(key);
    r.u8()?;
    r.u64()
}

fn flow_byte(flow: Flow) -> u8 {
    match flow {
        Flow::SourceToTarget => 1,
        Flow::TargetToSource => 2,
    }
}

pub(super) fn comment_map(link: u64, flow: Flow, source_comment: u64) -> Vec<u8> {
    KeyBuf::default()
        .u64(link)
        .u8(flow_byte(flow))
        .u64(source_comment)
        .done()
}

pub(super) fn link_flow(link: u64, flow: Flow) -> Vec<u8> {
    KeyBuf::default().u64(link).u8(flow_byte(flow)).done()
}

pub(super) fn mirror_comment(account: &str, comment: u64) -> Vec<u8> {
    KeyBuf::default().str(account).u64(comment).done()
}

pub(super) fn cursor(account: &str, stream: &str) -> Vec<u8> {
    KeyBuf::default().str(account).str(stream).done()
}

pub(super) fn cursor_prefix(account: &str) -> Vec<u8> {
    KeyBuf::default().str(account).done()
}

/// The (account, stream) of a `cursors` key.
pub(super) fn parse_cursor(key: &[u8]) -> Option<(String, String)> {
    let mut r = KeyReader::new(key);
    let account = r.str()?.to_owned();
    let stream = r.str()?.to_owned();
    Some((account, stream))
}

/// The name of a key made by [`name`].
pub(super) fn parse_name(key: &[u8]) -> Option<String> {
    KeyReader::new(key).str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_sort_numerically() {
        assert!(id(2) < id(10));
        assert!(id(255) < id(256));
        assert!(comment_map(1, Flow::SourceToTarget, 9) < comment_map(1, Flow::SourceToTarget, 10));
    }

    #[test]
    fn prefix_selects_exactly_its_keys() {
        let (lo, hi) = prefix_bounds(&link_source_prefix("acme", 7));
        let inside = link_source("acme", 7, "a-to-b");
        let outside = link_source("acme", 8, "a-to-b");
        let contains = |k: &Vec<u8>| {
            matches!(&lo, Bound::Included(l) if k >= l)
                && match &hi {
                    Bound::Excluded(h) => k < h,
                    _ => true,
                }
        };
        assert!(contains(&inside));
        assert!(!contains(&outside));
        assert_eq!(
            prefix_bounds(&[0xff, 0xff]).1,
            Bound::Unbounded,
            "an all-0xff prefix runs to the end"
        );
    }

    #[test]
    fn keys_parse_back() {
        assert_eq!(
            parse_cursor(&cursor("acme", "tickets")),
            Some(("acme".into(), "tickets".into()))
        );
        assert_eq!(link_state_id(&link_state(LinkState::Error, 5)), Some(5));
        assert_eq!(parse_name(&name("x")), Some("x".into()));
        assert_eq!(
            parse_cursor(b"\x00\x00\x00\x09ab"),
            None,
            "short key is rejected"
        );
    }
}
