//! The status page at `GET /` (DESIGN §4): HTML a person reads at a glance — agreements
//! with states and pairing, links with direction, state, last sync, lag and errors,
//! orphans with reason and since, the last 20 audit entries, each account's request
//! budget.
//!
//! Owns: [`render`] and [`render_login`], pure functions over plain values
//! ([`StatusView`]), and thin handlers that gather those values from the engine and store
//! (`page`), and log in and out with the admin token (`login`, `logout`).
//!
//! Authentication: the admin token as `Authorization: Bearer …`, or the HttpOnly,
//! SameSite=Strict cookie `sharebridge_admin` that `POST /login` sets from a form. The
//! token is never accepted in, or written into, a URL.
//!
//! Must not: show ticket subjects or comment bodies (the page shows ids, states, times and
//! the operator sentences of the audit log); load anything external (inline CSS, no
//! script; the Content-Security-Policy forbids the rest); emit any value unescaped; write
//! to Zendesk or wait on it.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::ServerState;
use super::api::{AgreementView, agreement_views, presented_token, token_matches};
use crate::agreement::State as AgreementState;
use crate::engine::Engine;
use crate::store::{AuditEntry, Link, LinkState, Orphan};

/// The cookie `POST /login` sets and `presented_token` reads.
pub const COOKIE: &str = "sharebridge_admin";
/// How many audit entries the page shows.
pub const AUDIT_ENTRIES: usize = 20;
/// At most this many links and orphans are listed (errors first); the CLI lists all.
pub const MAX_ROWS: usize = 200;
/// The page reloads itself this often (a meta refresh; no script).
const REFRESH_SECS: u32 = 15;

/// One account's request budget as its client's gate reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBudget {
    pub name: String,
    /// Requests left in this minute's budget.
    pub remaining: u32,
    /// `requests_per_minute`.
    pub budget: u32,
    /// Seconds the account is still paused after a 429, if it is.
    pub paused_secs: Option<u64>,
    /// 429 answers seen since start.
    pub throttled_total: u64,
}

/// Everything the page shows, gathered once per request.
#[derive(Debug, Clone)]
pub struct StatusView {
    /// When the view was gathered; lags are measured from it.
    pub now: Timestamp,
    pub version: String,
    /// Tickets waiting or being processed.
    pub backlog: usize,
    pub agreements: Vec<AgreementView>,
    pub links: Vec<Link>,
    pub orphans: Vec<Orphan>,
    /// Newest first.
    pub audit: Vec<AuditEntry>,
    pub accounts: Vec<AccountBudget>,
    /// Each account's workers (auth, webhook, poller).
    pub workers: Vec<crate::engine::workers::AccountView>,
    /// What could not be read (shown on the page instead of failing it).
    pub problems: Vec<String>,
    /// Several daemons on one store: who leads (`None` on an embedded store).
    pub leader: Option<super::cluster::LeaderView>,
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

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

fn ago(now: Timestamp, t: Timestamp) -> String {
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
.muted{color:var(--muted)} .err{color:var(--bad)}
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

fn head(out: &mut String, title: &str, refresh: bool) {
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    );
    if refresh {
        let _ = write!(
            out,
            "<meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">"
        );
    }
    let _ = write!(
        out,
        "<title>{}</title><style>{STYLE}</style></head>",
        escape(title)
    );
}

pub(super) fn badge(class: &str, text: &str) -> String {
    format!("<span class=\"b {class}\">{}</span>", escape(text))
}

fn agreement_badge(state: AgreementState) -> String {
    let class = match state {
        AgreementState::Accepted => "ok",
        AgreementState::Pending => "warn",
        AgreementState::Declined => "bad",
        AgreementState::Inactive => "off",
    };
    badge(class, state.as_str())
}

fn link_state_badge(state: LinkState) -> String {
    match state {
        LinkState::Active => badge("ok", "active"),
        LinkState::Error => badge("bad", "error"),
        LinkState::Orphaned => badge("off", "orphaned"),
    }
}

fn ticket(account: &str, id: Option<u64>) -> String {
    match id {
        Some(id) => escape(&format!("{account}#{id}")),
        None => format!("{}#<span class=\"muted\">pending</span>", escape(account)),
    }
}

/// The login form; `error` is shown above it (a wrong token).
pub fn render_login(error: Option<&str>) -> String {
    let mut out = String::new();
    head(&mut out, "sharebridge — sign in", false);
    out.push_str("<body><form class=\"login\" method=\"post\" action=\"/login\">");
    out.push_str("<h1>sharebridge</h1><p>Status page. Sign in with the daemon's admin token (<code>daemon.admin_token</code>).</p>");
    if let Some(e) = error {
        let _ = write!(
            out,
            "<div class=\"error\" role=\"alert\">{}</div>",
            escape(e)
        );
    }
    out.push_str(
        "<label for=\"token\">Admin token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus>\
         <button type=\"submit\">Sign in</button></form></body></html>\n",
    );
    out
}

/// The status page for `view`. Pure: same view, same bytes.
pub fn render(view: &StatusView) -> String {
    let mut out = String::with_capacity(16 * 1024);
    head(&mut out, "sharebridge status", true);
    let _ = write!(
        out,
        "<body><header><h1>sharebridge</h1><span class=\"meta\">version {} · as of {} · refreshes every {REFRESH_SECS} s</span>\
         <form method=\"post\" action=\"/logout\"><button type=\"submit\">Sign out</button></form></header><main>",
        escape(&view.version),
        escape(&time(view.now)),
    );
    if !view.problems.is_empty() {
        out.push_str(
            "<div class=\"problems\"><strong>Some of this page could not be read:</strong><ul>",
        );
        for p in &view.problems {
            let _ = write!(out, "<li>{}</li>", escape(p));
        }
        out.push_str("</ul></div>");
    }
    super::cluster::render_leader(&mut out, view.leader.as_ref(), view.now);
    cards(&mut out, view);
    agreements(&mut out, view);
    links(&mut out, view);
    orphans(&mut out, view);
    super::status_workers::accounts(&mut out, &view.workers, view.now);
    budgets(&mut out, view);
    audit(&mut out, view);
    out.push_str("</main></body></html>\n");
    out
}

fn cards(out: &mut String, v: &StatusView) {
    let accepted = v
        .agreements
        .iter()
        .filter(|a| a.state == AgreementState::Accepted)
        .count();
    let count = |s: LinkState| v.links.iter().filter(|l| l.state == s).count();
    let (active, errors, orphaned) = (
        count(LinkState::Active),
        count(LinkState::Error),
        v.orphans.len(),
    );
    let card = |out: &mut String, class: &str, n: String, label: &str| {
        let _ = write!(
            out,
            "<div class=\"card {class}\"><div class=\"n\">{}</div><div class=\"l\">{}</div></div>",
            escape(&n),
            escape(label)
        );
    };
    out.push_str("<div class=\"cards\">");
    card(
        out,
        if accepted < v.agreements.len() {
            "warn"
        } else {
            ""
        },
        format!("{accepted}/{}", v.agreements.len()),
        "agreements accepted",
    );
    card(out, "", active.to_string(), "links active");
    card(
        out,
        if errors > 0 { "bad" } else { "" },
        errors.to_string(),
        "links in error",
    );
    card(out, "", orphaned.to_string(), "orphans");
    card(out, "", v.backlog.to_string(), "tickets in backlog");
    out.push_str("</div>");
}

pub(super) fn section(out: &mut String, title: &str, note: &str) {
    let _ = write!(out, "<section><h2>{}", escape(title));
    if !note.is_empty() {
        let _ = write!(out, "<small>{}</small>", escape(note));
    }
    out.push_str("</h2>");
}

pub(super) fn table_head(out: &mut String, columns: &[&str]) {
    out.push_str("<table><thead><tr>");
    for c in columns {
        let _ = write!(out, "<th>{}</th>", escape(c));
    }
    out.push_str("</tr></thead><tbody>");
}

fn agreements(out: &mut String, v: &StatusView) {
    section(
        out,
        "Agreements",
        "each one-way; an accepted pair makes links two-way",
    );
    if v.agreements.is_empty() {
        out.push_str("<p class=\"empty\">No agreements configured.</p></section>");
        return;
    }
    table_head(
        out,
        &["name", "from → to", "state", "pairing", "since", "cause"],
    );
    for a in &v.agreements {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td><td class=\"t\">{} <span class=\"muted\">({} ago)</span></td><td class=\"muted\">{}</td></tr>",
            escape(&a.name),
            escape(&a.from),
            escape(&a.to),
            agreement_badge(a.state),
            escape(&a.direction),
            escape(&time(a.since)),
            escape(&ago(v.now, a.since)),
            escape(&a.cause),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn links(out: &mut String, v: &StatusView) {
    let mut rows: Vec<&Link> = v.links.iter().collect();
    // Errors first, then active, then orphaned; newest first within each.
    rows.sort_by_key(|l| {
        let rank = match l.state {
            LinkState::Error => 0,
            LinkState::Active => 1,
            LinkState::Orphaned => 2,
        };
        (rank, std::cmp::Reverse(l.id))
    });
    let note = if rows.len() > MAX_ROWS {
        format!(
            "{} of {}; `sharebridge links list` shows all",
            MAX_ROWS,
            rows.len()
        )
    } else {
        format!("{}", rows.len())
    };
    section(out, "Links", &note);
    if rows.is_empty() {
        out.push_str("<p class=\"empty\">No shared tickets yet.</p></section>");
        return;
    }
    table_head(
        out,
        &[
            "id",
            "agreement",
            "source",
            "mirror",
            "direction",
            "state",
            "last sync",
            "lag",
            "error",
        ],
    );
    for l in rows.into_iter().take(MAX_ROWS) {
        let (last, lag) = match l.last_synced_at {
            // An orphaned link no longer syncs: its age since the last sync is no lag.
            Some(t) if l.state == LinkState::Orphaned => (escape(&time(t)), "–".to_owned()),
            Some(t) => (escape(&time(t)), escape(&ago(v.now, t))),
            None => (
                "<span class=\"muted\">never</span>".to_owned(),
                "–".to_owned(),
            ),
        };
        let _ = write!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"t\">{last}</td><td class=\"num\">{lag}</td><td class=\"err\">{}</td></tr>",
            l.id,
            escape(&l.agreement),
            ticket(&l.source_account, Some(l.source_ticket)),
            ticket(&l.target_account, l.target_ticket),
            escape(l.direction.as_str()),
            link_state_badge(l.state),
            escape(l.error.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn orphans(out: &mut String, v: &StatusView) {
    let mut rows: Vec<&Orphan> = v.orphans.iter().collect();
    rows.sort_by_key(|o| std::cmp::Reverse(o.since));
    let note = if rows.len() > MAX_ROWS {
        format!(
            "{} of {}; `sharebridge orphans list` shows all",
            MAX_ROWS,
            rows.len()
        )
    } else {
        "mirrors kept after their link ended".to_owned()
    };
    section(out, "Orphans", &note);
    if rows.is_empty() {
        out.push_str("<p class=\"empty\">No orphaned mirrors.</p></section>");
        return;
    }
    table_head(
        out,
        &["link", "mirror", "source", "reason", "since", "detail"],
    );
    for o in rows.into_iter().take(MAX_ROWS) {
        let _ = write!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"t\">{} <span class=\"muted\">({} ago)</span></td><td class=\"muted\">{}</td></tr>",
            o.link,
            ticket(&o.target_account, o.target_ticket),
            ticket(&o.source_account, Some(o.source_ticket)),
            badge("off", &o.reason),
            escape(&time(o.since)),
            escape(&ago(v.now, o.since)),
            escape(&o.detail),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn budgets(out: &mut String, v: &StatusView) {
    section(
        out,
        "Request budget",
        "per account, this minute (requests_per_minute)",
    );
    if v.accounts.is_empty() {
        out.push_str("<p class=\"empty\">No accounts.</p></section>");
        return;
    }
    table_head(
        out,
        &["account", "remaining / budget", "paused", "429s seen"],
    );
    for a in &v.accounts {
        let pct = if a.budget == 0 {
            0
        } else {
            (u64::from(a.remaining) * 100 / u64::from(a.budget)).min(100)
        };
        let paused = match a.paused_secs {
            Some(s) => badge("warn", &format!("paused {}", span(s as i64))),
            None => "<span class=\"muted\">no</span>".to_owned(),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"num\"><span class=\"bar\"><i style=\"width:{pct}%\"></i></span>{} / {}</td><td>{paused}</td><td class=\"num\">{}</td></tr>",
            escape(&a.name),
            a.remaining,
            a.budget,
            a.throttled_total,
        );
    }
    out.push_str("</tbody></table></section>");
}

fn audit(out: &mut String, v: &StatusView) {
    section(
        out,
        "Recent audit",
        &format!("last {AUDIT_ENTRIES}, newest first; `sharebridge audit` shows all"),
    );
    if v.audit.is_empty() {
        out.push_str("<p class=\"empty\">Nothing audited yet.</p></section>");
        return;
    }
    table_head(out, &["at", "kind", "subject", "detail"]);
    for e in v.audit.iter().take(AUDIT_ENTRIES) {
        let kind = serde_json::to_value(e.kind)
            .ok()
            .and_then(|k| k.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<tr><td class=\"t\">{}</td><td>{}</td><td class=\"t\">{}</td><td>{}</td></tr>",
            escape(&time(e.at)),
            badge("off", &kind),
            escape(&e.subject),
            escape(&e.detail),
        );
    }
    out.push_str("</tbody></table></section>");
}

/// Gathers the view from the engine and its store; a part that cannot be read is listed
/// in `problems` and the rest is still shown.
pub fn gather(engine: &Engine) -> StatusView {
    let mut problems = Vec::new();
    let store = engine.store();
    fn read<T>(
        problems: &mut Vec<String>,
        what: &str,
        r: Result<Vec<T>, crate::store::StoreError>,
    ) -> Vec<T> {
        r.unwrap_or_else(|e| {
            problems.push(format!("{what}: {e}"));
            Vec::new()
        })
    }
    let links = read(&mut problems, "links", store.links());
    let orphans = read(&mut problems, "orphans", store.orphans());
    let audit = read(
        &mut problems,
        "audit log",
        store.audit_latest(AUDIT_ENTRIES),
    );
    let accounts = engine
        .rate_budgets()
        .into_iter()
        .map(|(name, g)| AccountBudget {
            name,
            remaining: g.remaining,
            budget: g.budget,
            paused_secs: g.paused_for.map(|d| d.as_secs().max(1)),
            throttled_total: g.throttled_total,
        })
        .collect();
    StatusView {
        now: crate::clock::now(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        backlog: engine.backlog(),
        agreements: agreement_views(engine),
        links,
        orphans,
        audit,
        accounts,
        workers: engine.account_views(),
        problems,
        leader: None,
    }
}

/// Headers every answer of this module carries: HTML, not cached, nothing external.
fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// The admin token; `None` (no token configured) lets nobody in.
fn admin_token(state: &ServerState) -> Option<String> {
    state
        .config
        .borrow()
        .daemon
        .admin_token
        .as_ref()
        .map(|t| t.expose_secret().to_owned())
}

/// Whether `presented` is the configured admin token (never true without one).
fn is_admin(state: &ServerState, presented: &str) -> bool {
    admin_token(state).is_some_and(|expected| token_matches(&expected, presented))
}

/// `GET /`: the page for a caller holding the admin token; otherwise the login form
/// (200 with no token, 401 with a wrong one).
pub async fn page(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    match presented_token(&headers) {
        None => return html(StatusCode::OK, render_login(None)),
        Some(t) if !is_admin(&state, &t) => {
            return html(
                StatusCode::UNAUTHORIZED,
                render_login(Some(
                    "The admin token presented is not this daemon's. Sign in again.",
                )),
            );
        }
        Some(_) => {}
    }
    let engine = state.engine();
    let cluster = state.cluster.clone();
    if engine.is_none() && cluster.is_none() {
        return html(
            StatusCode::SERVICE_UNAVAILABLE,
            "<!doctype html><title>sharebridge</title><p>The engine is not running.</p>".into(),
        );
    }
    // Store reads are blocking I/O: off the async workers.
    let gathered = tokio::task::spawn_blocking(move || match (engine, cluster) {
        (Some(engine), cluster) => StatusView {
            leader: cluster.map(|c| c.leader_view()),
            ..gather(&engine)
        },
        // A follower: what the shared store says.
        (None, Some(cluster)) => super::cluster::follower_gather(&cluster),
        (None, None) => unreachable!("checked above"),
    });
    match gathered.await {
        Ok(view) => html(StatusCode::OK, render(&view)),
        Err(e) => html(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "<!doctype html><title>sharebridge</title><p>The status page failed: {}</p>",
                escape(&e.to_string())
            ),
        ),
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

/// Whether `s` can be a cookie value as sent (RFC 6265 cookie-octets).
fn cookie_safe(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E))
}

/// `POST /login` (form field `token`): the right token sets the session cookie and
/// redirects to `/`; a wrong one shows the form again, 401.
pub async fn login(State(state): State<Arc<ServerState>>, Form(form): Form<LoginForm>) -> Response {
    let token = form.token.trim();
    if !is_admin(&state, token) {
        return html(
            StatusCode::UNAUTHORIZED,
            render_login(Some("Wrong admin token.")),
        );
    }
    if !cookie_safe(token) {
        return html(
            StatusCode::BAD_REQUEST,
            render_login(Some(
                "This admin token has characters a cookie cannot hold (spaces, quotes, commas, semicolons or backslashes); send it as an Authorization: Bearer header instead, or choose a token without them.",
            )),
        );
    }
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    match HeaderValue::from_str(&cookie) {
        Ok(v) => {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        Err(_) => {
            return html(
                StatusCode::BAD_REQUEST,
                render_login(Some("Cannot set the cookie.")),
            );
        }
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `POST /logout`: forgets the cookie and shows the form.
pub async fn logout() -> Response {
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "sharebridge_admin=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::Direction;
    use crate::store::AuditKind;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn view() -> StatusView {
        let now = at("2026-11-25T12:00:00Z");
        StatusView {
            now,
            version: "0.1.0".into(),
            backlog: 2,
            agreements: vec![AgreementView {
                name: "acme-to-vendor".into(),
                from: "acme".into(),
                to: "vendor".into(),
                state: AgreementState::Accepted,
                since: at("2026-11-25T11:00:00Z"),
                paired: true,
                direction: "two-way".into(),
                cause: "accepted per config <vendor.toml>".into(),
            }],
            links: vec![
                Link {
                    id: 7,
                    agreement: "acme-to-vendor".into(),
                    source_account: "acme".into(),
                    source_ticket: 101,
                    target_account: "vendor".into(),
                    target_ticket: Some(202),
                    direction: Direction::TwoWay,
                    state: LinkState::Active,
                    error: None,
                    created_at: now,
                    updated_at: now,
                    last_synced_at: Some(at("2026-11-25T11:59:30Z")),
                    idempotency_key: "k".into(),
                },
                Link {
                    id: 8,
                    agreement: "acme-to-vendor".into(),
                    source_account: "acme".into(),
                    source_ticket: 103,
                    target_account: "vendor".into(),
                    target_ticket: None,
                    direction: Direction::OneWay,
                    state: LinkState::Error,
                    error: Some("HTTP 422 <script>alert(1)</script>".into()),
                    created_at: now,
                    updated_at: now,
                    last_synced_at: None,
                    idempotency_key: "k2".into(),
                },
            ],
            orphans: vec![Orphan {
                link: 5,
                source_account: "acme".into(),
                source_ticket: 99,
                target_account: "vendor".into(),
                target_ticket: Some(198),
                reason: "unshared".into(),
                since: at("2026-11-25T10:00:00Z"),
                detail: "the ticket was unshared by ops & co".into(),
                note_owed: false,
            }],
            audit: vec![AuditEntry {
                seq: 1,
                at: now,
                kind: AuditKind::Share,
                subject: "link 7".into(),
                detail: "shared acme#101 \"quoted\"".into(),
            }],
            accounts: vec![AccountBudget {
                name: "acme".into(),
                remaining: 350,
                budget: 700,
                paused_secs: Some(12),
                throttled_total: 3,
            }],
            workers: vec![],
            problems: vec![],
            leader: None,
        }
    }

    #[test]
    fn page_shows_every_part() {
        let html = render(&view());
        for want in [
            "acme-to-vendor",
            "acme → vendor",
            ">accepted<",
            "two-way",
            "acme#101",
            "vendor#202",
            ">active<",
            ">error<",
            "30 s",
            "never",
            "vendor#198",
            ">unshared<",
            "2 h ago",
            "350 / 700",
            "paused 12 s",
            "link 7",
            "1/1",
        ] {
            assert!(html.contains(want), "missing {want:?} in\n{html}");
        }
        // Errors are listed before active links.
        assert!(html.find("acme#103").unwrap() < html.find("acme#101").unwrap());
    }

    #[test]
    fn everything_is_escaped_and_nothing_external() {
        let html = render(&view());
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;vendor.toml&gt;"));
        assert!(html.contains("ops &amp; co"));
        assert!(html.contains("&quot;quoted&quot;"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(!html.contains("<script") && !html.contains("<link"));
    }

    #[test]
    fn an_orphaned_link_shows_no_lag() {
        let mut v = view();
        v.links[0].state = LinkState::Orphaned;
        let html = render(&v);
        assert!(html.contains(">orphaned<"));
        assert!(!html.contains("30 s"), "{html}");
    }

    #[test]
    fn empty_view_says_so() {
        let mut v = view();
        v.agreements.clear();
        v.links.clear();
        v.orphans.clear();
        v.audit.clear();
        v.accounts.clear();
        v.problems = vec!["links: table <x> unreadable".into()];
        let html = render(&v);
        assert!(html.contains("No shared tickets yet."));
        assert!(html.contains("No orphaned mirrors."));
        assert!(html.contains("table &lt;x&gt; unreadable"));
    }

    #[test]
    fn login_form_posts_the_token_and_escapes_the_error() {
        let html = render_login(Some("bad <token>"));
        assert!(html.contains("action=\"/login\""));
        assert!(html.contains("method=\"post\""));
        assert!(html.contains("name=\"token\""));
        assert!(html.contains("bad &lt;token&gt;"));
        assert!(!render_login(None).contains("class=\"error\""));
    }

    #[test]
    fn spans_and_cookie_values() {
        assert_eq!(span(-3), "0 s");
        assert_eq!(span(59), "59 s");
        assert_eq!(span(61), "1 min");
        assert_eq!(span(7200), "2 h");
        assert_eq!(span(200_000), "2 d");
        assert!(cookie_safe("demo-admin-token"));
        assert!(!cookie_safe("a b"));
        assert!(!cookie_safe("a;b"));
        assert!(!cookie_safe(""));
    }
}
