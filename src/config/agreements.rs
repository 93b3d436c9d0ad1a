//! The `[[agreements]]` tables and who may write them: each agreement checked (known
//! accounts, rules, status and field maps), `accept_from` / `decline_from` checked, and
//! the file that declares `[accounts.X]` alone speaking for X (issue #12, case 12).
//!
//! Architecture invariant: collects every problem with its file and key, never stops at
//! the first; decides nothing about an agreement's state (that is `agreement.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::load::{Provenance, error, warning};
use super::raw::RawAgreement;
use super::validate::{Input, file_name, valid_name};
use super::{
    AgreementConfig, AttachmentRules, CommentRules, FieldMap, Problem, StatusRules, TagRules,
    Target,
};
use crate::zendesk::models::Status;

/// `accept_from` / `decline_from`: known accounts, not both, not oneself.
pub(super) fn consent_lists(input: &Input<'_>, problems: &mut Vec<Problem>) {
    for (name, (raw, _)) in &input.accounts {
        let accept: BTreeSet<&String> = raw.accept_from.iter().flatten().collect();
        let decline: BTreeSet<&String> = raw.decline_from.iter().flatten().collect();
        for (list, names) in [("accept_from", &accept), ("decline_from", &decline)] {
            for other in names {
                let key = format!("accounts.{name}.{list}");
                if !input.declared.contains(other.as_str()) {
                    problems.push(error(
                        &input.prov.file_of(&key),
                        &key,
                        format!("names account {other:?}, which is not declared in [accounts]"),
                    ));
                } else if *other == name {
                    problems.push(error(
                        &input.prov.file_of(&key),
                        &key,
                        "names the account itself",
                    ));
                }
            }
        }
        for both in accept.intersection(&decline) {
            let key = format!("accounts.{name}.decline_from");
            problems.push(error(
                &input.prov.file_of(&key),
                &key,
                format!("account {both:?} is in both accept_from and decline_from; keep it in one"),
            ));
        }
    }
}

/// The file that declares `[accounts.NAME]` (the one that sets its `subdomain`, else the
/// first with that section).
fn owner_of<'p>(prov: &'p Provenance, name: &str) -> Option<&'p String> {
    let from_file = |key: &str| prov.keys.get(key).filter(|f| !f.starts_with("environment"));
    from_file(&format!("accounts.{name}.subdomain"))
        .or_else(|| from_file(&format!("accounts.{name}")))
}

/// The file that declares `[accounts.X]` speaks for X (DESIGN §1): only it may set X's
/// keys (its consent in `accept_from`/`decline_from`, its secrets, where its credentials
/// go) or offer agreements `from = "X"`, so that with one file per owner in `conf.d/`
/// neither side can consent or offer for the other. Environment overrides are the host
/// operator's and stay allowed; a single file declaring everything is unaffected.
pub(super) fn ownership(input: &Input<'_>, problems: &mut Vec<Problem>) {
    let prov = input.prov;
    for name in &input.declared {
        let Some(owner) = owner_of(prov, name) else {
            continue;
        };
        let prefix = format!("accounts.{name}.");
        for (key, file) in prov
            .keys
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
        {
            if file != owner && !file.starts_with("environment") {
                problems.push(error(
                    file,
                    key,
                    format!(
                        "[accounts.{name}] is declared in {owner}: only that file speaks for {name:?} (its consent, its secrets, its agreements); move this key there"
                    ),
                ));
            }
        }
    }
    for (raw, file, idx) in &input.agreements {
        let Some(from) = raw.from.as_deref() else {
            continue;
        };
        let Some(owner) = owner_of(prov, from) else {
            continue;
        };
        if file != owner && !file.starts_with("environment") {
            let label = match &raw.name {
                Some(n) if !n.trim().is_empty() => format!("agreements.{n}"),
                _ => format!("agreements[{idx}]"),
            };
            problems.push(error(
                file,
                &format!("{label}.from"),
                format!(
                    "offers {from:?}'s tickets, but [accounts.{from}] is declared in {owner}: only that file may offer agreements from {from:?}"
                ),
            ));
        }
    }
}

pub(super) fn agreements(input: &Input<'_>, problems: &mut Vec<Problem>) -> Vec<AgreementConfig> {
    let mut out = Vec::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut pairs: BTreeMap<(String, String), String> = BTreeMap::new();
    for (raw, file, idx) in &input.agreements {
        let label = match &raw.name {
            Some(n) if !n.trim().is_empty() => format!("agreements.{n}"),
            _ => format!("agreements[{idx}]"),
        };
        let key = |k: &str| format!("{label}.{k}");
        let before = problems.len();
        let name = match raw.name.as_deref().map(str::trim) {
            Some(n) if valid_name(n) => Some(n.to_owned()),
            Some(n) => {
                problems.push(error(
                    file,
                    &key("name"),
                    format!("{n:?}: use letters, digits, '-' and '_' only"),
                ));
                None
            }
            None => {
                problems.push(error(
                    file,
                    &key("name"),
                    "missing: every agreement needs a unique name",
                ));
                None
            }
        };
        if let Some(n) = &name {
            if let Some(first) = names.get(n) {
                problems.push(error(
                    file,
                    &key("name"),
                    format!(
                        "duplicate agreement name {n:?} (first in {first}); names must be unique"
                    ),
                ));
            } else {
                names.insert(n.clone(), file.clone());
            }
        }
        let mut end = |k: &str, v: &Option<String>| -> Option<String> {
            match v.as_deref() {
                None => {
                    problems.push(error(file, &key(k), "missing: the account handle"));
                    None
                }
                Some(a) if !input.declared.contains(a) => {
                    problems.push(error(
                        file,
                        &key(k),
                        format!("names account {a:?}, which is not declared in [accounts]"),
                    ));
                    None
                }
                Some(a) => Some(a.to_owned()),
            }
        };
        let from = end("from", &raw.from);
        let to = end("to", &raw.to);
        if let (Some(f), Some(t)) = (&from, &to) {
            if f == t {
                problems.push(error(
                    file,
                    &key("to"),
                    format!("from and to are both {f:?}; an agreement shares between two accounts"),
                ));
            } else if let Some(first) = pairs.get(&(f.clone(), t.clone())) {
                problems.push(error(
                    file,
                    &key("to"),
                    format!("agreement {first} already shares from {f:?} to {t:?}; keep one agreement per direction"),
                ));
            } else if let Some(n) = &name {
                pairs.insert((f.clone(), t.clone()), n.clone());
            }
        }
        for tag in raw.auto_share_tags.iter().flatten() {
            if tag.trim().is_empty() || tag.contains(char::is_whitespace) {
                problems.push(error(
                    file,
                    &key("auto_share_tags"),
                    format!("{tag:?} is not a Zendesk tag (no spaces)"),
                ));
            }
        }
        let status_map = status_map(raw, file, &key, problems);
        let exclude = raw
            .tags
            .as_ref()
            .and_then(|t| t.exclude.clone())
            .unwrap_or_default();
        for pattern in &exclude {
            if let Err(e) = globset::Glob::new(pattern) {
                problems.push(error(
                    file,
                    &key("tags.exclude"),
                    format!("{pattern:?} is not a glob pattern: {e}"),
                ));
            }
        }
        let fields = field_maps(raw, file, &key, problems);
        let system = super::system::system_rules(raw, file, &key, problems);
        super::system::unused_keys(raw, file, &key, problems);
        let max_bytes = raw
            .attachments
            .as_ref()
            .and_then(|a| a.max_bytes)
            .unwrap_or(20_000_000);
        if max_bytes == 0 {
            problems.push(error(
                file,
                &key("attachments.max_bytes"),
                "must be above 0 (set attachments.sync = false to stop attachments)",
            ));
        } else if max_bytes > 50 * 1024 * 1024 {
            problems.push(warning(
                file,
                &key("attachments.max_bytes"),
                "is above Zendesk's 50 MB per file: a larger file is refused by the receiver and named in the mirror comment as not copied",
            ));
        }
        if problems[before..]
            .iter()
            .any(|p| p.severity == super::Severity::Error)
        {
            continue;
        }
        let (Some(name), Some(from), Some(to)) = (name, from, to) else {
            continue;
        };
        let comments = raw.comments.as_ref();
        let target = raw.target.as_ref();
        out.push(AgreementConfig {
            name,
            from,
            to,
            enabled: raw.enabled.unwrap_or(true),
            auto_share_tags: raw.auto_share_tags.clone().unwrap_or_default(),
            unshare_on_tag_removal: raw.unshare_on_tag_removal.unwrap_or(false),
            brands: raw.brands.clone().unwrap_or_default(),
            target: Target {
                brand_id: target.and_then(|t| t.brand_id).filter(|&id| id != 0),
                group_id: target.and_then(|t| t.group_id).filter(|&id| id != 0),
            },
            comments: CommentRules {
                public: comments.and_then(|c| c.public).unwrap_or(true),
                private: comments.and_then(|c| c.private).unwrap_or(false),
                attribution: comments.and_then(|c| c.attribution).unwrap_or(true),
            },
            status: StatusRules {
                sync: raw.status.as_ref().and_then(|s| s.sync).unwrap_or(true),
                map: status_map,
            },
            tags: TagRules {
                sync: raw.tags.as_ref().and_then(|t| t.sync).unwrap_or(true),
                exclude,
            },
            fields,
            attachments: AttachmentRules {
                sync: raw
                    .attachments
                    .as_ref()
                    .and_then(|a| a.sync)
                    .unwrap_or(true),
                max_bytes,
            },
            system,
            file: PathBuf::from(file),
        });
    }
    if input.agreements.is_empty() && !input.accounts.is_empty() {
        problems.push(warning(
            &file_name(input.main),
            "agreements",
            "no agreement is configured; nothing will be shared",
        ));
    }
    out
}

fn status_map(
    raw: &RawAgreement,
    file: &str,
    key: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) -> BTreeMap<Status, Status> {
    let mut map = BTreeMap::new();
    let Some(raw_map) = raw.status.as_ref().and_then(|s| s.map.as_ref()) else {
        return map;
    };
    for (from, to) in raw_map {
        let k = key(&format!("status.map.{from}"));
        let settable = |s: &str| Status::parse(s).filter(|s| *s != Status::Deleted);
        match (settable(from), settable(to)) {
            (Some(f), Some(t)) => {
                map.insert(f, t);
            }
            (None, _) => problems.push(error(
                file,
                &k,
                format!(
                    "{from:?} is not a Zendesk status (new, open, pending, hold, solved, closed)"
                ),
            )),
            (_, None) => problems.push(error(
                file,
                &k,
                format!(
                    "{to:?} is not a Zendesk status (new, open, pending, hold, solved, closed)"
                ),
            )),
        }
    }
    map
}

fn field_maps(
    raw: &RawAgreement,
    file: &str,
    key: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) -> Vec<FieldMap> {
    let mut out = Vec::new();
    let mut seen_from = BTreeSet::new();
    let mut seen_to = BTreeSet::new();
    for (i, f) in raw.fields.iter().flatten().enumerate() {
        let k = key(&format!("fields[{i}]"));
        let (Some(from), Some(to)) = (f.from, f.to) else {
            problems.push(error(file, &k, "needs both from and to (custom field ids)"));
            continue;
        };
        if from == 0 || to == 0 {
            problems.push(error(file, &k, "field ids must be above 0"));
            continue;
        }
        if !seen_from.insert(from) {
            problems.push(error(
                file,
                &format!("{k}.from"),
                format!("field {from} is mapped twice; map each field once"),
            ));
            continue;
        }
        if !seen_to.insert(to) {
            problems.push(error(
                file,
                &format!("{k}.to"),
                format!("two fields are mapped onto field {to}; map each field once"),
            ));
            continue;
        }
        out.push(FieldMap {
            from,
            to,
            values: f.values.clone().unwrap_or_default(),
        });
    }
    out
}
