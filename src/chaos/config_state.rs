//! The configuration the simulated world gives the daemon at a moment: which accounts
//! exist, which receivers accept which agreement, what each allows; and the TOML file it
//! is written as for a start or a reload.
//!
//! Architecture invariant: plain data and its rendering; the world decides when it
//! changes, the model reads the versions the daemon applied.

use std::collections::BTreeMap;

use super::schedule::{self, Feature, Schedule};

/// The API token every simulated account accepts.
pub(super) const TOKEN: &str = "chaos-token";
/// The secret the simulator signs webhooks with.
pub(super) const WEBHOOK_SECRET: &str = "chaos-webhook-secret";

/// The configuration the world gives the daemon: which receivers accept which agreement.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigState {
    /// Agreement name → its receiver accepts it.
    pub accepted: BTreeMap<&'static str, bool>,
    /// Whether account `extra` (and its agreements) is configured.
    pub extra: bool,
    /// `comments.public` of acme-to-partner.
    pub partner_public: bool,
    /// An agreement whose mirrors land in a group the receiver does not have (422).
    pub bad_target: Option<&'static str>,
}

/// The agreements (name, from, to) the configuration may hold.
pub const AGREEMENTS: [(&str, &str, &str); 5] = [
    ("acme-to-vendor", "acme", "vendor"),
    ("vendor-to-acme", "vendor", "acme"),
    ("acme-to-partner", "acme", "partner"),
    ("acme-to-extra", "acme", "extra"),
    ("extra-to-acme", "extra", "acme"),
];

impl ConfigState {
    pub(super) fn initial(s: &Schedule) -> ConfigState {
        ConfigState {
            accepted: BTreeMap::from([
                ("acme-to-vendor", true),
                ("vendor-to-acme", s.has(Feature::TwoWay)),
                ("acme-to-partner", s.has(Feature::FanOut)),
                ("acme-to-extra", true),
                ("extra-to-acme", true),
            ]),
            extra: false,
            partner_public: !s.has(Feature::PublicOff),
            // The first agreement a ticket is shared under, or the second.
            bad_target: s
                .has(Feature::BadTarget)
                .then_some(if s.seed.is_multiple_of(2) {
                    "acme-to-vendor"
                } else {
                    "acme-to-partner"
                }),
        }
    }

    pub(super) fn accounts(&self) -> Vec<&'static str> {
        let mut a = vec!["acme", "vendor", "partner"];
        if self.extra {
            a.push("extra");
        }
        a
    }

    /// Whether the agreement is in this configuration and accepted by its receiver.
    pub fn is_accepted(&self, agreement: &str) -> bool {
        let present = self.extra || !agreement.contains("extra");
        present && self.accepted.get(agreement).copied().unwrap_or(false)
    }

    /// The agreement from `from` to `to`, if the configuration has one.
    pub fn agreement(&self, from: &str, to: &str) -> Option<&'static str> {
        AGREEMENTS
            .iter()
            .find(|(_, f, t)| *f == from && *t == to)
            .map(|(n, _, _)| *n)
            .filter(|n| self.extra || !n.contains("extra"))
    }

    /// The receiver whose mirrors are all refused (`bad-target`).
    pub fn refused_target(&self) -> Option<&'static str> {
        let name = self.bad_target?;
        AGREEMENTS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, _, t)| *t)
    }

    /// `comments.public` of an agreement.
    pub fn public_crosses(&self, agreement: &str) -> bool {
        agreement != "acme-to-partner" || self.partner_public
    }

    pub(super) fn toml(&self, dir: &std::path::Path) -> String {
        let mut out = format!(
            "[daemon]\nadmin_token = \"chaos-admin\"\nstate_dir = \"{}\"\nlisten = \"127.0.0.1:9\"\n\
             poll_interval = \"30s\"\nreconcile_interval = \"5m\"\nlog_level = \"warn\"\n",
            dir.join("state").display()
        );
        let accounts = self.accounts();
        for account in &accounts {
            let accept: Vec<String> = AGREEMENTS
                .iter()
                .filter(|(n, f, t)| t == account && accounts.contains(f) && self.is_accepted(n))
                .map(|(_, f, _)| format!("\"{f}\""))
                .collect();
            out.push_str(&format!(
                "\n[accounts.{account}]\nsubdomain = \"{account}\"\nbase_url = \"http://{account}.sim.invalid\"\n\
                 email = \"bridge@{account}.example\"\ntoken = \"{TOKEN}\"\nwebhook_secret = \"{WEBHOOK_SECRET}\"\n\
                 accept_from = [{}]\n",
                accept.join(", ")
            ));
        }
        for (name, from, to) in AGREEMENTS {
            if !accounts.contains(&from) || !accounts.contains(&to) {
                continue;
            }
            let unshare = name == "acme-to-vendor";
            if self.bad_target == Some(name) {
                out.push_str(&format!(
                    "\n[[agreements]]\nname = \"{name}\"\nfrom = \"{from}\"\nto = \"{to}\"\n\
                     auto_share_tags = [\"{}\"]\ntarget = {{ group_id = 999999 }}\n\
                     [agreements.comments]\npublic = {}\nprivate = false\n",
                    schedule::share_tag(from, to),
                    self.public_crosses(name),
                ));
                continue;
            }
            let public = self.public_crosses(name);
            out.push_str(&format!(
                "\n[[agreements]]\nname = \"{name}\"\nfrom = \"{from}\"\nto = \"{to}\"\n\
                 auto_share_tags = [\"{}\"]\nunshare_on_tag_removal = {unshare}\n\
                 [agreements.comments]\npublic = {public}\nprivate = false\n{attribution}\
                 [agreements.status]\nmap = {{ hold = \"open\" }}\n\
                 [agreements.tags]\nexclude = [\"internal_*\"]\n",
                schedule::share_tag(from, to),
                // check-config refuses `attribution` where no comment crosses.
                attribution = if public { "attribution = true\n" } else { "" },
            ));
        }
        out
    }
}
