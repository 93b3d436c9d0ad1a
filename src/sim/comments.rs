//! Ticket comments: built only through ticket create/update (Zendesk has no comment-create
//! endpoint), listed oldest first (`sort_order=desc` reverses) with cursor or offset
//! pagination, and made private with `make_private` (there is no "make public").

use axum::http::StatusCode;
use jiff::Timestamp;
use serde_json::json;

use crate::sim::error::ApiError;
use crate::sim::http::{Req, Resp};
use crate::sim::pagination;
use crate::sim::state::{Account, Audit, Event, EventKind, html_of, text_of, via};
use crate::zendesk::models::{Comment, NewComment, Status};

/// Whether a comment write carries anything (body, HTML or uploads).
pub(crate) fn has_content(c: &NewComment) -> bool {
    c.body.as_deref().is_some_and(|b| !b.trim().is_empty())
        || c.html_body.as_deref().is_some_and(|b| !b.trim().is_empty())
        || !c.uploads.is_empty()
}

/// Checks a comment write against the account (its upload tokens must be live).
pub(crate) fn validate(a: &Account, c: &NewComment, now: Timestamp) -> Result<(), ApiError> {
    for t in &c.uploads {
        if a.uploads.get(t).is_none_or(|u| u.expires_at <= now) {
            return Err(crate::sim::uploads::expired(t));
        }
    }
    if let Some(author) = c.author_id
        && !a.users.contains_key(&author)
    {
        return Err(ApiError::invalid("author_id", "Author: is invalid"));
    }
    Ok(())
}

/// Builds a comment, attaching (and consuming) its upload tokens.
pub(crate) fn build(
    a: &mut Account,
    c: &NewComment,
    author: u64,
    channel: &str,
    now: Timestamp,
) -> Comment {
    let (body, html) = match (&c.body, &c.html_body) {
        (_, Some(h)) if !h.trim().is_empty() => (text_of(h), h.clone()),
        (Some(b), _) => (b.clone(), html_of(b)),
        _ => (String::new(), html_of("")),
    };
    let public = c.public.unwrap_or(true);
    let mut attachments = Vec::new();
    for token in &c.uploads {
        if let Some(up) = a.uploads.remove(token) {
            for att in up.attachments {
                if let Some(blob) = a.blobs.get_mut(&att) {
                    // An image the HTML shows is inline.
                    let url = &blob.attachment.content_url;
                    blob.attachment.inline =
                        html.contains(url.as_str()) || html.contains(&url.replace('&', "&amp;"));
                    blob.private = !public;
                    attachments.push(blob.attachment.clone());
                }
            }
        }
    }
    Comment {
        id: a.ids.object(),
        comment_type: "Comment".to_owned(),
        author_id: author,
        plain_body: body.clone(),
        body,
        html_body: html,
        public,
        attachments,
        via: via(channel),
        created_at: now,
        metadata: json!({"system": {"client": "sharebridge-sim", "ip_address": "127.0.0.1"}, "custom": {}}),
    }
}

/// A comment as the API renders it (attachments in their full wire form; inline images
/// only with `include_inline_images`).
pub(crate) fn wire(base_url: &str, c: &Comment) -> serde_json::Value {
    wire_with(base_url, c, true)
}

fn wire_with(base_url: &str, c: &Comment, inline: bool) -> serde_json::Value {
    let mut v = serde_json::to_value(c).unwrap_or_else(|_| json!({}));
    if !c.attachments.is_empty() {
        v["attachments"] = c
            .attachments
            .iter()
            .filter(|att| inline || !att.inline)
            .map(|att| crate::sim::uploads::wire(base_url, att))
            .collect();
    }
    v
}

/// `GET /api/v2/tickets/{id}/comments` (`sort_order=asc|desc`, cursor or offset pages).
pub(crate) fn list(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let rec = a.live(req.ids[0])?;
    let desc = crate::sim::tickets::descending(req);
    let mut keys: Vec<u64> = rec.comments.iter().map(|c| c.id).collect();
    if desc {
        keys.reverse();
    }
    let n = rec.comments.len();
    let url = format!(
        "{}?{}",
        a.url(&format!("tickets/{}/comments.json", req.ids[0])),
        if desc { "sort_order=desc&" } else { "" }
    );
    let base = a.base_url.as_str();
    let inline = req.param("include_inline_images") == Some("true");
    let resp = pagination::list(&req.query, "comments", &keys, !desc, &url, |i| {
        let ix = if desc { n - 1 - i } else { i };
        wire_with(base, &rec.comments[ix], inline)
    })?;
    if !req
        .param("include")
        .is_some_and(|i| i.split(',').any(|x| x.trim() == "users"))
    {
        return Ok(resp);
    }
    // Side-load the comment authors as `users`.
    let mut body: serde_json::Value =
        serde_json::from_slice(&resp.body).unwrap_or(serde_json::Value::Null);
    let mut ids: Vec<u64> = body["comments"]
        .as_array()
        .map(|cs| cs.iter().filter_map(|c| c["author_id"].as_u64()).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids.dedup();
    let users: Vec<_> = ids.iter().filter_map(|id| a.users.get(id)).collect();
    body["users"] = json!(users);
    Ok(Resp::ok(&body))
}

/// `GET /api/v2/tickets/{id}/comments/count` → `{"count": {"value": N, "refreshed_at": …}}`.
pub(crate) fn count(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let n = a.live(req.ids[0])?.comments.len();
    Ok(Resp::ok(
        &json!({"count": {"value": n, "refreshed_at": req.now}}),
    ))
}

/// `PUT /api/v2/tickets/{id}/comments/{cid}/make_private` → 200.
pub(crate) fn make_private(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let (tid, cid) = (req.ids[0], req.ids[1]);
    let rec = a.live(tid)?;
    if rec.ticket.status == Status::Closed {
        return Err(crate::sim::tickets::closed_error());
    }
    let Some(ix) = rec.comments.iter().position(|c| c.id == cid) else {
        return Err(ApiError::not_found());
    };
    if rec.comments[ix].public {
        let atts: Vec<u64> = rec.comments[ix].attachments.iter().map(|x| x.id).collect();
        let ev = Event {
            id: a.ids.object(),
            kind: EventKind::PrivacyChange { comment_id: cid },
        };
        for id in atts {
            if let Some(b) = a.blobs.get_mut(&id) {
                b.private = true;
            }
        }
        if let Some(rec) = a.tickets.get_mut(&tid) {
            rec.comments[ix].public = false;
            rec.ticket.updated_at = req.now;
            rec.ticket.is_public = rec.comments.iter().any(|c| c.public);
        }
        a.touch(tid, req.now_ms);
        a.audits.push(Audit {
            id: a.ids.object(),
            ticket_id: tid,
            created_at: req.now,
            author_id: req.caller.id,
            via: via(req.channel),
            events: vec![ev],
            custom: json!({}),
        });
    }
    // Zendesk answers 200 with an empty body.
    let mut r = Resp::no_content();
    r.status = StatusCode::OK;
    Ok(r)
}
