//! Logging setup: `tracing` with an env filter (`RUST_LOG`, else `daemon.log_level`), a
//! human format on a terminal (plain, untimed lines under journald) and JSON (`daemon.log_format = "json"`) for journald and
//! collectors. Logs go to stderr; stdout is for command output.
//!
//! What must never be logged (tokens, secrets, comment bodies) is kept out at the source:
//! secrets live in `secrecy` types and the engine logs ids, never bodies.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Whether stderr is connected to the journal (systemd sets `JOURNAL_STREAM` to the
/// device and inode of the stream it gave the service).
pub fn under_journald() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some()
}

/// Installs the global subscriber; a second call is a no-op (tests call it freely).
pub fn init(default_level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}
