//! From the raw shapes to a checked [`Config`]: defaults applied, names resolved, secrets
//! read, every problem collected (never only the first). The agreements and who may write
//! them are checked in `agreements.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;

use super::agreements::{agreements, consent_lists, ownership};
use super::load::{Provenance, error, warning};
use super::raw::{RawAccount, RawAgreement, RawDaemon};
use super::secrets::{SecretContext, SecretSpec};
use super::{
    AccountAuth, AccountConfig, Config, DaemonConfig, LogFormat, OAuthGrant, Problem, StoreConfig,
};
use secrecy::ExposeSecret;

pub(super) struct Input<'a> {
    pub main: &'a Path,
    pub files: &'a [PathBuf],
    pub env: &'a BTreeMap<String, String>,
    pub daemon: RawDaemon,
    /// name → (raw, file that declared it)
    pub accounts: BTreeMap<String, (RawAccount, String)>,
    /// Every account name declared, including those whose section did not deserialise
    /// (so a typo inside an account does not also make its name "undeclared").
    pub declared: BTreeSet<String>,
    /// (raw, file, index within that file)
    pub agreements: Vec<(RawAgreement, String, usize)>,
    pub prov: &'a Provenance,
}

pub(super) const DEFAULT_STATE_DIR: &str = "/var/lib/sharebridge";
pub(super) const DEFAULT_LISTEN: &str = "127.0.0.1:9464";
const DEFAULT_REQUESTS_PER_MINUTE: u32 = 200;

pub(super) fn validate(input: Input<'_>, problems: &mut Vec<Problem>) -> Option<Config> {
    let base_dir = input
        .main
        .parent()
        .map(Path::to_owned)
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let secrets = SecretContext {
        credentials_dir: input.env.get("CREDENTIALS_DIRECTORY").map(PathBuf::from),
        base_dir: base_dir.clone(),
    };
    let daemon = daemon(&input, &secrets, problems);
    let accounts: BTreeMap<String, AccountConfig> = input
        .accounts
        .iter()
        .filter_map(|(name, (raw, file))| {
            account(name, raw, file, &secrets, problems).map(|a| (name.clone(), a))
        })
        .collect();
    if input.declared.is_empty() {
        problems.push(error(
            &file_name(input.main),
            "accounts",
            "no account is configured; add an [accounts.NAME] section",
        ));
    }
    consent_lists(&input, problems);
    ownership(&input, problems);
    let agreements = agreements(&input, problems);

    let daemon = daemon?;
    if problems
        .iter()
        .any(|p| p.severity == super::Severity::Error)
    {
        return None;
    }
    Some(Config {
        path: input.main.to_owned(),
        files: input.files.to_vec(),
        daemon,
        accounts,
        agreements,
    })
}

pub(super) fn file_name(main: &Path) -> String {
    main.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn duration(
    value: Option<&str>,
    default: &str,
    key: &str,
    prov: &Provenance,
    problems: &mut Vec<Problem>,
) -> Option<Duration> {
    let text = value.unwrap_or(default);
    match parse_duration(text) {
        Ok(d) => Some(d),
        Err(reason) => {
            problems.push(error(&prov.file_of(key), key, reason));
            None
        }
    }
}

/// `"30s"`, `"5m"`, `"1h 30m"`, `"250ms"` (and ISO 8601 `"PT30S"`); positive only.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let parsed: jiff::SignedDuration = text.trim().parse().map_err(|_| {
        format!("{text:?} is not a duration; write it like \"30s\", \"5m\" or \"1h\"")
    })?;
    if parsed.is_negative() || parsed.is_zero() {
        return Err(format!("{text:?} must be longer than zero"));
    }
    Duration::try_from(parsed).map_err(|_| format!("{text:?} is out of range"))
}

fn daemon(
    input: &Input<'_>,
    secrets: &SecretContext,
    problems: &mut Vec<Problem>,
) -> Option<DaemonConfig> {
    let raw = &input.daemon;
    let prov = input.prov;
    let before = problems.len();
    let state_dir = raw
        .state_dir
        .clone()
        .or_else(|| input.env.get("STATE_DIRECTORY").cloned())
        .unwrap_or_else(|| DEFAULT_STATE_DIR.to_owned());
    if state_dir.trim().is_empty() {
        problems.push(error(
            &prov.file_of("daemon.state_dir"),
            "daemon.state_dir",
            "is empty",
        ));
    }
    let listen_text = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen = match listen_text.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            problems.push(error(
                &prov.file_of("daemon.listen"),
                "daemon.listen",
                format!("{listen_text:?} is not an address; write it like \"127.0.0.1:9464\""),
            ));
            None
        }
    };
    let poll = duration(
        raw.poll_interval.as_deref(),
        "30s",
        "daemon.poll_interval",
        prov,
        problems,
    );
    let reconcile = duration(
        raw.reconcile_interval.as_deref(),
        "1h",
        "daemon.reconcile_interval",
        prov,
        problems,
    );
    let grace = duration(
        raw.shutdown_grace.as_deref(),
        "10s",
        "daemon.shutdown_grace",
        prov,
        problems,
    );
    let coalesce = duration(
        raw.coalesce_window.as_deref(),
        "200ms",
        "daemon.coalesce_window",
        prov,
        problems,
    );
    let in_doubt = duration(
        raw.in_doubt_wait.as_deref(),
        "60s",
        "daemon.in_doubt_wait",
        prov,
        problems,
    );
    let ordering = match raw.ordering.as_deref() {
        None | Some("per-ticket") => super::Ordering::PerTicket,
        Some("arrival") => super::Ordering::Arrival,
        Some(other) => {
            problems.push(error(
                &prov.file_of("daemon.ordering"),
                "daemon.ordering",
                format!(
                    "{other:?} is not an ordering; use \"per-ticket\" (comments in source order on every mirror, the default) or \"arrival\" (webhooks' comments as they arrive: fewer calls, may reorder)"
                ),
            ));
            super::Ordering::PerTicket
        }
    };
    let log_level = raw.log_level.clone().unwrap_or_else(|| "info".to_owned());
    if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
        problems.push(error(
            &prov.file_of("daemon.log_level"),
            "daemon.log_level",
            format!("{log_level:?} is not a log filter; use error, warn, info, debug or trace"),
        ));
    }
    let log_format = match raw.log_format.as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            problems.push(error(
                &prov.file_of("daemon.log_format"),
                "daemon.log_format",
                format!("{other:?} is not a log format; use \"text\" or \"json\""),
            ));
            LogFormat::Text
        }
    };
    let admin_file = prov.file_of("daemon.admin_token");
    let admin_token = secrets.resolve(
        &SecretSpec {
            file: &admin_file,
            key: "daemon.admin_token",
            inline: raw.admin_token.as_deref(),
            path: raw.admin_token_file.as_deref(),
            credential: "admin_token",
        },
        problems,
    );
    let public_url = raw
        .public_url
        .as_deref()
        .and_then(|u| public_url(u, &prov.file_of("daemon.public_url"), problems));
    let key_file = prov.file_of("daemon.store_key");
    let store_key = secrets.resolve(
        &SecretSpec {
            file: &key_file,
            key: "daemon.store_key",
            inline: raw.store_key.as_deref(),
            path: raw.store_key_file.as_deref(),
            credential: "store_key",
        },
        problems,
    );
    if let Some(k) = &store_key
        && k.expose_secret().trim().len() < 16
    {
        problems.push(error(
            &key_file,
            "daemon.store_key",
            "is shorter than 16 characters; generate one with `head -c 32 /dev/urandom | base64`",
        ));
    }
    if admin_token.is_none() && raw.admin_token.is_none() && raw.admin_token_file.is_none() {
        problems.push(warning(
            &admin_file,
            "daemon.admin_token",
            "not set: the admin API, the CLI's daemon commands and the status page refuse every request; set admin_token_file (or admin_token)",
        ));
    }
    let store = store(raw, prov, secrets, problems);
    if problems.len() > before
        && problems[before..]
            .iter()
            .any(|p| p.severity == super::Severity::Error)
    {
        return None;
    }
    Some(DaemonConfig {
        store,
        state_dir: PathBuf::from(state_dir),
        listen: listen?,
        admin_token,
        poll_interval: poll?,
        reconcile_interval: reconcile?,
        log_level,
        log_format,
        shutdown_grace: grace?,
        coalesce_window: coalesce?,
        public_url,
        store_key,
        in_doubt_wait: in_doubt?,
        ordering,
    })
}

/// `daemon.store` (a PostgreSQL URL) and `daemon.store_password(_file)`.
fn store(
    raw: &RawDaemon,
    prov: &Provenance,
    secrets: &SecretContext,
    problems: &mut Vec<Problem>,
) -> Option<StoreConfig> {
    let file = prov.file_of("daemon.store");
    let password = secrets.resolve(
        &SecretSpec {
            file: &prov.file_of("daemon.store_password"),
            key: "daemon.store_password",
            inline: raw.store_password.as_deref(),
            path: raw.store_password_file.as_deref(),
            credential: "store_password",
        },
        problems,
    );
    let Some(url) = raw.store.as_deref().map(str::trim) else {
        if raw.store_password.is_some() || raw.store_password_file.is_some() {
            problems.push(error(
                &prov.file_of("daemon.store_password"),
                "daemon.store_password",
                "is set but daemon.store is not: set daemon.store to the PostgreSQL URL, or remove the password",
            ));
        }
        return None;
    };
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        problems.push(error(
            &file,
            "daemon.store",
            "is not a PostgreSQL URL; write it like \"postgres://bridge@db.example/sharebridge\" \
             (leave it out to keep the embedded store in daemon.state_dir)",
        ));
        return None;
    }
    let parsed = match url.parse::<tokio_postgres::Config>() {
        Ok(c) => c,
        Err(e) => {
            problems.push(error(
                &file,
                "daemon.store",
                format!("is not a valid PostgreSQL URL ({e})"),
            ));
            return None;
        }
    };
    if parsed.get_dbname().is_none() {
        problems.push(error(
            &file,
            "daemon.store",
            "names no database; end the URL with /DATABASE (e.g. postgres://bridge@db/sharebridge)",
        ));
    }
    if parsed.get_password().is_some() {
        problems.push(warning(
            &file,
            "daemon.store",
            "holds a password, readable by whoever reads this file; move it to daemon.store_password_file (or the credential store_password)",
        ));
    }
    Some(StoreConfig {
        url: SecretString::from(url.to_owned()),
        shown: crate::store::shown_url(url),
        password,
    })
}

/// `daemon.public_url`: an absolute http(s) URL without query or fragment, kept without
/// its trailing slash (webhook endpoints are `{public_url}/webhooks/{account}`).
fn public_url(text: &str, file: &str, problems: &mut Vec<Problem>) -> Option<String> {
    match reqwest::Url::parse(text.trim()) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host().is_some()
                && url.query().is_none()
                && url.fragment().is_none() =>
        {
            Some(text.trim().trim_end_matches('/').to_owned())
        }
        _ => {
            problems.push(error(
                file,
                "daemon.public_url",
                format!(
                    "{text:?} is not an http(s) URL without query; write where Zendesk reaches daemon.listen, like \"https://bridge.example.com\""
                ),
            ));
            None
        }
    }
}

/// The day Zendesk stops accepting API tokens (developer.zendesk.com, oauth-migration).
pub const API_TOKENS_END: &str = "2027-04-30";

/// The warning every API-token account draws (`check-config`, the log at start, `doctor`).
pub fn api_token_warning(account: &str) -> String {
    format!(
        "API tokens stop working on {API_TOKENS_END} (Zendesk accounts cannot create new ones since 2026-10-27): create an OAuth client, replace email/token with oauth = {{ client_id = \"...\", client_secret_file = \"...\" }} and run `sharebridge connect {account}`"
    )
}

fn account(
    name: &str,
    raw: &RawAccount,
    file: &str,
    secrets: &SecretContext,
    problems: &mut Vec<Problem>,
) -> Option<AccountConfig> {
    let key = |k: &str| format!("accounts.{name}.{k}");
    let before = problems.len();
    if !valid_name(name) {
        problems.push(error(
            file,
            &format!("accounts.{name}"),
            "account names may use letters, digits, '-' and '_' only",
        ));
    }
    let subdomain = match raw.subdomain.as_deref().map(str::trim) {
        Some(s) if valid_subdomain(s) => s.to_owned(),
        Some(s) => {
            problems.push(error(
                file,
                &key("subdomain"),
                format!("{s:?} is not a Zendesk subdomain (letters, digits and '-')"),
            ));
            String::new()
        }
        None => {
            problems.push(error(
                file,
                &key("subdomain"),
                "missing: the Zendesk subdomain",
            ));
            String::new()
        }
    };
    let base_url = match raw.base_url.as_deref() {
        Some(u) => match reqwest::Url::parse(u) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                u.trim_end_matches('/').to_owned()
            }
            _ => {
                problems.push(error(
                    file,
                    &key("base_url"),
                    format!("{u:?} is not an http(s) URL"),
                ));
                String::new()
            }
        },
        None => format!("https://{subdomain}.zendesk.com"),
    };
    let rpm = raw
        .requests_per_minute
        .unwrap_or(DEFAULT_REQUESTS_PER_MINUTE);
    if rpm == 0 {
        problems.push(error(
            file,
            &key("requests_per_minute"),
            "must be at least 1 (it is this daemon's share of the account's API limit)",
        ));
    }
    let token_key = key("token");
    let token = secrets.resolve(
        &SecretSpec {
            file,
            key: &token_key,
            inline: raw.token.as_deref(),
            path: raw.token_file.as_deref(),
            credential: &format!("{name}.token"),
        },
        problems,
    );
    let token_given = raw.token.is_some() || raw.token_file.is_some() || token.is_some();
    let auth = match (&raw.oauth, token_given) {
        (Some(_), true) => {
            problems.push(error(
                file,
                &key("oauth"),
                "both an API token and OAuth are configured; keep one",
            ));
            None
        }
        (Some(oauth), false) => {
            let okey = |k: &str| format!("accounts.{name}.oauth.{k}");
            let client_id = oauth.client_id.clone().filter(|s| !s.trim().is_empty());
            if client_id.is_none() {
                problems.push(error(
                    file,
                    &okey("client_id"),
                    "missing: the OAuth client id",
                ));
            }
            let mut secret =
                |k: &str, inline: &Option<String>, path: &Option<String>, cred: &str| {
                    let k = okey(k);
                    let v = secrets.resolve(
                        &SecretSpec {
                            file,
                            key: &k,
                            inline: inline.as_deref(),
                            path: path.as_deref(),
                            credential: &format!("{name}.{cred}"),
                        },
                        problems,
                    );
                    if v.is_none() && inline.is_none() && path.is_none() {
                        problems.push(error(
                            file,
                            &k,
                            format!("missing: set {} or {}_file", leaf(&k), leaf(&k)),
                        ));
                    }
                    v
                };
            let client_secret = secret(
                "client_secret",
                &oauth.client_secret,
                &oauth.client_secret_file,
                "oauth_client_secret",
            );
            // Optional: `connect` keeps the pair in the store; a configured refresh token
            // only seeds an empty store.
            let refresh_key = okey("refresh_token");
            let refresh_token = secrets.resolve(
                &SecretSpec {
                    file,
                    key: &refresh_key,
                    inline: oauth.refresh_token.as_deref(),
                    path: oauth.refresh_token_file.as_deref(),
                    credential: &format!("{name}.oauth_refresh_token"),
                },
                problems,
            );
            let grant = match oauth.grant.as_deref().map(str::trim) {
                None | Some("authorization_code") => Some(OAuthGrant::AuthorizationCode),
                Some("client_credentials") => Some(OAuthGrant::ClientCredentials),
                Some(other) => {
                    problems.push(error(
                        file,
                        &okey("grant"),
                        format!(
                            "{other:?} is not a grant sharebridge uses; write \"authorization_code\" (sign in once with `sharebridge connect`) or \"client_credentials\""
                        ),
                    ));
                    None
                }
            };
            if grant == Some(OAuthGrant::ClientCredentials) && refresh_token.is_some() {
                problems.push(error(
                    file,
                    &refresh_key,
                    "a client_credentials grant has no refresh token; remove it (or use grant = \"authorization_code\")",
                ));
            }
            match (client_id, client_secret, grant) {
                (Some(client_id), Some(client_secret), Some(grant)) => Some(AccountAuth::OAuth {
                    email: raw.email.clone(),
                    client_id,
                    client_secret,
                    refresh_token,
                    grant,
                }),
                _ => None,
            }
        }
        (None, _) => {
            let email = raw.email.clone().filter(|e| e.contains('@'));
            if email.is_none() {
                problems.push(error(
                    file,
                    &key("email"),
                    match &raw.email {
                        Some(e) => format!("{e:?} is not an email address"),
                        None => "missing: the API user's email (API token auth is {email}/token:{token})".to_owned(),
                    },
                ));
            }
            if !token_given {
                problems.push(error(
                    file,
                    &token_key,
                    format!(
                        "missing credentials: set token_file (or token, or an oauth table), or provide credential {name}.token"
                    ),
                ));
            }
            if token_given {
                problems.push(warning(file, &token_key, api_token_warning(name)));
            }
            match (email, token) {
                (Some(email), Some(token)) => Some(AccountAuth::ApiToken { email, token }),
                _ => None,
            }
        }
    };
    let webhook_key = key("webhook_secret");
    let webhook_secret = secrets.resolve(
        &SecretSpec {
            file,
            key: &webhook_key,
            inline: raw.webhook_secret.as_deref(),
            path: raw.webhook_secret_file.as_deref(),
            credential: &format!("{name}.webhook_secret"),
        },
        problems,
    );
    if problems[before..]
        .iter()
        .any(|p| p.severity == super::Severity::Error)
    {
        return None;
    }
    Some(AccountConfig {
        name: name.to_owned(),
        subdomain,
        base_url,
        auth: auth?,
        requests_per_minute: rpm,
        webhook_secret,
        accept_from: raw
            .accept_from
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        decline_from: raw
            .decline_from
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        file: PathBuf::from(file),
    })
}

fn leaf(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn valid_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-5s").is_err());
    }
}
