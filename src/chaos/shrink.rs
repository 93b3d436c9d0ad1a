//! Shrinking a failing seed: the same seed re-run with events of its schedule dropped,
//! keeping the shortest event list that still fails the same way (a violation of the same
//! kind as the first one found). Greedy delta debugging: drop halves, then quarters, …,
//! then single events, as long as the run still fails; bounded by a number of runs.
//!
//! Must not: change the seed (the network, disk and simulator draw from it as before) or
//! report a list that was not re-run and seen failing.

use std::collections::BTreeSet;

use super::{Options, Outcome, Schedule, run_schedule};

/// The shortest failing variant found.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// Events dropped (indices into the seed's schedule).
    pub drop: BTreeSet<usize>,
    /// Events kept.
    pub kept: usize,
    /// The run of that variant (with its trace).
    pub outcome: Outcome,
    /// Runs it took.
    pub runs: usize,
}

/// The kind of a violation, for "fails the same way".
pub fn kind(violation: &str) -> &'static str {
    const KINDS: &[(&str, &str)] = &[
        ("still active", "not-orphaned"),
        ("nothing ended it", "link-ended"),
        ("did not settle", "unsettled"),
        (" lost:", "lost"),
        ("duplicated", "duplicated"),
        ("out of order", "reordered"),
        ("leaked", "leaked"),
        ("still public", "privacy"),
        ("echoed", "echoed"),
        ("crossed without consent", "consent"),
        (" though ", "crossed"),
        ("shared back", "loop"),
        ("mirrors in", "duplicate-mirror"),
        ("never shared", "not-shared"),
        ("orphan", "orphan-report"),
    ];
    KINDS
        .iter()
        .find(|(needle, _)| violation.contains(needle))
        .map_or("other", |(_, k)| k)
}

/// Every kind [`kind`] names.
pub const KINDS: &[&str] = &[
    "lost",
    "duplicated",
    "reordered",
    "leaked",
    "privacy",
    "echoed",
    "consent",
    "crossed",
    "loop",
    "duplicate-mirror",
    "not-shared",
    "not-orphaned",
    "orphan-report",
    "link-ended",
    "unsettled",
    "other",
];

/// Shrinks `first` (a failing run of `schedule` under `options`) within `budget` runs,
/// keeping a violation of kind `want` (default: the first violation's kind), or, when
/// `want` is `=TEXT`, a violation whose words contain TEXT.
pub fn shrink(
    schedule: &Schedule,
    options: &Options,
    first: &Outcome,
    want: Option<&str>,
    budget: usize,
) -> Shrunk {
    let first_kind = first.violations.first().map_or("other", |v| kind(v));
    let text = want.and_then(|w| w.strip_prefix('='));
    let want = want
        .filter(|w| first.violations.iter().any(|v| kind(v) == *w))
        .unwrap_or(first_kind);
    let fails = |o: &Outcome| match text {
        Some(t) => o.violations.iter().any(|v| v.contains(t)),
        None => o.violations.iter().any(|v| kind(v) == want),
    };
    let all: Vec<usize> = (0..schedule.events.len())
        .filter(|i| !options.drop.contains(i))
        .collect();
    let mut kept = all.clone();
    let mut best = first.clone();
    let mut runs = 0;
    let run = |kept: &[usize], keep_trace: bool| {
        let keep: BTreeSet<usize> = kept.iter().copied().collect();
        let o = Options {
            drop: (0..schedule.events.len())
                .filter(|i| !keep.contains(i))
                .collect(),
            keep_trace,
            ..options.clone()
        };
        run_schedule(schedule, &o)
    };
    let mut chunk = kept.len().div_ceil(2).max(1);
    'outer: loop {
        let mut progressed = false;
        let mut i = 0;
        while i < kept.len() {
            if runs >= budget {
                break 'outer;
            }
            let end = (i + chunk).min(kept.len());
            let candidate: Vec<usize> = kept[..i].iter().chain(&kept[end..]).copied().collect();
            runs += 1;
            let o = run(&candidate, false);
            if fails(&o) {
                kept = candidate;
                best = o;
                progressed = true;
            } else {
                i = end;
            }
        }
        if !progressed {
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
    }
    // The variant kept, once more with its trace (it must still fail: runs replay).
    let traced = run(&kept, true);
    if fails(&traced) {
        best = traced;
    }
    let keep: BTreeSet<usize> = kept.iter().copied().collect();
    Shrunk {
        drop: (0..schedule.events.len())
            .filter(|i| !keep.contains(i))
            .collect(),
        kept: kept.len(),
        outcome: best,
        runs: runs + 1,
    }
}

/// `1,2,3,7,9,10` → `1-3,7,9-10`.
pub fn render_list(set: &BTreeSet<usize>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut iter = set.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end = iter.next().unwrap_or(end);
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    out.join(",")
}

/// Parses `1-3,7,9-10`; the error names the bad part.
pub fn parse_list(text: &str) -> Result<BTreeSet<usize>, String> {
    let mut out = BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("{part:?} is not an event index or range (like 3 or 5-9)"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("{part:?}: the range goes backwards"));
                }
                out.extend(a..=b);
            }
            None => {
                out.insert(num(part)?);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip() {
        let s: BTreeSet<usize> = [1, 2, 3, 7, 9, 10].into();
        assert_eq!(render_list(&s), "1-3,7,9-10");
        assert_eq!(parse_list("1-3,7,9-10").unwrap(), s);
        assert!(parse_list("3-1").is_err());
        assert!(parse_list("x").is_err());
        assert_eq!(parse_list("").unwrap(), BTreeSet::new());
    }

    #[test]
    fn kinds_name_the_violation() {
        assert_eq!(kind("T3 (public …) lost: never reached vendor#2"), "lost");
        assert_eq!(kind("out of order on vendor#2: T5 …"), "reordered");
        assert_eq!(kind("something new"), "other");
    }
}
