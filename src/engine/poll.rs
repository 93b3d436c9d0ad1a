//! The safety net for missed webhooks: each account's cursor-based incremental ticket
//! export, every `daemon.poll_interval`, turned into hints. The cursor is stored once the
//! hints it produced have been processed, so a restart resumes where it stopped without
//! skipping work; a first run starts five minutes before now.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::zendesk::client::ExportStart;

use super::{Account, Engine};

/// The stored stream name of the ticket export cursor.
pub(crate) const TICKETS_STREAM: &str = "tickets";

/// How far before its first start the first poll of an account looks.
const FIRST_RUN_LOOKBACK_SECS: i64 = 300;

pub(crate) async fn run(engine: Engine, account: Arc<Account>, shutdown: CancellationToken) {
    // Where the export is read from next; ahead of the stored cursor until confirmed.
    let mut next: Option<ExportStart> = None;
    loop {
        let interval = engine.config().daemon.poll_interval;
        if let Err(e) = poll_once(&engine, &account, &mut next).await {
            tracing::warn!(account = %account.name, error = %e, "poll failed; trying again next interval");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Whether every hint pushed so far has been processed: no hint waiting, no ticket due
/// or running, on two looks apart (a hint being moved into the scheduler is not taken for
/// quiet).
async fn quiet(engine: &Engine) -> bool {
    if engine.backlog() != 0 {
        return false;
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    engine.backlog() == 0
}

/// Reads the export up to the present, pushing a hint per changed ticket.
///
/// Race (found by tests/chaos.rs): hints live in memory. Storing the cursor as soon as a
/// page was read meant a crash before its tickets were processed lost those changes for
/// good (a ticket tagged for sharing never shared, comments never mirrored) until the
/// ticket changed again: the restart resumed past them, and the webhooks had been
/// answered. So the position read is stored only once the engine has been quiet since
/// (every hint up to then processed); a restart reads again from the last such point,
/// and the work is idempotent.
pub(crate) async fn poll_once(
    engine: &Engine,
    account: &Account,
    next: &mut Option<ExportStart>,
) -> Result<usize, super::EngineError> {
    let store = engine.store();
    if let Some(read) = next.as_ref()
        && quiet(engine).await
    {
        store.set_cursor(
            &account.name,
            TICKETS_STREAM,
            &serde_json::to_string(read).unwrap_or_default(),
        )?;
    }
    let mut from = match next.take() {
        Some(from) => from,
        None => match store.cursor(&account.name, TICKETS_STREAM)? {
            Some(c) => serde_json::from_str(&c).unwrap_or(ExportStart::Cursor(c)),
            None => {
                // A first run starts a little before now (changes made while the daemon
                // was starting are not missed; looking at them again is harmless), and a
                // crash before the first confirmation must not move that start later.
                let start = ExportStart::StartTime(
                    jiff::Timestamp::now().as_second() - FIRST_RUN_LOOKBACK_SECS,
                );
                store.set_cursor(
                    &account.name,
                    TICKETS_STREAM,
                    &serde_json::to_string(&start).unwrap_or_default(),
                )?;
                start
            }
        },
    };
    let mut seen = 0;
    for _ in 0..100 {
        let page = match account.client.export_tickets(&from).await {
            Ok(page) => page,
            Err(e) => {
                *next = Some(from);
                return Err(e.into());
            }
        };
        for t in &page.tickets {
            engine.shared.hints.push(&account.name, t.id);
        }
        seen += page.tickets.len();
        let done = page.end_of_stream || page.next == from;
        from = page.next;
        if done {
            break;
        }
    }
    *next = Some(from);
    Ok(seen)
}
