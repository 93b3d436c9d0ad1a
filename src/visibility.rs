//! Who in the receiving account can see a mirror, and why (`sharebridge visibility`,
//! `plan`, `links show`, the status page).
//!
//! Zendesk's rules, as the seed (Merge's "Zendesk integration nuances (permissions)" and
//! Zendesk's "Restricting agent ticket access by brand (department spaces)") gives them:
//! - admins see every ticket of every brand;
//! - followers (and CCs) see the ticket whatever their role and brand;
//! - an agent assigned to the ticket sees it;
//! - otherwise an agent needs membership of the ticket's brand, and then its role's
//!   `ticket_access` decides: `all`; `within-groups` (the ticket's group is one of the
//!   agent's); `within-groups-and-public-groups` (or a public group); `within-organization`
//!   (the ticket's organization is one of the agent's); `assigned-only`.
//!   A ticket with no group is seen by neither group-restricted access.
//!
//! Owns: that decision and the warnings drawn from it, as pure functions over plain data
//! ([`Directory`], [`Mirror`]). Must not: call Zendesk or read the store (the caller
//! gathers roles, brands, groups, memberships and the ticket), or log names.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// A role's `configuration.ticket_access`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TicketAccess {
    All,
    WithinGroups,
    WithinGroupsAndPublicGroups,
    WithinOrganization,
    AssignedOnly,
}

impl TicketAccess {
    pub const ALL: [TicketAccess; 5] = [
        TicketAccess::All,
        TicketAccess::WithinGroups,
        TicketAccess::WithinGroupsAndPublicGroups,
        TicketAccess::WithinOrganization,
        TicketAccess::AssignedOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketAccess::All => "all",
            TicketAccess::WithinGroups => "within-groups",
            TicketAccess::WithinGroupsAndPublicGroups => "within-groups-and-public-groups",
            TicketAccess::WithinOrganization => "within-organization",
            TicketAccess::AssignedOnly => "assigned-only",
        }
    }

    /// Zendesk's spelling; `None` for anything else (the caller reports it).
    pub fn parse(s: &str) -> Option<TicketAccess> {
        TicketAccess::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// What an agent is, for visibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "ticket_access")]
pub enum Role {
    Admin,
    Agent(TicketAccess),
}

/// One agent (or admin) of the receiving account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub id: u64,
    /// The role's name as Zendesk shows it ("Admin", "Light agent", a custom role).
    pub role_name: String,
    pub role: Role,
    /// Brands the agent is a member of.
    pub brands: BTreeSet<u64>,
    /// Groups the agent is a member of.
    pub groups: BTreeSet<u64>,
    /// Organizations the agent belongs to.
    pub organizations: BTreeSet<u64>,
}

/// The receiving account, as far as visibility goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Directory {
    pub agents: Vec<Agent>,
    /// Every group, with whether it is public (`is_public`).
    pub groups: BTreeMap<u64, bool>,
    /// Every brand id.
    pub brands: BTreeSet<u64>,
    /// The bridge's own user: it sees what it wrote, which says nothing about people.
    pub bridge_user: Option<u64>,
}

/// The mirror ticket (or the ticket the bridge would create).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mirror {
    pub brand_id: Option<u64>,
    pub group_id: Option<u64>,
    pub organization_id: Option<u64>,
    pub assignee_id: Option<u64>,
    pub follower_ids: BTreeSet<u64>,
    pub collaborator_ids: BTreeSet<u64>,
}

/// Why an agent sees the mirror, or why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// Sees it: an admin sees every brand.
    Admin,
    /// Sees it: followers see it regardless of role and brand.
    Follower,
    /// Sees it: CCs see it regardless of role and brand.
    Cc,
    /// Sees it: assigned to it.
    Assignee,
    /// Sees it: role with `ticket_access = all`, member of the brand.
    AllTickets,
    /// Sees it: member of the mirror's group.
    Group,
    /// Sees it: the mirror's group is public and the role allows public groups.
    PublicGroup,
    /// Sees it: the mirror's organization is one of the agent's.
    Organization,
    /// Does not: not a member of the mirror's brand.
    NotInBrand,
    /// Does not: the mirror has no group and the role sees only groups.
    NoGroup,
    /// Does not: the mirror's group is not one of the agent's (and not public where that
    /// would do).
    NotInGroup,
    /// Does not: the mirror's organization is not one of the agent's (or it has none).
    OtherOrganization,
    /// Does not: the role sees only assigned tickets.
    NotAssigned,
}

impl Why {
    pub fn sees(self) -> bool {
        matches!(
            self,
            Why::Admin
                | Why::Follower
                | Why::Cc
                | Why::Assignee
                | Why::AllTickets
                | Why::Group
                | Why::PublicGroup
                | Why::Organization
        )
    }

    /// A short sentence for people.
    pub fn explain(self) -> &'static str {
        match self {
            Why::Admin => "admins see every brand",
            Why::Follower => "follows the ticket",
            Why::Cc => "is copied on the ticket",
            Why::Assignee => "is assigned the ticket",
            Why::AllTickets => "role sees all tickets of its brands",
            Why::Group => "member of the ticket's group",
            Why::PublicGroup => "the ticket's group is public",
            Why::Organization => "the ticket's organization is the agent's",
            Why::NotInBrand => "not a member of the ticket's brand",
            Why::NoGroup => "role sees only group tickets and the ticket has no group",
            Why::NotInGroup => "not a member of the ticket's group",
            Why::OtherOrganization => "the ticket's organization is not the agent's",
            Why::NotAssigned => "role sees only assigned tickets",
        }
    }
}

/// The verdict for one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub agent_id: u64,
    pub role: Role,
    pub role_name: String,
    pub can_see: bool,
    pub why: Why,
}

/// Something the operator should know before relying on the mirror being seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Warning {
    /// Nobody but admins (and the bridge) sees the mirror; `brand_without_agents` when
    /// the brand has no agent members at all.
    OnlyAdmins {
        brand: Option<u64>,
        brand_without_agents: bool,
    },
    /// The mirror has no group: agents whose role sees only group tickets cannot see it.
    NoGroup { agents: usize },
    /// No agent of the target group is a member of the mirror's brand.
    GroupOutsideBrand { group: u64, brand: u64 },
    /// The target group does not exist in the receiver.
    UnknownGroup { group: u64 },
    /// The target brand does not exist in the receiver.
    UnknownBrand { brand: u64 },
}

impl Warning {
    /// The warning as a sentence, naming the agreement (ids only, never names).
    pub fn message(&self, agreement: &str) -> String {
        match self {
            Warning::OnlyAdmins {
                brand: Some(b),
                brand_without_agents: true,
            } => format!(
                "no agent but admins can see mirrors of {agreement}: brand {b} has no agent members"
            ),
            Warning::OnlyAdmins { brand, .. } => format!(
                "no agent but admins can see mirrors of {agreement}{}",
                brand.map(|b| format!(" (brand {b})")).unwrap_or_default()
            ),
            Warning::NoGroup { agents } => format!(
                "the mirror has no group: agents with within-groups access cannot see it ({agents} agents of {agreement}'s receiver)"
            ),
            Warning::GroupOutsideBrand { group, brand } => format!(
                "the target group {group} belongs to no role that can see brand {brand}: none of its agents is a member of brand {brand} ({agreement})"
            ),
            Warning::UnknownGroup { group } => {
                format!("the target group {group} of {agreement} does not exist in the receiver")
            }
            Warning::UnknownBrand { brand } => {
                format!("the target brand {brand} of {agreement} does not exist in the receiver")
            }
        }
    }
}

/// Everyone's verdict and the warnings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub verdicts: Vec<Verdict>,
    pub warnings: Vec<Warning>,
}

impl Report {
    /// How many people (not the bridge) can see the mirror.
    pub fn seen_by(&self) -> usize {
        self.verdicts.iter().filter(|v| v.can_see).count()
    }
}

/// Does `agent` see `mirror`, and why.
pub fn verdict(agent: &Agent, dir: &Directory, mirror: &Mirror) -> Why {
    let access = match agent.role {
        Role::Admin => return Why::Admin,
        Role::Agent(access) => access,
    };
    if mirror.follower_ids.contains(&agent.id) {
        return Why::Follower;
    }
    if mirror.collaborator_ids.contains(&agent.id) {
        return Why::Cc;
    }
    if mirror.assignee_id == Some(agent.id) {
        return Why::Assignee;
    }
    if let Some(b) = mirror.brand_id
        && !agent.brands.contains(&b)
    {
        return Why::NotInBrand;
    }
    let in_group = mirror.group_id.map(|g| agent.groups.contains(&g));
    let public = mirror
        .group_id
        .map(|g| dir.groups.get(&g).copied().unwrap_or(false));
    match access {
        TicketAccess::All => Why::AllTickets,
        TicketAccess::WithinGroups => match in_group {
            None => Why::NoGroup,
            Some(true) => Why::Group,
            Some(false) => Why::NotInGroup,
        },
        TicketAccess::WithinGroupsAndPublicGroups => match (in_group, public) {
            (None, _) => Why::NoGroup,
            (Some(true), _) => Why::Group,
            (Some(false), Some(true)) => Why::PublicGroup,
            (Some(false), _) => Why::NotInGroup,
        },
        TicketAccess::WithinOrganization => match mirror.organization_id {
            Some(o) if agent.organizations.contains(&o) => Why::Organization,
            _ => Why::OtherOrganization,
        },
        TicketAccess::AssignedOnly => Why::NotAssigned,
    }
}

/// Everyone's verdict (the bridge's own user left out) and the warnings.
pub fn report(dir: &Directory, mirror: &Mirror) -> Report {
    let people: Vec<&Agent> = dir
        .agents
        .iter()
        .filter(|a| Some(a.id) != dir.bridge_user)
        .collect();
    let verdicts: Vec<Verdict> = people
        .iter()
        .map(|a| {
            let why = verdict(a, dir, mirror);
            Verdict {
                agent_id: a.id,
                role: a.role,
                role_name: a.role_name.clone(),
                can_see: why.sees(),
                why,
            }
        })
        .collect();
    let mut warnings = Vec::new();
    if let Some(b) = mirror.brand_id
        && !dir.brands.is_empty()
        && !dir.brands.contains(&b)
    {
        warnings.push(Warning::UnknownBrand { brand: b });
    }
    if let Some(g) = mirror.group_id
        && !dir.groups.contains_key(&g)
    {
        warnings.push(Warning::UnknownGroup { group: g });
    }
    let agents: Vec<&Agent> = people
        .iter()
        .copied()
        .filter(|a| matches!(a.role, Role::Agent(_)))
        .collect();
    let agent_sees = agents.iter().any(|a| verdict(a, dir, mirror).sees());
    if !agent_sees {
        let brand_without_agents = mirror
            .brand_id
            .is_some_and(|b| !agents.iter().any(|a| a.brands.contains(&b)));
        warnings.push(Warning::OnlyAdmins {
            brand: mirror.brand_id,
            brand_without_agents,
        });
    }
    if mirror.group_id.is_none() {
        let blind = agents
            .iter()
            .filter(|a| verdict(a, dir, mirror) == Why::NoGroup)
            .count();
        if blind > 0 {
            warnings.push(Warning::NoGroup { agents: blind });
        }
    }
    if let (Some(g), Some(b)) = (mirror.group_id, mirror.brand_id)
        && dir.groups.contains_key(&g)
        && !agents
            .iter()
            .any(|a| a.groups.contains(&g) && a.brands.contains(&b))
    {
        warnings.push(Warning::GroupOutsideBrand { group: g, brand: b });
    }
    Report { verdicts, warnings }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BRAND: u64 = 7;
    const OTHER_BRAND: u64 = 8;
    const GROUP: u64 = 50;
    const PUBLIC_GROUP: u64 = 51;
    const PRIVATE_GROUP: u64 = 52;
    const ORG: u64 = 900;

    fn agent(id: u64, role: Role) -> Agent {
        Agent {
            id,
            role_name: format!("{role:?}"),
            role,
            brands: BTreeSet::from([BRAND]),
            groups: BTreeSet::from([GROUP]),
            organizations: BTreeSet::from([ORG]),
        }
    }

    fn dir(agents: Vec<Agent>) -> Directory {
        Directory {
            agents,
            groups: BTreeMap::from([(GROUP, false), (PUBLIC_GROUP, true), (PRIVATE_GROUP, false)]),
            brands: BTreeSet::from([BRAND, OTHER_BRAND]),
            bridge_user: Some(1),
        }
    }

    fn mirror(group: Option<u64>) -> Mirror {
        Mirror {
            brand_id: Some(BRAND),
            group_id: group,
            organization_id: Some(ORG),
            ..Mirror::default()
        }
    }

    /// Every access mode against every placement of the ticket, as the seed's table
    /// gives it (agent in brand 7, group 50 and organization 900).
    #[test]
    fn table_of_access_modes() {
        use Why::*;
        let other_org = Mirror {
            organization_id: Some(901),
            ..mirror(Some(GROUP))
        };
        let no_org = Mirror {
            organization_id: None,
            ..mirror(Some(GROUP))
        };
        let other_brand = Mirror {
            brand_id: Some(OTHER_BRAND),
            ..mirror(Some(GROUP))
        };
        let cases: &[(&str, Mirror, [Why; 5])] = &[
            // all, within-groups, within-groups-and-public, within-organization, assigned-only
            (
                "own group",
                mirror(Some(GROUP)),
                [AllTickets, Group, Group, Organization, NotAssigned],
            ),
            (
                "public group",
                mirror(Some(PUBLIC_GROUP)),
                [
                    AllTickets,
                    NotInGroup,
                    PublicGroup,
                    Organization,
                    NotAssigned,
                ],
            ),
            (
                "private group",
                mirror(Some(PRIVATE_GROUP)),
                [
                    AllTickets,
                    NotInGroup,
                    NotInGroup,
                    Organization,
                    NotAssigned,
                ],
            ),
            (
                "no group",
                mirror(None),
                [AllTickets, NoGroup, NoGroup, Organization, NotAssigned],
            ),
            (
                "other organization",
                other_org,
                [AllTickets, Group, Group, OtherOrganization, NotAssigned],
            ),
            (
                "no organization",
                no_org,
                [AllTickets, Group, Group, OtherOrganization, NotAssigned],
            ),
            (
                "other brand",
                other_brand,
                [NotInBrand, NotInBrand, NotInBrand, NotInBrand, NotInBrand],
            ),
        ];
        for (name, m, expected) in cases {
            for (access, want) in TicketAccess::ALL.into_iter().zip(expected) {
                let a = agent(2, Role::Agent(access));
                let d = dir(vec![a.clone()]);
                assert_eq!(verdict(&a, &d, m), *want, "{name}, {}", access.as_str());
            }
        }
    }

    /// Admins, followers, CCs and the assignee see it whatever the role, brand and group.
    #[test]
    fn exceptions_beat_role_and_brand() {
        let nowhere = Mirror {
            brand_id: Some(OTHER_BRAND),
            group_id: Some(PRIVATE_GROUP),
            organization_id: Some(901),
            ..Mirror::default()
        };
        for access in TicketAccess::ALL {
            let a = agent(2, Role::Agent(access));
            let d = dir(vec![a.clone()]);
            assert_eq!(verdict(&a, &d, &nowhere), Why::NotInBrand);
            let cases = [
                (
                    Mirror {
                        follower_ids: BTreeSet::from([2]),
                        ..nowhere.clone()
                    },
                    Why::Follower,
                ),
                (
                    Mirror {
                        collaborator_ids: BTreeSet::from([2]),
                        ..nowhere.clone()
                    },
                    Why::Cc,
                ),
                (
                    Mirror {
                        assignee_id: Some(2),
                        ..nowhere.clone()
                    },
                    Why::Assignee,
                ),
            ];
            for (m, want) in cases {
                assert_eq!(verdict(&a, &d, &m), want, "{}", access.as_str());
            }
        }
        let mut admin = agent(3, Role::Admin);
        admin.brands.clear();
        let d = dir(vec![admin.clone()]);
        assert_eq!(verdict(&admin, &d, &nowhere), Why::Admin);
    }

    #[test]
    fn brand_without_agents_warns_only_admins() {
        let mut a = agent(2, Role::Agent(TicketAccess::All));
        a.brands = BTreeSet::from([OTHER_BRAND]);
        let d = dir(vec![a, agent(3, Role::Admin), agent(1, Role::Admin)]);
        let r = report(&d, &mirror(Some(GROUP)));
        assert_eq!(r.seen_by(), 1, "the admin; the bridge is left out");
        assert_eq!(r.verdicts.len(), 2);
        assert!(r.warnings.contains(&Warning::OnlyAdmins {
            brand: Some(BRAND),
            brand_without_agents: true
        }));
        assert_eq!(
            r.warnings[0].message("acme-to-vendor"),
            "no agent but admins can see mirrors of acme-to-vendor: brand 7 has no agent members"
        );
    }

    #[test]
    fn no_group_warns_group_restricted_agents() {
        let d = dir(vec![
            agent(2, Role::Agent(TicketAccess::WithinGroups)),
            agent(3, Role::Agent(TicketAccess::WithinGroupsAndPublicGroups)),
            agent(4, Role::Agent(TicketAccess::All)),
        ]);
        let r = report(&d, &mirror(None));
        assert_eq!(r.warnings, vec![Warning::NoGroup { agents: 2 }]);
        assert!(r.warnings[0].message("a").starts_with(
            "the mirror has no group: agents with within-groups access cannot see it"
        ));
        // Nobody but the admin-free `all` agent: still seen, so no only-admins warning.
        assert_eq!(r.seen_by(), 1);
    }

    #[test]
    fn group_outside_brand_and_unknown_ids_warn() {
        let mut a = agent(2, Role::Agent(TicketAccess::WithinGroups));
        a.brands = BTreeSet::from([OTHER_BRAND]);
        let mut b = agent(3, Role::Agent(TicketAccess::All));
        b.groups.clear();
        let d = dir(vec![a, b]);
        let r = report(&d, &mirror(Some(GROUP)));
        assert_eq!(
            r.warnings,
            vec![Warning::GroupOutsideBrand {
                group: GROUP,
                brand: BRAND
            }]
        );
        assert!(
            r.warnings[0]
                .message("x")
                .contains("belongs to no role that can see brand 7")
        );
        let r = report(
            &d,
            &Mirror {
                brand_id: Some(99),
                group_id: Some(98),
                ..Mirror::default()
            },
        );
        assert!(r.warnings.contains(&Warning::UnknownBrand { brand: 99 }));
        assert!(r.warnings.contains(&Warning::UnknownGroup { group: 98 }));
    }

    #[test]
    fn access_names_round_trip() {
        for a in TicketAccess::ALL {
            assert_eq!(TicketAccess::parse(a.as_str()), Some(a));
            assert_eq!(
                serde_json::to_value(a).unwrap(),
                serde_json::Value::String(a.as_str().to_owned())
            );
        }
        assert_eq!(TicketAccess::parse("everything"), None);
    }
}
