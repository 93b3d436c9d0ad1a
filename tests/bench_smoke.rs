//! `sharebridge bench --quick --json` through the real binary: one JSON line with every
//! fixed key (DESIGN §2) and the extra ones BENCHMARKS.md relies on, with sane types.
//! Never a timing assertion: the machine is shared and figures vary.

use assert_cmd::Command;
use serde_json::Value;

/// Fixed by DESIGN §2.
const FIXED: &[&str] = &[
    "comments",
    "seconds",
    "comments_per_s",
    "latency_ms_p50",
    "latency_ms_p99",
    "api_calls_per_comment",
    "reads_per_comment",
    "writes_per_comment",
    "peak_rss_mb",
];

/// Promised by BENCHMARKS.md.
const MORE: &[&str] = &[
    "poll_latency_ms_p50",
    "poll_latency_ms_p99",
    "burst_api_calls_per_comment",
    "naive_api_calls_per_comment",
    "rss_idle_mb",
    "ready_ms_100k_links",
    "rss_100k_links_mb",
    "budget_used",
    "budget_window_s",
    "scale_cpu_percent_per_account",
    "scale_accounts_per_core",
    "attachment_big_mb",
    "attachment_big_seconds",
    "attachment_mb_per_s",
    "attachment_peak_rss_mb",
    "attachment_rss_before_mb",
];

#[test]
fn quick_json_has_every_key() {
    let out = Command::cargo_bin("sharebridge")
        .unwrap()
        .args(["bench", "--quick", "--json"])
        .env_remove("SHAREBRIDGE_CONFIG")
        .timeout(std::time::Duration::from_secs(240))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line of JSON: {stdout}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    for key in FIXED.iter().chain(MORE) {
        let n = v
            .get(key)
            .unwrap_or_else(|| panic!("missing {key}: {v}"))
            .as_f64()
            .unwrap_or_else(|| panic!("{key} is not a number: {v}"));
        assert!(n.is_finite() && n >= 0.0, "{key} = {n}");
    }
    for key in [
        "comments",
        "throttled",
        "lost",
        "ready_links",
        "backlog_reads",
        "backlog_writes",
        "budget_rpm",
        "budget_calls_source",
        "budget_calls_target",
        "budget_throttled",
        "budget_mirrored",
    ] {
        assert!(v[key].is_u64(), "{key} is a count: {v}");
    }
    assert!(
        v["comments"].as_u64().unwrap() > 0,
        "something mirrored: {v}"
    );
    assert_eq!(v["quick"], Value::Bool(true));
    // The scale phase: one point per number of accounts, each with its CPU share.
    let points = v["scale"].as_array().expect("scale is a list");
    assert!(!points.is_empty(), "scale points: {v}");
    for p in points {
        assert!(p["accounts"].as_u64().is_some_and(|n| n >= 2), "{p}");
        assert!(p["cpu_percent"].as_f64().is_some_and(|c| c >= 0.0), "{p}");
    }
}

#[test]
fn human_output_is_a_table() {
    let out = Command::cargo_bin("sharebridge")
        .unwrap()
        .args(["bench", "--quick"])
        .timeout(std::time::Duration::from_secs(240))
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for row in [
        "throughput",
        "latency, webhook path",
        "API calls",
        "READY",
        "scale:",
    ] {
        assert!(stdout.contains(row), "{row} in {stdout}");
    }
}
