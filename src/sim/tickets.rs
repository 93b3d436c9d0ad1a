//! Tickets: create (with the first comment and `Idempotency-Key`), show, show_many, list
//! (cursor or offset, `external_id` filter), update (one comment, fields, tags, safe
//! update, closed-ticket refusal, update limits), soft delete, and the tags endpoints.
//! What a write's body says and how it changes a ticket is `ticket_write.rs`.

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::sim::comments;
use crate::sim::error::ApiError;
use crate::sim::http::{Req, Resp, id_list, json_value, percent_encode};
use crate::sim::limits::{self, Admit};
use crate::sim::pagination;
use crate::sim::state::{Account, Audit, Event, EventKind, TicketRec, normalize_tags, via};
use crate::sim::ticket_write::{
    Write, apply_fields, custom_metadata, events, lenient_bool, opt_id, parse_write, requester_of,
    validate,
};
use crate::zendesk::models::{NewComment, Status, Ticket, TicketWrite};

/// How long Zendesk remembers an `Idempotency-Key` (two hours).
pub const IDEMPOTENCY_TTL_MS: i64 = 2 * 60 * 60 * 1000;
/// At most this many comments per ticket.
pub const MAX_COMMENTS: usize = 5000;

/// Creates a ticket from a parsed write; returns (ticket id, audit index).
fn create_ticket(a: &mut Account, req: &Req, wr: &Write) -> Result<(u64, usize), ApiError> {
    let mut comment = wr.w.comment.clone().unwrap_or_default();
    if !comments::has_content(&comment)
        && let Some(d) = wr
            .extra
            .description
            .as_ref()
            .filter(|d| !d.trim().is_empty())
    {
        comment.body = Some(d.clone());
    }
    if !comments::has_content(&comment) {
        return Err(ApiError::invalid_with(
            "description",
            "Description: cannot be blank",
            "BlankValue",
        ));
    }
    validate(a, wr, req.now)?;
    let now = req.now;
    let requester = match (wr.w.requester_id, &wr.extra.requester) {
        (Some(id), _) => id,
        (None, Some(spec)) => requester_of(a, spec, now).unwrap_or(req.caller.id),
        _ => req.caller.id,
    };
    let submitter = wr
        .extra
        .submitter_id
        .or(comment.author_id)
        .unwrap_or(req.caller.id);
    let id = a.ids.ticket();
    let mut rec = TicketRec {
        ticket: Ticket {
            id,
            url: a.url(&format!("tickets/{id}.json")),
            external_id: None,
            subject: None,
            raw_subject: None,
            description: None,
            status: Status::New,
            priority: None,
            ticket_type: None,
            requester_id: Some(requester),
            submitter_id: Some(submitter),
            assignee_id: None,
            group_id: None,
            organization_id: None,
            brand_id: a.default_brand(),
            collaborator_ids: Vec::new(),
            follower_ids: Vec::new(),
            tags: Vec::new(),
            custom_fields: Vec::new(),
            via: via(req.channel),
            sharing_agreement_ids: Vec::new(),
            is_public: comment.public.unwrap_or(true),
            has_incidents: false,
            due_at: None,
            ticket_form_id: a.default_form(),
            created_at: now,
            updated_at: now,
        },
        values: Default::default(),
        deleted: false,
        comments: Vec::new(),
        seq: 0,
        changed_ms: req.now_ms,
    };
    let mut changes = apply_fields(a, &mut rec, wr);
    if rec.ticket.organization_id.is_none() {
        rec.ticket.organization_id = a.users.get(&requester).and_then(|u| u.organization_id);
    }
    if wr.w.status.is_none() && rec.ticket.assignee_id.is_some() {
        rec.ticket.status = Status::Open;
    }
    if !changes.iter().any(|(f, _, _)| f == "status") {
        changes.insert(
            0,
            ("status".to_owned(), Value::Null, json!(rec.ticket.status)),
        );
    }
    let first = comments::build(a, &comment, submitter, req.channel, now);
    rec.ticket.description = Some(first.body.clone());
    let comment_id = first.id;
    rec.comments.push(first);
    let mut evs = vec![Event {
        id: a.ids.object(),
        kind: EventKind::Comment { comment_id },
    }];
    evs.extend(events(a, changes, true));
    a.tickets.insert(id, rec);
    a.touch(id, req.now_ms);
    let audit = Audit {
        id: a.ids.object(),
        ticket_id: id,
        created_at: now,
        author_id: submitter,
        via: via(req.channel),
        events: evs,
        custom: custom_metadata(wr),
    };
    a.audits.push(audit);
    Ok((id, a.audits.len() - 1))
}

/// `POST /api/v2/tickets` → 201 `{"ticket": …, "audit": …}`, honouring `Idempotency-Key`.
pub(crate) fn create(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let (wr, whole) = parse_write(&req.body)?;
    if let Some(key) = &req.idempotency_key {
        // Expired keys are forgotten: on lookup, and in bulk now and then.
        if a.idempotency
            .get(key)
            .is_some_and(|r| req.now_ms - r.at_ms >= IDEMPOTENCY_TTL_MS)
        {
            a.idempotency.remove(key);
        }
        if a.idempotency.len() % 1024 == 1023 {
            a.idempotency
                .retain(|_, r| req.now_ms - r.at_ms < IDEMPOTENCY_TTL_MS);
        }
        if let Some(prev) = a.idempotency.get(key) {
            if prev.request != whole {
                return Err(ApiError::bad_param(
                    "IdempotentRequestError",
                    "Request parameters don't match the given idempotency key",
                ));
            }
            let mut r = Resp::json(
                StatusCode::from_u16(prev.status).unwrap_or(StatusCode::CREATED),
                &Value::Null,
            );
            r.body = prev.response.clone();
            r.headers.push(("x-idempotency-lookup", "hit".to_owned()));
            return Ok(r);
        }
    }
    let (id, audit_ix) = create_ticket(a, req, &wr)?;
    let rec = a.live(id)?;
    let body = json!({"ticket": a.wire(rec), "audit": a.audit_json(&a.audits[audit_ix])});
    let mut r = Resp::json(StatusCode::CREATED, &body);
    if let Some(key) = &req.idempotency_key {
        a.idempotency.insert(
            key.clone(),
            crate::sim::state::IdemRec {
                request: whole,
                status: StatusCode::CREATED.as_u16(),
                response: r.body.clone(),
                at_ms: req.now_ms,
            },
        );
        r.headers.push(("x-idempotency-lookup", "miss".to_owned()));
    }
    Ok(r)
}

/// `GET /api/v2/tickets/{id}`.
pub(crate) fn show(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let rec = a.live(req.ids[0])?;
    Ok(Resp::ok(&json!({"ticket": a.wire(rec)})))
}

/// `GET /api/v2/tickets/show_many?ids=1,2` (up to 100 ids; unknown ones left out).
pub(crate) fn show_many(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let ids = id_list(req.param("ids").unwrap_or(""));
    if ids.len() > 100 {
        return Err(ApiError::bad_param(
            "InvalidParameter",
            "ids: at most 100 ids may be requested",
        ));
    }
    let tickets: Vec<_> = ids
        .iter()
        .filter_map(|id| a.live(*id).ok())
        .map(|r| a.wire(r))
        .collect();
    Ok(Resp::ok(&json!({"tickets": tickets})))
}

/// `GET /api/v2/tickets/count` → `{"count": {"value": N, "refreshed_at": …}}`.
pub(crate) fn count(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let n = a.tickets.values().filter(|r| !r.deleted).count();
    Ok(Resp::ok(
        &json!({"count": {"value": n, "refreshed_at": req.now}}),
    ))
}

/// Whether a list asks for descending order (`sort=-id` / `sort_order=desc`).
pub(crate) fn descending(req: &Req) -> bool {
    req.param("sort").is_some_and(|s| s.starts_with('-')) || req.param("sort_order") == Some("desc")
}

/// `GET /api/v2/tickets/{id}/audits` (oldest first; cursor or offset pages).
pub(crate) fn audits(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let id = req.ids[0];
    a.live(id)?;
    let mut ix: Vec<usize> = (0..a.audits.len())
        .filter(|i| a.audits[*i].ticket_id == id)
        .collect();
    let desc = descending(req);
    if desc {
        ix.reverse();
    }
    let keys: Vec<u64> = ix.iter().map(|i| a.audits[*i].id).collect();
    let url = format!("{}?", a.url(&format!("tickets/{id}/audits.json")));
    pagination::list(&req.query, "audits", &keys, !desc, &url, |i| {
        a.audit_json(&a.audits[ix[i]])
    })
}

/// `GET /api/v2/tickets` (by id; `sort=-id` or `sort_order=desc` reverses;
/// `external_id=` filters).
pub(crate) fn list(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let ext = req.param("external_id");
    let desc = descending(req);
    let mut keys: Vec<u64> = a
        .tickets
        .values()
        .filter(|r| !r.deleted)
        .filter(|r| ext.is_none() || r.ticket.external_id.as_deref() == ext)
        .map(|r| r.ticket.id)
        .collect();
    if desc {
        keys.reverse();
    }
    let url = match ext {
        Some(e) => format!(
            "{}?external_id={}&",
            a.url("tickets.json"),
            percent_encode(e)
        ),
        None => format!("{}?", a.url("tickets.json")),
    };
    let url = if desc { format!("{url}sort=-id&") } else { url };
    pagination::list(&req.query, "tickets", &keys, !desc, &url, |i| {
        a.wire(&a.tickets[&keys[i]])
    })
}

/// Zendesk's answer to a write on a closed ticket.
pub(crate) fn closed_error() -> ApiError {
    ApiError::invalid_with(
        "status",
        "Status: closed prevents ticket update",
        "ClosedTicket",
    )
}

/// 409 for a stale `updated_stamp`.
pub(crate) fn check_safe_update(
    t: &Ticket,
    safe: Option<bool>,
    stamp: Option<jiff::Timestamp>,
) -> Result<(), ApiError> {
    if safe == Some(true) {
        match stamp {
            Some(s) if s == t.updated_at => {}
            _ => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    json!({"error": "UpdateConflict", "description": "Safe Update prevented the update due to outdated ticket data. Please fetch the latest ticket data and try again."}),
                ));
            }
        }
    }
    Ok(())
}

/// Applies Update Ticket's limits for this caller and ticket (recording the request).
fn check_update_limits(a: &mut Account, req: &Req, ticket_id: u64) -> Result<(), ApiError> {
    let lim = a.knobs.limits;
    if let Admit::Throttled { retry_after } = limits::peek(
        &mut a.limits.ticket_updates,
        req.now_ms,
        lim.ticket_updates_per_minute,
        limits::MINUTE_MS,
    ) {
        return Err(ApiError::throttled(
            retry_after,
            "Number of allowed ticket updates per minute exceeded",
        ));
    }
    let hist = a
        .limits
        .per_user_ticket
        .entry((req.caller.id, ticket_id))
        .or_default();
    if let Admit::Throttled { retry_after } = limits::admit(
        hist,
        req.now_ms,
        lim.ticket_updates_per_10min,
        limits::TEN_MINUTES_MS,
    ) {
        return Err(ApiError::throttled(
            retry_after,
            "Rate limit for ticket updates exceeded, please wait before updating this ticket again",
        ));
    }
    limits::admit(
        &mut a.limits.ticket_updates,
        req.now_ms,
        lim.ticket_updates_per_minute,
        limits::MINUTE_MS,
    );
    Ok(())
}

/// Updates a ticket from a parsed write; `Some(audit index)` when anything changed.
fn update_ticket(
    a: &mut Account,
    req: &Req,
    id: u64,
    wr: &Write,
) -> Result<Option<usize>, ApiError> {
    let rec = a.live(id)?;
    if rec.ticket.status == Status::Closed {
        return Err(closed_error());
    }
    check_safe_update(&rec.ticket, wr.w.safe_update, wr.w.updated_stamp)?;
    let comment = wr.w.comment.as_ref().filter(|c| comments::has_content(c));
    if comment.is_some() && rec.comments.len() >= MAX_COMMENTS {
        return Err(ApiError::invalid_with(
            "base",
            "Ticket has reached the maximum number of comments (5000)",
            "TooManyComments",
        ));
    }
    validate(a, wr, req.now)?;
    let Some(mut rec) = a.tickets.remove(&id) else {
        return Err(ApiError::not_found());
    };
    let mut changes = apply_fields(a, &mut rec, wr);
    if wr.w.requester_id.is_none()
        && let Some(spec) = &wr.extra.requester
        && let Some(uid) = requester_of(a, spec, req.now)
        && rec.ticket.requester_id != Some(uid)
    {
        changes.push((
            "requester_id".to_owned(),
            opt_id(rec.ticket.requester_id),
            json!(uid),
        ));
        rec.ticket.requester_id = Some(uid);
    }
    let mut evs = Vec::new();
    let author = comment.and_then(|c| c.author_id).unwrap_or(req.caller.id);
    if let Some(c) = comment {
        let built = comments::build(a, c, author, req.channel, req.now);
        evs.push(Event {
            id: a.ids.object(),
            kind: EventKind::Comment {
                comment_id: built.id,
            },
        });
        rec.comments.push(built);
    }
    if rec.ticket.status == Status::New && wr.w.status.is_none() && rec.ticket.assignee_id.is_some()
    {
        rec.ticket.status = Status::Open;
        changes.push(("status".to_owned(), json!("new"), json!("open")));
    }
    evs.extend(events(a, changes, false));
    if evs.is_empty() {
        a.tickets.insert(id, rec);
        return Ok(None);
    }
    rec.ticket.updated_at = req.now;
    a.tickets.insert(id, rec);
    a.touch(id, req.now_ms);
    a.audits.push(Audit {
        id: a.ids.object(),
        ticket_id: id,
        created_at: req.now,
        author_id: author,
        via: via(req.channel),
        events: evs,
        custom: custom_metadata(wr),
    });
    Ok(Some(a.audits.len() - 1))
}

/// `PUT /api/v2/tickets/{id}` → 200 `{"ticket": …, "audit": …}`.
pub(crate) fn update(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let id = req.ids[0];
    a.live(id)?;
    check_update_limits(a, req, id)?;
    let (wr, _) = parse_write(&req.body)?;
    let audit = update_ticket(a, req, id, &wr)?;
    // A write that changes nothing stores no audit; the answer still has the
    // `{"ticket", "audit"}` shape clients parse (an audit with no events).
    let audit = match audit {
        Some(ix) => a.audit_json(&a.audits[ix]),
        None => {
            let transient = Audit {
                id: a.ids.object(),
                ticket_id: id,
                created_at: req.now,
                author_id: req.caller.id,
                via: via(req.channel),
                events: Vec::new(),
                custom: json!({}),
            };
            a.audit_json(&transient)
        }
    };
    let rec = a.live(id)?;
    Ok(Resp::ok(&json!({"ticket": a.wire(rec), "audit": audit})))
}

/// `DELETE /api/v2/tickets/{id}` → 204; the ticket then answers 404 and shows in the
/// incremental export as `deleted`.
pub(crate) fn delete(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let id = req.ids[0];
    a.live(id)?;
    if let Some(rec) = a.tickets.get_mut(&id) {
        rec.deleted = true;
        rec.ticket.updated_at = req.now;
    }
    a.touch(id, req.now_ms);
    Ok(Resp::no_content())
}

#[derive(Debug, Default, Deserialize)]
struct TagsBody {
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    safe_update: Option<bool>,
    #[serde(default)]
    updated_stamp: Option<jiff::Timestamp>,
}

/// `GET /api/v2/tickets/{id}/tags`.
pub(crate) fn tags(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let rec = a.live(req.ids[0])?;
    Ok(Resp::ok(&json!({"tags": rec.ticket.tags})))
}

/// How a tags request changes the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagOp {
    Set,
    Add,
    Remove,
}

/// `POST` (set, 201), `PUT` (add, 200), `DELETE` (remove, 200) on a ticket's tags.
pub(crate) fn change_tags(a: &mut Account, req: &Req, op: TagOp) -> Result<Resp, ApiError> {
    let id = req.ids[0];
    let rec = a.live(id)?;
    let body: TagsBody = match json_value(&req.body) {
        Ok(mut v) => {
            lenient_bool(&mut v, "safe_update");
            serde_json::from_value(v)
                .map_err(|e| ApiError::invalid("tags", &format!("tags is invalid: {e}")))?
        }
        Err(_) if op == TagOp::Remove && req.body.is_empty() => TagsBody::default(),
        Err(e) => return Err(e),
    };
    if rec.ticket.status == Status::Closed {
        return Err(closed_error());
    }
    check_safe_update(&rec.ticket, body.safe_update, body.updated_stamp)?;
    let before = rec.ticket.tags.clone();
    let given = normalize_tags(&body.tags);
    let after = match op {
        TagOp::Set => given,
        TagOp::Add => {
            let mut all = before.clone();
            all.extend(given);
            normalize_tags(&all)
        }
        TagOp::Remove => before
            .iter()
            .filter(|t| !given.contains(t))
            .cloned()
            .collect(),
    };
    if after != before {
        let ev = Event {
            id: a.ids.object(),
            kind: EventKind::Change {
                field: "tags".to_owned(),
                previous: json!(before),
                value: json!(after),
            },
        };
        if let Some(rec) = a.tickets.get_mut(&id) {
            rec.ticket.tags = after.clone();
            rec.ticket.updated_at = req.now;
        }
        a.touch(id, req.now_ms);
        a.audits.push(Audit {
            id: a.ids.object(),
            ticket_id: id,
            created_at: req.now,
            author_id: req.caller.id,
            via: via(req.channel),
            events: vec![ev],
            custom: json!({}),
        });
    }
    let status = if op == TagOp::Set {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(Resp::json(status, &json!({"tags": after})))
}

/// Creates a ticket as `req.caller` (used by the [`crate::sim::Simulator`] helpers).
pub(crate) fn create_direct(
    a: &mut Account,
    req: &Req,
    write: &TicketWrite,
) -> Result<u64, ApiError> {
    let raw = serde_json::to_value(write).unwrap_or(Value::Null);
    // The same extras an HTTP write gets from its body (e.g. `metadata`).
    let extra = serde_json::from_value(raw.clone()).unwrap_or_default();
    let wr = Write {
        w: write.clone(),
        extra,
        raw,
    };
    create_ticket(a, req, &wr).map(|(id, _)| id)
}

/// Updates a ticket as `req.caller` (helpers; no rate limits).
pub(crate) fn update_direct(
    a: &mut Account,
    req: &Req,
    id: u64,
    write: &TicketWrite,
) -> Result<(), ApiError> {
    let raw = serde_json::to_value(write).unwrap_or(Value::Null);
    // The same extras an HTTP write gets from its body (e.g. `metadata`).
    let extra = serde_json::from_value(raw.clone()).unwrap_or_default();
    let wr = Write {
        w: write.clone(),
        extra,
        raw,
    };
    update_ticket(a, req, id, &wr).map(|_| ())
}

/// The comment a helper adds (author defaults to the caller).
pub(crate) fn comment_write(body: &str, public: bool) -> TicketWrite {
    TicketWrite {
        comment: Some(NewComment {
            body: Some(body.to_owned()),
            public: Some(public),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::http::testing::{T0_MS, account, body, req};
    use axum::body::Bytes;

    const CREATE: &str = r#"{"ticket":{"subject":"s","comment":{"body":"hello"}}}"#;

    fn create_one(a: &mut Account) -> u64 {
        let r = req(a, "a@x.example", T0_MS, CREATE);
        body(&create(a, &r).unwrap())["ticket"]["id"]
            .as_u64()
            .unwrap()
    }

    #[test]
    fn idempotency_hit_miss_mismatch_and_expiry() {
        let mut a = account();
        let mut r = req(&mut a, "a@x.example", T0_MS, CREATE);
        r.idempotency_key = Some("k1".to_owned());
        let first = create(&mut a, &r).unwrap();
        assert_eq!(first.status, StatusCode::CREATED);
        assert!(
            first
                .headers
                .contains(&("x-idempotency-lookup", "miss".to_owned()))
        );
        let again = create(&mut a, &r).unwrap();
        assert!(
            again
                .headers
                .contains(&("x-idempotency-lookup", "hit".to_owned()))
        );
        assert_eq!(body(&again)["ticket"]["id"], body(&first)["ticket"]["id"]);
        assert_eq!(a.tickets.len(), 1);
        // Same key, different body.
        let mut other = req(
            &mut a,
            "a@x.example",
            T0_MS,
            r#"{"ticket":{"comment":{"body":"x"}}}"#,
        );
        other.idempotency_key = Some("k1".to_owned());
        let e = create(&mut a, &other).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.body["error"], "IdempotentRequestError");
        // After two hours the key is forgotten: a new ticket.
        let mut late = req(&mut a, "a@x.example", T0_MS + IDEMPOTENCY_TTL_MS, CREATE);
        late.idempotency_key = Some("k1".to_owned());
        let r3 = create(&mut a, &late).unwrap();
        assert!(
            r3.headers
                .contains(&("x-idempotency-lookup", "miss".to_owned()))
        );
        assert_eq!(a.tickets.len(), 2);
    }

    #[test]
    fn create_requires_a_comment_and_sets_description() {
        let mut a = account();
        let r = req(
            &mut a,
            "a@x.example",
            T0_MS,
            r#"{"ticket":{"subject":"s"}}"#,
        );
        let e = create(&mut a, &r).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.body["error"], "RecordInvalid");
        let r = req(&mut a, "a@x.example", T0_MS, "{not json");
        assert_eq!(
            create(&mut a, &r).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        let id = create_one(&mut a);
        let t = &a.tickets[&id].ticket;
        assert_eq!(t.description.as_deref(), Some("hello"));
        assert_eq!(t.requester_id, t.submitter_id);
        assert_eq!(t.created_at.to_string(), "2026-09-21T14:13:20Z");
    }

    #[test]
    fn closed_tickets_refuse_updates() {
        let mut a = account();
        let id = create_one(&mut a);
        let mut r = req(
            &mut a,
            "a@x.example",
            T0_MS,
            r#"{"ticket":{"status":"solved"}}"#,
        );
        r.ids = [id, 0];
        update(&mut a, &r).unwrap();
        r.body = Bytes::from_static(br#"{"ticket":{"status":"closed"}}"#);
        update(&mut a, &r).unwrap();
        r.body = Bytes::from_static(br#"{"ticket":{"comment":{"body":"late"}}}"#);
        let e = update(&mut a, &r).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.body["error"], "RecordInvalid");
        assert!(
            e.body["details"]["status"][0]["description"]
                .as_str()
                .unwrap()
                .contains("closed")
        );
        assert_eq!(a.tickets[&id].comments.len(), 1);
    }

    #[test]
    fn safe_update_conflicts_on_stale_stamp() {
        let mut a = account();
        let id = create_one(&mut a);
        let stamp = a.tickets[&id].ticket.updated_at;
        let later = T0_MS + 5_000;
        let mut r = req(
            &mut a,
            "a@x.example",
            later,
            r#"{"ticket":{"priority":"high"}}"#,
        );
        r.ids = [id, 0];
        update(&mut a, &r).unwrap();
        let stale = format!(
            r#"{{"ticket":{{"status":"open","safe_update":true,"updated_stamp":"{stamp}"}}}}"#
        );
        r.body = Bytes::from(stale);
        let e = update(&mut a, &r).unwrap_err();
        assert_eq!(e.status, StatusCode::CONFLICT);
        assert_eq!(e.body["error"], "UpdateConflict");
        let fresh = a.tickets[&id].ticket.updated_at;
        r.body = Bytes::from(format!(
            r#"{{"ticket":{{"status":"open","safe_update":true,"updated_stamp":"{fresh}"}}}}"#
        ));
        assert!(update(&mut a, &r).is_ok());
    }

    #[test]
    fn per_user_per_ticket_update_limit() {
        let mut a = account();
        let id = create_one(&mut a);
        let mut r = req(
            &mut a,
            "a@x.example",
            T0_MS,
            r#"{"ticket":{"comment":{"body":"x"}}}"#,
        );
        r.ids = [id, 0];
        for i in 0..30 {
            r.now_ms = T0_MS + i;
            update(&mut a, &r).unwrap();
        }
        let e = update(&mut a, &r).unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.retry_after, Some(600));
        // Another user may still update the same ticket.
        let mut other = req(
            &mut a,
            "b@x.example",
            T0_MS + 31,
            r#"{"ticket":{"comment":{"body":"y"}}}"#,
        );
        other.ids = [id, 0];
        assert!(update(&mut a, &other).is_ok());
    }

    #[test]
    fn comment_limit_is_5000() {
        let mut a = account();
        let id = create_one(&mut a);
        let c = a.tickets[&id].comments[0].clone();
        a.tickets.get_mut(&id).unwrap().comments = vec![c; MAX_COMMENTS];
        let mut r = req(
            &mut a,
            "a@x.example",
            T0_MS,
            r#"{"ticket":{"comment":{"body":"x"}}}"#,
        );
        r.ids = [id, 0];
        let e = update(&mut a, &r).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        // A field-only update still works.
        r.body = Bytes::from_static(br#"{"ticket":{"status":"open"}}"#);
        assert!(update(&mut a, &r).is_ok());
    }

    #[test]
    fn tags_and_dropdown_fields() {
        let mut a = account();
        let fid = a.add_field(
            "tagger",
            "Tier",
            vec![
                crate::zendesk::models::FieldOption {
                    id: 0,
                    name: "Gold".into(),
                    value: "tier_gold".into(),
                },
                crate::zendesk::models::FieldOption {
                    id: 0,
                    name: "Silver".into(),
                    value: "tier_silver".into(),
                },
            ],
            true,
            crate::sim::clock::seconds(T0_MS),
        );
        let id = create_one(&mut a);
        let mut r = req(&mut a, "a@x.example", T0_MS, "");
        r.ids = [id, 0];
        r.body = Bytes::from(format!(
            r#"{{"ticket":{{"additional_tags":["Urgent"],"custom_fields":[{{"id":{fid},"value":"tier_gold"}}]}}}}"#
        ));
        let out = body(&update(&mut a, &r).unwrap());
        assert_eq!(out["ticket"]["tags"], json!(["urgent", "tier_gold"]));
        assert_eq!(
            out["ticket"]["custom_fields"][0],
            json!({"id": fid, "value": "tier_gold"})
        );
        r.body = Bytes::from_static(br#"{"tags":["urgent"]}"#);
        let out = body(&change_tags(&mut a, &r, TagOp::Remove).unwrap());
        assert_eq!(out, json!({"tags": ["tier_gold"]}));
        r.body = Bytes::from_static(br#"{"tags":["a","b"]}"#);
        let set = change_tags(&mut a, &r, TagOp::Set).unwrap();
        assert_eq!(set.status, StatusCode::CREATED);
        assert_eq!(body(&set), json!({"tags": ["a", "b"]}));
    }

    #[test]
    fn delete_is_soft() {
        let mut a = account();
        let id = create_one(&mut a);
        let mut r = req(&mut a, "a@x.example", T0_MS, "");
        r.ids = [id, 0];
        assert_eq!(delete(&mut a, &r).unwrap().status, StatusCode::NO_CONTENT);
        assert_eq!(show(&mut a, &r).unwrap_err().status, StatusCode::NOT_FOUND);
        assert_eq!(a.wire(&a.tickets[&id]).ticket.status, Status::Deleted);
    }
}
