#![forbid(unsafe_code)]
pub mod store;
pub mod zendesk;
