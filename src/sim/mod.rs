//! The Zendesk Support API simulator (`sharebridge sim`, and in-process for tests).
//!
//! Owns: one in-memory Zendesk account per `--account NAME=ADDR`, each on its own listener,
//! speaking the documented Support API (paths, envelopes, pagination, errors, headers,
//! limits), plus control endpoints under `/sim/*` (stats, OAuth provisioning, knobs).
//!
//! Layout:
//! - [`config`]: `SimArgs` (CLI), `SimConfig` and its pure parsing; runtime knobs.
//! - `routes`: one account's API as axum routes (the route template is the `/sim/stats`
//!   key) and the per-request pipeline (stats → fault → auth → limits → handler →
//!   webhooks → headers); `control`: the `/sim/*` endpoints.
//! - `server`: [`Simulator`], the handle: listeners ([`Simulator::start`]) or none
//!   ([`Simulator::in_process`], with a caller's [`WebhookSender`] and a simulated clock),
//!   [`Simulator::router`] / [`Simulator::handle`] for in-process callers, and helpers
//!   that act as an agent in the web UI.
//! - `state`: one account's data (tickets, comments, users, catalog, audits) and rendering.
//! - `tickets`, `comments`, `export`, `users`, `catalog`, `forms`, `uploads`, `oauth`:
//!   handlers by resource, synchronous functions over `&mut Account` (testable without HTTP).
//! - `limits`, `faults`, `pagination`, `clock`: pure arithmetic and seeded decisions.
//! - `stats`, `webhooks`: request counters; signed webhook delivery through a
//!   [`WebhookSender`] (HTTP by default).
//! - `redaction`: string, agent-workspace and attachment redaction.
//! - `files`: the file host `content_url` redirects to (one listener for all accounts).
//!
//! Architecture invariants: the simulator shares only `crate::zendesk` (wire types and
//! webhook signing) with the bridge and must never import anything else from the crate;
//! it keeps no state on disk; it logs no comment bodies, tokens or secrets; a request's
//! fault is decided before the request has any effect (except the documented
//! `drop-after-commit` kind); `/sim/*` control endpoints never see faults or limits.

pub mod clock;
pub mod config;
pub mod error;
pub mod faults;
pub mod limits;
pub mod pagination;
pub mod stats;

mod catalog;
mod comments;
mod control;
mod directory;
mod export;
mod files;
mod forms;
mod http;
mod oauth;
mod oauth_flow;
mod redaction;
mod routes;
mod search;
mod server;
mod state;
mod ticket_write;
mod tickets;
mod uploads;
mod users;
mod webhooks;
mod webhooks_api;

pub use config::{
    AccountSpec, FaultKind, FaultSettings, Limits, SimArgs, SimConfig, WebhookSpec, WebhookStyle,
};
pub use control::KnobsPatch;
pub use error::{SimApiError, SimError};
pub use oauth::OAuthGrant;
pub use server::Simulator;
pub use stats::StatsSnapshot;
pub use webhooks::{HttpSender, WebhookCounters, WebhookDelivery, WebhookSender};

use std::future::Future;

/// Runs the simulator for the CLI: binds every account, prints one line per account
/// (`account acme listening on http://127.0.0.1:18081`) and serves until `shutdown`.
pub async fn run(args: SimArgs, shutdown: impl Future<Output = ()>) -> Result<(), SimError> {
    let config = SimConfig::from_args(&args)?;
    let sim = Simulator::start(config).await?;
    for name in sim.account_names() {
        println!("account {name} listening on {}", sim.base_url(&name));
    }
    shutdown.await;
    sim.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    #[tokio::test]
    async fn run_serves_until_shutdown() {
        let cli = Cli::try_parse_from(["sim", "--account", "acme=127.0.0.1:0"]).unwrap();
        run(cli.sim, async {}).await.unwrap();
        let cli = Cli::try_parse_from(["sim", "--account", "acme:127.0.0.1:0"]).unwrap();
        let err = run(cli.sim, async {}).await.unwrap_err();
        assert!(err.to_string().contains("expected NAME=ADDR"), "{err}");
    }

    #[tokio::test]
    async fn bind_failure_names_account_and_address() {
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let mut cfg = SimConfig::local(&["acme", "vendor"]);
        cfg.accounts[1].addr = addr;
        let err = Simulator::start(cfg).await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("vendor") && msg.contains(&addr.to_string()),
            "{msg}"
        );
    }
}
