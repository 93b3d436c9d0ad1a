//! `sharebridge store migrate --to URL`: copies the whole store to another engine — the
//! embedded file to PostgreSQL, or back — while the daemons are stopped, and verifies the
//! copy by per-table counts and SHA-256 checksums (DESIGN §2).
//!
//! The source is the configured store (`daemon.store`, else the file in
//! `daemon.state_dir`); the target must be new: a file that does not exist yet, or a
//! database with no sharebridge data. Refused while a daemon has the file open or leads
//! the PostgreSQL store. Must not change the source.

use std::path::{Path, PathBuf};

use secrecy::ExposeSecret;

use crate::config::Config;
use crate::store::{CopyReport, Store, StoreError};

/// Where to copy to, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Postgres(String),
    File(PathBuf),
}

impl Target {
    /// `postgres://…` / `postgresql://…` is a database; `file:PATH` or a plain path, a file.
    pub fn parse(text: &str) -> Target {
        let t = text.trim();
        if t.starts_with("postgres://") || t.starts_with("postgresql://") {
            Target::Postgres(t.to_owned())
        } else {
            let path = t
                .strip_prefix("file://")
                .or_else(|| t.strip_prefix("file:"))
                .unwrap_or(t);
            Target::File(PathBuf::from(path))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error(
        "the store at {store} is in use: {why}; stop every sharebridge daemon using it (systemctl stop sharebridge) and run this again"
    )]
    InUse { store: String, why: String },
    #[error(
        "{target} already exists; migrate only into a new file (move it away or pick another path)"
    )]
    TargetExists { target: String },
    #[error("the target is the store itself ({0}); name another database or file")]
    SameStore(String),
}

/// Copies the configured store to `target`; `password`, for a PostgreSQL target, replaces
/// one in its URL.
pub fn migrate(
    config: &Config,
    target: &Target,
    password: Option<&str>,
) -> Result<CopyReport, MigrateError> {
    let source = open_source(config)?;
    if let Target::Postgres(url) = target
        && let Some(pg) = &config.daemon.store
        && crate::store::shown_url(url) == pg.shown
    {
        return Err(MigrateError::SameStore(pg.shown.clone()));
    }
    match target {
        Target::Postgres(url) => {
            let dest = Store::open_postgres(url, password)?;
            refuse_if_led(&dest)?;
            Ok(source.copy_to(&dest)?)
        }
        Target::File(path) => {
            if path.exists() {
                return Err(MigrateError::TargetExists {
                    target: path.display().to_string(),
                });
            }
            if config.daemon.store.is_none() && same_file(path, &crate::daemon::store_path(config))
            {
                return Err(MigrateError::SameStore(path.display().to_string()));
            }
            let dest = Store::open(path)?;
            let copied = source.copy_to(&dest);
            if copied.is_err() {
                // Nothing half-made is left that looks like a store.
                drop(dest);
                let _ = std::fs::remove_file(path);
            }
            Ok(copied?)
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    std::path::absolute(a).ok() == std::path::absolute(b).ok()
}

/// The configured store, read-only; refused while a daemon uses it.
fn open_source(config: &Config) -> Result<Store, MigrateError> {
    match &config.daemon.store {
        Some(pg) => {
            let store = Store::open_postgres_read_only(
                pg.url.expose_secret(),
                pg.password.as_ref().map(|p| p.expose_secret()),
            )?;
            refuse_if_led(&store)?;
            Ok(store)
        }
        None => {
            let path = crate::daemon::store_path(config);
            Store::open_read_only(&path).map_err(|e| match e {
                StoreError::Locked { path, .. } => MigrateError::InUse {
                    store: path.display().to_string(),
                    why: "a daemon has the file open".into(),
                },
                e => e.into(),
            })
        }
    }
}

fn refuse_if_led(store: &Store) -> Result<(), MigrateError> {
    if let Some(r) = store.leader_record()?
        && r.live
    {
        return Err(MigrateError::InUse {
            store: store.path().display().to_string(),
            why: format!(
                "daemon {} leads it (its lease runs until {})",
                r.holder.as_deref().unwrap_or("?"),
                r.expires_at
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "?".into())
            ),
        });
    }
    Ok(())
}

/// What the command prints: what was copied, where, how it was verified, what next.
pub fn describe(report: &CopyReport, target: &Target, config_path: &Path) -> String {
    let mut out = format!(
        "copied the store from {} to {}\n{} entries in {} tables; entry counts and SHA-256 checksums of every table match on both sides (store checksum {})\n",
        report.from,
        report.to,
        report.entries,
        report.tables.len(),
        report.checksum
    );
    for t in report.tables.iter().filter(|t| t.entries > 0) {
        out.push_str(&format!("  {:<18} {:>9}\n", t.table, t.entries));
    }
    let next = match target {
        Target::Postgres(_) => format!(
            "next: in {}, set daemon.store = \"{}\" (the password in daemon.store_password_file), then start the daemons; the file stays as it was",
            config_path.display(),
            report.to
        ),
        Target::File(path) => format!(
            "next: remove daemon.store from {} and put {} at daemon.state_dir/{} (or point state_dir at its directory), then start the daemon; the database stays as it was",
            config_path.display(),
            path.display(),
            crate::daemon::STORE_FILE
        ),
    };
    out.push_str(&next);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            Target::parse("postgres://u@h/db"),
            Target::Postgres("postgres://u@h/db".into())
        );
        assert_eq!(
            Target::parse("postgresql://h/db"),
            Target::Postgres("postgresql://h/db".into())
        );
        assert_eq!(
            Target::parse("file:///var/x.redb"),
            Target::File("/var/x.redb".into())
        );
        assert_eq!(Target::parse("./x.redb"), Target::File("./x.redb".into()));
    }
}
