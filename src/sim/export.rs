//! Incremental exports: cursor-based tickets (`/incremental/tickets/cursor`) and
//! time-based ticket events (`/incremental/ticket_events`). Both leave out changes made in
//! the last `export_lag` seconds and count against the export limit (10/min).
//!
//! Every ticket change moves the ticket to the end of the export order (a per-account
//! sequence), so a cursor sees each change after it; deleted tickets appear with status
//! `deleted` unless `exclude_deleted=true`.

use serde_json::{Value, json};

use crate::sim::error::ApiError;
use crate::sim::http::{Req, Resp};
use crate::sim::limits::{self, Admit};
use crate::sim::pagination::{decode_cursor, encode_cursor};
use crate::sim::state::{Account, EventKind};

/// Largest export page.
pub const MAX_EXPORT_PAGE: usize = 1000;

fn check_limit(a: &mut Account, req: &Req) -> Result<(), ApiError> {
    let limit = a.knobs.limits.exports_per_minute;
    match limits::admit(&mut a.limits.exports, req.now_ms, limit, limits::MINUTE_MS) {
        Admit::Allowed { .. } => Ok(()),
        Admit::Throttled { retry_after } => Err(ApiError::throttled(
            retry_after,
            "Number of allowed incremental export API requests per minute exceeded",
        )),
    }
}

fn per_page(req: &Req) -> Result<usize, ApiError> {
    match req.param("per_page") {
        None | Some("") => Ok(MAX_EXPORT_PAGE),
        Some(p) => p
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .map(|n| n.min(MAX_EXPORT_PAGE))
            .ok_or_else(|| {
                ApiError::bad_param(
                    "InvalidPaginationParameter",
                    "per_page must be a positive integer",
                )
            }),
    }
}

fn start_time(req: &Req) -> Result<i64, ApiError> {
    let raw = req
        .param("start_time")
        .ok_or_else(|| ApiError::bad_param("InvalidValue", "start_time or cursor is required"))?;
    let t: i64 = raw
        .parse()
        .map_err(|_| ApiError::bad_param("InvalidValue", "start_time must be a Unix timestamp"))?;
    if t > req.now_ms / 1000 {
        return Err(ApiError::bad_param(
            "InvalidValue",
            "start_time cannot be in the future",
        ));
    }
    Ok(t)
}

/// `GET /api/v2/incremental/tickets/cursor.json?start_time=…` / `?cursor=…`.
pub(crate) fn tickets_cursor(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    check_limit(a, req)?;
    let size = per_page(req)?;
    let exclude_deleted = req.param("exclude_deleted") == Some("true");
    let cutoff = req.now_ms - i64::try_from(a.knobs.export_lag_secs).unwrap_or(0) * 1000;
    // `position`: the last export seq already handed out.
    let position = match req.param("cursor") {
        Some(c) => decode_cursor(c).ok_or_else(|| {
            ApiError::bad_param("InvalidPaginationParameter", "cursor is invalid")
        })?,
        None => {
            let start_ms = start_time(req)?.saturating_mul(1000);
            a.export_order
                .iter()
                .take_while(|(_, id)| a.tickets.get(id).is_some_and(|r| r.changed_ms < start_ms))
                .map(|(seq, _)| *seq)
                .last()
                .unwrap_or(0)
        }
    };
    let mut tickets = Vec::new();
    let mut last = position;
    let mut first_returned = None;
    let mut end_of_stream = true;
    for (seq, id) in a.export_order.range(position + 1..) {
        let Some(rec) = a.tickets.get(id) else {
            continue;
        };
        if rec.changed_ms > cutoff {
            break;
        }
        if tickets.len() == size {
            end_of_stream = false;
            break;
        }
        last = *seq;
        if rec.deleted && exclude_deleted {
            continue;
        }
        first_returned.get_or_insert(*seq);
        tickets.push(a.wire(rec));
    }
    let mut keep = String::new();
    if req.param("per_page").is_some() {
        keep.push_str(&format!("&per_page={size}"));
    }
    if exclude_deleted {
        keep.push_str("&exclude_deleted=true");
    }
    let base = a.url("incremental/tickets/cursor.json");
    let after = encode_cursor(last);
    let before = first_returned.map(|s| encode_cursor(s.saturating_sub(1)));
    let body = json!({
        "tickets": tickets,
        "after_url": format!("{base}?cursor={after}{keep}"),
        "after_cursor": after,
        "before_url": before.as_ref().map(|b| format!("{base}?cursor={b}{keep}")),
        "before_cursor": before,
        "end_of_stream": end_of_stream,
    });
    Ok(Resp::ok(&body))
}

/// `GET /api/v2/incremental/ticket_events.json?start_time=…[&include=comment_events]`.
pub(crate) fn ticket_events(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    check_limit(a, req)?;
    let size = per_page(req)?;
    let start = start_time(req)?;
    let comments = req
        .param("include")
        .is_some_and(|i| i.split(',').any(|x| x.trim() == "comment_events"));
    let cutoff_s =
        (req.now_ms - i64::try_from(a.knobs.export_lag_secs).unwrap_or(0) * 1000).div_euclid(1000);
    let from = a
        .audits
        .partition_point(|x| x.created_at.as_second() < start);
    let eligible = &a.audits[from..];
    let upto = eligible.partition_point(|x| x.created_at.as_second() <= cutoff_s);
    let eligible = &eligible[..upto];
    let mut take = eligible.len().min(size);
    if take == size && take > 0 {
        // Never split one second across pages, or a client could loop forever.
        let last_s = eligible[take - 1].created_at.as_second();
        while take < eligible.len() && eligible[take].created_at.as_second() == last_s {
            take += 1;
        }
    }
    let page = &eligible[..take];
    let events: Vec<Value> = page
        .iter()
        .map(|au| {
            let ticket_comments = a.tickets.get(&au.ticket_id).map(|r| &r.comments);
            let comment = au.events.iter().find_map(|e| match &e.kind {
                EventKind::Comment { comment_id } => {
                    ticket_comments?.iter().find(|c| c.id == *comment_id)
                }
                _ => None,
            });
            let mut children: Vec<Value> = au
                .events
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::Comment { .. } if comments => {
                        let c = comment?;
                        Some(json!({
                            "id": c.id, "via": c.via, "via_reference_id": null,
                            "type": "Comment", "event_type": "Comment",
                            "author_id": c.author_id, "body": c.body, "html_body": c.html_body,
                            "plain_body": c.plain_body, "public": c.public,
                            "attachments": c.attachments, "audit_id": au.id,
                            "created_at": c.created_at,
                        }))
                    }
                    EventKind::Comment { .. } => None,
                    EventKind::Create { field, value } => Some(json!({
                        "id": e.id, "event_type": "Create", "field_name": field, "value": value,
                    })),
                    EventKind::Change {
                        field,
                        previous,
                        value,
                    } => Some(json!({
                        "id": e.id, "event_type": "Change", "field_name": field,
                        "previous_value": previous, "value": value,
                    })),
                    EventKind::PrivacyChange { comment_id } => Some(json!({
                        "id": e.id, "event_type": "CommentPrivacyChange",
                        "comment_id": comment_id, "public": false,
                    })),
                    EventKind::Redaction { comment_id } => Some(json!({
                        "id": e.id, "event_type": "CommentRedactionEvent",
                        "comment_id": comment_id,
                    })),
                })
                .collect();
            if !comments && let Some(c) = comment {
                // Without the sideload Zendesk only flags that a comment was there.
                for child in &mut children {
                    child["comment_present"] = json!(true);
                    child["comment_public"] = json!(c.public);
                }
            }
            json!({
                "id": au.id,
                "ticket_id": au.ticket_id,
                "timestamp": au.created_at.as_second(),
                "created_at": au.created_at,
                "updater_id": au.author_id,
                "via": au.via,
                "via_reference_id": null,
                "merged_ticket_ids": [],
                "event_type": "Audit",
                "child_events": children,
            })
        })
        .collect();
    // An empty answer moves the window to where the export stopped (the lag cutoff).
    let end_time = page
        .last()
        .map_or(start.max(cutoff_s), |x| x.created_at.as_second());
    let mut next = format!(
        "{}?start_time={end_time}",
        a.url("incremental/ticket_events.json")
    );
    if comments {
        next.push_str("&include=comment_events");
    }
    let count = events.len();
    let body = json!({
        "ticket_events": events,
        "next_page": next,
        "end_time": end_time,
        "end_of_stream": count < size,
        "count": count,
    });
    Ok(Resp::ok(&body))
}

/// `GET /api/v2/incremental/tickets.json?start_time=…` (time-based): tickets whose
/// `generated_timestamp` is at or after `start_time`, oldest change first.
pub(crate) fn tickets_time(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    check_limit(a, req)?;
    let size = per_page(req)?;
    let start = start_time(req)?;
    let exclude_deleted = req.param("exclude_deleted") == Some("true");
    let cutoff = req.now_ms - i64::try_from(a.knobs.export_lag_secs).unwrap_or(0) * 1000;
    let start_ms = start.saturating_mul(1000);
    let mut tickets = Vec::new();
    let mut last_s = None;
    let mut full = false;
    for id in a.export_order.values() {
        let Some(rec) = a.tickets.get(id) else {
            continue;
        };
        if rec.changed_ms < start_ms {
            continue;
        }
        if rec.changed_ms > cutoff {
            break;
        }
        let s = rec.changed_ms.div_euclid(1000);
        // Never split one second across pages.
        if tickets.len() >= size && last_s != Some(s) {
            full = true;
            break;
        }
        last_s = Some(s);
        if rec.deleted && exclude_deleted {
            continue;
        }
        tickets.push(a.wire(rec));
    }
    let end_time = last_s.unwrap_or_else(|| start.max(cutoff.div_euclid(1000)));
    let mut next = format!(
        "{}?start_time={end_time}",
        a.url("incremental/tickets.json")
    );
    if req.param("per_page").is_some() {
        next.push_str(&format!("&per_page={size}"));
    }
    if exclude_deleted {
        next.push_str("&exclude_deleted=true");
    }
    let count = tickets.len();
    Ok(Resp::ok(&json!({
        "tickets": tickets,
        "next_page": next,
        "count": count,
        "end_of_stream": !full,
        "end_time": end_time,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::http::testing::{T0_MS, account, body, req};

    fn create(a: &mut Account, at_ms: i64) -> u64 {
        let r = req(
            a,
            "a@x.example",
            at_ms,
            r#"{"ticket":{"comment":{"body":"b"}}}"#,
        );
        body(&crate::sim::tickets::create(a, &r).unwrap())["ticket"]["id"]
            .as_u64()
            .unwrap()
    }

    fn query(r: &mut Req, pairs: &[(&str, String)]) {
        r.query = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
    }

    #[test]
    fn cursor_export_is_a_lagged_prefix() {
        let mut a = account();
        a.knobs.limits = crate::sim::config::Limits::unlimited();
        let old = create(&mut a, T0_MS);
        let young = create(&mut a, T0_MS + 50_000);
        let mut r = req(&mut a, "a@x.example", T0_MS + 70_000, "");
        query(&mut r, &[("start_time", (T0_MS / 1000 - 1).to_string())]);
        let page = body(&tickets_cursor(&mut a, &r).unwrap());
        let ids: Vec<_> = page["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].clone())
            .collect();
        assert_eq!(ids, [json!(old)], "the young ticket is inside the 60 s lag");
        assert_eq!(page["end_of_stream"], true);
        // Later, the cursor hands out only the young one.
        let cursor = page["after_cursor"].as_str().unwrap().to_owned();
        r.now_ms = T0_MS + 120_000;
        query(&mut r, &[("cursor", cursor)]);
        let page = body(&tickets_cursor(&mut a, &r).unwrap());
        assert_eq!(page["tickets"][0]["id"], json!(young));
        assert_eq!(page["tickets"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn event_pages_never_split_a_second_and_limit_applies() {
        let mut a = account();
        for _ in 0..3 {
            create(&mut a, T0_MS);
        }
        let mut r = req(&mut a, "a@x.example", T0_MS + 120_000, "");
        query(
            &mut r,
            &[
                ("start_time", (T0_MS / 1000).to_string()),
                ("per_page", "2".to_owned()),
            ],
        );
        let page = body(&ticket_events(&mut a, &r).unwrap());
        assert_eq!(page["count"], 3);
        assert_eq!(page["end_time"], T0_MS / 1000);
        // Default limit: 10 export requests per minute.
        for _ in 0..9 {
            ticket_events(&mut a, &r).unwrap();
        }
        let e = ticket_events(&mut a, &r).unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
    }
}
