#![forbid(unsafe_code)]
pub mod sim;
pub mod zendesk;
