#![forbid(unsafe_code)]
pub mod zendesk;
