//! Fuzz smoke, on the stable toolchain: random and mutated input thrown at everything that
//! comes from outside. Each entry point must answer (accept or refuse) and never panic:
//! - the configuration loader (`config::load_with`): random TOML-ish text, mutations of
//!   `config/example.toml` and `config/demo.toml`, random `conf.d/` files, secret files and
//!   environment overrides; a refusal names at least one error, every problem a reason;
//! - webhooks (`server::webhook::verify`, `ticket_id`): random bodies, headers, secrets,
//!   timestamps, correctly signed or not; and the endpoint itself over loopback, with raw
//!   header bytes, odd paths and bodies over the limit;
//! - Zendesk's JSON (every type in `zendesk::models`): random JSON values, mutated
//!   real-looking documents and raw bytes; what decodes re-encodes to the same value;
//! - the client's error handling (`classify`, `parse_retry_after`) and what follows it (the
//!   rate gate's pause, the retry delay); and the client itself against a hostile Zendesk
//!   on loopback answering any status, headers and body, OAuth token answers included.
//!
//! Cases per property: `SHAREBRIDGE_FUZZ_CASES` (else `PROPTEST_CASES`, else a small
//! default so CI stays near ten seconds). The seed is fixed unless `PROPTEST_RNG_SEED` is
//! set; a failure prints the minimal input. Long sessions: see docs/fuzzing.md.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, FileFailurePersistence, RngSeed};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use sharebridge::config::{LoadOptions, Severity, load_with};
use sharebridge::engine::hints::Hints;
use sharebridge::metrics::Metrics;
use sharebridge::server::webhook::{self, MAX_SKEW, Rejection};
use sharebridge::server::{Readiness, ServerState, serve};
use sharebridge::zendesk::client::error::{ErrorKind, classify, parse_retry_after};
use sharebridge::zendesk::client::gate::{EndpointLimits, GateState};
use sharebridge::zendesk::client::incremental::ExportStart;
use sharebridge::zendesk::client::retry::{RetrySettings, next_delay};
use sharebridge::zendesk::client::{
    Auth, ClientSettings, MemoryTokenStore, RequestContext, ZendeskClient, ZendeskError,
};
use sharebridge::zendesk::models::*;
use sharebridge::zendesk::signature;

/// `cases` scaled by `SHAREBRIDGE_FUZZ_CASES` (the number of cases of the property with
/// weight 1), else `PROPTEST_CASES`, else the default.
fn config(weight: u32, default: u32) -> PtConfig {
    let mut c = PtConfig::default();
    let from_env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u32>().ok());
    c.cases = from_env("SHAREBRIDGE_FUZZ_CASES")
        .or_else(|| from_env("PROPTEST_CASES"))
        .map(|n| n.saturating_mul(weight))
        .unwrap_or(default);
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = RngSeed::Fixed(0xf0_22_5e_ed);
    }
    c.max_shrink_iters = 4_000;
    c.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(
        "proptest-regressions/fuzz_smoke.txt",
    )));
    c
}

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

const EXAMPLE: &str = include_str!("../config/example.toml");
const DEMO: &str = include_str!("../config/demo.toml");

/// Lines that hit the loader's and validator's corners.
const CONFIG_SNIPPETS: &[&str] = &[
    "[daemon]",
    "[accounts]",
    "[accounts.acme]",
    "[accounts.\"we ird\"]",
    "[accounts.vendor.oauth]",
    "[[agreements]]",
    "[agreements]",
    "[agreements.comments]",
    "[agreements.status]",
    "[[agreements.fields]]",
    "[daemon.extra]",
    "daemon = 1",
    "accounts = \"x\"",
    "agreements = { a = 1 }",
    "agreements = [1, 2]",
    "acme = 1",
    "zzz = true",
    "key = = 1",
    "\"unterminated = 1",
    "listen = \"[::1]:99999\"",
    "listen = \"0.0.0.0:0\"",
    "poll_interval = \"-5s\"",
    "poll_interval = \"0s\"",
    "poll_interval = \"9999999999999h\"",
    "poll_interval = 30",
    "reconcile_interval = \"PT1S\"",
    "coalesce_window = \"1ns\"",
    "log_level = \"=[\"",
    "log_level = \"info,sharebridge=trace\"",
    "log_format = \"xml\"",
    "state_dir = \"\"",
    "admin_token = \"\"",
    "admin_token = \"  \"",
    "admin_token_file = \"conf.d\"",
    "admin_token_file = \"secret.txt\"",
    "admin_token_file = \"/nonexistent/x\"",
    "token = \"t\"",
    "token_file = \"secret.txt\"",
    "token_file = \"empty.txt\"",
    "token_file = \"\"",
    "token_file = \"/\"",
    "webhook_secret = \"w\"",
    "webhook_secret_file = \"binary.bin\"",
    "email = \"nobody\"",
    "email = \"a@b\"",
    "subdomain = \"-bad-\"",
    "subdomain = \"\"",
    "subdomain = \"vendor\"",
    "base_url = \"http://\"",
    "base_url = \"ftp://x\"",
    "base_url = \"http://[::1]:8080/\"",
    "requests_per_minute = 0",
    "requests_per_minute = -1",
    "requests_per_minute = 99999999999",
    "requests_per_minute = 1.5",
    "accept_from = [\"acme\", \"acme\"]",
    "accept_from = [\"nobody\"]",
    "decline_from = [\"vendor\"]",
    "accept_from = \"vendor\"",
    "oauth = { client_id = \"\" }",
    "oauth = { client_id = \"c\", client_secret = \"s\", refresh_token_file = \"secret.txt\" }",
    "oauth = 5",
    "oauth = { client_id = \"c\", client_secret = \"s\" }",
    "oauth = { client_id = \"c\", client_secret = \"s\", grant = \"client_credentials\" }",
    "oauth = { client_id = \"c\", client_secret = \"s\", grant = \"nope\" }",
    "public_url = \"https://bridge.example.com/\"",
    "public_url = \"not a url\"",
    "store_key = \"0123456789abcdef\"",
    "store_key = \"short\"",
    "name = \"acme-to-vendor\"",
    "name = \"has space\"",
    "name = \"\"",
    "from = \"acme\"",
    "to = \"acme\"",
    "to = \"nobody\"",
    "from = 0",
    "to = -3",
    "enabled = \"yes\"",
    "auto_share_tags = [\"two words\", \"\"]",
    "brands = [-1, 1.5]",
    "target = { brand_id = -1 }",
    "map = { deleted = \"open\" }",
    "map = { hold = \"reopened\" }",
    "map = { hold = 1 }",
    "exclude = [\"[\", \"{a,\"]",
    "fields = [ { from = 1 }, { from = 1, to = 2 }, { from = 1, to = 3 }, { from = 0, to = 0 } ]",
    "values = { \"a\" = 1 }",
    "max_bytes = 0",
    "max_bytes = -1",
    "sync = \"true\"",
    "x = 1979-05-27T07:32:00Z",
    "x = inf",
    "x = nan",
    "x = 0x7fffffffffffffff",
    "x = [[]]",
    "'' = 1",
    "\"\" = 1",
    "a.b.c = 1",
    "",
];

fn snippet() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(CONFIG_SNIPPETS).prop_map(String::from),
        1 => "\\PC{0,40}",
        1 => "[a-z_\\.\\[\\]]{1,20} = [\"0-9a-z\\[\\]{},\\. =-]{0,20}",
    ]
}

/// One edit of a configuration text, by line.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Insert(usize, String),
    ReplaceValue(usize, String),
    ReplaceLine(usize, String),
    Truncate(usize),
    Byte(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<prop::sample::Index>();
    prop_oneof![
        2 => at.clone().prop_map(|i| Edit::Delete(i.index(usize::MAX))),
        1 => at.clone().prop_map(|i| Edit::Duplicate(i.index(usize::MAX))),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        3 => (any::<usize>(), snippet()).prop_map(|(a, s)| Edit::Insert(a, s)),
        3 => (any::<usize>(), snippet()).prop_map(|(a, s)| Edit::ReplaceValue(a, s)),
        1 => (any::<usize>(), snippet()).prop_map(|(a, s)| Edit::ReplaceLine(a, s)),
        1 => any::<usize>().prop_map(Edit::Truncate),
        1 => (any::<usize>(), prop_oneof![9 => 0x20u8..0x7f, 1 => any::<u8>()])
            .prop_map(|(a, b)| Edit::Byte(a, b)),
    ]
}

fn apply_edits(text: &str, edits: &[Edit]) -> Vec<u8> {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut bytes_edits = Vec::new();
    for e in edits {
        let n = lines.len().max(1);
        match e {
            Edit::Delete(i) if !lines.is_empty() => {
                lines.remove(i % n);
            }
            Edit::Duplicate(i) if !lines.is_empty() => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Edit::Swap(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            Edit::Insert(i, s) => lines.insert(i % (lines.len() + 1), s.clone()),
            Edit::ReplaceValue(i, s) if !lines.is_empty() => {
                let l = &mut lines[i % n];
                let value = s.split_once(" = ").map_or(s.as_str(), |(_, v)| v);
                match l.split_once('=') {
                    Some((k, _)) => *l = format!("{k}= {value}"),
                    None => *l = s.clone(),
                }
            }
            Edit::ReplaceLine(i, s) if !lines.is_empty() => lines[i % n] = s.clone(),
            Edit::Truncate(i) => lines.truncate(i % (lines.len() + 1)),
            Edit::Byte(i, b) => bytes_edits.push((*i, *b)),
            _ => {}
        }
    }
    let mut out = lines.join("\n").into_bytes();
    for (i, b) in bytes_edits {
        if !out.is_empty() {
            let n = out.len();
            out[i % n] = b;
        }
    }
    out
}

/// Where a fuzzed configuration's text comes from.
#[derive(Debug, Clone)]
enum Source {
    Example(Vec<Edit>),
    Demo(Vec<Edit>),
    Snippets(Vec<String>),
    Bytes(Vec<u8>),
}

impl Source {
    fn render(&self) -> Vec<u8> {
        match self {
            Source::Example(e) => apply_edits(EXAMPLE, e),
            Source::Demo(e) => apply_edits(DEMO, e),
            Source::Snippets(lines) => lines.join("\n").into_bytes(),
            Source::Bytes(b) => b.clone(),
        }
    }
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        3 => prop::collection::vec(edit(), 0..6).prop_map(Source::Example),
        4 => prop::collection::vec(edit(), 0..6).prop_map(Source::Demo),
        2 => prop::collection::vec(snippet(), 0..25).prop_map(Source::Snippets),
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Source::Bytes),
    ]
}

const ENV_KEYS: &[&str] = &[
    "SHAREBRIDGE_DAEMON__LISTEN",
    "SHAREBRIDGE_DAEMON__POLL_INTERVAL",
    "SHAREBRIDGE_DAEMON__ADMIN_TOKEN",
    "SHAREBRIDGE_DAEMON__UNKNOWN",
    "SHAREBRIDGE_DAEMON__",
    "SHAREBRIDGE_ACCOUNTS__ACME__REQUESTS_PER_MINUTE",
    "SHAREBRIDGE_ACCOUNTS__ACME__TOKEN_FILE",
    "SHAREBRIDGE_ACCOUNTS__NEWONE__SUBDOMAIN",
    "SHAREBRIDGE_ACCOUNTS__VENDOR__ACCEPT_FROM",
    "SHAREBRIDGE_AGREEMENTS__0__NAME",
    "SHAREBRIDGE_AGREEMENTS",
    "SHAREBRIDGE___",
    "SHAREBRIDGE_____",
    "SHAREBRIDGE_A__B__C__D",
    "SHAREBRIDGE_CONFIG",
    "CREDENTIALS_DIRECTORY",
    "STATE_DIRECTORY",
];

fn env() -> impl Strategy<Value = BTreeMap<String, String>> {
    let value = prop_oneof![
        Just("".to_owned()),
        Just("CREDS".to_owned()),
        Just("127.0.0.1:1".to_owned()),
        Just("5s".to_owned()),
        Just("-1".to_owned()),
        Just("99999999999".to_owned()),
        Just("[1, 2]".to_owned()),
        Just("acme".to_owned()),
        "\\PC{0,16}",
    ];
    prop_oneof![
        3 => Just(BTreeMap::new()),
        2 => prop::collection::btree_map(prop::sample::select(ENV_KEYS).prop_map(String::from), value, 1..4),
    ]
}

/// `config/demo.toml` split as its owners would keep it: the daemon in the main file,
/// each account with the agreement it offers in its own `conf.d/` file.
fn demo_parts() -> [String; 3] {
    let acme = DEMO.find("[accounts.acme]").expect("demo has acme");
    let vendor = DEMO.find("[accounts.vendor]").expect("demo has vendor");
    let first = DEMO.find("[[agreements]]").expect("demo has agreements");
    let second = first
        + 1
        + DEMO[first + 1..]
            .find("[[agreements]]")
            .expect("two agreements");
    [
        DEMO[..acme].to_owned(),
        format!("{}\n{}", &DEMO[acme..vendor], &DEMO[first..second]),
        format!("{}\n{}", &DEMO[vendor..first], &DEMO[second..]),
    ]
}

/// The example with its secret files beside it (so validation gets past them).
fn example_local() -> String {
    EXAMPLE.replace("/etc/sharebridge/", "")
}

/// How the configuration directory is laid out.
#[derive(Debug, Clone)]
enum Layout {
    /// One main file plus random `conf.d/` entries.
    Single(Source, Vec<(u8, Source)>),
    /// The example with local secret files, edited.
    Example(Vec<Edit>),
    /// The demo split over main file and `conf.d/`, each part edited.
    Split([Vec<Edit>; 3]),
}

/// A configuration directory: the main file, `conf.d/*`, and some secret files.
#[derive(Debug, Clone)]
struct ConfigCase {
    layout: Layout,
    env: BTreeMap<String, String>,
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(edit(), 0..4)
}

fn config_case() -> impl Strategy<Value = ConfigCase> {
    let layout = prop_oneof![
        2 => (source(), prop::collection::vec((0u8..4, source()), 0..3))
            .prop_map(|(m, c)| Layout::Single(m, c)),
        1 => edits().prop_map(Layout::Example),
        2 => [edits(), edits(), edits()].prop_map(Layout::Split),
    ];
    (layout, env()).prop_map(|(layout, env)| ConfigCase { layout, env })
}

fn run_config_case(case: &ConfigCase) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let main = root.join("sharebridge.toml");
    std::fs::write(root.join("secret.txt"), "s3cret\n").unwrap();
    std::fs::write(root.join("empty.txt"), "\n").unwrap();
    std::fs::write(root.join("binary.bin"), [0xff, 0xfe, 0x00]).unwrap();
    for name in ["admin.token", "acme.token", "vendor.token", "acme.webhook"] {
        let path = root.join(name);
        std::fs::write(&path, "s3cret").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
    let conf_d = root.join("conf.d");
    match &case.layout {
        Layout::Single(src, extra) => {
            std::fs::write(&main, src.render()).unwrap();
            if !extra.is_empty() {
                std::fs::create_dir(&conf_d).unwrap();
            }
            for (i, (kind, src)) in extra.iter().enumerate() {
                let name = format!("{i:02}-part.toml");
                match kind {
                    // A directory named like a file is skipped, a non-.toml file ignored.
                    0 => std::fs::create_dir(conf_d.join(&name)).unwrap(),
                    1 => std::fs::write(conf_d.join(format!("{i}.txt")), src.render()).unwrap(),
                    _ => std::fs::write(conf_d.join(&name), src.render()).unwrap(),
                }
            }
        }
        Layout::Example(edits) => {
            std::fs::write(&main, apply_edits(&example_local(), edits)).unwrap();
        }
        Layout::Split([daemon, acme, vendor]) => {
            let [d, a, v] = demo_parts();
            std::fs::write(&main, apply_edits(&d, daemon)).unwrap();
            std::fs::create_dir(&conf_d).unwrap();
            std::fs::write(conf_d.join("acme.toml"), apply_edits(&a, acme)).unwrap();
            std::fs::write(conf_d.join("vendor.toml"), apply_edits(&v, vendor)).unwrap();
        }
    }
    let env: BTreeMap<String, String> = case
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.replace("CREDS", &root.to_string_lossy())))
        .collect();
    check_load(&main, &LoadOptions { env })
}

fn check_load(main: &Path, opts: &LoadOptions) -> Result<(), TestCaseError> {
    match load_with(main, opts) {
        Ok(loaded) => {
            prop_assert!(!loaded.config.accounts.is_empty());
            for w in &loaded.warnings {
                prop_assert_eq!(w.severity, Severity::Warning);
                prop_assert!(
                    !w.reason.trim().is_empty(),
                    "warning without a reason: {:?}",
                    w
                );
            }
        }
        Err(e) => {
            prop_assert!(
                e.problems.iter().any(|p| p.severity == Severity::Error),
                "refused without an error: {:?}",
                e.problems
            );
            for p in &e.problems {
                prop_assert!(
                    !p.reason.trim().is_empty(),
                    "problem without a reason: {:?}",
                    p
                );
                prop_assert!(!p.file.trim().is_empty(), "problem without a file: {:?}", p);
            }
            let _ = e.to_string();
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------

const KEYS: &[&str] = &[
    "id",
    "url",
    "status",
    "created_at",
    "updated_at",
    "ticket",
    "tickets",
    "comments",
    "public",
    "body",
    "html_body",
    "plain_body",
    "author_id",
    "type",
    "via",
    "channel",
    "source",
    "tags",
    "custom_fields",
    "value",
    "end_of_stream",
    "after_cursor",
    "after_url",
    "meta",
    "has_more",
    "links",
    "next",
    "error",
    "description",
    "details",
    "ticket_events",
    "child_events",
    "event_type",
    "timestamp",
    "ticket_id",
    "detail",
    "token",
    "attachment",
    "attachments",
    "size",
    "name",
    "role",
    "email",
    "field_name",
    "previous_value",
    "count",
    "end_time",
    "custom_field_options",
    "subject",
    "brand_id",
];

const STRINGS: &[&str] = &[
    "",
    "open",
    "closed",
    "deleted",
    "Comment",
    "2026-11-23T05:29:05Z",
    "2026-11-23T05:29:05.123456789+02:00",
    "-9999-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "10000-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "12",
    "-1",
    "18446744073709551616",
    "1e400",
    "NaN",
    "\u{0}",
    "\u{feff}x",
    "é",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(String::from),
        1 => "[a-z_]{0,8}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just(0u64),
            Just(1),
            Just(u64::MAX),
            Just(i64::MAX as u64 + 1)
        ]
        .prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        prop::sample::select(STRINGS).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

const T: &str = "2026-11-23T05:29:05Z";

/// Real-looking answers, as Zendesk (and the simulator) send them.
fn samples() -> Vec<Value> {
    let ticket = json!({"id": 7, "url": "https://acme.zendesk.com/api/v2/tickets/7.json",
        "external_id": "sharebridge:acme:7", "subject": "Printer", "raw_subject": "Printer",
        "description": "It is on fire", "status": "open", "priority": "high", "type": "problem",
        "requester_id": 1, "submitter_id": 1, "assignee_id": null, "group_id": 5,
        "organization_id": null, "brand_id": 9, "collaborator_ids": [2], "follower_ids": [],
        "tags": ["vendor_escalation", "internal_x"],
        "custom_fields": [{"id": 360001, "value": "tier_gold"}, {"id": 2, "value": null}],
        "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": null}},
        "sharing_agreement_ids": [], "is_public": true, "has_incidents": false,
        "created_at": T, "updated_at": T});
    let attachment = json!({"id": 3, "file_name": "a.png", "content_url": "https://x/a.png",
        "content_type": "image/png", "size": 1234, "inline": false});
    let comment = json!({"id": 11, "type": "Comment", "author_id": 1, "body": "Hello",
        "html_body": "<p>Hello</p>", "plain_body": "Hello", "public": false,
        "attachments": [attachment.clone()], "via": {"channel": "api"}, "created_at": T,
        "metadata": {"system": {}}});
    let user = json!({"id": 1, "url": "u", "name": "Alice", "email": "a@acme.example",
        "role": "agent", "external_id": null, "active": true, "custom_role_id": 4,
        "created_at": T, "updated_at": T});
    let field = json!({"id": 360001, "url": "f", "type": "tagger", "title": "Tier",
        "active": true, "required": false,
        "custom_field_options": [{"id": 1, "name": "Gold", "value": "tier_gold"}],
        "created_at": T, "updated_at": T});
    let event = json!({"id": 1, "ticket_id": 7, "timestamp": 1_795_000_000i64,
        "created_at": T, "updater_id": 1, "via": "Web form", "event_type": "Audit",
        "child_events": [{"id": 2, "event_type": "Comment", "body": "b", "public": true,
        "author_id": 1}, {"id": 3, "event_type": "Change", "field_name": "status",
        "previous_value": "new", "value": "open"}]});
    vec![
        json!({"ticket": ticket.clone()}),
        json!({"tickets": [ticket.clone()], "meta": {"has_more": true,
            "after_cursor": "abc", "before_cursor": null},
            "links": {"next": "https://acme.zendesk.com/api/v2/tickets?page[after]=abc", "prev": null}}),
        json!({"tickets": [ticket.clone()], "after_url": "u", "after_cursor": "c",
            "before_url": null, "before_cursor": null, "end_of_stream": false}),
        json!({"comments": [comment.clone()], "meta": {"has_more": false}}),
        comment,
        ticket,
        json!({"user": user.clone()}),
        user,
        json!({"ticket_field": field.clone()}),
        field,
        json!({"upload": {"token": "tok", "expires_at": T, "attachment": attachment.clone(),
            "attachments": [attachment]}}),
        json!({"ticket_events": [event.clone()], "next_page": "n", "end_time": 1_795_000_000i64,
            "end_of_stream": true, "count": 1}),
        event,
        json!({"error": "RecordInvalid", "description": "Record validation errors",
            "details": {"status": [{"description": "Status: closed prevents ticket update"}]}}),
        json!({"error": {"title": "Forbidden", "message": "no"}}),
        json!({"sharing_agreement": {"id": 1, "name": "n", "type": "inbound", "status": "accepted",
            "partner_name": "jira", "remote_subdomain": "x", "created_at": T, "updated_at": T}}),
        json!({"brand": {"id": 9, "name": "B", "subdomain": "b", "active": true, "default": true,
            "created_at": T, "updated_at": T}}),
        json!({"group": {"id": 5, "name": "G", "is_public": true, "default": false,
            "deleted": false, "created_at": T, "updated_at": T}}),
        json!({"custom_role": {"id": 4, "name": "R", "description": null, "role_type": 0,
            "configuration": {"ticket_access": "all"}, "created_at": T, "updated_at": T}}),
    ]
}

/// Decodes as `T`; what decodes must encode and decode back to itself.
fn decode<T>(v: &Value) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    if let Ok(t) = serde_json::from_value::<T>(v.clone()) {
        let again: T = serde_json::from_value(serde_json::to_value(&t).unwrap()).map_err(|e| {
            TestCaseError::fail(format!(
                "{} does not decode its own encoding: {e}",
                std::any::type_name::<T>()
            ))
        })?;
        prop_assert_eq!(again, t);
    }
    let text = v.to_string();
    let _ = serde_json::from_str::<T>(&text);
    Ok(())
}

/// Every wire type, on the value itself and on each of its members (envelopes hold them).
fn decode_all(v: &Value) -> Result<(), TestCaseError> {
    let mut targets = vec![v];
    if let Value::Object(m) = v {
        targets.extend(m.values());
    }
    for v in targets {
        decode::<Ticket>(v)?;
        decode::<TicketEnvelope<Ticket>>(v)?;
        decode::<Comment>(v)?;
        decode::<Vec<Comment>>(v)?;
        decode::<Attachment>(v)?;
        decode::<Via>(v)?;
        decode::<CustomField>(v)?;
        decode::<Status>(v)?;
        decode::<NewComment>(v)?;
        decode::<TicketWrite>(v)?;
        decode::<TicketEnvelope<TicketWrite>>(v)?;
        decode::<User>(v)?;
        decode::<TicketField>(v)?;
        decode::<FieldOption>(v)?;
        decode::<Brand>(v)?;
        decode::<Group>(v)?;
        decode::<CustomRole>(v)?;
        decode::<Upload>(v)?;
        decode::<SharingAgreement>(v)?;
        decode::<CursorMeta>(v)?;
        decode::<CursorLinks>(v)?;
        decode::<IncrementalTickets>(v)?;
        decode::<TicketEvent>(v)?;
        decode::<ChildEvent>(v)?;
        decode::<IncrementalTicketEvents>(v)?;
        decode::<ErrorBody>(v)?;
        if let Ok(body) = serde_json::from_value::<ErrorBody>(v.clone()) {
            for status in [400, 401, 404, 409, 422, 429, 500, 503, 599, 600, 0] {
                check_classify(status, Some(&body), None)?;
            }
        }
    }
    Ok(())
}

/// The nodes of a document in preorder: replace, remove or retype the `n`-th.
fn mutate(v: &mut Value, mut n: usize, action: u8, with: &Value) {
    fn walk(v: &mut Value, n: &mut usize, action: u8, with: &Value) -> bool {
        if *n == 0 {
            let old = std::mem::take(v);
            *v = match action % 4 {
                0 => with.clone(),
                1 => Value::Null,
                2 => match old {
                    Value::String(s) => s.parse::<f64>().map(Value::from).unwrap_or(Value::Null),
                    Value::Number(x) => Value::String(x.to_string()),
                    Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
                    o @ Value::Object(_) => Value::Array(vec![o]),
                    other => Value::String(other.to_string()),
                },
                _ => Value::Array(vec![with.clone()]),
            };
            return true;
        }
        *n -= 1;
        match v {
            Value::Array(items) => {
                for item in items.iter_mut() {
                    if walk(item, n, action, with) {
                        return true;
                    }
                }
            }
            Value::Object(map) => {
                let keys: Vec<String> = map.keys().cloned().collect();
                for k in keys {
                    if *n == 0 && action % 5 == 4 {
                        map.remove(&k);
                        return true;
                    }
                    if walk(map.get_mut(&k).unwrap(), n, action, with) {
                        return true;
                    }
                }
            }
            _ => {}
        }
        false
    }
    fn count(v: &Value) -> usize {
        1 + match v {
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Object(m) => m.values().map(count).sum(),
            _ => 0,
        }
    }
    n %= count(v);
    walk(v, &mut n, action, with);
}

fn mutate_bytes(mut b: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(at, kind, byte) in edits {
        if b.is_empty() {
            b.push(byte);
            continue;
        }
        let i = at % b.len();
        match kind % 4 {
            0 => b[i] = byte,
            1 => {
                b.remove(i);
            }
            2 => b.insert(i, byte),
            _ => b.truncate(i),
        }
    }
    b
}

// ---------------------------------------------------------------------------------------
// Errors and retry
// ---------------------------------------------------------------------------------------

fn ctx() -> RequestContext {
    RequestContext {
        account: "acme".into(),
        method: "PUT".into(),
        path: "/api/v2/tickets/1".into(),
        ticket: Some(1),
    }
}

fn check_classify(
    status: u16,
    body: Option<&ErrorBody>,
    retry_after: Option<Duration>,
) -> Result<(), TestCaseError> {
    let kind = classify(status, body, retry_after);
    match (&kind, status) {
        (ErrorKind::Auth, 401 | 403)
        | (ErrorKind::NotFound, 404)
        | (ErrorKind::Conflict, 409)
        | (ErrorKind::Server, 500..=599)
        | (ErrorKind::Closed | ErrorKind::CommentLimit, 422) => {}
        (ErrorKind::RateLimited { retry_after: r }, 429) => prop_assert_eq!(*r, retry_after),
        (ErrorKind::Invalid { details }, s)
            if !matches!(s, 401 | 403 | 404 | 409 | 429 | 500..=599) =>
        {
            // Bounded: 300 bytes plus an ellipsis.
            prop_assert!(details.len() <= 303, "details of {} bytes", details.len());
        }
        (k, s) => prop_assert!(false, "status {} classified as {:?}", s, k),
    }
    let err: ZendeskError = kind.into_error(ctx(), status);
    let _ = err.to_string();
    let _ = err.is_permanent();
    Ok(())
}

/// A `Retry-After` value goes into the rate gate (an `Instant` addition) and the retry
/// delay (a `Duration` addition): both must hold whatever the header says.
fn check_retry_after(text: &str) -> Result<(), TestCaseError> {
    let parsed = parse_retry_after(text);
    if let Some(d) = parsed {
        let now = tokio::time::Instant::now();
        let mut gate = GateState::new(100, EndpointLimits::default());
        let pause = gate.on_throttled(Some(d), now);
        gate.pause(d, now);
        prop_assert_eq!(pause, d);
        let err = ZendeskError::RateLimited {
            ctx: ctx(),
            retry_after: Some(d),
        };
        let _ = next_delay(
            &err,
            Some(Duration::from_secs(1)),
            Duration::from_secs(30),
            Duration::from_secs(60),
        );
        let _ = err.to_string();
    }
    check_classify(429, None, parsed)
}

fn retry_after_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        prop::sample::select(vec![
            "1e20",
            "1e400",
            "18446744073709551616",
            "18446744073709551615",
            "-0",
            "-0.0",
            "0.0000000001",
            "inf",
            "NaN",
            "+5",
            " 7 ",
            "1_000",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "",
            "0x10",
            "5s",
        ])
        .prop_map(String::from),
        "\\PC{0,12}",
        "[0-9\\.e+-]{0,24}",
    ]
}

// ---------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..128),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (json_value(), json_value(), json_value()).prop_map(|(a, b, c)| {
            json!({"ticket_id": a, "detail": {"id": b}, "ticket": {"id": c}})
                .to_string()
                .into_bytes()
        }),
        (
            any::<u64>(),
            prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..4)
        )
            .prop_map(|(id, edits)| {
                let doc = format!(
                    r#"{{"type":"zen:event-type:ticket.comment_added","detail":{{"id":"{id}"}}}}"#
                );
                mutate_bytes(doc.into_bytes(), &edits)
            }),
        // A whole comment event, its values and bytes mutated.
        (
            json_value(),
            json_value(),
            json_value(),
            prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..4)
        )
            .prop_map(|(id, body, status, edits)| {
                let doc = json!({
                    "type": "zen:event-type:ticket.comment_added",
                    "time": "2026-11-23T05:29:05Z",
                    "detail": {"id": "7", "actor_id": "3", "status": status, "tags": ["a"]},
                    "event": {"comment": {"id": id, "body": body, "is_public": true,
                        "author": {"id": "3", "name": "Ann"}}},
                });
                mutate_bytes(doc.to_string().into_bytes(), &edits)
            }),
    ]
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        (Timestamp::MIN.as_second()..=Timestamp::MAX.as_second())
            .prop_map(|s| Timestamp::from_second(s).unwrap()),
        (-1_000i64..1_000)
            .prop_map(|s| "2026-11-23T05:30:00Z".parse::<Timestamp>().unwrap()
                + SignedDuration::from_secs(s)),
        Just(Timestamp::MIN),
        Just(Timestamp::MAX),
    ]
}

fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        timestamp().prop_map(|t| t.to_string()),
        Just(" 2026-11-23T05:30:00Z ".to_owned()),
        Just("2026-11-23T05:30:00+99:00".to_owned()),
        Just("1795000000".to_owned()),
    ]
}

// ---------------------------------------------------------------------------------------
// The webhook endpoint over loopback
// ---------------------------------------------------------------------------------------

const HOOK_CONFIG: &str = r#"
[daemon]
admin_token = "admin"
state_dir = "/nonexistent"
[accounts.acme]
subdomain = "acme"
email = "bridge@acme.example"
token = "t"
webhook_secret = "hook-secret"
[accounts.vendor]
subdomain = "vendor"
email = "bridge@vendor.example"
token = "t"
"#;

/// One server for every case: its runtime, address and hint set.
struct HookServer {
    rt: tokio::runtime::Runtime,
    url: String,
    hints: Arc<Hints>,
    http: reqwest::Client,
}

fn hook_server() -> &'static HookServer {
    static SERVER: OnceLock<HookServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
        let path = dir.path().join("sharebridge.toml");
        std::fs::write(&path, HOOK_CONFIG).unwrap();
        let config = load_with(&path, &LoadOptions::default()).unwrap().config;
        let (config_tx, rx) = tokio::sync::watch::channel(Arc::new(config));
        Box::leak(Box::new(config_tx));
        let hints = Arc::new(Hints::new());
        let state = Arc::new(ServerState {
            config: rx,
            hints: hints.clone(),
            metrics: Arc::new(Metrics::new()),
            readiness: Arc::new(Readiness::blocked("fuzzing")),
            engine: None,
            cluster: None,
        });
        let url = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(serve(listener, state, std::future::pending()));
            url
        });
        HookServer {
            rt,
            url,
            hints,
            http: reqwest::Client::new(),
        }
    })
}

/// One delivery as it arrives: path segment, raw header bytes, body.
#[derive(Debug, Clone)]
struct Delivery {
    account: String,
    /// `None`: header absent. `Some(None)`: correct for the body (fresh timestamp or
    /// signature with the right secret). `Some(Some(bytes))`: these bytes.
    timestamp: Option<Option<Vec<u8>>>,
    signature: Option<Option<Vec<u8>>>,
    body: Vec<u8>,
}

fn header_bytes() -> impl Strategy<Value = Option<Option<Vec<u8>>>> {
    prop_oneof![
        1 => Just(None),
        4 => Just(Some(None)),
        2 => prop_oneof![
            prop::collection::vec(any::<u8>(), 0..48),
            header_text().prop_map(String::into_bytes),
        ].prop_map(|b| Some(Some(b))),
    ]
}

fn delivery() -> impl Strategy<Value = Delivery> {
    (
        prop_oneof![
            6 => Just("acme".to_owned()),
            1 => Just("vendor".to_owned()),
            1 => Just("nobody".to_owned()),
            1 => "[a-zA-Z0-9%._~-]{0,12}",
        ],
        header_bytes(),
        header_bytes(),
        prop_oneof![
            12 => body(),
            8 => any::<u64>().prop_map(|id| format!(r#"{{"ticket_id": {id}}}"#).into_bytes()),
            1 => (0usize..4).prop_map(|extra| {
                let mut b = br#"{"ticket_id": 1, "pad": ""#.to_vec();
                b.resize(webhook::MAX_BODY + extra, b'x');
                b
            }),
        ],
    )
        .prop_map(|(account, timestamp, signature, body)| Delivery {
            account,
            timestamp,
            signature,
            body,
        })
}

/// Sends one delivery; `None` when reqwest refuses to build it (an invalid header value).
fn send(d: &Delivery) -> Option<(u16, Vec<sharebridge::engine::hints::Hint>)> {
    let server = hook_server();
    let now = Timestamp::now().to_string();
    let ts: Option<Vec<u8>> = d
        .timestamp
        .clone()
        .map(|t| t.unwrap_or_else(|| now.clone().into_bytes()));
    let sig: Option<Vec<u8>> = d.signature.clone().map(|s| {
        s.unwrap_or_else(|| {
            let t = String::from_utf8_lossy(ts.as_deref().unwrap_or_default()).into_owned();
            signature::sign(b"hook-secret", &t, &d.body).into_bytes()
        })
    });
    let mut req = server
        .http
        .post(format!("{}/webhooks/{}", server.url, d.account))
        .body(d.body.clone());
    for (name, value) in [
        (signature::TIMESTAMP_HEADER, &ts),
        (signature::SIGNATURE_HEADER, &sig),
    ] {
        if let Some(v) = value {
            let v = reqwest::header::HeaderValue::from_bytes(v).ok()?;
            req = req.header(name, v);
        }
    }
    let req = req.build().ok()?;
    server.rt.block_on(async {
        let status = server.http.execute(req).await.unwrap().status().as_u16();
        Some((status, server.hints.drain()))
    })
}

// ---------------------------------------------------------------------------------------
// The client against a hostile Zendesk over loopback
// ---------------------------------------------------------------------------------------

const TOKEN: &str = "s3cr3t-api-token";
const REFRESH: &str = "s3cr3t-refresh-token";

/// One scripted answer.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(n, v)| (n, text(v)))
                    .collect::<Vec<_>>(),
            )
            .field("body", &text(&self.body))
            .finish()
    }
}

/// A fake Zendesk for one case: answers requests from its script, then 404s. Stopped when
/// dropped (each case has its own, so parallel tests never share a script).
struct FakeZendesk {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeZendesk {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn fake_zendesk(replies: &[Reply]) -> FakeZendesk {
    let script = Arc::new(std::sync::Mutex::new(
        replies
            .iter()
            .cloned()
            .collect::<std::collections::VecDeque<Reply>>(),
    ));
    let app = axum::Router::new().fallback(move || {
        let s = script.clone();
        async move {
            let reply = s.lock().unwrap().pop_front();
            let Some(r) = reply else {
                return axum::http::Response::builder()
                    .status(404)
                    .body(axum::body::Body::from(r#"{"error":"RecordNotFound"}"#))
                    .unwrap();
            };
            let mut b = axum::http::Response::builder().status(
                axum::http::StatusCode::from_u16(r.status).unwrap_or(axum::http::StatusCode::OK),
            );
            for (name, value) in &r.headers {
                if let Ok(v) = axum::http::HeaderValue::from_bytes(value) {
                    b = b.header(*name, v);
                }
            }
            b.body(axum::body::Body::from(r.body.clone())).unwrap()
        }
    });
    hook_server().rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeZendesk { url, task }
    })
}

fn reply() -> impl Strategy<Value = Reply> {
    let status = prop_oneof![
        6 => Just(200u16),
        1 => Just(201u16),
        1 => Just(204u16),
        1 => prop::sample::select(vec![400u16, 401, 403, 404, 409, 413, 422, 429, 500, 502, 503]),
        1 => 100u16..1000,
    ];
    let header = prop_oneof![
        (
            Just("Retry-After"),
            retry_after_text().prop_map(String::into_bytes)
        ),
        (
            Just("X-Rate-Limit-Remaining"),
            prop_oneof![
                any::<u32>().prop_map(|n| n.to_string().into_bytes()),
                "\\PC{0,8}".prop_map(String::into_bytes),
            ]
        ),
        (
            Just("Content-Type"),
            prop::sample::select(vec!["application/json", "text/html", ""])
                .prop_map(|s| s.as_bytes().to_vec())
        ),
        (Just("Location"), "\\PC{0,20}".prop_map(String::into_bytes)),
    ];
    let body = prop_oneof![
        4 => (any::<prop::sample::Index>(),
              prop::collection::vec((any::<usize>(), any::<u8>(), leaf()), 0..4))
            .prop_map(|(pick, muts)| {
                let mut all = samples();
                all.extend(answer_samples());
                let mut v = all[pick.index(all.len())].clone();
                for (at, action, with) in &muts {
                    mutate(&mut v, *at, *action, with);
                }
                v.to_string().into_bytes()
            }),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ];
    (status, prop::collection::vec(header, 0..3), body).prop_map(|(status, headers, body)| Reply {
        status,
        headers,
        body,
    })
}

/// Answers of endpoints the general samples lack (OAuth, tags, users/me, paging loops).
fn answer_samples() -> Vec<Value> {
    vec![
        json!({"access_token": "a", "refresh_token": "r", "expires_in": 7200,
            "refresh_token_expires_in": 2_592_000u64, "token_type": "bearer"}),
        json!({"access_token": "a", "expires_in": u64::MAX, "refresh_token_expires_in": u64::MAX}),
        json!({"access_token": "a", "expires_in": 0}),
        json!({"tags": ["a", "b"]}),
        json!({"user": {"id": 1, "name": "Bridge", "created_at": T, "updated_at": T}}),
        json!({"items": [1, 2], "meta": {"has_more": true, "after_cursor": "same"}}),
        json!({"items": [], "meta": {"has_more": true, "after_cursor": null}}),
        json!({"tickets": [], "end_of_stream": true, "after_cursor": null}),
        json!({"ticket_events": [], "end_of_stream": false, "end_time": i64::MIN}),
        json!({"ticket": {"id": 1, "status": "open", "created_at": T, "updated_at": T},
            "audit": {"id": 2, "events": []}}),
    ]
}

/// What the client is asked to do.
#[derive(Debug, Clone, Copy)]
enum ClientCall {
    ShowTicket,
    ShowMany,
    ListComments,
    GetTags,
    Me,
    ExportTickets,
    ExportEvents,
    UpdateWithComment,
    CreateTicket,
    ListAll,
}

fn client_call() -> impl Strategy<Value = ClientCall> {
    use ClientCall::*;
    prop::sample::select(vec![
        ShowTicket,
        ShowMany,
        ListComments,
        GetTags,
        Me,
        ExportTickets,
        ExportEvents,
        UpdateWithComment,
        CreateTicket,
        ListAll,
    ])
}

async fn run_call(client: &ZendeskClient, call: ClientCall) -> Result<(), ZendeskError> {
    use ClientCall::*;
    match call {
        ShowTicket => client.show_ticket(1).await.map(drop),
        ShowMany => client.show_many_tickets(&[1, 2]).await.map(drop),
        ListComments => client.list_comments(1).await.map(drop),
        GetTags => client.get_tags(1).await.map(drop),
        Me => client.me().await.map(drop),
        ExportTickets => client
            .export_tickets(&ExportStart::StartTime(0))
            .await
            .map(drop),
        ExportEvents => client.export_ticket_events(0).await.map(drop),
        UpdateWithComment => {
            let write = TicketWrite {
                comment: Some(NewComment {
                    body: Some("private words".into()),
                    public: Some(false),
                    ..Default::default()
                }),
                ..Default::default()
            };
            client.update_ticket(1, &write, None).await.map(drop)
        }
        CreateTicket => client
            .create_ticket(&TicketWrite::default(), Some("sharebridge-link-1"))
            .await
            .map(drop),
        ListAll => client
            .list_all::<Value>("/api/v2/items", "items")
            .await
            .map(drop),
    }
}

fn check_client(oauth: bool, call: ClientCall, replies: &[Reply]) -> Result<(), TestCaseError> {
    let fake = fake_zendesk(replies);
    let auth = if oauth {
        Auth::OAuth {
            client_id: "sharebridge".into(),
            client_secret: TOKEN.to_owned().into(),
            refresh_token: Some(REFRESH.to_owned().into()),
        }
    } else {
        Auth::ApiToken {
            email: "bridge@acme.example".into(),
            token: TOKEN.to_owned().into(),
        }
    };
    let mut settings = ClientSettings::new("acme", fake.url.clone(), auth);
    settings.requests_per_minute = 1_000_000;
    settings.limits = EndpointLimits {
        ticket_updates_per_minute: 1_000_000,
        updates_per_ticket: 1_000_000,
        ticket_update_window: Duration::from_secs(1),
        exports_per_minute: 1_000_000,
    };
    settings.request_timeout = Duration::from_secs(5);
    settings.retry = RetrySettings {
        max_total: Duration::from_millis(300),
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_retries: 2,
    };
    let client = ZendeskClient::new(settings, Arc::new(MemoryTokenStore::new()))
        .map_err(|e| TestCaseError::fail(format!("client: {e}")))?;
    let server = hook_server();
    let outcome = server.rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), run_call(&client, call)).await
    });
    let Ok(result) = outcome else {
        return Err(TestCaseError::fail("the call hung"));
    };
    if let Err(e) = result {
        let text = e.to_string();
        prop_assert!(!text.trim().is_empty());
        prop_assert!(
            !text.contains(TOKEN) && !text.contains(REFRESH) && !text.contains("private words"),
            "a secret or a comment body in an error: {}",
            text
        );
        let _ = (e.is_permanent(), e.context());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1, 160))]

    /// Random, mutated and multi-file configurations: answered, never a panic; a refusal
    /// names an error, every problem says where and why.
    #[test]
    fn config_loader_answers(case in config_case()) {
        run_config_case(&case)?;
    }
}

proptest! {
    #![proptest_config(config(4, 1_500))]

    /// Random JSON: every model decodes or refuses; what decodes round-trips.
    #[test]
    fn models_decode_random_json(v in json_value()) {
        decode_all(&v)?;
    }

    /// Real-looking answers, mutated node by node: decoded or refused, never a panic.
    #[test]
    fn models_decode_mutated_answers(
        pick in any::<prop::sample::Index>(),
        mutations in prop::collection::vec((any::<usize>(), any::<u8>(), leaf()), 0..5),
    ) {
        let all = samples();
        let mut v = all[pick.index(all.len())].clone();
        for (at, action, with) in &mutations {
            mutate(&mut v, *at, *action, with);
        }
        decode_all(&v)?;
    }

    /// Real-looking answers, mutated byte by byte.
    #[test]
    fn models_decode_mutated_bytes(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..8),
    ) {
        let all = samples();
        let text = all[pick.index(all.len())].to_string();
        let bytes = mutate_bytes(text.into_bytes(), &edits);
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            decode_all(&v)?;
        }
        let _ = serde_json::from_slice::<TicketEnvelope<Ticket>>(&bytes);
        let _ = serde_json::from_slice::<IncrementalTickets>(&bytes);
        let _ = serde_json::from_slice::<IncrementalTicketEvents>(&bytes);
        let _ = serde_json::from_slice::<ErrorBody>(&bytes);
    }

    /// Any status, body and Retry-After: classified as the status says, bounded details.
    #[test]
    fn classify_answers(
        status in prop_oneof![any::<u16>(), 400u16..600],
        body in prop::option::of(json_value()),
        retry in prop::option::of(any::<u64>().prop_map(Duration::from_millis)),
    ) {
        let parsed = body.and_then(|b| serde_json::from_value::<ErrorBody>(b).ok());
        check_classify(status, parsed.as_ref(), retry)?;
    }

    /// Any Retry-After header: parsed or ignored, and the pause it yields is usable.
    #[test]
    fn retry_after_answers(text in retry_after_text()) {
        check_retry_after(&text)?;
    }

    /// Any webhook body: a positive ticket id or none.
    #[test]
    fn webhook_ticket_id_answers(body in body()) {
        if let Some(id) = webhook::ticket_id(&body) {
            prop_assert!(id > 0);
        }
        // A carried comment is only ever taken from a comment event with a positive id.
        if let Some((c, _)) = webhook::carried_comment(&body) {
            prop_assert!(c.id > 0);
            prop_assert!(webhook::ticket_id(&body).is_some());
        }
    }

    /// Any headers, secret, body and clock: verified or refused; a correct signature over
    /// a fresh timestamp is accepted, and any other signature refused.
    #[test]
    fn webhook_verify_answers(
        secret in prop::collection::vec(any::<u8>(), 0..40),
        ts in prop::option::of(header_text()),
        sig in prop::option::of(prop_oneof!["\\PC{0,60}", "[A-Za-z0-9+/]{43}="]),
        body in body(),
        now in timestamp(),
        sign in any::<bool>(),
    ) {
        let sig = if sign {
            ts.as_ref().map(|t| signature::sign(&secret, t, &body))
        } else {
            sig
        };
        let got = webhook::verify(&secret, ts.as_deref(), sig.as_deref(), &body, now);
        match (&ts, &sig) {
            (Some(t), Some(s)) => {
                let good = signature::verify(&secret, t, &body, s);
                let fresh = t.trim().parse::<Timestamp>()
                    .is_ok_and(|at| now.duration_since(at).abs() <= MAX_SKEW);
                let want = if !good {
                    Err(Rejection::BadSignature)
                } else if !fresh {
                    Err(Rejection::StaleTimestamp)
                } else {
                    Ok(())
                };
                prop_assert_eq!(got, want);
            }
            _ => prop_assert_eq!(got, Err(Rejection::MissingSignature)),
        }
    }
}

proptest! {
    #![proptest_config(config(1, 200))]

    /// Any delivery over HTTP: answered with one of the documented statuses, a hint only
    /// for an accepted one, and a correctly signed fresh delivery for a configured account
    /// accepted exactly when its body names a ticket.
    #[test]
    fn webhook_endpoint_answers(d in delivery()) {
        let Some((status, hints)) = send(&d) else {
            return Ok(());
        };
        prop_assert!([202, 400, 401, 404, 413].contains(&status), "status {}", status);
        if status == 202 {
            prop_assert_eq!(hints.len(), 1);
            prop_assert_eq!(Some(hints[0].ticket), webhook::ticket_id(&d.body));
        } else {
            prop_assert!(hints.is_empty(), "{} with hints {:?}", status, hints);
        }
        let signed = d.timestamp == Some(None) && d.signature == Some(None);
        let want = match d.account.as_str() {
            // Over the limit for a routed account (an empty or undecodable path segment
            // is refused before the body is read).
            "acme" | "vendor" | "nobody" if d.body.len() > webhook::MAX_BODY => Some(413),
            "acme" if signed => Some(if webhook::ticket_id(&d.body).is_some() { 202 } else { 400 }),
            "acme" if d.timestamp.is_none() || d.signature.is_none() => Some(401),
            "vendor" | "nobody" => Some(404),
            _ => None,
        };
        if let Some(want) = want {
            prop_assert_eq!(status, want);
        }
    }
}

proptest! {
    #![proptest_config(config(1, 150))]

    /// Any answers from Zendesk (statuses, headers, mutated and random bodies, OAuth token
    /// answers), to any call: a result or an error, never a panic or a hang, and no secret
    /// or comment body in the error.
    #[test]
    fn client_tolerates_any_answer(
        oauth in prop::bool::weighted(0.3),
        call in client_call(),
        replies in prop::collection::vec(reply(), 1..5),
    ) {
        check_client(oauth, call, &replies)?;
    }
}

/// Found by `retry_after_answers`: a `Retry-After` beyond `Duration`'s range panicked in
/// `Duration::from_secs_f64`, and one near `u64::MAX` seconds panicked adding it to an
/// `Instant` in the rate gate. Both are now capped.
#[test]
fn huge_retry_after_is_capped_not_a_panic() {
    for text in [
        "1e20",
        "1e400",
        "18446744073709551615",
        "99999999999999999999",
    ] {
        check_retry_after(text).unwrap();
    }
}

/// Found by `client_tolerates_any_answer`: an OAuth token answer with an `expires_in` near
/// `u64::MAX` panicked adding it to an `Instant` while scheduling the next refresh.
#[test]
fn huge_oauth_expiry_is_not_a_panic() {
    let token = Reply {
        status: 200,
        headers: vec![],
        body: json!({"access_token": "a", "expires_in": u64::MAX,
            "refresh_token_expires_in": u64::MAX})
        .to_string()
        .into_bytes(),
    };
    let ticket = Reply {
        status: 200,
        headers: vec![],
        body: json!({"ticket": {"id": 1, "status": "open", "created_at": T, "updated_at": T}})
            .to_string()
            .into_bytes(),
    };
    check_client(true, ClientCall::ShowTicket, &[token, ticket]).unwrap();
}
