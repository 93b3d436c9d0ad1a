use super::*;
use crate::config::FieldMap;
use proptest::prelude::*;
use serde_json::{Value, json};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn all_on() -> SystemRules {
    SystemRules {
        priority: true,
        ticket_type: true,
        groups: BTreeMap::from([(1, 10), (2, 20)]),
        forms: BTreeMap::from([(5, 50)]),
    }
}

fn sys(
    priority: Option<&str>,
    ty: Option<&str>,
    due: Option<&str>,
    group: Option<u64>,
) -> SystemNow {
    SystemNow {
        priority: priority.map(str::to_owned),
        ticket_type: ty.map(str::to_owned),
        due_at: due.map(at),
        group_id: group,
        form_id: None,
    }
}

#[test]
fn each_switch_decides_its_field() {
    let before = sys(Some("low"), Some("question"), None, Some(1));
    let now = sys(Some("high"), Some("incident"), None, Some(2));
    let on = changes(&all_on(), &before, &now);
    assert_eq!(on.priority, Some(Some("high".into())));
    assert_eq!(on.ticket_type, Some(Some("incident".into())));
    assert_eq!(on.due_at, None, "no due date outside tasks");
    assert_eq!(on.group_id, Some(20));
    let off = changes(&SystemRules::default(), &before, &now);
    assert!(off.is_empty(), "{off:?}");
    assert!(changes(&all_on(), &now, &now).is_empty());
}

#[test]
fn a_cleared_priority_or_type_is_cleared() {
    let before = sys(Some("low"), Some("question"), None, None);
    let now = sys(None, None, None, None);
    let c = changes(&all_on(), &before, &now);
    assert_eq!(c.priority, Some(None));
    assert_eq!(c.ticket_type, Some(None));
}

#[test]
fn due_at_rides_with_tasks() {
    let due = "2026-12-24T10:00:00Z";
    // Becoming a task brings its due date.
    let c = changes(
        &all_on(),
        &sys(None, Some("question"), None, None),
        &sys(None, Some("task"), Some(due), None),
    );
    assert_eq!(c.ticket_type, Some(Some("task".into())));
    assert_eq!(c.due_at, Some(Some(at(due))));
    // A due date moved alone crosses; cleared, it is cleared.
    let c = changes(
        &all_on(),
        &sys(None, Some("task"), Some(due), None),
        &sys(None, Some("task"), Some("2026-12-31T10:00:00Z"), None),
    );
    assert_eq!(
        (c.ticket_type.clone(), c.due_at),
        (None, Some(Some(at("2026-12-31T10:00:00Z"))))
    );
    let c = changes(
        &all_on(),
        &sys(None, Some("task"), Some(due), None),
        &sys(None, Some("task"), None, None),
    );
    assert_eq!(c.due_at, Some(None));
    // A task with no due date sends none.
    let c = changes(
        &all_on(),
        &SystemNow::default(),
        &sys(None, Some("task"), None, None),
    );
    assert_eq!(c.due_at, None);
    // type = false: neither type nor due date.
    let rules = SystemRules {
        ticket_type: false,
        ..all_on()
    };
    let c = changes(
        &rules,
        &SystemNow::default(),
        &sys(None, Some("task"), Some(due), None),
    );
    assert_eq!((c.ticket_type, c.due_at), (None, None));
}

#[test]
fn groups_and_forms_cross_only_through_their_maps() {
    let rules = all_on();
    let mut now = sys(None, None, None, Some(3));
    now.form_id = Some(5);
    let c = changes(&rules, &SystemNow::default(), &now);
    assert_eq!(c.group_id, None, "group 3 has no entry");
    assert_eq!(c.form_id, Some(50));
    // A cleared group is not cleared on the other side.
    let c = changes(
        &rules,
        &sys(None, None, None, Some(1)),
        &SystemNow::default(),
    );
    assert_eq!(c.group_id, None);
}

#[test]
fn after_records_what_landed_and_drops_a_non_tasks_due_date() {
    let receiver = sys(
        Some("low"),
        Some("task"),
        Some("2026-12-24T10:00:00Z"),
        Some(7),
    );
    let change = SystemChange {
        priority: Some(None),
        ticket_type: Some(Some("question".into())),
        group_id: Some(10),
        ..Default::default()
    };
    let r = after(receiver, &change);
    assert_eq!(r, sys(None, Some("question"), None, Some(10)));
}

fn rules_with(fields: Vec<FieldMap>, system: SystemRules) -> AgreementConfig {
    let mut a = crate::rules::tests::agreement();
    a.fields = fields;
    a.system = system;
    a
}

fn map(from: u64, to: u64, values: &[(&str, &str)]) -> FieldMap {
    FieldMap {
        from,
        to,
        values: values
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect(),
    }
}

fn shape(kind: &str, options: &[&str]) -> FieldShape {
    FieldShape {
        kind: kind.to_owned(),
        options: options.iter().map(|o| (*o).to_owned()).collect(),
    }
}

fn cf(id: u64, value: Value) -> CustomField {
    CustomField { id, value }
}

fn directory() -> Directory {
    Directory {
        fields: Some(BTreeMap::from([
            (100, shape("tagger", &["gold", "silver"])),
            (101, shape("checkbox", &[])),
            (102, shape("text", &[])),
            (103, shape("multiselect", &["a", "b"])),
        ])),
        groups: Some(BTreeSet::from([10])),
        forms: Some(BTreeSet::from([50])),
    }
}

#[test]
fn every_kind_of_mismatch_is_found_by_ids() {
    let rules = rules_with(
        vec![
            map(1, 100, &[("tier_gold", "gold")]),
            map(2, 101, &[]),
            map(3, 999, &[]),
            map(4, 102, &[]),
            map(5, 103, &[]),
        ],
        all_on(),
    );
    let fields = vec![
        cf(1, json!("tier_bronze")),
        cf(2, json!("yes")),
        cf(3, json!("x")),
        cf(4, json!("free text")),
        cf(5, json!(["a", "c"])),
    ];
    let mut system = sys(None, None, None, Some(2));
    system.form_id = Some(6);
    let found = mismatches(&rules, Flow::SourceToTarget, &fields, &system, &directory());
    let got: Vec<(MismatchKind, u64, Option<u64>)> = found
        .iter()
        .map(|m| (m.kind, m.sender_id, m.receiver_id))
        .collect();
    use MismatchKind::*;
    assert_eq!(
        got,
        vec![
            (UnmappedValue, 1, Some(100)),
            (UnmappedValue, 5, Some(103)),
            (MissingField, 3, Some(999)),
            (TypeMismatch, 2, Some(101)),
            (MissingGroup, 2, Some(20)),
            (UnmappedForm, 6, None),
        ]
    );
    // Ids only: no value appears in what is reported.
    let shown = format!(
        "{found:?} {}",
        found.iter().map(Mismatch::describe).collect::<String>()
    );
    for value in ["tier_bronze", "yes", "free text"] {
        assert!(!shown.contains(value), "{shown}");
    }
}

#[test]
fn what_fits_is_no_mismatch() {
    let rules = rules_with(
        vec![
            map(1, 100, &[("tier_gold", "gold")]),
            map(2, 101, &[]),
            map(5, 103, &[]),
        ],
        all_on(),
    );
    let fields = vec![
        cf(1, json!("tier_gold")),
        cf(2, json!(true)),
        cf(5, json!(["a", "b"])),
    ];
    let mut system = sys(None, None, None, Some(1));
    system.form_id = Some(5);
    assert!(mismatches(&rules, Flow::SourceToTarget, &fields, &system, &directory()).is_empty());
    // A value equal to a receiver option needs no map entry; null is never a mismatch.
    let fields = vec![cf(1, json!("silver")), cf(2, Value::Null)];
    assert!(mismatches(&rules, Flow::SourceToTarget, &fields, &system, &directory()).is_empty());
    // A field the receiver lacks: missing; a value its drop-down map does not name is
    // also reported as unmapped (there is no field to ask for its options).
    let rules = rules_with(
        vec![map(1, 777, &[("tier_gold", "gold")])],
        SystemRules::default(),
    );
    let kinds = |v: Value| {
        mismatches(
            &rules,
            Flow::SourceToTarget,
            &[cf(1, v)],
            &SystemNow::default(),
            &directory(),
        )
        .into_iter()
        .map(|m| m.kind)
        .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(json!("tier_bronze")),
        vec![MismatchKind::UnmappedValue, MismatchKind::MissingField]
    );
    assert_eq!(kinds(json!("tier_gold")), vec![MismatchKind::MissingField]);
    // A directory not read judges nothing; empty maps report no group or form.
    let found = mismatches(
        &rules_with(vec![map(1, 100, &[])], SystemRules::default()),
        Flow::TargetToSource,
        &[cf(1, json!("bronze"))],
        &sys(None, None, None, Some(99)),
        &Directory::default(),
    );
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn fit_table() {
    use MismatchKind::*;
    let cases: &[(&str, Value, Option<MismatchKind>)] = &[
        ("tagger", json!("gold"), None),
        ("tagger", json!("lead"), Some(UnmappedValue)),
        ("tagger", json!(3), Some(TypeMismatch)),
        ("multiselect", json!(["gold"]), None),
        ("multiselect", json!(["gold", "lead"]), Some(UnmappedValue)),
        ("multiselect", json!([1]), Some(TypeMismatch)),
        ("checkbox", json!(false), None),
        ("checkbox", json!("no"), Some(TypeMismatch)),
        ("integer", json!(42), None),
        ("integer", json!("42"), None),
        ("integer", json!(4.5), Some(TypeMismatch)),
        ("integer", json!("four"), Some(TypeMismatch)),
        ("decimal", json!(4.5), None),
        ("decimal", json!("4.5"), None),
        ("decimal", json!(true), Some(TypeMismatch)),
        ("date", json!("2026-12-24"), None),
        ("date", json!("Christmas"), Some(TypeMismatch)),
        ("text", json!("anything"), None),
        ("text", json!(7), None),
        ("text", json!(["a"]), Some(TypeMismatch)),
        ("textarea", json!({"a": 1}), Some(TypeMismatch)),
        ("tagger", Value::Null, None),
    ];
    for (kind, value, want) in cases {
        assert_eq!(fit(&shape(kind, &["gold"]), value), *want, "{kind} {value}");
    }
}

#[test]
fn screen_takes_out_exactly_what_does_not_fit() {
    let found = vec![
        Mismatch {
            kind: MismatchKind::UnmappedValue,
            flow: Flow::SourceToTarget,
            sender_id: 1,
            receiver_id: Some(100),
        },
        Mismatch {
            kind: MismatchKind::MissingGroup,
            flow: Flow::SourceToTarget,
            sender_id: 2,
            receiver_id: Some(20),
        },
    ];
    let mut fields = vec![cf(100, json!("lead")), cf(102, json!("ok"))];
    let mut change = SystemChange {
        priority: Some(Some("high".into())),
        group_id: Some(20),
        form_id: Some(50),
        ..Default::default()
    };
    screen(&mut fields, &mut change, &found);
    assert_eq!(fields, vec![cf(102, json!("ok"))]);
    assert_eq!(change.group_id, None);
    assert_eq!(change.form_id, Some(50));
    assert_eq!(
        change.priority,
        Some(Some("high".into())),
        "the rest crosses"
    );
}

fn opt(values: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop::sample::select(values).prop_map(str::to_owned))
}

fn system_now() -> impl Strategy<Value = SystemNow> {
    (
        opt(&["urgent", "high", "normal", "low"]),
        opt(&["problem", "incident", "question", "task"]),
        prop::option::of(0i64..3),
        prop::option::of(1u64..5),
        prop::option::of(4u64..7),
    )
        .prop_map(
            |(priority, ticket_type, due, group_id, form_id)| SystemNow {
                priority,
                ticket_type,
                due_at: due.map(|d| Timestamp::from_second(1_800_000_000 + d * 86_400).unwrap()),
                group_id,
                form_id,
            },
        )
}

fn system_rules() -> impl Strategy<Value = SystemRules> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::btree_map(1u64..5, 10u64..13, 0..4),
        prop::collection::btree_map(4u64..7, 50u64..52, 0..3),
    )
        .prop_map(|(priority, ticket_type, groups, forms)| SystemRules {
            priority,
            ticket_type,
            groups,
            forms,
        })
}

proptest! {
    /// Convergence: a receiver that held the sender's earlier values holds its current
    /// ones once the change landed, for every field that is on (the due date of a task
    /// included; a mapped group or form becomes its mapped id).
    #[test]
    fn a_landed_change_brings_the_receiver_in_line(
        rules in system_rules(), before in system_now(), now in system_now(),
    ) {
        let mut receiver = before.clone();
        receiver.group_id = before.group_id.and_then(|g| rules.groups.get(&g).copied());
        receiver.form_id = before.form_id.and_then(|f| rules.forms.get(&f).copied());
        if receiver.ticket_type.as_deref() != Some("task") {
            receiver.due_at = None;
        }
        let landed = after(receiver.clone(), &changes(&rules, &before, &now));
        if rules.priority {
            prop_assert_eq!(&landed.priority, &now.priority);
        }
        if rules.ticket_type {
            prop_assert_eq!(&landed.ticket_type, &now.ticket_type);
            if now.ticket_type.as_deref() == Some("task") && before.ticket_type == now.ticket_type
                || now.ticket_type.as_deref() == Some("task") && receiver.due_at.is_none()
            {
                prop_assert_eq!(landed.due_at, now.due_at);
            }
        }
        if let Some(g) = now.group_id.and_then(|g| rules.groups.get(&g)) {
            prop_assert_eq!(landed.group_id, Some(*g));
        }
        if let Some(f) = now.form_id.and_then(|f| rules.forms.get(&f)) {
            prop_assert_eq!(landed.form_id, Some(*f));
        }
    }

    /// A change never sets a group or form outside its map, never a field that is off,
    /// and carries the sender's value for what is on and changed.
    #[test]
    fn changes_follow_the_rules(rules in system_rules(), before in system_now(), now in system_now()) {
        let c = changes(&rules, &before, &now);
        if let Some(g) = c.group_id {
            prop_assert!(rules.groups.values().any(|v| *v == g));
        }
        if let Some(f) = c.form_id {
            prop_assert!(rules.forms.values().any(|v| *v == f));
        }
        if !rules.priority { prop_assert_eq!(&c.priority, &None); }
        if !rules.ticket_type { prop_assert_eq!((&c.ticket_type, c.due_at), (&None, None)); }
        if rules.priority && before.priority != now.priority {
            prop_assert_eq!(c.priority, Some(now.priority.clone()));
        }
        if c.due_at.is_some() {
            prop_assert_eq!(now.ticket_type.as_deref(), Some("task"));
        }
    }

    /// After screening, the update names no field, group or form a mismatch names.
    #[test]
    fn screened_updates_hold_nothing_reported(
        rules in system_rules(), now in system_now(),
        group_known in any::<bool>(), form_known in any::<bool>(),
    ) {
        let agreement = rules_with(vec![], rules.clone());
        let dir = Directory {
            fields: None,
            groups: Some(if group_known { BTreeSet::from([10, 11, 12]) } else { BTreeSet::new() }),
            forms: Some(if form_known { BTreeSet::from([50, 51]) } else { BTreeSet::new() }),
        };
        let found = mismatches(&agreement, Flow::SourceToTarget, &[], &now, &dir);
        let mut change = changes(&rules, &SystemNow::default(), &now);
        screen(&mut Vec::new(), &mut change, &found);
        if let Some(g) = change.group_id { prop_assert!(group_known, "{g}"); }
        if let Some(f) = change.form_id { prop_assert!(form_known, "{f}"); }
        for m in &found {
            prop_assert!(MismatchKind::ALL.contains(&m.kind));
        }
    }
}
