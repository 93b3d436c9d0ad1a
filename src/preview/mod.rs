//! Know before you share (`sharebridge plan`, `sharebridge visibility`): what each
//! agreement would share now and what of each ticket would cross or be held back, where
//! the mirror would land, and who in the receiver can see it.
//!
//! Layout: this file holds the report types (`plan --json`, names fixed in README) and
//! [`ticket_plan`], the pure verdict on one ticket, built on the rules the engine uses
//! (`rules::comment_verdict`, `rules::TagFilter`, `rules::map_status`, the agreement's
//! field maps). [`directory`] reads a receiving account into `visibility::Directory` and
//! the mirror into `visibility::Mirror`; [`gather`] finds the tickets (Search API, not a
//! read of every ticket) and reads each one's comments once; [`text`] renders reports for
//! people; [`run`] is the CLI (here, or through a running daemon's admin API); [`cache`]
//! keeps the status page's visibility column, refreshed in the background.
//!
//! Must not: write to Zendesk (every request goes through a `ZendeskClient::read_only`
//! handle, which refuses anything but GET) or to the store (it is opened read-only, or
//! read through the daemon); print, log or put in JSON a comment body, a ticket subject,
//! a free-text field value or a token. Counts, ids, tags and drop-down values only.

pub mod cache;
pub mod directory;
pub mod gather;
pub mod run;
pub mod text;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::config::AgreementConfig;
use crate::rules::{self, CommentFacts, CommentVerdict, TagFilter, TagHeld};
use crate::visibility::View;
use crate::zendesk::models::{Comment, Status, Ticket};

/// Tickets detailed per agreement unless `--limit` says otherwise; the rest are counted.
pub const DEFAULT_LIMIT: usize = 100;

/// `plan --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanReport {
    pub agreements: Vec<AgreementPlan>,
    /// Zendesk API requests this plan sent (every attempt counts), all accounts.
    pub api_calls: u64,
    /// Tickets detailed per agreement (`--limit`).
    pub limit: usize,
    /// Always true: the plan wrote nothing to Zendesk or the store.
    pub read_only: bool,
}

/// One agreement's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementPlan {
    pub name: String,
    pub from: String,
    pub to: String,
    /// pending, accepted, declined, inactive, or disabled (never offered).
    pub state: String,
    /// The Search API queries run, one per auto-share tag.
    pub searches: Vec<Search>,
    /// Tickets found that pass the tag and brand rules (`rules::auto_share`).
    pub matching: usize,
    /// Of those, already shared under this agreement (a live link).
    pub already_linked: usize,
    /// Of those, the ones the bridge would share now (detailed or counted).
    pub would_share: usize,
    /// How many of `would_share` are detailed in `tickets` (`--limit`).
    pub detailed: usize,
    /// Found but not shared, and why.
    pub skipped: Vec<Skipped>,
    /// Where mirrors land in the receiver.
    pub target: Target,
    /// Who in the receiver can see a mirror placed there (once per agreement).
    pub visibility: Option<View>,
    /// The detailed tickets, by id.
    pub tickets: Vec<TicketPlan>,
    /// Sums over the detailed tickets.
    pub totals: Totals,
    /// Zendesk API requests spent on this agreement.
    pub api_calls: u64,
    /// What could not be read or decided, and what that means.
    pub notes: Vec<String>,
}

/// One Search API query and how many tickets it found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Search {
    pub tag: String,
    pub query: String,
    pub found: usize,
}

/// A ticket the search found that the bridge would not share now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub ticket: u64,
    /// `mirror_of_receiver`, `closed`, `orphaned`, `brand`.
    pub reason: String,
    pub detail: String,
}

/// Where a mirror lands: the agreement's `target`, else the receiver's default brand and
/// no group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Target {
    pub brand_id: Option<u64>,
    pub group_id: Option<u64>,
}

/// What of one ticket would cross.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketPlan {
    pub ticket: u64,
    pub status: Status,
    /// The status the mirror would get (`None`: status does not sync).
    pub mirror_status: Option<Status>,
    pub brand_id: Option<u64>,
    /// The auto-share tags that select it.
    pub shared_by_tags: Vec<String>,
    /// A link orphaned earlier whose mirror would be re-attached instead of copied.
    pub relinks: Option<u64>,
    pub comments: CommentCounts,
    pub attachments: AttachmentCounts,
    pub tags: TagPlan,
    pub fields: FieldPlan,
    pub target: Target,
    /// Only when this ticket's mirror would land elsewhere than the agreement's (its own
    /// fields place it); otherwise the agreement's `visibility` holds.
    pub visibility: Option<View>,
}

/// Comments by what would happen to them (counts only, never bodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CommentCounts {
    pub total: usize,
    /// Would cross (`public` + `private`).
    pub crossing: usize,
    /// Would cross as public comments.
    pub public: usize,
    /// Would cross as private notes (`comments.private = true`).
    pub private: usize,
    /// Private comments held back (`comments.private = false`).
    pub held_back: usize,
    /// Public comments not sent because `comments.public = false`.
    pub public_disabled: usize,
    /// Written by the bridge itself: never sent back.
    pub echo: usize,
}

/// Attachments by what would happen to them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AttachmentCounts {
    /// On crossing comments, within `max_bytes`: copied.
    pub copied: usize,
    pub copied_bytes: u64,
    /// On crossing comments but larger than `attachments.max_bytes`: named in the
    /// mirror comment, not copied.
    pub over_max_bytes: Vec<AttachmentRef>,
    /// On crossing comments while `attachments.sync = false`: not copied.
    pub sync_off: usize,
    /// On comments that do not cross: held back with their comment.
    pub held_back: usize,
}

/// An attachment by id and size (never its name or content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    pub comment: u64,
    pub attachment: u64,
    pub size: u64,
}

/// The ticket's tags: which cross, which are held back and why.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TagPlan {
    pub crossing: Vec<String>,
    pub held: Vec<HeldTag>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldTag {
    pub tag: String,
    pub reason: TagHeld,
}

/// The ticket's custom fields: which cross and what has no mapping.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FieldPlan {
    /// Mapped fields with a value: `[from, to]` field ids.
    pub mapped: Vec<[u64; 2]>,
    pub unmapped: Vec<Unmapped>,
}

/// Something of the ticket with no mapping: it does not reach the mirror as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmapped {
    pub kind: UnmappedKind,
    /// The sender's field id.
    pub field: u64,
    /// The receiver's field id, when the field is mapped.
    pub to: Option<u64>,
    /// The drop-down value (an option tag), for `value`; free-text values are never shown.
    pub value: Option<String>,
    pub message: String,
}

/// Kinds of [`Unmapped`]. New kinds (system fields: priority, type, group, form) are
/// added here as `[agreements.system]` grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnmappedKind {
    /// A custom field with a value and no `[[agreements.fields]]` entry: not sent.
    Field,
    /// A mapped field whose receiver field does not exist.
    TargetFieldMissing,
    /// A drop-down value the receiver's field has no option for (after the value map).
    Value,
}

/// Sums over the detailed tickets of one agreement.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Totals {
    pub comments: CommentCounts,
    pub attachments_copied: usize,
    pub attachments_over_max_bytes: usize,
    pub attachments_held_back: usize,
    pub tags_held: usize,
    pub unmapped: usize,
}

impl Totals {
    pub fn add(&mut self, t: &TicketPlan) {
        let c = &mut self.comments;
        c.total += t.comments.total;
        c.crossing += t.comments.crossing;
        c.public += t.comments.public;
        c.private += t.comments.private;
        c.held_back += t.comments.held_back;
        c.public_disabled += t.comments.public_disabled;
        c.echo += t.comments.echo;
        self.attachments_copied += t.attachments.copied;
        self.attachments_over_max_bytes += t.attachments.over_max_bytes.len();
        self.attachments_held_back += t.attachments.held_back + t.attachments.sync_off;
        self.tags_held += t.tags.held.len();
        self.unmapped += t.fields.unmapped.len();
    }
}

/// A ticket field as `plan` needs it: whether it is a drop-down, and its option tags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldInfo {
    pub dropdown: bool,
    pub options: BTreeSet<String>,
}

/// The field catalogs of both sides, by field id; `None` when a side's could not be read
/// (then only what the agreement itself says is checked).
#[derive(Debug, Clone, Default)]
pub struct Catalogs {
    pub sender: Option<BTreeMap<u64, FieldInfo>>,
    pub receiver: Option<BTreeMap<u64, FieldInfo>>,
}

impl FieldInfo {
    /// Zendesk's drop-down field types.
    pub fn of(field_type: &str, options: impl IntoIterator<Item = String>) -> FieldInfo {
        FieldInfo {
            dropdown: matches!(field_type, "tagger" | "multiselect"),
            options: options.into_iter().collect(),
        }
    }
}

/// What the bridge knows of its own writes in the sender: its user there, and comments
/// recorded as its own.
#[derive(Debug, Clone, Default)]
pub struct BridgeFacts {
    pub user: Option<u64>,
    pub comments: BTreeSet<u64>,
}

/// What of `ticket` would cross under `agreement`, with its comments (every one, oldest
/// first). Pure; the same rules the engine applies when it shares and syncs.
pub fn ticket_plan(
    agreement: &AgreementConfig,
    ticket: &Ticket,
    comments: &[Comment],
    bridge: &BridgeFacts,
    catalogs: &Catalogs,
    target: Target,
) -> TicketPlan {
    let mut counts = CommentCounts {
        total: comments.len(),
        ..CommentCounts::default()
    };
    let mut attachments = AttachmentCounts::default();
    let rules_a = &agreement.attachments;
    for c in comments {
        let facts = CommentFacts {
            public: c.public,
            written_by_bridge: bridge.comments.contains(&c.id),
            author_is_bridge: bridge.user == Some(c.author_id),
        };
        let verdict = rules::comment_verdict(&agreement.comments, facts);
        match verdict {
            CommentVerdict::Send { public: true } => counts.public += 1,
            CommentVerdict::Send { public: false } => counts.private += 1,
            CommentVerdict::HeldBack => counts.held_back += 1,
            CommentVerdict::PublicDisabled => counts.public_disabled += 1,
            CommentVerdict::Echo => counts.echo += 1,
        }
        for a in &c.attachments {
            if !verdict.crosses() {
                attachments.held_back += 1;
            } else if !rules_a.sync {
                attachments.sync_off += 1;
            } else if a.size > rules_a.max_bytes {
                attachments.over_max_bytes.push(AttachmentRef {
                    comment: c.id,
                    attachment: a.id,
                    size: a.size,
                });
            } else {
                attachments.copied += 1;
                attachments.copied_bytes += a.size;
            }
        }
    }
    counts.crossing = counts.public + counts.private;
    let filter = TagFilter::new(agreement);
    let mut tags = TagPlan::default();
    let mut seen = BTreeSet::new();
    for t in &ticket.tags {
        if !seen.insert(t) {
            continue;
        }
        match filter.held(t) {
            None => tags.crossing.push(t.clone()),
            Some(reason) => tags.held.push(HeldTag {
                tag: t.clone(),
                reason,
            }),
        }
    }
    TicketPlan {
        ticket: ticket.id,
        status: ticket.status,
        mirror_status: rules::map_status(&agreement.status, ticket.status),
        brand_id: ticket.brand_id,
        shared_by_tags: agreement
            .auto_share_tags
            .iter()
            .filter(|t| ticket.tags.contains(t))
            .cloned()
            .collect(),
        relinks: None,
        comments: counts,
        attachments,
        tags,
        fields: field_plan(agreement, ticket, catalogs),
        target,
        visibility: None,
    }
}

/// Whether a field value is worth reporting (not empty).
fn has_value(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => false,
        serde_json::Value::String(s) => !s.is_empty(),
        serde_json::Value::Array(a) => !a.is_empty(),
        _ => true,
    }
}

/// The drop-down option tags a value holds (one string, or a multiselect's list).
fn option_tags(v: &serde_json::Value) -> Vec<&str> {
    match v {
        serde_json::Value::String(s) => vec![s.as_str()],
        serde_json::Value::Array(items) => items.iter().filter_map(|i| i.as_str()).collect(),
        _ => Vec::new(),
    }
}

fn field_plan(agreement: &AgreementConfig, ticket: &Ticket, catalogs: &Catalogs) -> FieldPlan {
    let mut plan = FieldPlan::default();
    for f in ticket.custom_fields.iter().filter(|f| has_value(&f.value)) {
        let Some(map) = agreement.fields.iter().find(|m| m.from == f.id) else {
            plan.unmapped.push(Unmapped {
                kind: UnmappedKind::Field,
                field: f.id,
                to: None,
                value: None,
                message: format!(
                    "field {} has a value and no [[agreements.fields]] entry: not sent",
                    f.id
                ),
            });
            continue;
        };
        plan.mapped.push([map.from, map.to]);
        let sender_dropdown = catalogs
            .sender
            .as_ref()
            .and_then(|c| c.get(&f.id))
            .is_some_and(|i| i.dropdown);
        match catalogs.receiver.as_ref().map(|c| c.get(&map.to)) {
            Some(None) => plan.unmapped.push(Unmapped {
                kind: UnmappedKind::TargetFieldMissing,
                field: f.id,
                to: Some(map.to),
                value: None,
                message: format!(
                    "field {} maps to field {}, which the receiver does not have",
                    f.id, map.to
                ),
            }),
            Some(Some(info)) if info.dropdown => {
                for v in option_tags(&f.value) {
                    let mapped = map.values.get(v).map_or(v, String::as_str);
                    if !info.options.contains(mapped) {
                        plan.unmapped.push(Unmapped {
                            kind: UnmappedKind::Value,
                            field: f.id,
                            to: Some(map.to),
                            value: Some(v.to_owned()),
                            message: if mapped == v {
                                format!(
                                    "value {v:?} of field {} has no value mapping and the receiver's field {} has no option {v:?}",
                                    f.id, map.to
                                )
                            } else {
                                format!(
                                    "value {v:?} of field {} maps to {mapped:?}, which the receiver's field {} has no option for",
                                    f.id, map.to
                                )
                            },
                        });
                    }
                }
            }
            // The receiver's catalog unknown: only the agreement's value map is checked.
            None if sender_dropdown || !map.values.is_empty() => {
                for v in option_tags(&f.value) {
                    if !map.values.contains_key(v) {
                        plan.unmapped.push(Unmapped {
                            kind: UnmappedKind::Value,
                            field: f.id,
                            to: Some(map.to),
                            value: Some(v.to_owned()),
                            message: format!(
                                "value {v:?} of field {} has no value mapping: it crosses unchanged",
                                f.id
                            ),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    plan
}

#[cfg(test)]
mod tests;
