//! Comment redaction, as Zendesk's Ticket Comments API has it: a string
//! (`PUT /api/v2/tickets/{id}/comments/{cid}/redact`, `{"text": …}`; not on closed
//! tickets), agent workspace redaction (`PUT /api/v2/comment_redactions/{cid}`,
//! `{"ticket_id", "html_body" with <redact>…</redact>, "external_attachment_urls"}`; also
//! on closed tickets; a whole comment is redacted by wrapping all of it) and one
//! attachment (`PUT …/comments/{cid}/attachments/{aid}/redact`, replaced by an empty
//! `redacted.txt`). Redacted characters become `▇`. Each redaction that changes a
//! comment is one audit (`CommentRedactionEvent`) and one
//! `zen:event-type:ticket.comment_redacted` webhook.

use axum::body::Bytes;
use serde::Deserialize;
use serde_json::json;

use crate::sim::error::ApiError;
use crate::sim::http::{Req, Resp, json_value};
use crate::sim::state::{Account, Audit, Event, EventKind, text_of, via};
use crate::zendesk::models::{Attachment, Comment, Status};

/// What a redacted character becomes.
pub const BLOCK: char = '\u{2587}';

/// `s` with every character blotted out.
pub fn blot(s: &str) -> String {
    s.chars().map(|_| BLOCK).collect()
}

/// Replaces every occurrence of `text` in `s` by blocks. Pure.
pub fn redact_string(s: &str, text: &str) -> String {
    if text.is_empty() {
        return s.to_owned();
    }
    s.replace(text, &blot(text))
}

/// Applies agent workspace markup: the text inside `<redact>…</redact>` becomes blocks
/// (tags inside are kept), the `<redact>` tags go, and an element carrying a `redact`
/// attribute (an inline image, a link) is dropped. Pure.
pub fn apply_redact_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut depth = 0usize;
    // Elements dropped for their `redact` attribute whose closing tag is still to come.
    let mut dropped: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        let (text, tail) = rest.split_at(lt);
        push_text(&mut out, text, depth > 0);
        let Some(gt) = tail.find('>') else {
            push_text(&mut out, tail, depth > 0);
            return out;
        };
        let tag = &tail[..=gt];
        let name = tag
            .trim_start_matches(['<', '/'])
            .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if name == "redact" {
            if tag.starts_with("</") {
                depth = depth.saturating_sub(1);
            } else {
                depth += 1;
            }
        } else if has_redact_attribute(tag) {
            if !tag.ends_with("/>") && !is_void(&name) {
                dropped.push(name);
            }
        } else if tag.starts_with("</") && dropped.last() == Some(&name) {
            dropped.pop();
        } else {
            out.push_str(tag);
        }
        rest = &tail[gt + 1..];
    }
    push_text(&mut out, rest, depth > 0);
    out
}

fn push_text(out: &mut String, text: &str, redacted: bool) {
    if !redacted {
        out.push_str(text);
        return;
    }
    // An entity (`&amp;`) is one character.
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '&' {
            let mut probe = chars.clone();
            if probe.by_ref().take(10).any(|c| c == ';') {
                for c in chars.by_ref() {
                    if c == ';' {
                        break;
                    }
                }
            }
        }
        out.push(BLOCK);
    }
}

/// HTML elements without a closing tag.
fn is_void(name: &str) -> bool {
    matches!(
        name,
        "img" | "br" | "hr" | "input" | "meta" | "link" | "source" | "wbr"
    )
}

fn has_redact_attribute(tag: &str) -> bool {
    if tag.starts_with("</") {
        return false;
    }
    tag.trim_end_matches('>')
        .trim_end_matches('/')
        .split_whitespace()
        .skip(1)
        .any(|attr| {
            let name = attr.split('=').next().unwrap_or("");
            name.eq_ignore_ascii_case("redact")
        })
}

/// An attachment replaced by redaction: an empty `redacted.txt`.
fn redacted_attachment(att: &Attachment) -> Attachment {
    Attachment {
        file_name: "redacted.txt".to_owned(),
        content_type: "text/plain".to_owned(),
        size: 0,
        inline: false,
        ..att.clone()
    }
}

/// Records one redaction of `comment_id`: the audit, the export position, the webhook.
fn record(a: &mut Account, req: &Req, ticket_id: u64, comment_id: u64) {
    let ev = Event {
        id: a.ids.object(),
        kind: EventKind::Redaction { comment_id },
    };
    if let Some(rec) = a.tickets.get_mut(&ticket_id) {
        rec.ticket.updated_at = req.now;
    }
    a.touch(ticket_id, req.now_ms);
    a.audits.push(Audit {
        id: a.ids.object(),
        ticket_id,
        created_at: req.now,
        author_id: req.caller.id,
        via: via(req.channel),
        events: vec![ev],
        custom: json!({}),
    });
}

fn comment_index(a: &Account, ticket_id: u64, comment_id: u64) -> Result<usize, ApiError> {
    a.live(ticket_id)?
        .comments
        .iter()
        .position(|c| c.id == comment_id)
        .ok_or_else(ApiError::not_found)
}

fn comment_answer(a: &Account, ticket_id: u64, ix: usize) -> Resp {
    let c = &a.tickets[&ticket_id].comments[ix];
    Resp::ok(&json!({"comment": crate::sim::comments::wire(&a.base_url, c)}))
}

/// Replaces the comment at `ix` by `f(old)`; records a redaction when it changed.
fn change(
    a: &mut Account,
    req: &Req,
    ticket_id: u64,
    ix: usize,
    f: impl FnOnce(&Comment) -> Comment,
) {
    let Some(rec) = a.tickets.get_mut(&ticket_id) else {
        return;
    };
    let new = f(&rec.comments[ix]);
    if new == rec.comments[ix] {
        return;
    }
    let comment_id = new.id;
    // The blobs behind redacted attachments lose their bytes too.
    for (old, now) in rec.comments[ix].attachments.iter().zip(&new.attachments) {
        if old != now
            && let Some(blob) = a.blobs.get_mut(&now.id)
        {
            blob.attachment = now.clone();
            blob.bytes = Bytes::new();
        }
    }
    // The ticket's description is its first comment.
    if ix == 0 {
        rec.ticket.description = Some(new.body.clone());
    }
    rec.comments[ix] = new;
    record(a, req, ticket_id, comment_id);
}

#[derive(Debug, Deserialize)]
struct TextBody {
    #[serde(default)]
    text: Option<String>,
}

/// `PUT /api/v2/tickets/{id}/comments/{cid}/redact` `{"text": …}` → `{"comment": …}`.
pub(crate) fn redact_text(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let (tid, cid) = (req.ids[0], req.ids[1]);
    let ix = comment_index(a, tid, cid)?;
    if a.tickets[&tid].ticket.status == Status::Closed {
        return Err(crate::sim::tickets::closed_error());
    }
    let body: TextBody = serde_json::from_value(json_value(&req.body)?)
        .map_err(|_| ApiError::invalid("text", "Text: is invalid"))?;
    let text = body
        .text
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_param("InvalidValue", "text is required"))?;
    let escaped = crate::sim::state::html_of(&text);
    let escaped = escaped
        .trim_start_matches("<div class=\"zd-comment\" dir=\"auto\"><p dir=\"auto\">")
        .trim_end_matches("</p></div>")
        .to_owned();
    change(a, req, tid, ix, |c| Comment {
        body: redact_string(&c.body, &text),
        plain_body: redact_string(&c.plain_body, &text),
        html_body: redact_string(&redact_string(&c.html_body, &escaped), &text),
        ..c.clone()
    });
    Ok(comment_answer(a, tid, ix))
}

#[derive(Debug, Deserialize)]
struct WorkspaceBody {
    #[serde(default)]
    ticket_id: Option<u64>,
    #[serde(default)]
    html_body: Option<String>,
    #[serde(default)]
    external_attachment_urls: Vec<String>,
}

/// `PUT /api/v2/comment_redactions/{cid}` (agent workspace; closed tickets too).
pub(crate) fn redact_workspace(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let cid = req.ids[1];
    let body: WorkspaceBody = serde_json::from_value(json_value(&req.body)?)
        .map_err(|e| ApiError::invalid("ticket_id", &format!("is invalid: {e}")))?;
    let tid = body
        .ticket_id
        .ok_or_else(|| ApiError::bad_param("InvalidValue", "ticket_id is required"))?;
    let ix = comment_index(a, tid, cid)?;
    let html = body.html_body.filter(|h| !h.trim().is_empty());
    let urls = body.external_attachment_urls;
    change(a, req, tid, ix, |c| {
        let mut new = c.clone();
        if let Some(h) = &html {
            let redacted = apply_redact_tags(h);
            new.body = text_of(&redacted);
            new.plain_body = new.body.clone();
            new.html_body = redacted;
        }
        for att in &mut new.attachments {
            if urls.iter().any(|u| u == &att.content_url) {
                *att = redacted_attachment(att);
            }
        }
        new
    });
    Ok(comment_answer(a, tid, ix))
}

/// `PUT /api/v2/tickets/{id}/comments/{cid}/attachments/{aid}/redact` → `{"attachment"}`.
pub(crate) fn redact_attachment(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let (tid, cid) = (req.ids[0], req.ids[1]);
    let aid = req
        .token
        .as_deref()
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or_else(ApiError::not_found)?;
    let ix = comment_index(a, tid, cid)?;
    if a.tickets[&tid].ticket.status == Status::Closed {
        return Err(crate::sim::tickets::closed_error());
    }
    let Some(pos) = a.tickets[&tid].comments[ix]
        .attachments
        .iter()
        .position(|x| x.id == aid)
    else {
        return Err(ApiError::not_found());
    };
    change(a, req, tid, ix, |c| {
        let mut new = c.clone();
        new.attachments[pos] = redacted_attachment(&new.attachments[pos]);
        new
    });
    let att = &a.tickets[&tid].comments[ix].attachments[pos];
    Ok(Resp::ok(
        &json!({"attachment": crate::sim::uploads::wire(&a.base_url, att)}),
    ))
}

/// Redacts a whole comment (text and attachments), as an agent in agent workspace does;
/// for the [`crate::sim::Simulator`] helpers.
pub(crate) fn redact_whole(a: &mut Account, req: &Req) -> Result<(), ApiError> {
    let (tid, cid) = (req.ids[0], req.ids[1]);
    let ix = comment_index(a, tid, cid)?;
    change(a, req, tid, ix, |c| Comment {
        body: blot(&c.body),
        plain_body: blot(&c.plain_body),
        html_body: crate::sim::state::html_of(&blot(&c.body)),
        attachments: c.attachments.iter().map(redacted_attachment).collect(),
        ..c.clone()
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_tags_become_blocks() {
        assert_eq!(redact_string("id 1234 ok", "1234"), "id ▇▇▇▇ ok");
        assert_eq!(redact_string("a", ""), "a");
        assert_eq!(
            apply_redact_tags("<p>My ID is <redact>847564</redact>!</p>"),
            "<p>My ID is ▇▇▇▇▇▇!</p>"
        );
        assert_eq!(
            apply_redact_tags("<redact><p>a &amp; <b>b</b></p></redact>"),
            "<p>▇▇▇▇<b>▇</b></p>"
        );
        assert_eq!(
            apply_redact_tags(
                r#"see <a href="x" redact><redact>link</redact></a> <img src="i" redact> ok"#
            ),
            "see ▇▇▇▇  ok"
        );
    }
}
