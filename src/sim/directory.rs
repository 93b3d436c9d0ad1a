//! Who can see what, as Zendesk keeps it: brands and their agents (`brand_agents`),
//! groups and `group_memberships`, custom roles (`configuration.ticket_access`),
//! organizations, and users' roles (`end-user`, `agent`, `admin`, `custom_role_id`,
//! `organization_id`). Create/list/show/update/delete as Zendesk's endpoints have them,
//! so a test can build an account's visibility through the API. Writes to these objects
//! are for admins (403 otherwise), as in Zendesk.
//!
//! Brand membership: an agent is a member of every brand that exists when the agent is
//! created, and every agent becomes a member of a new brand; `PUT /sim/brand_agents`
//! (`{"user_id", "brand_ids"}`) or `Simulator::set_brand_memberships` narrows it (the
//! Brand Agents API is read-only in Zendesk; its admin UI sets memberships).

use axum::http::StatusCode;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::sim::error::ApiError;
use crate::sim::http::{Req, Resp, envelope, json_value};
use crate::sim::pagination;
use crate::sim::state::Account;
use crate::zendesk::models::{Brand, BrandAgent, CustomRole, Group, GroupMembership, Organization};

/// The `ticket_access` values of a custom role's configuration.
pub const TICKET_ACCESS: [&str; 5] = [
    "all",
    "within-groups",
    "within-groups-and-public-groups",
    "within-organization",
    "assigned-only",
];

fn forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        json!({"error": "Forbidden", "description": "You do not have access to this page. Please contact the account owner of this help desk for further help."}),
    )
}

/// 403 unless the caller is an admin.
pub(crate) fn require_admin(a: &Account, req: &Req) -> Result<(), ApiError> {
    match a.users.get(&req.caller.id) {
        Some(u) if u.role == "admin" => Ok(()),
        _ => Err(forbidden()),
    }
}

fn blank(field: &str, label: &str) -> ApiError {
    ApiError::invalid_with(field, &format!("{label}: cannot be blank"), "BlankValue")
}

fn taken(field: &str, label: &str, value: &str) -> ApiError {
    ApiError::invalid_with(
        field,
        &format!("{label}: {value} has already been taken"),
        "DuplicateValue",
    )
}

/// A list answer over `items` (already in id order), cursor or offset paginated.
fn list<T: serde::Serialize>(
    req: &Req,
    key: &'static str,
    url: &str,
    items: Vec<(u64, T)>,
) -> Result<Resp, ApiError> {
    let keys: Vec<u64> = items.iter().map(|(k, _)| *k).collect();
    let values: Vec<T> = items.into_iter().map(|(_, v)| v).collect();
    pagination::list(&req.query, key, &keys, true, url, |i| &values[i])
}

impl Account {
    /// Makes `user_id` a member of every brand (a new agent).
    pub(crate) fn join_all_brands(&mut self, user_id: u64, now: Timestamp) {
        let brands: Vec<u64> = self.brands.iter().map(|b| b.id).collect();
        for brand_id in brands {
            self.add_brand_agent(user_id, brand_id, now);
        }
    }

    fn add_brand_agent(&mut self, user_id: u64, brand_id: u64, now: Timestamp) {
        if self
            .brand_agents
            .values()
            .any(|m| m.user_id == user_id && m.brand_id == brand_id)
        {
            return;
        }
        let id = self.ids.object();
        let url = self.url(&format!("brand_agents/{id}.json"));
        self.brand_agents.insert(
            id,
            BrandAgent {
                id,
                url,
                user_id,
                brand_id,
                created_at: now,
                updated_at: now,
            },
        );
    }

    /// Sets the brands `user_id` is a member of.
    pub(crate) fn set_brand_memberships(
        &mut self,
        user_id: u64,
        brand_ids: &[u64],
        now: Timestamp,
    ) {
        self.brand_agents
            .retain(|_, m| m.user_id != user_id || brand_ids.contains(&m.brand_id));
        for b in brand_ids {
            self.add_brand_agent(user_id, *b, now);
        }
    }

    /// The user for `email` (created if new) with `role`; agents join every brand.
    pub(crate) fn set_role(&mut self, email: &str, role: &str, now: Timestamp) -> u64 {
        let id = self.ensure_user(email, role, now);
        if let Some(u) = self.users.get_mut(&id) {
            let was_staff = u.role != "end-user";
            u.role = role.to_owned();
            if role == "admin" {
                u.custom_role_id = None;
            }
            u.updated_at = now;
            if role != "end-user" && !was_staff {
                self.join_all_brands(id, now);
            }
        }
        id
    }

    fn is_staff(&self, user_id: u64) -> bool {
        self.users
            .get(&user_id)
            .is_some_and(|u| u.role != "end-user")
    }
}

// ---- brands ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct BrandWrite {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    subdomain: Option<String>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    default: Option<bool>,
}

/// `POST /api/v2/brands` → 201 `{"brand"}`; every agent becomes a member.
pub(crate) fn create_brand(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let (w, _): (BrandWrite, _) = envelope(json_value(&req.body)?, "brand")?;
    let name = w
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| blank("name", "Name"))?;
    let sub = w
        .subdomain
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| blank("subdomain", "Subdomain"))?
        .to_lowercase();
    if a.brands.iter().any(|b| b.subdomain == sub) {
        return Err(taken("subdomain", "Subdomain", &sub));
    }
    let id = a.ids.object();
    let brand = Brand {
        id,
        url: a.url(&format!("brands/{id}.json")),
        name,
        subdomain: sub,
        active: w.active.unwrap_or(true),
        default: false,
        created_at: req.now,
        updated_at: req.now,
    };
    a.brands.push(brand.clone());
    let staff: Vec<u64> = a
        .users
        .values()
        .filter(|u| u.role != "end-user")
        .map(|u| u.id)
        .collect();
    for u in staff {
        a.add_brand_agent(u, id, req.now);
    }
    Ok(Resp::json(StatusCode::CREATED, &json!({"brand": brand})))
}

/// `PUT /api/v2/brands/{id}`.
pub(crate) fn update_brand(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let (w, _): (BrandWrite, _) = envelope(json_value(&req.body)?, "brand")?;
    let id = req.ids[0];
    if !a.brands.iter().any(|b| b.id == id) {
        return Err(ApiError::not_found());
    }
    if w.default == Some(true) {
        for b in &mut a.brands {
            b.default = b.id == id;
        }
    }
    let b = a
        .brands
        .iter_mut()
        .find(|b| b.id == id)
        .ok_or_else(ApiError::not_found)?;
    if let Some(n) = w.name.filter(|n| !n.trim().is_empty()) {
        b.name = n;
    }
    if let Some(x) = w.active {
        b.active = x;
    }
    b.updated_at = req.now;
    Ok(Resp::ok(&json!({"brand": b})))
}

/// `DELETE /api/v2/brands/{id}` → 204 (the default brand cannot go: 422).
pub(crate) fn delete_brand(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let id = req.ids[0];
    let b = a
        .brands
        .iter()
        .find(|b| b.id == id)
        .ok_or_else(ApiError::not_found)?;
    if b.default {
        return Err(ApiError::invalid(
            "base",
            "The default brand cannot be deleted",
        ));
    }
    a.brands.retain(|b| b.id != id);
    a.brand_agents.retain(|_, m| m.brand_id != id);
    Ok(Resp::no_content())
}

/// `GET /api/v2/brand_agents` (`?user_id=`, `?brand_id=`) and
/// `GET /api/v2/users/{id}/brand_agents`.
pub(crate) fn brand_agents(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let num = |k: &str| req.param(k).and_then(|v| v.parse::<u64>().ok());
    let user = if req.ids[0] != 0 {
        Some(req.ids[0])
    } else {
        num("user_id")
    };
    let brand = num("brand_id");
    let items = a
        .brand_agents
        .values()
        .filter(|m| user.is_none_or(|u| m.user_id == u) && brand.is_none_or(|b| m.brand_id == b))
        .map(|m| (m.id, m.clone()))
        .collect();
    list(
        req,
        "brand_agents",
        &format!("{}?", a.url("brand_agents.json")),
        items,
    )
}

/// `GET /api/v2/brand_agents/{id}`.
pub(crate) fn brand_agent(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let m = a
        .brand_agents
        .get(&req.ids[0])
        .ok_or_else(ApiError::not_found)?;
    Ok(Resp::ok(&json!({"brand_agent": m})))
}

// ---- groups and memberships -----------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct GroupWrite {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    is_public: Option<bool>,
    #[serde(default)]
    description: Option<String>,
}

/// `GET /api/v2/groups` (not deleted).
pub(crate) fn groups(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let items = a
        .groups
        .iter()
        .filter(|g| !g.deleted)
        .map(|g| (g.id, g.clone()))
        .collect();
    list(req, "groups", &format!("{}?", a.url("groups.json")), items)
}

/// `POST /api/v2/groups` → 201.
pub(crate) fn create_group(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let (w, _): (GroupWrite, _) = envelope(json_value(&req.body)?, "group")?;
    let name = w
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| blank("name", "Name"))?;
    let id = a.ids.object();
    let g = Group {
        id,
        url: a.url(&format!("groups/{id}.json")),
        name,
        is_public: w.is_public.unwrap_or(true),
        default: false,
        deleted: false,
        created_at: req.now,
        updated_at: req.now,
    };
    let _ = w.description;
    a.groups.push(g.clone());
    Ok(Resp::json(StatusCode::CREATED, &json!({"group": g})))
}

/// `PUT /api/v2/groups/{id}`.
pub(crate) fn update_group(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let (w, _): (GroupWrite, _) = envelope(json_value(&req.body)?, "group")?;
    let g = a
        .groups
        .iter_mut()
        .find(|g| g.id == req.ids[0] && !g.deleted)
        .ok_or_else(ApiError::not_found)?;
    if let Some(n) = w.name.filter(|n| !n.trim().is_empty()) {
        g.name = n;
    }
    if let Some(p) = w.is_public {
        g.is_public = p;
    }
    g.updated_at = req.now;
    Ok(Resp::ok(&json!({"group": g})))
}

/// `DELETE /api/v2/groups/{id}` → 204 (soft: `deleted`, memberships go).
pub(crate) fn delete_group(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let id = req.ids[0];
    let g = a
        .groups
        .iter_mut()
        .find(|g| g.id == id && !g.deleted)
        .ok_or_else(ApiError::not_found)?;
    g.deleted = true;
    g.updated_at = req.now;
    a.group_memberships.retain(|_, m| m.group_id != id);
    Ok(Resp::no_content())
}

/// `GET /api/v2/group_memberships`, `/groups/{id}/memberships`,
/// `/users/{id}/group_memberships` (the path decides the filter).
pub(crate) fn group_memberships(
    a: &mut Account,
    req: &Req,
    by: MembershipFilter,
) -> Result<Resp, ApiError> {
    let id = req.ids[0];
    let items = a
        .group_memberships
        .values()
        .filter(|m| match by {
            MembershipFilter::All => true,
            MembershipFilter::Group => m.group_id == id,
            MembershipFilter::User => m.user_id == id,
        })
        .map(|m| (m.id, m.clone()))
        .collect();
    list(
        req,
        "group_memberships",
        &format!("{}?", a.url("group_memberships.json")),
        items,
    )
}

/// Which memberships a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MembershipFilter {
    All,
    Group,
    User,
}

#[derive(Debug, Default, Deserialize)]
struct MembershipWrite {
    #[serde(default)]
    user_id: Option<u64>,
    #[serde(default)]
    group_id: Option<u64>,
    #[serde(default)]
    default: Option<bool>,
}

/// `POST /api/v2/group_memberships` `{"group_membership": {user_id, group_id}}` → 201.
pub(crate) fn create_group_membership(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let (w, _): (MembershipWrite, _) = envelope(json_value(&req.body)?, "group_membership")?;
    let user_id = w.user_id.ok_or_else(|| blank("user_id", "User"))?;
    let group_id = w.group_id.ok_or_else(|| blank("group_id", "Group"))?;
    if !a.is_staff(user_id) {
        return Err(ApiError::invalid("user_id", "User: is not an agent"));
    }
    if !a.groups.iter().any(|g| g.id == group_id && !g.deleted) {
        return Err(ApiError::invalid("group_id", "Group: is invalid"));
    }
    if a.group_memberships
        .values()
        .any(|m| m.user_id == user_id && m.group_id == group_id)
    {
        return Err(taken("user_id", "User", &user_id.to_string()));
    }
    let first = !a.group_memberships.values().any(|m| m.user_id == user_id);
    let id = a.ids.object();
    let m = GroupMembership {
        id,
        url: a.url(&format!("group_memberships/{id}.json")),
        user_id,
        group_id,
        default: w.default.unwrap_or(first),
        created_at: req.now,
        updated_at: req.now,
    };
    if m.default
        && let Some(u) = a.users.get_mut(&user_id)
    {
        u.default_group_id = Some(group_id);
    }
    a.group_memberships.insert(id, m.clone());
    Ok(Resp::json(
        StatusCode::CREATED,
        &json!({"group_membership": m}),
    ))
}

/// `GET /api/v2/group_memberships/{id}`.
pub(crate) fn group_membership(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let m = a
        .group_memberships
        .get(&req.ids[0])
        .ok_or_else(ApiError::not_found)?;
    Ok(Resp::ok(&json!({"group_membership": m})))
}

/// `DELETE /api/v2/group_memberships/{id}` → 204.
pub(crate) fn delete_group_membership(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    a.group_memberships
        .remove(&req.ids[0])
        .ok_or_else(ApiError::not_found)?;
    Ok(Resp::no_content())
}

// ---- custom roles ---------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct RoleWrite {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    configuration: Option<Value>,
}

fn check_configuration(c: &Value) -> Result<(), ApiError> {
    match c.get("ticket_access") {
        None => Ok(()),
        Some(Value::String(s)) if TICKET_ACCESS.contains(&s.as_str()) => Ok(()),
        Some(_) => Err(ApiError::invalid(
            "configuration",
            "Ticket access: is invalid (all, within-groups, within-groups-and-public-groups, within-organization, assigned-only)",
        )),
    }
}

/// `GET /api/v2/custom_roles/{id}`.
pub(crate) fn custom_role(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let r = a
        .roles
        .iter()
        .find(|r| r.id == req.ids[0])
        .ok_or_else(ApiError::not_found)?;
    Ok(Resp::ok(&json!({"custom_role": r})))
}

/// `POST /api/v2/custom_roles` → 201; `configuration.ticket_access` defaults to
/// `within-groups`.
pub(crate) fn create_custom_role(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let (w, _): (RoleWrite, _) = envelope(json_value(&req.body)?, "custom_role")?;
    let name = w
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| blank("name", "Name"))?;
    let mut configuration = w.configuration.unwrap_or_else(|| json!({}));
    if !configuration.is_object() {
        return Err(ApiError::invalid(
            "configuration",
            "Configuration: is invalid",
        ));
    }
    check_configuration(&configuration)?;
    if configuration.get("ticket_access").is_none() {
        configuration["ticket_access"] = json!("within-groups");
    }
    let id = a.ids.object();
    let r = CustomRole {
        id,
        name,
        description: w.description,
        role_type: 0,
        configuration,
        created_at: req.now,
        updated_at: req.now,
    };
    a.roles.push(r.clone());
    Ok(Resp::json(StatusCode::CREATED, &json!({"custom_role": r})))
}

/// `PUT /api/v2/custom_roles/{id}` (configuration keys merge).
pub(crate) fn update_custom_role(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let (w, _): (RoleWrite, _) = envelope(json_value(&req.body)?, "custom_role")?;
    if let Some(c) = &w.configuration {
        check_configuration(c)?;
    }
    let r = a
        .roles
        .iter_mut()
        .find(|r| r.id == req.ids[0])
        .ok_or_else(ApiError::not_found)?;
    if let Some(n) = w.name.filter(|n| !n.trim().is_empty()) {
        r.name = n;
    }
    if w.description.is_some() {
        r.description = w.description;
    }
    if let Some(Value::Object(c)) = w.configuration
        && let Some(obj) = r.configuration.as_object_mut()
    {
        obj.extend(c);
    }
    r.updated_at = req.now;
    Ok(Resp::ok(&json!({"custom_role": r})))
}

/// `DELETE /api/v2/custom_roles/{id}` → 204 (refused while an agent has it: 422).
pub(crate) fn delete_custom_role(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let id = req.ids[0];
    if !a.roles.iter().any(|r| r.id == id) {
        return Err(ApiError::not_found());
    }
    if a.users.values().any(|u| u.custom_role_id == Some(id)) {
        return Err(ApiError::invalid(
            "base",
            "Role is assigned to agents and cannot be deleted",
        ));
    }
    a.roles.retain(|r| r.id != id);
    Ok(Resp::no_content())
}

// ---- organizations --------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct OrgWrite {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    domain_names: Option<Vec<String>>,
    #[serde(default)]
    group_id: Option<u64>,
    #[serde(default)]
    shared_tickets: Option<bool>,
    #[serde(default)]
    shared_comments: Option<bool>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// `GET /api/v2/organizations`.
pub(crate) fn organizations(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let items = a
        .organizations
        .values()
        .map(|o| (o.id, o.clone()))
        .collect();
    list(
        req,
        "organizations",
        &format!("{}?", a.url("organizations.json")),
        items,
    )
}

/// `GET /api/v2/organizations/{id}`.
pub(crate) fn organization(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    let o = a
        .organizations
        .get(&req.ids[0])
        .ok_or_else(ApiError::not_found)?;
    Ok(Resp::ok(&json!({"organization": o})))
}

/// `POST /api/v2/organizations` → 201 (names are unique).
pub(crate) fn create_organization(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let (w, _): (OrgWrite, _) = envelope(json_value(&req.body)?, "organization")?;
    let name = w
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| blank("name", "Name"))?;
    if a.organizations
        .values()
        .any(|o| o.name.eq_ignore_ascii_case(&name))
    {
        return Err(taken("name", "Name", &name));
    }
    let id = a.ids.object();
    let o = Organization {
        id,
        url: a.url(&format!("organizations/{id}.json")),
        name,
        external_id: w.external_id,
        domain_names: w.domain_names.unwrap_or_default(),
        group_id: w.group_id,
        shared_tickets: w.shared_tickets.unwrap_or(false),
        shared_comments: w.shared_comments.unwrap_or(false),
        tags: crate::sim::state::normalize_tags(w.tags.iter().flatten()),
        created_at: req.now,
        updated_at: req.now,
    };
    a.organizations.insert(id, o.clone());
    Ok(Resp::json(StatusCode::CREATED, &json!({"organization": o})))
}

/// `PUT /api/v2/organizations/{id}`.
pub(crate) fn update_organization(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let (w, _): (OrgWrite, _) = envelope(json_value(&req.body)?, "organization")?;
    let o = a
        .organizations
        .get_mut(&req.ids[0])
        .ok_or_else(ApiError::not_found)?;
    if let Some(n) = w.name.filter(|n| !n.trim().is_empty()) {
        o.name = n;
    }
    if w.external_id.is_some() {
        o.external_id = w.external_id;
    }
    if let Some(d) = w.domain_names {
        o.domain_names = d;
    }
    if w.group_id.is_some() {
        o.group_id = w.group_id;
    }
    if let Some(x) = w.shared_tickets {
        o.shared_tickets = x;
    }
    if let Some(x) = w.shared_comments {
        o.shared_comments = x;
    }
    if let Some(t) = w.tags {
        o.tags = crate::sim::state::normalize_tags(&t);
    }
    o.updated_at = req.now;
    let o = o.clone();
    Ok(Resp::ok(&json!({"organization": o})))
}

/// `DELETE /api/v2/organizations/{id}` → 204; its users lose it.
pub(crate) fn delete_organization(a: &mut Account, req: &Req) -> Result<Resp, ApiError> {
    require_admin(a, req)?;
    let id = req.ids[0];
    a.organizations
        .remove(&id)
        .ok_or_else(ApiError::not_found)?;
    for u in a.users.values_mut() {
        if u.organization_id == Some(id) {
            u.organization_id = None;
        }
    }
    Ok(Resp::no_content())
}
