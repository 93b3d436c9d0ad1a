//! `unshare_on_tag_removal`: what the auto-share tag's removal ends, and what it does not.
//! A ticket shared by hand without the tag, or re-attached by hand after its tag's
//! removal ended it, stays shared at its next change (a tag it does not carry was not
//! removed); once it gains the tag, losing it unshares as for any tagged ticket. And a
//! mirror's create that the tag decided is withheld, at its next attempt, on news that
//! the tag is gone.

mod common;

use common::{AGENT_A, Setup, World, new_ticket, world};
use sharebridge::engine::hints::CarriedTicket;
use sharebridge::sim::{FaultKind, FaultSettings};
use sharebridge::store::LinkState;
use sharebridge::zendesk::models::{Status, TicketWrite};

const TAG: &str = "vendor_escalation";

fn retag(w: &World, ticket: u64, add: bool) {
    let tags = Some(vec![TAG.to_owned()]);
    let write = if add {
        TicketWrite {
            additional_tags: tags,
            ..Default::default()
        }
    } else {
        TicketWrite {
            remove_tags: tags,
            ..Default::default()
        }
    };
    w.sim
        .update_ticket("acme", ticket, AGENT_A, &write)
        .unwrap();
}

/// A new public comment on the source crosses once, and the link stays active.
async fn still_shared(w: &World, source: u64, mirror: u64, words: &str) {
    w.sim
        .add_comment("acme", source, AGENT_A, words, true)
        .unwrap();
    w.poke("acme", source).await;
    let live: Vec<_> = w
        .engine()
        .store()
        .links_by_source_ticket("acme", source)
        .unwrap()
        .into_iter()
        .filter(|l| l.state != LinkState::Orphaned)
        .collect();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].state, LinkState::Active, "{live:?}");
    assert!(
        w.engine().store().orphans().unwrap().is_empty(),
        "no orphan"
    );
    let crossed = w
        .bodies("vendor", mirror)
        .iter()
        .filter(|(b, _)| b.contains(words))
        .count();
    assert_eq!(crossed, 1, "{:?}", w.bodies("vendor", mirror));
}

fn orphan_reason(w: &World, source: u64) -> Option<String> {
    w.engine()
        .store()
        .orphans()
        .unwrap()
        .into_iter()
        .find(|o| o.source_ticket == source)
        .map(|o| o.reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_shared_by_hand_without_the_tag_is_not_unshared_for_lacking_it() {
    let mut w = world(Setup::default()).await;
    let t = w
        .sim
        .create_ticket(
            "acme",
            AGENT_A,
            &new_ticket("by hand", "by hand: first", &["billing"]),
        )
        .unwrap()
        .id;
    let link = w.engine().share("acme", t, "vendor", "test").await.unwrap();
    assert!(link.untagged_share, "{link:?}");
    w.poke("acme", t).await;
    let m = w.mirror_of(t);
    still_shared(&w, t, m, "second words").await;
    // What the link was shared as survives a restart.
    w.restart().await;
    still_shared(&w, t, m, "third words").await;

    // It gains the tag: from then on, the tag's removal unshares it.
    retag(&w, t, true);
    w.poke("acme", t).await;
    assert!(!w.link_of(t).untagged_share, "{:?}", w.link_of(t));
    still_shared(&w, t, m, "tagged words").await;
    retag(&w, t, false);
    w.poke("acme", t).await;
    assert_eq!(orphan_reason(&w, t).as_deref(), Some("tag_removed"));
    w.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_removed_orphan_reattached_by_hand_stays_shared() {
    let w = world(Setup::default()).await;
    // By `resync --relink`.
    let (t, m) = w.shared_ticket("relinked").await;
    retag(&w, t, false);
    w.poke("acme", t).await;
    let orphan = w.engine().store().orphans().unwrap();
    assert_eq!(orphan.len(), 1, "{orphan:?}");
    assert_eq!(orphan[0].reason, "tag_removed");
    let link = w.engine().resync(orphan[0].link, true).await.unwrap();
    assert_eq!(link.target_ticket, Some(m));
    still_shared(&w, t, m, "after the relink").await;

    // By `sharebridge share` of the untagged ticket again.
    let (u, n) = w.shared_ticket("shared again").await;
    retag(&w, u, false);
    w.poke("acme", u).await;
    assert_eq!(orphan_reason(&w, u).as_deref(), Some("tag_removed"));
    let link = w.engine().share("acme", u, "vendor", "test").await.unwrap();
    assert_eq!(link.target_ticket, Some(n), "the same mirror, re-attached");
    still_shared(&w, u, n, "after the share").await;
    assert_eq!(w.sim.tickets("vendor").len(), 2, "no second copy");
    w.stop();
}

/// The create's first attempt is answered 429; before its retry, a webhook says the tag
/// is gone. The retry is withheld, the ticket read again, and its link ends with no
/// mirror made (without the guard's tag check the retry makes one, then the link ends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_the_tag_decided_is_withheld_once_the_tag_is_gone() {
    let w = world(Setup::default()).await;
    let t = w.tagged_ticket_with_create_held("untagged in flight").await;
    // The held attempt is refused (429, retry after 1 s) once let go.
    w.sim.set_faults(
        Some("vendor"),
        FaultSettings {
            rate: 1.0,
            kinds: vec![FaultKind::TooManyRequests],
            latency_ms: 0,
        },
    );
    let faults = w.sim.stats("vendor").faults;
    retag(&w, t, false);
    w.hints.push_detail(
        "acme",
        t,
        CarriedTicket {
            status: Some(Status::Open),
            tags: vec!["other".into()],
            brand_id: None,
        },
    );
    w.sim.set_hold_ticket_creates("vendor", false);
    common::wait_for(|| w.sim.stats("vendor").faults > faults).await;
    w.sim.set_faults(Some("vendor"), FaultSettings::default());
    common::wait_for(|| orphan_reason(&w, t).is_some()).await;
    w.settle().await;
    assert_eq!(orphan_reason(&w, t).as_deref(), Some("tag_removed"));
    assert!(
        w.sim.tickets("vendor").is_empty(),
        "no mirror: {:?}",
        w.sim.tickets("vendor")
    );
    w.stop();
}
