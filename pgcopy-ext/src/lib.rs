/*!
The `pgcopy` extension, installed on the destination database.

It creates the state schema (`sql/state_schema.sql`, shared with the CLI, which
also defines `pgcopy.status()` and the views) and adds SQL-callable functions
over `pgcopy-core`, so a DBA can inspect and repair a copy from psql:
`pgcopy.plan()` and `pgcopy.restore_fks()`. Functions are thin: SPI calls and
datum conversion around the core's planning and restore decisions.

The extension is trusted, so whoever can CREATE on the database installs it,
and a superuser may call its functions later: `sql/extension_bootstrap.sql`
makes the schema the superuser's, every function here runs with
`search_path = pg_catalog, pg_temp`, and every saved definition is parsed by
the server's own parser and run as its table's owner (see
`pgcopy_core::stored`).
*/

// A panic in a backend is turned into an ERROR by pgrx, but says nothing a
// DBA can act on: every failure is an error with a sentence instead.
#![cfg_attr(
    not(any(test, feature = "pg_test")),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod parse;
mod planning;
mod putback;
mod subxact;

use pgcopy_core::plan::DEFAULT_SPLIT_LARGER_THAN;
use pgcopy_core::restore::{self, RestoreState, SavedFk, SavedIndex};
use pgcopy_core::triggers::SavedTrigger;
use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!(
    "../../sql/extension_bootstrap.sql",
    name = "extension_bootstrap",
    bootstrap
);
extension_sql_file!(
    "../../sql/state_schema.sql",
    name = "state_schema",
    requires = ["extension_bootstrap"]
);
extension_sql_file!("../../sql/extension_grants.sql", name = "grants", finalize);

// `plan()`'s SQL default for split_larger_than must be the CLI's default.
const _: () = assert!(DEFAULT_SPLIT_LARGER_THAN == 268_435_456);

/// The state schema's name: the extension is not relocatable.
const SCHEMA: &str = "pgcopy";

/// Why a function of the extension stops, raised as an ERROR with a SQLSTATE
/// a caller can test (`raise`).
#[derive(Debug, thiserror::Error)]
enum ExtError {
    /// An argument is wrong (a table pattern that does not parse, one that
    /// matches nothing): 22023.
    #[error("{0}")]
    Argument(String),
    /// Reading the catalog or the state schema failed: XX000.
    #[error("{what}: {error}")]
    Read {
        /// What was being read.
        what: &'static str,
        /// The SPI or decoding error.
        error: String,
    },
}

impl ExtError {
    /// Raises it as an ERROR of `function` (never returns).
    fn raise(self, function: &str) -> ! {
        let code = match self {
            ExtError::Argument(_) => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            ExtError::Read { .. } => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        };
        ereport!(ERROR, code, format!("{function}: {self}"));
    }
}

/// The version of the installed extension library.
#[pg_extern]
#[search_path(pg_catalog, pg_temp)]
fn extension_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// What a copy into this database would do, planned from its own catalog (the
/// source has the same schema) by the same core code as `pgcopy copy --dry-run`,
/// assuming a non-superuser copy (drop mode): one row per table, in load order.
/// `row_filters` are `--where` values (`TABLE: CONDITION`): each table's
/// `rows_taken` (whole, filtered, limited by foreign keys) and the condition
/// its rows would be read with; `transforms` are `--transform` values
/// (`TABLE.COLUMN: EXPRESSION`): each table's `transformed_columns` as
/// `column = expression`. This function only shows them, never runs them.
/// `trust_owner` are `--trust-owner` values: roles whose operators the
/// joins `--where` follows keys with may call.
#[allow(clippy::type_complexity)]
#[pg_extern]
#[search_path(pg_catalog, pg_temp)]
fn plan(
    include: default!(Option<Vec<Option<String>>>, "NULL"),
    exclude: default!(Option<Vec<Option<String>>>, "NULL"),
    split_larger_than: default!(i64, 268435456),
    row_filters: default!(Option<Vec<Option<String>>>, "NULL"),
    follow_fks: default!(bool, true),
    transforms: default!(Option<Vec<Option<String>>>, "NULL"),
    trust_owner: default!(Option<Vec<Option<String>>>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(load_position, i32),
        name!(table_schema, String),
        name!(table_name, String),
        name!(partition_of, Option<String>),
        name!(est_rows, i64),
        name!(bytes, i64),
        name!(chunks, i32),
        name!(fk_cycle, Option<i32>),
        name!(drops_fks, Vec<String>),
        name!(referenced_from_outside, Vec<String>),
        name!(rows_taken, String),
        name!(rows_where, Option<String>),
        name!(transformed_columns, Vec<String>),
    ),
> {
    let catalog = planning::read_catalog();
    let opts = planning::plan_options(planning::Arguments {
        include,
        exclude,
        split_larger_than,
        row_filters,
        follow_fks,
        transforms,
        trust_owner,
    });
    let p = pgcopy_core::plan::plan(&catalog, &opts)
        .unwrap_or_else(|e| ExtError::Argument(e.to_string()).raise("pgcopy.plan"));
    TableIterator::new(planning::rows(&p))
}

/// Re-creates what a copy dropped (of `job`, or every pending one) from the
/// saved definitions: first its deferred indexes (outcome `index_restored`),
/// then its foreign keys, each in its own subtransaction so one failure does not
/// stop the rest. A constraint that was NOT VALID stays NOT VALID; one whose
/// validation fails is left added as NOT VALID with the reason saved. Last,
/// the triggers disabled by jobs no client runs come back in their modes
/// (outcome `trigger_restored`). Idempotent: a constraint or index already
/// present counts as restored.
///
/// Each definition is parsed by this server's parser and must be exactly the
/// object saved; it runs as its table's owner, and only when both the caller
/// and the job's creator may act as that owner (outcome `failed` otherwise,
/// with the reason, and nothing run).
#[allow(clippy::type_complexity)]
#[pg_extern]
#[search_path(pg_catalog, pg_temp)]
fn restore_fks(
    job: default!(Option<i64>, "NULL"),
    validate: default!(bool, true),
) -> TableIterator<
    'static,
    (
        name!(job_id, i64),
        name!(table_name, String),
        name!(constraint_name, String),
        name!(outcome, String),
        name!(error, Option<String>),
    ),
> {
    let pending: Vec<SavedFk> = Spi::connect(|client| {
        let table = client
            .select(
                &pgcopy_core::state_sql::PENDING_FKS.render(SCHEMA),
                None,
                &[job.into()],
            )
            .map_err(|e| e.to_string())?;
        table
            .map(|row| pgcopy_core::rows::saved_fk(&putback::SpiRow(&row)))
            .collect::<Result<Vec<_>, String>>()
    })
    .unwrap_or_else(|e| {
        ExtError::Read {
            what: "reading pgcopy.saved_fks",
            error: e.to_string(),
        }
        .raise("pgcopy.restore_fks")
    });

    let mut rows = restore_indexes(job);
    for saved in pending {
        let (state, error) = restore_one(&saved, validate);
        rows.push((
            saved.job_id,
            saved.table.display_name(),
            saved.name.clone(),
            state.as_str().to_string(),
            error,
        ));
    }
    rows.extend(restore_triggers(job));
    TableIterator::new(rows)
}

type RestoreRow = (i64, String, String, String, Option<String>);

use putback::{restore_indexes, restore_one, restore_triggers};

#[cfg(any(test, feature = "pg_test"))]
mod pg_tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
