//! What `sharebridge chaos` prints: one JSON line per seed (`--json`: `seed, digest,
//! violations, comments, faults, crashes` and more), or a few human lines; for a shrunk
//! failure, the events it kept, its trace and the command that replays it.
//!
//! Must not: print comment bodies (the trace names tokens, hashes and ids only).

use serde_json::{Value, json};

use super::schedule::{Features, Schedule};
use super::shrink::{Shrunk, render_list};
use super::{Options, Outcome};

/// The command that replays a run: `sharebridge chaos --seed N [--exclude …] [--drop …]`.
pub fn replay(seed: u64, exclude: &Features, drop: &std::collections::BTreeSet<usize>) -> String {
    let mut cmd = format!("sharebridge chaos --seed {seed}");
    if !exclude.is_empty() {
        let names: Vec<&str> = exclude.iter().map(|f| f.name()).collect();
        cmd.push_str(&format!(" --exclude {}", names.join(",")));
    }
    if !drop.is_empty() {
        cmd.push_str(&format!(" --drop {}", render_list(drop)));
    }
    cmd
}

/// One seed as a JSON object.
pub fn to_json(o: &Outcome, options: &Options, shrunk: Option<(&Schedule, &Shrunk)>) -> Value {
    let mut v = json!({
        "seed": o.seed,
        "digest": o.digest,
        "violations": o.violations,
        "comments": o.comments,
        "faults": o.faults,
        "crashes": o.crashes,
        "events": o.events,
        "requests": o.requests,
        "webhooks": o.webhooks,
        "simulated_seconds": o.simulated_ms / 1000,
        "features": o.features,
        "replay": replay(o.seed, &options.exclude, &options.drop),
    });
    if let Some((schedule, s)) = shrunk {
        v["shrunk"] = json!({
            "drop": render_list(&s.drop),
            "events": kept_events(schedule, s),
            "violations": s.outcome.violations,
            "digest": s.outcome.digest,
            "runs": s.runs,
            "trace": s.outcome.trace,
            "replay": replay(o.seed, &options.exclude, &s.drop),
        });
    }
    v
}

fn kept_events(schedule: &Schedule, s: &Shrunk) -> Vec<String> {
    schedule
        .events
        .iter()
        .enumerate()
        .filter(|(i, _)| !s.drop.contains(i))
        .map(|(i, e)| format!("{i} at {:.3} s: {}", e.at_ms as f64 / 1000.0, e.action))
        .collect()
}

/// One seed in words.
pub fn to_text(o: &Outcome, options: &Options, shrunk: Option<(&Schedule, &Shrunk)>) -> String {
    let mut out = format!(
        "seed {:<6} {:<13} digest {}  {} events, {} comments, {} faults, {} crashes, {} requests, {} webhooks, {:.1} min simulated\n",
        o.seed,
        if o.failed() {
            format!("FAILED ({})", o.violations.len())
        } else {
            "ok".to_owned()
        },
        o.digest,
        o.events,
        o.comments,
        o.faults,
        o.crashes,
        o.requests,
        o.webhooks,
        o.simulated_ms as f64 / 60_000.0
    );
    for v in &o.violations {
        out.push_str(&format!("  - {v}\n"));
    }
    if let Some((schedule, s)) = shrunk {
        out.push_str(&format!(
            "  shrunk to {} of {} events in {} runs; it still fails with:\n",
            s.kept, o.events, s.runs
        ));
        for v in &s.outcome.violations {
            out.push_str(&format!("    - {v}\n"));
        }
        out.push_str("  the events it keeps:\n");
        for e in kept_events(schedule, s) {
            out.push_str(&format!("    {e}\n"));
        }
        if let Some(lines) = &s.outcome.trace {
            out.push_str("  its trace:\n");
            for l in lines {
                out.push_str(&format!("    {l}\n"));
            }
        }
        out.push_str(&format!(
            "  replay: {}\n",
            replay(o.seed, &options.exclude, &s.drop)
        ));
    } else if o.failed() {
        out.push_str(&format!(
            "  replay (and shrink): {}\n",
            replay(o.seed, &options.exclude, &options.drop)
        ));
    }
    out
}
