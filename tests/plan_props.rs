//! Property tests of the pure sync planner (`plan::plan`, `plan::receiver_after`) over a
//! model of one shared ticket: two sides (A = source, B = mirror), each flow with its own
//! random rules, watermark and baseline, driven exactly as `engine::sync` drives them.
//!
//! Random histories of agent comments (public, private, by the bridge's own user,
//! recorded as the bridge's), status, tag, field and system-field (priority, type with due
//! date, group) changes on both sides, interleaved with
//! sync steps of either flow (some of them interrupted after a few writes, as a failed
//! write leaves them), must keep the invariants of DESIGN §5:
//! - every comment that should cross crosses exactly once, in source order;
//! - no private comment crosses unless `comments.private`, and never into a public one;
//! - nothing the bridge wrote crosses back (no comment echo), and once both flows have
//!   synced, syncing again plans nothing (no echo of status, tag or field changes);
//! - status, tag and field changes ride only in the first write of a step;
//! - a one-way link converges: the mirror holds what the rules let through.
//!
//! Deterministic: a fixed seed unless `PROPTEST_RNG_SEED` is set; `SHAREBRIDGE_FUZZ_CASES`
//! (or `PROPTEST_CASES`) sets the number of cases. A failure prints the minimal history.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, FileFailurePersistence, RngSeed};
use serde_json::{Value, json};

use sharebridge::coalesce::{MAX_BODY_CHARS, SEPARATOR};
use sharebridge::config::{
    AgreementConfig, AttachmentRules, CommentRules, FieldMap, StatusRules, SystemRules, TagRules,
    Target,
};
use sharebridge::plan::{self, Baseline, CommentNow, Plan, SideNow};
use sharebridge::rules::{self, TagFilter};
use sharebridge::system::{self, SystemNow};
use sharebridge::zendesk::models::{CustomField, Status};

/// Cases per property: `SHAREBRIDGE_FUZZ_CASES`, else `PROPTEST_CASES`, else `default`.
fn config(default: u32) -> PtConfig {
    let mut c = PtConfig::default();
    let from_env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u32>().ok());
    c.cases = from_env("SHAREBRIDGE_FUZZ_CASES")
        .or_else(|| from_env("PROPTEST_CASES"))
        .unwrap_or(default);
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = RngSeed::Fixed(0x5eed_b41d);
    }
    c.max_shrink_iters = 2_000;
    c.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(
        "proptest-regressions/plan_props.txt",
    )));
    c
}

const STATUSES: [Status; 7] = [
    Status::New,
    Status::Open,
    Status::Pending,
    Status::Hold,
    Status::Solved,
    Status::Closed,
    Status::Deleted,
];
const SETTABLE: [Status; 6] = [
    Status::New,
    Status::Open,
    Status::Pending,
    Status::Hold,
    Status::Solved,
    Status::Closed,
];
const TAGS: [&str; 8] = [
    "a",
    "b",
    "c",
    "internal_x",
    "vendor_escalation",
    "partner_escalation",
    "sharebridge_shared",
    "sharebridge_orphaned",
];
/// Custom field ids of side A and of side B (ids differ per account).
const FIELDS_A: [u64; 3] = [1, 2, 3];
const FIELDS_B: [u64; 3] = [11, 12, 13];
/// Group ids of side A and of side B.
const GROUPS_A: [u64; 3] = [1, 2, 3];
const GROUPS_B: [u64; 3] = [21, 22, 23];
const PRIORITIES: [Option<&str>; 5] = [
    None,
    Some("urgent"),
    Some("high"),
    Some("normal"),
    Some("low"),
];
const TYPES: [Option<&str>; 5] = [
    None,
    Some("problem"),
    Some("incident"),
    Some("question"),
    Some("task"),
];
/// The account handles as attributions name them.
const NAMES: [&str; 2] = ["acme", "vendor"];

fn value(i: usize) -> Value {
    [
        Value::Null,
        json!("x"),
        json!("y"),
        json!("gold"),
        json!(7),
        json!(["x", "g"]),
        json!(true),
    ][i % 7]
        .clone()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

impl Side {
    fn idx(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
    fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// One thing happening to the shared ticket.
#[derive(Debug, Clone)]
enum Op {
    /// An agent (or the bridge's own user, or a recorded bridge note) comments on `side`.
    Comment {
        side: Side,
        public: bool,
        author: u8,
        author_is_bridge: bool,
        recorded_as_bridge: bool,
        /// 0 = a few words; otherwise a body of `size * 7_000` characters (to cross the
        /// coalescing size limit).
        size: u8,
        words: String,
    },
    Status(Side, usize),
    AddTag(Side, usize),
    RemoveTag(Side, usize),
    Field(Side, usize, usize),
    Priority(Side, usize),
    /// A type; a task gets the due date `due` (days from the start).
    Type(Side, usize, i64),
    /// A group of the side (or none, at index 3).
    Group(Side, usize),
    /// One sync step of the flow whose sender is `Side`; `crash_after = Some(k)` stops
    /// after `k` writes landed (a later write failed).
    Sync(Side, Option<usize>),
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::A), Just(Side::B)]
}

fn op(two_way: bool) -> impl Strategy<Value = Op> {
    // On a one-way link the mirror's agents only comment (their other changes would not
    // cross anyway and would blur the convergence check).
    let changing_side = if two_way {
        side().boxed()
    } else {
        Just(Side::A).boxed()
    };
    let sync_side = changing_side.clone();
    prop_oneof![
        6 => (side(), any::<bool>(), 0u8..4, prop::bool::weighted(0.1), prop::bool::weighted(0.1),
              prop_oneof![8 => Just(0u8), 1 => 1u8..10], "[a-z ]{0,24}")
            .prop_map(|(side, public, author, author_is_bridge, recorded_as_bridge, size, words)| Op::Comment {
                side, public, author, author_is_bridge, recorded_as_bridge, size, words,
            }),
        2 => (changing_side.clone(), 0..STATUSES.len()).prop_map(|(s, i)| Op::Status(s, i)),
        2 => (changing_side.clone(), 0..TAGS.len()).prop_map(|(s, i)| Op::AddTag(s, i)),
        1 => (changing_side.clone(), 0..TAGS.len()).prop_map(|(s, i)| Op::RemoveTag(s, i)),
        2 => (changing_side.clone(), 0..3usize, 0..7usize).prop_map(|(s, f, v)| Op::Field(s, f, v)),
        1 => (changing_side.clone(), 0..PRIORITIES.len()).prop_map(|(s, i)| Op::Priority(s, i)),
        1 => (changing_side.clone(), 0..TYPES.len(), 0i64..3).prop_map(|(s, i, d)| Op::Type(s, i, d)),
        1 => (changing_side, 0..4usize).prop_map(|(s, g)| Op::Group(s, g)),
        4 => (sync_side, prop_oneof![4 => Just(None), 1 => (0usize..3).prop_map(Some)])
            .prop_map(|(s, c)| Op::Sync(s, c)),
    ]
}

/// Random rules for the flow whose sender has field ids `from_ids` and receiver `to_ids`,
/// within what configuration validation accepts.
fn agreement(
    from_ids: [u64; 3],
    to_ids: [u64; 3],
    from_groups: [u64; 3],
    to_groups: [u64; 3],
) -> impl Strategy<Value = AgreementConfig> {
    // System rules: each switch at random, a group map over a subset of the sender's
    // groups (several may map onto one receiver group).
    let system = (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(prop::option::of(0usize..3), 3),
    )
        .prop_map(move |(priority, ticket_type, onto)| SystemRules {
            priority,
            ticket_type,
            groups: (0..3)
                .filter_map(|i| onto[i].map(|j| (from_groups[i], to_groups[j])))
                .collect(),
            forms: BTreeMap::new(),
        });
    let status_map = prop::collection::btree_map(
        prop::sample::select(&SETTABLE[..]),
        prop::sample::select(&SETTABLE[..]),
        0..4,
    );
    let exclude = prop::sample::subsequence(vec!["internal_*", "b", "?", "c*"], 0..=2);
    let auto = prop::sample::subsequence(vec!["vendor_escalation", "partner_escalation"], 0..=2);
    // Field maps: a permutation of the receiver's ids, a subset of the sender's.
    let fields = (
        Just(to_ids.to_vec()).prop_shuffle(),
        prop::collection::vec(any::<bool>(), 3),
        prop::collection::vec(any::<bool>(), 3),
    )
        .prop_map(move |(to, keep, with_values)| {
            (0..3)
                .filter(|&i| keep[i])
                .map(|i| FieldMap {
                    from: from_ids[i],
                    to: to[i],
                    values: if with_values[i] {
                        BTreeMap::from([
                            ("x".to_owned(), "y".to_owned()),
                            ("gold".to_owned(), "g".to_owned()),
                        ])
                    } else {
                        BTreeMap::new()
                    },
                })
                .collect::<Vec<_>>()
        });
    (
        (any::<bool>(), any::<bool>(), any::<bool>()),
        (any::<bool>(), status_map),
        (any::<bool>(), exclude),
        auto,
        fields,
        system,
    )
        .prop_map(
            |(
                (public, private, attribution),
                (ssync, map),
                (tsync, exclude),
                auto,
                fields,
                system,
            )| {
                AgreementConfig {
                    name: "rules".into(),
                    from: "x".into(),
                    to: "y".into(),
                    enabled: true,
                    auto_share_tags: auto.into_iter().map(String::from).collect(),
                    unshare_on_tag_removal: false,
                    brands: vec![],
                    target: Target::default(),
                    comments: CommentRules {
                        public,
                        private,
                        attribution,
                    },
                    status: StatusRules { sync: ssync, map },
                    tags: TagRules {
                        sync: tsync,
                        exclude: exclude.into_iter().map(String::from).collect(),
                    },
                    fields,
                    attachments: AttachmentRules {
                        sync: false,
                        max_bytes: 1,
                    },
                    system,
                    file: "conf.d/x.toml".into(),
                }
            },
        )
}

/// One comment on one side of the model.
#[derive(Debug, Clone)]
struct ModelComment {
    id: u64,
    public: bool,
    author: String,
    author_is_bridge: bool,
    /// In the comment map / bridge-comment set (every mirror comment the bridge writes).
    recorded_as_bridge: bool,
    created_at: Timestamp,
    body: String,
    /// For a comment the bridge wrote: the source comments it carries.
    carries: Vec<u64>,
}

/// One Zendesk ticket.
#[derive(Debug, Clone)]
struct Ticket {
    status: Status,
    tags: Vec<String>,
    fields: BTreeMap<u64, Value>,
    system: SystemNow,
    comments: Vec<ModelComment>,
}

impl Ticket {
    fn now(&self) -> SideNow {
        SideNow {
            status: self.status,
            tags: self.tags.clone(),
            custom_fields: self
                .fields
                .iter()
                .map(|(&id, v)| CustomField {
                    id,
                    value: v.clone(),
                })
                .collect(),
            system: self.system.clone(),
        }
    }
}

/// The marker that identifies a source comment's body wherever it lands.
fn marker(id: u64) -> String {
    format!("<c{id}>")
}

struct Model {
    rules: [AgreementConfig; 2],
    tickets: [Ticket; 2],
    /// Per flow (indexed by sender side): last source comment decided.
    watermark: [Option<u64>; 2],
    /// Per flow (indexed by sender side): the sender's baseline.
    baseline: [Baseline; 2],
    next_id: u64,
    clock: Timestamp,
    /// Per flow: source comment ids in the order they crossed.
    crossed: [Vec<u64>; 2],
    /// Per flow (indexed by sender side): an agent changed status, tags or fields on the
    /// sender since its last complete step. Only then may a step send such changes.
    dirty: [bool; 2],
}

impl Model {
    fn new(rules: [AgreementConfig; 2], not_before: [Option<i64>; 2]) -> Model {
        let start: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        let a = Ticket {
            status: Status::Open,
            tags: vec!["vendor_escalation".into()],
            fields: FIELDS_A.iter().map(|&id| (id, Value::Null)).collect(),
            system: SystemNow::default(),
            comments: vec![],
        };
        // The mirror as the share created it: mapped status, the shared tag, null fields.
        let b = Ticket {
            status: rules::map_status(&rules[0].status, Status::Open).unwrap_or(Status::New),
            tags: TagFilter::new(&rules[0])
                .filter(a.tags.iter())
                .into_iter()
                .chain(["sharebridge_shared".to_owned()])
                .collect(),
            fields: FIELDS_B.iter().map(|&id| (id, Value::Null)).collect(),
            system: SystemNow::default(),
            comments: vec![],
        };
        let nb = |i: usize| not_before[i].map(|s| start + SignedDuration::from_secs(s));
        let baseline = [a.now().to_baseline(nb(0)), b.now().to_baseline(nb(1))];
        Model {
            rules,
            tickets: [a, b],
            watermark: [None, None],
            baseline,
            next_id: 1,
            clock: start,
            crossed: [vec![], vec![]],
            dirty: [false, false],
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        self.clock += SignedDuration::from_secs(1);
        match op {
            Op::Comment {
                side,
                public,
                author,
                author_is_bridge,
                recorded_as_bridge,
                size,
                words,
            } => {
                let id = self.next_id;
                self.next_id += 1;
                let filler = "z".repeat(usize::from(*size) * 7_000);
                self.tickets[side.idx()].comments.push(ModelComment {
                    id,
                    public: *public,
                    author: format!("Agent {author}"),
                    author_is_bridge: *author_is_bridge,
                    recorded_as_bridge: *recorded_as_bridge,
                    created_at: self.clock,
                    body: format!("{}{words}{filler}", marker(id)),
                    carries: vec![],
                });
            }
            Op::Status(s, i) => {
                self.dirty[s.idx()] = true;
                self.tickets[s.idx()].status = STATUSES[*i];
            }
            Op::AddTag(s, i) => {
                self.dirty[s.idx()] = true;
                let t = &mut self.tickets[s.idx()].tags;
                if !t.iter().any(|x| x == TAGS[*i]) {
                    t.push(TAGS[*i].to_owned());
                }
            }
            Op::RemoveTag(s, i) => {
                self.dirty[s.idx()] = true;
                self.tickets[s.idx()].tags.retain(|x| x != TAGS[*i]);
            }
            Op::Field(s, f, v) => {
                self.dirty[s.idx()] = true;
                let ids = if *s == Side::A { FIELDS_A } else { FIELDS_B };
                self.tickets[s.idx()].fields.insert(ids[*f], value(*v));
            }
            Op::Priority(s, i) => {
                self.dirty[s.idx()] = true;
                self.tickets[s.idx()].system.priority = PRIORITIES[*i].map(str::to_owned);
            }
            Op::Type(s, i, due) => {
                self.dirty[s.idx()] = true;
                let sys = &mut self.tickets[s.idx()].system;
                sys.ticket_type = TYPES[*i].map(str::to_owned);
                // Zendesk keeps a due date on tasks only.
                sys.due_at = (sys.ticket_type.as_deref() == Some("task"))
                    .then(|| self.clock + SignedDuration::from_hours(24 * (1 + *due)));
            }
            Op::Group(s, g) => {
                self.dirty[s.idx()] = true;
                let groups = if *s == Side::A { GROUPS_A } else { GROUPS_B };
                self.tickets[s.idx()].system.group_id = groups.get(*g).copied();
            }
            Op::Sync(s, crash) => {
                self.sync(*s, *crash)?;
            }
        }
        Ok(())
    }

    /// The comments the engine hands the planner: newer than the watermark, in id order.
    fn pending(&self, sender: Side) -> Vec<CommentNow> {
        let after = self.watermark[sender.idx()].unwrap_or(0);
        self.tickets[sender.idx()]
            .comments
            .iter()
            .filter(|c| c.id > after)
            .map(|c| CommentNow {
                id: c.id,
                public: c.public,
                author: c.author.clone(),
                author_is_bridge: c.author_is_bridge,
                written_by_bridge: c.recorded_as_bridge,
                created_at: c.created_at,
                body: c.body.clone(),
            })
            .collect()
    }

    fn plan(&self, sender: Side) -> (Plan, Vec<CommentNow>) {
        let s = sender.idx();
        let comments = self.pending(sender);
        let p = plan::plan(
            &self.rules[s],
            NAMES[s],
            &self.baseline[s],
            &self.tickets[s].now(),
            &comments,
        );
        (p, comments)
    }

    /// One sync step of the flow sent by `sender`, as `engine::sync` performs it.
    fn sync(&mut self, sender: Side, crash: Option<usize>) -> Result<Plan, TestCaseError> {
        let (s, r) = (sender.idx(), sender.other().idx());
        let (p, comments) = self.plan(sender);
        check_plan(&self.rules[s], &self.baseline[s], &comments, &p)?;
        if !self.dirty[s] {
            // No agent touched the sender since its last complete step: what the bridge
            // itself wrote there (the other flow's writes) must not come back.
            let first = p.writes.first();
            prop_assert!(
                first.is_none_or(|w| w.status.is_none()
                    && w.tags.is_empty()
                    && w.fields.is_empty()
                    && w.system.is_empty()),
                "echo of the bridge's own field changes from {:?}: {:?}",
                sender,
                first
            );
        }
        let landed = crash.map_or(p.writes.len(), |k| k.min(p.writes.len()));
        let snapshot = self.tickets[s].now();
        for (i, w) in p.writes[..landed].iter().enumerate() {
            let t = &mut self.tickets[r];
            if let Some(batch) = &w.comment {
                let id = self.next_id;
                self.next_id += 1;
                t.comments.push(ModelComment {
                    id,
                    public: batch.public,
                    author: "bridge".into(),
                    author_is_bridge: true,
                    recorded_as_bridge: true,
                    created_at: self.clock,
                    body: batch.body.clone(),
                    carries: batch.source_comment_ids.clone(),
                });
                self.crossed[s].extend(batch.source_comment_ids.iter().copied());
                // commit_mirrored: the watermark follows every landed comment.
                if let Some(&hi) = batch.source_comment_ids.iter().max() {
                    let m = &mut self.watermark[s];
                    *m = Some(m.map_or(hi, |m| m.max(hi)));
                }
            }
            if let Some(st) = w.status {
                t.status = st;
            }
            t.tags.retain(|x| !w.tags.remove.contains(x));
            for add in &w.tags.add {
                if !t.tags.contains(add) {
                    t.tags.push(add.clone());
                }
            }
            for f in &w.fields {
                t.fields.insert(f.id, f.value.clone());
            }
            t.system = system::after(t.system.clone(), &w.system);
            // Once the write carrying the status/tag/field changes landed, both baselines
            // take it in, even if a later write of the step fails: otherwise the reverse
            // flow would echo those changes back, and a sender change reverted before the
            // next step would never reach the mirror.
            self.baseline[r] = plan::receiver_after(self.baseline[r].clone(), w);
            if i == 0 {
                let not_before = self.baseline[s].not_before;
                self.baseline[s] = snapshot.to_baseline(not_before);
                self.dirty[s] = false;
            }
        }
        if landed == p.writes.len() {
            // Everything decided is done: watermark past held-back and skipped comments,
            // both baselines kept (in one transaction in the engine).
            if let Some(last) = p.last_comment {
                let m = &mut self.watermark[s];
                *m = Some(m.map_or(last, |m| m.max(last)));
            }
            self.dirty[s] = false;
            let not_before = self.baseline[s].not_before;
            self.baseline[s] = snapshot.to_baseline(not_before);
            // Idempotence: planning again at once, from what was stored, plans nothing.
            let (again, _) = self.plan(sender);
            prop_assert!(
                again.writes.is_empty() && again.last_comment.is_none(),
                "re-planning after a complete step planned {:?}",
                again
            );
        }
        Ok(p)
    }

    /// Whether a source comment of `sender` should ever cross under its flow's rules.
    fn should_cross(&self, sender: Side, c: &ModelComment) -> bool {
        let s = sender.idx();
        let rules = &self.rules[s].comments;
        let history = self.baseline[s]
            .not_before
            .is_some_and(|t| c.created_at < t);
        !c.recorded_as_bridge
            && !c.author_is_bridge
            && !history
            && if c.public {
                rules.public
            } else {
                rules.private
            }
    }
}

/// Invariants of one plan, whatever the state.
fn check_plan(
    rules: &AgreementConfig,
    baseline: &Baseline,
    comments: &[CommentNow],
    p: &Plan,
) -> Result<(), TestCaseError> {
    let by_id: BTreeMap<u64, &CommentNow> = comments.iter().map(|c| (c.id, c)).collect();
    // Status, tags and fields only in the first write; a write without a comment only as
    // the sole write.
    for (i, w) in p.writes.iter().enumerate() {
        prop_assert!(!w.is_empty(), "an empty write was planned: {:?}", p);
        if i > 0 {
            prop_assert!(
                w.status.is_none()
                    && w.tags.is_empty()
                    && w.fields.is_empty()
                    && w.system.is_empty(),
                "write {} carries field changes: {:?}",
                i,
                p
            );
        }
        if w.comment.is_none() {
            prop_assert_eq!(p.writes.len(), 1, "a comment-less write among others");
        }
        if baseline.rebase {
            prop_assert!(
                w.status.is_none()
                    && w.tags.is_empty()
                    && w.fields.is_empty()
                    && w.system.is_empty()
            );
        }
    }
    // Every comment decided exactly once: crossed, held back or skipped; in order.
    let sent: Vec<u64> = p
        .writes
        .iter()
        .filter_map(|w| w.comment.as_ref())
        .flat_map(|b| b.source_comment_ids.iter().copied())
        .collect();
    let mut decided: Vec<u64> = sent
        .iter()
        .chain(&p.held_back)
        .chain(&p.skipped)
        .copied()
        .collect();
    decided.sort_unstable();
    let mut all: Vec<u64> = comments.iter().map(|c| c.id).collect();
    all.sort_unstable();
    prop_assert_eq!(decided, all, "not a partition: {:?}", p);
    prop_assert!(
        sent.windows(2).all(|w| w[0] < w[1]),
        "out of order: {:?}",
        sent
    );
    prop_assert_eq!(p.last_comment, comments.iter().map(|c| c.id).max());
    for id in &p.held_back {
        let c = by_id[id];
        prop_assert!(!c.public && !rules.comments.private, "held back {:?}", c);
    }
    for w in &p.writes {
        let Some(b) = &w.comment else { continue };
        prop_assert!(!b.source_comment_ids.is_empty());
        for id in &b.source_comment_ids {
            let c = by_id[id];
            prop_assert!(!c.written_by_bridge && !c.author_is_bridge, "echo: {:?}", c);
            prop_assert_eq!(b.public, c.public, "visibility changed for {}", id);
            if !c.public {
                prop_assert!(rules.comments.private, "private {} crossed", id);
            }
            prop_assert_eq!(b.body.matches(&marker(*id)).count(), 1);
            if rules.comments.attribution {
                let says = format!("{} (", c.author);
                prop_assert!(b.body.contains(&says), "no attribution for {}", id);
            }
        }
        // No other comment's body is inside (a private one in a public batch above all).
        for c in comments
            .iter()
            .filter(|c| !b.source_comment_ids.contains(&c.id))
        {
            prop_assert!(
                !b.body.contains(&marker(c.id)),
                "comment {} leaked into {:?}",
                c.id,
                b.source_comment_ids
            );
        }
        let parts = b.source_comment_ids.len();
        if parts > 1 {
            prop_assert!(b.body.len() <= MAX_BODY_CHARS, "coalesced body too large");
            prop_assert_eq!(b.body.matches(SEPARATOR).count(), parts - 1);
        }
    }
    Ok(())
}

/// After every flow synced completely with nothing new, a second round plans nothing:
/// no echo of comments, status, tags or fields.
fn settle(model: &mut Model, two_way: bool) -> Result<(), TestCaseError> {
    let flows: &[Side] = if two_way {
        &[Side::A, Side::B]
    } else {
        &[Side::A]
    };
    for &f in flows {
        model.sync(f, None)?;
    }
    for &f in flows {
        let p = model.sync(f, None)?;
        prop_assert!(
            p.writes.is_empty(),
            "flow from {:?} still plans {:?} after both sides synced",
            f,
            p.writes
        );
    }
    Ok(())
}

fn check_history(model: &Model, two_way: bool) -> Result<(), TestCaseError> {
    let flows: &[Side] = if two_way {
        &[Side::A, Side::B]
    } else {
        &[Side::A]
    };
    for &f in flows {
        let (s, r) = (f.idx(), f.other().idx());
        // Exactly once, in source order.
        let want: Vec<u64> = model.tickets[s]
            .comments
            .iter()
            .filter(|c| model.should_cross(f, c))
            .map(|c| c.id)
            .collect();
        prop_assert_eq!(&model.crossed[s], &want, "flow from {:?}", f);
        // On the receiver: each mirrored body once, with its visibility, no echo.
        let source: BTreeMap<u64, &ModelComment> = model.tickets[s]
            .comments
            .iter()
            .map(|c| (c.id, c))
            .collect();
        for m in model.tickets[r]
            .comments
            .iter()
            .filter(|c| !c.carries.is_empty())
        {
            for id in &m.carries {
                let c = source[id];
                prop_assert!(
                    c.carries.is_empty(),
                    "a bridge comment was mirrored back: {:?}",
                    c
                );
                prop_assert_eq!(c.public, m.public);
            }
            if m.public {
                for c in model.tickets[s].comments.iter().filter(|c| !c.public) {
                    prop_assert!(
                        !m.body.contains(&marker(c.id)),
                        "private {} made public",
                        c.id
                    );
                }
            }
        }
        for c in &model.tickets[s].comments {
            let n: usize = model.tickets[r]
                .comments
                .iter()
                .map(|m| m.body.matches(&marker(c.id)).count())
                .sum();
            prop_assert_eq!(
                n,
                usize::from(want.contains(&c.id)),
                "comment {} on the other side",
                c.id
            );
        }
    }
    if !two_way {
        // One-way: the mirror holds exactly what the rules let through.
        let rules = &model.rules[0];
        let (a, b) = (&model.tickets[0], &model.tickets[1]);
        if rules.status.sync && a.status != Status::Deleted {
            prop_assert_eq!(Some(b.status), rules::map_status(&rules.status, a.status));
        }
        let filter = TagFilter::new(rules);
        let sent: BTreeSet<String> = filter.filter(a.tags.iter());
        let mirrored: BTreeSet<String> = filter.filter(b.tags.iter());
        prop_assert_eq!(sent, mirrored);
        prop_assert!(b.tags.iter().any(|t| t == "sharebridge_shared"));
        let source: Vec<CustomField> = a.now().custom_fields;
        for f in rules::map_fields(&rules.fields, &source) {
            prop_assert_eq!(b.fields.get(&f.id), Some(&f.value), "field {}", f.id);
        }
        let (sa, sb) = (&a.system, &b.system);
        if rules.system.priority {
            prop_assert_eq!(&sb.priority, &sa.priority);
        }
        if rules.system.ticket_type {
            prop_assert_eq!(&sb.ticket_type, &sa.ticket_type);
            prop_assert_eq!(sb.due_at, sa.due_at);
        }
        if let Some(g) = sa.group_id.and_then(|g| rules.system.groups.get(&g)) {
            prop_assert_eq!(sb.group_id, Some(*g));
        }
    }
    Ok(())
}

fn scenario() -> impl Strategy<Value = (bool, [AgreementConfig; 2], [Option<i64>; 2], Vec<Op>)> {
    any::<bool>().prop_flat_map(|two_way| {
        (
            Just(two_way),
            (
                agreement(FIELDS_A, FIELDS_B, GROUPS_A, GROUPS_B),
                agreement(FIELDS_B, FIELDS_A, GROUPS_B, GROUPS_A),
            )
                .prop_map(|(a, b)| [a, b]),
            [
                prop::option::weighted(0.3, 0i64..20),
                prop::option::weighted(0.3, 0i64..20),
            ],
            prop::collection::vec(op(two_way), 0..40),
        )
    })
}

proptest! {
    #![proptest_config(config(256))]

    /// Random histories on both sides of a link, synced (and sometimes interrupted) at
    /// random: exactly once, in order, no leak, no echo, quiescent once synced.
    #[test]
    fn sync_histories_keep_the_invariants((two_way, rules, not_before, ops) in scenario()) {
        let mut model = Model::new(rules, not_before);
        for op in &ops {
            model.apply(op)?;
        }
        settle(&mut model, two_way)?;
        check_history(&model, two_way)?;
    }

    /// One plan from any baseline: the structural invariants, and a rebasing step sends no
    /// status, tag or field change at all.
    #[test]
    fn any_single_plan_is_well_formed(
        rules in agreement(FIELDS_A, FIELDS_B, GROUPS_A, GROUPS_B),
        rebase in any::<bool>(),
        base_status in prop::option::of(0..STATUSES.len()),
        now_status in 0..STATUSES.len(),
        base_tags in prop::sample::subsequence(TAGS.to_vec(), 0..=TAGS.len()),
        now_tags in prop::sample::subsequence(TAGS.to_vec(), 0..=TAGS.len()),
        base_fields in prop::collection::btree_map(prop::sample::select(FIELDS_A.to_vec()), 0..7usize, 0..3),
        now_fields in prop::collection::btree_map(prop::sample::select(FIELDS_A.to_vec()), 0..7usize, 0..3),
        comments in prop::collection::vec((any::<bool>(), any::<bool>(), any::<bool>(), 0u8..10), 0..12),
    ) {
        let t0: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        let baseline = Baseline {
            status: base_status.map(|i| STATUSES[i]),
            tags: base_tags.iter().map(|t| t.to_string()).collect(),
            fields: base_fields.iter().map(|(&k, &v)| (k, value(v))).collect(),
            not_before: Some(t0 + SignedDuration::from_secs(3)),
            rebase,
            system: None,
        };
        let now = SideNow {
            status: STATUSES[now_status],
            tags: now_tags.iter().map(|t| t.to_string()).collect(),
            custom_fields: now_fields.iter().map(|(&id, &v)| CustomField { id, value: value(v) }).collect(),
            system: Default::default(),
        };
        let comments: Vec<CommentNow> = comments.iter().enumerate().map(|(i, &(public, wb, ab, at))| {
            let id = 100 + i as u64;
            CommentNow {
                id,
                public,
                author: format!("Agent {i}"),
                author_is_bridge: ab,
                written_by_bridge: wb,
                created_at: t0 + SignedDuration::from_secs(i64::from(at)),
                body: format!("{} text", marker(id)),
            }
        }).collect();
        let p = plan::plan(&rules, "acme", &baseline, &now, &comments);
        check_plan(&rules, &baseline, &comments, &p)?;
        // What crosses is exactly what the rules say, nothing older than not_before.
        let sent: Vec<u64> = p.writes.iter().filter_map(|w| w.comment.as_ref())
            .flat_map(|b| b.source_comment_ids.clone()).collect();
        let want: Vec<u64> = comments.iter().filter(|c| {
            !c.written_by_bridge && !c.author_is_bridge
                && c.created_at >= baseline.not_before.unwrap()
                && if c.public { rules.comments.public } else { rules.comments.private }
        }).map(|c| c.id).collect();
        prop_assert_eq!(sent, want);
        // The receiver's baseline after the writes takes in every change they made.
        let mut receiver = Baseline::default();
        for w in &p.writes {
            receiver = plan::receiver_after(receiver, w);
            if let Some(s) = w.status {
                prop_assert_eq!(receiver.status, Some(s));
            }
            for t in &w.tags.add {
                prop_assert!(receiver.tags.contains(t));
            }
            for t in &w.tags.remove {
                prop_assert!(!receiver.tags.contains(t));
            }
            for f in &w.fields {
                prop_assert_eq!(receiver.fields.get(&f.id), Some(&f.value));
            }
        }
    }
}
