//! The reads behind `plan` and `visibility`: tickets found by the Search API (one query
//! per auto-share tag, `status<closed`, cursor pages of the search export), minus those
//! already linked; each detailed ticket's comments read once; the receiver read once per
//! run ([`super::directory`]); the field catalogs read only when a mapped field has a
//! value. Then the pure [`super::ticket_plan`] and `visibility::report` decide.
//!
//! Must not: write to Zendesk (every [`Side`] holds a `ZendeskClient::read_only` handle)
//! or to the store (only its read methods are called); read every ticket of an account.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::agreement::Derived;
use crate::config::{AgreementConfig, Config};
use crate::rules;
use crate::store::{LinkState, Store, StoreError};
use crate::visibility::{self, MirrorView, View};
use crate::zendesk::client::{ZendeskClient, ZendeskError};
use crate::zendesk::models::{Status, Ticket};

use super::directory::{self, Receiver};
use super::{
    AgreementPlan, BridgeFacts, Catalogs, FieldInfo, PlanReport, Search, Skipped, Target, Totals,
    ticket_plan,
};

/// Search export page size (Zendesk's recommended page size for cursor pagination).
const SEARCH_PAGE: u32 = 100;

/// Why a plan or a visibility report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error(
        "no agreement named {0:?} in the configuration; `sharebridge agreements list` shows them"
    )]
    UnknownAgreement(String),
    #[error("no link {0}; `sharebridge links list` shows the links")]
    UnknownLink(u64),
    #[error("account {account} of link {link} is no longer configured: its mirror cannot be read")]
    UnknownAccount { account: String, link: u64 },
    #[error(
        "the mirror {account}#{ticket} of link {link} cannot be read: it was deleted or is not visible to the bridge's user (`sharebridge links show {link}`)"
    )]
    MirrorGone {
        account: String,
        ticket: u64,
        link: u64,
    },
    #[error("reading account {account}: {source}")]
    Zendesk {
        account: String,
        #[source]
        source: Box<ZendeskError>,
    },
    #[error("reading the store: {0}")]
    Store(#[from] StoreError),
}

impl PreviewError {
    /// Bad usage (exit 2 / HTTP 404) versus a runtime failure (exit 1 / 502).
    pub fn is_usage(&self) -> bool {
        matches!(self, PreviewError::UnknownAgreement(_))
    }

    fn zendesk(account: &str) -> impl FnOnce(ZendeskError) -> PreviewError + '_ {
        move |source| PreviewError::Zendesk {
            account: account.to_owned(),
            source: Box::new(source),
        }
    }
}

/// One account as `plan` and `visibility` read it.
#[derive(Debug, Clone)]
pub struct Side {
    pub subdomain: String,
    /// A read-only handle: refuses writes, counts its own requests.
    pub client: ZendeskClient,
    /// The bridge's own user there, when already known (no request needed).
    pub bridge_user: Option<u64>,
}

/// Everything a plan reads besides Zendesk: the configuration, the store (read only),
/// the agreements' states, and each account's read-only client.
#[derive(Clone)]
pub struct Sources {
    pub config: Arc<Config>,
    pub store: Store,
    pub states: Vec<Derived>,
    pub sides: BTreeMap<String, Side>,
}

impl Sources {
    /// From a running engine: its configuration, store, states and clients (read-only
    /// handles on them, so the budget and OAuth session are the daemon's own).
    pub fn from_engine(engine: &crate::engine::Engine) -> Sources {
        let sides = engine
            .accounts()
            .iter()
            .map(|a| {
                (
                    a.name.clone(),
                    Side {
                        subdomain: a.subdomain.clone(),
                        client: a.client.read_only(),
                        bridge_user: a.known_bridge_user(),
                    },
                )
            })
            .collect();
        Sources {
            config: engine.config(),
            store: engine.store().clone(),
            states: engine.agreement_states(),
            sides,
        }
    }

    /// Requests sent so far through every side's handle.
    pub fn api_calls(&self) -> u64 {
        self.sides
            .values()
            .map(|s| s.client.scoped_requests())
            .sum()
    }

    fn side(&self, account: &str) -> Option<&Side> {
        self.sides.get(account)
    }

    fn agreement(&self, name: &str) -> Result<&AgreementConfig, PreviewError> {
        self.config
            .agreements
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| PreviewError::UnknownAgreement(name.to_owned()))
    }

    fn state(&self, name: &str) -> String {
        self.states
            .iter()
            .find(|d| d.name == name)
            .map_or_else(|| "disabled".to_owned(), |d| d.state.as_str().to_owned())
    }
}

/// Per-run memory: each receiver and each bridge user read once.
#[derive(Default)]
struct Memo {
    receivers: BTreeMap<String, Result<Receiver, String>>,
    bridge_users: BTreeMap<String, Option<u64>>,
}

impl Memo {
    async fn receiver(&mut self, account: &str, side: &Side) -> Result<&Receiver, String> {
        if !self.receivers.contains_key(account) {
            let got = directory::read_receiver(&side.client, side.bridge_user)
                .await
                .map_err(|e| format!("the receiver {account} could not be read: {e}"));
            self.receivers.insert(account.to_owned(), got);
        }
        match &self.receivers[account] {
            Ok(r) => Ok(r),
            Err(e) => Err(e.clone()),
        }
    }

    async fn bridge_user(
        &mut self,
        account: &str,
        side: &Side,
    ) -> Result<Option<u64>, ZendeskError> {
        if let Some(u) = self.bridge_users.get(account) {
            return Ok(*u);
        }
        let user = match side.bridge_user {
            Some(u) => Some(u),
            None => Some(side.client.me().await?.id),
        };
        self.bridge_users.insert(account.to_owned(), user);
        Ok(user)
    }
}

/// Where an agreement's mirrors land.
fn agreement_target(agreement: &AgreementConfig, receiver: Option<&Receiver>) -> Target {
    Target {
        brand_id: agreement
            .target
            .brand_id
            .or(receiver.and_then(|r| r.default_brand)),
        group_id: agreement.target.group_id,
    }
}

/// The visibility view of a mirror placed at `target` by `agreement`.
fn planned_view(agreement: &str, account: &str, receiver: &Receiver, target: Target) -> View {
    let mirror = directory::planned_mirror(receiver, target);
    let report = visibility::report(&receiver.directory, &mirror);
    View::new(
        agreement,
        account,
        MirrorView::new(&mirror, None, true),
        &report,
        receiver.notes.clone(),
    )
}

/// `plan [AGREEMENT]`: every agreement (or the one named), detailing at most `limit`
/// tickets each.
pub async fn plan(
    sources: &Sources,
    only: Option<&str>,
    limit: usize,
) -> Result<PlanReport, PreviewError> {
    if let Some(name) = only {
        sources.agreement(name)?;
    }
    let start = sources.api_calls();
    let mut memo = Memo::default();
    let mut agreements = Vec::new();
    for a in &sources.config.agreements {
        if only.is_some_and(|n| n != a.name) {
            continue;
        }
        agreements.push(plan_agreement(sources, &mut memo, a, limit).await?);
    }
    Ok(PlanReport {
        agreements,
        api_calls: sources.api_calls() - start,
        limit,
        read_only: true,
    })
}

/// What the store says of a ticket found by the search.
enum Known {
    Linked,
    MirrorOfReceiver,
    Orphaned { link: u64, reason: String },
    New,
}

fn known(
    store: &Store,
    a: &AgreementConfig,
    ticket: &Ticket,
    to_subdomain: &str,
    orphans: &BTreeMap<u64, (u64, String)>,
) -> Result<Known, StoreError> {
    if store.link_by_source(&a.from, ticket.id, &a.name)?.is_some() {
        return Ok(Known::Linked);
    }
    let mirror_of_receiver = store
        .link_by_target(&a.from, ticket.id)?
        .is_some_and(|l| l.source_account == a.to)
        || rules::mirrors_account(ticket.external_id.as_deref(), to_subdomain);
    if mirror_of_receiver {
        return Ok(Known::MirrorOfReceiver);
    }
    Ok(match orphans.get(&ticket.id) {
        Some((link, reason)) => Known::Orphaned {
            link: *link,
            reason: reason.clone(),
        },
        None => Known::New,
    })
}

async fn plan_agreement(
    sources: &Sources,
    memo: &mut Memo,
    a: &AgreementConfig,
    limit: usize,
) -> Result<AgreementPlan, PreviewError> {
    let start = sources.api_calls();
    let mut notes = Vec::new();
    let (Some(from), Some(to)) = (sources.side(&a.from), sources.side(&a.to)) else {
        return Err(PreviewError::UnknownAgreement(a.name.clone()));
    };
    let receiver = match memo.receiver(&a.to, to).await {
        Ok(r) => Some(r.clone()),
        Err(e) => {
            notes.push(e);
            None
        }
    };
    let target = agreement_target(a, receiver.as_ref());
    let visibility = receiver
        .as_ref()
        .map(|r| planned_view(&a.name, &a.to, r, target));
    if a.auto_share_tags.is_empty() {
        notes.push(
            "no auto_share_tags: this agreement shares only what `sharebridge share` asks for"
                .to_owned(),
        );
    }
    // The search: one query per auto-share tag, cursor pages to the end.
    let mut found: BTreeMap<u64, Ticket> = BTreeMap::new();
    let mut searches = Vec::new();
    for tag in &a.auto_share_tags {
        let query = format!("type:ticket tags:{tag} status<closed");
        let mut after: Option<String> = None;
        let mut n = 0;
        loop {
            let page = from
                .client
                .search_export_page(&query, after.as_deref(), SEARCH_PAGE)
                .await
                .map_err(PreviewError::zendesk(&a.from))?;
            n += page.items.len();
            for t in page.items {
                found.insert(t.id, t);
            }
            match page.after_cursor {
                Some(next) if page.has_more && after.as_deref() != Some(next.as_str()) => {
                    after = Some(next)
                }
                _ => break,
            }
        }
        searches.push(Search {
            tag: tag.clone(),
            query,
            found: n,
        });
    }
    // Orphans of this direction, by source ticket (read once).
    let mut orphans: BTreeMap<u64, (u64, String)> = BTreeMap::new();
    if !found.is_empty() {
        for o in sources.store.orphans()? {
            if o.source_account != a.from || o.target_account != a.to {
                continue;
            }
            let same_agreement = sources
                .store
                .link(o.link)?
                .is_some_and(|l| l.agreement == a.name && l.state == LinkState::Orphaned);
            if same_agreement {
                orphans.insert(o.source_ticket, (o.link, o.reason));
            }
        }
    }
    let mut skipped = Vec::new();
    let mut matching = 0;
    let mut already_linked = 0;
    let mut share: Vec<(&Ticket, Option<u64>)> = Vec::new();
    for t in found.values() {
        if !a.auto_share_tags.iter().any(|x| t.tags.contains(x)) {
            continue; // the search matched loosely (case); the engine would not share it
        }
        if !rules::auto_share(a, &t.tags, t.brand_id) {
            skipped.push(Skipped {
                ticket: t.id,
                reason: "brand".into(),
                detail: format!(
                    "brand {} is not among the agreement's brands {:?}",
                    t.brand_id
                        .map_or_else(|| "none".to_owned(), |b| b.to_string()),
                    a.brands
                ),
            });
            continue;
        }
        matching += 1;
        if matches!(t.status, Status::Closed | Status::Deleted) {
            skipped.push(Skipped {
                ticket: t.id,
                reason: "closed".into(),
                detail: "a closed ticket cannot be shared".into(),
            });
            continue;
        }
        match known(&sources.store, a, t, &to.subdomain, &orphans)? {
            Known::Linked => already_linked += 1,
            Known::MirrorOfReceiver => skipped.push(Skipped {
                ticket: t.id,
                reason: "mirror_of_receiver".into(),
                detail: format!("a mirror of a {} ticket: never shared back into it", a.to),
            }),
            Known::Orphaned { link, reason } if reason == crate::orphan::Reason::TagRemoved.as_str() => {
                share.push((t, Some(link)))
            }
            Known::Orphaned { link, reason } => skipped.push(Skipped {
                ticket: t.id,
                reason: "orphaned".into(),
                detail: format!(
                    "link {link} ended ({reason}); `sharebridge share {} {} --to {}` re-attaches its mirror",
                    a.from, t.id, a.to
                ),
            }),
            Known::New => share.push((t, None)),
        }
    }
    let would_share = share.len();
    let detailed: Vec<(&Ticket, Option<u64>)> = share.into_iter().take(limit).collect();
    let mut tickets = Vec::new();
    let mut totals = Totals::default();
    if !detailed.is_empty() {
        let bridge_user = memo
            .bridge_user(&a.from, from)
            .await
            .map_err(PreviewError::zendesk(&a.from))?;
        let catalogs = catalogs(a, from, to, &detailed, &mut notes).await;
        for (t, relinks) in detailed {
            let comments = from
                .client
                .list_comments(t.id)
                .await
                .map_err(PreviewError::zendesk(&a.from))?;
            let mut own = BTreeSet::new();
            for c in &comments {
                if sources.store.is_bridge_comment(&a.from, c.id)? {
                    own.insert(c.id);
                }
            }
            let bridge = BridgeFacts {
                user: bridge_user,
                comments: own,
            };
            let mut p = ticket_plan(
                a,
                t,
                &comments,
                &bridge,
                &catalogs,
                ticket_target(target, t),
            );
            p.relinks = relinks;
            if p.target != target
                && let Some(r) = &receiver
            {
                p.visibility = Some(planned_view(&a.name, &a.to, r, p.target));
            }
            totals.add(&p);
            tickets.push(p);
        }
    }
    Ok(AgreementPlan {
        name: a.name.clone(),
        from: a.from.clone(),
        to: a.to.clone(),
        state: sources.state(&a.name),
        searches,
        matching,
        already_linked,
        would_share,
        detailed: tickets.len(),
        skipped,
        target,
        visibility,
        tickets,
        totals,
        api_calls: sources.api_calls() - start,
        notes,
    })
}

/// Where one ticket's mirror lands. Today every mirror of an agreement lands at its
/// target; `[agreements.system]` group maps will make it depend on the ticket (then the
/// plan shows that ticket's own visibility).
fn ticket_target(agreement_target: Target, _ticket: &Ticket) -> Target {
    agreement_target
}

/// Both sides' field catalogs, read only when a detailed ticket has a mapped field with
/// a value; a side that cannot be read is noted and left out.
async fn catalogs(
    a: &AgreementConfig,
    from: &Side,
    to: &Side,
    detailed: &[(&Ticket, Option<u64>)],
    notes: &mut Vec<String>,
) -> Catalogs {
    let needed = detailed.iter().any(|(t, _)| {
        t.custom_fields
            .iter()
            .any(|f| !f.value.is_null() && a.fields.iter().any(|m| m.from == f.id))
    });
    if !needed {
        return Catalogs::default();
    }
    let mut sides = Vec::new();
    for (side, account) in [(from, &a.from), (to, &a.to)] {
        sides.push(match side.client.list_ticket_fields().await {
            Ok(fields) => Some(
                fields
                    .into_iter()
                    .map(|f| {
                        let options = f.custom_field_options.into_iter().map(|o| o.value);
                        (f.id, FieldInfo::of(&f.field_type, options))
                    })
                    .collect::<BTreeMap<u64, FieldInfo>>(),
            ),
            Err(e) => {
                notes.push(format!(
                    "the ticket fields of {account} could not be read ({e}): drop-down values are checked against the value maps only"
                ));
                None
            }
        });
    }
    let receiver = sides.pop().flatten();
    let sender = sides.pop().flatten();
    Catalogs { sender, receiver }
}

/// `visibility --agreement NAME`: the mirror as the bridge would create it.
pub async fn visibility_of_agreement(sources: &Sources, name: &str) -> Result<View, PreviewError> {
    let a = sources.agreement(name)?;
    let to = sources
        .side(&a.to)
        .ok_or_else(|| PreviewError::UnknownAgreement(name.to_owned()))?;
    let receiver = directory::read_receiver(&to.client, to.bridge_user)
        .await
        .map_err(PreviewError::zendesk(&a.to))?;
    let target = agreement_target(a, Some(&receiver));
    Ok(planned_view(&a.name, &a.to, &receiver, target))
}

/// `visibility LINK`: the mirror as it is (read), or as it would be created when the
/// link has none yet.
pub async fn visibility_of_link(sources: &Sources, id: u64) -> Result<View, PreviewError> {
    let link = sources
        .store
        .link(id)?
        .ok_or(PreviewError::UnknownLink(id))?;
    let to = sources
        .side(&link.target_account)
        .ok_or_else(|| PreviewError::UnknownAccount {
            account: link.target_account.clone(),
            link: id,
        })?;
    let receiver = directory::read_receiver(&to.client, to.bridge_user)
        .await
        .map_err(PreviewError::zendesk(&link.target_account))?;
    let mut notes = receiver.notes.clone();
    if link.state == LinkState::Orphaned {
        notes.push(format!("link {id} is orphaned: its mirror no longer syncs"));
    }
    let (mirror, view_mirror) = match link.target_ticket {
        Some(ticket) => {
            let t = match to.client.show_ticket(ticket).await {
                Ok(t) if t.status != Status::Deleted => t,
                Ok(_) | Err(ZendeskError::NotFound { .. }) => {
                    return Err(PreviewError::MirrorGone {
                        account: link.target_account.clone(),
                        ticket,
                        link: id,
                    });
                }
                Err(e) => return Err(PreviewError::zendesk(&link.target_account)(e)),
            };
            let m = directory::mirror_of(&t);
            let v = MirrorView::new(&m, Some(ticket), false);
            (m, v)
        }
        None => {
            notes.push(format!(
                "link {id} has no mirror yet: this is the mirror as the bridge would create it"
            ));
            let target = match sources
                .config
                .agreements
                .iter()
                .find(|a| a.name == link.agreement)
            {
                Some(a) => agreement_target(a, Some(&receiver)),
                None => Target {
                    brand_id: receiver.default_brand,
                    group_id: None,
                },
            };
            let m = directory::planned_mirror(&receiver, target);
            let v = MirrorView::new(&m, None, true);
            (m, v)
        }
    };
    let report = visibility::report(&receiver.directory, &mirror);
    let mut view = View::new(
        &link.agreement,
        &link.target_account,
        view_mirror,
        &report,
        notes,
    );
    view.link = Some(id);
    Ok(view)
}
