//! `sharebridge chaos --seed N | --seeds N..M [--json]`: runs seeds, prints each one's
//! violations and digest, shrinks failures, and answers with the exit code (0 every seed
//! held, 1 a violation, 2 bad usage). `cli.rs` parses the flags into [`Request`].

use std::collections::BTreeSet;
use std::io::Write as _;
use std::time::Instant;

use super::schedule::{self, Feature, Features};
use super::shrink::{parse_list, shrink};
use super::{Options, Outcome, report, run_range};

/// Shrinking runs at most this many variants of a seed.
const SHRINK_BUDGET: usize = 150;

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Seeds `from..to` (`to` excluded).
    pub from: u64,
    pub to: u64,
    /// `--drop` (with one seed).
    pub drop: Option<String>,
    pub exclude: Option<String>,
    /// Shrink failures (default: only for a single seed).
    pub shrink: Option<bool>,
    /// The kind of violation the shrunk run must keep (default: the first one's).
    pub shrink_for: Option<String>,
    pub threads: Option<usize>,
    /// Print the whole trace (a single seed).
    pub trace: bool,
    /// Print the schedule and exit.
    pub schedule: bool,
    /// List the features and exit.
    pub features: bool,
    pub json: bool,
}

/// `"10..20"` → (10, 20).
pub fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("{s:?} is not a range N..M"))?;
    let num = |x: &str| {
        x.trim()
            .parse::<u64>()
            .map_err(|_| format!("{x:?} in {s:?} is not a seed"))
    };
    let (a, b) = (num(a)?, num(b.trim_start_matches('='))?);
    let b = if s.contains("..=") {
        b.saturating_add(1)
    } else {
        b
    };
    if a >= b {
        return Err(format!("{s:?} is an empty range (M is excluded: N..M)"));
    }
    Ok((a, b))
}

/// Keeps injected panics (the `panic` feature) quiet; every other panic is printed as
/// before.
pub fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(install_quiet_hook);
}

fn install_quiet_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if !msg.contains("injected transport panic") {
            previous(info);
        }
    }));
}

/// Runs the request; the exit code.
pub fn run(req: &Request) -> u8 {
    if req.features {
        for f in Feature::ALL {
            println!("{:<14} {}", f.name(), f.describe());
        }
        return 0;
    }
    let exclude = match req.exclude.as_deref().map(schedule::parse_features) {
        Some(Err(e)) => {
            eprintln!(
                "sharebridge chaos: --exclude: {e} (sharebridge chaos --features lists them)"
            );
            return 2;
        }
        Some(Ok(f)) => f,
        None => Features::new(),
    };
    let drop = match req.drop.as_deref().map(parse_list) {
        Some(Err(e)) => {
            eprintln!("sharebridge chaos: --drop: {e}");
            return 2;
        }
        Some(Ok(d)) => d,
        None => BTreeSet::new(),
    };
    if let Some(k) = &req.shrink_for
        && !super::shrink::KINDS.contains(&k.as_str())
        && !k.starts_with('=')
    {
        eprintln!(
            "sharebridge chaos: --shrink-for: unknown kind {k:?}; one of {}, or =TEXT (a violation containing TEXT)",
            super::shrink::KINDS.join(", ")
        );
        return 2;
    }
    let single = req.to == req.from + 1;
    if !single && (!drop.is_empty() || req.trace) {
        eprintln!("sharebridge chaos: --drop and --trace take one --seed");
        return 2;
    }
    if req.schedule {
        let mut out = std::io::stdout().lock();
        for seed in req.from..req.to {
            let s = schedule::generate(seed, &exclude);
            let names: Vec<&str> = s.features.iter().map(|f| f.name()).collect();
            let _ = writeln!(out, "seed {seed}: features {}", names.join(","));
            for (i, e) in s.events.iter().enumerate() {
                let mark = if drop.contains(&i) { " (dropped)" } else { "" };
                let _ = writeln!(
                    out,
                    "  {i:>3} at {:>8.3} s: {}{mark}",
                    e.at_ms as f64 / 1000.0,
                    e.action
                );
            }
        }
        return 0;
    }
    quiet_injected_panics();
    let options = Options {
        exclude,
        drop,
        keep_trace: req.trace,
    };
    let shrinking = req.shrink.unwrap_or(single);
    let threads = req
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let started = Instant::now();
    let (mut seeds, mut failed) = (0u64, 0u64);
    let mut print = |o: Outcome| {
        seeds += 1;
        if o.failed() {
            failed += 1;
        }
        let schedule = schedule::generate(o.seed, &options.exclude);
        let shrunk = (o.failed() && shrinking).then(|| {
            shrink(
                &schedule,
                &options,
                &o,
                req.shrink_for.as_deref(),
                SHRINK_BUDGET,
            )
        });
        let shrunk = shrunk.as_ref().map(|s| (&schedule, s));
        let mut out = std::io::stdout().lock();
        if req.json {
            let _ = writeln!(out, "{}", report::to_json(&o, &options, shrunk));
        } else {
            let _ = write!(out, "{}", report::to_text(&o, &options, shrunk));
            if let Some(lines) = o.trace.as_ref().filter(|_| req.trace) {
                let _ = writeln!(out, "  trace ({} events):", lines.len());
                for l in lines {
                    let _ = writeln!(out, "    {l}");
                }
            }
        }
        let _ = out.flush();
    };
    run_range(req.from, req.to, threads, &options, &mut print);
    let secs = started.elapsed().as_secs_f64();
    let summary = format!(
        "{seeds} seeds, {failed} failed, {secs:.1} s ({:.1} seeds/s on {threads} threads)",
        seeds as f64 / secs.max(1e-9)
    );
    if req.json {
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    u8::from(failed > 0)
}
