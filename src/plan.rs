//! One sync step of one link flow, decided: given what the sending side holds now and what
//! the bridge last saw of it, which Zendesk updates go to the receiving side. DESIGN §5:
//! one update per mirror comment, the status/tag/field changes riding with the first.
//!
//! Architecture invariant: pure. The engine reads both sides and the store, calls
//! [`plan`], performs the writes in order and records each before the next.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::coalesce::{self, Batch, Part};
use crate::config::AgreementConfig;
use crate::rules::{self, CommentFacts, CommentVerdict, TagDelta, TagFilter};
use crate::system::{self, SystemChange, SystemNow};
use crate::zendesk::models::{CustomField, Status};

/// What the bridge last saw (or wrote) of one side of a link: changes are measured against
/// it, so what the bridge itself wrote is never taken for an agent's change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub status: Option<Status>,
    pub tags: BTreeSet<String>,
    /// Custom field values by this side's field id.
    pub fields: BTreeMap<u64, serde_json::Value>,
    /// Comments created before this instant are history, not news (set when a link turns
    /// two-way: the reverse flow is not retroactive).
    #[serde(default)]
    pub not_before: Option<Timestamp>,
    /// The next step takes the side as it is then as the baseline, sending no field
    /// changes (set when a link turns two-way).
    #[serde(default)]
    pub rebase: bool,
    /// Zendesk's own fields (`[agreements.system]`); `None` in baselines stored before
    /// they crossed: the next step records them without sending any change.
    #[serde(default)]
    pub system: Option<SystemNow>,
}

/// The sending side's ticket as it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct SideNow {
    pub status: Status,
    pub tags: Vec<String>,
    pub custom_fields: Vec<CustomField>,
    pub system: SystemNow,
}

impl SideNow {
    /// The baseline this state becomes once handled.
    pub fn to_baseline(&self, not_before: Option<Timestamp>) -> Baseline {
        Baseline {
            status: Some(self.status),
            tags: self.tags.iter().cloned().collect(),
            fields: self
                .custom_fields
                .iter()
                .map(|f| (f.id, f.value.clone()))
                .collect(),
            not_before,
            rebase: false,
            system: Some(self.system.clone()),
        }
    }
}

/// One comment of the sending side, newer than the flow's watermark.
#[derive(Debug, Clone, PartialEq)]
pub struct CommentNow {
    pub id: u64,
    pub public: bool,
    pub author: String,
    pub author_is_bridge: bool,
    /// Recorded in the store as written by the bridge on this side.
    pub written_by_bridge: bool,
    pub created_at: Timestamp,
    pub body: String,
}

/// One Zendesk ticket update for the receiving side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Write {
    pub comment: Option<Batch>,
    pub status: Option<Status>,
    pub tags: TagDelta,
    pub fields: Vec<CustomField>,
    /// Priority, type, due date, group, form.
    pub system: SystemChange,
}

impl Write {
    pub fn is_empty(&self) -> bool {
        self.comment.is_none() && !self.changes_ticket()
    }

    /// Whether it changes the ticket itself (status, tags, fields or system fields), not
    /// only adds a comment.
    pub fn changes_ticket(&self) -> bool {
        self.status.is_some()
            || !self.tags.is_empty()
            || !self.fields.is_empty()
            || !self.system.is_empty()
    }
}

/// The decision for one step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// In order; the first carries the status/tag/field changes.
    pub writes: Vec<Write>,
    /// Private comments the agreement holds back.
    pub held_back: Vec<u64>,
    /// Comments that do not cross for another reason (echo, public disabled, history).
    pub skipped: Vec<u64>,
    /// The highest comment id decided by this plan (the watermark once all writes land).
    pub last_comment: Option<u64>,
}

impl Plan {
    /// Whether any write changes the ticket itself (status, tags or fields).
    pub fn changes_ticket(&self) -> bool {
        self.writes.iter().any(Write::changes_ticket)
    }
}

/// Decides one step. `account` names the sending side in attributions.
pub fn plan(
    rules: &AgreementConfig,
    account: &str,
    baseline: &Baseline,
    now: &SideNow,
    comments: &[CommentNow],
) -> Plan {
    let mut out = Plan::default();
    let mut parts = Vec::new();
    for c in comments {
        out.last_comment = Some(out.last_comment.map_or(c.id, |m| m.max(c.id)));
        if baseline.not_before.is_some_and(|t| c.created_at < t) {
            out.skipped.push(c.id);
            continue;
        }
        let facts = CommentFacts {
            public: c.public,
            written_by_bridge: c.written_by_bridge,
            author_is_bridge: c.author_is_bridge,
        };
        match rules::comment_verdict(&rules.comments, facts) {
            CommentVerdict::Send { public } => parts.push(Part {
                source_comment_id: c.id,
                author: c.author.clone(),
                account: account.to_owned(),
                public,
                body: c.body.clone(),
            }),
            CommentVerdict::HeldBack => out.held_back.push(c.id),
            CommentVerdict::PublicDisabled | CommentVerdict::Echo => out.skipped.push(c.id),
        }
    }
    let first = if baseline.rebase {
        Write::default()
    } else {
        field_changes(rules, baseline, now)
    };
    let batches = coalesce::coalesce(&parts, rules.comments.attribution);
    let mut first = Some(first);
    for batch in batches {
        let mut w = first.take().unwrap_or_default();
        w.comment = Some(batch);
        out.writes.push(w);
    }
    if let Some(w) = first.filter(|w| !w.is_empty()) {
        out.writes.push(w);
    }
    out
}

/// Status, tag and field changes since the baseline, under the sender's rules.
fn field_changes(rules: &AgreementConfig, baseline: &Baseline, now: &SideNow) -> Write {
    let status = (baseline.status != Some(now.status))
        .then(|| rules::map_status(&rules.status, now.status))
        .flatten();
    let filter = TagFilter::new(rules);
    let tags = rules::tag_delta(
        &filter.filter(baseline.tags.iter()),
        &filter.filter(now.tags.iter()),
    );
    let fields = rules
        .fields
        .iter()
        .filter_map(|m| {
            let current = now.custom_fields.iter().find(|f| f.id == m.from)?;
            let before = baseline.fields.get(&m.from);
            (before != Some(&current.value)).then_some(m)
        })
        .map(|m| m.from)
        .collect::<BTreeSet<u64>>();
    let changed: Vec<CustomField> = now
        .custom_fields
        .iter()
        .filter(|f| fields.contains(&f.id))
        .cloned()
        .collect();
    let system = baseline
        .system
        .as_ref()
        .map(|before| system::changes(&rules.system, before, &now.system))
        .unwrap_or_default();
    Write {
        comment: None,
        status,
        tags,
        fields: rules::map_fields(&rules.fields, &changed),
        system,
    }
}

/// The receiving side's baseline after `write` landed: what the bridge wrote there is not
/// news for the reverse flow.
pub fn receiver_after(mut receiver: Baseline, write: &Write) -> Baseline {
    if let Some(s) = write.status {
        receiver.status = Some(s);
    }
    for t in &write.tags.remove {
        receiver.tags.remove(t);
    }
    receiver.tags.extend(write.tags.add.iter().cloned());
    for f in &write.fields {
        receiver.fields.insert(f.id, f.value.clone());
    }
    receiver.system = receiver.system.map(|s| system::after(s, &write.system));
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FieldMap;

    /// The rules fixture of `rules::tests`, with a field map from 1 to 2.
    fn rules() -> AgreementConfig {
        let mut a = crate::rules::tests::agreement();
        a.fields = vec![FieldMap {
            from: 1,
            to: 2,
            values: BTreeMap::from([("x".into(), "y".into())]),
        }];
        a
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn comment(id: u64, public: bool) -> CommentNow {
        CommentNow {
            id,
            public,
            author: format!("A{id}"),
            author_is_bridge: false,
            written_by_bridge: false,
            created_at: at("2026-11-23T10:00:00Z"),
            body: format!("body {id}"),
        }
    }

    fn side(status: Status, tags: &[&str]) -> SideNow {
        SideNow {
            status,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            custom_fields: vec![],
            system: SystemNow::default(),
        }
    }

    #[test]
    fn nothing_new_plans_nothing() {
        let now = side(Status::Open, &["a"]);
        let p = plan(&rules(), "acme", &now.to_baseline(None), &now, &[]);
        assert!(p.writes.is_empty());
    }

    #[test]
    fn comments_and_changes_ride_in_one_update() {
        let base = side(Status::Open, &["a"]).to_baseline(None);
        let now = SideNow {
            status: Status::Hold,
            tags: vec![
                "a".into(),
                "b".into(),
                "internal_x".into(),
                "vendor_escalation".into(),
            ],
            custom_fields: vec![
                CustomField {
                    id: 1,
                    value: "x".into(),
                },
                CustomField {
                    id: 9,
                    value: "z".into(),
                },
            ],
            system: SystemNow::default(),
        };
        let p = plan(
            &rules(),
            "acme",
            &base,
            &now,
            &[comment(10, true), comment(11, false), comment(12, true)],
        );
        assert_eq!(p.held_back, vec![11]);
        assert_eq!(p.last_comment, Some(12));
        assert_eq!(p.writes.len(), 1, "{p:?}");
        let w = &p.writes[0];
        assert_eq!(w.comment.as_ref().unwrap().source_comment_ids, vec![10, 12]);
        assert_eq!(w.status, Some(Status::Open), "hold maps to open");
        assert_eq!(w.tags.add, BTreeSet::from(["b".to_owned()]));
        assert_eq!(
            w.fields,
            vec![CustomField {
                id: 2,
                value: "y".into()
            }]
        );
    }

    #[test]
    fn echo_and_history_are_skipped() {
        let base = Baseline {
            not_before: Some(at("2026-11-23T10:00:01Z")),
            ..side(Status::Open, &[]).to_baseline(None)
        };
        let mut echo = comment(20, true);
        echo.created_at = at("2026-11-23T11:00:00Z");
        echo.written_by_bridge = true;
        let mut fresh = comment(21, true);
        fresh.created_at = at("2026-11-23T11:00:00Z");
        let p = plan(
            &rules(),
            "acme",
            &base,
            &side(Status::Open, &[]),
            &[comment(19, true), echo, fresh],
        );
        assert_eq!(p.skipped, vec![19, 20]);
        assert_eq!(p.writes.len(), 1);
        assert_eq!(
            p.writes[0].comment.as_ref().unwrap().source_comment_ids,
            vec![21]
        );
    }

    #[test]
    fn what_the_bridge_wrote_is_not_news_for_the_reverse_flow() {
        let base = side(Status::Open, &["a"]).to_baseline(None);
        let now = side(Status::Hold, &["a", "b"]);
        let p = plan(&rules(), "acme", &base, &now, &[]);
        let receiver = receiver_after(
            side(Status::New, &["theirs"]).to_baseline(None),
            &p.writes[0],
        );
        let mirror_now = SideNow {
            status: Status::Open,
            tags: vec!["theirs".into(), "b".into()],
            custom_fields: vec![],
            system: SystemNow::default(),
        };
        // The reverse flow (same rules for the test) sees no change on the mirror.
        let back = plan(&rules(), "vendor", &receiver, &mirror_now, &[]);
        assert!(back.writes.is_empty(), "{back:?}");
    }
}
