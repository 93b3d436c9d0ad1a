//! What must have happened, checked once the system has settled: a two-sided model of
//! every shared ticket (as `tests/plan_props.rs` has for one ticket), computed from what
//! the agents, the operator and the configuration did ([`Log`]) and compared with what the
//! simulated accounts hold, what the store says and what went over the network.
//!
//! Each comment carries a unique token (`[[T17]]`). For each link and direction a token
//! *must* cross exactly once (a public comment under a live, accepted agreement that
//! nothing ended), *may* cross at most once (something changed around it: consent, an
//! unshare, a closed mirror), or must *not* cross (private, `comments.public = false`,
//! written while the link was one-way or ended, no agreement between the accounts). Then:
//! per-direction order on each receiving ticket, no echo (each token once where it was
//! written), privacy following a comment made private (one made private after the
//! daemon last read it public may still cross public, then must turn private), consent
//! at the moment of every write, one mirror per share and no mirror of a mirror, and every link that ended
//! orphaned, tagged once, noted once and reported (those two: `model/shares.rs`).
//!
//! Must not: depend on timing details the DESIGN leaves open (a change in flight while
//! consent changes may go either way: "may").

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::link::Direction;
use crate::sim::Simulator;
use crate::store::{Link, LinkState, Store};

use super::network::{SentWrite, tokens_in};
use super::schedule::{self, Side};
use super::world::{Applied, ConfigState, mirror_of};

mod shares;

/// A ticket an agent opened.
#[derive(Debug, Clone)]
pub struct TicketRec {
    pub origin: &'static str,
    pub id: u64,
    pub tags: Vec<String>,
    pub created_ms: u64,
}

/// A comment an agent wrote.
#[derive(Debug, Clone)]
pub struct TokenRec {
    pub ticket: u32,
    /// Where it was written: the account and the ticket there.
    pub account: &'static str,
    pub id: u64,
    pub side: Side,
    pub public: bool,
    pub at_ms: u64,
    /// When an agent made it private.
    pub private_at: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct TagRec {
    pub ticket: u32,
    pub side: Side,
    pub tag: String,
    pub at_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Unshare,
    Relink,
}

/// An operator command sent to the daemon.
#[derive(Debug, Clone)]
pub struct Op {
    pub kind: OpKind,
    pub ticket: u32,
    pub to: &'static str,
    pub at_ms: u64,
    /// Whether the daemon did it (`None`: it died before answering).
    pub ok: Option<bool>,
}

/// What happened in the world.
#[derive(Debug, Default)]
pub struct Log {
    pub tickets: BTreeMap<u32, TicketRec>,
    pub tokens: BTreeMap<u32, TokenRec>,
    pub tags: Vec<TagRec>,
    /// Auto-share tags removed: (ticket, tag, ms).
    pub untagged: Vec<(u32, String, u64)>,
    pub ops: Vec<Op>,
    /// Mirrors closed or deleted by their agents: (ticket, account, ms).
    pub mirror_ended: Vec<(u32, &'static str, u64)>,
    /// Statuses origin agents set: (ticket, status, ms).
    pub statuses: Vec<(u32, crate::zendesk::models::Status, u64)>,
    /// Configuration versions as the world wrote them: (ms, version).
    pub configs: Vec<(u64, u64)>,
    /// Configuration versions as the daemon applied them (start or reload).
    pub applied: Vec<Applied>,
    /// Versions a start or reload died, panicked or failed during: what it recorded
    /// before it stopped (an agreement's transition, say) may have stayed in the store.
    pub maybe_applied: Vec<Applied>,
}

/// Where a token was found.
#[derive(Debug, Clone)]
struct Found {
    account: &'static str,
    ticket: u64,
    /// (comment index, byte offset): the position on that ticket.
    at: (usize, usize),
    public: bool,
}

/// What a token may do on one direction of one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Must,
    May,
    Not(&'static str),
}

/// One direction into one receiving ticket: (account, ticket, replies flowing back).
type Flow = (&'static str, u64, bool);
/// A token that crossed: (written at ms, token, position on the receiving ticket, the
/// account it was written in).
type Crossed = (u64, u32, (usize, usize), &'static str);

struct Checker<'a> {
    log: &'a Log,
    sim: &'a Simulator,
    versions: &'a [ConfigState],
    links: Vec<Link>,
    /// Orphaned links: when the store recorded their end (ms).
    orphaned_since: BTreeMap<u64, u64>,
    found: BTreeMap<u32, Vec<Found>>,
    start: Timestamp,
    v: Vec<String>,
}

fn ms_since(start: Timestamp, t: Timestamp) -> u64 {
    t.duration_since(start).as_millis().max(0) as u64
}

/// Why a link may have ended: an unshare the daemon died before answering.
const UNANSWERED: &str = "it was unshared, unanswered";

impl Checker<'_> {
    /// The configuration the world had written at `ms`.
    fn world_at(&self, ms: u64) -> &ConfigState {
        let v = self
            .log
            .configs
            .iter()
            .take_while(|(t, _)| *t <= ms)
            .last()
            .map_or(0, |(_, v)| *v);
        &self.versions[v as usize]
    }

    /// The configuration the daemon had applied at `ms` (the world's when none yet).
    fn applied_at(&self, ms: u64) -> &ConfigState {
        match self.log.applied.iter().take_while(|a| a.ms <= ms).last() {
            Some(a) => &self.versions[a.version as usize],
            None => self.world_at(ms),
        }
    }

    /// The configuration the daemon had applied when `w` was sent: a reload that ended
    /// in the write's millisecond counts only if it ended before the write left.
    fn applied_when_sent(&self, w: &SentWrite) -> &ConfigState {
        match self
            .log
            .applied
            .iter()
            .take_while(|a| a.ms < w.sent_ms || (a.ms == w.sent_ms && a.order < w.order))
            .last()
        {
            Some(a) => &self.versions[a.version as usize],
            None => self.world_at(w.sent_ms),
        }
    }

    /// The configuration a start or reload may have applied in part by `ms` (it died,
    /// panicked or failed during it), until the daemon applied another: the daemon's view
    /// of consent is then either (found by seed 97823: a withdrawal whose reload died at a
    /// store sync had recorded its transition, and the restart on the re-acceptance
    /// started replies from then).
    fn maybe_applied_at(&self, ms: u64) -> Option<&ConfigState> {
        let m = self
            .log
            .maybe_applied
            .iter()
            .take_while(|a| a.ms <= ms)
            .last()?;
        let superseded = self
            .log
            .applied
            .iter()
            .any(|a| a.ms <= ms && (a.ms, a.order) > (m.ms, m.order));
        (!superseded).then(|| &self.versions[m.version as usize])
    }

    /// Accepted at `ms` in the world's configuration and in the daemon's.
    fn surely_accepted(&self, agreement: &str, ms: u64) -> bool {
        self.world_at(ms).is_accepted(agreement)
            && self.applied_at(ms).is_accepted(agreement)
            && self
                .maybe_applied_at(ms)
                .is_none_or(|c| c.is_accepted(agreement))
    }

    /// Whether the daemon applied a configuration accepting `agreement` (after one that
    /// did not) earlier in the second of `ms`: a link upgraded to two-way then starts
    /// from that moment, and Zendesk's times are to the second, so a reply written in that
    /// second after it may stay on the mirror (the engine holds the whole second back:
    /// nothing crosses without consent).
    fn accepted_in_second_of(&self, agreement: &str, ms: u64) -> bool {
        let mut before = None;
        for a in &self.log.applied {
            let now = self.versions[a.version as usize].is_accepted(agreement);
            if a.ms <= ms && a.ms / 1000 == ms / 1000 && now && before == Some(false) {
                return true;
            }
            before = Some(now);
        }
        false
    }

    fn surely_not_accepted(&self, agreement: &str, ms: u64) -> bool {
        !self.world_at(ms).is_accepted(agreement)
            && !self.applied_at(ms).is_accepted(agreement)
            && self
                .maybe_applied_at(ms)
                .is_none_or(|c| !c.is_accepted(agreement))
    }

    /// Not accepted in the world's configuration when `w` was sent, nor in the one the
    /// daemon had applied by then (ordered within the millisecond).
    fn surely_not_accepted_when_sent(&self, agreement: &str, w: &SentWrite) -> bool {
        !self.world_at(w.sent_ms).is_accepted(agreement)
            && !self.applied_when_sent(w).is_accepted(agreement)
            && self
                .maybe_applied_at(w.sent_ms)
                .is_none_or(|c| !c.is_accepted(agreement))
    }

    /// Accepted from `ms` to the end, in every configuration the world wrote since.
    fn stays_accepted(&self, agreement: &str, ms: u64) -> bool {
        self.surely_accepted(agreement, ms)
            && self
                .log
                .configs
                .iter()
                .filter(|(t, _)| *t > ms)
                .all(|(_, v)| self.versions[*v as usize].is_accepted(agreement))
    }

    /// When the world withdrew `agreement` after `ms`, if the daemon applied that (a
    /// configuration without it accepted, which the process outlived): a withdrawal the
    /// daemon never held (written and taken back while it was down, or lost with a
    /// process killed at the store sync recording it) cannot end anything.
    fn withdrawn_after(&self, agreement: &str, ms: u64) -> Option<u64> {
        let applied = &self
            .log
            .applied
            .iter()
            .filter(|a| a.ms >= ms)
            .find(|a| !self.versions[a.version as usize].is_accepted(agreement))?
            .ms;
        // The world's withdrawal it applied: where the stretch without it accepted that
        // ends in the applied configuration began.
        let mut since = None;
        for (t, v) in self.log.configs.iter().filter(|(t, _)| t <= applied) {
            if self.versions[*v as usize].is_accepted(agreement) {
                since = None;
            } else if since.is_none() {
                since = Some(*t);
            }
        }
        Some(since.map_or(*applied, |t| t.max(ms)))
    }

    fn link(&self, origin: &str, id: u64, to: &str) -> Option<&Link> {
        self.links
            .iter()
            .filter(|l| {
                l.source_account == origin && l.source_ticket == id && l.target_account == to
            })
            .max_by_key(|l| l.id)
    }

    /// When something the world did first ended the link of ticket `n` into `to`.
    /// (An unshare the daemon never answered counts, as [`UNANSWERED`]: what crossed
    /// after it is not owed, and the link may stay active.)
    fn ended(&self, n: u32, rec: &TicketRec, to: &str) -> Option<(u64, &'static str)> {
        self.ends(n, rec, to).into_iter().next()
    }

    /// Everything the world did that ended the link of ticket `n` into `to`, in order.
    fn ends(&self, n: u32, rec: &TicketRec, to: &str) -> Vec<(u64, &'static str)> {
        let mut ends: Vec<(u64, &'static str)> = Vec::new();
        let tag = schedule::share_tag(rec.origin, to);
        for (t, removed, ms) in &self.log.untagged {
            if *t == n && *removed == tag {
                ends.push((*ms, "its auto-share tag was removed"));
            }
        }
        for op in &self.log.ops {
            if op.ticket == n && op.to == to && op.kind == OpKind::Unshare {
                match op.ok {
                    Some(true) => ends.push((op.at_ms, "it was unshared")),
                    // The daemon died before answering: the unshare may have been lost
                    // with it (killed at the store sync recording it), and the operator
                    // was told nothing; it may have ended the link or not.
                    None => ends.push((op.at_ms, UNANSWERED)),
                    Some(false) => {}
                }
            }
        }
        for (t, account, ms) in &self.log.mirror_ended {
            if *t == n && *account == to {
                ends.push((*ms, "its mirror was closed or deleted"));
            }
        }
        if let Some(a) = self.world_at(rec.created_ms).agreement(rec.origin, to)
            && let Some(ms) = self.withdrawn_after(a, rec.created_ms)
        {
            ends.push((ms, "its agreement was withdrawn"));
        }
        // What ended an earlier link of the ticket does not end a later one (a mirror
        // deleted after an unshare lets the tag share the ticket again).
        let since = match self.link(rec.origin, rec.id, to) {
            Some(l)
                if self.links.iter().any(|e| {
                    e.source_account == l.source_account
                        && e.source_ticket == l.source_ticket
                        && e.target_account == l.target_account
                        && e.id < l.id
                }) =>
            {
                ms_since(self.start, l.created_at)
            }
            _ => 0,
        };
        ends.retain(|(ms, _)| *ms >= since);
        ends.sort();
        ends
    }

    /// Whether the link of ticket `n` into `to` was ended and then relinked, and nothing
    /// ended it again: `Some((first end, last relink))`.
    fn relinked(&self, n: u32, rec: &TicketRec, to: &str) -> Option<(u64, u64)> {
        let ends = self.ends(n, rec, to);
        let (first, _) = *ends.first()?;
        let (last_end, _) = *ends.last()?;
        let relink = self
            .log
            .ops
            .iter()
            .filter(|op| {
                op.ticket == n && op.to == to && op.kind == OpKind::Relink && op.ok == Some(true)
            })
            .map(|op| op.at_ms)
            .max()?;
        (relink > last_end).then_some((first, relink))
    }

    /// Whether an earlier link of ticket `n` into `to` ended before the latest one began.
    fn reshared(&self, n: u32, rec: &TicketRec, to: &str) -> Option<u64> {
        let latest = self.link(rec.origin, rec.id, to)?;
        let since = ms_since(self.start, latest.created_at);
        let earlier = self.links.iter().any(|l| {
            l.source_account == rec.origin
                && l.source_ticket == rec.id
                && l.target_account == to
                && l.id < latest.id
        });
        let ended_before = self
            .log
            .ops
            .iter()
            .any(|op| op.ticket == n && op.to == to && op.at_ms < since)
            || self
                .log
                .untagged
                .iter()
                .any(|(t, _, ms)| *t == n && *ms < since)
            || self
                .log
                .mirror_ended
                .iter()
                .any(|(t, a, ms)| *t == n && *a == to && *ms < since)
            || self
                .log
                .configs
                .iter()
                .any(|(ms, _)| *ms < since && *ms >= rec.created_ms);
        (earlier || ended_before).then_some(since)
    }

    fn relinked_after(&self, n: u32, to: &str, ms: u64) -> bool {
        self.log.ops.iter().any(|op| {
            op.ticket == n
                && op.to == to
                && op.kind == OpKind::Relink
                && op.at_ms >= ms
                && op.ok != Some(false)
        })
    }

    /// What token `tok` may do on the flow from where it was written to the other side of
    /// ticket `n`'s link into `to`.
    fn expect(&self, tok: &TokenRec, n: u32, rec: &TicketRec, to: &'static str) -> Expect {
        let reverse = tok.side != Side::Origin;
        let forward = match self.world_at(rec.created_ms).agreement(rec.origin, to) {
            Some(a) => a,
            None => return Expect::Not("no agreement between the accounts"),
        };
        let own = if reverse {
            match self.world_at(tok.at_ms).agreement(to, rec.origin) {
                Some(a) => a,
                None => return Expect::Not("the link is one-way (no reverse agreement)"),
            }
        } else {
            forward
        };
        if !tok.public {
            return Expect::Not("it is private");
        }
        if !self.world_at(tok.at_ms).public_crosses(own) {
            return Expect::Not("its agreement has comments.public = false");
        }
        if self.world_at(tok.at_ms).refused_target() == Some(to) {
            // No mirror can be made there: the link is in error, nothing may cross.
            return Expect::May;
        }
        let Some(link) = self.link(rec.origin, rec.id, to) else {
            return if self.surely_accepted(forward, tok.at_ms) {
                Expect::May
            } else {
                Expect::Not("the ticket was never shared")
            };
        };
        let ended = self.ended(n, rec, to);
        // The bridge ends a link when it learns of the cause (a webhook, or the export a
        // minute later): until the end is recorded, changes may still cross; after it,
        // nothing may.
        if let Some(since) = self.orphaned_since.get(&link.id)
            && tok.at_ms > *since
            && !self.relinked_after(n, to, *since)
        {
            return Expect::Not("its link had ended");
        }
        if reverse
            && (self.surely_not_accepted(own, tok.at_ms)
                || self.surely_not_accepted(forward, tok.at_ms))
        {
            return Expect::Not("the link was one-way when it was written");
        }
        if tok.private_at.is_some() {
            return Expect::May;
        }
        // Re-shared into a mirror an ended link made: replies start with the new link,
        // and Zendesk's times being to the second, one written in that second after it
        // may stay on the mirror (the engine holds the whole second back).
        if self
            .reshared(n, rec, to)
            .is_some_and(|since| tok.at_ms / 1000 <= since / 1000)
        {
            return Expect::May;
        }
        // A link ended and then relinked owes what was written before it ended (issue #12
        // case 4) and what comes after the relink; in between, either.
        let owed = match self.relinked(n, rec, to) {
            Some((end, relink)) => tok.at_ms < end || tok.at_ms > relink,
            None => ended.is_none(),
        };
        let clean = owed
            && link.state == LinkState::Active
            && self.stays_accepted(forward, tok.at_ms.max(rec.created_ms))
            && (!reverse
                || (self.stays_accepted(own, tok.at_ms)
                    && link.direction == Direction::TwoWay
                    && !self.accepted_in_second_of(own, tok.at_ms)
                    && !self.accepted_in_second_of(forward, tok.at_ms)));
        if clean { Expect::Must } else { Expect::May }
    }

    fn place(&self, tok: u32) -> String {
        let r = &self.log.tokens[&tok];
        let rec = &self.log.tickets[&r.ticket];
        format!(
            "T{tok} ({} comment by an agent of {} on ticket #{} {}, at {:.1} s)",
            if r.public { "public" } else { "private" },
            r.account,
            r.ticket,
            match r.side {
                Side::Origin => format!("{}#{}", rec.origin, rec.id),
                Side::Mirror(a) => format!("its mirror in {a}"),
            },
            r.at_ms as f64 / 1000.0
        )
    }

    /// Where token `tok` was written: (account, ticket id), unless that ticket is gone.
    fn home(&self, tok: &TokenRec) -> Option<(&'static str, u64)> {
        self.sim
            .ticket(tok.account, tok.id)
            .filter(|t| t.status != crate::zendesk::models::Status::Deleted)
            .map(|_| (tok.account, tok.id))
    }

    fn tokens(&mut self) {
        // Per flow (receiving account, ticket), the crossed tokens and their positions.
        let mut flows: BTreeMap<Flow, Vec<Crossed>> = BTreeMap::new();
        let tokens: Vec<(u32, TokenRec)> = self
            .log
            .tokens
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        for (tok, r) in tokens {
            let rec = self.log.tickets[&r.ticket].clone();
            let found = self.found.get(&tok).cloned().unwrap_or_default();
            let home = self.home(&r);
            let at_home = found
                .iter()
                .filter(|f| Some((f.account, f.ticket)) == home)
                .count();
            if home.is_some() && at_home != 1 {
                self.v.push(format!(
                    "{} appears {at_home} times where it was written (echoed back?)",
                    self.place(tok)
                ));
            }
            // The other sides of the ticket's links.
            let mut peers: Vec<(&'static str, &'static str, Option<u64>)> = Vec::new();
            match r.side {
                Side::Origin => {
                    for to in schedule::ACCOUNTS {
                        if to != rec.origin {
                            let m = mirror_of(self.sim, rec.origin, rec.id, to).map(|t| t.id);
                            peers.push((to, to, m));
                        }
                    }
                }
                Side::Mirror(a) => {
                    let _ = mirror_of;
                    peers.push((a, rec.origin, Some(rec.id)));
                }
            }
            for f in &found {
                let expected = Some((f.account, f.ticket)) == home
                    || peers
                        .iter()
                        .any(|(_, acct, id)| *acct == f.account && *id == Some(f.ticket));
                if !expected {
                    self.v.push(format!(
                        "{} crossed to {}#{} where no link of it leads (crossed without consent)",
                        self.place(tok),
                        f.account,
                        f.ticket
                    ));
                }
            }
            for (link_to, account, id) in peers {
                let here: Vec<&Found> = found
                    .iter()
                    .filter(|f| f.account == account && Some(f.ticket) == id)
                    .collect();
                let expect = self.expect(&r, r.ticket, &rec, link_to);
                let n = here.len();
                let place = || match id {
                    Some(id) => format!("{account}#{id}"),
                    None => format!("{account} (no mirror)"),
                };
                match (expect, n) {
                    (Expect::Must, 1) | (Expect::May, 0..=1) | (Expect::Not(_), 0) => {}
                    (Expect::Must, 0) => self.v.push(format!(
                        "{} lost: never reached {}",
                        self.place(tok),
                        place()
                    )),
                    (Expect::Not(why), _) => self.v.push(format!(
                        "{} reached {} ({n} times) though {why}",
                        self.place(tok),
                        place()
                    )),
                    (_, n) => self.v.push(format!(
                        "{} duplicated: {n} times on {}",
                        self.place(tok),
                        place()
                    )),
                }
                if let (Some(id), Some(first)) = (id, here.first()) {
                    flows
                        .entry((account, id, r.side != Side::Origin))
                        .or_default()
                        .push((r.at_ms, tok, first.at, r.account));
                    // Privacy follows the comment on a link that still syncs.
                    let live = self
                        .link(rec.origin, rec.id, link_to)
                        .is_some_and(|l| l.state == LinkState::Active)
                        && self.ended(r.ticket, &rec, link_to).is_none();
                    if r.private_at.is_some() && live && here.iter().any(|f| f.public) {
                        self.v.push(format!(
                            "{} was made private at {:.1} s but is still public on {}",
                            self.place(tok),
                            r.private_at.unwrap_or(0) as f64 / 1000.0,
                            place()
                        ));
                    }
                }
            }
        }
        for ((account, id, _), mut crossed) in flows {
            crossed.sort();
            let mut last: Option<(u32, (usize, usize), u64, &'static str)> = None;
            for (written, tok, at, from) in crossed {
                // Zendesk gives comment times to the second: two comments written in one
                // second on two different tickets (replies from two mirrors) cannot be
                // ordered by anyone, so either order is right.
                let tie = |prev_written: u64, prev_from: &str| {
                    prev_from != from && prev_written / 1000 == written / 1000
                };
                if let Some((prev, pat, prev_written, prev_from)) = last
                    && at < pat
                    && !tie(prev_written, prev_from)
                {
                    self.v.push(format!(
                        "out of order on {account}#{id}: T{tok} was written after T{prev} but appears before it"
                    ));
                }
                last = Some((tok, at, written, from));
            }
        }
    }

    /// Consent at the moment of every write, from what went over the network.
    fn writes(&mut self, writes: &[SentWrite]) {
        for w in writes {
            for tok in &w.tokens {
                let Some(r) = self.log.tokens.get(tok) else {
                    continue;
                };
                if r.account == w.account {
                    continue;
                }
                let rec = &self.log.tickets[&r.ticket];
                let cfg = self.world_at(w.sent_ms);
                let Some(own) = cfg.agreement(r.account, &w.account) else {
                    self.v.push(format!(
                        "{} was sent to {} at {:.1} s: no agreement from {} to {} (crossed without consent)",
                        self.place(*tok), w.account, w.sent_ms as f64 / 1000.0, r.account, w.account
                    ));
                    continue;
                };
                let target = if r.side == Side::Origin {
                    w.account.as_str()
                } else {
                    r.account
                };
                let link = cfg.agreement(rec.origin, target);
                for a in std::iter::once(own).chain(link.filter(|l| *l != own)) {
                    if self.surely_not_accepted_when_sent(a, w) {
                        self.v.push(format!(
                            "{} was sent to {} at {:.1} s while {a} was not accepted (crossed without consent)",
                            self.place(*tok),
                            w.account,
                            w.sent_ms as f64 / 1000.0
                        ));
                    }
                }
                let private_then = !r.public || r.private_at.is_some_and(|p| p < w.sent_ms);
                // Unavoidable: made private at the source after the daemon last read it
                // (that read showed it public) and before the write it built from that
                // read reached Zendesk, which has no conditional write. Accepted only if
                // privacy then followed: every copy on the receiver is private.
                let read_public = w.seen.get(tok).and_then(|m| m.get(r.account)) == Some(&true);
                let followed = self.found.get(tok).is_some_and(|f| {
                    f.iter()
                        .filter(|f| f.account == w.account)
                        .all(|f| !f.public)
                });
                if private_then && !(r.public && read_public && followed) {
                    self.v.push(format!(
                        "{} was sent to {} at {:.1} s while it was private (leaked)",
                        self.place(*tok),
                        w.account,
                        w.sent_ms as f64 / 1000.0
                    ));
                }
            }
        }
    }
}

/// Checks the model; every violation as one line.
pub fn check(
    log: &Log,
    sim: &Simulator,
    store: &Store,
    writes: &[SentWrite],
    versions: &[ConfigState],
) -> Vec<String> {
    let links = match store.links() {
        Ok(l) => l,
        Err(e) => return vec![format!("the store cannot list its links: {e}")],
    };
    let mut found: BTreeMap<u32, Vec<Found>> = BTreeMap::new();
    for account in schedule::ACCOUNTS {
        for t in sim.tickets(account) {
            for (i, c) in sim.comments(account, t.id).iter().enumerate() {
                let mut offset = 0;
                for tok in tokens_in(&c.body) {
                    let marker = format!("[[T{tok}]]");
                    offset = c.body[offset..]
                        .find(&marker)
                        .map_or(offset, |o| offset + o);
                    found.entry(tok).or_default().push(Found {
                        account,
                        ticket: t.id,
                        at: (i, offset),
                        public: c.public,
                    });
                    offset += marker.len();
                }
            }
        }
    }
    let start = sim_start();
    let orphaned_since = store
        .orphans()
        .unwrap_or_default()
        .into_iter()
        .map(|o| (o.link, ms_since(start, o.since)))
        .collect();
    let mut c = Checker {
        log,
        sim,
        versions,
        links,
        orphaned_since,
        found,
        start,
        v: Vec::new(),
    };
    c.tokens();
    c.writes(writes);
    c.mirrors();
    c.statuses();
    c.links(store);
    c.v
}

/// The time of day the run began (the world's start time).
fn sim_start() -> Timestamp {
    super::world::START_TIME
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH)
}
