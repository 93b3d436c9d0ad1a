//! Attachments with their comment (issue #16): downloaded with the sender's credentials
//! (through the file host `content_url` redirects to, which never sees them), uploaded to
//! the receiver just before the comment, referenced by it; a private file crosses only
//! with a private comment that is allowed to cross; inline images stay inline; a file over
//! `max_bytes` is named with its size and why; `sync = false` copies nothing; a coalesced
//! mirror comment carries the union of its sources' files. The crash between upload and
//! comment is in tests/attachments_crash.rs.

mod common;

use common::{AGENT_A, Setup, World, config_text, new_ticket, world, world_with};
use sharebridge::zendesk::models::{Comment, NewComment, TicketWrite};

/// Adds a comment with files as agent Alice would in the UI: each `(name, bytes)` is
/// uploaded first.
fn comment_with_files(
    w: &World,
    ticket: u64,
    body: &str,
    public: bool,
    files: &[(&str, Vec<u8>)],
) -> Comment {
    let uploads = files
        .iter()
        .map(|(name, bytes)| {
            w.sim
                .upload("acme", AGENT_A, name, "text/plain", bytes.clone())
                .unwrap()
                .token
        })
        .collect();
    w.sim
        .update_ticket(
            "acme",
            ticket,
            AGENT_A,
            &TicketWrite {
                comment: Some(NewComment {
                    body: Some(body.into()),
                    public: Some(public),
                    uploads,
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .unwrap();
    w.sim.comments("acme", ticket).pop().unwrap()
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
}

/// The mirror comment whose body contains `text`.
fn mirror_comment(w: &World, mirror: u64, text: &str) -> Comment {
    let all = w.sim.comments("vendor", mirror);
    all.iter()
        .find(|c| c.body.contains(text))
        .cloned()
        .unwrap_or_else(|| panic!("no mirror comment with {text:?}: {all:?}"))
}

fn metric(w: &World, line: &str) -> bool {
    w.engine().metrics().render().lines().any(|l| l == line)
}

/// The configuration with `[agreements.attachments]` lines for acme's agreement.
fn with_attachment_rules(sim: &sharebridge::sim::Simulator, setup: &Setup, rules: &str) -> String {
    let text = config_text(sim, setup);
    let anchor = "[agreements.tags]\nexclude = [\"internal_*\"]\n";
    assert!(text.contains(anchor));
    text.replacen(
        anchor,
        &format!("{anchor}[agreements.attachments]\n{rules}\n"),
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_files_cross_with_their_comment_and_private_ones_stay_home() {
    let w = world(Setup::default()).await;
    let (t, m) = w.shared_ticket("Files").await;
    let log = bytes(300_000, 1);
    comment_with_files(
        &w,
        t,
        "Here is the log",
        true,
        &[("server.log", log.clone())],
    );
    comment_with_files(
        &w,
        t,
        "Internal dump",
        false,
        &[("secret.txt", bytes(10, 2))],
    );
    w.poke("acme", t).await;

    let c = mirror_comment(&w, m, "Here is the log");
    assert!(c.public);
    assert_eq!(c.attachments.len(), 1, "{c:?}");
    let att = &c.attachments[0];
    assert_eq!(att.file_name, "server.log");
    assert_eq!(att.size, log.len() as u64);
    let (got, private) = w.sim.attachment_bytes("vendor", att.id).unwrap();
    assert_eq!(&got[..], &log[..], "the mirror holds the same bytes");
    assert!(!private, "a public comment's file is public on the mirror");

    // The private comment and its file stayed home: no comment, no upload of it.
    assert!(
        !w.sim
            .comments("vendor", m)
            .iter()
            .any(|c| c.body.contains("Internal dump")
                || c.attachments.iter().any(|a| a.file_name == "secret.txt"))
    );
    let vendor = w.sim.stats("vendor");
    assert_eq!(vendor.by_endpoint.get("POST /api/v2/uploads"), Some(&1));

    // The download went through acme's content_url to the file host, which never saw
    // acme's credentials.
    let acme = w.sim.stats("acme");
    assert!(acme.file_downloads >= 1, "{acme:?}");
    assert_eq!(acme.file_downloads_with_credentials, 0);
    assert!(metric(
        &w,
        "sharebridge_attachments_copied_total{agreement=\"acme-to-vendor\"} 1"
    ));
    assert!(metric(
        &w,
        "sharebridge_attachment_bytes_copied_total{agreement=\"acme-to-vendor\"} 300000"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_file_crosses_only_as_a_private_comment() {
    let setup = Setup {
        private_comments: true,
        ..Setup::default()
    };
    let w = world(setup).await;
    let (t, m) = w.shared_ticket("Private files").await;
    let secret = bytes(5_000, 3);
    let src = comment_with_files(
        &w,
        t,
        "Internal dump",
        false,
        &[("dump.bin", secret.clone())],
    );
    // A private file needs acme's credentials at its content_url.
    let (_, private) = w
        .sim
        .attachment_bytes("acme", src.attachments[0].id)
        .unwrap();
    assert!(private);
    w.poke("acme", t).await;

    let c = mirror_comment(&w, m, "Internal dump");
    assert!(!c.public, "private stays private");
    assert_eq!(c.attachments.len(), 1);
    let (got, private) = w
        .sim
        .attachment_bytes("vendor", c.attachments[0].id)
        .unwrap();
    assert_eq!(&got[..], &secret[..]);
    assert!(private, "the mirror's copy needs vendor's credentials too");
    assert_eq!(w.sim.stats("acme").file_downloads_with_credentials, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_file_is_named_with_its_size_and_counted() {
    let sim = common::simulator().await;
    let text = with_attachment_rules(&sim, &Setup::default(), "max_bytes = 1000");
    let w = world_with(sim, &text).await;
    let (t, m) = w.shared_ticket("Big").await;
    comment_with_files(
        &w,
        t,
        "Two files",
        true,
        &[("big.bin", bytes(2_500, 4)), ("small.txt", bytes(10, 5))],
    );
    w.poke("acme", t).await;

    let c = mirror_comment(&w, m, "Two files");
    let names: Vec<&str> = c.attachments.iter().map(|a| a.file_name.as_str()).collect();
    assert_eq!(names, ["small.txt"], "{c:?}");
    assert!(
        c.body.contains(
            "- big.bin (2.5 KB): larger than this agreement's limit of 1.0 KB (attachments.max_bytes)"
        ),
        "{}",
        c.body
    );
    assert!(metric(
        &w,
        "sharebridge_attachments_skipped_total{agreement=\"acme-to-vendor\",reason=\"too_large\"} 1"
    ));
    // The large file was not even downloaded: its size was known.
    assert_eq!(w.sim.stats("acme").file_downloads, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_false_copies_no_file_and_names_none() {
    let sim = common::simulator().await;
    let text = with_attachment_rules(&sim, &Setup::default(), "sync = false");
    let w = world_with(sim, &text).await;
    let (t, m) = w.shared_ticket("No files").await;
    comment_with_files(&w, t, "With a file", true, &[("kept.txt", bytes(10, 6))]);
    w.poke("acme", t).await;

    let c = mirror_comment(&w, m, "With a file");
    assert!(c.attachments.is_empty());
    assert!(!c.body.contains("kept.txt"), "{}", c.body);
    assert!(
        !w.sim
            .stats("vendor")
            .by_endpoint
            .contains_key("POST /api/v2/uploads")
    );
    assert_eq!(w.sim.stats("acme").file_downloads, 0);
    assert!(metric(
        &w,
        "sharebridge_attachments_skipped_total{agreement=\"acme-to-vendor\",reason=\"disabled\"} 1"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coalesced_mirror_comment_carries_every_file_in_order() {
    let w = world(Setup::default()).await;
    let (t, m) = w.shared_ticket("Coalesced").await;
    comment_with_files(&w, t, "first part", true, &[("a.txt", bytes(10, 7))]);
    comment_with_files(
        &w,
        t,
        "second part",
        true,
        &[("b.txt", bytes(20, 8)), ("c.txt", bytes(30, 9))],
    );
    w.poke("acme", t).await;

    let c = mirror_comment(&w, m, "first part");
    assert!(
        c.body.contains("second part"),
        "one mirror comment: {}",
        c.body
    );
    let names: Vec<&str> = c.attachments.iter().map(|a| a.file_name.as_str()).collect();
    assert_eq!(names, ["a.txt", "b.txt", "c.txt"]);
    for (att, (len, seed)) in c.attachments.iter().zip([(10, 7), (20, 8), (30, 9)]) {
        let (got, _) = w.sim.attachment_bytes("vendor", att.id).unwrap();
        assert_eq!(&got[..], &bytes(len, seed)[..], "{}", att.file_name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inline_image_stays_inline_in_the_html_body() {
    let w = world(Setup::default()).await;
    let (t, m) = w.shared_ticket("Inline").await;
    let png = bytes(4_000, 10);
    let up = w
        .sim
        .upload("acme", AGENT_A, "shot.png", "image/png", png.clone())
        .unwrap();
    w.sim
        .update_ticket(
            "acme",
            t,
            AGENT_A,
            &TicketWrite {
                comment: Some(NewComment {
                    html_body: Some(format!(
                        "<p>See the screen</p><img src=\"{}\">",
                        up.attachment.content_url
                    )),
                    public: Some(true),
                    uploads: vec![up.token],
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .unwrap();
    let src = w.sim.comments("acme", t).pop().unwrap();
    assert!(src.attachments[0].inline, "the source shows it inline");
    w.poke("acme", t).await;

    let c = mirror_comment(&w, m, "See the screen");
    assert_eq!(c.attachments.len(), 1, "{c:?}");
    let att = &c.attachments[0];
    assert!(att.inline, "inline on the mirror too: {c:?}");
    assert!(c.html_body.contains(&att.content_url), "{}", c.html_body);
    let (got, _) = w.sim.attachment_bytes("vendor", att.id).unwrap();
    assert_eq!(&got[..], &png[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_comment_brings_its_files_to_the_new_mirror() {
    let w = world(Setup::default()).await;
    let up = w
        .sim
        .upload("acme", AGENT_A, "first.txt", "text/plain", bytes(100, 11))
        .unwrap();
    let mut write = new_ticket("First files", "see attached", &["vendor_escalation"]);
    write.comment.as_mut().unwrap().uploads = vec![up.token];
    let t = w.sim.create_ticket("acme", AGENT_A, &write).unwrap();
    w.poke("acme", t.id).await;
    let m = w.mirror_of(t.id);
    let c = mirror_comment(&w, m, "see attached");
    let names: Vec<&str> = c.attachments.iter().map(|a| a.file_name.as_str()).collect();
    assert_eq!(names, ["first.txt"]);
    let (got, _) = w
        .sim
        .attachment_bytes("vendor", c.attachments[0].id)
        .unwrap();
    assert_eq!(&got[..], &bytes(100, 11)[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_redacted_at_the_source_is_redacted_on_the_mirror() {
    let w = world(Setup::default()).await;
    let (t, m) = w.shared_ticket("Redacted files").await;
    let keep = comment_with_files(&w, t, "keep this", true, &[("a.txt", bytes(10, 12))]);
    let leak = comment_with_files(&w, t, "oops", true, &[("card.png", bytes(20, 13))]);
    w.poke("acme", t).await;
    let c = mirror_comment(&w, m, "keep this");
    assert!(c.body.contains("oops"), "coalesced: {}", c.body);
    assert_eq!(c.attachments.len(), 2);

    // An agent redacts the second comment's file (agent workspace, or the API).
    let r = reqwest::Client::new()
        .put(format!(
            "{}/api/v2/tickets/{t}/comments/{}/attachments/{}/redact.json",
            w.sim.base_url("acme"),
            leak.id,
            leak.attachments[0].id
        ))
        .basic_auth(format!("{AGENT_A}/token"), Some(w.sim.token()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    w.hints.push_privacy(
        "acme",
        t,
        sharebridge::engine::hints::PrivacyChange {
            comment: leak.id,
            redacted: true,
        },
    );
    w.settle().await;

    let c = mirror_comment(&w, m, "keep this");
    let names: Vec<(&str, u64)> = c
        .attachments
        .iter()
        .map(|a| (a.file_name.as_str(), a.size))
        .collect();
    assert_eq!(names, [("a.txt", 10), ("redacted.txt", 0)], "{c:?}");
    let (gone, _) = w
        .sim
        .attachment_bytes("vendor", c.attachments[1].id)
        .unwrap();
    assert!(gone.is_empty(), "the copy's bytes are gone too");
    let (kept, _) = w
        .sim
        .attachment_bytes("vendor", c.attachments[0].id)
        .unwrap();
    assert_eq!(&kept[..], &bytes(10, 12)[..]);
    let _ = keep;
    assert!(metric(
        &w,
        "sharebridge_privacy_followed_total{agreement=\"acme-to-vendor\",change=\"redacted\"} 1"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_the_sender_does_not_serve_is_named_and_the_comment_still_crosses() {
    let w = world(Setup::default()).await;
    let (t, m) = w.shared_ticket("Gone").await;
    let c = comment_with_files(
        &w,
        t,
        "two files",
        true,
        &[("gone.txt", bytes(1_500, 14)), ("here.txt", bytes(10, 15))],
    );
    assert!(w.sim.delete_attachment_file("acme", c.attachments[0].id));
    w.poke("acme", t).await;

    let c = mirror_comment(&w, m, "two files");
    let names: Vec<&str> = c.attachments.iter().map(|a| a.file_name.as_str()).collect();
    assert_eq!(names, ["here.txt"]);
    assert!(
        c.body
            .contains("- gone.txt (1.5 KB): the sending side did not serve it"),
        "{}",
        c.body
    );
    assert!(metric(
        &w,
        "sharebridge_attachments_skipped_total{agreement=\"acme-to-vendor\",reason=\"unavailable\"} 1"
    ));
}
