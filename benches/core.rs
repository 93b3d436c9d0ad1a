//! Micro-benchmarks of the pure core (no I/O): the planner, coalescing, the tag filter and
//! agreement derivation. `cargo bench --bench core`; not part of CI. See BENCHMARKS.md.

use std::collections::BTreeMap;

use divan::{Bencher, black_box};
use jiff::Timestamp;
use sharebridge::agreement::{self, Consent, Offer, State, Stored};
use sharebridge::coalesce::{self, Part};
use sharebridge::config::{AgreementConfig, LoadOptions, load_with};
use sharebridge::plan::{self, Baseline, CommentNow, SideNow};
use sharebridge::rules::TagFilter;
use sharebridge::zendesk::models::{CustomField, Status};

fn main() {
    divan::main();
}

/// A realistic agreement: excluded tag globs, a status map, two field maps.
fn agreement() -> AgreementConfig {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sharebridge.toml");
    std::fs::write(
        &path,
        r#"
[daemon]
state_dir = "state"
admin_token = "admin"

[accounts.acme]
subdomain = "acme"
email = "bridge@acme.example"
token = "t"
accept_from = ["vendor"]

[accounts.vendor]
subdomain = "vendor"
email = "bridge@vendor.example"
token = "t"
accept_from = ["acme"]

[[agreements]]
name = "acme-to-vendor"
from = "acme"
to = "vendor"
auto_share_tags = ["vendor_escalation"]
[agreements.comments]
private = false
[agreements.status]
map = { hold = "open", pending = "open" }
[agreements.tags]
exclude = ["internal_*", "secret_*", "vip", "*_draft"]
[[agreements.fields]]
from = 360001
to = 900002
values = { "tier_gold" = "gold", "tier_silver" = "silver" }
[[agreements.fields]]
from = 360002
to = 900003
"#,
    )
    .unwrap();
    let loaded = load_with(&path, &LoadOptions::default()).unwrap();
    loaded.config.agreements[0].clone()
}

fn comments(n: usize) -> Vec<CommentNow> {
    let at: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
    (0..n)
        .map(|i| CommentNow {
            id: 1_000 + i as u64,
            // Every fifth is private (held back), every seventh the bridge's own.
            public: i % 5 != 4,
            author: format!("Agent {}", i % 3),
            author_is_bridge: i % 7 == 6,
            written_by_bridge: i % 7 == 6,
            created_at: at,
            body: format!("Comment {i}: the printer is still on fire, see log line {i}."),
        })
        .collect()
}

#[divan::bench(args = [1, 10, 100])]
fn plan(bencher: Bencher, n: usize) {
    let rules = agreement();
    let baseline = Baseline {
        status: Some(Status::Open),
        tags: ["billing", "vendor_escalation"]
            .iter()
            .map(|t| t.to_string())
            .collect(),
        ..Baseline::default()
    };
    let now = SideNow {
        status: Status::Hold,
        tags: ["billing", "vendor_escalation", "internal_x", "urgent"]
            .iter()
            .map(|t| t.to_string())
            .collect(),
        custom_fields: vec![
            CustomField {
                id: 360001,
                value: "tier_gold".into(),
            },
            CustomField {
                id: 360002,
                value: 42.into(),
            },
        ],
        system: Default::default(),
    };
    let comments = comments(n);
    bencher.bench_local(|| {
        plan::plan(
            black_box(&rules),
            "acme",
            black_box(&baseline),
            black_box(&now),
            black_box(&comments),
        )
    });
}

#[divan::bench(args = [1, 10, 100])]
fn coalesce(bencher: Bencher, n: usize) {
    let parts: Vec<Part> = (0..n)
        .map(|i| Part {
            source_comment_id: i as u64,
            author: format!("Agent {}", i % 3),
            account: "acme".into(),
            public: i % 10 != 9,
            body: format!("Comment {i}: the printer is still on fire."),
        })
        .collect();
    bencher.bench_local(|| coalesce::coalesce(black_box(&parts), true));
}

#[divan::bench]
fn tag_filter_new(bencher: Bencher) {
    let rules = agreement();
    bencher.bench_local(|| TagFilter::new(black_box(&rules)));
}

#[divan::bench(args = [10, 100])]
fn tag_filter(bencher: Bencher, n: usize) {
    let filter = TagFilter::new(&agreement());
    let tags: Vec<String> = (0..n)
        .map(|i| match i % 4 {
            0 => format!("internal_{i}"),
            1 => format!("topic_{i}"),
            2 => format!("note_{i}_draft"),
            _ => format!("customer_{i}"),
        })
        .collect();
    bencher.bench_local(|| filter.filter(black_box(&tags)));
}

#[divan::bench(args = [10, 1000])]
fn agreement_derive(bencher: Bencher, n: usize) {
    let accounts = 8;
    let offers: Vec<Offer> = (0..n)
        .map(|i| Offer {
            name: format!("a{i}"),
            from: format!("acct{}", i % accounts),
            to: format!("acct{}", (i + 1) % accounts),
            enabled: i % 11 != 10,
            consent: match i % 3 {
                0 => Consent::Accepted,
                1 => Consent::Declined,
                _ => Consent::Unanswered,
            },
            offer_file: "sharebridge.toml".into(),
            consent_file: "conf.d/partner.toml".into(),
        })
        .collect();
    let since: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
    let stored: BTreeMap<String, Stored> = offers
        .iter()
        .filter(|o| o.name.len() % 2 == 0)
        .map(|o| {
            (
                o.name.clone(),
                Stored {
                    name: o.name.clone(),
                    from: o.from.clone(),
                    to: o.to.clone(),
                    state: State::Pending,
                    since,
                    inactive_by: None,
                },
            )
        })
        .collect();
    let now: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
    bencher.bench_local(|| agreement::derive(black_box(&offers), black_box(&stored), now));
}
