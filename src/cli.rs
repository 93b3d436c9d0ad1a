//! The command line (DESIGN §2): parse, dispatch, map outcomes to exit codes
//! (0 ok, 1 runtime failure, 2 bad usage or invalid configuration). This is the binary's
//! edge: `anyhow` is allowed here and nowhere else in the library.
//!
//! A command whose capability is not built yet says so and exits 1; it never fakes output.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::agreement::{self, State};
use crate::config::{self, Config, ConfigError, Severity};

const DEFAULT_CONFIG: &str = "/etc/sharebridge/sharebridge.toml";

#[derive(Debug, Parser)]
#[command(
    name = "sharebridge",
    version,
    about = "Share support tickets between Zendesk accounts"
)]
pub struct Cli {
    /// The main configuration file; `conf.d/*.toml` beside it is merged in.
    #[arg(long, global = true, env = "SHAREBRIDGE_CONFIG", default_value = DEFAULT_CONFIG)]
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
    /// The Zendesk API simulator.
    Sim,
    /// Simulator + daemon + sample traffic, end to end, on this machine.
    Demo(DemoArgs),
    /// Throughput, latency and API calls per mirrored comment, on loopback.
    Bench(JsonFlag),
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
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
    match &cli.command {
        Command::CheckConfig => check_config(&cli.config),
        Command::Run => not_yet("run", "the sync engine"),
        Command::Agreements(_) => not_yet("agreements list", "the daemon's admin API"),
        Command::Share(_) => not_yet("share", "the daemon's admin API"),
        Command::Unshare(_) => not_yet("unshare", "the daemon's admin API"),
        Command::Links(_) => not_yet("links", "the daemon's admin API"),
        Command::Orphans(_) => not_yet("orphans list", "orphan detection"),
        Command::Resync(_) => not_yet("resync", "the daemon's admin API"),
        Command::Audit(_) => not_yet("audit", "the daemon's admin API"),
        Command::Backup(_) => not_yet("backup", "the daemon's admin API"),
        Command::Sim => not_yet("sim", "the Zendesk simulator"),
        Command::Demo(_) => not_yet("demo", "the sync engine"),
        Command::Bench(_) => not_yet("bench", "the sync engine"),
    }
}

fn not_yet(command: &str, needs: &str) -> u8 {
    eprintln!(
        "sharebridge {command} is not available yet in this build: it needs {needs}, which is still being built."
    );
    exit::FAILURE
}

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

fn check_config(path: &Path) -> u8 {
    let (config, warnings) = match load_config(path) {
        Ok(v) => v,
        Err(code) => return code,
    };
    for w in &warnings {
        eprintln!("  {w}");
    }
    print!("{}", summary(&config));
    exit::OK
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
    let _ = writeln!(out, "accounts ({}):", config.accounts.len());
    for a in config.accounts.values() {
        let _ = writeln!(
            out,
            "  {:<12} {:<24} {:<9} {:>5} req/min  webhooks {}",
            a.name,
            a.base_url,
            a.auth.kind(),
            a.requests_per_minute,
            if a.webhook_secret.is_some() {
                "on"
            } else {
                "off (polling only)"
            }
        );
    }
    let derived = agreement::derive(
        &config.offers(),
        &Default::default(),
        jiff::Timestamp::now(),
    );
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
