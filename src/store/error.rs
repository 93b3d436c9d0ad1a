//! `StoreError`: every way a store operation fails, each naming the file and the
//! operation, worded for the operator who will read it in a log.
//!
//! Must not expose storage-engine types: engine errors arrive here as text and an
//! optional boxed source, so callers branch on our variants only.

use std::path::PathBuf;

/// A boxed underlying cause.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `open_existing` or read-only inspection of a file that is not there.
    #[error("store {path} does not exist ({op})")]
    Missing { path: PathBuf, op: &'static str },

    /// The file (or a backup destination) could not be read or written.
    #[error("store {path}: {op} failed: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// Another process holds the store open.
    #[error(
        "store {path} is in use by another process ({op}); is another sharebridge running with the same state_dir?"
    )]
    Locked { path: PathBuf, op: &'static str },

    /// A read-only open of a file that was not closed cleanly (a crash): redb recovers
    /// it on the next read-write open, which a read-only open may not do.
    #[error(
        "store {path} was not closed cleanly ({op}); start sharebridge (or open it read-write) once to recover it, \
         then inspect it read-only"
    )]
    NeedsRecovery { path: PathBuf, op: &'static str },

    /// The file is damaged, truncated or not a sharebridge store. Never recovered by
    /// starting empty.
    #[error(
        "store {path} is corrupted or truncated ({op}: {detail}); stop sharebridge, move the damaged file aside \
         (keep it for diagnosis) and restore the latest backup (made with `sharebridge backup`) in its place"
    )]
    Corrupt {
        path: PathBuf,
        op: &'static str,
        detail: String,
    },

    /// The file was written by a newer sharebridge.
    #[error(
        "store {path} has schema version {found}, newer than the version {supported} this sharebridge understands; \
         upgrade sharebridge (or restore a backup taken before the newer version ran)"
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// A read-only inspection of a file that still needs migrating.
    #[error(
        "store {path} has schema version {found}, older than {supported}; start sharebridge once \
         (read-write) to migrate it before inspecting it read-only"
    )]
    OlderSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// A record could not be decoded: the store refuses to guess.
    #[error("store {path}: {op}: record in table {table} at key {key} cannot be decoded: {source}")]
    Decode {
        path: PathBuf,
        op: &'static str,
        table: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },

    /// A record could not be encoded (should not happen with the store's own types).
    #[error("store {path}: {op}: record for table {table} cannot be encoded: {source}")]
    Encode {
        path: PathBuf,
        op: &'static str,
        table: &'static str,
        #[source]
        source: serde_json::Error,
    },

    /// The operation names a link the store does not have.
    #[error("store {path}: {op}: no link {link}")]
    UnknownLink {
        path: PathBuf,
        op: &'static str,
        link: u64,
    },

    /// The operation contradicts what is stored (e.g. a second pending write on one link
    /// and flow, a mirror ticket already linked elsewhere, a change of a link's identity).
    #[error("store {path}: {op}: {detail}")]
    Conflict {
        path: PathBuf,
        op: &'static str,
        detail: String,
    },

    /// A sealed secret could not be sealed or opened (no key, another key, damaged).
    #[error("store {path}: {op}: a stored secret cannot be used: {detail}")]
    Sealed {
        path: PathBuf,
        op: &'static str,
        detail: String,
    },

    /// A write on a store opened read-only.
    #[error("store {path} is open read-only; {op} is a write")]
    ReadOnly { path: PathBuf, op: &'static str },

    /// A write by a daemon that no longer leads (several daemons on one PostgreSQL
    /// store): refused, so a deposed leader can neither record nor send.
    #[error("store {path}: {op} refused: this daemon does not lead ({detail})")]
    NotLeader {
        path: PathBuf,
        op: &'static str,
        detail: String,
    },

    /// Any other failure of the storage engine.
    #[error("store {path}: {op} failed: {detail}")]
    Engine {
        path: PathBuf,
        op: &'static str,
        detail: String,
        #[source]
        source: Option<Cause>,
    },
}

impl StoreError {
    /// Whether the error is about the file's integrity (the operator must restore it).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, StoreError::Corrupt { .. })
    }
}
