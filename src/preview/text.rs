//! `plan` and `visibility` for people: pure renderers over the reports (`--json` prints
//! the reports themselves).
//!
//! Must not: show anything the reports do not hold (they hold no bodies or subjects).

use std::fmt::Write as _;

use crate::visibility::View;

use super::{AgreementPlan, PlanReport, TicketPlan};

fn opt(id: Option<u64>, none: &str) -> String {
    id.map_or_else(|| none.to_owned(), |i| i.to_string())
}

fn bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        _ => format!("{:.1} MB", n as f64 / 1e6),
    }
}

/// Who sees the mirror, one line per agent, then warnings and notes.
pub fn render_view(v: &View) -> String {
    let mut out = String::new();
    let m = &v.mirror;
    let place = format!(
        "brand {}, group {}, organization {}",
        opt(m.brand_id, "none"),
        opt(m.group_id, "none"),
        opt(m.organization_id, "none")
    );
    match (v.link, m.ticket) {
        (Some(l), Some(t)) => {
            let _ = writeln!(
                out,
                "link {l} ({}): mirror {}#{t}: {place}",
                v.agreement, v.account
            );
        }
        (Some(l), None) => {
            let _ = writeln!(
                out,
                "link {l} ({}): no mirror yet; as the bridge would create it in {}: {place}",
                v.agreement, v.account
            );
        }
        (None, _) => {
            let _ = writeln!(
                out,
                "agreement {}: a mirror as the bridge would create it in {}: {place}",
                v.agreement, v.account
            );
        }
    }
    if !m.follower_ids.is_empty() || !m.collaborator_ids.is_empty() || m.assignee_id.is_some() {
        let ids = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            out,
            "assignee {}; followers [{}]; CCs [{}]",
            opt(m.assignee_id, "none"),
            ids(&m.follower_ids),
            ids(&m.collaborator_ids)
        );
    }
    let people = if v.seen_by == 1 { "person" } else { "people" };
    let _ = writeln!(out, "seen by {} {people} (admins and agents)", v.seen_by);
    let _ = writeln!(
        out,
        "  {:<14} {:<6} {:<24} {:<32} {:<5} WHY",
        "AGENT", "ROLE", "ROLE NAME", "TICKET ACCESS", "SEES"
    );
    for a in &v.verdicts {
        let _ = writeln!(
            out,
            "  {:<14} {:<6} {:<24} {:<32} {:<5} {}{}",
            a.agent_id,
            a.role,
            a.role_name,
            a.ticket_access.as_str(),
            if a.can_see { "yes" } else { "no" },
            a.reason,
            if a.bridge {
                " (the bridge's own user)"
            } else {
                ""
            }
        );
    }
    for w in &v.warnings {
        let _ = writeln!(out, "warning: {}", w.message);
    }
    for n in &v.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

fn ticket_line(out: &mut String, t: &TicketPlan) {
    let c = &t.comments;
    let status = match t.mirror_status {
        Some(s) => format!("{} → {}", t.status.as_str(), s.as_str()),
        None => format!("{}, status not synced", t.status.as_str()),
    };
    let _ = writeln!(
        out,
        "  ticket {} ({status}){}",
        t.ticket,
        t.relinks
            .map(|l| format!(", re-attaches the mirror of orphaned link {l}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "    comments: {} in all; {} cross ({} public, {} private); {} private held back; {} public not sent (comments.public = false); {} the bridge's own",
        c.total, c.crossing, c.public, c.private, c.held_back, c.public_disabled, c.echo
    );
    let a = &t.attachments;
    let _ = writeln!(
        out,
        "    attachments: {} copied ({}); {} over max_bytes (named, not copied); {} held back with their comment; {} not copied (attachments.sync = false)",
        a.copied,
        bytes(a.copied_bytes),
        a.over_max_bytes.len(),
        a.held_back,
        a.sync_off
    );
    let held: Vec<String> = t
        .tags
        .held
        .iter()
        .map(|h| {
            let why = serde_json::to_value(h.reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            format!("{} ({why})", h.tag)
        })
        .collect();
    let _ = writeln!(
        out,
        "    tags: cross [{}]; held back [{}]",
        t.tags.crossing.join(", "),
        held.join(", ")
    );
    let _ = writeln!(
        out,
        "    fields: {} mapped, {} with no mapping",
        t.fields.mapped.len(),
        t.fields.unmapped.len()
    );
    for u in &t.fields.unmapped {
        let _ = writeln!(out, "      {}", u.message);
    }
    if let Some(v) = &t.visibility {
        let _ = writeln!(out, "    visibility: {}", v.summary());
    }
}

fn agreement_block(out: &mut String, p: &AgreementPlan, limit: usize) {
    let _ = writeln!(out, "{}  {} → {}  ({})", p.name, p.from, p.to, p.state);
    for s in &p.searches {
        let _ = writeln!(out, "  search {:?}: {} found", s.query, s.found);
    }
    let _ = writeln!(
        out,
        "  would share now: {} ({} detailed); already linked: {}; skipped: {}",
        p.would_share,
        p.detailed,
        p.already_linked,
        p.skipped.len()
    );
    let _ = writeln!(
        out,
        "  mirrors land in {}: brand {}, group {}",
        p.to,
        opt(p.target.brand_id, "the default"),
        opt(p.target.group_id, "none")
    );
    match &p.visibility {
        Some(v) => {
            let _ = writeln!(out, "  visibility: {}", v.summary());
            for w in v.warnings.iter().skip(1) {
                let _ = writeln!(out, "    warning: {}", w.message);
            }
        }
        None => {
            let _ = writeln!(
                out,
                "  visibility: unknown (the receiver could not be read)"
            );
        }
    }
    let t = &p.totals;
    if p.detailed > 0 {
        let _ = writeln!(
            out,
            "  in all: {} comments cross, {} held back; {} attachments copied, {} over max_bytes, {} held back; {} tags held back; {} values with no mapping",
            t.comments.crossing,
            t.comments.held_back,
            t.attachments_copied,
            t.attachments_over_max_bytes,
            t.attachments_held_back,
            t.tags_held,
            t.unmapped
        );
    }
    for tp in &p.tickets {
        ticket_line(out, tp);
    }
    if p.would_share > p.detailed {
        let _ = writeln!(
            out,
            "  … and {} more tickets counted, not detailed (--limit {limit})",
            p.would_share - p.detailed
        );
    }
    for s in &p.skipped {
        let _ = writeln!(
            out,
            "  skipped ticket {}: {} ({})",
            s.ticket, s.reason, s.detail
        );
    }
    for n in &p.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    let _ = writeln!(out, "  API calls: {}", p.api_calls);
}

/// The whole plan.
pub fn render_plan(r: &PlanReport) -> String {
    let mut out = String::new();
    if r.agreements.is_empty() {
        out.push_str("no agreements configured\n");
    }
    for p in &r.agreements {
        agreement_block(&mut out, p, r.limit);
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{} API calls, reads only: nothing was written to Zendesk or to the store",
        r.api_calls
    );
    out
}
