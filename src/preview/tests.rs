use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::*;
use crate::config::FieldMap;
use crate::rules::tests::agreement;

fn ticket(tags: &[&str], fields: serde_json::Value) -> Ticket {
    serde_json::from_value(json!({
        "id": 42, "status": "hold", "brand_id": 3, "tags": tags, "custom_fields": fields,
        "created_at": "2026-11-23T05:29:05Z", "updated_at": "2026-11-23T05:29:05Z"
    }))
    .unwrap()
}

fn comment(id: u64, author: u64, public: bool, sizes: &[u64]) -> Comment {
    let attachments: Vec<serde_json::Value> = sizes
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"id": id * 10 + i as u64, "size": s}))
        .collect();
    serde_json::from_value(json!({
        "id": id, "author_id": author, "public": public, "body": "secret words",
        "attachments": attachments, "created_at": "2026-11-23T05:29:05Z"
    }))
    .unwrap()
}

/// Comments: public cross, private are held back (with their attachments), the bridge's
/// own never return; attachments over `max_bytes` are named, not copied.
#[test]
fn comments_and_attachments_follow_the_sender_rules() {
    let mut a = agreement();
    a.attachments.max_bytes = 1000;
    let comments = [
        comment(1, 7, true, &[10, 5000]),
        comment(2, 7, false, &[20]),
        comment(3, 99, true, &[]),
        comment(4, 7, true, &[]),
    ];
    let bridge = BridgeFacts {
        user: Some(99),
        comments: BTreeSet::from([4]),
    };
    let p = ticket_plan(
        &a,
        &ticket(&[], json!([])),
        &comments,
        &bridge,
        &Catalogs::default(),
        Target::default(),
    );
    assert_eq!(
        p.comments,
        CommentCounts {
            total: 4,
            crossing: 1,
            public: 1,
            private: 0,
            held_back: 1,
            public_disabled: 0,
            echo: 2,
        }
    );
    assert_eq!(p.attachments.copied, 1);
    assert_eq!(p.attachments.copied_bytes, 10);
    assert_eq!(
        p.attachments.over_max_bytes,
        vec![AttachmentRef {
            comment: 1,
            attachment: 11,
            size: 5000
        }]
    );
    assert_eq!(p.attachments.held_back, 1);
    // Private comments allowed: they cross as private; attachments off: none copied.
    a.comments.private = true;
    a.comments.public = false;
    a.attachments.sync = false;
    let p = ticket_plan(
        &a,
        &ticket(&[], json!([])),
        &comments,
        &bridge,
        &Catalogs::default(),
        Target::default(),
    );
    assert_eq!(
        (
            p.comments.public,
            p.comments.private,
            p.comments.public_disabled
        ),
        (0, 1, 1)
    );
    assert_eq!(p.attachments.sync_off, 1);
    assert_eq!(p.attachments.held_back, 2);
    assert!(!serde_json::to_string(&p).unwrap().contains("secret"));
}

#[test]
fn tags_status_and_shared_by() {
    let mut a = agreement();
    a.tags.exclude = vec!["internal_*".into()];
    a.status.map = BTreeMap::from([(Status::Hold, Status::Open)]);
    let t = ticket(
        &[
            "vendor_escalation",
            "vip",
            "internal_x",
            "sharebridge_shared",
            "vip",
        ],
        json!([]),
    );
    let p = ticket_plan(
        &a,
        &t,
        &[],
        &BridgeFacts::default(),
        &Catalogs::default(),
        Target::default(),
    );
    assert_eq!(p.tags.crossing, vec!["vip".to_owned()]);
    let held: Vec<(&str, TagHeld)> = p
        .tags
        .held
        .iter()
        .map(|h| (h.tag.as_str(), h.reason))
        .collect();
    assert_eq!(
        held,
        vec![
            ("vendor_escalation", TagHeld::AutoShare),
            ("internal_x", TagHeld::Excluded),
            ("sharebridge_shared", TagHeld::Bridge)
        ]
    );
    assert_eq!(p.mirror_status, Some(Status::Open));
    assert_eq!(p.shared_by_tags, vec!["vendor_escalation".to_owned()]);
}

/// Fields with no mapping, a mapping to a field the receiver lacks, and drop-down values
/// the receiver's options do not hold (after the value map); free text never shown.
#[test]
fn fields_and_values_with_no_mapping() {
    let mut a = agreement();
    a.fields = vec![
        FieldMap {
            from: 1,
            to: 101,
            values: BTreeMap::from([("tier_gold".into(), "gold".into())]),
        },
        FieldMap {
            from: 2,
            to: 102,
            values: BTreeMap::new(),
        },
        FieldMap {
            from: 3,
            to: 103,
            values: BTreeMap::new(),
        },
    ];
    let t = ticket(
        &[],
        json!([
            {"id": 1, "value": "tier_gold"},
            {"id": 2, "value": "a private note"},
            {"id": 3, "value": ["x", "y"]},
            {"id": 4, "value": "unmapped text"},
            {"id": 5, "value": null},
        ]),
    );
    let catalogs = Catalogs {
        sender: Some(BTreeMap::from([(1, FieldInfo::of("tagger", []))])),
        receiver: Some(BTreeMap::from([
            (101, FieldInfo::of("tagger", ["silver".to_owned()])),
            (103, FieldInfo::of("multiselect", ["x".to_owned()])),
        ])),
    };
    let p = ticket_plan(
        &a,
        &t,
        &[],
        &BridgeFacts::default(),
        &catalogs,
        Target::default(),
    );
    assert_eq!(p.fields.mapped, vec![[1, 101], [2, 102], [3, 103]]);
    let got: Vec<(UnmappedKind, u64, Option<&str>)> = p
        .fields
        .unmapped
        .iter()
        .map(|u| (u.kind, u.field, u.value.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (UnmappedKind::Value, 1, Some("tier_gold")),
            (UnmappedKind::TargetFieldMissing, 2, None),
            (UnmappedKind::Value, 3, Some("y")),
            (UnmappedKind::Field, 4, None),
        ]
    );
    assert!(p.fields.unmapped[0].message.contains("maps to \"gold\""));
    let json = serde_json::to_string(&p).unwrap();
    assert!(!json.contains("private note") && !json.contains("unmapped text"));
    // Without the receiver's catalog, only the agreement's value map is checked.
    let p = ticket_plan(
        &a,
        &t,
        &[],
        &BridgeFacts::default(),
        &Catalogs {
            sender: catalogs.sender.clone(),
            receiver: None,
        },
        Target::default(),
    );
    let kinds: Vec<(UnmappedKind, u64)> = p
        .fields
        .unmapped
        .iter()
        .map(|u| (u.kind, u.field))
        .collect();
    assert_eq!(kinds, vec![(UnmappedKind::Field, 4)]);
}
