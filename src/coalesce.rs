//! Coalescing: the source comments that crossed close together on one ticket become as few
//! mirror comments as visibility allows — one Zendesk update each — every part attributed,
//! order kept (DESIGN §5: a busy ticket must never exhaust Zendesk's 30 updates per 10
//! minutes per user per ticket).
//!
//! Architecture invariant: pure. The engine decides *which* comments are pending (the
//! window, the per-ticket budget); this module only decides how they are packed. A public
//! and a private comment are never packed together (that would publish the private one or
//! hide the public one), so a change of visibility starts a new mirror comment.

/// One source comment that the rules let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub source_comment_id: u64,
    /// Author's display name on the sending side.
    pub author: String,
    /// The sending account's subdomain (or handle), for attribution.
    pub account: String,
    /// Visibility on the mirror (already decided by the rules).
    pub public: bool,
    pub body: String,
}

/// One mirror comment to write, carrying one or more source comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub source_comment_ids: Vec<u64>,
    pub public: bool,
    pub body: String,
}

/// Separator between coalesced parts.
pub const SEPARATOR: &str = "\n\n---\n\n";
/// Zendesk accepts large comments, but a mirror comment stays well under its limit.
pub const MAX_BODY_CHARS: usize = 60_000;

/// The text of one part on the mirror.
pub fn render(part: &Part, attribution: bool) -> String {
    if attribution {
        format!("{} ({}) wrote:\n\n{}", part.author, part.account, part.body)
    } else {
        part.body.clone()
    }
}

/// Packs parts, in order, into batches: consecutive parts of one visibility share a batch
/// until it would exceed [`MAX_BODY_CHARS`] (a single larger part gets a batch of its own).
pub fn coalesce(parts: &[Part], attribution: bool) -> Vec<Batch> {
    let mut out: Vec<Batch> = Vec::new();
    for part in parts {
        let text = render(part, attribution);
        match out.last_mut() {
            Some(batch)
                if batch.public == part.public
                    && batch.body.len() + SEPARATOR.len() + text.len() <= MAX_BODY_CHARS =>
            {
                batch.body.push_str(SEPARATOR);
                batch.body.push_str(&text);
                batch.source_comment_ids.push(part.source_comment_id);
            }
            _ => out.push(Batch {
                source_comment_ids: vec![part.source_comment_id],
                public: part.public,
                body: text,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn part(id: u64, public: bool, body: &str) -> Part {
        Part {
            source_comment_id: id,
            author: format!("Agent {id}"),
            account: "acme".into(),
            public,
            body: body.into(),
        }
    }

    #[test]
    fn same_visibility_coalesces_in_order_with_attribution() {
        let batches = coalesce(
            &[
                part(1, true, "one"),
                part(2, true, "two"),
                part(3, true, "three"),
            ],
            true,
        );
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].source_comment_ids, vec![1, 2, 3]);
        assert_eq!(
            batches[0].body,
            "Agent 1 (acme) wrote:\n\none\n\n---\n\nAgent 2 (acme) wrote:\n\ntwo\n\n---\n\nAgent 3 (acme) wrote:\n\nthree"
        );
    }

    #[test]
    fn visibility_change_starts_a_new_comment() {
        let batches = coalesce(
            &[part(1, true, "a"), part(2, false, "b"), part(3, true, "c")],
            false,
        );
        let shape: Vec<(Vec<u64>, bool)> = batches
            .iter()
            .map(|b| (b.source_comment_ids.clone(), b.public))
            .collect();
        assert_eq!(
            shape,
            vec![(vec![1], true), (vec![2], false), (vec![3], true)]
        );
        assert_eq!(batches[1].body, "b");
    }

    #[test]
    fn oversized_parts_split() {
        let big = "x".repeat(MAX_BODY_CHARS - 10);
        let batches = coalesce(&[part(1, true, &big), part(2, true, "small")], false);
        assert_eq!(batches.len(), 2);
    }

    proptest! {
        /// Every part lands exactly once, in order; no batch mixes visibility; no private
        /// body ends up in a public batch.
        #[test]
        fn exactly_once_in_order(spec in proptest::collection::vec((any::<bool>(), "[a-z ]{0,40}"), 0..30)) {
            let parts: Vec<Part> = spec.iter().enumerate()
                .map(|(i, (p, b))| part(i as u64 + 1, *p, &format!("<{}>{b}", i + 1)))
                .collect();
            let batches = coalesce(&parts, true);
            let ids: Vec<u64> = batches.iter().flat_map(|b| b.source_comment_ids.clone()).collect();
            prop_assert_eq!(ids, parts.iter().map(|p| p.source_comment_id).collect::<Vec<_>>());
            for b in &batches {
                for id in &b.source_comment_ids {
                    let p = &parts[*id as usize - 1];
                    prop_assert_eq!(p.public, b.public);
                    prop_assert!(b.body.contains(&p.body));
                }
                for p in parts.iter().filter(|p| p.public != b.public) {
                    let marker = format!("<{}>", p.source_comment_id);
                    prop_assert!(!b.body.contains(&marker), "{} leaked into {:?}", marker, b.source_comment_ids);
                }
            }
        }
    }
}
