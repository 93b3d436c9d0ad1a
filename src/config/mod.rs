//! Configuration: DESIGN §3 loaded, merged and checked completely before anything binds a
//! port or opens the store.
//!
//! [`load`] reads the main file and `conf.d/*.toml` beside it, merges them (the `config`
//! crate layers the merged files under `SHAREBRIDGE_<SECTION>__<KEY>` environment
//! overrides), resolves secrets (inline, `*_file`, or `$CREDENTIALS_DIRECTORY`) and
//! validates, collecting *every* [`Problem`] with its file, key and reason.
//!
//! Architecture invariant: this module reads files and the environment and nothing else;
//! it never writes, never creates the state directory and never contacts Zendesk. Secrets
//! leave it only inside [`secrecy::SecretString`].

mod agreements;
mod load;
mod raw;
mod secrets;
mod system;
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;

use crate::zendesk::models::Status;

pub use load::{LoadOptions, load, load_with};
pub use validate::{API_TOKENS_END, api_token_warning, parse_duration};

/// A checked configuration: every name resolved, every secret read.
#[derive(Debug, Clone)]
pub struct Config {
    /// The main file, as given (relative paths in messages are relative to its directory).
    pub path: PathBuf,
    /// Every file that was merged, main file first.
    pub files: Vec<PathBuf>,
    pub daemon: DaemonConfig,
    pub accounts: BTreeMap<String, AccountConfig>,
    pub agreements: Vec<AgreementConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines; colour only on a terminal.
    Text,
    /// One JSON object per line, for journald and collectors.
    Json,
}

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub state_dir: PathBuf,
    pub listen: SocketAddr,
    /// Protects the admin API and the status page; without it both refuse every request.
    pub admin_token: Option<SecretString>,
    /// How often each account's incremental export is polled (the safety net for webhooks).
    pub poll_interval: Duration,
    /// How often the orphan/consistency sweep runs.
    pub reconcile_interval: Duration,
    /// Default tracing filter when `RUST_LOG` is not set.
    pub log_level: String,
    pub log_format: LogFormat,
    /// How long SIGTERM waits for in-flight Zendesk writes.
    pub shutdown_grace: Duration,
    /// Source comments arriving on one ticket within this window become one mirror update.
    pub coalesce_window: Duration,
    /// Where Zendesk reaches `listen` (scheme, host, optional port and path, no trailing
    /// slash): `connect` points each account's webhook at `{public_url}/webhooks/{name}`.
    pub public_url: Option<String>,
    /// Key material the secrets kept in the store (OAuth pairs, webhook signing secrets)
    /// are sealed with; `None`: kept in the clear in the owner-only store file.
    pub store_key: Option<SecretString>,
    /// How comments a webhook carried are mirrored (see [`Ordering`]).
    pub ordering: Ordering,
    /// `daemon.store`: PostgreSQL instead of the embedded file (several daemons may run).
    pub store: Option<StoreConfig>,
    /// How long after it was sent a write whose answer was lost may still land: until
    /// then it is not judged "not applied" (and sent again), only found or waited for.
    pub in_doubt_wait: Duration,
}

/// Which OAuth grant signs the bridge in (`oauth.grant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthGrant {
    /// `sharebridge connect` signs in once as the bridge's user (PKCE); the daemon then
    /// refreshes the rotating pair.
    AuthorizationCode,
    /// The daemon asks for access tokens with the client's id and secret alone.
    ClientCredentials,
}

impl OAuthGrant {
    /// The name used in the configuration and in `grant_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthGrant::AuthorizationCode => "authorization_code",
            OAuthGrant::ClientCredentials => "client_credentials",
        }
    }
}

/// `daemon.ordering`: whether comments keep their source order on every mirror without
/// exception, or webhooks' comments are mirrored as they arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ordering {
    /// `"per-ticket"` (default): the comments after the watermark are read before any is
    /// written, so on each mirror comments appear in the order they were written at the
    /// source, whatever the webhooks did (two calls per steady comment).
    #[default]
    PerTicket,
    /// `"arrival"`: a webhook's comment is mirrored at once, without reading the sender
    /// (one call per steady comment); a comment whose webhook was lost or late lands after
    /// later ones.
    Arrival,
}

/// `daemon.store`: the PostgreSQL database the store lives in.
#[derive(Clone)]
pub struct StoreConfig {
    /// The URL as written (it may hold a password: never shown).
    pub url: SecretString,
    /// The URL with any password hidden, for messages.
    pub shown: String,
    /// `daemon.store_password(_file)`, replacing a password in the URL.
    pub password: Option<SecretString>,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &self.shown)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// How the bridge authenticates to one account.
#[derive(Clone)]
pub enum AccountAuth {
    /// HTTP basic `{email}/token:{token}`.
    ApiToken { email: String, token: SecretString },
    /// OAuth; `email` (optional) names the bridge's user. The token pair normally comes
    /// from the store (written by `sharebridge connect`); a configured `refresh_token` is
    /// only a starting point, used when the store holds none.
    OAuth {
        email: Option<String>,
        client_id: String,
        client_secret: SecretString,
        refresh_token: Option<SecretString>,
        grant: OAuthGrant,
    },
}

impl fmt::Debug for AccountAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountAuth::ApiToken { email, .. } => f
                .debug_struct("ApiToken")
                .field("email", email)
                .field("token", &"[redacted]")
                .finish(),
            AccountAuth::OAuth {
                email,
                client_id,
                grant,
                ..
            } => f
                .debug_struct("OAuth")
                .field("email", email)
                .field("client_id", client_id)
                .field("grant", grant)
                .field("client_secret", &"[redacted]")
                .field("refresh_token", &"[redacted]")
                .finish(),
        }
    }
}

impl AccountAuth {
    /// "API token" or "OAuth", for summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            AccountAuth::ApiToken { .. } => "API token",
            AccountAuth::OAuth { .. } => "OAuth",
        }
    }
}

#[derive(Debug, Clone)]
pub struct AccountConfig {
    /// The local handle (`[accounts.NAME]`).
    pub name: String,
    pub subdomain: String,
    /// `https://{subdomain}.zendesk.com` unless configured.
    pub base_url: String,
    pub auth: AccountAuth,
    pub requests_per_minute: u32,
    /// The signing secret of the account's webhook as configured. Absent, the daemon uses
    /// the one `sharebridge connect` kept in the store; with neither, webhooks for this
    /// account are refused (404) and changes are found by polling.
    pub webhook_secret: Option<SecretString>,
    pub accept_from: BTreeSet<String>,
    pub decline_from: BTreeSet<String>,
    /// The file that declared the account (for messages and the audit log).
    pub file: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CommentRules {
    pub public: bool,
    pub private: bool,
    pub attribution: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusRules {
    pub sync: bool,
    /// Sender status → receiver status; unmapped statuses cross unchanged.
    pub map: BTreeMap<Status, Status>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TagRules {
    pub sync: bool,
    /// Glob patterns of tags never sent (already checked to compile).
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldMap {
    pub from: u64,
    pub to: u64,
    /// Drop-down value map; values not in it cross unchanged.
    pub values: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentRules {
    pub sync: bool,
    pub max_bytes: u64,
}

/// `[agreements.system]`: which of Zendesk's own fields the sender sends. All off by
/// default (Zendesk's native sharing sends none of them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SystemRules {
    /// `priority = true`: the priority crosses (and a cleared one is cleared).
    pub priority: bool,
    /// `type = true`: the ticket type crosses, with `due_at` for tasks.
    pub ticket_type: bool,
    /// Sender group id → receiver group id; a group not in the map is not set on the
    /// other side and is reported on the link. Empty: groups do not cross.
    pub groups: BTreeMap<u64, u64>,
    /// Sender ticket form id → receiver ticket form id, the same way.
    pub forms: BTreeMap<u64, u64>,
}

/// Where the mirror lands in the receiver; `None` means the receiver's default.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Target {
    pub brand_id: Option<u64>,
    pub group_id: Option<u64>,
}

/// One `[[agreements]]` entry: what `from` may share into `to`, under which rules.
#[derive(Debug, Clone, PartialEq)]
pub struct AgreementConfig {
    pub name: String,
    pub from: String,
    pub to: String,
    /// `enabled = false` withdraws the offer without deleting its rules.
    pub enabled: bool,
    pub auto_share_tags: Vec<String>,
    pub unshare_on_tag_removal: bool,
    /// Only tickets of these brand ids are auto-shared (empty = all).
    pub brands: Vec<u64>,
    pub target: Target,
    pub comments: CommentRules,
    pub status: StatusRules,
    pub tags: TagRules,
    pub fields: Vec<FieldMap>,
    pub attachments: AttachmentRules,
    pub system: SystemRules,
    /// The file that declared the agreement.
    pub file: PathBuf,
}

/// How serious a [`Problem`] is: errors refuse the configuration, warnings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One thing wrong with the configuration: where (file and key) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    /// The file, or "environment" for `SHAREBRIDGE_…` overrides.
    pub file: String,
    /// Dotted key (`accounts.acme.token_file`, `agreements[1].to`), empty for a whole file.
    pub key: String,
    pub reason: String,
}

impl Problem {
    /// A problem that only says something is absent (a missing key, an undeclared
    /// account): meaningless when a file could not be read, since it may hold the thing.
    pub(crate) fn is_absence(&self) -> bool {
        self.reason.starts_with("missing")
            || self.reason.contains("not declared")
            || self.reason.starts_with("no account")
            || self.reason.starts_with("no agreement")
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        if self.key.is_empty() {
            write!(f, "{level}: {}: {}", self.file, self.reason)
        } else {
            write!(f, "{level}: {}: {}: {}", self.file, self.key, self.reason)
        }
    }
}

/// The configuration was refused; `problems` lists every reason (errors and warnings).
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration {path}: {} problem(s)\n{}", errors(.problems), list(.problems))]
pub struct ConfigError {
    pub path: PathBuf,
    pub problems: Vec<Problem>,
}

fn errors(problems: &[Problem]) -> usize {
    problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count()
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A loaded configuration and the warnings it raised.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Problem>,
}

impl Config {
    pub fn agreement(&self, name: &str) -> Option<&AgreementConfig> {
        self.agreements.iter().find(|a| a.name == name)
    }

    /// The path shown in messages: relative to the main file's directory when inside it.
    pub fn display_path(&self, path: &Path) -> String {
        display_relative(&self.path, path)
    }
}

/// `conf.d/vendor.toml` rather than `/etc/sharebridge/conf.d/vendor.toml` where possible.
pub(crate) fn display_relative(main: &Path, path: &Path) -> String {
    main.parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .and_then(|dir| path.strip_prefix(dir).ok())
        .unwrap_or(path)
        .display()
        .to_string()
}

impl Config {
    /// The agreements as offers for [`crate::agreement::derive`]: each with the receiver's
    /// consent and the files that hold the offer and the consent.
    pub fn offers(&self) -> Vec<crate::agreement::Offer> {
        use crate::agreement::{Consent, Offer};
        self.agreements
            .iter()
            .map(|a| {
                let receiver = self.accounts.get(&a.to);
                let consent = match receiver {
                    Some(r) if r.accept_from.contains(&a.from) => Consent::Accepted,
                    Some(r) if r.decline_from.contains(&a.from) => Consent::Declined,
                    _ => Consent::Unanswered,
                };
                Offer {
                    name: a.name.clone(),
                    from: a.from.clone(),
                    to: a.to.clone(),
                    enabled: a.enabled,
                    consent,
                    offer_file: self.display_path(&a.file),
                    consent_file: receiver
                        .map(|r| self.display_path(&r.file))
                        .unwrap_or_default(),
                }
            })
            .collect()
    }
}
