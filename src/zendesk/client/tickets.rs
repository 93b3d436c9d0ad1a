//! Tickets, comments and tags: create (with `Idempotency-Key`), show, show_many, list by
//! external id, update (optionally a safe update), delete, list comments, tag reads and
//! writes.
//!
//! Must not: retry a write that adds a comment once it may have reached Zendesk (a replay
//! adds the comment twice): `update_ticket` with a comment reports `InDoubt` instead, and
//! the caller reconciles by reading the ticket's comments.

use jiff::Timestamp;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::gate::EndpointClass;
use super::retry::Replay;
use super::{Call, ZendeskClient, ZendeskError, decode_key};
use crate::zendesk::models::{Audit, Comment, Ticket, TicketEnvelope, TicketWrite};

/// Most ids `show_many` takes per request.
const SHOW_MANY_CHUNK: usize = 100;

/// Zendesk's limit on an `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// The answer of a ticket create.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedTicket {
    pub ticket: Ticket,
    /// True when Zendesk answered from its idempotency cache (`x-idempotency-lookup: hit`):
    /// the ticket was created by an earlier request with the same key.
    pub replayed: bool,
    /// The audit of the create, naming the first comment's id.
    pub audit: Option<Audit>,
}

#[derive(Serialize, Deserialize)]
struct Tags {
    tags: Vec<String>,
}

/// The `audit` of a create or update answer, when present and readable.
fn audit_of(body: &[u8]) -> Option<Audit> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|mut v| v.get_mut("audit").map(serde_json::Value::take))
        .and_then(|v| serde_json::from_value::<Audit>(v).ok())
}

/// The replay policy of a ticket update: a comment makes it non-idempotent, and so does a
/// marker (`metadata`): its caller settles a lost answer itself, by the marker, and must
/// send nothing newer to the ticket meanwhile. A replay of a status or field change is
/// idempotent on its own, but the first attempt may still be applied late, after a newer
/// write, and undo it (found by the deterministic simulation, seed 7223: a `pending` the
/// bridge sent applied 53 s late over the `solved` sent after it, and crossed back).
pub fn update_replay(write: &TicketWrite) -> Replay {
    if write.comment.is_some() || write.metadata.is_some() {
        Replay::Unsafe
    } else {
        Replay::Safe
    }
}

impl ZendeskClient {
    /// `POST /api/v2/tickets`. With `idempotency_key` (at most 255 chars) the create is
    /// retried on 429/5xx/timeouts and Zendesk never creates it twice; without one, a lost
    /// answer is `InDoubt` (look the ticket up by `external_id`).
    pub async fn create_ticket(
        &self,
        write: &TicketWrite,
        idempotency_key: Option<&str>,
    ) -> Result<CreatedTicket, ZendeskError> {
        let mut call =
            Call::new(Method::POST, "/api/v2/tickets").json(&TicketEnvelope { ticket: write });
        if let Some(key) = idempotency_key {
            if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
                return Err(ZendeskError::Invalid {
                    ctx: self.context(&call),
                    status: 0,
                    details: format!(
                        "Idempotency-Key must be 1..={MAX_IDEMPOTENCY_KEY_LEN} characters"
                    ),
                });
            }
            call.idempotency_key = Some(key.to_owned());
            call.replay = Replay::Keyed;
        }
        let ctx = self.context(&call);
        let answer = self.execute(call).await?;
        let replayed = answer
            .headers
            .get("x-idempotency-lookup")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("hit"));
        let ticket: Ticket = decode_key(&ctx, &answer.body, "ticket")?;
        let audit = audit_of(&answer.body);
        tracing::info!(account = %self.account(), ticket = ticket.id, replayed, "ticket created");
        Ok(CreatedTicket {
            ticket,
            replayed,
            audit,
        })
    }

    /// `GET /api/v2/tickets/{id}`.
    pub async fn show_ticket(&self, id: u64) -> Result<Ticket, ZendeskError> {
        self.fetch(
            Call::get(format!("/api/v2/tickets/{id}")).ticket(id),
            "ticket",
        )
        .await
    }

    /// `GET /api/v2/tickets/show_many?ids=…`, 100 ids per request. Ids Zendesk does not
    /// know are simply absent from the answer.
    pub async fn show_many_tickets(&self, ids: &[u64]) -> Result<Vec<Ticket>, ZendeskError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(SHOW_MANY_CHUNK) {
            let list = chunk
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let call = Call::get("/api/v2/tickets/show_many").query("ids", list);
            out.extend(self.fetch::<Vec<Ticket>>(call, "tickets").await?);
        }
        Ok(out)
    }

    /// `GET /api/v2/tickets?external_id=…`, all pages.
    pub async fn tickets_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Vec<Ticket>, ZendeskError> {
        let call = Call::get("/api/v2/tickets").query("external_id", external_id);
        self.all_pages(call, "tickets").await
    }

    /// `PUT /api/v2/tickets/{id}`. With `safe_stamp` (the `updated_at` the caller last
    /// saw) Zendesk refuses with 409 (`Conflict`) if the ticket changed since.
    ///
    /// Retry: an update without a comment is idempotent and retried; an update carrying a
    /// comment is NOT retried once it may have reached Zendesk: a lost answer (timeout,
    /// dropped connection, 5xx) returns `InDoubt`, and the caller must read the ticket's
    /// comments to learn whether it was applied. 429 and refused connections are retried
    /// either way (Zendesk did not process the request).
    pub async fn update_ticket(
        &self,
        id: u64,
        write: &TicketWrite,
        safe_stamp: Option<Timestamp>,
    ) -> Result<Ticket, ZendeskError> {
        let replay = update_replay(write);
        let mut write = write.clone();
        if let Some(stamp) = safe_stamp {
            write.safe_update = Some(true);
            write.updated_stamp = Some(stamp);
        }
        let call = Call::new(Method::PUT, format!("/api/v2/tickets/{id}"))
            .json(&TicketEnvelope { ticket: &write })
            .ticket(id)
            .class(EndpointClass::TicketUpdate { ticket: id })
            .replay(replay);
        self.fetch(call, "ticket").await
    }

    /// [`Self::update_ticket`], also returning the `audit` Zendesk sends back, whose
    /// Comment event names the comment this update added (so the caller need not read the
    /// ticket's comments to learn its id). Same retry rules.
    pub async fn update_ticket_audited(
        &self,
        id: u64,
        write: &TicketWrite,
    ) -> Result<(Ticket, Option<Audit>), ZendeskError> {
        let replay = update_replay(write);
        let call = Call::new(Method::PUT, format!("/api/v2/tickets/{id}"))
            .json(&TicketEnvelope { ticket: write })
            .ticket(id)
            .class(EndpointClass::TicketUpdate { ticket: id })
            .replay(replay);
        let ctx = self.context(&call);
        let answer = self.execute(call).await?;
        let ticket: Ticket = decode_key(&ctx, &answer.body, "ticket")?;
        Ok((ticket, audit_of(&answer.body)))
    }

    /// `GET /api/v2/search?query=type:ticket …`: the tickets a search finds, following
    /// offset pages (Zendesk returns at most 1000 results per query; narrow the query, e.g.
    /// with `created>`, to go further).
    pub async fn search_tickets(&self, query: &str) -> Result<Vec<Ticket>, ZendeskError> {
        let mut out = Vec::new();
        for page in 1..=10u32 {
            let call = Call::get("/api/v2/search")
                .query("query", format!("type:ticket {query}"))
                .query("sort_by", "created_at")
                .query("sort_order", "asc")
                .query("per_page", "100")
                .query("page", page.to_string());
            let ctx = self.context(&call);
            let answer = self.execute(call).await?;
            let results: Vec<serde_json::Value> = decode_key(&ctx, &answer.body, "results")?;
            let got = results.len();
            out.extend(
                results
                    .into_iter()
                    .filter_map(|v| serde_json::from_value::<Ticket>(v).ok()),
            );
            let next: Option<String> = decode_key(&ctx, &answer.body, "next_page").unwrap_or(None);
            if next.is_none() || got == 0 {
                break;
            }
        }
        Ok(out)
    }

    /// `DELETE /api/v2/tickets/{id}` (soft delete). `NotFound` means it is already gone,
    /// possibly by an earlier attempt of this very call whose answer was lost.
    pub async fn delete_ticket(&self, id: u64) -> Result<(), ZendeskError> {
        self.execute(Call::new(Method::DELETE, format!("/api/v2/tickets/{id}")).ticket(id))
            .await
            .map(drop)
    }

    /// `GET /api/v2/tickets/{id}/comments`, every page, oldest first.
    pub async fn list_comments(&self, ticket: u64) -> Result<Vec<Comment>, ZendeskError> {
        let call = Call::get(format!("/api/v2/tickets/{ticket}/comments"))
            .ticket(ticket)
            .query("include_inline_images", "true");
        self.all_pages(call, "comments").await
    }

    /// The comments of a ticket with an id above `after`, oldest first, reading newest
    /// first (`sort_order=desc`) and stopping at the first page that reaches `after`: one
    /// request for a ticket with fewer than 100 new comments, however long its history.
    pub async fn comments_after(
        &self,
        ticket: u64,
        after: u64,
    ) -> Result<Vec<Comment>, ZendeskError> {
        // Inline images are listed too: they are copied with their comment.
        let call = Call::get(format!("/api/v2/tickets/{ticket}/comments"))
            .ticket(ticket)
            .query("sort_order", "desc")
            .query("include_inline_images", "true");
        let mut newest_first: Vec<Comment> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page: super::pagination::Page<Comment> = self
                .page_of(&call, "comments", cursor.as_deref(), 100)
                .await?;
            let reached = page.items.iter().any(|c| c.id <= after);
            newest_first.extend(page.items.into_iter().filter(|c| c.id > after));
            match page.after_cursor {
                Some(next)
                    if page.has_more && !reached && cursor.as_deref() != Some(next.as_str()) =>
                {
                    cursor = Some(next)
                }
                _ => break,
            }
        }
        newest_first.sort_by_key(|c| c.id);
        newest_first.dedup_by_key(|c| c.id);
        Ok(newest_first)
    }

    /// The audits of a ticket created at or after `since`, newest first
    /// (`GET /api/v2/tickets/{id}/audits?sort_order=desc`, cursor pages, stopping at the
    /// first page that reaches back before `since`). Each audit carries the
    /// `metadata.custom` its write asked to keep.
    pub async fn audits_since(
        &self,
        ticket: u64,
        since: Timestamp,
    ) -> Result<Vec<Audit>, ZendeskError> {
        let call = Call::get(format!("/api/v2/tickets/{ticket}/audits"))
            .ticket(ticket)
            .query("sort_order", "desc");
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page: super::pagination::Page<Audit> = self
                .page_of(&call, "audits", cursor.as_deref(), 100)
                .await?;
            let reached = page
                .items
                .iter()
                .any(|a| a.created_at.is_some_and(|t| t < since));
            out.extend(
                page.items
                    .into_iter()
                    .filter(|a| a.created_at.is_none_or(|t| t >= since)),
            );
            match page.after_cursor {
                Some(next)
                    if page.has_more && !reached && cursor.as_deref() != Some(next.as_str()) =>
                {
                    cursor = Some(next)
                }
                _ => return Ok(out),
            }
        }
    }

    /// `PUT /api/v2/tickets/{id}/comments/{comment}/make_private` (repeating it changes
    /// nothing more).
    pub async fn make_comment_private(
        &self,
        ticket: u64,
        comment: u64,
    ) -> Result<(), ZendeskError> {
        let call = Call::new(
            Method::PUT,
            format!("/api/v2/tickets/{ticket}/comments/{comment}/make_private"),
        )
        .ticket(ticket)
        .replay(Replay::Safe);
        self.execute(call).await.map(drop)
    }

    /// `PUT /api/v2/tickets/{id}/comments/{comment}/redact` with `{"text": …}`: every
    /// occurrence of `text` in the comment is blotted out (repeating it finds nothing
    /// more). Zendesk refuses it on a closed ticket (`Closed`).
    pub async fn redact_comment_text(
        &self,
        ticket: u64,
        comment: u64,
        text: &str,
    ) -> Result<(), ZendeskError> {
        let call = Call::new(
            Method::PUT,
            format!("/api/v2/tickets/{ticket}/comments/{comment}/redact"),
        )
        .json(&serde_json::json!({ "text": text }))
        .ticket(ticket)
        .replay(Replay::Safe);
        self.execute(call).await.map(drop)
    }

    /// `GET /api/v2/tickets/{id}/tags`.
    pub async fn get_tags(&self, ticket: u64) -> Result<Vec<String>, ZendeskError> {
        self.fetch(
            Call::get(format!("/api/v2/tickets/{ticket}/tags")).ticket(ticket),
            "tags",
        )
        .await
    }

    async fn tag_write(
        &self,
        method: Method,
        ticket: u64,
        tags: &[String],
    ) -> Result<Vec<String>, ZendeskError> {
        // Tag writes set, add or remove a set: replaying one changes nothing more.
        let call = Call::new(method, format!("/api/v2/tickets/{ticket}/tags"))
            .json(&Tags {
                tags: tags.to_vec(),
            })
            .ticket(ticket)
            .class(EndpointClass::TicketUpdate { ticket })
            .replay(Replay::Safe);
        self.fetch(call, "tags").await
    }

    /// `POST /api/v2/tickets/{id}/tags`: replaces the tags; returns the new set.
    pub async fn set_tags(
        &self,
        ticket: u64,
        tags: &[String],
    ) -> Result<Vec<String>, ZendeskError> {
        self.tag_write(Method::POST, ticket, tags).await
    }

    /// `PUT /api/v2/tickets/{id}/tags`: adds tags; returns the new set.
    pub async fn add_tags(
        &self,
        ticket: u64,
        tags: &[String],
    ) -> Result<Vec<String>, ZendeskError> {
        self.tag_write(Method::PUT, ticket, tags).await
    }

    /// `DELETE /api/v2/tickets/{id}/tags`: removes tags; returns the new set.
    pub async fn remove_tags(
        &self,
        ticket: u64,
        tags: &[String],
    ) -> Result<Vec<String>, ZendeskError> {
        self.tag_write(Method::DELETE, ticket, tags).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zendesk::models::NewComment;

    #[test]
    fn updates_with_a_comment_are_not_replayed() {
        let plain = TicketWrite {
            tags: Some(vec!["a".into()]),
            ..Default::default()
        };
        assert_eq!(update_replay(&plain), Replay::Safe);
        let with_comment = TicketWrite {
            comment: Some(NewComment {
                body: Some("hi".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(update_replay(&with_comment), Replay::Unsafe);
        let marked = TicketWrite {
            status: Some(crate::zendesk::models::Status::Pending),
            metadata: Some(serde_json::json!({"custom": {"sharebridge": "w"}})),
            ..Default::default()
        };
        assert_eq!(update_replay(&marked), Replay::Unsafe);
    }
}
