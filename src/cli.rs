//! The command line (DESIGN §2): parse, dispatch, map outcomes to exit codes
//! (0 ok, 1 runtime failure, 2 bad usage or invalid configuration). This is the binary's
//! edge: `anyhow` is allowed here and nowhere else in the library. `check.rs` loads and
//! summarises the configuration; `format.rs` prints what the admin commands answer.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod check;
mod format;

use check::check_config;
pub use check::{connections_summary, load_config, summary};
use format::{format_agreements, format_audit, format_link, format_links, format_orphans, output};

const DEFAULT_CONFIG: &str = "/etc/sharebridge/sharebridge.toml";

#[derive(Debug, Parser)]
#[command(
    name = "sharebridge",
    version,
    about = "Share support tickets between Zendesk accounts"
)]
pub struct Cli {
    /// The main configuration file; `conf.d/*.toml` beside it is merged in. Default:
    /// $SHAREBRIDGE_CONFIG when set and not empty, else /etc/sharebridge/sharebridge.toml.
    #[arg(long = "config", global = true, value_name = "PATH")]
    config_flag: Option<PathBuf>,
    /// The file used: `--config`, else `$SHAREBRIDGE_CONFIG`, else the default
    /// ([`config_path`]); set by [`Cli::parse_env`].
    #[arg(skip)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct JsonFlag {
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (what systemd starts).
    Run,
    /// Validate the configuration and credentials files; exit 2 on any problem.
    CheckConfig,
    /// Sharing agreements and their states.
    #[command(subcommand)]
    Agreements(AgreementsCommand),
    /// Share one ticket now (needs an accepted agreement).
    Share(ShareArgs),
    /// End a link; the mirror becomes an orphan.
    Unshare(ShareArgs),
    /// Shared tickets.
    #[command(subcommand)]
    Links(LinksCommand),
    /// Mirrors whose link has ended.
    #[command(subcommand)]
    Orphans(OrphansCommand),
    /// Re-read both sides of a link and repair the mirror (idempotent).
    Resync(ResyncArgs),
    /// The audit log: agreement transitions, shares, unshares, orphanings.
    Audit(JsonFlag),
    /// Write a consistent copy of the store while the daemon runs.
    Backup(BackupArgs),
    /// The store itself (with the daemons stopped).
    #[command(subcommand)]
    Store(StoreCommand),
    /// The Zendesk API simulator.
    Sim(crate::sim::SimArgs),
    /// Simulator + daemon + sample traffic, end to end, on this machine.
    Demo(DemoArgs),
    /// Throughput, latency and API calls per mirrored comment, on loopback.
    Bench(BenchArgs),
    /// A dry run that only reads: what each agreement would share now, what would cross
    /// and be held back, where mirrors land and who there could see them.
    Plan(crate::preview::run::PlanArgs),
    /// Who in the receiving account can see a link's mirror (or an agreement's), and why.
    Visibility(crate::preview::run::VisibilityArgs),
    /// Sign the bridge in to an account (OAuth) and set up its webhook.
    Connect(crate::setup::ConnectArgs),
    /// Check each account from outside; exit 1 on any failure, each with its fix.
    Doctor(crate::setup::DoctorArgs),
    /// An account's ticket fields, or a suggested [[agreements.fields]] block (--to).
    Fields(crate::setup::FieldsArgs),
    /// Deterministic simulation: simulator and daemon in one process on simulated time,
    /// under seeded faults, crashes and interleavings; per seed its violations and the
    /// digest of its trace.
    Chaos(ChaosArgs),
}

#[derive(Debug, Args)]
pub struct ChaosArgs {
    /// One seed; a failure is shrunk and the command that replays it printed.
    #[arg(long, conflicts_with = "seeds", required_unless_present_any = ["seeds", "features"])]
    pub seed: Option<u64>,
    /// Seeds N..M (M excluded; N..=M includes it), run on several threads.
    #[arg(long, value_parser = crate::chaos::command::parse_range)]
    pub seeds: Option<(u64, u64)>,
    /// Leave these events of the seed's schedule out: indices and ranges, e.g. 0-4,7.
    #[arg(long, requires = "seed")]
    pub drop: Option<String>,
    /// Never exercise these features (comma-separated; --features lists them).
    #[arg(long)]
    pub exclude: Option<String>,
    /// Shrink failing seeds of a --seeds range too (a single --seed always is).
    #[arg(long)]
    pub shrink: bool,
    /// Do not shrink a failing --seed.
    #[arg(long, conflicts_with = "shrink")]
    pub no_shrink: bool,
    /// Shrink to keep a violation of this kind (lost, duplicated, reordered, leaked,
    /// privacy, echoed, consent, crossed, loop, not-shared, not-orphaned, …), or with
    /// =TEXT one whose words contain TEXT; default: the first violation's kind.
    #[arg(long, value_name = "KIND")]
    pub shrink_for: Option<String>,
    /// Seeds run at once, one OS thread each (default: the number of CPUs).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the seed's whole trace.
    #[arg(long, requires = "seed")]
    pub trace: bool,
    /// Print the seeds' schedules (events with their indices) and exit.
    #[arg(long)]
    pub schedule: bool,
    /// List the features a seed may exercise and exit.
    #[arg(long)]
    pub features: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum AgreementsCommand {
    /// Every agreement with state, since when and pairing.
    List(JsonFlag),
}

#[derive(Debug, Subcommand)]
pub enum LinksCommand {
    /// Every link with direction, state and last sync.
    List(JsonFlag),
    /// One link in detail.
    Show {
        id: u64,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrphansCommand {
    /// Orphans with source, reason and since when.
    List(JsonFlag),
}

#[derive(Debug, Args)]
pub struct ShareArgs {
    /// The account holding the source ticket.
    pub account: String,
    /// The source ticket id.
    pub ticket: u64,
    /// The receiving account.
    #[arg(long)]
    pub to: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ResyncArgs {
    /// The link id.
    pub link: u64,
    /// Re-attach an orphan to its existing mirror.
    #[arg(long)]
    pub relink: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the copy.
    pub path: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy the whole store to another backend (the embedded file to PostgreSQL, or
    /// back), verified by counts and checksums; the daemons must be stopped.
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Where to: `postgres://user@host/database`, or a new file's path.
    #[arg(long)]
    pub to: String,
    /// A file holding the target database's password (instead of one in the URL).
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A short run (for tests): every phase, small sizes; the figures mean little.
    #[arg(long)]
    pub quick: bool,
    /// The daemon's `daemon.ordering`: `per-ticket` (the default) or `arrival`.
    #[arg(long, value_parser = ["per-ticket", "arrival"])]
    pub ordering: Option<String>,
    /// Only the scale phase (N accounts at their limits: CPU per account).
    #[arg(long)]
    pub scale_only: bool,
    /// Only the attachments phase (MB/s mirrored, the daemon's peak RSS with a large file).
    #[arg(long, conflicts_with = "scale_only")]
    pub attachments_only: bool,
    /// Internal: time READY on the store in this state directory, print JSON, exit.
    #[arg(long, hide = true, value_name = "STATE_DIR")]
    pub ready_child: Option<PathBuf>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Leave the simulator and daemon running afterwards, with the status page.
    #[arg(long)]
    pub keep_running: bool,
}

/// Exit codes of DESIGN §2.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
}

/// Parses the command line and runs it.
/// Which configuration file a command uses: `--config PATH`, else `$SHAREBRIDGE_CONFIG`
/// unless it is empty (systemd's `Environment=SHAREBRIDGE_CONFIG=` or a script may leave
/// it set but empty, which means unset), else [`DEFAULT_CONFIG`]. Pure.
pub fn config_path(flag: Option<PathBuf>, env: Option<std::ffi::OsString>) -> PathBuf {
    flag.filter(|p| !p.as_os_str().is_empty())
        .or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
}

impl Cli {
    /// Parses the process's arguments and resolves the configuration path against
    /// `$SHAREBRIDGE_CONFIG`.
    pub fn parse_env() -> Result<Cli, clap::Error> {
        let mut cli = Cli::try_parse()?;
        cli.config = config_path(
            cli.config_flag.take(),
            std::env::var_os("SHAREBRIDGE_CONFIG"),
        );
        Ok(cli)
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::parse_env() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    ExitCode::from(run(cli))
}

/// Runs one parsed command; returns the exit code.
pub fn run(cli: Cli) -> u8 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if !matches!(cli.command, Command::Run) {
        crate::output::quiet_on_closed_stdout();
    }
    match cli.command {
        Command::CheckConfig => check_config(&cli.config),
        Command::Run => run_daemon(&cli.config),
        Command::Sim(args) => run_sim(args),
        Command::Demo(args) => run_demo(args),
        Command::Bench(args) => run_bench(&args),
        Command::Plan(args) => crate::preview::run::run_plan(&cli.config, args),
        Command::Visibility(args) => crate::preview::run::run_visibility(&cli.config, args),
        Command::Connect(args) => crate::setup::run_connect(&cli.config, args),
        Command::Doctor(args) => crate::setup::run_doctor(&cli.config, args),
        Command::Fields(args) => crate::setup::run_fields(&cli.config, args),
        Command::Chaos(args) => run_chaos(&args),
        Command::Store(StoreCommand::Migrate(args)) => run_migrate(&cli.config, &args),
        command => admin(&cli.config, command),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("cannot start the async runtime: {e}");
            exit::FAILURE
        })
}

fn run_daemon(path: &Path) -> u8 {
    let (config, warnings) = match load_config(path) {
        Ok(v) => v,
        Err(code) => return code,
    };
    crate::telemetry::init(&config.daemon.log_level, config.daemon.log_format);
    for w in &warnings {
        tracing::warn!(file = %w.file, key = %w.key, "{}", w.reason);
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(crate::daemon::run(path, config)) {
        Ok(()) => exit::OK,
        Err(e) => {
            tracing::error!(error = %e, "sharebridge stopped");
            eprintln!("sharebridge: {e}");
            exit::FAILURE
        }
    }
}

fn run_migrate(path: &Path, args: &MigrateArgs) -> u8 {
    let (config, _) = match load_config(path) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let password = match &args.password_file {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(text) => Some(text.trim_end_matches(['\n', '\r']).to_owned()),
            Err(e) => {
                eprintln!(
                    "sharebridge: cannot read the password file {}: {e}",
                    p.display()
                );
                return exit::USAGE;
            }
        },
        None => None,
    };
    let target = crate::migrate::Target::parse(&args.to);
    match crate::migrate::migrate(&config, &target, password.as_deref()) {
        Ok(report) => {
            print!(
                "{}",
                output(&report, args.json.json, |r| crate::migrate::describe(
                    r, &target, path
                ))
            );
            exit::OK
        }
        Err(e) => {
            eprintln!("sharebridge: store migrate: {e}");
            exit::FAILURE
        }
    }
}

fn run_sim(args: crate::sim::SimArgs) -> u8 {
    crate::telemetry::init("info", crate::config::LogFormat::Text);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = rt.block_on(crate::sim::run(args, shutdown_signal()));
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("sharebridge sim: {e}");
            exit::USAGE
        }
    }
}

fn run_demo(args: DemoArgs) -> u8 {
    // Quiet by default: the story is the output; RUST_LOG still turns logs on.
    crate::telemetry::init("warn", crate::config::LogFormat::Text);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(crate::demo::run(args.keep_running, shutdown_signal())) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("sharebridge demo: {e}");
            exit::FAILURE
        }
    }
}

/// `sharebridge bench`: needs no configuration; logs only warnings, to stderr.
fn run_bench(args: &BenchArgs) -> u8 {
    // The simulator's undeliverable webhooks while the daemon is paused are expected.
    crate::telemetry::init(
        "warn,sharebridge::sim::webhooks=error",
        crate::config::LogFormat::Text,
    );
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    if let Some(state) = &args.ready_child {
        return match rt.block_on(crate::bench::ready_here(state)) {
            Ok(ready) => {
                println!("{}", serde_json::to_string(&ready).unwrap_or_default());
                exit::OK
            }
            Err(e) => {
                eprintln!("sharebridge {e}");
                exit::FAILURE
            }
        };
    }
    let options = crate::bench::Options {
        quick: args.quick,
        ordering: args.ordering.clone(),
        scale_only: args.scale_only,
        attachments_only: args.attachments_only,
        exe: std::env::current_exe().ok(),
    };
    match rt.block_on(crate::bench::run(options)) {
        Ok(report) => {
            if args.json.json {
                println!("{}", crate::bench::to_json(&report));
            } else {
                print!("{}", crate::bench::to_table(&report));
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("sharebridge {e}");
            exit::FAILURE
        }
    }
}

/// `sharebridge chaos`: needs no configuration and logs nothing (`RUST_LOG` turns
/// logs on, for one seed).
fn run_chaos(args: &ChaosArgs) -> u8 {
    if std::env::var_os("RUST_LOG").is_some() {
        crate::telemetry::init("warn", crate::config::LogFormat::Text);
    }
    let (from, to) = match (args.seed, args.seeds) {
        (Some(s), _) => (s, s.saturating_add(1)),
        (None, Some(r)) => r,
        (None, None) => (0, 1),
    };
    let shrink = if args.shrink {
        Some(true)
    } else if args.no_shrink {
        Some(false)
    } else {
        None
    };
    crate::chaos::command::run(&crate::chaos::command::Request {
        from,
        to,
        drop: args.drop.clone(),
        exclude: args.exclude.clone(),
        shrink,
        shrink_for: args.shrink_for.clone(),
        threads: args.threads,
        trace: args.trace,
        schedule: args.schedule,
        features: args.features,
        json: args.json.json,
    })
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                biased;
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The commands that talk to a running daemon's admin API.
fn admin(path: &Path, command: Command) -> u8 {
    let (config, _) = match load_config(path) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let Some(token) = config.daemon.admin_token.clone() else {
        eprintln!(
            "sharebridge: daemon.admin_token is not set in {}: the daemon's admin API refuses every request; set admin_token_file (or admin_token) and reload the daemon",
            path.display()
        );
        return exit::FAILURE;
    };
    let client = crate::admin::AdminClient::new(config.daemon.listen, token);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let printed = rt.block_on(async {
        match command {
            Command::Agreements(AgreementsCommand::List(f)) => client
                .agreements()
                .await
                .map(|v| output(&v, f.json, |v| format_agreements(v))),
            Command::Links(LinksCommand::List(f)) => client
                .links()
                .await
                .map(|v| output(&v, f.json, |v| format_links(v))),
            Command::Links(LinksCommand::Show { id, json }) => match client.link(id).await {
                // Who can see the mirror, read by the daemon; a failure to read it is
                // shown, never the command's failure.
                Ok(detail) => {
                    let vis = client.link_visibility(id).await.map_err(|e| e.to_string());
                    Ok(if json.json {
                        let mut v = serde_json::to_value(&detail).unwrap_or_default();
                        v["visibility"] = match &vis {
                            Ok(view) => serde_json::to_value(view).unwrap_or_default(),
                            Err(_) => serde_json::Value::Null,
                        };
                        if let Err(e) = &vis {
                            v["visibility_error"] = serde_json::Value::String(e.clone());
                        }
                        format!("{v}\n")
                    } else {
                        let mut text = format_link(&detail);
                        match &vis {
                            Ok(view) => {
                                text.push_str(&format!("visibility: {}\n", view.summary()));
                                for w in view.warnings.iter().skip(1) {
                                    text.push_str(&format!("  warning: {}\n", w.message));
                                }
                            }
                            Err(e) => {
                                text.push_str(&format!("visibility: could not be read: {e}\n"))
                            }
                        }
                        text
                    })
                }
                Err(e) => Err(e),
            },
            Command::Orphans(OrphansCommand::List(f)) => client
                .orphans()
                .await
                .map(|v| output(&v, f.json, |v| format_orphans(v))),
            Command::Audit(f) => client
                .audit()
                .await
                .map(|v| output(&v, f.json, |v| format_audit(v))),
            Command::Share(a) => client.share(&a.account, a.ticket, &a.to).await.map(|l| {
                output(&l, a.json.json, |l| {
                    format!(
                        "shared as link {}\n{}",
                        l.id,
                        format_links(std::slice::from_ref(l))
                    )
                })
            }),
            Command::Unshare(a) => client.unshare(&a.account, a.ticket, &a.to).await.map(|o| {
                output(&o, a.json.json, |o| {
                    format!(
                        "unshared: link {} ended\n{}",
                        o.link,
                        format_orphans(std::slice::from_ref(o))
                    )
                })
            }),
            Command::Resync(a) => client.resync(a.link, a.relink).await.map(|l| {
                output(&l, a.json.json, |l| {
                    format!("resynced\n{}", format_links(std::slice::from_ref(l)))
                })
            }),
            Command::Backup(b) => {
                let dest = std::path::absolute(&b.path).unwrap_or(b.path.clone());
                client
                    .backup(&dest.to_string_lossy())
                    .await
                    .map(|_| format!("store copied to {}\n", dest.display()))
            }
            _ => unreachable!("dispatched above"),
        }
    });
    match printed {
        Ok(text) => {
            print!("{text}");
            exit::OK
        }
        Err(e) => {
            eprintln!("sharebridge: {e}");
            exit::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_path_flag_then_non_empty_env_then_default() {
        let p = |s: &str| Some(PathBuf::from(s));
        let e = |s: &str| Some(std::ffi::OsString::from(s));
        let table = [
            (p("/a.toml"), e("/b.toml"), "/a.toml"),
            (p("/a.toml"), e(""), "/a.toml"),
            (None, e("/b.toml"), "/b.toml"),
            (None, e(""), DEFAULT_CONFIG),
            (None, None, DEFAULT_CONFIG),
            (p(""), None, DEFAULT_CONFIG),
        ];
        for (flag, env, want) in table {
            assert_eq!(config_path(flag, env), PathBuf::from(want));
        }
    }

    /// `links show` lists the link's mismatches by ids, with what to do; and the JSON the
    /// admin API sends carries them (flattened with the link).
    #[test]
    fn links_show_lists_mismatches_by_ids() {
        use crate::system::{Mismatch, MismatchKind};
        let at: jiff::Timestamp = "2026-11-25T12:00:00Z".parse().unwrap();
        let link = crate::store::Link {
            id: 7,
            agreement: "acme-to-vendor".into(),
            source_account: "acme".into(),
            source_ticket: 101,
            target_account: "vendor".into(),
            target_ticket: Some(202),
            direction: crate::link::Direction::TwoWay,
            state: crate::store::LinkState::Active,
            error: None,
            created_at: at,
            updated_at: at,
            last_synced_at: Some(at),
            idempotency_key: "k".into(),
            mismatches: vec![
                Mismatch {
                    kind: MismatchKind::UnmappedValue,
                    flow: crate::link::Flow::SourceToTarget,
                    sender_id: 360001,
                    receiver_id: Some(900002),
                },
                Mismatch {
                    kind: MismatchKind::UnmappedGroup,
                    flow: crate::link::Flow::TargetToSource,
                    sender_id: 55,
                    receiver_id: None,
                },
            ],
            untagged_share: false,
        };
        let detail = crate::server::api::LinkDetail {
            link,
            lag_seconds: Some(3),
            pending_writes: 0,
            orphan: None,
        };
        let out = format_link(&detail);
        assert!(
            out.contains("mismatch: source-to-target unmapped_value field 360001 -> 900002"),
            "{out}"
        );
        assert!(
            out.contains("mismatch: target-to-source unmapped_group group 55 (no mapping)"),
            "{out}"
        );
        assert!(out.contains("add the group to system.groups"), "{out}");
        let json = serde_json::to_value(&detail).unwrap();
        assert_eq!(json["mismatches"][0]["kind"], "unmapped_value");
        assert_eq!(json["mismatches"][1]["flow"], "target-to-source");
        assert_eq!(json["state"], "active");
        let back: crate::server::api::LinkDetail = serde_json::from_value(json).unwrap();
        assert_eq!(back.link.mismatches, detail.link.mismatches);
    }
}
