//! Suggesting `[[agreements.fields]]` blocks between two accounts (`sharebridge fields
//! ACCOUNT --to ACCOUNT`): custom ticket fields matched by title and type, drop-down
//! options by name (then by tag), and everything that does not match written as TOML
//! comments, so the block can be pasted and reviewed.
//!
//! Owns: the matching and the rendering, as pure functions over [`FieldInfo`].
//! Must not: call Zendesk, read the configuration, or decide anything at sync time (the
//! engine applies whatever the operator pasted; this only suggests).

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One ticket field as the matcher needs it (the caller maps Zendesk's `ticket_field`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    pub id: u64,
    /// Zendesk's `type`: `text`, `tagger`, `multiselect`, … (system fields too).
    pub kind: String,
    pub title: String,
    pub active: bool,
    /// Drop-down options as `(name, value)`; `value` is the tag the option sets.
    pub options: Vec<(String, String)>,
}

/// Zendesk's own fields, listed by `GET /api/v2/ticket_fields` beside the custom ones;
/// they never go into `[[agreements.fields]]` (`[agreements.system]` covers them).
const SYSTEM_KINDS: &[&str] = &[
    "subject",
    "description",
    "status",
    "custom_status",
    "tickettype",
    "priority",
    "basic_priority",
    "group",
    "assignee",
    "brand",
    "ticket_form",
];

fn is_system(f: &FieldInfo) -> bool {
    SYSTEM_KINDS.contains(&f.kind.as_str())
}

fn has_options(f: &FieldInfo) -> bool {
    matches!(f.kind.as_str(), "tagger" | "multiselect")
}

/// Titles and option names compare case-insensitively, with runs of whitespace as one.
fn norm(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A matched pair of fields, ready to become one `[[agreements.fields]]` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub from: FieldInfo,
    pub to: FieldInfo,
    /// Sender tag → receiver tag, only where they differ (equal tags cross unchanged).
    pub values: BTreeMap<String, String>,
    /// Sender options with no receiver option of the same name or tag: `(name, tag)`.
    pub unmatched_options: Vec<(String, String)>,
}

/// Why a sender field got no block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmatched {
    /// No receiver field has this title.
    NoTitle,
    /// A receiver field has this title but another type.
    OtherType { to: FieldInfo },
    /// Several receiver fields have this title: the operator must choose.
    Ambiguous { to: Vec<u64> },
    /// The sender field is inactive (it sets no value on tickets).
    Inactive,
}

/// What `suggest` found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Suggestion {
    pub pairs: Vec<Pair>,
    /// Sender fields with no block, and why.
    pub unmatched: Vec<(FieldInfo, Unmatched)>,
}

/// Matches the sender's custom fields with the receiver's by title and type.
pub fn suggest(from: &[FieldInfo], to: &[FieldInfo]) -> Suggestion {
    let mut by_title: BTreeMap<String, Vec<&FieldInfo>> = BTreeMap::new();
    for f in to.iter().filter(|f| !is_system(f) && f.active) {
        by_title.entry(norm(&f.title)).or_default().push(f);
    }
    let mut out = Suggestion::default();
    let mut senders: Vec<&FieldInfo> = from.iter().filter(|f| !is_system(f)).collect();
    senders.sort_by_key(|f| f.id);
    for f in senders {
        if !f.active {
            out.unmatched.push((f.clone(), Unmatched::Inactive));
            continue;
        }
        let candidates = by_title.get(&norm(&f.title)).cloned().unwrap_or_default();
        let same_type: Vec<&FieldInfo> = candidates
            .iter()
            .copied()
            .filter(|t| t.kind == f.kind)
            .collect();
        match (same_type.as_slice(), candidates.first()) {
            ([t], _) => out.pairs.push(pair(f, t)),
            ([], None) => out.unmatched.push((f.clone(), Unmatched::NoTitle)),
            ([], Some(t)) => out
                .unmatched
                .push((f.clone(), Unmatched::OtherType { to: (*t).clone() })),
            (many, _) => out.unmatched.push((
                f.clone(),
                Unmatched::Ambiguous {
                    to: many.iter().map(|t| t.id).collect(),
                },
            )),
        }
    }
    out
}

fn pair(from: &FieldInfo, to: &FieldInfo) -> Pair {
    let mut values = BTreeMap::new();
    let mut unmatched_options = Vec::new();
    if has_options(from) {
        for (name, tag) in &from.options {
            let hit = to
                .options
                .iter()
                .find(|(n, _)| norm(n) == norm(name))
                .or_else(|| to.options.iter().find(|(_, v)| v == tag));
            match hit {
                Some((_, v)) if v == tag => {}
                Some((_, v)) => {
                    values.insert(tag.clone(), v.clone());
                }
                None => unmatched_options.push((name.clone(), tag.clone())),
            }
        }
    }
    Pair {
        from: from.clone(),
        to: to.clone(),
        values,
        unmatched_options,
    }
}

/// A TOML basic string (quotes and escapes), usable as a value or a key.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Text that goes into a `#` comment: one line, no control characters, so a field title
/// can never end the comment and become configuration.
fn comment_text(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("\"{}\"", one_line.trim())
}

/// Renders the suggestion as TOML to paste into the `from → to` agreement.
pub fn render(s: &Suggestion, from_account: &str, to_account: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Suggested by `sharebridge fields {from_account} --to {to_account}`: paste under the"
    );
    let _ = writeln!(
        out,
        "# [[agreements]] entry with from = {} and to = {}, and review it.",
        quoted(from_account),
        quoted(to_account)
    );
    if s.pairs.is_empty() {
        let _ = writeln!(
            out,
            "# No custom field of {from_account} matches one of {to_account}."
        );
    }
    for p in &s.pairs {
        out.push('\n');
        let _ = writeln!(out, "[[agreements.fields]]");
        let _ = writeln!(
            out,
            "# {} ({}) -> {} ({})",
            comment_text(&p.from.title),
            p.from.kind,
            comment_text(&p.to.title),
            p.to.kind
        );
        let _ = writeln!(out, "from = {}", p.from.id);
        let _ = writeln!(out, "to = {}", p.to.id);
        if !p.values.is_empty() {
            let entries: Vec<String> = p
                .values
                .iter()
                .map(|(k, v)| format!("{} = {}", quoted(k), quoted(v)))
                .collect();
            let _ = writeln!(out, "values = {{ {} }}", entries.join(", "));
        }
        for (name, tag) in &p.unmatched_options {
            let _ = writeln!(
                out,
                "# option {} ({}) has no option of that name or tag in {to_account}: add it to `values` or it crosses unmapped",
                comment_text(name),
                comment_text(tag)
            );
        }
    }
    if !s.unmatched.is_empty() {
        let _ = writeln!(
            out,
            "\n# Not matched ({from_account} fields with no block):"
        );
        for (f, why) in &s.unmatched {
            let why = match why {
                Unmatched::NoTitle => format!("no active field of that title in {to_account}"),
                Unmatched::OtherType { to } => format!(
                    "{to_account} field {} has that title but type {}",
                    to.id, to.kind
                ),
                Unmatched::Ambiguous { to } => format!(
                    "several {to_account} fields have that title ({}): choose one",
                    to.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
                ),
                Unmatched::Inactive => "inactive".to_owned(),
            };
            let _ = writeln!(
                out,
                "# {} {} ({}): {why}",
                f.id,
                comment_text(&f.title),
                f.kind
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(id: u64, kind: &str, title: &str, options: &[(&str, &str)]) -> FieldInfo {
        FieldInfo {
            id,
            kind: kind.to_owned(),
            title: title.to_owned(),
            active: true,
            options: options
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn matches_by_title_and_type_and_options_by_name_then_tag() {
        let from = [
            field(
                1,
                "tagger",
                "Customer  Tier",
                &[
                    ("Gold", "tier_gold"),
                    ("Silver", "silver"),
                    ("Bronze", "bronze"),
                    ("Platinum", "tier_platinum"),
                ],
            ),
            field(2, "text", "Order number", &[]),
            field(3, "subject", "Subject", &[]),
        ];
        let to = [
            field(
                10,
                "tagger",
                "customer tier",
                &[("GOLD", "gold"), ("Argent", "silver"), ("Bronze", "bronze")],
            ),
            field(11, "text", "Order Number", &[]),
            field(12, "subject", "Subject", &[]),
        ];
        let s = suggest(&from, &to);
        assert_eq!(s.pairs.len(), 2, "{s:?}");
        assert!(s.unmatched.is_empty(), "system fields are never listed");
        let tier = &s.pairs[0];
        assert_eq!((tier.from.id, tier.to.id), (1, 10));
        // Gold by name (tags differ), Silver by tag (names differ), Bronze identical.
        assert_eq!(
            tier.values,
            BTreeMap::from([("tier_gold".to_owned(), "gold".to_owned())])
        );
        assert_eq!(
            tier.unmatched_options,
            vec![("Platinum".to_owned(), "tier_platinum".to_owned())]
        );
        assert_eq!((s.pairs[1].from.id, s.pairs[1].to.id), (2, 11));
    }

    #[test]
    fn every_reason_for_no_match() {
        let mut inactive = field(4, "text", "Old", &[]);
        inactive.active = false;
        let from = [
            field(1, "text", "Nowhere", &[]),
            field(2, "text", "Tier", &[]),
            field(3, "text", "Dup", &[]),
            inactive,
        ];
        let to = [
            field(10, "tagger", "Tier", &[]),
            field(11, "text", "Dup", &[]),
            field(12, "text", "dup", &[]),
            field(13, "text", "Old", &[]),
        ];
        let s = suggest(&from, &to);
        assert!(s.pairs.is_empty());
        let why: Vec<_> = s.unmatched.iter().map(|(f, w)| (f.id, w.clone())).collect();
        assert_eq!(
            why,
            vec![
                (1, Unmatched::NoTitle),
                (2, Unmatched::OtherType { to: to[0].clone() }),
                (3, Unmatched::Ambiguous { to: vec![11, 12] }),
                (4, Unmatched::Inactive),
            ]
        );
    }

    #[test]
    fn inactive_receiver_fields_are_not_targets() {
        let mut old = field(10, "text", "Order", &[]);
        old.active = false;
        let s = suggest(&[field(1, "text", "Order", &[])], &[old]);
        assert_eq!(s.unmatched[0].1, Unmatched::NoTitle);
    }

    /// What `render` prints parses as TOML and, pasted under an agreement, gives exactly
    /// the suggested mappings; hostile titles and tags stay inside comments and strings.
    #[test]
    fn rendered_block_parses_back_to_the_suggestion() {
        let from = [
            field(
                1,
                "tagger",
                "Tier\n[daemon]\nlisten = \"0.0.0.0:1\"",
                &[("Gold", "tier \"gold\""), ("Lost\nx = 1", "lost")],
            ),
            field(2, "text", "No match\r\nadmin_token = \"x\"", &[]),
        ];
        let to = [field(
            10,
            "tagger",
            "Tier\n[daemon]\nlisten = \"0.0.0.0:1\"",
            &[("Gold", "gold")],
        )];
        let s = suggest(&from, &to);
        assert_eq!(s.pairs.len(), 1);
        let text = format!(
            "[[agreements]]\nname = \"a\"\n{}",
            render(&s, "acme", "vendor")
        );
        let parsed: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(parsed.len(), 1, "only `agreements` at top level:\n{text}");
        let agreements = parsed["agreements"].as_array().unwrap();
        let fields = agreements[0]["fields"].as_array().unwrap();
        assert_eq!(fields.len(), 1, "{text}");
        assert_eq!(fields[0]["from"].as_integer(), Some(1));
        assert_eq!(fields[0]["to"].as_integer(), Some(10));
        assert_eq!(
            fields[0]["values"]["tier \"gold\""].as_str(),
            Some("gold"),
            "{text}"
        );
        assert_eq!(fields[0].as_table().unwrap().len(), 3, "{text}");
    }

    #[test]
    fn nothing_to_match_says_so() {
        let text = render(&Suggestion::default(), "acme", "vendor");
        assert!(text.contains("No custom field of acme matches"), "{text}");
        assert!(text.parse::<toml::Table>().unwrap().is_empty());
    }
}
