//! How the admin commands print what the daemon's API answers: one JSON line with
//! `--json`, or a table a person reads.
//!
//! Architecture invariant: formats, never fetches nor decides; prints no secret and no
//! comment body (the API it formats carries none).

pub(super) fn output<T: serde::Serialize>(
    value: &T,
    json: bool,
    human: impl Fn(&T) -> String,
) -> String {
    if json {
        format!("{}\n", serde_json::to_string(value).unwrap_or_default())
    } else {
        human(value)
    }
}

fn ts(t: &Option<jiff::Timestamp>) -> String {
    t.map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

pub(super) fn format_agreements(list: &[crate::server::api::AgreementView]) -> String {
    let mut out = format!(
        "{:<22} {:<10} {:<10} {:<9} {:<8} {}\n",
        "NAME", "FROM", "TO", "STATE", "PAIRING", "SINCE"
    );
    for a in list {
        out.push_str(&format!(
            "{:<22} {:<10} {:<10} {:<9} {:<8} {}\n",
            a.name,
            a.from,
            a.to,
            a.state.as_str(),
            a.direction,
            ts(&Some(a.since))
        ));
    }
    out
}

pub(super) fn format_links(list: &[crate::store::Link]) -> String {
    let mut out = format!(
        "{:<5} {:<18} {:<18} {:<9} {:<9} {:<20} {:<8} {}\n",
        "ID", "SOURCE", "MIRROR", "DIRECTION", "STATE", "LAST SYNC", "LAG", "ERROR"
    );
    let now = crate::clock::now();
    for l in list {
        // Time since the last sync of a live link; an orphan does not lag.
        let lag = match (l.state, l.last_synced_at) {
            (crate::store::LinkState::Orphaned, _) | (_, None) => "-".to_owned(),
            (_, Some(t)) => format!("{}s", now.duration_since(t).as_secs().max(0)),
        };
        out.push_str(&format!(
            "{:<5} {:<18} {:<18} {:<9} {:<9} {:<20} {:<8} {}\n",
            l.id,
            format!("{}#{}", l.source_account, l.source_ticket),
            l.target_ticket
                .map(|t| format!("{}#{t}", l.target_account))
                .unwrap_or_else(|| format!("{}#-", l.target_account)),
            l.direction.as_str(),
            state_name(l.state),
            ts(&l.last_synced_at),
            lag,
            l.error.as_deref().unwrap_or("")
        ));
    }
    out
}

fn state_name(s: crate::store::LinkState) -> &'static str {
    match s {
        crate::store::LinkState::Active => "active",
        crate::store::LinkState::Orphaned => "orphaned",
        crate::store::LinkState::Error => "error",
    }
}

pub(super) fn format_link(d: &crate::server::api::LinkDetail) -> String {
    let mut out = format_links(std::slice::from_ref(&d.link));
    out.push_str(&format!("agreement: {}\n", d.link.agreement));
    if let Some(lag) = d.lag_seconds {
        out.push_str(&format!("lag: {lag}s since the last sync\n"));
    }
    out.push_str(&format!(
        "writes awaiting confirmation: {}\n",
        d.pending_writes
    ));
    if !d.link.mismatches.is_empty() {
        out.push_str("not crossed (the rest of each update did):\n");
        for m in &d.link.mismatches {
            out.push_str(&format!(
                "  mismatch: {} ({})\n",
                m.describe(),
                m.kind.fix()
            ));
        }
    }
    if let Some(o) = &d.orphan {
        out.push_str(&format!(
            "orphaned since {}: {} {}\n",
            ts(&Some(o.since)),
            o.reason,
            o.detail
        ));
    }
    out
}

pub(super) fn format_orphans(list: &[crate::store::Orphan]) -> String {
    let mut out = format!(
        "{:<5} {:<18} {:<18} {:<20} {:<20} {}\n",
        "LINK", "MIRROR", "SOURCE", "REASON", "SINCE", "DETAIL"
    );
    for o in list {
        out.push_str(&format!(
            "{:<5} {:<18} {:<18} {:<20} {:<20} {}\n",
            o.link,
            o.target_ticket
                .map(|t| format!("{}#{t}", o.target_account))
                .unwrap_or_else(|| format!("{}#-", o.target_account)),
            format!("{}#{}", o.source_account, o.source_ticket),
            o.reason,
            ts(&Some(o.since)),
            o.detail
        ));
    }
    out
}

pub(super) fn format_audit(list: &[crate::store::AuditEntry]) -> String {
    let mut out = String::new();
    for e in list {
        let kind = serde_json::to_value(e.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        out.push_str(&format!(
            "{}  {:<9} {:<16} {}\n",
            ts(&Some(e.at)),
            kind,
            e.subject,
            e.detail
        ));
    }
    out
}
