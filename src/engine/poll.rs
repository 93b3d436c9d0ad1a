//! The safety net for missed webhooks: each account's cursor-based incremental ticket
//! export, every `daemon.poll_interval`, turned into hints. The cursor is stored after
//! each page, so a restart resumes where it stopped; a first run starts from now.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::zendesk::client::ExportStart;

use super::{Account, Engine};

/// The stored stream name of the ticket export cursor.
pub(crate) const TICKETS_STREAM: &str = "tickets";

pub(crate) async fn run(engine: Engine, account: Arc<Account>, shutdown: CancellationToken) {
    loop {
        let interval = engine.config().daemon.poll_interval;
        if let Err(e) = poll_once(&engine, &account).await {
            tracing::warn!(account = %account.name, error = %e, "poll failed; trying again next interval");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Reads the export up to the present, pushing a hint per changed ticket.
pub(crate) async fn poll_once(
    engine: &Engine,
    account: &Account,
) -> Result<usize, super::EngineError> {
    let store = engine.store();
    let mut from = match store.cursor(&account.name, TICKETS_STREAM)? {
        Some(c) => serde_json::from_str(&c).unwrap_or(ExportStart::Cursor(c)),
        None => ExportStart::StartTime(jiff::Timestamp::now().as_second()),
    };
    let mut seen = 0;
    for _ in 0..100 {
        let page = account.client.export_tickets(&from).await?;
        for t in &page.tickets {
            engine.shared.hints.push(&account.name, t.id);
        }
        seen += page.tickets.len();
        store.set_cursor(
            &account.name,
            TICKETS_STREAM,
            &serde_json::to_string(&page.next).unwrap_or_default(),
        )?;
        let done = page.end_of_stream || page.next == from;
        from = page.next;
        if done {
            break;
        }
    }
    Ok(seen)
}
