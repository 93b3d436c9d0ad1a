//! The sync engine: detect → decide → write → record. Workers move data between Zendesk,
//! the store and the pure core (`agreement`, `link`, `rules`, `coalesce`, `orphan`).
//!
//! Architecture invariant: decisions live in the pure modules; this module sequences I/O
//! and records every Zendesk write in the store before the next one.

pub mod hints;
