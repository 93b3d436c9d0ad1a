//! Search: `GET /api/v2/search?query=…` over tickets (offset pages of at most 100, at most
//! 1000 results, as Zendesk) and `GET /api/v2/search/count`. A subset of Zendesk's query
//! language: `type:ticket`, `status:`, `tags:`/`tag:`, `external_id:`, `requester_id:`,
//! `assignee_id:`, `group_id:`, `brand_id:`, `priority:`, `ticket_type:`,
//! `created>`/`created<`/`updated>`/`updated<` (a date or an ISO time), `-` to negate,
//! and free text (case-insensitive, in subject, description and comments; quotes keep a
//! phrase together). The index is always up to date (Zendesk's lags a little).

use serde::Serialize;
use serde_json::json;

use crate::sim::error::ApiError;
use crate::sim::http::{Req, Resp, percent_encode};
use crate::sim::state::{Account, TicketRec, WireTicket};

/// Zendesk returns at most this many search results in total.
pub const MAX_RESULTS: usize = 1000;

#[derive(Serialize)]
struct Hit {
    #[serde(flatten)]
    ticket: WireTicket,
    result_type: &'static str,
}

/// One query term.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    Type(String),
    Field {
        name: String,
        op: char,
        value: String,
    },
    Text(String),
}

/// Splits a query into (negated, term) pairs.
fn parse(query: &str) -> Vec<(bool, Term)> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in query.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
        .into_iter()
        .map(|w| {
            let (neg, w) = match w.strip_prefix('-') {
                Some(rest) if !rest.is_empty() => (true, rest.to_owned()),
                _ => (false, w),
            };
            let split = w.find([':', '>', '<']);
            let term = match split {
                Some(i) if i > 0 => {
                    let name = w[..i].to_lowercase();
                    let op = w[i..].chars().next().unwrap_or(':');
                    let value = w[i + 1..].to_owned();
                    if name == "type" {
                        Term::Type(value.to_lowercase())
                    } else {
                        Term::Field { name, op, value }
                    }
                }
                _ => Term::Text(w.to_lowercase()),
            };
            (neg, term)
        })
        .collect()
}

/// `2026-11-23` or `2026-11-23T05:29:05Z` → Unix seconds.
fn when(s: &str) -> Option<i64> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Some(t.as_second());
    }
    let d: jiff::civil::Date = s.parse().ok()?;
    Some(
        d.to_zoned(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_second(),
    )
}

/// Zendesk's status order, for `status<closed` and friends.
fn status_rank(s: &str) -> Option<usize> {
    ["new", "open", "pending", "hold", "solved", "closed"]
        .iter()
        .position(|x| *x == s)
}

/// Whether user `id` is the one `value` names: its id, email or name (or `none`).
fn user_is(a: &Account, id: Option<u64>, value: &str) -> bool {
    let v = value.to_lowercase();
    match id {
        None => v == "none",
        Some(id) if id.to_string() == v => true,
        Some(id) => a.users.get(&id).is_some_and(|u| {
            u.email.as_deref().is_some_and(|e| e == v) || u.name.to_lowercase() == v
        }),
    }
}

fn matches(a: &Account, rec: &TicketRec, term: &Term) -> bool {
    let t = &rec.ticket;
    match term {
        Term::Type(ty) => ty == "ticket",
        Term::Text(text) => {
            let hay = |s: &str| s.to_lowercase().contains(text.as_str());
            t.subject.as_deref().is_some_and(hay)
                || t.description.as_deref().is_some_and(hay)
                || rec.comments.iter().any(|c| hay(&c.body))
        }
        Term::Field { name, op, value } => {
            let id_is = |v: Option<u64>| v.is_some_and(|v| v.to_string() == *value);
            let time_cmp = |secs: i64| match (when(value), op) {
                (Some(w), '>') => secs > w,
                (Some(w), '<') => secs < w,
                (Some(w), _) => secs.div_euclid(86_400) == w.div_euclid(86_400),
                (None, _) => false,
            };
            match name.as_str() {
                "status" => match (
                    status_rank(t.status.as_str()),
                    status_rank(&value.to_lowercase()),
                    op,
                ) {
                    (Some(have), Some(want), '<') => have < want,
                    (Some(have), Some(want), '>') => have > want,
                    _ => t.status.as_str() == value.to_lowercase(),
                },
                "tags" | "tag" => t.tags.iter().any(|x| x.eq_ignore_ascii_case(value)),
                "external_id" => t.external_id.as_deref() == Some(value.as_str()),
                "requester_id" => id_is(t.requester_id),
                "assignee_id" => id_is(t.assignee_id),
                "requester" => user_is(a, t.requester_id, value),
                "assignee" => user_is(a, t.assignee_id, value),
                "submitter" => user_is(a, t.submitter_id, value),
                "organization" | "organization_id" => id_is(t.organization_id),
                "subject" => t
                    .subject
                    .as_deref()
                    .is_some_and(|s| s.to_lowercase().contains(&value.to_lowercase())),
                "group_id" | "group" => id_is(t.group_id),
                "brand_id" | "brand" => id_is(t.brand_id),
                "priority" => t.priority.as_deref() == Some(value.as_str()),
                "ticket_type" => t.ticket_type.as_deref() == Some(value.as_str()),
                "created" => time_cmp(t.created_at.as_second()),
                "updated" => time_cmp(t.updated_at.as_second()),
                _ => false,
            }
        }
    }
}

/// Live ticket ids matching `query`, by id.
fn run(a: &Account, query: &str) -> Vec<u64> {
    let terms = parse(query);
    if terms
        .iter()
        .any(|(neg, t)| !neg && matches!(t, Term::Type(ty) if ty != "ticket"))
    {
        return Vec::new();
    }
    a.tickets
        .values()
        .filter(|r| !r.deleted)
        .filter(|r| terms.iter().all(|(neg, t)| matches(a, r, t) != *neg))
        .map(|r| r.ticket.id)
        .collect()
}

fn query_of(req: &Req) -> Result<&str, ApiError> {
    req.param("query")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| ApiError::bad_param("InvalidSearchParameter", "query is required"))
}

/// `GET /api/v2/search?query=…[&sort_by=created_at|updated_at&sort_order=asc|desc]`.
pub(crate) fn search(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let query = query_of(req)?;
    if parse(query)
        .iter()
        .any(|(neg, t)| !neg && *t == Term::Type("user".to_owned()))
    {
        return users(a, req, query);
    }
    let mut ids = run(a, query);
    let desc = req.param("sort_order") == Some("desc");
    match req.param("sort_by") {
        Some("updated_at") => ids.sort_by_key(|id| a.tickets[id].ticket.updated_at),
        Some("created_at") => ids.sort_by_key(|id| a.tickets[id].ticket.created_at),
        _ => {}
    }
    if desc {
        ids.reverse();
    }
    let page = crate::sim::pagination::offset_page(&req.query, ids.len())?;
    if page.start >= MAX_RESULTS && !ids.is_empty() {
        return Err(ApiError::invalid_with(
            "base",
            "Invalid search: Requested response size was greater than Search Response Limits",
            "InvalidValue",
        ));
    }
    let end = page.end.min(MAX_RESULTS);
    let link = |n: usize| {
        format!(
            "{}?page={n}&per_page={}&query={}",
            a.url("search.json"),
            page.per_page,
            percent_encode(query)
        )
    };
    let next = page
        .next
        .filter(|_| end < ids.len().min(MAX_RESULTS))
        .map(link);
    let results: Vec<Hit> = ids[page.start..end]
        .iter()
        .map(|id| Hit {
            ticket: a.wire(&a.tickets[id]),
            result_type: "ticket",
        })
        .collect();
    Ok(Resp::ok(&json!({
        "results": results,
        "facets": null,
        "next_page": next,
        "previous_page": page.previous.map(link),
        "count": ids.len(),
    })))
}

/// `GET /api/v2/search/export?query=…&filter[type]=ticket` (cursor pages, `page[size]`
/// ≤ 1000, no 1000-result cap) → `{results, facets, meta, links}`.
pub(crate) fn export(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let query = query_of(req)?;
    match req.param("filter[type]") {
        Some("ticket") => {}
        _ => {
            return Err(ApiError::bad_param(
                "InvalidSearchParameter",
                "filter[type] is required: ticket",
            ));
        }
    }
    let ids = run(a, query);
    let size = match req.param("page[size]") {
        None => 1000,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::bad_param(
                    "InvalidPaginationParameter",
                    "page[size] must be between 1 and 1000",
                )
            })?,
    };
    let after = match req.param("page[after]") {
        None | Some("") => None,
        Some(c) => Some(crate::sim::pagination::decode_cursor(c).ok_or_else(|| {
            ApiError::bad_param("InvalidPaginationParameter", "cursor is invalid")
        })?),
    };
    let page = crate::sim::pagination::cursor_page(&ids, true, size, after, None);
    let url = format!(
        "{}?query={}&filter%5Btype%5D=ticket&",
        a.url("search/export.json"),
        percent_encode(query)
    );
    let (meta, mut links) = crate::sim::pagination::cursor_meta(&ids, page, size, false, &url);
    links.prev = None;
    let results: Vec<Hit> = ids[page.start..page.end]
        .iter()
        .map(|id| Hit {
            ticket: a.wire(&a.tickets[id]),
            result_type: "ticket",
        })
        .collect();
    Ok(Resp::ok(&json!({
        "results": results,
        "facets": null,
        "meta": meta,
        "links": links,
    })))
}

/// `type:user` searches: free text and `email:` against users' email and name, `role:`.
fn users(a: &Account, req: &Req, query: &str) -> Result<Resp, ApiError> {
    let terms = parse(query);
    let hits: Vec<u64> = a
        .users
        .values()
        .filter(|u| {
            terms.iter().all(|(neg, t)| {
                let m = match t {
                    Term::Type(ty) => ty == "user",
                    Term::Text(w) => {
                        u.email.as_deref().is_some_and(|e| e.contains(w.as_str()))
                            || u.name.to_lowercase().contains(w.as_str())
                    }
                    Term::Field { name, value, .. } => match name.as_str() {
                        "email" => u.email.as_deref() == Some(value.to_lowercase().as_str()),
                        "role" => u.role == value.to_lowercase(),
                        "name" => u.name.eq_ignore_ascii_case(value),
                        _ => false,
                    },
                };
                m != *neg
            })
        })
        .map(|u| u.id)
        .collect();
    let page = crate::sim::pagination::offset_page(&req.query, hits.len())?;
    let results: Vec<serde_json::Value> = hits[page.start..page.end]
        .iter()
        .map(|id| {
            let mut v = serde_json::to_value(&a.users[id]).unwrap_or_default();
            v["result_type"] = json!("user");
            v
        })
        .collect();
    let link = |n: usize| {
        format!(
            "{}?page={n}&per_page={}&query={}",
            a.url("search.json"),
            page.per_page,
            percent_encode(query)
        )
    };
    Ok(Resp::ok(&json!({
        "results": results,
        "facets": null,
        "next_page": page.next.map(link),
        "previous_page": page.previous.map(link),
        "count": hits.len(),
    })))
}

/// `GET /api/v2/search/count?query=…` → `{"count": N}`.
pub(crate) fn count(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let query = query_of(req)?;
    Ok(Resp::ok(&json!({"count": run(a, query).len()})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_terms() {
        let t = parse(r#"type:ticket -tags:vip "printer fire" created>2026-01-01"#);
        assert_eq!(t[0], (false, Term::Type("ticket".into())));
        assert!(matches!(&t[1], (true, Term::Field { name, .. }) if name == "tags"));
        assert_eq!(t[2], (false, Term::Text("printer fire".into())));
        assert!(matches!(&t[3], (false, Term::Field { op: '>', .. })));
        assert_eq!(when("1970-01-02"), Some(86_400));
        assert_eq!(when("1970-01-01T00:01:00Z"), Some(60));
    }
}
