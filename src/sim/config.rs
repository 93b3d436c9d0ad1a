//! Simulator configuration: the CLI flags ([`SimArgs`]), the validated [`SimConfig`]
//! built from them by a pure function, and the knobs that may change at runtime
//! ([`Limits`], [`FaultSettings`]).

use std::net::SocketAddr;

use crate::sim::error::SimError;

/// `sharebridge sim` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// An account and the address it listens on: NAME=ADDR (repeatable), e.g.
    /// acme=127.0.0.1:18081. Port 0 picks a free port.
    #[arg(long = "account", value_name = "NAME=ADDR", required = true)]
    pub accounts: Vec<String>,
    /// The API token every account accepts (basic auth `{email}/token:{TOKEN}`); empty
    /// means the default.
    #[arg(long, default_value = "sim-token", env = "SHAREBRIDGE_SIM_TOKEN")]
    pub token: String,
    /// POST a signed webhook to URL after every ticket change in account NAME (repeatable).
    #[arg(long = "webhook", value_name = "NAME=URL")]
    pub webhooks: Vec<String>,
    /// Secret used to sign webhooks (X-Zendesk-Webhook-Signature).
    #[arg(long, default_value = "", env = "SHAREBRIDGE_SIM_WEBHOOK_SECRET")]
    pub webhook_secret: String,
    /// What the webhooks send: `events` (one event-subscribed webhook per ticket event,
    /// `zen:event-type:ticket.comment_added` carrying the comment) or `trigger` (one
    /// trigger-style `{"ticket_id": …}` body per changed ticket).
    #[arg(long, value_enum, default_value_t = WebhookStyle::Events)]
    pub webhook_style: WebhookStyle,
    /// Account-wide API requests per minute (0 = unlimited).
    #[arg(long, default_value_t = 700)]
    pub requests_per_minute: u32,
    /// Updates per 10 minutes per user per ticket (0 = unlimited).
    #[arg(long = "ticket-updates-per-10min", default_value_t = 30)]
    pub ticket_updates_per_10min: u32,
    /// Update Ticket requests per minute per account (0 = unlimited).
    #[arg(long, default_value_t = 100)]
    pub ticket_updates_per_minute: u32,
    /// Incremental export requests per minute (0 = unlimited).
    #[arg(long, default_value_t = 10)]
    pub exports_per_minute: u32,
    /// Incremental exports leave out changes made in the last SECONDS.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub export_lag: u64,
    /// Probability (0.0–1.0) that an API request gets an injected fault.
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Fault kinds drawn from (comma separated): 429, 500, 503, drop, drop-after-commit,
    /// late-apply (a write's answer never comes and the write lands --late-apply-ms later).
    #[arg(long, value_delimiter = ',', default_value = "429,500,503,drop")]
    pub fault_kinds: Vec<String>,
    /// With the late-apply fault: how long after its request a write takes effect.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub late_apply_ms: u64,
    /// Latency added to every API request, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// Seed for fault injection (same seed + same request order = same faults).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Lifetime of issued OAuth access tokens, in seconds (Zendesk's default for new
    /// clients: 30 minutes).
    #[arg(long, default_value_t = 1800)]
    pub access_token_lifetime: u64,
    /// Lifetime of issued OAuth refresh tokens, in seconds (Zendesk's default: 30 days).
    #[arg(long, default_value_t = 2_592_000)]
    pub refresh_token_lifetime: u64,
    /// An OAuth client every account knows: ID=SECRET (repeatable); its tokens act as
    /// the admin `oauth-admin@{account}.example` unless `POST /sim/oauth/clients` names
    /// another user.
    #[arg(long = "oauth-client", value_name = "ID=SECRET")]
    pub oauth_clients: Vec<String>,
    /// Approve OAuth authorization requests at once (redirect with the code), without
    /// the consent page.
    #[arg(long)]
    pub oauth_auto_approve: bool,
    /// A user made an admin in every account on first sight (repeatable); other API
    /// token users are agents.
    #[arg(long = "admin", value_name = "EMAIL")]
    pub admins: Vec<String>,
}

/// The body the simulator's webhooks send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum WebhookStyle {
    /// Event-subscribed webhooks: one per ticket event, Zendesk's `zen:event-type:ticket.…`
    /// schema (`detail` = the ticket, `event` = what happened; a comment comes whole).
    #[default]
    Events,
    /// A trigger's body `{"ticket_id": …, "account": …, "current_user_id": …}`, once per
    /// changed ticket.
    Trigger,
}

/// One account: a local name and the address its listener binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSpec {
    pub name: String,
    pub addr: SocketAddr,
}

/// One webhook target for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSpec {
    pub account: String,
    pub url: String,
}

/// Zendesk's limits, as knobs. `0` lifts a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Account-wide API requests per minute (Enterprise: 700).
    pub requests_per_minute: u32,
    /// Update Ticket requests per minute per account (100).
    pub ticket_updates_per_minute: u32,
    /// Updates per 10 minutes per user per ticket (30).
    pub ticket_updates_per_10min: u32,
    /// Incremental export requests per minute (10).
    pub exports_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            requests_per_minute: 700,
            ticket_updates_per_minute: 100,
            ticket_updates_per_10min: 30,
            exports_per_minute: 10,
        }
    }
}

impl Limits {
    /// Every limit lifted (benchmarks, most tests).
    pub fn unlimited() -> Limits {
        Limits {
            requests_per_minute: 0,
            ticket_updates_per_minute: 0,
            ticket_updates_per_10min: 0,
            exports_per_minute: 0,
        }
    }
}

/// An injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// 429 with `Retry-After: 1`; nothing happens.
    TooManyRequests,
    /// 500; nothing happens.
    InternalError,
    /// 503; nothing happens.
    Unavailable,
    /// The connection is closed without a response; nothing happens.
    Drop,
    /// The request takes effect, then the connection is closed without a response.
    DropAfterCommit,
    /// A write's answer never comes (the connection is closed, as a client's timeout
    /// would end it) and the write takes effect only `late_apply_ms` later, so a client
    /// that reads at once sees nothing yet. A read gets no answer and has no effect.
    LateApply,
}

impl FaultKind {
    pub fn parse(s: &str) -> Result<FaultKind, SimError> {
        Ok(match s.trim() {
            "429" => FaultKind::TooManyRequests,
            "500" => FaultKind::InternalError,
            "503" => FaultKind::Unavailable,
            "drop" => FaultKind::Drop,
            "drop-after-commit" => FaultKind::DropAfterCommit,
            "late-apply" => FaultKind::LateApply,
            other => return Err(SimError::BadFaultKind(other.to_owned())),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::TooManyRequests => "429",
            FaultKind::InternalError => "500",
            FaultKind::Unavailable => "503",
            FaultKind::Drop => "drop",
            FaultKind::DropAfterCommit => "drop-after-commit",
            FaultKind::LateApply => "late-apply",
        }
    }
}

/// Fault injection settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSettings {
    /// Probability that an API request is faulted (0.0–1.0).
    pub rate: f64,
    /// Kinds drawn uniformly when a request is faulted.
    pub kinds: Vec<FaultKind>,
    /// Latency added to every API request, in milliseconds (also when not faulted).
    pub latency_ms: u64,
}

impl Default for FaultSettings {
    fn default() -> FaultSettings {
        FaultSettings {
            rate: 0.0,
            kinds: vec![
                FaultKind::TooManyRequests,
                FaultKind::InternalError,
                FaultKind::Unavailable,
                FaultKind::Drop,
            ],
            latency_ms: 0,
        }
    }
}

/// Everything the simulator needs to start.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub accounts: Vec<AccountSpec>,
    /// API token accepted by every account.
    pub token: String,
    pub webhooks: Vec<WebhookSpec>,
    pub webhook_secret: String,
    pub webhook_style: WebhookStyle,
    pub limits: Limits,
    /// Incremental exports leave out changes younger than this many seconds.
    pub export_lag_secs: u64,
    pub faults: FaultSettings,
    pub seed: u64,
    /// Lifetime of issued OAuth access tokens, in seconds.
    pub access_token_lifetime_secs: u64,
    /// With [`FaultKind::LateApply`]: how long after its request a write takes effect.
    pub late_apply_ms: u64,
    /// Lifetime of issued OAuth refresh tokens, in seconds.
    pub refresh_token_lifetime_secs: u64,
    /// OAuth clients (id, secret) every account knows from the start.
    pub oauth_clients: Vec<(String, String)>,
    /// Authorization requests are approved at once (no consent page).
    pub oauth_auto_approve: bool,
    /// Emails that are admins (lower case).
    pub admins: Vec<String>,
}

impl SimConfig {
    /// Accounts named `names`, each on `127.0.0.1:0`, token `sim-token`, Zendesk's default
    /// limits, no faults, no webhooks.
    pub fn local(names: &[&str]) -> SimConfig {
        SimConfig {
            accounts: names
                .iter()
                .map(|n| AccountSpec {
                    name: (*n).to_owned(),
                    addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                })
                .collect(),
            token: "sim-token".to_owned(),
            webhooks: Vec::new(),
            webhook_secret: String::new(),
            webhook_style: WebhookStyle::Events,
            limits: Limits::default(),
            export_lag_secs: 60,
            faults: FaultSettings::default(),
            seed: 1,
            access_token_lifetime_secs: 1800,
            late_apply_ms: 2000,
            refresh_token_lifetime_secs: 2_592_000,
            oauth_clients: Vec::new(),
            oauth_auto_approve: false,
            admins: Vec::new(),
        }
    }

    /// Validates the CLI flags into a configuration; binds nothing.
    pub fn from_args(args: &SimArgs) -> Result<SimConfig, SimError> {
        let mut accounts: Vec<AccountSpec> = Vec::new();
        for given in &args.accounts {
            let spec = parse_account(given)?;
            if accounts.iter().any(|a| a.name == spec.name) {
                return Err(SimError::DuplicateAccount(spec.name));
            }
            accounts.push(spec);
        }
        if accounts.is_empty() {
            return Err(SimError::NoAccounts);
        }
        let mut webhooks = Vec::new();
        for given in &args.webhooks {
            let spec = parse_webhook(given)?;
            if !accounts.iter().any(|a| a.name == spec.account) {
                return Err(SimError::UnknownWebhookAccount(spec.account));
            }
            webhooks.push(spec);
        }
        if !(0.0..=1.0).contains(&args.fault_rate) || args.fault_rate.is_nan() {
            return Err(SimError::BadFaultRate(args.fault_rate));
        }
        let mut oauth_clients = Vec::new();
        for given in &args.oauth_clients {
            match given.split_once('=') {
                Some((id, secret)) if !id.trim().is_empty() && !secret.is_empty() => {
                    oauth_clients.push((id.trim().to_owned(), secret.to_owned()));
                }
                _ => return Err(SimError::BadOAuthClient(given.clone())),
            }
        }
        let kinds = args
            .fault_kinds
            .iter()
            .filter(|k| !k.trim().is_empty())
            .map(|k| FaultKind::parse(k))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SimConfig {
            accounts,
            // An empty value (e.g. `SHAREBRIDGE_SIM_TOKEN=` left set) means unset.
            token: if args.token.is_empty() {
                "sim-token".to_owned()
            } else {
                args.token.clone()
            },
            webhooks,
            webhook_secret: args.webhook_secret.clone(),
            webhook_style: args.webhook_style,
            limits: Limits {
                requests_per_minute: args.requests_per_minute,
                ticket_updates_per_minute: args.ticket_updates_per_minute,
                ticket_updates_per_10min: args.ticket_updates_per_10min,
                exports_per_minute: args.exports_per_minute,
            },
            export_lag_secs: args.export_lag,
            faults: FaultSettings {
                rate: args.fault_rate,
                kinds,
                latency_ms: args.latency_ms,
            },
            seed: args.seed,
            access_token_lifetime_secs: args.access_token_lifetime,
            late_apply_ms: args.late_apply_ms,
            refresh_token_lifetime_secs: args.refresh_token_lifetime,
            oauth_clients,
            oauth_auto_approve: args.oauth_auto_approve,
            admins: args
                .admins
                .iter()
                .map(|e| e.trim().to_lowercase())
                .collect(),
        })
    }
}

/// `NAME=ADDR` → [`AccountSpec`].
pub fn parse_account(given: &str) -> Result<AccountSpec, SimError> {
    let bad = |reason: &str| SimError::BadAccount {
        given: given.to_owned(),
        reason: reason.to_owned(),
    };
    let (name, addr) = given.split_once('=').ok_or_else(|| bad("missing '='"))?;
    let name = name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(bad("NAME must be letters, digits, '-' or '_'"));
    }
    let addr: SocketAddr = addr
        .trim()
        .parse()
        .map_err(|_| bad("ADDR must be IP:PORT"))?;
    Ok(AccountSpec {
        name: name.to_owned(),
        addr,
    })
}

/// `NAME=URL` → [`WebhookSpec`].
pub fn parse_webhook(given: &str) -> Result<WebhookSpec, SimError> {
    let bad = |reason: &str| SimError::BadWebhook {
        given: given.to_owned(),
        reason: reason.to_owned(),
    };
    let (name, url) = given.split_once('=').ok_or_else(|| bad("missing '='"))?;
    let url = url.trim();
    if name.trim().is_empty() {
        return Err(bad("NAME is empty"));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(bad("URL must start with http:// or https://"));
    }
    Ok(WebhookSpec {
        account: name.trim().to_owned(),
        url: url.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    #[test]
    fn parses_accounts_and_webhooks() {
        let a = parse_account("acme=127.0.0.1:18081").unwrap();
        assert_eq!(a.name, "acme");
        assert_eq!(a.addr.port(), 18081);
        assert!(matches!(
            parse_account("acme"),
            Err(SimError::BadAccount { .. })
        ));
        let msg = parse_account("acme=localhost").unwrap_err().to_string();
        assert!(msg.contains("NAME=ADDR"), "{msg}");
        assert!(parse_webhook("acme=ftp://x").is_err());
        assert_eq!(
            parse_webhook("acme=http://127.0.0.1:1/w").unwrap().url,
            "http://127.0.0.1:1/w"
        );
    }

    #[test]
    fn cli_defaults_are_zendesk_limits() {
        let cli = Cli::try_parse_from(["x", "--account", "acme=127.0.0.1:0"]).unwrap();
        let c = SimConfig::from_args(&cli.sim).unwrap();
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.export_lag_secs, 60);
        assert_eq!(c.faults.rate, 0.0);
        let cli = Cli::try_parse_from([
            "x",
            "--account",
            "a=127.0.0.1:0",
            "--account",
            "a=127.0.0.1:0",
        ])
        .unwrap();
        assert!(matches!(
            SimConfig::from_args(&cli.sim),
            Err(SimError::DuplicateAccount(_))
        ));
        let cli = Cli::try_parse_from(["x", "--account", "a=127.0.0.1:0", "--fault-rate", "1.5"])
            .unwrap();
        assert!(SimConfig::from_args(&cli.sim).is_err());
    }
}
