//! Reading and merging: main file + `conf.d/*.toml` (sorted) → one tree, then the `config`
//! crate layers `SHAREBRIDGE_<SECTION>__<KEY>` environment overrides on top and each
//! section is deserialised on its own, so one bad account never hides problems elsewhere.
//!
//! Merge rules: tables merge key by key (the same key in two files is a conflict, reported
//! with both files); `[[agreements]]` from every file are concatenated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::raw::{RawAccount, RawAgreement, RawDaemon};
use super::{ConfigError, Loaded, Problem, Severity, display_relative, validate};

const ENV_PREFIX: &str = "SHAREBRIDGE_";

/// Where the values come from, so tests can load without touching the real environment.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Environment variables considered (only `SHAREBRIDGE_…__…` ones are overrides;
    /// `CREDENTIALS_DIRECTORY` and `STATE_DIRECTORY` are read too).
    pub env: BTreeMap<String, String>,
}

impl LoadOptions {
    /// The process environment.
    pub fn from_process() -> LoadOptions {
        LoadOptions {
            env: std::env::vars().collect(),
        }
    }
}

/// Loads and validates the configuration at `path` with the process environment.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    load_with(path, &LoadOptions::from_process())
}

/// Which file set each key, for messages.
#[derive(Debug, Default)]
pub(super) struct Provenance {
    /// `daemon.listen` → file; `accounts.acme.token` → file; `accounts.acme` → first file.
    pub keys: BTreeMap<String, String>,
    /// The file of each agreement and its index within that file.
    pub agreements: Vec<(String, usize)>,
}

impl Provenance {
    /// The file that set `key` or its nearest parent.
    pub fn file_of(&self, key: &str) -> String {
        if let Some(f) = self.keys.get(&format!("{key}_file")) {
            return f.clone();
        }
        let mut k = key;
        loop {
            if let Some(f) = self.keys.get(k) {
                return f.clone();
            }
            match k.rfind('.') {
                Some(i) => k = &k[..i],
                None => return "configuration".to_owned(),
            }
        }
    }
}

/// Loads and validates with the given environment.
pub fn load_with(path: &Path, opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    let mut problems = Vec::new();
    let files = discover(path, &mut problems);
    let mut merged = toml::Table::new();
    let mut prov = Provenance::default();
    for file in &files {
        let shown = display_relative(path, file);
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                problems.push(error(&shown, "", format!("cannot read the file: {e}")));
                continue;
            }
        };
        match text.parse::<toml::Table>() {
            Ok(table) => merge_file(&mut merged, &mut prov, &shown, table, &mut problems),
            Err(e) => problems.push(error(&shown, "", syntax_message(&e))),
        }
    }

    let overrides = env_overrides(&opts.env);
    for key in overrides.keys() {
        let dotted = key.to_lowercase().replace("__", ".");
        prov.keys
            .insert(dotted, format!("environment {ENV_PREFIX}{key}"));
    }

    let merged_text = toml::to_string(&merged).unwrap_or_default();
    let built = config::Config::builder()
        .add_source(config::File::from_str(
            &merged_text,
            config::FileFormat::Toml,
        ))
        .add_source(
            config::Environment::with_prefix("SHAREBRIDGE")
                .prefix_separator("_")
                .separator("__")
                .source(Some(
                    overrides
                        .iter()
                        .map(|(k, v)| (format!("{ENV_PREFIX}{k}"), v.clone()))
                        .collect(),
                )),
        )
        .build();
    let cfg = match built {
        Ok(cfg) => cfg,
        Err(e) => {
            problems.push(error(
                "environment",
                "",
                format!("cannot apply overrides: {e}"),
            ));
            return Err(ConfigError {
                path: path.to_owned(),
                problems,
            });
        }
    };

    let daemon: RawDaemon = match cfg.get::<config::Value>("daemon") {
        Ok(v) => section(v, "daemon", &prov, &mut problems).unwrap_or_default(),
        Err(_) => RawDaemon::default(),
    };
    let mut accounts = BTreeMap::new();
    let mut declared = std::collections::BTreeSet::new();
    if let Ok(table) = cfg.get_table("accounts") {
        for (name, value) in table {
            declared.insert(name.clone());
            let key = format!("accounts.{name}");
            let file = prov.file_of(&key);
            if let Some(raw) = section::<RawAccount>(value, &key, &prov, &mut problems) {
                accounts.insert(name, (raw, file));
            }
        }
    }
    let mut agreements = Vec::new();
    if let Ok(list) = cfg.get_array("agreements") {
        for (i, value) in list.into_iter().enumerate() {
            let (file, idx) = prov
                .agreements
                .get(i)
                .cloned()
                .unwrap_or_else(|| ("environment".to_owned(), i));
            let key = format!("agreements[{idx}]");
            let mut local = Provenance::default();
            local.keys.insert(key.clone(), file.clone());
            if let Some(raw) = section::<RawAgreement>(value, &key, &local, &mut problems) {
                agreements.push((raw, file, idx));
            }
        }
    }

    let input = validate::Input {
        main: path,
        files: &files,
        env: &opts.env,
        daemon,
        accounts,
        declared,
        agreements,
        prov: &prov,
    };
    let incomplete = problems.iter().any(|p| p.key.is_empty());
    let config = validate::validate(input, &mut problems);
    if incomplete {
        // A file that could not be read or parsed may hold what looks missing: report
        // the file's own problem, not its consequences.
        problems.retain(|p| !p.is_absence());
    }
    problems.sort_by_key(|p| std::cmp::Reverse(p.severity));
    match config {
        Some(config) if !problems.iter().any(|p| p.severity == Severity::Error) => Ok(Loaded {
            config,
            warnings: problems,
        }),
        _ => Err(ConfigError {
            path: path.to_owned(),
            problems,
        }),
    }
}

/// The main file, then `conf.d/*.toml` beside it in name order.
fn discover(path: &Path, problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut files = vec![path.to_owned()];
    let dir = path
        .parent()
        .map(|d| d.join("conf.d"))
        .unwrap_or_else(|| PathBuf::from("conf.d"));
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            let mut extra: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
                .collect();
            extra.sort();
            files.extend(extra);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => problems.push(error(
            &display_relative(path, &dir),
            "",
            format!("cannot list the directory: {e}"),
        )),
    }
    files
}

/// `SHAREBRIDGE_SECTION__KEY=value` pairs, prefix stripped; other `SHAREBRIDGE_*`
/// variables (such as `SHAREBRIDGE_CONFIG`) are not configuration keys.
fn env_overrides(env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    env.iter()
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix(ENV_PREFIX)?;
            rest.contains("__").then(|| (rest.to_owned(), v.clone()))
        })
        .collect()
}

fn syntax_message(e: &toml::de::Error) -> String {
    // toml's message is "TOML parse error at line L, column C", the quoted line with a
    // caret, then the reason: keep the first and the last.
    let text = e.to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match (lines.first(), lines.last()) {
        (Some(first), Some(last)) if lines.len() > 1 => {
            format!(
                "invalid TOML: {}: {last}",
                first.trim_start_matches("TOML parse error at ")
            )
        }
        _ => format!("invalid TOML: {}", lines.join(" ")),
    }
}

fn merge_file(
    merged: &mut toml::Table,
    prov: &mut Provenance,
    file: &str,
    table: toml::Table,
    problems: &mut Vec<Problem>,
) {
    for (top, value) in table {
        match (top.as_str(), value) {
            ("daemon", toml::Value::Table(t)) => {
                let dest = merged
                    .entry("daemon")
                    .or_insert_with(|| toml::Value::Table(Default::default()));
                merge_keys(dest, t, "daemon", file, prov, problems);
            }
            ("accounts", toml::Value::Table(accounts)) => {
                let dest = merged
                    .entry("accounts")
                    .or_insert_with(|| toml::Value::Table(Default::default()));
                let toml::Value::Table(dest) = dest else {
                    continue;
                };
                for (name, account) in accounts {
                    let key = format!("accounts.{name}");
                    let toml::Value::Table(account) = account else {
                        problems.push(error(file, &key, "must be a table ([accounts.NAME])"));
                        continue;
                    };
                    prov.keys
                        .entry(key.clone())
                        .or_insert_with(|| file.to_owned());
                    let slot = dest
                        .entry(name)
                        .or_insert_with(|| toml::Value::Table(Default::default()));
                    merge_keys(slot, account, &key, file, prov, problems);
                }
            }
            ("agreements", toml::Value::Array(list)) => {
                let dest = merged
                    .entry("agreements")
                    .or_insert_with(|| toml::Value::Array(Vec::new()));
                let toml::Value::Array(dest) = dest else {
                    continue;
                };
                for (i, item) in list.into_iter().enumerate() {
                    if item.is_table() {
                        prov.agreements.push((file.to_owned(), i));
                        dest.push(item);
                    } else {
                        problems.push(error(
                            file,
                            &format!("agreements[{i}]"),
                            "must be a table ([[agreements]])",
                        ));
                    }
                }
            }
            ("daemon" | "accounts", _) => {
                problems.push(error(file, &top, "must be a table"));
            }
            ("agreements", _) => {
                problems.push(error(
                    file,
                    &top,
                    "must be an array of tables ([[agreements]])",
                ));
            }
            _ => problems.push(error(
                file,
                &top,
                "unknown key (expected daemon, accounts or agreements)",
            )),
        }
    }
}

/// Merges `from` into the table `dest`, reporting keys set by two files.
fn merge_keys(
    dest: &mut toml::Value,
    from: toml::Table,
    prefix: &str,
    file: &str,
    prov: &mut Provenance,
    problems: &mut Vec<Problem>,
) {
    let toml::Value::Table(dest) = dest else {
        return;
    };
    for (k, v) in from {
        let key = format!("{prefix}.{k}");
        if let Some(first) = prov.keys.get(&key).filter(|_| dest.contains_key(&k)) {
            problems.push(error(
                file,
                &key,
                format!("already set in {first}; set each key in one file only"),
            ));
            continue;
        }
        prov.keys.insert(key, file.to_owned());
        dest.insert(k, v);
    }
}

/// Deserialises one section, reporting unknown keys and type errors with their paths.
fn section<T: DeserializeOwned>(
    value: config::Value,
    prefix: &str,
    prov: &Provenance,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(value, &mut track);
    // serde_ignored writes an `Option`'s inside as a `?` segment (`system.?.typo`): the
    // key as written has none.
    let result: Result<T, _> = serde_ignored::deserialize(de, |p| {
        let path = p.to_string();
        unknown.push(
            path.split('.')
                .filter(|s| *s != "?")
                .collect::<Vec<_>>()
                .join("."),
        );
    });
    for path in unknown {
        let key = format!("{prefix}.{path}");
        problems.push(error(&prov.file_of(&key), &key, "unknown key (a typo?)"));
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            let path = track.path().to_string();
            let key = if path.is_empty() || path == "?" {
                prefix.to_owned()
            } else {
                format!("{prefix}.{path}")
            };
            problems.push(error(
                &prov.file_of(&key),
                &key,
                clean_type_error(&e.to_string()),
            ));
            None
        }
    }
}

/// The config crate appends its own origin to messages; ours already names file and key.
fn clean_type_error(msg: &str) -> String {
    let msg = msg.split(" for key ").next().unwrap_or(msg);
    let msg = msg.split(" in ").next().unwrap_or(msg);
    format!("wrong type: {}", msg.trim_start_matches("invalid type: "))
}

pub(super) fn error(file: &str, key: &str, reason: impl Into<String>) -> Problem {
    Problem {
        severity: Severity::Error,
        file: file.to_owned(),
        key: key.to_owned(),
        reason: reason.into(),
    }
}

pub(super) fn warning(file: &str, key: &str, reason: impl Into<String>) -> Problem {
    Problem {
        severity: Severity::Warning,
        file: file.to_owned(),
        key: key.to_owned(),
        reason: reason.into(),
    }
}
