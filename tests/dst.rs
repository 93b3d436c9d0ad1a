//! Deterministic simulation testing in CI (`sharebridge chaos`, src/chaos): the simulator
//! and the daemon in one process on simulated time, under seeded faults, crashes and
//! interleavings, checked against the model at the end of every run.
//!
//! - `ci_seeds_hold`: seeds 0..360 (`SHAREBRIDGE_DST_SEEDS=N` for more) and the
//!   [`REGRESSIONS`] beyond them, every feature on, none skipped, with every violation
//!   printed with the command that replays it. After an engine change,
//!   `sharebridge chaos --seeds 0..360 --json` lists what fails.
//! - `a_seed_replays_its_digest`: seeds run twice alone, then again in parallel with
//!   other seeds loading the machine, give the same digest and the same violations.
//! - the command: one JSON line per seed with the fixed names; bad input exits 2.

use std::collections::BTreeMap;

use sharebridge::chaos::{self, Features, Options, Outcome};

/// Seeds beyond 0..360 that once failed and pass since: run in CI too.
/// 599: a second mirror after a withdrawal during the create; 894: a write in doubt left
/// by a link put in error (its mirror closed) never settled; 395: a late mirror's first
/// comment kept a privacy change made before it was known; 449: an adopted late mirror's
/// earlier replies crossed; 813: a write outran the make-private webhook; 887: a reply
/// read before a downgrade crossed after the re-upgrade; 1402: a slow reload held back a
/// withdrawal; 2155: a reply in doubt on a link turned one-way never settled; 2313: an
/// unanswered unshare (a model case); 1633, 1689: replies hinted before their mirror was
/// recorded never crossed; 2486: a step held by a partition erased an upgrade's start;
/// 1204: a reply crossed ahead of an older one on a sibling mirror not recorded yet; 1499:
/// a reply on a mirror adopted after a store crash, in the link's first second, was
/// dropped; 1795: a create retried after its first comment was made private leaked it;
/// 3495, 4458, 4468, 4737, 4007, 8173, 9286, 12773, 13930, 14950, 14994, 21436, 35051: see the
/// README's "What it found"; 36938, 39856, 46242: a 404 reading a sibling's deleted mirror
/// put a link nothing had ended in error; 92557, 92950, 94489, 95644, 97644: the harness
/// let a write land later than the stated wait (network delay plus the simulator's late
/// apply); 97823: a model case (a reload that died at a store sync may have recorded its
/// withdrawal); 7223, 20567, 25757, 28093: a status write whose answer timed out was
/// replayed, then applied late over the newer status sent after it, which crossed back.
const REGRESSIONS: &[u64] = &[
    395, 449, 599, 813, 887, 894, 1204, 1402, 1499, 1633, 1689, 1795, 2155, 2313, 2486, 3495, 4458,
    4468, 4737, 4007, 8173, 9286, 12773, 13930, 14950, 14994, 21436, 35051, 36938, 39856, 46242,
    92557, 92950, 94489, 95644, 97644, 97823, 7223, 20567, 25757, 28093,
];

fn seeds() -> u64 {
    std::env::var("SHAREBRIDGE_DST_SEEDS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(360)
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(4))
}

fn describe(o: &Outcome, options: &Options) -> String {
    let mut s = format!(
        "seed {} (replay: {}):\n",
        o.seed,
        chaos::report::replay(o.seed, &options.exclude, &options.drop)
    );
    for v in &o.violations {
        s.push_str(&format!("  - {v}\n"));
    }
    s
}

#[test]
fn ci_seeds_hold() {
    chaos::command::quiet_injected_panics();
    let options = Options::default();
    let n = seeds();
    let seeds: Vec<u64> = (0..n)
        .chain(REGRESSIONS.iter().copied().filter(|s| *s >= n))
        .collect();
    let mut failed = Vec::new();
    let (mut ran, mut faults, mut crashes, mut comments) = (0, 0, 0, 0);
    chaos::run_seeds(&seeds, threads(), &options, |o| {
        ran += 1;
        faults += o.faults;
        crashes += o.crashes;
        comments += o.comments;
        if o.failed() {
            failed.push(describe(&o, &options));
        }
    });
    eprintln!("{ran} seeds: {comments} comments, {faults} faults, {crashes} crashes");
    // A harness that injected nothing proved nothing.
    assert!(faults > ran && crashes > ran / 2 && comments > 10 * ran);
    assert!(
        failed.is_empty(),
        "{} of {n} seeds failed:\n{}",
        failed.len(),
        failed.join("")
    );
}

#[test]
fn a_seed_replays_its_digest_twice_and_under_load() {
    chaos::command::quiet_injected_panics();
    let options = Options::default();
    let probe: Vec<u64> = vec![3, 17, 42, 1001, 77_777];
    let alone = |seed| {
        let o = chaos::run_seed(seed, &options);
        (o.digest, o.violations)
    };
    let first: BTreeMap<u64, _> = probe.iter().map(|&s| (s, alone(s))).collect();
    for &s in &probe {
        assert_eq!(first[&s], alone(s), "seed {s} ran twice and took two paths");
    }
    // Again, in parallel with other seeds on every thread (load), in another order.
    let mut loaded = BTreeMap::new();
    std::thread::scope(|scope| {
        let noise = scope.spawn(|| chaos::run_range(500, 520, threads(), &options, |_| {}));
        for &s in probe.iter().rev() {
            let o = std::thread::scope(|inner| inner.spawn(|| chaos::run_seed(s, &options)).join());
            let o = o.expect("a seed's thread");
            loaded.insert(s, (o.digest, o.violations));
        }
        noise.join().expect("the loading seeds");
    });
    assert_eq!(first, loaded, "a seed took another path under load");
    let digests: std::collections::BTreeSet<_> = first.values().map(|(d, _)| d).collect();
    assert_eq!(digests.len(), probe.len(), "different seeds, one digest");
}

#[test]
fn the_command_prints_one_json_line_per_seed() {
    let out = assert_cmd::Command::new(env!("CARGO_BIN_EXE_sharebridge"))
        .args(["chaos", "--seeds", "5..8", "--json", "--threads", "2"])
        .args([
            "--exclude",
            "panic,make-private,reverse-tag,public-off,late-writes",
        ])
        .output()
        .expect("sharebridge chaos runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    for (l, seed) in lines.iter().zip(5..) {
        assert_eq!(l["seed"], seed);
        for key in [
            "digest",
            "violations",
            "comments",
            "faults",
            "crashes",
            "replay",
        ] {
            assert!(l.get(key).is_some(), "{key} missing in {l}");
        }
        assert_eq!(l["digest"].as_str().map(str::len), Some(32));
    }
    let failed = lines
        .iter()
        .any(|l| l["violations"].as_array().is_some_and(|v| !v.is_empty()));
    assert_eq!(out.status.code(), Some(if failed { 1 } else { 0 }));
    // The same seeds give the same lines.
    let again = assert_cmd::Command::new(env!("CARGO_BIN_EXE_sharebridge"))
        .args(["chaos", "--seeds", "5..8", "--json", "--threads", "1"])
        .args([
            "--exclude",
            "panic,make-private,reverse-tag,public-off,late-writes",
        ])
        .output()
        .expect("sharebridge chaos runs");
    assert_eq!(String::from_utf8_lossy(&again.stdout), text);
}

#[test]
fn bad_usage_exits_2_and_says_why() {
    for args in [
        &["chaos", "--seeds", "9..3"][..],
        &["chaos", "--seed", "1", "--exclude", "nope"],
        &["chaos", "--seed", "1", "--drop", "x"],
        &["chaos", "--seed", "1", "--shrink-for", "nope"],
        &["chaos"],
    ] {
        let out = assert_cmd::Command::new(env!("CARGO_BIN_EXE_sharebridge"))
            .args(args)
            .output()
            .expect("sharebridge runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} said nothing");
    }
}

#[test]
fn a_dropped_event_changes_the_run_and_the_schedule_lists_it() {
    let schedule = chaos::schedule::generate(11, &Features::new());
    assert!(!schedule.events.is_empty());
    let full = chaos::run_schedule(&schedule, &Options::default());
    let fewer = chaos::run_schedule(
        &schedule,
        &Options {
            drop: [0].into(),
            ..Options::default()
        },
    );
    assert_ne!(full.digest, fewer.digest);
    assert_eq!(fewer.events + 1, full.events);
}
