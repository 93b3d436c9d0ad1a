//! The status page's HTML: maud templates over a [`StatusView`] — the page (header,
//! problems, cards, agreements, links, orphans, accounts, request budget, recent audit),
//! the login form and the two error pages.
//!
//! Owns: [`render`], [`render_login`], [`render_failure`] and the small pieces the
//! sections share (badges, times, ticket references). Pure: same view, same bytes.
//!
//! Must not: emit a value but through maud's `(…)` splice, which escapes it (the only
//! `PreEscaped` is the page's own constant style sheet); load anything external (inline
//! CSS, no script, no link, no image); show ticket subjects or comment bodies.

use jiff::Timestamp;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::cluster::LeaderView;
use super::status::{AUDIT_ENTRIES, MAX_ROWS, REFRESH_SECS, StatusView};
use crate::agreement::State as AgreementState;
use crate::preview::cache::{self, Cell};
use crate::store::{LinkState, Orphan};

pub(super) fn time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A duration in the largest unit that keeps it readable: "4 s", "12 min", "3 h", "2 d".
pub fn span(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86400),
    }
}

pub(super) fn ago(now: Timestamp, t: Timestamp) -> String {
    span(now.duration_since(t).as_secs())
}

const STYLE: &str = r#"
:root{--fg:#1d2433;--muted:#5d6880;--line:#dde2ec;--bg:#f6f7fa;--card:#fff;
--ok:#17803d;--ok-bg:#e3f5e9;--warn:#9a5b00;--warn-bg:#fff2d6;--bad:#b4232a;--bad-bg:#fde6e7;
--off:#4f5a70;--off-bg:#eceff4}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
header{background:#1d2433;color:#fff;padding:14px 28px;display:flex;align-items:baseline;gap:18px;flex-wrap:wrap}
header h1{font-size:20px;margin:0;letter-spacing:.3px}
header .meta{color:#b9c2d6;font-size:13px}
header form{margin-left:auto}
header button{background:transparent;color:#b9c2d6;border:1px solid #4a5570;border-radius:4px;padding:3px 10px;font:inherit;font-size:12px;cursor:pointer}
main{padding:18px 28px 32px;max-width:1400px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:18px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:150px}
.card .n{font-size:24px;font-weight:650}
.card .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.5px}
.card.bad .n{color:var(--bad)} .card.warn .n{color:var(--warn)}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;margin-bottom:16px;overflow:hidden}
section h2{font-size:15px;margin:0;padding:10px 14px;border-bottom:1px solid var(--line);background:#fbfcfd}
section h2 small{color:var(--muted);font-weight:400;margin-left:6px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 14px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.4px}
tr:last-child td{border-bottom:0}
td.num{font-variant-numeric:tabular-nums}
td.t{white-space:nowrap}
.empty{padding:10px 14px;color:var(--muted)}
.b{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600}
.ok{color:var(--ok);background:var(--ok-bg)} .warn{color:var(--warn);background:var(--warn-bg)}
.bad{color:var(--bad);background:var(--bad-bg)} .off{color:var(--off);background:var(--off-bg)}
.muted{color:var(--muted)} .err{color:var(--bad)} .warn-text{color:var(--warn);font-size:12px}
.bar{display:inline-block;width:140px;height:8px;background:var(--off-bg);border-radius:4px;vertical-align:middle;margin-right:8px;overflow:hidden}
.bar i{display:block;height:100%;background:var(--ok)}
.problems{background:var(--bad-bg);color:var(--bad);border:1px solid #f3b9bc;border-radius:8px;padding:10px 14px;margin-bottom:16px}
.login{max-width:380px;margin:12vh auto;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:22px 26px}
.login h1{font-size:20px;margin:0 0 4px}
.login p{color:var(--muted);margin:0 0 14px}
.login input{width:100%;padding:8px 10px;border:1px solid var(--line);border-radius:6px;font:inherit;margin:6px 0 12px}
.login button{background:#1d2433;color:#fff;border:0;border-radius:6px;padding:8px 16px;font:inherit;cursor:pointer}
.login .error{color:var(--bad);background:var(--bad-bg);border-radius:6px;padding:6px 10px;margin-bottom:10px}
"#;

/// The document around `body`: charset, viewport, the optional meta refresh, the title
/// and the inline style sheet.
fn document(title: &str, refresh: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if refresh {
                    meta http-equiv="refresh" content=(REFRESH_SECS);
                }
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

pub(super) fn badge(class: &str, text: &str) -> Markup {
    html! { span class={ "b " (class) } { (text) } }
}

pub(super) fn muted(text: &str) -> Markup {
    html! { span.muted { (text) } }
}

/// A time and how long ago it was: "2026-11-25 11:00:00 UTC (1 h ago)", or "never".
pub(super) fn when(t: Option<Timestamp>, now: Timestamp) -> Markup {
    html! {
        @match t {
            Some(t) => { (time(t)) " " (muted(&format!("({} ago)", ago(now, t)))) }
            None => { (muted("never")) }
        }
    }
}

/// A section with its title, a note beside it, and `body` (or `empty` when there are no
/// rows).
pub(super) fn section(title: &str, note: &str, empty: Option<&str>, body: Markup) -> Markup {
    html! {
        section {
            h2 {
                (title)
                @if !note.is_empty() { small { (note) } }
            }
            @match empty {
                Some(e) => { p.empty { (e) } }
                None => { (body) }
            }
        }
    }
}

pub(super) fn table(columns: &[&str], rows: Markup) -> Markup {
    html! {
        table {
            thead { tr { @for c in columns { th { (c) } } } }
            tbody { (rows) }
        }
    }
}

fn agreement_badge(state: AgreementState) -> Markup {
    let class = match state {
        AgreementState::Accepted => "ok",
        AgreementState::Pending => "warn",
        AgreementState::Declined => "bad",
        AgreementState::Inactive => "off",
    };
    badge(class, state.as_str())
}

fn link_state_badge(state: LinkState) -> Markup {
    match state {
        LinkState::Active => badge("ok", "active"),
        LinkState::Error => badge("bad", "error"),
        LinkState::Orphaned => badge("off", "orphaned"),
    }
}

fn ticket(account: &str, id: Option<u64>) -> Markup {
    html! {
        @match id {
            Some(id) => { (account) "#" (id) }
            None => { (account) "#" (muted("pending")) }
        }
    }
}

/// One visibility cell: "seen by N" and the first warning, or why there is none.
fn visibility_cell(cell: Option<&Cell>, reading: bool) -> Markup {
    html! {
        @match cell {
            Some(Cell::Seen { seen_by, warning }) => {
                (badge(
                    if *seen_by == 0 { "bad" } else { "ok" },
                    &format!("seen by {seen_by} {}", if *seen_by == 1 { "person" } else { "people" }),
                ))
                @if let Some(w) = warning { " " span.warn-text { (w) } }
            }
            Some(Cell::Missing) => { (badge("bad", "mirror not found")) }
            None if reading => { (muted("reading…")) }
            None => { (muted("–")) }
        }
    }
}

/// The login form; `error` is shown above it (a wrong token).
pub fn render_login(error: Option<&str>) -> String {
    document(
        "sharebridge — sign in",
        false,
        html! {
            form.login method="post" action="/login" {
                h1 { "sharebridge" }
                p { "Status page. Sign in with the daemon's admin token (" code { "daemon.admin_token" } ")." }
                @if let Some(e) = error { div.error role="alert" { (e) } }
                label for="token" { "Admin token" }
                input #token name="token" type="password" autocomplete="current-password" required autofocus;
                button type="submit" { "Sign in" }
            }
        },
    )
    .into_string()
}

/// A page that says the status page could not be shown, and why.
pub fn render_failure(why: &str) -> String {
    document("sharebridge", false, html! { main { p { (why) } } }).into_string()
}

/// The status page for `view`. Pure: same view, same bytes.
pub fn render(view: &StatusView) -> String {
    document(
        "sharebridge status",
        true,
        html! {
            header {
                h1 { "sharebridge" }
                span.meta {
                    "version " (view.version) " · as of " (time(view.now))
                    " · refreshes every " (REFRESH_SECS) " s"
                }
                form method="post" action="/logout" { button type="submit" { "Sign out" } }
            }
            main {
                @if !view.problems.is_empty() {
                    div.problems {
                        strong { "Some of this page could not be read:" }
                        ul { @for p in &view.problems { li { (p) } } }
                    }
                }
                (leader(view.leader.as_ref(), view.now))
                (cards(view))
                (agreements(view))
                (links(view))
                (orphans(view))
                (super::status_workers::accounts(&view.workers, view.now))
                (budgets(view))
                (audit(view))
            }
        },
    )
    .into_string()
}

/// The "Leader" section, when several daemons share one store: who leads, since when,
/// the lease epoch, whether this daemon follows, the last handover.
fn leader(view: Option<&LeaderView>, now: Timestamp) -> Markup {
    let Some(v) = view else {
        return html! {};
    };
    html! {
        section {
            h2 { "Leader" }
            p.leader {
                @match &v.record {
                    Some(r) if r.live && r.holder.is_some() => {
                        strong { (r.holder.as_deref().unwrap_or_default()) }
                        @if v.leading { " (this daemon)" }
                        " leads"
                        @if let Some(since) = r.since {
                            " since " (time(since)) " (" (ago(now, since)) " ago), lease epoch "
                            (r.epoch)
                        }
                        "."
                    }
                    _ => {
                        strong { "No daemon leads right now" }
                        ": a follower takes over within seconds."
                    }
                }
                @if !v.leading {
                    " This daemon (" (v.this)
                    ") follows: it answers webhooks and this API from the shared store."
                }
                @if let Some(r) = &v.record {
                    br;
                    @match r.last_handover {
                        Some(at) => {
                            "Last handover " (time(at)) " (" (ago(now, at)) " ago) from "
                            (r.previous.as_deref().unwrap_or("?"))
                            @if let Some(gap) = r.last_gap_ms {
                                ", " (format!("{:.1}", gap as f64 / 1000.0)) " s after its last renewal"
                            }
                            "; " (r.handovers) " handovers in all."
                        }
                        None => { "No handover yet." }
                    }
                }
            }
        }
    }
}

fn cards(v: &StatusView) -> Markup {
    let accepted = v
        .agreements
        .iter()
        .filter(|a| a.state == AgreementState::Accepted)
        .count();
    let errors = v
        .links
        .iter()
        .filter(|l| l.state == LinkState::Error)
        .count();
    let active = v
        .links
        .iter()
        .filter(|l| l.state == LinkState::Active)
        .count();
    let cards: [(&str, String, &str); 5] = [
        (
            if accepted < v.agreements.len() {
                "warn"
            } else {
                ""
            },
            format!("{accepted}/{}", v.agreements.len()),
            "agreements accepted",
        ),
        ("", active.to_string(), "links active"),
        (
            if errors > 0 { "bad" } else { "" },
            errors.to_string(),
            "links in error",
        ),
        ("", v.orphans.len().to_string(), "orphans"),
        ("", v.backlog.to_string(), "tickets in backlog"),
    ];
    html! {
        div.cards {
            @for (class, n, label) in &cards {
                div class={ "card " (class) } { div.n { (n) } div.l { (label) } }
            }
        }
    }
}

fn agreements(v: &StatusView) -> Markup {
    let columns = [
        "name",
        "from → to",
        "state",
        "pairing",
        "since",
        "cause",
        "who can see its mirrors",
    ];
    section(
        "Agreements",
        "each one-way; an accepted pair makes links two-way",
        v.agreements
            .is_empty()
            .then_some("No agreements configured."),
        table(
            &columns,
            html! {
                @for a in &v.agreements {
                    tr {
                        td { (a.name) }
                        td { (a.from) " → " (a.to) }
                        td { (agreement_badge(a.state)) }
                        td { (a.direction) }
                        td.t { (when(Some(a.since), v.now)) }
                        td.muted { (a.cause) }
                        td { (visibility_cell(v.visibility.agreements.get(&a.name), v.visibility_reading)) }
                    }
                }
            },
        ),
    )
}

fn links(v: &StatusView) -> Markup {
    // Errors first, then active, then orphaned; newest first within each (the order the
    // visibility cache reads them in).
    let rows = cache::listed(&v.links);
    let mut note = if v.links.len() > MAX_ROWS {
        format!(
            "{MAX_ROWS} of {}; `sharebridge links list` shows all",
            v.links.len()
        )
    } else {
        v.links.len().to_string()
    };
    match v.visibility.refreshed_at {
        Some(t) => note.push_str(&format!(" · visibility as of {} ago", ago(v.now, t))),
        None if v.visibility_reading => note.push_str(" · visibility being read"),
        None => {}
    }
    let columns = [
        "id",
        "agreement",
        "source",
        "mirror",
        "direction",
        "state",
        "last sync",
        "lag",
        "error",
        "visibility",
    ];
    section(
        "Links",
        &note,
        rows.is_empty().then_some("No shared tickets yet."),
        table(
            &columns,
            html! {
                @for l in &rows {
                    tr {
                        td.num { (l.id) }
                        td { (l.agreement) }
                        td { (ticket(&l.source_account, Some(l.source_ticket))) }
                        td { (ticket(&l.target_account, l.target_ticket)) }
                        td { (l.direction.as_str()) }
                        td { (link_state_badge(l.state)) }
                        @match l.last_synced_at {
                            // An orphaned link no longer syncs: its age since the last
                            // sync is no lag.
                            Some(t) if l.state == LinkState::Orphaned => {
                                td.t { (time(t)) } td.num { "–" }
                            }
                            Some(t) => { td.t { (time(t)) } td.num { (ago(v.now, t)) } }
                            None => { td.t { (muted("never")) } td.num { "–" } }
                        }
                        td.err {
                            (l.error.as_deref().unwrap_or(""))
                            // What did not cross while the link stays active (ids only).
                            @for m in &l.mismatches {
                                div.mismatch { "mismatch: " (m.describe()) }
                            }
                        }
                        td { (visibility_cell(v.visibility.links.get(&l.id), v.visibility_reading)) }
                    }
                }
            },
        ),
    )
}

fn orphans(v: &StatusView) -> Markup {
    let mut rows: Vec<&Orphan> = v.orphans.iter().collect();
    rows.sort_by_key(|o| (std::cmp::Reverse(o.since), o.link));
    let note = if rows.len() > MAX_ROWS {
        format!(
            "{MAX_ROWS} of {}; `sharebridge orphans list` shows all",
            rows.len()
        )
    } else {
        "mirrors kept after their link ended".to_owned()
    };
    let columns = ["link", "mirror", "source", "reason", "since", "detail"];
    section(
        "Orphans",
        &note,
        rows.is_empty().then_some("No orphaned mirrors."),
        table(
            &columns,
            html! {
                @for o in rows.iter().take(MAX_ROWS) {
                    tr {
                        td.num { (o.link) }
                        td { (ticket(&o.target_account, o.target_ticket)) }
                        td { (ticket(&o.source_account, Some(o.source_ticket))) }
                        td { (badge("off", &o.reason)) }
                        td.t { (when(Some(o.since), v.now)) }
                        td.muted { (o.detail) }
                    }
                }
            },
        ),
    )
}

fn budgets(v: &StatusView) -> Markup {
    let columns = ["account", "remaining / budget", "paused", "429s seen"];
    section(
        "Request budget",
        "per account, this minute (requests_per_minute)",
        v.accounts.is_empty().then_some("No accounts."),
        table(
            &columns,
            html! {
                @for a in &v.accounts {
                    @let pct = if a.budget == 0 {
                        0
                    } else {
                        (u64::from(a.remaining) * 100 / u64::from(a.budget)).min(100)
                    };
                    tr {
                        td { (a.name) }
                        td.num {
                            span.bar { i style={ "width:" (pct) "%" } {} }
                            (a.remaining) " / " (a.budget)
                        }
                        td {
                            @match a.paused_secs {
                                Some(s) => { (badge("warn", &format!("paused {}", span(s as i64)))) }
                                None => { (muted("no")) }
                            }
                        }
                        td.num { (a.throttled_total) }
                    }
                }
            },
        ),
    )
}

fn audit(v: &StatusView) -> Markup {
    let columns = ["at", "kind", "subject", "detail"];
    section(
        "Recent audit",
        &format!("last {AUDIT_ENTRIES}, newest first; `sharebridge audit` shows all"),
        v.audit.is_empty().then_some("Nothing audited yet."),
        table(
            &columns,
            html! {
                @for e in v.audit.iter().take(AUDIT_ENTRIES) {
                    @let kind = serde_json::to_value(e.kind)
                        .ok()
                        .and_then(|k| k.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    tr {
                        td.t { (time(e.at)) }
                        td { (badge("off", &kind)) }
                        td.t { (e.subject) }
                        td { (e.detail) }
                    }
                }
            },
        ),
    )
}

#[cfg(test)]
#[path = "status_html_tests.rs"]
mod tests;
