//! `sharebridge plan` and `sharebridge visibility` for the CLI.
//!
//! Where they run, as `doctor` and `fields` do: while a daemon holds the store (redb
//! locks the file), or when the store is PostgreSQL (`daemon.store`: the daemons' own,
//! the leader holding the clients), they ask its admin API (`GET /api/plan`, `GET /api/links/{id}/
//! visibility`, `GET /api/visibility?agreement=`), which runs the same code with the
//! daemon's clients (one process rotates an OAuth pair; one budget). Without a daemon they
//! run here: the store is opened read-only (the links to leave out, the agreements'
//! history); when an account authenticates with OAuth it is opened for writing instead,
//! only so that a refreshed token pair can be saved before it is used (Zendesk deletes the
//! old one), which is the one write these commands can cause. With no store yet, an empty
//! one in a temporary directory stands in (nothing is left behind).
//!
//! Must not: print a token, a body or a subject.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::agreement::{self, Stored};
use crate::cli::exit;
use crate::config::{AccountAuth, Config};
use crate::store::{Store, StoreError};

use super::gather::{self, PreviewError, Side, Sources};
use super::{DEFAULT_LIMIT, text};

/// `sharebridge plan` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Plan this agreement only (default: every agreement).
    pub agreement: Option<String>,
    /// Detail at most this many tickets per agreement (the rest are counted, not read).
    #[arg(long, default_value_t = DEFAULT_LIMIT)]
    pub limit: usize,
    /// Print the plan as JSON (names in README, "plan --json").
    #[arg(long)]
    pub json: bool,
}

/// `sharebridge visibility` flags: a link, or an agreement.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["link", "agreement"])))]
pub struct VisibilityArgs {
    /// The link whose mirror is judged as it is.
    pub link: Option<u64>,
    /// Judge a mirror as this agreement would create it.
    #[arg(long, value_name = "NAME")]
    pub agreement: Option<String>,
    /// Print JSON (names in README, "visibility --json").
    #[arg(long)]
    pub json: bool,
}

/// Where the command runs.
enum Access {
    /// Here, over this store (`_scratch` holds a temporary one alive).
    Local {
        store: Store,
        _scratch: Option<tempfile::TempDir>,
    },
    /// Through the running daemon's admin API.
    Daemon,
}

fn open(config: &Config) -> Result<Access, String> {
    // A PostgreSQL store is the daemons' (one leads, with the clients): ask it.
    if config.daemon.store.is_some() {
        return Ok(Access::Daemon);
    }
    let path = crate::daemon::store_path(config);
    if !path.exists() {
        let scratch = tempfile::tempdir().map_err(|e| format!("a temporary store: {e}"))?;
        let store = Store::open(scratch.path().join(crate::daemon::STORE_FILE))
            .map_err(|e| e.to_string())?;
        return Ok(Access::Local {
            store,
            _scratch: Some(scratch),
        });
    }
    let oauth = config
        .accounts
        .values()
        .any(|a| matches!(a.auth, AccountAuth::OAuth { .. }));
    let opened = if oauth {
        Store::open_existing(&path)
    } else {
        Store::open_read_only(&path)
    };
    match opened {
        Ok(store) => Ok(Access::Local {
            store,
            _scratch: None,
        }),
        Err(StoreError::Locked { .. }) => Ok(Access::Daemon),
        Err(e) => Err(format!(
            "{e}; with the daemon running this command asks it instead (`systemctl start sharebridge`)"
        )),
    }
}

/// Sources read here: the store's agreement history and clients built from the
/// configuration (read-only handles).
fn local_sources(config: &Config, store: &Store) -> Result<Sources, String> {
    let stored: BTreeMap<String, Stored> = store
        .agreements()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(name, r)| {
            let s = Stored {
                name: name.clone(),
                from: r.from,
                to: r.to,
                state: r.state,
                since: r.since,
                inactive_by: r.inactive_by,
            };
            (name, s)
        })
        .collect();
    let states = agreement::derive(&config.offers(), &stored, crate::clock::now());
    let mut sides = BTreeMap::new();
    for (name, ac) in &config.accounts {
        let account = crate::engine::Account::new(ac, store, None)
            .map_err(|e| format!("account {name}: {e}"))?;
        sides.insert(
            name.clone(),
            Side {
                subdomain: account.subdomain.clone(),
                client: account.client.read_only(),
                bridge_user: None,
            },
        );
    }
    Ok(Sources {
        config: Arc::new(config.clone()),
        store: store.clone(),
        states,
        sides,
    })
}

fn prepare(path: &Path) -> Result<Config, u8> {
    let (config, warnings) = crate::cli::load_config(path)?;
    // Warnings and the client's own go to stderr: stdout stays clean for `--json`.
    crate::telemetry::init("warn", crate::config::LogFormat::Text);
    for w in &warnings {
        eprintln!("  {w}");
    }
    Ok(config)
}

fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("sharebridge: cannot start the async runtime: {e}");
            exit::FAILURE
        })
}

fn admin_client(config: &Config, path: &Path) -> Result<crate::admin::AdminClient, String> {
    let Some(token) = config.daemon.admin_token.clone() else {
        return Err(format!(
            "a daemon holds the store, and daemon.admin_token is not set in {}: set it (and reload the daemon) so this command can ask the daemon",
            path.display()
        ));
    };
    Ok(crate::admin::AdminClient::new(config.daemon.listen, token))
}

/// An error as the exit code DESIGN §2 gives it, printed.
fn fail(e: &Failure) -> u8 {
    eprintln!("sharebridge: {}", e.message);
    if e.usage { exit::USAGE } else { exit::FAILURE }
}

struct Failure {
    message: String,
    usage: bool,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            usage: false,
        }
    }
}

impl From<PreviewError> for Failure {
    fn from(e: PreviewError) -> Failure {
        Failure {
            usage: e.is_usage(),
            message: e.to_string(),
        }
    }
}

impl From<crate::admin::AdminError> for Failure {
    fn from(e: crate::admin::AdminError) -> Failure {
        Failure::from(e.to_string())
    }
}

fn unknown_agreement(config: &Config, name: &str) -> Option<u8> {
    if config.agreements.iter().any(|a| a.name == name) {
        return None;
    }
    Some(fail(
        &PreviewError::UnknownAgreement(name.to_owned()).into(),
    ))
}

/// `sharebridge plan [AGREEMENT] [--limit N] [--json]`.
pub fn run_plan(path: &Path, args: PlanArgs) -> u8 {
    let config = match prepare(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(name) = &args.agreement
        && let Some(code) = unknown_agreement(&config, name)
    {
        return code;
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result: Result<super::PlanReport, Failure> = rt.block_on(async {
        match open(&config)? {
            Access::Local { store, .. } => {
                let sources = local_sources(&config, &store)?;
                Ok(gather::plan(&sources, args.agreement.as_deref(), args.limit).await?)
            }
            Access::Daemon => {
                let client = admin_client(&config, path)?;
                Ok(client.plan(args.agreement.as_deref(), args.limit).await?)
            }
        }
    });
    match result {
        Ok(report) if args.json => {
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
            exit::OK
        }
        Ok(report) => {
            print!("{}", text::render_plan(&report));
            exit::OK
        }
        Err(e) => fail(&e),
    }
}

/// `sharebridge visibility LINK | --agreement NAME [--json]`.
pub fn run_visibility(path: &Path, args: VisibilityArgs) -> u8 {
    let config = match prepare(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(name) = &args.agreement
        && let Some(code) = unknown_agreement(&config, name)
    {
        return code;
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result: Result<crate::visibility::View, Failure> = rt.block_on(async {
        match open(&config)? {
            Access::Local { store, .. } => {
                let sources = local_sources(&config, &store)?;
                Ok(match (args.link, &args.agreement) {
                    (Some(link), _) => gather::visibility_of_link(&sources, link).await?,
                    (None, Some(name)) => gather::visibility_of_agreement(&sources, name).await?,
                    (None, None) => unreachable!("clap requires one"),
                })
            }
            Access::Daemon => {
                let client = admin_client(&config, path)?;
                Ok(match (args.link, &args.agreement) {
                    (Some(link), _) => client.link_visibility(link).await?,
                    (None, Some(name)) => client.agreement_visibility(name).await?,
                    (None, None) => unreachable!("clap requires one"),
                })
            }
        }
    });
    match result {
        Ok(view) if args.json => {
            println!("{}", serde_json::to_string(&view).unwrap_or_default());
            exit::OK
        }
        Ok(view) => {
            print!("{}", text::render_view(&view));
            exit::OK
        }
        Err(e) => fail(&e),
    }
}
