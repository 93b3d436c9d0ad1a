//! What a ticket write says and what it changes: the body parsed (typed fields, the
//! fields the shared model does not carry, the raw object for explicit nulls), checked
//! against the account, applied to a ticket record field by field, and the audit events
//! and custom metadata it leaves.
//!
//! Architecture invariant: no endpoint, no limit, no idempotency here (`tickets.rs` owns
//! them); a write that fails its check changes nothing.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::sim::comments;
use crate::sim::error::ApiError;
use crate::sim::http::{envelope, explicit_null, json_value};
use crate::sim::state::{Account, Event, EventKind, TicketRec, normalize_tags};
use crate::zendesk::models::{CustomField, Status, TicketWrite};

/// Ticket write fields the shared model does not carry.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Extra {
    #[serde(default)]
    pub(crate) requester: Option<RequesterSpec>,
    #[serde(default)]
    pub(crate) submitter_id: Option<u64>,
    #[serde(default)]
    pub(crate) collaborator_ids: Option<Vec<u64>>,
    #[serde(default)]
    pub(crate) organization_id: Option<u64>,
    /// Zendesk accepts `fields` as an alias of `custom_fields`.
    #[serde(default)]
    pub(crate) fields: Option<Vec<CustomField>>,
    /// On create, the first comment's text when there is no `comment` (zenpy's README
    /// creates tickets this way); read-only afterwards.
    #[serde(default)]
    pub(crate) description: Option<String>,
    /// Custom audit metadata: kept in the audit of this write (`metadata.custom`).
    #[serde(default)]
    pub(crate) metadata: Option<Value>,
    /// Replaces the followers (agents).
    #[serde(default)]
    pub(crate) follower_ids: Option<Vec<u64>>,
    /// Adds (`"action": "put"`, the default) or removes (`"delete"`) followers.
    #[serde(default)]
    pub(crate) followers: Option<Vec<FollowerOp>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct FollowerOp {
    #[serde(default)]
    pub(crate) user_id: Option<u64>,
    #[serde(default)]
    pub(crate) user_email: Option<String>,
    #[serde(default)]
    pub(crate) action: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RequesterSpec {
    #[serde(default)]
    pub(crate) email: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
}

/// A parsed ticket write: typed fields plus the raw object (for explicit nulls).
pub(crate) struct Write {
    pub(crate) w: TicketWrite,
    pub(crate) extra: Extra,
    pub(crate) raw: Value,
}

/// Zendesk takes `"safe_update": "true"` as well as `true`.
pub(crate) fn lenient_bool(obj: &mut Value, key: &str) {
    if let Some(v) = obj.get_mut(key)
        && let Some(s) = v.as_str()
    {
        *v = Value::Bool(s.eq_ignore_ascii_case("true"));
    }
}

pub(crate) fn parse_write(body: &[u8]) -> Result<(Write, Value), ApiError> {
    let whole = json_value(body)?;
    let mut inner = whole.clone();
    if let Some(t) = inner.get_mut("ticket") {
        lenient_bool(t, "safe_update");
    }
    let (w, raw): (TicketWrite, Value) = envelope(inner, "ticket")?;
    let extra: Extra = serde_json::from_value(raw.clone())
        .map_err(|e| ApiError::invalid("ticket", &format!("ticket is invalid: {e}")))?;
    Ok((Write { w, extra, raw }, whole))
}

const PRIORITIES: [&str; 4] = ["urgent", "high", "normal", "low"];
const TYPES: [&str; 4] = ["problem", "incident", "question", "task"];

/// Checks a write against the account before anything changes.
pub(crate) fn validate(a: &Account, wr: &Write, now: jiff::Timestamp) -> Result<(), ApiError> {
    let w = &wr.w;
    if w.status == Some(Status::Deleted) {
        return Err(ApiError::invalid("status", "Status: is invalid"));
    }
    if let Some(Some(p)) = &w.priority
        && !p.is_empty()
        && !PRIORITIES.contains(&p.as_str())
    {
        return Err(ApiError::invalid("priority", "Priority: is invalid"));
    }
    if let Some(Some(t)) = &w.ticket_type
        && !t.is_empty()
        && !TYPES.contains(&t.as_str())
    {
        return Err(ApiError::invalid("type", "Type: is invalid"));
    }
    if let Some(f) = w.ticket_form_id
        && !crate::sim::forms::usable(a, f)
    {
        return Err(ApiError::invalid(
            "ticket_form_id",
            "Ticket form: is invalid",
        ));
    }
    if let Some(b) = w.brand_id
        && !a.brands.iter().any(|x| x.id == b)
    {
        return Err(ApiError::invalid("brand_id", "Brand: is invalid"));
    }
    if let Some(g) = w.group_id
        && !a.groups.iter().any(|x| x.id == g && !x.deleted)
    {
        return Err(ApiError::invalid("group_id", "Group: is invalid"));
    }
    if let Some(u) = w.assignee_id
        && a.users.get(&u).is_none_or(|u| u.role == "end-user")
    {
        return Err(ApiError::invalid("assignee_id", "Assignee: is invalid"));
    }
    if let Some(u) = w.requester_id
        && !a.users.contains_key(&u)
    {
        return Err(ApiError::invalid("requester_id", "Requester: is invalid"));
    }
    if let Some(u) = wr.extra.submitter_id
        && !a.users.contains_key(&u)
    {
        return Err(ApiError::invalid("submitter_id", "Submitter: is invalid"));
    }
    if let Some(o) = wr.extra.organization_id
        && !a.organizations.contains_key(&o)
    {
        return Err(ApiError::invalid(
            "organization_id",
            "Organization: is invalid",
        ));
    }
    let staff = |id: &u64| a.users.get(id).is_some_and(|u| u.role != "end-user");
    if let Some(ids) = &wr.extra.follower_ids
        && !ids.iter().all(staff)
    {
        return Err(ApiError::invalid(
            "follower_ids",
            "Followers: must be agents",
        ));
    }
    if let Some(c) = &w.comment {
        comments::validate(a, c, now)?;
    }
    Ok(())
}

/// Records `field` going from `prev` to `new` (a Create event on create).
fn record(changes: &mut Vec<(String, Value, Value)>, field: &str, prev: Value, new: Value) {
    if prev != new {
        changes.push((field.to_owned(), prev, new));
    }
}

fn opt_str(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

pub(crate) fn opt_id(i: Option<u64>) -> Value {
    i.map_or(Value::Null, Value::from)
}

/// Applies the field part of a write to `rec` (no comment), returning the changes.
pub(crate) fn apply_fields(
    a: &Account,
    rec: &mut TicketRec,
    wr: &Write,
) -> Vec<(String, Value, Value)> {
    let w = &wr.w;
    let raw = &wr.raw;
    let t = &mut rec.ticket;
    let mut ch = Vec::new();
    if let Some(s) = w.status {
        record(&mut ch, "status", json!(t.status), json!(s));
        t.status = s;
    }
    if let Some(s) = &w.subject {
        record(&mut ch, "subject", opt_str(&t.subject), json!(s));
        t.subject = Some(s.clone());
        t.raw_subject = Some(s.clone());
    }
    let clearable = |v: &Option<String>, key: &str| -> Option<Option<String>> {
        match v {
            Some(s) if s.is_empty() => Some(None),
            Some(s) => Some(Some(s.clone())),
            None if explicit_null(raw, key) => Some(None),
            None => None,
        }
    };
    // `null` or "" clears priority and type.
    let cleared = |v: &Option<Option<String>>| v.clone().map(|s| s.filter(|s| !s.is_empty()));
    if let Some(p) = cleared(&w.priority) {
        record(&mut ch, "priority", opt_str(&t.priority), opt_str(&p));
        t.priority = p;
    }
    if let Some(p) = cleared(&w.ticket_type) {
        record(&mut ch, "type", opt_str(&t.ticket_type), opt_str(&p));
        t.ticket_type = p;
    }
    // A due date belongs to tasks: kept while the ticket is a task, dropped otherwise.
    let due = w.due_at.unwrap_or(t.due_at);
    let due = due.filter(|_| t.ticket_type.as_deref() == Some("task"));
    if due != t.due_at {
        let shown = |d: Option<jiff::Timestamp>| d.map_or(Value::Null, |d| json!(d));
        record(&mut ch, "due_at", shown(t.due_at), shown(due));
        t.due_at = due;
    }
    if let Some(f) = w.ticket_form_id {
        record(
            &mut ch,
            "ticket_form_id",
            opt_id(t.ticket_form_id),
            json!(f),
        );
        t.ticket_form_id = Some(f);
    }
    if let Some(e) = clearable(&w.external_id, "external_id") {
        t.external_id = e;
    }
    let ids = [
        ("requester_id", w.requester_id),
        ("assignee_id", w.assignee_id),
        ("group_id", w.group_id),
        ("brand_id", w.brand_id),
        ("organization_id", wr.extra.organization_id),
    ];
    for (key, v) in ids {
        let new = match v {
            Some(v) => Some(v),
            None if explicit_null(raw, key) && key != "requester_id" && key != "brand_id" => None,
            None => continue,
        };
        let slot = match key {
            "requester_id" => &mut t.requester_id,
            "assignee_id" => &mut t.assignee_id,
            "group_id" => &mut t.group_id,
            "brand_id" => &mut t.brand_id,
            _ => &mut t.organization_id,
        };
        record(&mut ch, key, opt_id(*slot), opt_id(new));
        *slot = new;
    }
    if let Some(c) = &wr.extra.collaborator_ids {
        t.collaborator_ids = c.clone();
    }
    let before_followers = t.follower_ids.clone();
    if let Some(f) = &wr.extra.follower_ids {
        t.follower_ids = f.clone();
        t.follower_ids.dedup();
    }
    for op in wr.extra.followers.iter().flatten() {
        let id = op.user_id.or_else(|| {
            op.user_email
                .as_ref()
                .and_then(|e| a.users_by_email.get(&e.to_lowercase()).copied())
        });
        let Some(id) = id.filter(|id| a.users.get(id).is_some_and(|u| u.role != "end-user")) else {
            continue;
        };
        if op.action.as_deref() == Some("delete") {
            t.follower_ids.retain(|x| *x != id);
        } else if !t.follower_ids.contains(&id) {
            t.follower_ids.push(id);
        }
    }
    if t.follower_ids != before_followers {
        ch.push((
            "follower_ids".to_owned(),
            json!(before_followers),
            json!(t.follower_ids),
        ));
    }
    // Tags: replace, then add, then remove.
    let before_tags = t.tags.clone();
    if let Some(tags) = &w.tags {
        t.tags = normalize_tags(tags);
    }
    if let Some(add) = &w.additional_tags {
        let mut all = t.tags.clone();
        all.extend(normalize_tags(add));
        t.tags = normalize_tags(&all);
    }
    if let Some(rm) = &w.remove_tags {
        let rm = normalize_tags(rm);
        t.tags.retain(|x| !rm.contains(x));
    }
    // Custom fields; drop-downs and multi-selects also set their option tags.
    let fields = w
        .custom_fields
        .iter()
        .chain(wr.extra.fields.iter())
        .flatten();
    for cf in fields {
        let Some(def) = a.fields.get(&cf.id).filter(|f| f.removable) else {
            continue; // Zendesk ignores unknown field ids.
        };
        let prev = rec.values.get(&cf.id).cloned().unwrap_or(Value::Null);
        if prev != cf.value {
            ch.push((cf.id.to_string(), prev, cf.value.clone()));
        }
        let opts = &def.field.custom_field_options;
        if !opts.is_empty() {
            t.tags.retain(|tag| !opts.iter().any(|o| &o.value == tag));
            let chosen: Vec<String> = match &cf.value {
                Value::String(s) => vec![s.clone()],
                Value::Array(xs) => xs
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            };
            for c in chosen {
                if opts.iter().any(|o| o.value == c) && !t.tags.contains(&c) {
                    t.tags.push(c);
                }
            }
        }
        if cf.value.is_null() {
            rec.values.remove(&cf.id);
        } else {
            rec.values.insert(cf.id, cf.value.clone());
        }
    }
    if t.tags != before_tags {
        ch.push(("tags".to_owned(), json!(before_tags), json!(t.tags)));
    }
    ch
}

/// Turns field changes into audit events.
pub(crate) fn events(
    a: &mut Account,
    changes: Vec<(String, Value, Value)>,
    creating: bool,
) -> Vec<Event> {
    changes
        .into_iter()
        .map(|(field, previous, value)| Event {
            id: a.ids.object(),
            kind: if creating {
                EventKind::Create { field, value }
            } else {
                EventKind::Change {
                    field,
                    previous,
                    value,
                }
            },
        })
        .collect()
}

/// The custom metadata a write asks to keep in its audit: `{"metadata": {"custom":
/// {…}}}` as the audit shows it, or `{"metadata": {…}}` as Zendesk's examples send it.
pub(crate) fn custom_metadata(wr: &Write) -> Value {
    match &wr.extra.metadata {
        Some(Value::Object(m)) if m.len() == 1 && m.get("custom").is_some_and(Value::is_object) => {
            m["custom"].clone()
        }
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => json!({}),
    }
}

/// The end user a `requester` object names: found by email, else created (with its name).
pub(crate) fn requester_of(
    a: &mut Account,
    spec: &RequesterSpec,
    now: jiff::Timestamp,
) -> Option<u64> {
    let email = spec.email.as_deref().filter(|e| e.contains('@'));
    let name = spec.name.as_deref().filter(|n| !n.trim().is_empty());
    if let Some(email) = email {
        if let Some(id) = a.users_by_email.get(&email.to_lowercase()) {
            return Some(*id);
        }
        let id = a.ensure_user(email, "end-user", now);
        if let (Some(n), Some(u)) = (name, a.users.get_mut(&id)) {
            u.name = n.to_owned();
        }
        return Some(id);
    }
    let name = name?;
    let id = a.ensure_user(
        &format!("requester-{}@users.sim.invalid", a.users.len() + 1),
        "end-user",
        now,
    );
    if let Some(u) = a.users.get_mut(&id) {
        if let Some(e) = u.email.take() {
            a.users_by_email.remove(&e);
        }
        u.name = name.to_owned();
    }
    Some(id)
}
