//! Incremental exports: the cursor-based ticket export and the time-based ticket events
//! export (`include=comment_events`), as resumable steps.
//!
//! The caller stores the resume point (`ExportPage::next`, `EventsPage::next_start_time`)
//! and passes it back after a restart; nothing is kept here. Both count against Zendesk's
//! 10 exports per minute (the gate waits for it).
//!
//! Must not: loop over pages by itself (the engine decides when to poll again), or drop the
//! deleted tickets the export reports (`status: deleted`).

use serde::{Deserialize, Serialize};

use super::gate::EndpointClass;
use super::{Call, ZendeskClient, ZendeskError};
use crate::zendesk::models::{IncrementalTicketEvents, Ticket, TicketEvent};

/// Where a ticket export resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportStart {
    /// First run: tickets changed since this Unix time.
    StartTime(i64),
    /// Resume: the `after_cursor` of the previous page.
    Cursor(String),
}

/// One step of the ticket export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportPage {
    pub tickets: Vec<Ticket>,
    /// Where the next request resumes; store it (it equals the input when Zendesk gave
    /// no new cursor).
    pub next: ExportStart,
    /// True when this page reached the present: wait for the poll interval before the next.
    pub end_of_stream: bool,
}

/// One step of the ticket events export.
#[derive(Debug, Clone, PartialEq)]
pub struct EventsPage {
    pub events: Vec<TicketEvent>,
    /// `start_time` of the next request (Zendesk's `end_time`). Time-based exports may
    /// repeat items at the boundary: consumers dedupe by event id.
    pub next_start_time: i64,
    pub end_of_stream: bool,
}

impl ZendeskClient {
    /// `GET /api/v2/incremental/tickets/cursor.json` with `start_time` or `cursor`.
    pub async fn export_tickets(&self, from: &ExportStart) -> Result<ExportPage, ZendeskError> {
        let call =
            Call::get("/api/v2/incremental/tickets/cursor.json").class(EndpointClass::Export);
        let call = match from {
            ExportStart::StartTime(t) => call.query("start_time", t.to_string()),
            ExportStart::Cursor(c) => call.query("cursor", c.as_str()),
        };
        let ctx = self.context(&call);
        let answer = self.execute(call).await?;
        let page: crate::zendesk::models::IncrementalTickets = serde_json::from_slice(&answer.body)
            .map_err(|e| ZendeskError::Decode {
                ctx,
                reason: format!(
                    "incremental tickets: {:?} at line {} column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            })?;
        let next = match page.after_cursor {
            Some(c) if !c.is_empty() => ExportStart::Cursor(c),
            _ => from.clone(),
        };
        Ok(ExportPage {
            tickets: page.tickets,
            next,
            end_of_stream: page.end_of_stream,
        })
    }

    /// `GET /api/v2/incremental/ticket_events.json?start_time=…&include=comment_events`.
    pub async fn export_ticket_events(&self, start_time: i64) -> Result<EventsPage, ZendeskError> {
        let call = Call::get("/api/v2/incremental/ticket_events.json")
            .class(EndpointClass::Export)
            .query("start_time", start_time.to_string())
            .query("include", "comment_events");
        let ctx = self.context(&call);
        let answer = self.execute(call).await?;
        let page: IncrementalTicketEvents =
            serde_json::from_slice(&answer.body).map_err(|e| ZendeskError::Decode {
                ctx,
                reason: format!(
                    "ticket events: {:?} at line {} column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            })?;
        Ok(EventsPage {
            next_start_time: page.end_time.unwrap_or(start_time).max(start_time),
            events: page.ticket_events,
            end_of_stream: page.end_of_stream,
        })
    }
}
