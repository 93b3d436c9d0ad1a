//! The plain records the store persists, as serde types.
//!
//! These are data, not behaviour: the engine decides what a link's state or an
//! agreement's transition should be; the store only keeps what it is told. No Zendesk
//! wire types, no sync decisions, no storage-engine types here. Field names double as
//! the JSON shapes of DESIGN.md §2 where a record is shown to users (links, orphans,
//! audit, agreements), so renaming a field is a schema change.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The instant type used by every record.
pub type Timestamp = jiff::Timestamp;

/// Lifecycle state of a sharing agreement (DESIGN.md §1): the pure core's type.
pub use crate::agreement::State as AgreementState;

/// The current state of one agreement, keyed by its name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementRecord {
    pub state: AgreementState,
    /// When the agreement entered `state`.
    pub since: Timestamp,
    /// Why, in words an operator reads: "as per config conf.d/vendor.toml".
    pub cause: String,
    /// The sending account (kept so a removed agreement can still be derived).
    #[serde(default)]
    pub from: String,
    /// The receiving account.
    #[serde(default)]
    pub to: String,
    /// Who made it inactive, when it is.
    #[serde(default)]
    pub inactive_by: Option<crate::agreement::InactiveBy>,
}

/// One recorded transition of an agreement; the history is append-only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementTransition {
    /// Store-wide increasing sequence number of the transition.
    pub seq: u64,
    pub agreement: String,
    /// `None` for the first state the store saw.
    pub from: Option<AgreementState>,
    pub to: AgreementState,
    pub at: Timestamp,
    pub cause: String,
}

/// Which way changes flow on a link (DESIGN.md §1): the pure core's type.
pub use crate::link::Direction;

/// Whether a link is syncing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    Active,
    Orphaned,
    Error,
}

/// One direction of travel on a link (the pure core's type): `SourceToTarget` mirrors
/// the source ticket into the mirror, `TargetToSource` (two-way links only) mirrors
/// replies made on the mirror back into the source ticket.
pub use crate::link::Flow;

/// One shared ticket: (source account, source ticket) ↔ (target account, mirror ticket).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Allocated by the store, increasing, never reused.
    pub id: u64,
    /// The agreement (`from` = source account) the link was made under.
    pub agreement: String,
    pub source_account: String,
    pub source_ticket: u64,
    pub target_account: String,
    /// The mirror ticket; `None` while the mirror is being created.
    pub target_ticket: Option<u64>,
    pub direction: Direction,
    pub state: LinkState,
    /// Why the link is in state `error` (or what last went wrong).
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_synced_at: Option<Timestamp>,
    /// Sent with the request creating the mirror, so a retried create is not doubled.
    /// Derived by the store from the link id, agreement and source ticket.
    pub idempotency_key: String,
    /// What did not cross at the last step of each flow that judged it (ids only): a
    /// value with no mapping, a mapped field, group or form the receiver lacks, a type
    /// mismatch. The link stays active; the rest crossed.
    #[serde(default)]
    pub mismatches: Vec<crate::system::Mismatch>,
    /// Shared by hand while the source carried none of the agreement's auto-share tags:
    /// a tag it never had cannot be removed, so `unshare_on_tag_removal` leaves it be
    /// until the source gains one (the engine clears this then).
    #[serde(default)]
    pub untagged_share: bool,
}

/// What the engine knows when it asks for a link; the store fills in the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLink {
    pub agreement: String,
    pub source_account: String,
    pub source_ticket: u64,
    pub target_account: String,
    pub direction: Direction,
    pub created_at: Timestamp,
    /// See [`Link::untagged_share`].
    pub untagged_share: bool,
}

/// The answer to [`super::Store::create_link`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkAllocation {
    pub link: Link,
    /// `false` when a live link for the same source ticket and agreement already existed
    /// and is returned instead of a new one.
    pub created: bool,
}

/// How many links are in each state (for metrics and the status page).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCounts {
    pub active: u64,
    pub orphaned: u64,
    pub error: u64,
}

/// Recorded for each mirrored source comment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentMapping {
    pub source_comment: u64,
    /// The comment written by the bridge; several source comments may share one.
    pub mirror_comment: u64,
    pub at: Timestamp,
}

/// Recorded for each comment the bridge wrote, by the account it was written in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorCommentRef {
    pub link: u64,
    pub flow: Flow,
    /// The source comments it carries, in order.
    pub source_comments: Vec<u64>,
}

/// A Zendesk write the engine is about to make (the outbox): recorded before the write,
/// cleared with its result by [`super::Store::commit_mirrored`]. Any left after a crash
/// are listed by [`super::Store::pending_writes`] so the engine can read the mirror and
/// reconcile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingWrite {
    pub link: u64,
    pub flow: Flow,
    /// The source comments the write carries, in order; empty for a field-only update.
    pub source_comments: Vec<u64>,
    /// What the write carries to be recognised later (the engine puts it in the update's
    /// `metadata.custom`; opaque here).
    pub marker: String,
    /// When the write was recorded, just before it was sent.
    pub created_at: Timestamp,
    /// Comments a webhook carried, sent before the sender's comments were read: once
    /// recorded they are mirrored, but the watermark stays until a complete read (or
    /// the export) vouches that nothing before them was missed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ahead: bool,
    /// An orphan's note (mirrors no source comment).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub note: bool,
    /// For a write that changes the ticket (status, tags, fields): what both flows'
    /// baselines become once it landed, so that a crash or a lost answer never leaves the
    /// reverse flow taking the bridge's own change for the partner's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Snapshots>,
}

/// The baselines a landed write leaves (opaque here, as [`Watermark::snapshot`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshots {
    /// The sending side's, for the write's own flow.
    pub sender: serde_json::Value,
    /// The receiving side's, for the reverse flow.
    pub receiver: serde_json::Value,
}

impl PendingWrite {
    /// The marker older stores gave an orphan note's pending write.
    pub const LEGACY_NOTE: &'static str = "orphan-note";

    /// Whether this is an orphan note (mirrors no source comment).
    pub fn is_note(&self) -> bool {
        self.note || self.marker == Self::LEGACY_NOTE
    }
}

/// How far a link has been mirrored in one flow.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    /// The highest source comment id recorded as mirrored.
    pub last_source_comment: Option<u64>,
    /// The last seen fields/status/tags of the source side, as the engine shaped it.
    pub snapshot: Option<serde_json::Value>,
    pub updated_at: Option<Timestamp>,
}

/// An OAuth access/refresh pair. `Debug` never shows the tokens; the caller wraps them
/// in `secrecy` types as soon as it reads them. The tokens are sealed in the file when
/// `daemon.store_key` is set (see `seal.rs`); the record here is always the clear one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthTokens {
    pub access_token: String,
    pub refresh_token: String,
    /// When the access token expires.
    pub expires_at: Timestamp,
    /// When the refresh token expires, if Zendesk said.
    #[serde(default)]
    pub refresh_expires_at: Option<Timestamp>,
    /// When Zendesk issued the pair.
    #[serde(default)]
    pub issued_at: Option<Timestamp>,
}

impl fmt::Debug for OAuthTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthTokens")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

/// What `sharebridge connect` set up for one account: who the bridge signed in as, and
/// the webhook it manages there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// `authorization_code` or `client_credentials`.
    pub grant: String,
    /// The Zendesk user the bridge acts as (`users/me` right after signing in).
    pub user_id: u64,
    #[serde(default)]
    pub user_email: Option<String>,
    #[serde(default)]
    pub user_name: String,
    /// The user's role then (`admin`, `agent`).
    #[serde(default)]
    pub user_role: String,
    /// When `connect` last signed in.
    pub connected_at: Timestamp,
    /// The webhook `connect` created or updated, if any.
    #[serde(default)]
    pub webhook: Option<WebhookRecord>,
}

/// The account's webhook as `connect` left it. `Debug` hides the signing secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRecord {
    /// Zendesk's webhook id (a string such as `01GC8EF2W3QZVQ8EZ6PH9NDYXD`).
    pub id: String,
    pub name: String,
    /// Where it posts: `{public_url}/webhooks/{account}`.
    pub endpoint: String,
    /// The event types it is subscribed to.
    pub subscriptions: Vec<String>,
    /// Its signing secret, read through the Webhooks API: the daemon verifies this
    /// account's deliveries with it unless the configuration sets `webhook_secret`.
    pub signing_secret: String,
    /// When `connect` last checked it.
    pub checked_at: Timestamp,
}

impl fmt::Debug for WebhookRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("subscriptions", &self.subscriptions)
            .field("signing_secret", &"[redacted]")
            .field("checked_at", &self.checked_at)
            .finish()
    }
}

/// What an audit entry is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditKind {
    Agreement,
    Share,
    Unshare,
    Orphan,
    Error,
    Resync,
    Config,
    /// A comment's privacy followed to a mirror (made private, redacted).
    Privacy,
    /// A kind this build does not know (never written by it).
    #[serde(other)]
    Other,
}

/// An audit entry before the store numbers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAudit {
    pub at: Timestamp,
    pub kind: AuditKind,
    /// What it is about: an agreement name, "link 42", "acme#123".
    pub subject: String,
    /// The sentence an operator reads, with the cause or actor and a reference.
    pub detail: String,
}

/// One audit log entry (DESIGN.md §2 `at, kind, subject, detail`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Increasing, never reused: the order entries were appended.
    pub seq: u64,
    pub at: Timestamp,
    pub kind: AuditKind,
    pub subject: String,
    pub detail: String,
}

/// A mirror ticket whose link has ended (DESIGN.md §2 orphans shape).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orphan {
    pub link: u64,
    pub source_account: String,
    pub source_ticket: u64,
    pub target_account: String,
    pub target_ticket: Option<u64>,
    /// Short reason as the engine names it: "unshare", "agreement declined", ….
    pub reason: String,
    pub since: Timestamp,
    pub detail: String,
    /// The mirror's tag and note are still owed (the engine says so; cleared once the
    /// note is recorded as written). Kept apart from the pending-write slot, which a
    /// comment write of the link may hold when the link ends.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub note_owed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_use_the_documented_spellings() {
        fn s<T: Serialize>(v: &T) -> String {
            serde_json::to_string(v).unwrap()
        }
        assert_eq!(s(&Direction::OneWay), "\"one-way\"");
        assert_eq!(s(&Direction::TwoWay), "\"two-way\"");
        assert_eq!(s(&LinkState::Orphaned), "\"orphaned\"");
        assert_eq!(s(&AgreementState::Inactive), "\"inactive\"");
        assert_eq!(s(&AuditKind::Unshare), "\"unshare\"");
        let unknown: AuditKind = serde_json::from_str("\"teleport\"").unwrap();
        assert_eq!(unknown, AuditKind::Other);
    }

    #[test]
    fn tokens_are_redacted_in_debug() {
        let t = OAuthTokens {
            access_token: "acc-secret".into(),
            refresh_token: "ref-secret".into(),
            expires_at: Timestamp::UNIX_EPOCH,
            refresh_expires_at: None,
            issued_at: None,
        };
        let shown = format!("{t:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
