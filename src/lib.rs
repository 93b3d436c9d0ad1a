//! sharebridge: share support tickets between Zendesk accounts.
//!
//! Layout (see ARCHITECTURE.md for the map and its invariants):
//! - [`cli`]: the command line, the binary's edge.
//! - [`config`]: DESIGN §3 loaded, merged and checked before anything starts.
//! - [`agreement`]: agreement states, a pure function of configuration and history.
//! - [`link`], [`rules`], [`coalesce`], [`orphan`]: the other pure decisions (direction
//!   and flow, what a rule lets through, how comments are packed, why a link ended).
//! - [`store`]: the store (an embedded redb file, or PostgreSQL), the one place that
//!   knows the key layout and the storage engines.
//! - [`server`]: webhooks, health, metrics, admin API, status page.
//! - [`daemon`]: wiring, signals, shutdown; [`leader`]: the same with several daemons on
//!   one PostgreSQL store, one leading; [`demo`]: simulator + daemon + a verified story.
//! - [`engine`]: the sync workers.
//! - [`fields`]: `sharebridge fields` suggestions (pure field and option matching).
//! - [`setup`]: going live: `connect` (OAuth sign-in, the bridge's webhook), `doctor`,
//!   `fields`.
//! - [`system`]: Zendesk's own fields across a link and the mismatches reported (pure).
//! - [`zendesk`]: Zendesk's wire format (models, webhook signing).
//! - [`telemetry`]: logging setup.
//! - [`visibility`]: who in the receiver can see a mirror, and why (pure).
//! - [`preview`]: `plan` and `visibility`: what would be shared and who would see it,
//!   by reads alone.
#![forbid(unsafe_code)]

pub mod admin;
pub mod agreement;
pub mod attachments;
pub mod bench;
pub mod chaos;
pub mod cli;
pub mod clock;
pub mod coalesce;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod engine;
pub mod fields;
pub mod leader;
pub mod link;
pub mod metrics;
pub mod migrate;
pub mod orphan;
pub mod output;
pub mod plan;
pub mod preview;
pub mod privacy;
pub mod rules;
pub mod server;
pub mod setup;
pub mod sim;
pub mod store;
pub mod system;
pub mod tasks;
pub mod telemetry;
pub mod visibility;
pub mod zendesk;
