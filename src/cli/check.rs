//! `check-config`: load the configuration or print every problem with its file and key,
//! then the one-screen summary of a valid one and what `connect` left in the store.
//!
//! Architecture invariant: reads only; the store is opened read-only, and not at all when
//! it does not exist.

use std::path::Path;

use crate::agreement::{self, State};
use crate::config::{self, Config, ConfigError, Severity};

use super::exit;

/// Loads the configuration or prints every problem; `Err(code)` is the exit code.
pub fn load_config(path: &Path) -> Result<(Config, Vec<config::Problem>), u8> {
    match config::load(path) {
        Ok(loaded) => Ok((loaded.config, loaded.warnings)),
        Err(ConfigError { path, problems }) => {
            let count = problems
                .iter()
                .filter(|p| p.severity == Severity::Error)
                .count();
            eprintln!(
                "{}: invalid configuration ({count} problem(s)):",
                path.display()
            );
            for p in &problems {
                eprintln!("  {p}");
            }
            Err(exit::USAGE)
        }
    }
}

pub(super) fn check_config(path: &Path) -> u8 {
    let (config, warnings) = match load_config(path) {
        Ok(v) => v,
        Err(code) => return code,
    };
    for w in &warnings {
        eprintln!("  {w}");
    }
    print!("{}", summary(&config));
    print!("{}", connections_summary(&config));
    exit::OK
}

/// What `connect` left in the store for each OAuth account, read without writing (the
/// store is opened read-only, and not at all when it does not exist); what to run when
/// an account still needs it.
pub fn connections_summary(config: &Config) -> String {
    use crate::config::{AccountAuth, OAuthGrant};
    use std::fmt::Write as _;
    let path = crate::daemon::store_path(config);
    let store = if path.exists() {
        match crate::store::Store::open_read_only(&path) {
            Ok(s) => {
                if let Some(k) = &config.daemon.store_key {
                    use secrecy::ExposeSecret as _;
                    let _ = s.use_sealing_key(k.expose_secret().trim().as_bytes());
                }
                Ok(Some(s))
            }
            Err(crate::store::StoreError::Locked { .. }) => Err(
                "a running daemon holds the store: `sharebridge doctor` checks each account through it",
            ),
            Err(_) => Err("the store cannot be read now: `sharebridge doctor` says why"),
        }
    } else {
        Ok(None)
    };
    let mut out = String::new();
    let mut needs = Vec::new();
    for (name, a) in &config.accounts {
        let AccountAuth::OAuth {
            grant,
            refresh_token,
            ..
        } = &a.auth
        else {
            continue;
        };
        let connection = match &store {
            Ok(Some(s)) => match s.connection(name) {
                Ok(c) => c,
                Err(e) => {
                    let _ = writeln!(out, "  {name}: what connect kept cannot be read: {e}");
                    continue;
                }
            },
            _ => None,
        };
        let tokens = match &store {
            Ok(Some(s)) => s.oauth_tokens(name).ok().flatten().is_some(),
            _ => false,
        };
        match (&store, connection) {
            (Ok(_), Some(c)) => {
                let _ = writeln!(
                    out,
                    "  {name}: connected as {} (user {}) since {}{}",
                    c.user_email.as_deref().unwrap_or(&c.user_name),
                    c.user_id,
                    c.connected_at.strftime("%Y-%m-%d %H:%M"),
                    match (&c.webhook, &a.webhook_secret) {
                        (_, Some(_)) => ", webhook secret from the configuration".to_owned(),
                        (Some(w), None) =>
                            format!(", webhook {} with the secret connect kept", w.id),
                        (None, None) => ", no webhook (polling only)".to_owned(),
                    }
                );
            }
            (Ok(_), None)
                if *grant == OAuthGrant::ClientCredentials || tokens || refresh_token.is_some() =>
            {
                let _ = writeln!(
                    out,
                    "  {name}: OAuth ({}); run `sharebridge connect {name}` to set up its webhook",
                    grant.as_str()
                );
            }
            (Ok(_), None) => needs.push(name.clone()),
            (Err(why), _) => {
                let _ = writeln!(out, "  {name}: OAuth ({}); {why}", grant.as_str());
            }
        }
    }
    for name in &needs {
        let _ = writeln!(
            out,
            "  {name}: not connected yet: run `sharebridge connect {name}` (signs the bridge in and sets up its webhook) before `sharebridge run`"
        );
    }
    if out.is_empty() {
        return out;
    }
    format!("connections (kept in the store by `sharebridge connect`):\n{out}")
}

/// The one-screen summary `check-config` prints for a valid configuration.
pub fn summary(config: &Config) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let files: Vec<String> = config
        .files
        .iter()
        .map(|f| config.display_path(f))
        .collect();
    let _ = writeln!(
        out,
        "configuration ok: {} ({})",
        config.path.display(),
        files.join(", ")
    );
    let _ = writeln!(
        out,
        "daemon: listen {}, state_dir {}, poll every {:?}, reconcile every {:?}",
        config.daemon.listen,
        config.daemon.state_dir.display(),
        config.daemon.poll_interval,
        config.daemon.reconcile_interval
    );
    let _ = match &config.daemon.store {
        Some(pg) => writeln!(
            out,
            "store: PostgreSQL {} (several daemons may share it; one leads)",
            pg.shown
        ),
        None => writeln!(
            out,
            "store: the embedded file {}",
            crate::daemon::store_path(config).display()
        ),
    };
    let _ = writeln!(out, "accounts ({}):", config.accounts.len());
    for a in config.accounts.values() {
        let _ = writeln!(
            out,
            "  {:<12} {:<24} {:<9} {:>5} req/min  webhooks {}",
            a.name,
            a.base_url,
            a.auth.kind(),
            a.requests_per_minute,
            match (&a.webhook_secret, &a.auth) {
                (Some(_), _) => "on",
                (None, crate::config::AccountAuth::OAuth { .. }) => "from connect",
                (None, _) => "off (polling only)",
            }
        );
    }
    let derived = agreement::derive(&config.offers(), &Default::default(), crate::clock::now());
    let _ = writeln!(
        out,
        "agreements ({}), states as this configuration sets them:",
        config.agreements.len()
    );
    for a in &config.agreements {
        let d = derived.iter().find(|d| d.name == a.name);
        let state = match d {
            Some(d) => d.state.to_string(),
            None => "disabled".to_owned(),
        };
        let direction = if d.is_some_and(|d| d.paired) {
            "two-way"
        } else {
            "one-way"
        };
        let _ = writeln!(
            out,
            "  {:<20} {} -> {}  {:<9} {}",
            a.name, a.from, a.to, state, direction
        );
    }
    let mut pairs: Vec<String> = derived
        .iter()
        .filter(|d| d.paired && d.from < d.to)
        .map(|d| format!("{} <-> {}", d.from, d.to))
        .collect();
    pairs.dedup();
    if pairs.is_empty() {
        let _ = writeln!(out, "two-way pairs: none");
    } else {
        let _ = writeln!(out, "two-way pairs: {}", pairs.join(", "));
    }
    let pending = derived.iter().filter(|d| d.state == State::Pending).count();
    if pending > 0 {
        let _ = writeln!(
            out,
            "{pending} agreement(s) wait for the receiver's accept_from"
        );
    }
    out
}
