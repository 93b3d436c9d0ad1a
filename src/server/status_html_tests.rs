//! Tests of the status page's templates: every part shown, every value escaped.

use super::*;
use crate::link::Direction;
use crate::preview::cache::Snapshot;
use crate::server::api::AgreementView;
use crate::server::status::AccountBudget;
use crate::store::AuditKind;
use crate::store::{AuditEntry, Link};

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
                mismatches: vec![crate::system::Mismatch {
                    kind: crate::system::MismatchKind::UnmappedValue,
                    flow: crate::link::Flow::SourceToTarget,
                    sender_id: 360001,
                    receiver_id: Some(900002),
                }],
                untagged_share: false,
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
                mismatches: Vec::new(),
                untagged_share: false,
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
        visibility: Snapshot {
            refreshed_at: Some(at("2026-11-25T11:58:00Z")),
            agreements: [(
                "acme-to-vendor".to_owned(),
                Cell::Seen {
                    seen_by: 0,
                    warning: Some(
                        "no agent but admins can see mirrors of acme-to-vendor: brand 7 <b>".into(),
                    ),
                },
            )]
            .into(),
            links: [(
                7,
                Cell::Seen {
                    seen_by: 3,
                    warning: None,
                },
            )]
            .into(),
            problems: vec![],
        },
        visibility_reading: false,
    }
}

/// Every string a person or Zendesk can set, made hostile: each comes out escaped and
/// the page holds no element but its own.
#[test]
fn a_script_in_any_value_is_escaped() {
    use crate::engine::workers::{AccountView, WorkerState, WorkerStatus};
    const EVIL: &str = "<script>alert(1)</script>\"'&";
    let evil = |what: &str| format!("{what} {EVIL}");
    let mut v = view();
    v.version = evil("version");
    let a = &mut v.agreements[0];
    a.name = evil("agreement");
    a.from = evil("from");
    a.to = evil("to");
    a.direction = evil("direction");
    a.cause = evil("cause");
    for l in &mut v.links {
        l.agreement = evil("link agreement");
        l.source_account = evil("source");
        l.target_account = evil("target");
        l.error = Some(evil("error"));
    }
    let o = &mut v.orphans[0];
    o.reason = evil("reason");
    o.detail = evil("detail");
    o.source_account = evil("orphan source");
    v.audit[0].subject = evil("subject");
    v.audit[0].detail = evil("audit detail");
    v.accounts[0].name = evil("budget account");
    v.problems = vec![evil("problem")];
    let status = WorkerStatus {
        state: WorkerState::Failing,
        since: None,
        last_success: None,
        last_error: Some(evil("worker error")),
        last_error_at: Some(v.now),
    };
    v.workers = vec![AccountView {
        account: evil("worker account"),
        subdomain: "acme".into(),
        auth: status.clone(),
        token_expires_at: None,
        webhook: status.clone(),
        poller: status,
        export_position: Some(evil("position")),
        fix: Some(evil("fix")),
    }];
    v.visibility.agreements = [(
        v.agreements[0].name.clone(),
        Cell::Seen {
            seen_by: 0,
            warning: Some(evil("warning")),
        },
    )]
    .into();
    let html = render(&v);
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("alert(1)</"), "{html}");
    for what in [
        "version",
        "agreement",
        "from",
        "cause",
        "link agreement",
        "source",
        "error",
        "reason",
        "detail",
        "orphan source",
        "subject",
        "audit detail",
        "budget account",
        "problem",
        "worker error",
        "worker account",
        "position",
        "fix",
        "warning",
    ] {
        let want = format!("{what} &lt;script&gt;alert(1)&lt;/script&gt;&quot;'&amp;");
        assert!(html.contains(&want), "{want:?} not in\n{html}");
    }
    // No attribute is left open by a quote in a value.
    assert!(!html.contains("\"'&\""), "{html}");
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
        "mismatch: source-to-target unmapped_value field 360001 -&gt; 900002",
        "seen by 3 people",
        "seen by 0 people",
        "no agent but admins can see mirrors of acme-to-vendor",
        "visibility as of 2 min ago",
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
    assert!(html.contains("brand 7 &lt;b&gt;") && !html.contains("<b>"));
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("<script") && !html.contains("<link"));
}

#[test]
fn the_leader_section_says_who_leads_and_the_last_handover() {
    use crate::store::LeaderRecord;
    let mut v = view();
    assert!(
        !render(&v).contains(">Leader<"),
        "no section on one store file"
    );
    let record = LeaderRecord {
        holder: Some("db1 (127.0.0.1:9464) <b>".into()),
        epoch: 4,
        since: Some(at("2026-11-25T11:00:00Z")),
        expires_at: None,
        live: true,
        handovers: 2,
        last_handover: Some(at("2026-11-25T11:00:00Z")),
        last_gap_ms: Some(2500),
        previous: Some("db2 (127.0.0.1:9465)".into()),
    };
    v.leader = Some(LeaderView {
        this: "db2 (127.0.0.1:9465)".into(),
        leading: false,
        record: Some(record.clone()),
    });
    let html = render(&v);
    for want in [
        ">Leader<",
        "db1 (127.0.0.1:9464) &lt;b&gt;</strong> leads since 2026-11-25 11:00:00 UTC (1 h ago), lease epoch 4.",
        "This daemon (db2 (127.0.0.1:9465)) follows",
        "Last handover 2026-11-25 11:00:00 UTC (1 h ago) from db2 (127.0.0.1:9465), 2.5 s after its last renewal; 2 handovers in all.",
    ] {
        assert!(html.contains(want), "{want:?} not in\n{html}");
    }
    v.leader = Some(LeaderView {
        this: "db1".into(),
        leading: true,
        record: Some(LeaderRecord {
            live: false,
            last_handover: None,
            ..record
        }),
    });
    let html = render(&v);
    assert!(html.contains("No daemon leads right now"), "{html}");
    assert!(html.contains("No handover yet."), "{html}");
    assert!(!html.contains("follows"), "{html}");
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
fn spans() {
    assert_eq!(span(-3), "0 s");
    assert_eq!(span(59), "59 s");
    assert_eq!(span(61), "1 min");
    assert_eq!(span(7200), "2 h");
    assert_eq!(span(200_000), "2 d");
}
