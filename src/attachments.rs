//! Attachments of a crossing comment: which files are copied with it, and what the mirror
//! comment says about those that are not (DESIGN §5 "The whole ticket": a file is never
//! dropped silently).
//!
//! The files ride with their comment: a comment the rules hold back takes its files with
//! it, a private comment's files cross only as a private comment, a mirror comment carrying
//! several source comments carries the union of their files, in order.
//!
//! Architecture invariant: pure. The engine (`engine::attachments`) downloads, uploads and
//! counts; this module decides and words.

use crate::config::AttachmentRules;
use crate::zendesk::models::Attachment;

/// Why a file of a crossing comment was not copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Larger than `attachments.max_bytes`.
    TooLarge { limit: u64 },
    /// `attachments.sync = false`: no file crosses, and none is named (the sender chose
    /// to keep its files home).
    Disabled,
    /// The sending side did not serve it (deleted, refused, a broken redirect).
    Unavailable,
    /// The receiving account refused the upload (for example over Zendesk's 50 MB).
    Refused,
}

impl Skip {
    /// The `reason` label of `sharebridge_attachments_skipped_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Skip::TooLarge { .. } => "too_large",
            Skip::Disabled => "disabled",
            Skip::Unavailable => "unavailable",
            Skip::Refused => "refused",
        }
    }

    /// Whether the mirror comment names the file.
    pub fn named(&self) -> bool {
        !matches!(self, Skip::Disabled)
    }

    fn why(&self) -> String {
        match self {
            Skip::TooLarge { limit } => format!(
                "larger than this agreement's limit of {} (attachments.max_bytes)",
                human_size(*limit)
            ),
            Skip::Disabled => "attachments are not shared under this agreement".to_owned(),
            Skip::Unavailable => "the sending side did not serve it".to_owned(),
            Skip::Refused => "the receiving account refused the upload".to_owned(),
        }
    }
}

/// A file not copied, as the mirror comment names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotCopied {
    pub name: String,
    pub size: u64,
    pub skip: Skip,
}

/// Whether a file of `size` bytes is copied under `rules` (`None`), or why not. The size
/// is the one the sender's API states; a download that turns out larger is stopped at the
/// limit and skipped the same way.
pub fn verdict(rules: &AttachmentRules, size: u64) -> Option<Skip> {
    if !rules.sync {
        Some(Skip::Disabled)
    } else if size > rules.max_bytes {
        Some(Skip::TooLarge {
            limit: rules.max_bytes,
        })
    } else {
        None
    }
}

/// Heading of the note that names files not copied.
pub const NOTE_HEADING: &str = "Not copied by sharebridge:";

/// The words appended to a mirror comment for the files not copied (empty when none is
/// named): one line per file with its size and why.
pub fn note(not_copied: &[NotCopied]) -> String {
    let lines: Vec<String> = not_copied
        .iter()
        .filter(|n| n.skip.named())
        .map(|n| format!("- {} ({}): {}", n.name, human_size(n.size), n.skip.why()))
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    format!("{NOTE_HEADING}\n{}", lines.join("\n"))
}

/// The mirror comment's text with the note before it. Before, not after: each part's
/// body stays at the end of its segment, which is how `privacy::redactions` finds what
/// to redact on the mirror when a source comment is redacted.
pub fn body_with_note(body: &str, note: &str) -> String {
    match (body.is_empty(), note.is_empty()) {
        (_, true) => body.to_owned(),
        (true, false) => note.to_owned(),
        (false, false) => format!("{note}\n\n{body}"),
    }
}

/// A size as people read it, in decimal units (`max_bytes = 20_000_000` is "20.0 MB").
pub fn human_size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{:.1} KB", bytes as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", bytes as f64 / 1e6),
        _ => format!("{:.1} GB", bytes as f64 / 1e9),
    }
}

/// The name Zendesk gives an attachment it redacted (emptied).
pub const REDACTED_NAME: &str = "redacted.txt";

/// Whether an attachment is what a redaction left (an empty `redacted.txt`).
pub fn is_redacted(att: &Attachment) -> bool {
    att.file_name == REDACTED_NAME && att.size == 0
}

/// Privacy follows the comment, for files: the mirror comment's attachments to redact now
/// that some file of its source comments (`sources`: every attachment of the source
/// comments it carries, as they are now) was redacted. A mirror file is kept only while
/// an unredacted source file of the same name and size is left to account for it; every
/// other (not yet redacted) one is redacted: redacting too much is safe, too little is a
/// leak. Nothing when no source file is redacted.
pub fn to_redact(mirror: &[Attachment], sources: &[Attachment]) -> Vec<u64> {
    if !sources.iter().any(is_redacted) {
        return Vec::new();
    }
    let mut pool: Vec<(&str, u64)> = sources
        .iter()
        .filter(|a| !is_redacted(a))
        .map(|a| (a.file_name.as_str(), a.size))
        .collect();
    let mut out = Vec::new();
    for m in mirror.iter().filter(|m| !is_redacted(m)) {
        match pool
            .iter()
            .position(|(name, size)| *name == m.file_name && *size == m.size)
        {
            Some(i) => {
                pool.remove(i);
            }
            None => out.push(m.id),
        }
    }
    out
}

/// An inline image of the mirror comment: the receiver's `content_url` of its upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineImage {
    pub url: String,
    pub name: String,
}

/// The mirror comment as HTML, for a comment that shows images inline: the text (escaped,
/// paragraphs and line breaks kept), then each image.
pub fn html_with_images(text: &str, images: &[InlineImage]) -> String {
    let mut out = String::new();
    for para in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        out.push_str("<p>");
        out.push_str(&escape(para).replace('\n', "<br>"));
        out.push_str("</p>");
    }
    for img in images {
        out.push_str(&format!(
            "<p><img src=\"{}\" alt=\"{}\"></p>",
            escape(&img.url),
            escape(&img.name)
        ));
    }
    out
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(sync: bool, max_bytes: u64) -> AttachmentRules {
        AttachmentRules { sync, max_bytes }
    }

    #[test]
    fn what_is_copied() {
        let table = [
            (rules(true, 100), 0, None),
            (rules(true, 100), 100, None),
            (rules(true, 100), 101, Some(Skip::TooLarge { limit: 100 })),
            (rules(false, 100), 1, Some(Skip::Disabled)),
            (rules(false, 100), 101, Some(Skip::Disabled)),
        ];
        for (r, size, want) in table {
            assert_eq!(verdict(&r, size), want, "{r:?} {size}");
        }
    }

    #[test]
    fn the_note_names_each_file_with_its_size_and_why() {
        let n = note(&[
            NotCopied {
                name: "big.log".into(),
                size: 25_000_000,
                skip: Skip::TooLarge { limit: 20_000_000 },
            },
            NotCopied {
                name: "hidden.txt".into(),
                size: 5,
                skip: Skip::Disabled,
            },
            NotCopied {
                name: "gone.png".into(),
                size: 1_500,
                skip: Skip::Unavailable,
            },
        ]);
        assert!(n.starts_with(NOTE_HEADING), "{n}");
        assert!(
            n.contains("- big.log (25.0 MB): larger than this agreement's limit of 20.0 MB (attachments.max_bytes)"),
            "{n}"
        );
        assert!(n.contains("- gone.png (1.5 KB): the sending side"), "{n}");
        assert!(!n.contains("hidden.txt"), "{n}");
        assert_eq!(
            note(&[NotCopied {
                name: "x".into(),
                size: 1,
                skip: Skip::Disabled
            }]),
            ""
        );
        assert_eq!(body_with_note("text", ""), "text");
        assert_eq!(body_with_note("", "note"), "note");
        assert_eq!(body_with_note("text", "note"), "note\n\ntext");
        // A redaction at the source still lines up with the end of its part.
        let mirror = body_with_note("Alice (acme) wrote:\n\nmy secret", "note");
        assert_eq!(
            crate::privacy::redactions(
                &mirror,
                &[1],
                1,
                "my \u{2587}\u{2587}\u{2587}\u{2587}\u{2587}\u{2587}"
            ),
            vec!["secret".to_owned()]
        );
    }

    fn att(id: u64, name: &str, size: u64) -> Attachment {
        Attachment {
            id,
            file_name: name.into(),
            size,
            ..Default::default()
        }
    }

    #[test]
    fn a_redacted_source_file_redacts_its_copy_and_nothing_else() {
        let mirror = [
            att(10, "a.log", 5),
            att(11, "b.png", 7),
            att(12, "a.log", 5),
        ];
        // Nothing redacted at the source: nothing to do.
        let none = [att(1, "a.log", 5), att(2, "b.png", 7), att(3, "a.log", 5)];
        assert!(to_redact(&mirror, &none).is_empty());
        // b.png redacted: its copy goes, the others stay.
        let b = [
            att(1, "a.log", 5),
            att(2, REDACTED_NAME, 0),
            att(3, "a.log", 5),
        ];
        assert_eq!(to_redact(&mirror, &b), vec![11]);
        // One of two same-named files redacted: one copy goes.
        let one_a = [
            att(1, REDACTED_NAME, 0),
            att(2, "b.png", 7),
            att(3, "a.log", 5),
        ];
        assert_eq!(to_redact(&mirror, &one_a), vec![12]);
        // A copy already redacted is left alone.
        let mirror_done = [
            att(10, "a.log", 5),
            att(11, REDACTED_NAME, 0),
            att(12, "a.log", 5),
        ];
        assert!(to_redact(&mirror_done, &b).is_empty());
        // Files not copied (too large) never had a copy.
        let big = [
            att(1, "a.log", 5),
            att(2, REDACTED_NAME, 0),
            att(3, "a.log", 5),
            att(4, "huge.bin", 9),
        ];
        assert_eq!(to_redact(&mirror, &big), vec![11]);
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(999), "999 bytes");
        assert_eq!(human_size(1_000), "1.0 KB");
        assert_eq!(human_size(20_000_000), "20.0 MB");
        assert_eq!(human_size(52_428_800), "52.4 MB");
        assert_eq!(human_size(3_000_000_000), "3.0 GB");
    }

    #[test]
    fn html_escapes_text_and_shows_images() {
        let h = html_with_images(
            "a <b> & \"c\"\nnext\n\nsecond",
            &[InlineImage {
                url: "http://x/attachments/token/t/?name=a&b".into(),
                name: "shot.png".into(),
            }],
        );
        assert_eq!(
            h,
            "<p>a &lt;b&gt; &amp; &quot;c&quot;<br>next</p><p>second</p>\
             <p><img src=\"http://x/attachments/token/t/?name=a&amp;b\" alt=\"shot.png\"></p>"
        );
    }
}
