//! A receiving account read into `visibility::Directory` (who its agents are, their
//! roles' `ticket_access`, brands, groups and organizations) and a mirror ticket into
//! `visibility::Mirror`. A thin I/O layer: the verdict is `visibility::report`.
//!
//! Who is an agent: a user whose `role` is `agent` or `admin` (end users never see a
//! mirror through the agent interface). An agent's access: its custom role's
//! `configuration.ticket_access` (Enterprise plans); without a custom role, the user's
//! `ticket_restriction` (plans without custom roles set "Access" per agent: `groups`,
//! `organization`, `assigned`; null means all tickets, the default agent's access —
//! Zendesk's "Understanding Zendesk Support user roles", and the Users API's
//! `ticket_restriction`). Brands: `brand_agents`; where Zendesk will not list them (no
//! department spaces on the plan), every agent is taken as a member of every brand, as
//! Zendesk does when brands restrict nobody.
//!
//! Must not: write (the client handle is read-only), decide who sees what.

use std::collections::{BTreeMap, BTreeSet};

use crate::visibility::{Agent, Directory, Mirror, Role, TicketAccess};
use crate::zendesk::client::{ZendeskClient, ZendeskError};
use crate::zendesk::models::{CustomRole, Ticket, User};

/// A receiving account, read once.
#[derive(Debug, Clone, Default)]
pub struct Receiver {
    pub directory: Directory,
    /// The brand a ticket gets when none is asked for.
    pub default_brand: Option<u64>,
    /// The bridge's own user's organization: a ticket takes its requester's, and the
    /// bridge is the mirror's requester.
    pub bridge_organization: Option<u64>,
    /// What could not be read and what was assumed instead.
    pub notes: Vec<String>,
}

/// Whether a failed read means "this plan does not offer it" (403/404) rather than a
/// failure worth stopping for.
fn unavailable(e: &ZendeskError) -> bool {
    matches!(
        e,
        ZendeskError::NotFound { .. } | ZendeskError::Auth { status: 403, .. }
    )
}

/// The access of an agent with no custom role, from its `ticket_restriction`.
pub fn restriction_access(restriction: Option<&str>) -> TicketAccess {
    match restriction {
        Some("groups") => TicketAccess::WithinGroups,
        Some("organization") => TicketAccess::WithinOrganization,
        // `requested`: only tickets the user requested, which no mirror is.
        Some("assigned") | Some("requested") => TicketAccess::AssignedOnly,
        _ => TicketAccess::All,
    }
}

/// What was read of an account, before it is mapped.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub staff: Vec<User>,
    /// `None` when the account offers no custom roles.
    pub roles: Option<Vec<CustomRole>>,
    /// Live groups, with `is_public`.
    pub groups: BTreeMap<u64, bool>,
    pub brands: BTreeSet<u64>,
    /// Brands by user id; `None` when the account does not list memberships.
    pub brand_members: Option<BTreeMap<u64, BTreeSet<u64>>>,
    /// Groups by user id.
    pub group_members: BTreeMap<u64, BTreeSet<u64>>,
    pub bridge_user: Option<u64>,
}

/// Maps the account's users, roles and memberships onto a [`Directory`]. Pure.
pub fn directory_of(l: &Listing, notes: &mut Vec<String>) -> Directory {
    let roles = l.roles.as_deref();
    let mut agents = Vec::new();
    let mut staff: Vec<&User> = l
        .staff
        .iter()
        .filter(|u| u.role == "agent" || u.role == "admin")
        .collect();
    staff.sort_by_key(|u| u.id);
    staff.dedup_by_key(|u| u.id);
    for u in staff {
        let (role, role_name) = if u.role == "admin" {
            (Role::Admin, "Admin".to_owned())
        } else {
            match u.custom_role_id {
                Some(cr) => match roles.and_then(|rs| rs.iter().find(|r| r.id == cr)) {
                    Some(r) => {
                        let raw = r.configuration["ticket_access"].as_str().unwrap_or("");
                        let access = TicketAccess::parse(raw).unwrap_or_else(|| {
                            notes.push(format!(
                                "custom role {cr} has ticket_access {raw:?}, which sharebridge does not know: taken as assigned-only"
                            ));
                            TicketAccess::AssignedOnly
                        });
                        (Role::Agent(access), r.name.clone())
                    }
                    None => {
                        let access = restriction_access(u.ticket_restriction.as_deref());
                        notes.push(format!(
                            "agent {} has custom role {cr}, which could not be read: taken as {}",
                            u.id,
                            access.as_str()
                        ));
                        (Role::Agent(access), format!("custom role {cr}"))
                    }
                },
                None => (
                    Role::Agent(restriction_access(u.ticket_restriction.as_deref())),
                    "Agent".to_owned(),
                ),
            }
        };
        agents.push(Agent {
            id: u.id,
            role_name,
            role,
            custom_role_id: u.custom_role_id,
            brands: match &l.brand_members {
                Some(m) => m.get(&u.id).cloned().unwrap_or_default(),
                None => l.brands.clone(),
            },
            groups: l.group_members.get(&u.id).cloned().unwrap_or_default(),
            organizations: u.organization_id.into_iter().collect(),
        });
    }
    Directory {
        agents,
        groups: l.groups.clone(),
        brands: l.brands.clone(),
        bridge_user: l.bridge_user,
    }
}

/// Reads the receiving account: its bridge user (unless known), staff, custom roles,
/// groups and memberships, brands and brand memberships. About six requests on a small
/// account; each list is paginated to its end.
pub async fn read_receiver(
    client: &ZendeskClient,
    bridge_user: Option<u64>,
) -> Result<Receiver, ZendeskError> {
    let mut notes = Vec::new();
    let me = match bridge_user {
        Some(id) => client.show_user(id).await?,
        None => client.me().await?,
    };
    let staff = client.list_staff().await?;
    let roles = match client.list_custom_roles().await {
        Ok(r) => Some(r),
        Err(e) if unavailable(&e) => {
            notes.push(
                "custom roles cannot be read on this account (no custom roles on its plan): agents' access is taken from their ticket_restriction".to_owned(),
            );
            None
        }
        Err(e) => return Err(e),
    };
    let groups: BTreeMap<u64, bool> = client
        .list_groups()
        .await?
        .into_iter()
        .filter(|g| !g.deleted)
        .map(|g| (g.id, g.is_public))
        .collect();
    let mut group_members: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for m in client.list_group_memberships().await? {
        group_members
            .entry(m.user_id)
            .or_default()
            .insert(m.group_id);
    }
    let brand_list = client.list_brands().await?;
    let brands: BTreeSet<u64> = brand_list.iter().map(|b| b.id).collect();
    let default_brand = brand_list
        .iter()
        .find(|b| b.default)
        .or(brand_list.first())
        .map(|b| b.id);
    let brand_members = match client.list_brand_agents().await {
        Ok(list) => {
            let mut m: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
            for ba in list {
                m.entry(ba.user_id).or_default().insert(ba.brand_id);
            }
            Some(m)
        }
        Err(e) if unavailable(&e) => {
            notes.push(
                "brand memberships cannot be read on this account (no department spaces): every agent is taken as a member of every brand".to_owned(),
            );
            None
        }
        Err(e) => return Err(e),
    };
    let listing = Listing {
        staff,
        roles,
        groups,
        brands,
        brand_members,
        group_members,
        bridge_user: Some(me.id),
    };
    let directory = directory_of(&listing, &mut notes);
    Ok(Receiver {
        directory,
        default_brand,
        bridge_organization: me.organization_id,
        notes,
    })
}

/// The mirror as the bridge would create it for an agreement placing it at `target`:
/// requester the bridge's user (so its organization), no assignee, no followers.
pub fn planned_mirror(receiver: &Receiver, target: super::Target) -> Mirror {
    Mirror {
        brand_id: target.brand_id.or(receiver.default_brand),
        group_id: target.group_id,
        organization_id: receiver.bridge_organization,
        ..Mirror::default()
    }
}

/// A mirror ticket as it is.
pub fn mirror_of(t: &Ticket) -> Mirror {
    Mirror {
        brand_id: t.brand_id,
        group_id: t.group_id,
        organization_id: t.organization_id,
        assignee_id: t.assignee_id,
        follower_ids: t.follower_ids.iter().copied().collect(),
        collaborator_ids: t.collaborator_ids.iter().copied().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(id: u64, role: &str, custom: Option<u64>, restriction: Option<&str>) -> User {
        serde_json::from_value(json!({
            "id": id, "role": role, "custom_role_id": custom, "organization_id": 900,
            "ticket_restriction": restriction,
            "created_at": "2026-11-23T05:29:05Z", "updated_at": "2026-11-23T05:29:05Z"
        }))
        .unwrap()
    }

    fn role(id: u64, access: &str) -> CustomRole {
        serde_json::from_value(json!({
            "id": id, "name": format!("role {id}"), "configuration": {"ticket_access": access},
            "created_at": "2026-11-23T05:29:05Z", "updated_at": "2026-11-23T05:29:05Z"
        }))
        .unwrap()
    }

    /// Admins, custom roles, `ticket_restriction` without one, end users left out, an
    /// unknown role or access reported; brands from memberships, or all brands.
    #[test]
    fn users_roles_and_memberships_map_onto_the_directory() {
        let staff = [
            user(5, "agent", Some(70), None),
            user(3, "admin", None, None),
            user(4, "agent", None, Some("groups")),
            user(6, "agent", None, None),
            user(7, "end-user", None, None),
            user(8, "agent", Some(99), None),
            user(9, "agent", Some(71), None),
        ];
        let roles = [role(70, "within-organization"), role(71, "everything")];
        let brands = BTreeSet::from([1, 2]);
        let members = BTreeMap::from([(5, BTreeSet::from([2]))]);
        let groups = BTreeMap::from([(4, BTreeSet::from([50]))]);
        let mut notes = Vec::new();
        let mut listing = Listing {
            staff: staff.to_vec(),
            roles: Some(roles.to_vec()),
            groups: BTreeMap::from([(50, false)]),
            brands: brands.clone(),
            brand_members: Some(members),
            group_members: groups,
            bridge_user: Some(6),
        };
        let d = directory_of(&listing, &mut notes);
        let got: Vec<(u64, Role)> = d.agents.iter().map(|a| (a.id, a.role)).collect();
        assert_eq!(
            got,
            vec![
                (3, Role::Admin),
                (4, Role::Agent(TicketAccess::WithinGroups)),
                (5, Role::Agent(TicketAccess::WithinOrganization)),
                (6, Role::Agent(TicketAccess::All)),
                (8, Role::Agent(TicketAccess::All)),
                (9, Role::Agent(TicketAccess::AssignedOnly)),
            ]
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert_eq!(d.agents[2].brands, BTreeSet::from([2]));
        assert_eq!(
            d.agents[3].brands,
            BTreeSet::new(),
            "listed, member of none"
        );
        assert_eq!(d.agents[1].groups, BTreeSet::from([50]));
        assert_eq!(d.agents[1].organizations, BTreeSet::from([900]));
        assert_eq!(d.bridge_user, Some(6));
        listing.roles = None;
        listing.brand_members = None;
        let d = directory_of(&listing, &mut Vec::new());
        assert!(d.agents.iter().all(|a| a.brands == brands));
    }
}
