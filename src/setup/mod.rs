//! Going live on a real Zendesk: the commands that set an account up and check it from
//! outside (DESIGN §2): `connect` (OAuth sign-in and the bridge's webhook), `doctor`
//! (every check, each failure with its fix) and `fields` (the account's ticket fields, or
//! a suggested `[[agreements.fields]]` block between two accounts).
//!
//! Layout: [`connect`] (the command), [`signin`] (loopback redirect, `--print-url`),
//! [`webhook`] (the wanted webhook and the pure plan), [`doctor`] (gathering) and
//! [`checks`] (the pure verdicts), [`fields`] (listing and JSON of the pure matcher in
//! `crate::fields`). This file runs them for the CLI.
//!
//! Where they run: these commands need the store (the token pair, the webhook and its
//! secret). A running daemon holds it (redb locks the file), so `doctor` and `fields` then
//! ask the daemon's admin API, which runs the same code with its own clients, and
//! `connect` refuses with what to do (stop the daemon, connect, start it): one process
//! only ever rotates an account's OAuth pair.
//!
//! Must not: print, log or put in `--json` a token, a code or a secret.

pub mod checks;
pub mod connect;
pub mod doctor;
pub mod fields;
pub mod signin;
pub mod webhook;

use std::io::Write as _;
use std::path::Path;

use crate::config::Config;
use crate::daemon::DaemonError;
use crate::engine::Account;
use crate::store::{Store, StoreError};

pub use connect::ConnectArgs;

/// `sharebridge doctor` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct DoctorArgs {
    /// Check this account only (default: every account).
    pub account: Option<String>,
    /// Print the checks as JSON: `[{account, check, status, detail, fix}]`.
    #[arg(long)]
    pub json: bool,
}

/// `sharebridge fields` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct FieldsArgs {
    /// The account whose ticket fields are listed (the sender, with --to).
    pub account: String,
    /// Suggest the `[[agreements.fields]]` block from ACCOUNT to this account.
    #[arg(long, value_name = "ACCOUNT")]
    pub to: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

const OK: u8 = 0;
const FAILURE: u8 = 1;
const USAGE: u8 = 2;

/// The store for a command, or the sign that a running daemon holds it.
enum Access {
    Local(Local),
    Daemon,
}

/// A store opened here: the real one, or (for a command that must not create it) an
/// empty one in a temporary directory, gone when the command ends.
struct Local {
    store: Store,
    /// The real file, when it is the real store.
    path: Option<std::path::PathBuf>,
    _scratch: Option<tempfile::TempDir>,
}

/// Opens the store; with `create` false and no store yet, an empty scratch one (so
/// `doctor`, `fields` and `connect --dry-run` leave nothing behind).
fn open(config: &Config, create: bool) -> Result<Access, DaemonError> {
    let path = crate::daemon::store_path(config);
    if !create && !path.exists() {
        let scratch = tempfile::tempdir().map_err(|source| DaemonError::StateDir {
            path: std::env::temp_dir(),
            source,
        })?;
        let store = Store::open(scratch.path().join(crate::daemon::STORE_FILE))?;
        return Ok(Access::Local(Local {
            store,
            path: None,
            _scratch: Some(scratch),
        }));
    }
    match crate::daemon::open_store(config) {
        Ok(store) => Ok(Access::Local(Local {
            store,
            path: Some(path),
            _scratch: None,
        })),
        Err(DaemonError::Store(StoreError::Locked { .. })) => Ok(Access::Daemon),
        Err(e) => Err(e),
    }
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| eprintln!("sharebridge: cannot start the async runtime: {e}"))
        .ok()
}

fn prepare(path: &Path) -> Result<Config, u8> {
    let (config, warnings) = crate::cli::load_config(path)?;
    // Warnings (the API-token retirement among them) and the client's own warnings go to
    // stderr, never stdout (which `--json` keeps clean).
    crate::telemetry::init("warn", crate::config::LogFormat::Text);
    for w in &warnings {
        eprintln!("  {w}");
    }
    Ok(config)
}

fn admin_client(config: &Config, path: &Path) -> Result<crate::admin::AdminClient, u8> {
    let Some(token) = config.daemon.admin_token.clone() else {
        eprintln!(
            "sharebridge: a daemon holds the store, and daemon.admin_token is not set in {}: set it (and reload the daemon) so this command can ask the daemon",
            path.display()
        );
        return Err(FAILURE);
    };
    Ok(crate::admin::AdminClient::new(config.daemon.listen, token))
}

/// `sharebridge connect ACCOUNT`.
pub fn run_connect(path: &Path, args: ConnectArgs) -> u8 {
    let config = match prepare(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !config.accounts.contains_key(&args.account) {
        eprintln!(
            "sharebridge: account {:?} is not configured in {}; see `sharebridge check-config`",
            args.account,
            path.display()
        );
        return USAGE;
    }
    let local = match open(&config, !args.dry_run) {
        Ok(Access::Local(l)) => l,
        Ok(Access::Daemon) => {
            eprintln!(
                "sharebridge: a running daemon holds the store ({}); connect writes the token pair and the webhook's secret there. Stop the daemon (`systemctl stop sharebridge`), run `sharebridge connect {}` again, then start it (`systemctl start sharebridge`)",
                crate::daemon::store_path(&config).display(),
                args.account
            );
            return FAILURE;
        }
        Err(e) => {
            eprintln!("sharebridge: {e}");
            return FAILURE;
        }
    };
    let Some(rt) = runtime() else {
        return FAILURE;
    };
    let json = args.json;
    let store = &local.store;
    let result = rt.block_on(async {
        if json {
            connect::connect(&config, store, &args, &mut std::io::stderr()).await
        } else {
            connect::connect(&config, store, &args, &mut std::io::stdout()).await
        }
    });
    match result {
        Ok(report) => {
            if json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            }
            OK
        }
        Err(e) => {
            eprintln!("sharebridge: {e}");
            FAILURE
        }
    }
}

/// `sharebridge doctor [ACCOUNT]`: exit 1 when any check fails.
pub fn run_doctor(path: &Path, args: DoctorArgs) -> u8 {
    let config = match prepare(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(a) = &args.account
        && !config.accounts.contains_key(a)
    {
        eprintln!("sharebridge: account {a:?} is not configured; see `sharebridge check-config`");
        return USAGE;
    }
    let Some(rt) = runtime() else {
        return FAILURE;
    };
    let checks = match open(&config, false) {
        Ok(Access::Local(local)) => rt.block_on(doctor_here(
            &config,
            &local.store,
            local.path.as_deref(),
            args.account.as_deref(),
        )),
        Ok(Access::Daemon) => {
            let client = match admin_client(&config, path) {
                Ok(c) => c,
                Err(code) => return code,
            };
            rt.block_on(client.doctor(args.account.as_deref()))
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    let checks = match checks {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sharebridge: {e}");
            return FAILURE;
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&checks).unwrap_or_default());
    } else {
        print!("{}", render_checks(&checks));
    }
    if checks::any_failed(&checks) {
        FAILURE
    } else {
        OK
    }
}

/// Every check of `only` (or every account) with the clients built here.
async fn doctor_here(
    config: &Config,
    store: &Store,
    path: Option<&Path>,
    only: Option<&str>,
) -> Result<Vec<checks::Check>, String> {
    let mut all = Vec::new();
    for (name, ac) in &config.accounts {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let account = Account::new(ac, store, None).map_err(|e| e.to_string())?;
        let place = match path {
            Some(p) => doctor::StorePlace::File(p),
            None => doctor::StorePlace::None,
        };
        all.extend(doctor::check_account(config, ac, &account, store, place).await);
    }
    Ok(all)
}

/// The checks as a person reads them: per account, one line each, fixes under failures.
pub fn render_checks(checks: &[checks::Check]) -> String {
    let mut out = String::new();
    let mut last = None;
    for c in checks {
        if last != Some(&c.account) {
            out.push_str(&format!("{}\n", c.account));
            last = Some(&c.account);
        }
        let mark = match c.status {
            checks::Status::Ok => "ok  ",
            checks::Status::Warn => "warn",
            checks::Status::Fail => "FAIL",
        };
        out.push_str(&format!("  {mark}  {:<15} {}\n", c.check, c.detail));
        if let Some(fix) = &c.fix
            && c.status != checks::Status::Ok
        {
            out.push_str(&format!("        {:<15} fix: {fix}\n", ""));
        }
    }
    let failed = checks
        .iter()
        .filter(|c| c.status == checks::Status::Fail)
        .count();
    let warned = checks
        .iter()
        .filter(|c| c.status == checks::Status::Warn)
        .count();
    out.push_str(&match (failed, warned) {
        (0, 0) => "every check passed\n".to_owned(),
        (0, w) => format!("no failure ({w} warning(s))\n"),
        (f, w) => format!("{f} failure(s), {w} warning(s)\n"),
    });
    out
}

/// `sharebridge fields ACCOUNT [--to ACCOUNT]`.
pub fn run_fields(path: &Path, args: FieldsArgs) -> u8 {
    let config = match prepare(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    for a in std::iter::once(&args.account).chain(args.to.iter()) {
        if !config.accounts.contains_key(a) {
            eprintln!(
                "sharebridge: account {a:?} is not configured; see `sharebridge check-config`"
            );
            return USAGE;
        }
    }
    let Some(rt) = runtime() else {
        return FAILURE;
    };
    let listed = rt.block_on(async {
        match open(&config, false).map_err(|e| e.to_string())? {
            Access::Local(local) => {
                let mut lists = Vec::new();
                for a in std::iter::once(&args.account).chain(args.to.iter()) {
                    let account = Account::new(&config.accounts[a], &local.store, None)
                        .map_err(|e| e.to_string())?;
                    lists.push(
                        fields::list(&account.client)
                            .await
                            .map_err(|e| e.to_string())?,
                    );
                }
                Ok::<_, String>(lists)
            }
            Access::Daemon => {
                let client = admin_client(&config, path).map_err(|_| String::new())?;
                let mut lists = Vec::new();
                for a in std::iter::once(&args.account).chain(args.to.iter()) {
                    lists.push(client.fields(a).await.map_err(|e| e.to_string())?);
                }
                Ok(lists)
            }
        }
    });
    let lists = match listed {
        Ok(l) => l,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("sharebridge: {e}");
            }
            return FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    match (&args.to, lists.as_slice()) {
        (Some(to), [from_fields, to_fields]) => {
            let from: Vec<crate::fields::FieldInfo> = from_fields.iter().map(Into::into).collect();
            let to_info: Vec<crate::fields::FieldInfo> = to_fields.iter().map(Into::into).collect();
            let s = crate::fields::suggest(&from, &to_info);
            if args.json {
                let _ = writeln!(stdout, "{}", fields::suggestion_json(&s));
            } else {
                let _ = write!(stdout, "{}", crate::fields::render(&s, &args.account, to));
            }
        }
        (_, [only, ..]) => {
            if args.json {
                let _ = writeln!(
                    stdout,
                    "{}",
                    serde_json::to_string(only).unwrap_or_default()
                );
            } else {
                let _ = write!(stdout, "{}", fields::table(only));
            }
        }
        _ => return FAILURE,
    }
    OK
}
