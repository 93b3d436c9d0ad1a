//! The figures of `sharebridge bench`: the report's fields (its JSON keys are fixed, DESIGN
//! §2) and the two ways it is printed, one JSON line or a table a person reads.
//!
//! Architecture invariant: formats what was measured, never measures nor rounds away a
//! `lost` comment.

use std::collections::BTreeMap;

use serde::Serialize;

use super::ScalePoint;

/// The figures; `--json` prints this as one line. The first keys are fixed (DESIGN §2).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Source comments mirrored in the throughput run (the backlog, limits lifted).
    pub comments: u64,
    /// Seconds from the daemon's start to the last of them visible on its mirror.
    pub seconds: f64,
    pub comments_per_s: f64,
    /// Webhook path, steady and bursts together: write → visible on the mirror.
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    /// Bridge API calls per mirrored comment, steady load (both accounts).
    pub api_calls_per_comment: f64,
    pub reads_per_comment: f64,
    pub writes_per_comment: f64,
    /// Peak resident set of the whole process (simulator included) up to the READY run.
    pub peak_rss_mb: f64,

    pub quick: bool,
    /// `daemon.ordering` of the daemon measured.
    pub ordering: String,
    pub links: u64,
    pub steady_comments: u64,
    pub steady_latency_ms_p50: f64,
    pub steady_latency_ms_p99: f64,
    pub burst_comments: u64,
    pub burst_latency_ms_p50: f64,
    pub burst_latency_ms_p99: f64,
    pub burst_api_calls_per_comment: f64,
    pub burst_reads_per_comment: f64,
    pub burst_writes_per_comment: f64,
    pub backlog_api_calls_per_comment: f64,
    /// Bridge reads and writes (mirror updates) spent on the whole backlog.
    pub backlog_reads: u64,
    pub backlog_writes: u64,
    /// Uncoalesced throughput: one comment per ticket per round, limits lifted.
    pub flood_comments: u64,
    pub flood_seconds: f64,
    pub flood_comments_per_s: f64,
    pub flood_api_calls_per_comment: f64,
    pub poll_comments: u64,
    pub poll_interval_s: f64,
    pub poll_latency_ms_p50: f64,
    pub poll_latency_ms_p99: f64,
    pub poll_api_calls_per_comment: f64,
    pub naive_comments: u64,
    pub naive_interval_s: f64,
    pub naive_latency_ms_p50: f64,
    pub naive_latency_ms_p99: f64,
    pub naive_api_calls_per_comment: f64,
    pub naive_reads_per_comment: f64,
    pub naive_writes_per_comment: f64,
    /// 429s the bridge received, whole run.
    pub throttled: u64,
    /// Comments never seen on their mirror within the time limit, whole run.
    pub lost: u64,
    /// Resident set with the links shared and the daemon idle (simulator included).
    pub rss_idle_mb: f64,
    pub ready_links: u64,
    pub ready_ms_100k_links: f64,
    /// Peak resident set while starting on (and idling with) that store.
    pub rss_100k_links_mb: f64,
    /// Resident set of that process before the daemon started (runtime and simulator).
    pub rss_before_ready_mb: f64,
    /// Budget after a backlog: each account's `requests_per_minute` in that phase, the
    /// tickets with a waiting comment, and the window measured (a minute; seconds with
    /// `--quick`).
    pub budget_rpm: u64,
    pub budget_tickets: u64,
    pub budget_window_s: f64,
    /// Share of the budget the daemon spent in that window on the busier account, whose
    /// budget bounds the drain (1.0 = all of it; the window starts with the whole budget
    /// available).
    pub budget_used: f64,
    /// Calls each account's bridge user made in the window.
    pub budget_calls_source: u64,
    pub budget_calls_target: u64,
    /// 429s received in that phase (also counted in `throttled`).
    pub budget_throttled: u64,
    /// Backlog comments on their mirror when the window ended.
    pub budget_mirrored: u64,
    /// Wall time of the whole bench.
    pub total_s: f64,
    /// Bridge calls by endpoint, steady phase (for finding what costs calls).
    pub steady_by_endpoint: BTreeMap<String, u64>,
    pub burst_by_endpoint: BTreeMap<String, u64>,
    /// The scale phase: one point per number of accounts.
    pub scale: Vec<ScalePoint>,
    /// At the largest N: the daemon's CPU per account, in percent of one core.
    pub scale_cpu_percent_per_account: f64,
    /// Accounts at their Zendesk limits one core serves, from the largest N.
    pub scale_accounts_per_core: f64,
    /// The attachments phase (`bench/attachments.rs`): one large file (MB), the seconds
    /// until its mirror comment held all of it, and MB/s.
    pub attachment_big_mb: f64,
    pub attachment_big_seconds: f64,
    pub attachment_big_mb_per_s: f64,
    /// A batch of files across tickets: how many, MB, seconds, MB mirrored per second.
    pub attachment_files: u64,
    pub attachment_batch_mb: f64,
    pub attachment_batch_seconds: f64,
    pub attachment_mb_per_s: f64,
    /// The daemon's own resident set (a child process) before the large file, and its
    /// peak through the phase.
    pub attachment_rss_before_mb: f64,
    pub attachment_peak_rss_mb: f64,
}

/// One JSON line.
pub fn to_json(report: &Report) -> String {
    serde_json::to_string(report).unwrap_or_else(|_| "{}".to_owned())
}

/// A small table a person reads.
pub fn to_table(r: &Report) -> String {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| rows.push((k.to_owned(), v));
    row(
        "throughput (backlog, limits lifted)",
        format!(
            "{} comments in {:.2} s = {:.0} comments/s",
            r.comments, r.seconds, r.comments_per_s
        ),
    );
    row(
        "throughput (1 comment per ticket, no coalescing)",
        format!(
            "{} comments in {:.2} s = {:.0} comments/s, {:.2} API calls each",
            r.flood_comments,
            r.flood_seconds,
            r.flood_comments_per_s,
            r.flood_api_calls_per_comment
        ),
    );
    row(
        "latency, webhook path",
        format!(
            "p50 {:.0} ms, p99 {:.0} ms ({} comments)",
            r.latency_ms_p50,
            r.latency_ms_p99,
            r.steady_comments + r.burst_comments
        ),
    );
    row(
        "latency, polling path",
        format!(
            "p50 {:.0} ms, p99 {:.0} ms (poll_interval {} s)",
            r.poll_latency_ms_p50, r.poll_latency_ms_p99, r.poll_interval_s
        ),
    );
    row(
        "API calls / comment, steady",
        format!(
            "{:.2} ({:.2} reads, {:.2} writes)",
            r.api_calls_per_comment, r.reads_per_comment, r.writes_per_comment
        ),
    );
    row(
        "API calls / comment, 3 agents bursting",
        format!(
            "{:.2} ({:.2} reads, {:.2} writes)",
            r.burst_api_calls_per_comment, r.burst_reads_per_comment, r.burst_writes_per_comment
        ),
    );
    row(
        "API calls / comment, backlog",
        format!(
            "{:.2} ({} reads, {} writes in all)",
            r.backlog_api_calls_per_comment, r.backlog_reads, r.backlog_writes
        ),
    );
    row(
        "API calls / comment, polling path",
        format!("{:.2}", r.poll_api_calls_per_comment),
    );
    row(
        "naive mirror (poll every ticket)",
        format!(
            "{:.2} calls/comment ({:.2} reads, {:.2} writes), p50 {:.0} ms, p99 {:.0} ms",
            r.naive_api_calls_per_comment,
            r.naive_reads_per_comment,
            r.naive_writes_per_comment,
            r.naive_latency_ms_p50,
            r.naive_latency_ms_p99
        ),
    );
    row(
        "budget after a backlog",
        format!(
            "{:.0}% of {}/min used in the first {:.0} s ({} / {} calls), {} 429s, {} of {} mirrored",
            r.budget_used * 100.0,
            r.budget_rpm,
            r.budget_window_s,
            r.budget_calls_source,
            r.budget_calls_target,
            r.budget_throttled,
            r.budget_mirrored,
            r.budget_tickets
        ),
    );
    row("429s received", r.throttled.to_string());
    row("comments lost (not seen in time)", r.lost.to_string());
    row(
        "RSS idle / peak",
        format!("{:.1} MB / {:.1} MB", r.rss_idle_mb, r.peak_rss_mb),
    );
    row(
        &format!("READY with {} links", r.ready_links),
        format!(
            "{:.0} ms, peak RSS {:.1} MB (process before start {:.1} MB)",
            r.ready_ms_100k_links, r.rss_100k_links_mb, r.rss_before_ready_mb
        ),
    );
    for p in &r.scale {
        row(
            &format!("scale: {} accounts at their limits", p.accounts),
            format!(
                "daemon CPU {:.1}% of a core ({:.2}% per account), {:.0} calls/min per account, {} 429s",
                p.cpu_percent, p.cpu_percent_per_account, p.calls_per_min_per_account, p.throttled
            ),
        );
    }
    if r.attachment_big_mb > 0.0 {
        row(
            "attachments: one large file",
            format!(
                "{:.1} MB mirrored in {:.2} s ({:.1} MB/s); daemon RSS {:.1} MB before, peak {:.1} MB",
                r.attachment_big_mb,
                r.attachment_big_seconds,
                r.attachment_big_mb_per_s,
                r.attachment_rss_before_mb,
                r.attachment_peak_rss_mb
            ),
        );
        row(
            "attachments: a batch",
            format!(
                "{} files, {:.1} MB in {:.2} s ({:.1} MB/s mirrored)",
                r.attachment_files,
                r.attachment_batch_mb,
                r.attachment_batch_seconds,
                r.attachment_mb_per_s
            ),
        );
    }
    if r.scale_accounts_per_core > 0.0 {
        row(
            "scale: one core is used at",
            format!("about {:.0} accounts", r.scale_accounts_per_core),
        );
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in rows {
        out.push_str(&format!("{k:<width$}  {v}\n"));
    }
    out.push_str(&format!(
        "(in-process simulator and daemon on loopback; {:.0} s in all{})\n",
        r.total_s,
        if r.quick {
            "; --quick: figures not meaningful"
        } else {
            ""
        }
    ));
    out
}
