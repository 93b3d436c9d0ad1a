//! Privacy follows the comment (DESIGN §5): what a redaction at the source means for the
//! mirror comment that carries it.
//!
//! A mirror comment carries one or more source comments, each rendered as a part
//! (`coalesce::render`: an attribution, then the body, parts joined by
//! `coalesce::SEPARATOR`; the mirror's first comment starts with an introduction). The
//! body of a part is therefore the end of its segment. When a source comment is redacted,
//! Zendesk replaces each redacted character by `▇`; [`redactions`] lines the redacted body
//! up with the end of its part on the mirror and returns exactly the strings that were
//! redacted, so the same strings can be redacted on the mirror and nothing else. When the
//! part cannot be lined up (Zendesk changed the text, a body contained the separator), it
//! returns the whole part: redacting too much is safe, too little is a leak.
//!
//! Architecture invariant: pure; no I/O.

use crate::coalesce::SEPARATOR;

/// What Zendesk puts in place of a redacted character.
pub const BLOCK: char = '\u{2587}';

/// The strings to redact in `mirror_body` (a mirror comment carrying `carried`, in order)
/// now that source comment `source` reads `redacted` (with [`BLOCK`]s where text was
/// redacted). Empty when nothing in the source is redacted.
pub fn redactions(mirror_body: &str, carried: &[u64], source: u64, redacted: &str) -> Vec<String> {
    if !redacted.contains(BLOCK) {
        return Vec::new();
    }
    let segments: Vec<&str> = mirror_body.split(SEPARATOR).collect();
    let part = match carried.iter().position(|&c| c == source) {
        Some(i) if segments.len() == carried.len() => segments[i],
        // The parts cannot be told apart: the body, as far as it can be found.
        _ => mirror_body,
    };
    match line_up(part, redacted) {
        Some(found) => found,
        None => vec![body_of(part, redacted)],
    }
}

/// The redacted strings, if `redacted` lines up with the end of `part`: its kept text is
/// there, in order, with exactly as many characters between as were blotted out.
fn line_up(part: &str, redacted: &str) -> Option<Vec<String>> {
    // `redacted` as alternating kept text and runs of blocks (lengths in characters).
    let mut pieces: Vec<(bool, String)> = Vec::new();
    for c in redacted.chars() {
        let blocked = c == BLOCK;
        match pieces.last_mut() {
            Some((b, s)) if *b == blocked => s.push(c),
            _ => pieces.push((blocked, c.to_string())),
        }
    }
    let chars: Vec<char> = part.chars().collect();
    let mut end = chars.len();
    let mut found = Vec::new();
    for (blocked, piece) in pieces.iter().rev() {
        let n = piece.chars().count();
        let start = end.checked_sub(n)?;
        let here: String = chars[start..end].iter().collect();
        if *blocked {
            if here.chars().any(|c| c != BLOCK) {
                found.push(here);
            }
        } else if here != *piece {
            return None;
        }
        end = start;
    }
    found.reverse();
    found.dedup();
    Some(found)
}

/// The last `len(redacted)` characters of `part` (where its body must be), or all of it.
fn body_of(part: &str, redacted: &str) -> String {
    let n = redacted.chars().count();
    let chars: Vec<char> = part.chars().collect();
    chars[chars.len().saturating_sub(n)..].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blot(s: &str) -> String {
        s.chars().map(|_| BLOCK).collect()
    }

    #[test]
    fn a_string_redacted_at_the_source_is_found_in_its_part_and_only_there() {
        let part1 = "Ann (acme) wrote:\n\nmy card is 4111 ok";
        let part2 = "Bob (acme) wrote:\n\nmy card is safe";
        let body = format!("{part1}{SEPARATOR}{part2}");
        let redacted = format!("my card is {} ok", blot("4111"));
        assert_eq!(redactions(&body, &[1, 2], 1, &redacted), ["4111"]);
        // Two runs.
        let two = format!("{} card is {} ok", blot("my"), blot("4111"));
        assert_eq!(redactions(&body, &[1, 2], 1, &two), ["my", "4111"]);
        // Nothing redacted: nothing to do.
        assert!(redactions(&body, &[1, 2], 1, "my card is 4111 ok").is_empty());
    }

    #[test]
    fn a_whole_comment_redacted_is_its_whole_body_not_the_attribution() {
        let intro = "Shared from acme ticket #7 by sharebridge. Requester: Ann.\n\nAnn (acme) wrote:\n\nsecret words";
        assert_eq!(
            redactions(intro, &[5], 5, &blot("secret words")),
            ["secret words"]
        );
        let body = format!("A (acme) wrote:\n\nkeep{SEPARATOR}B (acme) wrote:\n\ngone now");
        assert_eq!(
            redactions(&body, &[1, 2], 2, &blot("gone now")),
            ["gone now"]
        );
    }

    #[test]
    fn what_cannot_be_lined_up_is_redacted_whole() {
        // Zendesk changed the text: the part's body, as far as it reaches, goes.
        let body = "A (acme) wrote:\n\nhello   world";
        let redacted = format!("hello {}", blot("world"));
        assert_eq!(redactions(body, &[1], 1, &redacted), ["llo   world"]);
        // A body containing the separator: the parts cannot be told apart.
        let tricky = format!("A (acme) wrote:\n\nx{SEPARATOR}y{SEPARATOR}B (acme) wrote:\n\nz 42");
        let r = redactions(&tricky, &[1, 2], 2, &format!("z {}", blot("42")));
        assert_eq!(r, ["42"]);
    }

    #[test]
    fn never_panics_on_any_input() {
        let samples = ["", "▇", "a▇b", "▇▇▇▇▇▇▇▇▇▇▇▇", "ü▇ß"];
        for body in samples {
            for red in samples {
                let _ = redactions(body, &[1, 2], 1, red);
                let _ = redactions(body, &[], 9, red);
            }
        }
    }
}
