//! Prometheus metrics (prometheus-client), rendered in the text format at `/metrics`.
//! Names and labels are documented in the README; changing one is a breaking change.
//!
//! Architecture invariant: metrics only count and observe; nothing reads them to decide.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AccountLabels {
    pub account: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgreementLabels {
    pub agreement: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LinkStateLabels {
    pub agreement: String,
    pub state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OrphanLabels {
    pub agreement: String,
    pub reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    pub account: String,
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LeaderLabels {
    /// The leading daemon's name: `host (listen address)`.
    pub daemon: String,
}

/// Every metric the daemon exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub requests: Family<AccountLabels, Counter>,
    pub throttled: Family<AccountLabels, Counter>,
    pub retries: Family<AccountLabels, Counter>,
    pub budget_remaining: Family<AccountLabels, Gauge>,
    pub shares: Family<AgreementLabels, Counter>,
    pub mirrored_comments: Family<AgreementLabels, Counter>,
    pub held_back_comments: Family<AgreementLabels, Counter>,
    pub lag_seconds: Family<AgreementLabels, Gauge<f64, AtomicU64>>,
    pub links: Family<LinkStateLabels, Gauge>,
    pub orphans: Family<OrphanLabels, Gauge>,
    pub webhooks: Family<WebhookLabels, Counter>,
    /// 1 when this daemon does the Zendesk writes (always, on an embedded store).
    pub leading: Gauge,
    /// 1 for the daemon that leads, as this daemon last saw the lease.
    pub leader: Family<LeaderLabels, Gauge>,
    pub leader_since: Gauge<f64, AtomicU64>,
    pub leader_handovers: Gauge,
    pub leader_last_handover: Gauge<f64, AtomicU64>,
    pub leader_last_handover_gap: Gauge<f64, AtomicU64>,
    /// 1 while an account's worker works (or is starting), 0 while it fails or is stopped.
    pub worker_up: Family<WorkerLabels, Gauge>,
    pub task_panics: Counter,
    pub privacy_followed: Family<PrivacyLabels, Counter>,
    /// Mismatches found (each new one on a link counted once).
    pub mismatches: Family<MismatchLabels, Counter>,
    /// Mismatches standing on active links now.
    pub link_mismatches: Family<MismatchLabels, Gauge>,
    /// Attachments copied to a mirror comment, and their bytes.
    pub attachments_copied: Family<AgreementLabels, Counter>,
    pub attachment_bytes_copied: Family<AgreementLabels, Counter>,
    /// Attachments of crossing comments that were not copied, by reason.
    pub attachments_skipped: Family<SkippedLabels, Counter>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MismatchLabels {
    pub agreement: String,
    /// `unmapped_value`, `missing_field`, `type_mismatch`, `unmapped_group`,
    /// `missing_group`, `unmapped_form`, `missing_form`.
    pub kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SkippedLabels {
    pub agreement: String,
    /// `too_large`, `disabled`, `unavailable` or `refused`.
    pub reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PrivacyLabels {
    pub agreement: String,
    /// `made_private` or `redacted`.
    pub change: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkerLabels {
    pub account: String,
    pub worker: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("sharebridge");
        let m = Metrics {
            requests: Family::default(),
            throttled: Family::default(),
            retries: Family::default(),
            budget_remaining: Family::default(),
            shares: Family::default(),
            mirrored_comments: Family::default(),
            held_back_comments: Family::default(),
            lag_seconds: Family::default(),
            links: Family::default(),
            orphans: Family::default(),
            webhooks: Family::default(),
            worker_up: Family::default(),
            task_panics: Counter::default(),
            privacy_followed: Family::default(),
            mismatches: Family::default(),
            link_mismatches: Family::default(),
            attachments_copied: Family::default(),
            attachment_bytes_copied: Family::default(),
            attachments_skipped: Family::default(),
            leading: Gauge::default(),
            leader: Family::default(),
            leader_since: Gauge::default(),
            leader_handovers: Gauge::default(),
            leader_last_handover: Gauge::default(),
            leader_last_handover_gap: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "zendesk_requests",
            "Zendesk API requests sent",
            m.requests.clone(),
        );
        registry.register(
            "zendesk_throttled",
            "Zendesk answers 429 Too Many Requests",
            m.throttled.clone(),
        );
        registry.register(
            "zendesk_retries",
            "Zendesk requests retried",
            m.retries.clone(),
        );
        registry.register(
            "zendesk_budget_remaining",
            "Requests left in this minute's budget",
            m.budget_remaining.clone(),
        );
        registry.register("shares", "Tickets shared", m.shares.clone());
        registry.register(
            "mirrored_comments",
            "Source comments mirrored",
            m.mirrored_comments.clone(),
        );
        registry.register(
            "held_back_comments",
            "Private comments held back by the agreement",
            m.held_back_comments.clone(),
        );
        registry.register(
            "lag_seconds",
            "Oldest unsynced change per agreement",
            m.lag_seconds.clone(),
        );
        registry.register("links", "Links by state", m.links.clone());
        registry.register("orphans", "Orphaned mirrors by reason", m.orphans.clone());
        registry.register(
            "webhooks",
            "Webhook deliveries by outcome (accepted, bad_signature, stale, unknown_account, too_large, bad_body)",
            m.webhooks.clone(),
        );
        registry.register(
            "account_worker_up",
            "1 while an account's worker (auth, webhook, poller) works, 0 while it fails or is stopped",
            m.worker_up.clone(),
        );
        registry.register(
            "task_panics",
            "Ticket tasks that panicked (a bug; the ticket is tried again)",
            m.task_panics.clone(),
        );
        registry.register(
            "privacy_followed",
            "Mirror comments made private or redacted because their source comment was",
            m.privacy_followed.clone(),
        );
        registry.register(
            "mismatches",
            "What did not cross because the receiver cannot take it (a value with no mapping, a missing field, group or form, a type mismatch), by kind; each new one on a link counted once",
            m.mismatches.clone(),
        );
        registry.register(
            "link_mismatches",
            "Mismatches standing on active links, by kind",
            m.link_mismatches.clone(),
        );
        registry.register(
            "attachments_copied",
            "Attachments copied with their comment to a mirror",
            m.attachments_copied.clone(),
        );
        registry.register(
            "attachment_bytes_copied",
            "Bytes of the attachments copied to mirrors",
            m.attachment_bytes_copied.clone(),
        );
        registry.register(
            "attachments_skipped",
            "Attachments of crossing comments not copied, by reason (too_large: over attachments.max_bytes; disabled: attachments.sync = false; unavailable: the sender did not serve it; refused: the receiver refused the upload)",
            m.attachments_skipped.clone(),
        );
        registry.register(
            "leading",
            "1 when this daemon leads (does the Zendesk writes); always 1 on an embedded store",
            m.leading.clone(),
        );
        registry.register(
            "leader",
            "The daemon leading the shared PostgreSQL store (1), as this daemon sees the lease",
            m.leader.clone(),
        );
        registry.register(
            "leader_since_seconds",
            "When the current leader took the lease (Unix time)",
            m.leader_since.clone(),
        );
        registry.register(
            "leader_handovers",
            "Handovers of the lead so far (from the shared store)",
            m.leader_handovers.clone(),
        );
        registry.register(
            "leader_last_handover_seconds",
            "When the lead last passed to another daemon (Unix time)",
            m.leader_last_handover.clone(),
        );
        registry.register(
            "leader_last_handover_gap_seconds",
            "At the last handover: from the previous leader's last renewal to the takeover",
            m.leader_last_handover_gap.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_names_with_prefix() {
        let m = Metrics::new();
        m.webhooks
            .get_or_create(&WebhookLabels {
                account: "acme".into(),
                outcome: "accepted".into(),
            })
            .inc();
        m.orphans
            .get_or_create(&OrphanLabels {
                agreement: "a".into(),
                reason: "unshared".into(),
            })
            .set(2);
        let text = m.render();
        assert!(
            text.contains("sharebridge_webhooks_total{account=\"acme\",outcome=\"accepted\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sharebridge_orphans{agreement=\"a\",reason=\"unshared\"} 2"),
            "{text}"
        );
    }
}
