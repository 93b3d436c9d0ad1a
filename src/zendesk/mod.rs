//! Everything that knows Zendesk's wire format: the JSON models ([`models`]), webhook
//! signing ([`signature`]), the Webhooks API's types ([`webhooks`]), the OAuth sign-in
//! (PKCE, [`oauth`]) and the API client of one account ([`client`]).
//!
//! Architecture invariant: only this module (and the simulator, through it) knows Zendesk's
//! JSON field names, envelopes and headers. Nothing here touches the store or the rules.

pub mod client;
pub mod models;
pub mod oauth;
pub mod signature;
pub mod webhooks;
