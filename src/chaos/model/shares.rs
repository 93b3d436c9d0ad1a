//! The model's checks of what the shares left behind: one mirror per share and no mirror
//! of a mirror (and the shares that should have happened), no status echoed back to the
//! ticket it came from, and every link that ended orphaned, tagged once, noted once and
//! reported.
//!
//! Must not: depend on timing details the DESIGN leaves open (as `model.rs`).

use super::*;

impl Checker<'_> {
    /// Only agents of the origin set statuses, so the origin keeps the last one its agent
    /// set (`open` at creation): the bridge never writes back a status it sent (`hold`
    /// crosses as `open`; `open` coming back over `hold` is the echo). A mirror closed
    /// or deleted by its agent is a partner's change, which may cross.
    pub(super) fn statuses(&mut self) {
        use crate::zendesk::models::Status;
        for (n, rec) in &self.log.tickets {
            if self.log.mirror_ended.iter().any(|(t, _, _)| t == n) {
                continue;
            }
            let Some(now) = self.sim.ticket(rec.origin, rec.id) else {
                continue;
            };
            let set = self
                .log
                .statuses
                .iter()
                .rfind(|(t, _, _)| t == n)
                .map_or(Status::Open, |(_, s, _)| *s);
            if now.status != set && now.status != Status::Deleted {
                self.v.push(format!(
                    "{}#{} (ticket #{n}) is {:?}, its agent set {set:?} last: a status came back from a mirror",
                    rec.origin, rec.id, now.status
                ));
            }
        }
    }

    /// One mirror per share; no mirror of a mirror; shares that should have happened.
    pub(super) fn mirrors(&mut self) {
        for account in schedule::ACCOUNTS {
            for t in self.sim.tickets(account) {
                let Some(ext) = t.external_id.as_deref() else {
                    continue;
                };
                let mut parts = ext.split(':');
                let (Some("sharebridge"), Some(from), Some(id)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let Ok(id) = id.parse::<u64>() else { continue };
                let Some(from) = schedule::ACCOUNTS.iter().find(|a| **a == from) else {
                    continue;
                };
                if let Some(src) = self.sim.ticket(from, id)
                    && src
                        .external_id
                        .as_deref()
                        .is_some_and(|e| e.starts_with("sharebridge:"))
                {
                    self.v.push(format!(
                        "{account}#{} is a copy of {from}#{id}, itself a mirror ({}): a mirror was shared back",
                        t.id,
                        src.external_id.as_deref().unwrap_or("")
                    ));
                }
            }
        }
        let tickets: Vec<(u32, TicketRec)> = self
            .log
            .tickets
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        for (n, rec) in tickets {
            for to in schedule::ACCOUNTS {
                if to == rec.origin {
                    continue;
                }
                let ext = format!("sharebridge:{}:{}", rec.origin, rec.id);
                let count = self
                    .sim
                    .tickets(to)
                    .iter()
                    .filter(|t| t.external_id.as_deref() == Some(ext.as_str()))
                    .count();
                if count > 1 {
                    self.v.push(format!(
                        "ticket #{n} ({}#{}) has {count} mirrors in {to}",
                        rec.origin, rec.id
                    ));
                }
                let tag = schedule::share_tag(rec.origin, to);
                let tagged_at = if rec.tags.contains(&tag) {
                    Some(rec.created_ms)
                } else {
                    self.log
                        .tags
                        .iter()
                        .find(|t| t.ticket == n && t.side == Side::Origin && t.tag == tag)
                        .map(|t| t.at_ms)
                };
                let tagged = tagged_at.is_some();
                let Some(a) = self.world_at(rec.created_ms).agreement(rec.origin, to) else {
                    continue;
                };
                let refused = self.world_at(rec.created_ms).refused_target() == Some(to);
                let expected = tagged
                    && !refused
                    && self.stays_accepted(a, tagged_at.unwrap_or(rec.created_ms))
                    && self.ended(n, &rec, to).is_none();
                let shared = self
                    .link(rec.origin, rec.id, to)
                    .is_some_and(|l| l.target_ticket.is_some());
                if expected && (!shared || count == 0) {
                    self.v.push(format!(
                        "ticket #{n} ({}#{}) tagged for {to} under accepted {a} was never shared",
                        rec.origin, rec.id
                    ));
                }
            }
        }
    }

    /// Every ended link orphaned, tagged and noted once, and reported; nothing else ended.
    pub(super) fn links(&mut self, store: &Store) {
        let orphans = store.orphans().unwrap_or_default();
        let tickets: Vec<(u32, TicketRec)> = self
            .log
            .tickets
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        for link in self.links.clone() {
            let name = format!(
                "link {} ({}#{} -> {}{})",
                link.id,
                link.source_account,
                link.source_ticket,
                link.target_account,
                link.target_ticket
                    .map(|t| format!("#{t}"))
                    .unwrap_or_default()
            );
            let reported = orphans.iter().filter(|o| o.link == link.id).count();
            // A closed mirror cannot be updated (Zendesk refuses): no tag, no note there.
            let mirror = link
                .target_ticket
                .and_then(|t| self.sim.ticket(&link.target_account, t))
                .filter(|t| {
                    !matches!(
                        t.status,
                        crate::zendesk::models::Status::Deleted
                            | crate::zendesk::models::Status::Closed
                    )
                });
            let notes = link.target_ticket.map_or(0, |t| {
                self.sim
                    .comments(&link.target_account, t)
                    .iter()
                    .filter(|c| !c.public && c.body.contains("is no longer shared with"))
                    .count()
            });
            let origin = tickets
                .iter()
                .find(|(_, r)| r.origin == link.source_account && r.id == link.source_ticket);
            let relinked = origin.is_some_and(|(n, _)| {
                self.log.ops.iter().any(|op| {
                    op.ticket == *n && op.to == link.target_account && op.kind == OpKind::Relink
                })
            });
            match link.state {
                LinkState::Orphaned => {
                    if reported != 1 {
                        self.v.push(format!(
                            "{name} is orphaned but reported {reported} times as an orphan"
                        ));
                    }
                    if let Some(m) = &mirror {
                        if !m.tags.iter().any(|t| t == crate::rules::ORPHANED_TAG) {
                            self.v.push(format!(
                                "{name} is orphaned but its mirror is not tagged {}",
                                crate::rules::ORPHANED_TAG
                            ));
                        }
                        if notes != 1 && !(relinked && notes > 1) {
                            self.v.push(format!("{name} is orphaned and its mirror has {notes} orphan notes, not one"));
                        }
                    }
                }
                LinkState::Active | LinkState::Error => {
                    if reported != 0 && !relinked {
                        self.v.push(format!(
                            "{name} is {:?} but listed as an orphan",
                            link.state
                        ));
                    }
                }
            }
            let Some((n, rec)) = origin else { continue };
            if self
                .link(
                    &link.source_account,
                    link.source_ticket,
                    &link.target_account,
                )
                .map(|l| l.id)
                != Some(link.id)
            {
                continue;
            }
            let ended = self.ended(*n, rec, &link.target_account);
            let created = ms_since(self.start, link.created_at);
            match ended {
                Some((at, why))
                    if link.state == LinkState::Active
                        && at >= created
                        && !self.relinked_after(*n, &link.target_account, at)
                        && why != "its mirror was closed or deleted"
                        && why != UNANSWERED =>
                {
                    self.v.push(format!(
                        "{name} is still active though {why} at {:.1} s",
                        at as f64 / 1000.0
                    ));
                }
                None if link.state == LinkState::Error
                    && self.world_at(rec.created_ms).refused_target()
                        == Some(link.target_account.as_str()) => {}
                None if link.state != LinkState::Active => {
                    let a = self
                        .world_at(rec.created_ms)
                        .agreement(rec.origin, &link.target_account);
                    if a.is_some_and(|a| self.stays_accepted(a, created)) {
                        self.v.push(format!(
                            "{name} is {:?} ({}) though nothing ended it",
                            link.state,
                            link.error.as_deref().unwrap_or("no reason given")
                        ));
                    }
                }
                _ => {}
            }
        }
    }
}
