//! Secrets: every secret key `x` may be given inline, as `x_file = PATH`, or (under
//! systemd's `LoadCredential=`) as a file named after it in `$CREDENTIALS_DIRECTORY`.
//!
//! A relative `x_file` is looked up in `$CREDENTIALS_DIRECTORY` when it is set, else
//! beside the main configuration file. A secret file readable by other users is a warning.
//! Values never appear in problems, logs or `Debug` output.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::Problem;
use super::load::{error, warning};

/// Where secrets are read from.
pub(super) struct SecretContext {
    /// `$CREDENTIALS_DIRECTORY`, when systemd set it.
    pub credentials_dir: Option<PathBuf>,
    /// The main configuration file's directory.
    pub base_dir: PathBuf,
}

/// One secret key as written: `key = "…"` and/or `key_file = "…"`.
pub(super) struct SecretSpec<'a> {
    /// Where it was written (file) and its dotted key (`accounts.acme.token`).
    pub file: &'a str,
    pub key: &'a str,
    pub inline: Option<&'a str>,
    pub path: Option<&'a str>,
    /// File name looked up in `$CREDENTIALS_DIRECTORY` when neither is given.
    pub credential: &'a str,
}

impl SecretContext {
    /// The secret, `None` when it is given nowhere (the caller decides whether that is
    /// a problem), or `None` with a problem pushed when it is given but unusable.
    pub fn resolve(
        &self,
        spec: &SecretSpec<'_>,
        problems: &mut Vec<Problem>,
    ) -> Option<SecretString> {
        match (spec.inline, spec.path) {
            (Some(_), Some(_)) => {
                problems.push(error(
                    spec.file,
                    spec.key,
                    format!("both {0} and {0}_file are set; keep one", leaf(spec.key)),
                ));
                None
            }
            (Some(value), None) => {
                if value.trim().is_empty() {
                    problems.push(error(spec.file, spec.key, "is empty"));
                    return None;
                }
                Some(SecretString::from(value.to_owned()))
            }
            (None, Some(path)) => {
                let key = format!("{}_file", spec.key);
                self.read(spec.file, &key, &self.locate(path), problems)
            }
            (None, None) => {
                let dir = self.credentials_dir.as_ref()?;
                let path = dir.join(spec.credential);
                if path.is_file() {
                    let key = format!("{} (credential {})", spec.key, spec.credential);
                    self.read(spec.file, &key, &path, problems)
                } else {
                    None
                }
            }
        }
    }

    fn locate(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            return p.to_owned();
        }
        match &self.credentials_dir {
            Some(dir) => dir.join(p),
            None => self.base_dir.join(p),
        }
    }

    fn read(
        &self,
        file: &str,
        key: &str,
        path: &Path,
        problems: &mut Vec<Problem>,
    ) -> Option<SecretString> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(error(
                    file,
                    key,
                    format!("cannot read secret file {}: {e}", path.display()),
                ));
                return None;
            }
        };
        if others_can_read(path) {
            problems.push(warning(
                file,
                key,
                format!(
                    "secret file {} is readable by other users; run chmod 600 on it",
                    path.display()
                ),
            ));
        }
        let value = text.trim_end_matches(['\n', '\r']);
        if value.trim().is_empty() {
            problems.push(error(
                file,
                key,
                format!("secret file {} is empty", path.display()),
            ));
            return None;
        }
        Some(SecretString::from(value.to_owned()))
    }
}

#[cfg(unix)]
fn others_can_read(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
}

#[cfg(not(unix))]
fn others_can_read(_: &Path) -> bool {
    false
}

fn leaf(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}
