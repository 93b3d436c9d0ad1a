//! `[agreements.system]` checked into [`SystemRules`], and the keys that parse but would
//! do nothing where they stand (DESIGN §3: no key is accepted and ignored), refused with
//! what to do instead.
//!
//! Must not: read files or the environment (validation over the raw shapes only).

use std::collections::BTreeMap;

use super::load::error;
use super::raw::RawAgreement;
use super::{Problem, SystemRules};

/// `[agreements.system]`: priority and type switches, group and form id maps.
pub(super) fn system_rules(
    raw: &RawAgreement,
    file: &str,
    key: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) -> SystemRules {
    let Some(sys) = raw.system.as_ref() else {
        return SystemRules::default();
    };
    SystemRules {
        priority: sys.priority.unwrap_or(false),
        ticket_type: sys.ticket_type.unwrap_or(false),
        groups: id_map(sys.groups.as_ref(), "groups", "group", file, key, problems),
        forms: id_map(
            sys.forms.as_ref(),
            "forms",
            "ticket form",
            file,
            key,
            problems,
        ),
    }
}

/// A `{ "sender id" = receiver id }` table: both ids above 0 (several sender ids may map
/// onto one receiver id).
fn id_map(
    raw: Option<&BTreeMap<String, u64>>,
    name: &str,
    what: &str,
    file: &str,
    key: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    for (from, to) in raw.into_iter().flatten() {
        let k = key(&format!("system.{name}.{from}"));
        let Some(from_id) = from.trim().parse::<u64>().ok().filter(|&id| id > 0) else {
            problems.push(error(
                file,
                &k,
                format!("{from:?} is not a {what} id; write the sender's {what} id, like \"360001\" = 900001"),
            ));
            continue;
        };
        if *to == 0 {
            problems.push(error(
                file,
                &k,
                format!("the receiver's {what} id must be above 0"),
            ));
            continue;
        }
        out.insert(from_id, *to);
    }
    out
}

/// Keys that parse but would do nothing where they stand: refused, so that no key is
/// accepted and ignored.
pub(super) fn unused_keys(
    raw: &RawAgreement,
    file: &str,
    key: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) {
    let mut refuse = |k: &str, reason: &str| problems.push(error(file, &key(k), reason));
    if let Some(status) = &raw.status
        && status.sync == Some(false)
        && status.map.as_ref().is_some_and(|m| !m.is_empty())
    {
        refuse(
            "status.map",
            "does nothing while status.sync = false (no status crosses); remove the map or set sync = true",
        );
    }
    if let Some(tags) = &raw.tags
        && tags.sync == Some(false)
        && tags.exclude.as_ref().is_some_and(|e| !e.is_empty())
    {
        refuse(
            "tags.exclude",
            "does nothing while tags.sync = false (no tag crosses); remove it or set sync = true",
        );
    }
    let no_auto = raw.auto_share_tags.as_ref().is_none_or(Vec::is_empty);
    if no_auto && raw.unshare_on_tag_removal == Some(true) {
        refuse(
            "unshare_on_tag_removal",
            "does nothing without auto_share_tags (no tag shares, so none unshares); set auto_share_tags or remove this key",
        );
    }
    if no_auto && raw.brands.as_ref().is_some_and(|b| !b.is_empty()) {
        refuse(
            "brands",
            "filters auto-sharing only, and auto_share_tags is empty; set auto_share_tags or remove brands",
        );
    }
    if let Some(c) = &raw.comments
        && c.public == Some(false)
        && c.private != Some(true)
        && c.attribution.is_some()
    {
        refuse(
            "comments.attribution",
            "does nothing while comments.public = false and comments.private is not true (no comment crosses); remove it",
        );
    }
}
