//! The schema version of the store file and the migrations between versions.
//!
//! The version lives in the `meta` table. Opening a file runs, in one write transaction,
//! either the initialisation of a new file or the migrations from the file's version up
//! to [`SCHEMA_VERSION`]; a file from a newer sharebridge is refused, untouched. A
//! migration is a plain function over a [`WriteTxn`]; bump [`SCHEMA_VERSION`] and append
//! to [`MIGRATIONS`] together, whenever `keys.rs` or a record's meaning changes.
//! Must not decide anything about sync; must not be skipped by any open path.

use super::error::StoreError;
use super::keys;
use super::txn::{ReadView, WriteTxn};

/// The schema this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// One step from `from` to `from + 1`.
pub(super) struct Migration {
    pub(super) from: u32,
    /// What it changes, for the log.
    pub(super) name: &'static str,
    pub(super) run: fn(&WriteTxn<'_>) -> Result<(), StoreError>,
}

/// A target version and the steps that reach it. Tests use their own.
pub(super) struct Schema {
    pub(super) version: u32,
    pub(super) migrations: &'static [Migration],
}

/// Version 1 is the first: nothing to migrate from yet.
const MIGRATIONS: &[Migration] = &[];

pub(super) const CURRENT: Schema = Schema {
    version: SCHEMA_VERSION,
    migrations: MIGRATIONS,
};

/// What [`prepare`] found and did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Prepared {
    Initialised,
    UpToDate,
    Migrated { from: u32 },
}

/// The version recorded in the file, if any.
pub(super) fn stored_version(view: &ReadView<'_>) -> Result<Option<u32>, StoreError> {
    view.get(keys::META, &keys::name(keys::META_SCHEMA_VERSION))
}

/// Brings the file to `schema.version`: initialises a file that holds no table, migrates
/// an older one, refuses a newer one or a non-empty file that is not a store.
pub(super) fn prepare(tx: &WriteTxn<'_>, schema: &Schema) -> Result<Prepared, StoreError> {
    let view = tx.view();
    // Listed before any read: reading a table inside a write transaction creates it.
    let tables = view.table_names()?;
    let found = stored_version(&view)?;
    let prepared = match found {
        None => {
            // A file with no table at all is a new file (or one whose creation was
            // interrupted before its first commit): nothing to lose.
            if !tables.is_empty() {
                return Err(StoreError::Corrupt {
                    path: tx.path().to_path_buf(),
                    op: tx.op(),
                    detail: format!(
                        "it holds tables ({}) but no schema version: not a sharebridge store",
                        tables.join(", ")
                    ),
                });
            }
            tx.put(
                keys::META,
                &keys::name(keys::META_CREATED_BY),
                &format!("sharebridge {}", env!("CARGO_PKG_VERSION")),
            )?;
            Prepared::Initialised
        }
        Some(v) if v > schema.version => {
            return Err(StoreError::NewerSchema {
                path: tx.path().to_path_buf(),
                found: v,
                supported: schema.version,
            });
        }
        Some(v) if v == schema.version => Prepared::UpToDate,
        Some(v) => {
            for from in v..schema.version {
                let step = schema
                    .migrations
                    .iter()
                    .find(|m| m.from == from)
                    .ok_or_else(|| StoreError::Engine {
                        path: tx.path().to_path_buf(),
                        op: tx.op(),
                        detail: format!("no migration from schema version {from}"),
                        source: None,
                    })?;
                tracing::info!(
                    store = %tx.path().display(),
                    from,
                    to = from + 1,
                    migration = step.name,
                    "migrating store"
                );
                (step.run)(tx)?;
            }
            Prepared::Migrated { from: v }
        }
    };
    for table in keys::ALL_TABLES {
        tx.ensure_table(table)?;
    }
    if prepared != Prepared::UpToDate {
        tx.put(
            keys::META,
            &keys::name(keys::META_SCHEMA_VERSION),
            &schema.version,
        )?;
    }
    Ok(prepared)
}
