//! What a sender's agreement lets through: comments (public, private, echo), status,
//! tags and custom fields. Plain functions over plain data (DESIGN §5).
//!
//! Architecture invariant: no I/O, no clock, cannot fail. The engine gathers the facts
//! (a comment, who wrote it, whether the bridge wrote it) and asks; these functions decide.
//! A private comment is never made public; what the bridge wrote never crosses back.

use std::collections::{BTreeMap, BTreeSet};

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::config::{AgreementConfig, CommentRules, FieldMap, StatusRules};
use crate::zendesk::models::{CustomField, Status};

/// Tags sharebridge itself sets; they never cross and can never be excluded by accident.
pub const TAG_PREFIX: &str = "sharebridge_";
/// On every mirror.
pub const SHARED_TAG: &str = "sharebridge_shared";
/// On a mirror whose link has ended.
pub const ORPHANED_TAG: &str = "sharebridge_orphaned";

/// The facts about one source comment that decide whether it crosses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommentFacts {
    pub public: bool,
    /// The comment is recorded in the comment map as one the bridge wrote on this side.
    pub written_by_bridge: bool,
    /// The author is the bridge's own API user on this side.
    pub author_is_bridge: bool,
}

/// What happens to one source comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentVerdict {
    /// Mirror it, with this visibility on the other side.
    Send { public: bool },
    /// A private comment the agreement holds back (counted, never sent).
    HeldBack,
    /// A public comment while `comments.public = false`.
    PublicDisabled,
    /// The bridge wrote it: mirroring it back would echo.
    Echo,
}

impl CommentVerdict {
    pub fn crosses(self) -> bool {
        matches!(self, CommentVerdict::Send { .. })
    }
}

/// Whether and how one comment crosses under the sender's comment rules.
pub fn comment_verdict(rules: &CommentRules, facts: CommentFacts) -> CommentVerdict {
    if facts.written_by_bridge || facts.author_is_bridge {
        return CommentVerdict::Echo;
    }
    match (facts.public, rules.public, rules.private) {
        (true, true, _) => CommentVerdict::Send { public: true },
        (true, false, _) => CommentVerdict::PublicDisabled,
        (false, _, true) => CommentVerdict::Send { public: false },
        (false, _, false) => CommentVerdict::HeldBack,
    }
}

/// Whether a ticket whose `external_id` is this is a mirror of a ticket of the account
/// with `subdomain` (the bridge names its mirrors `sharebridge:{from_subdomain}:{id}`):
/// such a ticket is never shared back into that account.
pub fn mirrors_account(external_id: Option<&str>, subdomain: &str) -> bool {
    external_id
        .and_then(|e| e.strip_prefix("sharebridge:"))
        .and_then(|rest| rest.rsplit_once(':'))
        .is_some_and(|(sub, id)| sub == subdomain && id.parse::<u64>().is_ok())
}

/// The receiver's status for a sender status, or `None` when status does not sync (or
/// the sender status is not one a mirror can take: `deleted`).
///
/// `closed`, unmapped, arrives as `solved`: a closed ticket can never be updated again,
/// so closing the other side would end every link it has, the sibling links of a
/// fan-out too (found by the deterministic simulation, seed 4737: a mirror closed in the
/// vendor's account closed acme's source ticket, and its link to a third account went
/// to `error` at its next write). An explicit `closed = "closed"` in the map still closes.
pub fn map_status(rules: &StatusRules, status: Status) -> Option<Status> {
    if !rules.sync || status == Status::Deleted {
        return None;
    }
    Some(rules.map.get(&status).copied().unwrap_or(match status {
        Status::Closed => Status::Solved,
        other => other,
    }))
}

/// Compiled tag rules of one agreement.
#[derive(Debug, Clone)]
pub struct TagFilter {
    sync: bool,
    exclude: GlobSet,
    /// The agreement's auto-share tags: control tags, never mirrored (they would share the
    /// mirror onward).
    control: BTreeSet<String>,
}

impl TagFilter {
    /// Compiles the agreement's tag rules. Patterns were checked by config validation; one
    /// that still fails to compile excludes nothing rather than everything.
    pub fn new(agreement: &AgreementConfig) -> TagFilter {
        let mut builder = GlobSetBuilder::new();
        for pattern in &agreement.tags.exclude {
            if let Ok(glob) = Glob::new(pattern) {
                builder.add(glob);
            }
        }
        TagFilter {
            sync: agreement.tags.sync,
            exclude: builder.build().unwrap_or_else(|_| GlobSet::empty()),
            control: agreement.auto_share_tags.iter().cloned().collect(),
        }
    }

    /// Whether one tag may cross.
    pub fn allows(&self, tag: &str) -> bool {
        self.held(tag).is_none()
    }

    /// Why one tag does not cross, or `None` when it does.
    pub fn held(&self, tag: &str) -> Option<TagHeld> {
        if !self.sync {
            Some(TagHeld::SyncOff)
        } else if tag.starts_with(TAG_PREFIX) {
            Some(TagHeld::Bridge)
        } else if self.control.contains(tag) {
            Some(TagHeld::AutoShare)
        } else if self.exclude.is_match(tag) {
            Some(TagHeld::Excluded)
        } else {
            None
        }
    }

    /// The tags of a source ticket that may cross.
    pub fn filter<'a>(&self, tags: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
        tags.into_iter()
            .filter(|t| self.allows(t))
            .cloned()
            .collect()
    }
}

/// Why a tag is held back ([`TagFilter::held`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagHeld {
    /// `tags.sync = false`: no tag crosses.
    SyncOff,
    /// A `sharebridge_*` tag: the bridge's own.
    Bridge,
    /// One of the agreement's `auto_share_tags`: it would share the mirror onward.
    AutoShare,
    /// Matches a `tags.exclude` glob.
    Excluded,
}

/// A tag change to apply to the mirror: add and remove, never a replace, so the receiver's
/// own tags survive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagDelta {
    pub add: BTreeSet<String>,
    pub remove: BTreeSet<String>,
}

impl TagDelta {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// What changed between the allowed tags last sent and those allowed now.
pub fn tag_delta(last_sent: &BTreeSet<String>, now: &BTreeSet<String>) -> TagDelta {
    TagDelta {
        add: now.difference(last_sent).cloned().collect(),
        remove: last_sent.difference(now).cloned().collect(),
    }
}

/// The mirror's custom field values for the source's: only mapped fields, ids translated,
/// string values through the value map (drop-down option tags), other values unchanged.
pub fn map_fields(maps: &[FieldMap], source: &[CustomField]) -> Vec<CustomField> {
    let by_id: BTreeMap<u64, &serde_json::Value> =
        source.iter().map(|f| (f.id, &f.value)).collect();
    maps.iter()
        .filter_map(|m| {
            let value = by_id.get(&m.from)?;
            Some(CustomField {
                id: m.to,
                value: map_value(&m.values, value),
            })
        })
        .collect()
}

/// One mapped field's value as the receiver gets it (through the field's value map).
pub fn map_field_value(map: &FieldMap, value: &serde_json::Value) -> serde_json::Value {
    map_value(&map.values, value)
}

fn map_value(values: &BTreeMap<String, String>, value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) => {
            serde_json::Value::String(values.get(s).cloned().unwrap_or_else(|| s.clone()))
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(|v| map_value(values, v)).collect())
        }
        other => other.clone(),
    }
}

/// The mapped fields whose value differs from what was last sent.
pub fn field_delta(last_sent: &[CustomField], now: &[CustomField]) -> Vec<CustomField> {
    let last: BTreeMap<u64, &serde_json::Value> =
        last_sent.iter().map(|f| (f.id, &f.value)).collect();
    now.iter()
        .filter(|f| last.get(&f.id) != Some(&&f.value))
        .cloned()
        .collect()
}

/// Whether a source ticket qualifies for auto-sharing: it carries one of the agreement's
/// `auto_share_tags` and its brand passes the `brands` filter.
pub fn auto_share(agreement: &AgreementConfig, tags: &[String], brand_id: Option<u64>) -> bool {
    let tagged = carries_tag(agreement, tags);
    let brand_ok =
        agreement.brands.is_empty() || brand_id.is_some_and(|b| agreement.brands.contains(&b));
    tagged && brand_ok
}

/// Whether `tags` hold one of the agreement's `auto_share_tags`.
pub fn carries_tag(agreement: &AgreementConfig, tags: &[String]) -> bool {
    agreement.auto_share_tags.iter().any(|t| tags.contains(t))
}

/// Whether a shared ticket lost its auto-share tag and the agreement unshares on that.
/// A link shared by hand while the source had none of the tags (`untagged_share`) lost
/// nothing: a tag it never had was not removed.
pub fn unshare_on_tag_loss(
    agreement: &AgreementConfig,
    untagged_share: bool,
    tags: &[String],
) -> bool {
    agreement.unshare_on_tag_removal
        && !untagged_share
        && !agreement.auto_share_tags.is_empty()
        && !carries_tag(agreement, tags)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{AttachmentRules, TagRules, Target};
    use proptest::prelude::*;

    pub(crate) fn agreement() -> AgreementConfig {
        AgreementConfig {
            name: "acme-to-vendor".into(),
            from: "acme".into(),
            to: "vendor".into(),
            enabled: true,
            auto_share_tags: vec!["vendor_escalation".into()],
            unshare_on_tag_removal: true,
            brands: vec![],
            target: Target::default(),
            comments: CommentRules {
                public: true,
                private: false,
                attribution: true,
            },
            status: StatusRules {
                sync: true,
                map: BTreeMap::from([(Status::Hold, Status::Open)]),
            },
            tags: TagRules {
                sync: true,
                exclude: vec!["internal_*".into()],
            },
            fields: vec![FieldMap {
                from: 360001,
                to: 900002,
                values: BTreeMap::from([("tier_gold".into(), "gold".into())]),
            }],
            attachments: AttachmentRules {
                sync: true,
                max_bytes: 1000,
            },
            system: crate::config::SystemRules::default(),
            file: "conf.d/acme.toml".into(),
        }
    }

    /// Every combination of comment facts and comment rules.
    #[test]
    fn a_mirror_is_known_by_its_external_id() {
        assert!(mirrors_account(Some("sharebridge:acme:42"), "acme"));
        assert!(!mirrors_account(Some("sharebridge:acme:42"), "vendor"));
        assert!(!mirrors_account(Some("sharebridge:acme-eu:42"), "acme"));
        assert!(!mirrors_account(Some("sharebridge:acme:x"), "acme"));
        assert!(!mirrors_account(Some("crm:acme:42"), "acme"));
        assert!(!mirrors_account(None, "acme"));
    }

    #[test]
    fn comment_table() {
        use CommentVerdict::*;
        for public_rule in [false, true] {
            for private_rule in [false, true] {
                let rules = CommentRules {
                    public: public_rule,
                    private: private_rule,
                    attribution: true,
                };
                for public in [false, true] {
                    for written_by_bridge in [false, true] {
                        for author_is_bridge in [false, true] {
                            let facts = CommentFacts {
                                public,
                                written_by_bridge,
                                author_is_bridge,
                            };
                            let got = comment_verdict(&rules, facts);
                            let want = if written_by_bridge || author_is_bridge {
                                Echo
                            } else if public {
                                if public_rule {
                                    Send { public: true }
                                } else {
                                    PublicDisabled
                                }
                            } else if private_rule {
                                Send { public: false }
                            } else {
                                HeldBack
                            };
                            assert_eq!(got, want, "{rules:?} {facts:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn status_map_and_sync_off() {
        let a = agreement();
        assert_eq!(map_status(&a.status, Status::Hold), Some(Status::Open));
        assert_eq!(map_status(&a.status, Status::Solved), Some(Status::Solved));
        assert_eq!(map_status(&a.status, Status::Deleted), None);
        // Closed arrives as solved, unless the map says otherwise.
        assert_eq!(map_status(&a.status, Status::Closed), Some(Status::Solved));
        let closes = StatusRules {
            sync: true,
            map: BTreeMap::from([(Status::Closed, Status::Closed)]),
        };
        assert_eq!(map_status(&closes, Status::Closed), Some(Status::Closed));
        let off = StatusRules {
            sync: false,
            map: BTreeMap::new(),
        };
        assert_eq!(map_status(&off, Status::Open), None);
    }

    #[test]
    fn tags_exclude_globs_and_control_tags() {
        let f = TagFilter::new(&agreement());
        assert!(f.allows("billing"));
        assert!(!f.allows("internal_note"));
        assert!(!f.allows("sharebridge_shared"));
        assert!(!f.allows("sharebridge_orphaned"));
        assert!(!f.allows("vendor_escalation"));
        let mut a = agreement();
        a.tags.sync = false;
        assert!(!TagFilter::new(&a).allows("billing"));
    }

    #[test]
    fn held_tags_say_why() {
        let mut a = agreement();
        a.auto_share_tags = vec!["vendor_escalation".into()];
        a.tags.exclude = vec!["internal_*".into()];
        let f = TagFilter::new(&a);
        assert_eq!(f.held("vip"), None);
        assert_eq!(f.held("sharebridge_shared"), Some(TagHeld::Bridge));
        assert_eq!(f.held("vendor_escalation"), Some(TagHeld::AutoShare));
        assert_eq!(f.held("internal_note"), Some(TagHeld::Excluded));
        a.tags.sync = false;
        assert_eq!(TagFilter::new(&a).held("vip"), Some(TagHeld::SyncOff));
    }

    #[test]
    fn tag_delta_adds_and_removes() {
        let last: BTreeSet<String> = ["a", "b"].map(String::from).into();
        let now: BTreeSet<String> = ["b", "c"].map(String::from).into();
        let d = tag_delta(&last, &now);
        assert_eq!(d.add, ["c"].map(String::from).into());
        assert_eq!(d.remove, ["a"].map(String::from).into());
        assert!(tag_delta(&now, &now).is_empty());
    }

    #[test]
    fn fields_map_ids_and_values() {
        let a = agreement();
        let src = vec![
            CustomField {
                id: 360001,
                value: "tier_gold".into(),
            },
            CustomField {
                id: 111,
                value: "secret".into(),
            },
        ];
        assert_eq!(
            map_fields(&a.fields, &src),
            vec![CustomField {
                id: 900002,
                value: "gold".into()
            }]
        );
        let src = vec![CustomField {
            id: 360001,
            value: "tier_silver".into(),
        }];
        assert_eq!(
            map_fields(&a.fields, &src),
            vec![CustomField {
                id: 900002,
                value: "tier_silver".into()
            }]
        );
        let src = vec![CustomField {
            id: 360001,
            value: serde_json::Value::Null,
        }];
        assert_eq!(
            map_fields(&a.fields, &src)[0].value,
            serde_json::Value::Null
        );
        let last = map_fields(
            &a.fields,
            &[CustomField {
                id: 360001,
                value: "tier_gold".into(),
            }],
        );
        assert!(field_delta(&last, &last).is_empty());
    }

    #[test]
    fn auto_share_respects_tags_and_brands() {
        let mut a = agreement();
        let tags = vec!["vendor_escalation".to_owned()];
        assert!(auto_share(&a, &tags, Some(5)));
        assert!(!auto_share(&a, &[], Some(5)));
        a.brands = vec![7];
        assert!(!auto_share(&a, &tags, Some(5)));
        assert!(!auto_share(&a, &tags, None));
        assert!(auto_share(&a, &tags, Some(7)));
    }

    /// Every combination: only a tag the link was shared with (or gained since) and the
    /// agreement's say-so unshare it when it goes.
    #[test]
    fn unshare_on_tag_loss_needs_a_tag_that_was_there() {
        let tagged = vec!["vendor_escalation".to_owned(), "other".to_owned()];
        let untagged = vec!["other".to_owned()];
        for on_removal in [false, true] {
            for has_tags in [false, true] {
                for untagged_share in [false, true] {
                    for now_tagged in [false, true] {
                        let mut a = agreement();
                        a.unshare_on_tag_removal = on_removal;
                        if !has_tags {
                            a.auto_share_tags.clear();
                        }
                        let tags = if now_tagged { &tagged } else { &untagged };
                        let expected = on_removal && has_tags && !untagged_share && !now_tagged;
                        assert_eq!(
                            unshare_on_tag_loss(&a, untagged_share, tags),
                            expected,
                            "on_removal={on_removal} has_tags={has_tags} \
                             untagged_share={untagged_share} now_tagged={now_tagged}"
                        );
                        assert_eq!(carries_tag(&a, tags), has_tags && now_tagged);
                    }
                }
            }
        }
    }

    proptest! {
        /// A private comment never becomes public, and nothing the bridge wrote crosses.
        #[test]
        fn never_leaks_never_echoes(public: bool, pr: bool, pv: bool, wb: bool, ab: bool) {
            let rules = CommentRules { public: pr, private: pv, attribution: true };
            let v = comment_verdict(&rules, CommentFacts { public, written_by_bridge: wb, author_is_bridge: ab });
            if !public {
                prop_assert_ne!(v, CommentVerdict::Send { public: true });
            }
            if wb || ab {
                prop_assert!(!v.crosses());
            }
            if !public && !pv {
                prop_assert!(!v.crosses());
            }
        }

        /// No control tag or excluded tag ever crosses, whatever the source holds.
        #[test]
        fn filtered_tags_hold_no_control_or_excluded_tag(tags in proptest::collection::vec("[a-z_]{1,12}", 0..12)) {
            let f = TagFilter::new(&agreement());
            for t in f.filter(tags.iter()) {
                prop_assert!(!t.starts_with(TAG_PREFIX));
                prop_assert!(!t.starts_with("internal_"));
                prop_assert_ne!(t.as_str(), "vendor_escalation");
            }
        }

        /// Applying a tag delta to what was sent yields exactly what is allowed now.
        #[test]
        fn tag_delta_applies(last in proptest::collection::btree_set("[a-c]{1,2}", 0..6),
                             now in proptest::collection::btree_set("[a-c]{1,2}", 0..6)) {
            let d = tag_delta(&last, &now);
            let mut applied: BTreeSet<String> = last.difference(&d.remove).cloned().collect();
            applied.extend(d.add.iter().cloned());
            prop_assert_eq!(applied, now);
        }
    }
}
