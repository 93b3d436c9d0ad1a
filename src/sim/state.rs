//! One simulated Zendesk account: its data (tickets with their comments, users, ticket
//! fields, brands, groups, roles, sharing agreements, uploads, audits, idempotency keys),
//! its limit histories, counters and knobs, and how its objects render on the wire.
//!
//! Everything here is synchronous and lives behind the account's one `Mutex`; handlers
//! are functions over `&mut Account`. Ids: tickets count up from `(index+1) * 1_000_000`,
//! every other object from `(index+1) * 10_000_000_000`, so ids never collide across
//! accounts or kinds.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

use crate::sim::config::{FaultSettings, Limits, SimConfig, WebhookStyle};
use crate::sim::limits::LimitState;
use crate::sim::oauth::OAuthStore;
use crate::sim::stats::Stats;
use crate::zendesk::models::{
    Attachment, Brand, BrandAgent, Comment, CustomField, CustomRole, FieldOption, Group,
    GroupMembership, Organization, SharingAgreement, Ticket, TicketField, TicketForm, User, Via,
};

/// Knobs that tests and `/sim/*` may change while running.
#[derive(Debug, Clone)]
pub(crate) struct Knobs {
    pub limits: Limits,
    pub faults: FaultSettings,
    pub export_lag_secs: u64,
    pub access_token_lifetime_secs: u64,
    pub refresh_token_lifetime_secs: u64,
    /// Authorization requests are approved without the consent page.
    pub oauth_auto_approve: bool,
    pub webhook_style: WebhookStyle,
    /// With the late-apply fault: delay before a write takes effect.
    pub late_apply_ms: u64,
    /// Ticket updates (`PUT /api/v2/tickets/{id}`) hang without effect while set, then
    /// their connection drops (a test's way to stop a client between its uploads and the
    /// comment that carries them).
    pub stall_ticket_updates: bool,
    /// Ticket updates take effect, then their connection drops (drop-after-commit for
    /// that route alone).
    pub lose_ticket_update_answers: bool,
    /// Ticket creates (`POST /api/v2/tickets`) wait while set, then take effect and are
    /// answered as usual (a test's way to hold a create on the wire); each one counted
    /// in `held_ticket_creates` as it arrives.
    pub hold_ticket_creates: bool,
    pub held_ticket_creates: u64,
    /// The same for ticket updates (`PUT /api/v2/tickets/{id}`), before the stall and
    /// lost-answer knobs act on them.
    pub hold_ticket_updates: bool,
    pub held_ticket_updates: u64,
}

/// One ticket and what hangs off it.
#[derive(Debug, Clone)]
pub(crate) struct TicketRec {
    /// Canonical fields; `custom_fields` is rendered from `values` on output.
    pub ticket: Ticket,
    /// Custom field id → value.
    pub values: BTreeMap<u64, Value>,
    /// Soft-deleted: 404 everywhere but the incremental export.
    pub deleted: bool,
    /// Oldest first.
    pub comments: Vec<Comment>,
    /// Position in the incremental export (bumped on every change).
    pub seq: u64,
    /// When it last changed, in ms (decides export lag).
    pub changed_ms: i64,
}

/// A ticket field definition plus the wire fields the model lacks.
#[derive(Debug, Clone)]
pub(crate) struct FieldRec {
    pub field: TicketField,
    /// System fields (subject, status, …) are not removable and never appear in
    /// a ticket's `custom_fields`.
    pub removable: bool,
    pub description: String,
    pub position: u64,
}

/// A stored upload: its token and the attachments it holds.
#[derive(Debug, Clone)]
pub(crate) struct UploadRec {
    pub attachments: Vec<u64>,
    pub expires_at: Timestamp,
}

/// File bytes behind an attachment `content_url`.
#[derive(Debug, Clone)]
pub(crate) struct Blob {
    pub attachment: Attachment,
    pub bytes: Bytes,
    /// Downloading needs the account's credentials: not yet on a comment, or on a
    /// private one. Attachments of public comments are served without.
    pub private: bool,
}

/// A signed, short-lived URL on the file host for one attachment (what `content_url`
/// redirects to).
#[derive(Debug, Clone)]
pub(crate) struct FileGrant {
    pub blob: u64,
    pub expires_at: Timestamp,
}

/// One remembered `Idempotency-Key`.
#[derive(Debug, Clone)]
pub(crate) struct IdemRec {
    /// The request body it was first used with.
    pub request: Value,
    pub status: u16,
    pub response: Bytes,
    pub at_ms: i64,
}

/// What one event of an audit did.
#[derive(Debug, Clone)]
pub(crate) enum EventKind {
    Comment {
        comment_id: u64,
    },
    Create {
        field: String,
        value: Value,
    },
    Change {
        field: String,
        previous: Value,
        value: Value,
    },
    PrivacyChange {
        comment_id: u64,
    },
    /// Text or attachments of a comment were redacted.
    Redaction {
        comment_id: u64,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub id: u64,
    pub kind: EventKind,
}

/// One ticket audit: every change one request made.
#[derive(Debug, Clone)]
pub(crate) struct Audit {
    pub id: u64,
    pub ticket_id: u64,
    pub created_at: Timestamp,
    pub author_id: u64,
    pub via: Via,
    pub events: Vec<Event>,
    /// `metadata.custom` the write asked to keep (an object; `{}` when none).
    pub custom: Value,
}

/// Id sequences of one account.
#[derive(Debug)]
pub(crate) struct Ids {
    next_ticket: u64,
    next_object: u64,
    next_seq: u64,
}

impl Ids {
    pub fn new(index: usize) -> Ids {
        let n = index as u64 + 1;
        Ids {
            next_ticket: n * 1_000_000 + 1,
            next_object: n * 10_000_000_000 + 1,
            next_seq: 1,
        }
    }
    pub fn ticket(&mut self) -> u64 {
        let id = self.next_ticket;
        self.next_ticket += 1;
        id
    }
    pub fn object(&mut self) -> u64 {
        let id = self.next_object;
        self.next_object += 1;
        id
    }
    pub fn seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }
}

/// One simulated account.
#[derive(Debug)]
pub(crate) struct Account {
    pub name: String,
    pub base_url: String,
    pub ids: Ids,
    pub tickets: BTreeMap<u64, TicketRec>,
    /// Export order: seq → ticket id.
    pub export_order: BTreeMap<u64, u64>,
    pub users: BTreeMap<u64, User>,
    /// Lower-cased email → user id.
    pub users_by_email: HashMap<String, u64>,
    pub fields: BTreeMap<u64, FieldRec>,
    pub brands: Vec<Brand>,
    pub groups: Vec<Group>,
    /// Ticket forms; the first is the default one every account has.
    pub forms: Vec<TicketForm>,
    pub roles: Vec<CustomRole>,
    pub organizations: BTreeMap<u64, Organization>,
    pub group_memberships: BTreeMap<u64, GroupMembership>,
    /// Brand memberships; an agent with none is a member of every brand.
    pub brand_agents: BTreeMap<u64, BrandAgent>,
    pub agreements: Vec<SharingAgreement>,
    pub uploads: HashMap<String, UploadRec>,
    /// Attachment id → bytes; `blob_tokens` maps the content_url token to the id.
    pub blobs: HashMap<u64, Blob>,
    pub blob_tokens: HashMap<String, u64>,
    /// Where `content_url` redirects (the file host, `sim::files`), when one is bound.
    pub files_base: Option<String>,
    /// Short-lived grants the file host serves, by grant token.
    pub file_grants: HashMap<String, FileGrant>,
    pub idempotency: HashMap<String, IdemRec>,
    /// In time order.
    pub audits: Vec<Audit>,
    pub oauth: OAuthStore,
    /// Webhooks made through the Webhooks API, by id.
    pub api_webhooks: BTreeMap<String, crate::sim::webhooks_api::ApiWebhook>,
    pub limits: LimitState,
    pub knobs: Knobs,
    pub stats: Stats,
    pub rng: fastrand::Rng,
    /// Tokens, secrets and codes: seeded apart from `rng`, so that issuing them never
    /// moves the fault sequence.
    pub token_rng: fastrand::Rng,
    /// Emails that authenticate as admins (`--admin`).
    pub admins: Vec<String>,
    /// Tickets changed by the request being handled (drained into webhooks).
    pub touched: Vec<u64>,
}

/// A ticket as Zendesk renders it: the model plus the fields it does not carry.
#[derive(Debug, Serialize)]
pub(crate) struct WireTicket {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub fields: Vec<CustomField>,
    pub email_cc_ids: Vec<u64>,
    pub recipient: Option<String>,
    pub problem_id: Option<u64>,
    pub satisfaction_rating: Option<Value>,
    pub allow_channelback: bool,
    pub allow_attachments: bool,
    pub from_messaging_channel: bool,
    pub generated_timestamp: i64,
}

/// A ticket field as Zendesk renders it.
#[derive(Debug, Serialize)]
pub(crate) struct WireField<'a> {
    #[serde(flatten)]
    pub field: &'a TicketField,
    pub raw_title: &'a str,
    pub description: &'a str,
    pub raw_description: &'a str,
    pub position: u64,
    pub removable: bool,
    pub visible_in_portal: bool,
    pub editable_in_portal: bool,
    pub required_in_portal: bool,
    pub title_in_portal: &'a str,
    pub collapsed_for_agents: bool,
    pub agent_description: Option<String>,
    pub tag: Option<String>,
    /// The values a system field takes (priority, type, status), as Zendesk lists them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_field_options: Option<Vec<Value>>,
}

/// `system_field_options` of Zendesk's own fields: what `priority`, `type` and `status`
/// take on a ticket.
fn system_field_options(field_type: &str) -> Option<Vec<Value>> {
    let names: &[(&str, &str)] = match field_type {
        "priority" => &[
            ("Low", "low"),
            ("Normal", "normal"),
            ("High", "high"),
            ("Urgent", "urgent"),
        ],
        "tickettype" => &[
            ("Question", "question"),
            ("Incident", "incident"),
            ("Problem", "problem"),
            ("Task", "task"),
        ],
        "status" => &[
            ("Open", "open"),
            ("Pending", "pending"),
            ("On-hold", "hold"),
            ("Solved", "solved"),
        ],
        _ => return None,
    };
    Some(
        names
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect(),
    )
}

/// The `via` of something done through the API (or the web UI for test helpers).
pub(crate) fn via(channel: &str) -> Via {
    Via {
        channel: channel.to_owned(),
        source: json!({"from": {}, "to": {}, "rel": null}),
    }
}

/// Zendesk renders a plain-text comment as this HTML.
pub(crate) fn html_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str("<div class=\"zd-comment\" dir=\"auto\">");
    for (i, para) in text.split("\n\n").enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str("<p dir=\"auto\">");
        for (j, line) in para.split('\n').enumerate() {
            if j > 0 {
                out.push_str("<br>");
            }
            for c in line.chars() {
                match c {
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '&' => out.push_str("&amp;"),
                    '"' => out.push_str("&quot;"),
                    c => out.push(c),
                }
            }
        }
        out.push_str("</p>");
    }
    out.push_str("</div>");
    out
}

/// The text of an HTML comment (tags dropped, a few entities decoded).
pub(crate) fn text_of(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    let mut tag = String::new();
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                tag.clear();
            }
            (true, '>') => {
                in_tag = false;
                let t = tag.trim_start_matches('/').to_ascii_lowercase();
                if (t.starts_with("br") || t.starts_with('p') && tag.starts_with('/'))
                    && !out.is_empty()
                    && !out.ends_with('\n')
                {
                    out.push('\n');
                }
            }
            (true, c) => tag.push(c),
            (false, c) => out.push(c),
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

/// Tags as Zendesk keeps them: lower case, whitespace split, no duplicates, in order.
pub(crate) fn normalize_tags<'a>(tags: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        for part in t.split_whitespace() {
            let p = part.to_lowercase();
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

impl Account {
    pub fn new(
        name: &str,
        index: usize,
        base_url: String,
        config: &SimConfig,
        now: Timestamp,
    ) -> Account {
        let seed = crate::sim::faults::account_seed(config.seed, index);
        let mut a = Account {
            name: name.to_owned(),
            base_url,
            ids: Ids::new(index),
            tickets: BTreeMap::new(),
            export_order: BTreeMap::new(),
            users: BTreeMap::new(),
            users_by_email: HashMap::new(),
            fields: BTreeMap::new(),
            brands: Vec::new(),
            groups: Vec::new(),
            forms: Vec::new(),
            roles: Vec::new(),
            organizations: BTreeMap::new(),
            group_memberships: BTreeMap::new(),
            brand_agents: BTreeMap::new(),
            agreements: Vec::new(),
            uploads: HashMap::new(),
            blobs: HashMap::new(),
            blob_tokens: HashMap::new(),
            files_base: None,
            file_grants: HashMap::new(),
            idempotency: HashMap::new(),
            audits: Vec::new(),
            oauth: OAuthStore::default(),
            api_webhooks: BTreeMap::new(),
            limits: LimitState::default(),
            knobs: Knobs {
                limits: config.limits,
                faults: config.faults.clone(),
                export_lag_secs: config.export_lag_secs,
                access_token_lifetime_secs: config.access_token_lifetime_secs,
                refresh_token_lifetime_secs: config.refresh_token_lifetime_secs,
                oauth_auto_approve: config.oauth_auto_approve,
                webhook_style: config.webhook_style,
                late_apply_ms: config.late_apply_ms,
                stall_ticket_updates: false,
                lose_ticket_update_answers: false,
                hold_ticket_creates: false,
                held_ticket_creates: 0,
                hold_ticket_updates: false,
                held_ticket_updates: 0,
            },
            stats: Stats::default(),
            rng: fastrand::Rng::with_seed(seed),
            token_rng: fastrand::Rng::with_seed(seed ^ 0x5EED_70CE_0000_0001),
            admins: config.admins.clone(),
            touched: Vec::new(),
        };
        a.seed(now);
        let owner = format!("oauth-admin@{name}.example");
        for (id, secret) in &config.oauth_clients {
            a.register_client(id, secret, &owner, now);
        }
        a
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v2/{path}", self.base_url)
    }

    /// The default brand, group, roles and system ticket fields every account has.
    fn seed(&mut self, now: Timestamp) {
        let now = crate::sim::clock::seconds(now.as_millisecond());
        let brand_id = self.ids.object();
        self.brands.push(Brand {
            id: brand_id,
            url: self.url(&format!("brands/{brand_id}.json")),
            name: self.name.clone(),
            subdomain: self.name.clone(),
            active: true,
            default: true,
            created_at: now,
            updated_at: now,
        });
        let group_id = self.ids.object();
        self.groups.push(Group {
            id: group_id,
            url: self.url(&format!("groups/{group_id}.json")),
            name: "Support".to_owned(),
            is_public: true,
            default: true,
            deleted: false,
            created_at: now,
            updated_at: now,
        });
        self.add_form("Default Ticket Form", true, now);
        for (name, access, desc) in [
            (
                "Staff",
                "within-groups",
                "Can edit tickets within their groups",
            ),
            ("Team lead", "all", "Can manage all tickets"),
        ] {
            let id = self.ids.object();
            self.roles.push(CustomRole {
                id,
                name: name.to_owned(),
                description: Some(desc.to_owned()),
                role_type: 0,
                configuration: json!({
                    "ticket_access": access,
                    "ticket_editing": true,
                    "ticket_comment_access": "public",
                    "ticket_tag_editing": true,
                    "assign_tickets_to_any_group": false,
                }),
                created_at: now,
                updated_at: now,
            });
        }
        for (ty, title) in [
            ("subject", "Subject"),
            ("description", "Description"),
            ("status", "Status"),
            ("tickettype", "Type"),
            ("priority", "Priority"),
            ("group", "Group"),
            ("assignee", "Assignee"),
        ] {
            self.add_field(ty, title, Vec::new(), false, now);
        }
    }

    /// Adds a ticket form (active, in all brands).
    pub fn add_form(&mut self, name: &str, default: bool, now: Timestamp) -> TicketForm {
        let id = self.ids.object();
        let position = self.forms.len() as u64 + 1;
        let form = TicketForm {
            id,
            url: self.url(&format!("ticket_forms/{id}.json")),
            name: name.to_owned(),
            display_name: name.to_owned(),
            active: true,
            default,
            end_user_visible: true,
            position,
            ticket_field_ids: self.fields.keys().copied().collect(),
            in_all_brands: true,
            restricted_brand_ids: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        self.forms.push(form.clone());
        form
    }

    /// The default ticket form, which a new ticket gets when its write names none.
    pub fn default_form(&self) -> Option<u64> {
        self.forms.iter().find(|f| f.default).map(|f| f.id)
    }

    /// Adds a ticket field; options get ids.
    pub fn add_field(
        &mut self,
        field_type: &str,
        title: &str,
        options: Vec<FieldOption>,
        removable: bool,
        now: Timestamp,
    ) -> u64 {
        let id = self.ids.object();
        let options = options
            .into_iter()
            .map(|mut o| {
                if o.id == 0 {
                    o.id = self.ids.object();
                }
                o
            })
            .collect();
        let position = self.fields.len() as u64 + 1;
        self.fields.insert(
            id,
            FieldRec {
                field: TicketField {
                    id,
                    url: self.url(&format!("ticket_fields/{id}.json")),
                    field_type: field_type.to_owned(),
                    title: title.to_owned(),
                    active: true,
                    required: false,
                    custom_field_options: options,
                    created_at: now,
                    updated_at: now,
                },
                removable,
                description: String::new(),
                position,
            },
        );
        id
    }

    /// The user for `email`, created as an agent on first sight.
    pub fn ensure_user(&mut self, email: &str, role: &str, now: Timestamp) -> u64 {
        let key = email.to_lowercase();
        if let Some(id) = self.users_by_email.get(&key) {
            return *id;
        }
        let id = self.ids.object();
        let name = key.split('@').next().unwrap_or(&key).to_owned();
        self.users.insert(
            id,
            User {
                id,
                url: self.url(&format!("users/{id}.json")),
                name,
                email: Some(key.clone()),
                role: role.to_owned(),
                external_id: None,
                active: true,
                custom_role_id: None,
                organization_id: None,
                default_group_id: None,
                ticket_restriction: None,
                created_at: now,
                updated_at: now,
            },
        );
        self.users_by_email.insert(key, id);
        if role != "end-user" {
            self.join_all_brands(id, now);
        }
        id
    }

    pub fn default_brand(&self) -> Option<u64> {
        self.brands.iter().find(|b| b.default).map(|b| b.id)
    }

    /// A live (not deleted) ticket, or 404.
    pub fn live(&self, id: u64) -> Result<&TicketRec, crate::sim::error::ApiError> {
        match self.tickets.get(&id) {
            Some(r) if !r.deleted => Ok(r),
            _ => Err(crate::sim::error::ApiError::not_found()),
        }
    }

    /// Renders a ticket: custom fields from the account's field list, export status.
    pub fn wire(&self, rec: &TicketRec) -> WireTicket {
        let mut ticket = rec.ticket.clone();
        ticket.custom_fields = self
            .fields
            .values()
            .filter(|f| f.removable)
            .map(|f| CustomField {
                id: f.field.id,
                value: rec.values.get(&f.field.id).cloned().unwrap_or(Value::Null),
            })
            .collect();
        if rec.deleted {
            ticket.status = crate::zendesk::models::Status::Deleted;
        }
        WireTicket {
            fields: ticket.custom_fields.clone(),
            email_cc_ids: Vec::new(),
            recipient: None,
            problem_id: None,
            satisfaction_rating: None,
            allow_channelback: false,
            allow_attachments: true,
            from_messaging_channel: false,
            generated_timestamp: rec.changed_ms / 1000,
            ticket,
        }
    }

    pub fn wire_field<'a>(&self, f: &'a FieldRec) -> WireField<'a> {
        WireField {
            field: &f.field,
            raw_title: &f.field.title,
            description: &f.description,
            raw_description: &f.description,
            position: f.position,
            removable: f.removable,
            visible_in_portal: false,
            editable_in_portal: false,
            required_in_portal: false,
            title_in_portal: &f.field.title,
            collapsed_for_agents: false,
            agent_description: None,
            tag: None,
            system_field_options: system_field_options(&f.field.field_type),
        }
    }

    /// Marks a ticket changed: new export position, webhook pending.
    pub fn touch(&mut self, ticket_id: u64, now_ms: i64) {
        let seq = self.ids.seq();
        if let Some(rec) = self.tickets.get_mut(&ticket_id) {
            self.export_order.remove(&rec.seq);
            rec.seq = seq;
            rec.changed_ms = now_ms;
            self.export_order.insert(seq, ticket_id);
        }
        if !self.touched.contains(&ticket_id) {
            self.touched.push(ticket_id);
        }
    }

    /// An audit as the API renders it (`{"audit": …}` of a ticket write, audits list).
    pub fn audit_json(&self, audit: &Audit) -> Value {
        let comments = self.tickets.get(&audit.ticket_id).map(|r| &r.comments);
        let events: Vec<Value> = audit
            .events
            .iter()
            .map(|e| match &e.kind {
                EventKind::Comment { comment_id } => {
                    let c = comments.and_then(|cs| cs.iter().find(|c| c.id == *comment_id));
                    match c {
                        Some(c) => json!({
                            "id": c.id, "type": "Comment", "author_id": c.author_id,
                            "body": c.body, "html_body": c.html_body, "plain_body": c.plain_body,
                            "public": c.public, "attachments": c.attachments, "audit_id": audit.id,
                        }),
                        None => json!({"id": e.id, "type": "Comment", "audit_id": audit.id}),
                    }
                }
                EventKind::Create { field, value } => {
                    json!({"id": e.id, "type": "Create", "field_name": field, "value": value})
                }
                EventKind::Change {
                    field,
                    previous,
                    value,
                } => json!({
                    "id": e.id, "type": "Change", "field_name": field,
                    "previous_value": previous, "value": value,
                }),
                EventKind::PrivacyChange { comment_id } => json!({
                    "id": e.id, "type": "CommentPrivacyChange", "comment_id": comment_id, "public": false,
                }),
                EventKind::Redaction { comment_id } => json!({
                    "id": e.id, "type": "CommentRedactionEvent", "comment_id": comment_id,
                }),
            })
            .collect();
        json!({
            "id": audit.id,
            "ticket_id": audit.ticket_id,
            "created_at": audit.created_at,
            "author_id": audit.author_id,
            "metadata": {"system": {"client": "sharebridge-sim", "ip_address": "127.0.0.1"}, "custom": audit.custom},
            "via": audit.via,
            "events": events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_and_text() {
        assert_eq!(
            html_of("a<b\nc"),
            "<div class=\"zd-comment\" dir=\"auto\"><p dir=\"auto\">a&lt;b<br>c</p></div>"
        );
        assert_eq!(text_of("<p>Hello &amp; <b>bye</b></p>"), "Hello & bye");
    }

    #[test]
    fn tags_normalize() {
        let t = ["Foo".to_owned(), "bar baz".to_owned(), "foo".to_owned()];
        assert_eq!(normalize_tags(&t), ["foo", "bar", "baz"]);
    }

    #[test]
    fn ids_do_not_collide_across_accounts() {
        let mut a = Ids::new(0);
        let mut b = Ids::new(1);
        assert_ne!(a.ticket(), b.ticket());
        assert!(a.object() < b.object());
    }
}
