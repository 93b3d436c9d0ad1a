//! Zendesk's own fields across a link (`[agreements.system]`, DESIGN §3 and §5): priority,
//! type with `due_at` for tasks, group and ticket form by id maps; and the mismatches: what
//! a sender's update holds that the receiver cannot take (a drop-down value with no
//! mapping, a mapped field, group or form that does not exist there, a value of another
//! type), reported on the link instead of dropped silently, while the rest crosses.
//!
//! Decisions:
//! - `priority = false` / `type = false` (the defaults): that field never crosses, on the
//!   mirror's creation or after; `type = true` sends `due_at` with tasks.
//! - A cleared priority or type is cleared on the other side.
//! - Groups and forms cross only through their maps (empty map: they do not cross). A
//!   sender group or form with no entry is not set on the other side (at creation the
//!   mirror takes `target.group_id`, or the receiver's default) and is reported
//!   (`unmapped_group`, `unmapped_form`); a group or form cleared at the sender is not
//!   cleared on the other side.
//! - Changes are measured against the per-side baseline, as status and tags are: what the
//!   bridge wrote is recorded in the receiver's baseline, so it never bounces back.
//!
//! Must not: do I/O, read the clock, or name a value in a [`Mismatch`] (ids only: values
//! may be personal data).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config::{AgreementConfig, SystemRules};
use crate::link::Flow;
use crate::zendesk::models::{CustomField, Ticket};

/// One side's system fields as read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemNow {
    pub priority: Option<String>,
    pub ticket_type: Option<String>,
    pub due_at: Option<Timestamp>,
    pub group_id: Option<u64>,
    pub form_id: Option<u64>,
}

impl SystemNow {
    pub fn of(t: &Ticket) -> SystemNow {
        SystemNow {
            priority: t.priority.clone(),
            ticket_type: t.ticket_type.clone(),
            due_at: t.due_at,
            group_id: t.group_id,
            form_id: t.ticket_form_id,
        }
    }
}

/// The system part of one update for the receiving side; `None` leaves a field alone,
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemChange {
    pub priority: Option<Option<String>>,
    pub ticket_type: Option<Option<String>>,
    pub due_at: Option<Option<Timestamp>>,
    pub group_id: Option<u64>,
    pub form_id: Option<u64>,
}

impl SystemChange {
    pub fn is_empty(&self) -> bool {
        *self == SystemChange::default()
    }
}

const TASK: &str = "task";

/// What changed since `before` (the sender's baseline), under the sender's rules. With
/// `before` empty (`SystemNow::default()`) it is what a new mirror gets.
pub fn changes(rules: &SystemRules, before: &SystemNow, now: &SystemNow) -> SystemChange {
    let mut out = SystemChange::default();
    if rules.priority && before.priority != now.priority {
        out.priority = Some(now.priority.clone());
    }
    if rules.ticket_type {
        let type_changed = before.ticket_type != now.ticket_type;
        if type_changed {
            out.ticket_type = Some(now.ticket_type.clone());
        }
        if now.ticket_type.as_deref() == Some(TASK)
            && (type_changed || before.due_at != now.due_at)
            && (now.due_at.is_some() || before.due_at.is_some())
        {
            out.due_at = Some(now.due_at);
        }
    }
    if before.group_id != now.group_id {
        out.group_id = now.group_id.and_then(|g| rules.groups.get(&g).copied());
    }
    if before.form_id != now.form_id {
        out.form_id = now.form_id.and_then(|f| rules.forms.get(&f).copied());
    }
    out
}

/// The receiving side's system fields after `change` landed (Zendesk drops `due_at` from
/// a ticket that is not a task).
pub fn after(mut receiver: SystemNow, change: &SystemChange) -> SystemNow {
    if let Some(p) = &change.priority {
        receiver.priority = p.clone();
    }
    if let Some(t) = &change.ticket_type {
        receiver.ticket_type = t.clone();
    }
    if let Some(d) = change.due_at {
        receiver.due_at = d;
    }
    if receiver.ticket_type.as_deref() != Some(TASK) {
        receiver.due_at = None;
    }
    if let Some(g) = change.group_id {
        receiver.group_id = Some(g);
    }
    if let Some(f) = change.form_id {
        receiver.form_id = Some(f);
    }
    receiver
}

/// What the receiver has, as far as the sender's rules need it (`None`: not read, and
/// then nothing is judged against it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Directory {
    /// Active custom fields by id.
    pub fields: Option<BTreeMap<u64, FieldShape>>,
    /// Groups that exist (not deleted).
    pub groups: Option<BTreeSet<u64>>,
    /// Active ticket forms.
    pub forms: Option<BTreeSet<u64>>,
}

/// One receiver field: Zendesk's `type` and, for drop-downs, the option tags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldShape {
    pub kind: String,
    pub options: BTreeSet<String>,
}

/// Which parts of the receiver's directory the sender's rules need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub fields: bool,
    pub groups: bool,
    pub forms: bool,
}

impl Needs {
    pub fn of(rules: &AgreementConfig) -> Needs {
        Needs {
            fields: !rules.fields.is_empty(),
            groups: !rules.system.groups.is_empty(),
            forms: !rules.system.forms.is_empty(),
        }
    }

    pub fn any(self) -> bool {
        self.fields || self.groups || self.forms
    }
}

/// What kind of thing does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MismatchKind {
    /// A drop-down value that is neither in the field's value map nor an option of the
    /// receiver's field.
    UnmappedValue,
    /// A mapped field (`fields.to`) that does not exist (or is inactive) in the receiver.
    MissingField,
    /// A value the receiver's field cannot hold (text into a checkbox, …).
    TypeMismatch,
    /// A sender group with no entry in `system.groups`.
    UnmappedGroup,
    /// A mapped group that does not exist in the receiver.
    MissingGroup,
    /// A sender ticket form with no entry in `system.forms`.
    UnmappedForm,
    /// A mapped ticket form that does not exist (or is inactive) in the receiver.
    MissingForm,
}

impl MismatchKind {
    pub const ALL: [MismatchKind; 7] = [
        MismatchKind::UnmappedValue,
        MismatchKind::MissingField,
        MismatchKind::TypeMismatch,
        MismatchKind::UnmappedGroup,
        MismatchKind::MissingGroup,
        MismatchKind::UnmappedForm,
        MismatchKind::MissingForm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MismatchKind::UnmappedValue => "unmapped_value",
            MismatchKind::MissingField => "missing_field",
            MismatchKind::TypeMismatch => "type_mismatch",
            MismatchKind::UnmappedGroup => "unmapped_group",
            MismatchKind::MissingGroup => "missing_group",
            MismatchKind::UnmappedForm => "unmapped_form",
            MismatchKind::MissingForm => "missing_form",
        }
    }

    /// What the operator can do about it.
    pub fn fix(self) -> &'static str {
        match self {
            MismatchKind::UnmappedValue => {
                "add the value to the field's values map, or the option to the receiver's field"
            }
            MismatchKind::MissingField => "fix fields.to, or create the field in the receiver",
            MismatchKind::TypeMismatch => "map the field onto a receiver field of the same type",
            MismatchKind::UnmappedGroup => "add the group to system.groups",
            MismatchKind::MissingGroup => "fix system.groups, or create the group in the receiver",
            MismatchKind::UnmappedForm => "add the form to system.forms",
            MismatchKind::MissingForm => "fix system.forms, or create the form in the receiver",
        }
    }
}

/// One thing that did not cross on a link, by ids only (never a value).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Mismatch {
    pub kind: MismatchKind,
    /// The flow it was found on (the sender's side of it).
    pub flow: Flow,
    /// The sender's field, group or form id.
    pub sender_id: u64,
    /// The receiver's field, group or form id it maps onto, when there is one.
    pub receiver_id: Option<u64>,
}

impl Mismatch {
    /// `unmapped_value field 360001 -> 900002`, for `links show` and the status page.
    pub fn describe(&self) -> String {
        let what = match self.kind {
            MismatchKind::UnmappedValue
            | MismatchKind::MissingField
            | MismatchKind::TypeMismatch => "field",
            MismatchKind::UnmappedGroup | MismatchKind::MissingGroup => "group",
            MismatchKind::UnmappedForm | MismatchKind::MissingForm => "form",
        };
        let onto = self
            .receiver_id
            .map_or_else(|| " (no mapping)".to_owned(), |r| format!(" -> {r}"));
        format!(
            "{} {} {what} {}{onto}",
            self.flow.as_str(),
            self.kind.as_str(),
            self.sender_id
        )
    }
}

/// Everything in the sender's ticket (`fields` and `system` as read now) that the
/// receiver cannot take under `rules`, in a stable order.
pub fn mismatches(
    rules: &AgreementConfig,
    flow: Flow,
    fields: &[CustomField],
    system: &SystemNow,
    dir: &Directory,
) -> Vec<Mismatch> {
    let mut out = BTreeSet::new();
    let mut add = |kind, sender_id, receiver_id| {
        out.insert(Mismatch {
            kind,
            flow,
            sender_id,
            receiver_id,
        });
    };
    if let Some(receiver_fields) = &dir.fields {
        for m in &rules.fields {
            let Some(value) = fields
                .iter()
                .find(|f| f.id == m.from)
                .map(|f| &f.value)
                .filter(|v| !v.is_null())
            else {
                continue;
            };
            let kind = match receiver_fields.get(&m.to) {
                None => {
                    // With no field to ask, a drop-down map (non-empty `values`) is what
                    // says which values have a mapping.
                    if !m.values.is_empty() && !in_value_map(m, value) {
                        add(MismatchKind::UnmappedValue, m.from, Some(m.to));
                    }
                    Some(MismatchKind::MissingField)
                }
                Some(shape) => fit(shape, &crate::rules::map_field_value(m, value)),
            };
            if let Some(kind) = kind {
                add(kind, m.from, Some(m.to));
            }
        }
    }
    let maps = [
        (
            &rules.system.groups,
            system.group_id,
            &dir.groups,
            MismatchKind::UnmappedGroup,
            MismatchKind::MissingGroup,
        ),
        (
            &rules.system.forms,
            system.form_id,
            &dir.forms,
            MismatchKind::UnmappedForm,
            MismatchKind::MissingForm,
        ),
    ];
    for (map, current, known, unmapped, missing) in maps {
        let Some(id) = current.filter(|_| !map.is_empty()) else {
            continue;
        };
        match map.get(&id) {
            None => add(unmapped, id, None),
            Some(to) if known.as_ref().is_some_and(|k| !k.contains(to)) => {
                add(missing, id, Some(*to))
            }
            Some(_) => {}
        }
    }
    out.into_iter().collect()
}

/// Whether every string of `value` has an entry in the field's value map.
fn in_value_map(m: &crate::config::FieldMap, value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => m.values.contains_key(s),
        serde_json::Value::Array(items) => items
            .iter()
            .all(|v| v.as_str().is_some_and(|s| m.values.contains_key(s))),
        _ => true,
    }
}

/// Why a (mapped) value does not fit a receiver field, if it does not.
fn fit(shape: &FieldShape, value: &serde_json::Value) -> Option<MismatchKind> {
    use serde_json::Value;
    let option = |s: &str| {
        if shape.options.contains(s) {
            None
        } else {
            Some(MismatchKind::UnmappedValue)
        }
    };
    match (shape.kind.as_str(), value) {
        (_, Value::Null) => None,
        ("tagger" | "dropdown", Value::String(s)) => option(s),
        ("multiselect", Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => option(s),
                _ => Some(MismatchKind::TypeMismatch),
            })
            .find(Option::is_some)
            .flatten(),
        ("multiselect", Value::String(s)) => option(s),
        ("tagger" | "dropdown" | "multiselect", _) => Some(MismatchKind::TypeMismatch),
        ("checkbox", Value::Bool(_)) => None,
        ("integer", Value::Number(n)) if n.is_i64() || n.is_u64() => None,
        ("integer", Value::String(s)) if s.trim().parse::<i64>().is_ok() => None,
        ("decimal", Value::Number(_)) => None,
        ("decimal", Value::String(s)) if s.trim().parse::<f64>().is_ok() => None,
        ("date", Value::String(s)) if s.parse::<jiff::civil::Date>().is_ok() => None,
        ("checkbox" | "integer" | "decimal" | "date", _) => Some(MismatchKind::TypeMismatch),
        (_, Value::Array(_) | Value::Object(_)) => Some(MismatchKind::TypeMismatch),
        _ => None,
    }
}

/// Takes out of a planned update what the receiver cannot take (so the rest lands):
/// fields, group and form named by `found`. `fields` holds receiver field ids.
pub fn screen(fields: &mut Vec<CustomField>, change: &mut SystemChange, found: &[Mismatch]) {
    let blocked: BTreeSet<u64> = found
        .iter()
        .filter(|m| {
            matches!(
                m.kind,
                MismatchKind::UnmappedValue
                    | MismatchKind::MissingField
                    | MismatchKind::TypeMismatch
            )
        })
        .filter_map(|m| m.receiver_id)
        .collect();
    fields.retain(|f| !blocked.contains(&f.id));
    let missing = |kind| {
        found
            .iter()
            .filter(|m| m.kind == kind)
            .filter_map(|m| m.receiver_id)
            .collect::<BTreeSet<u64>>()
    };
    if change
        .group_id
        .is_some_and(|g| missing(MismatchKind::MissingGroup).contains(&g))
    {
        change.group_id = None;
    }
    if change
        .form_id
        .is_some_and(|f| missing(MismatchKind::MissingForm).contains(&f))
    {
        change.form_id = None;
    }
}

#[cfg(test)]
mod tests;
