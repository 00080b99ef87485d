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
mod putback;
mod subxact;

use pgcopy_core::catalog::Catalog;
use pgcopy_core::filter::parse_patterns;
use pgcopy_core::plan::{FkAction, FkStrategy, PlanOptions, DEFAULT_SPLIT_LARGER_THAN};
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::restore::{self, RestoreState, SavedFk, SavedIndex, Step};
use pgcopy_core::stored;
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

fn patterns(
    list: Option<Vec<Option<String>>>,
    what: &str,
) -> Vec<pgcopy_core::filter::TablePattern> {
    let mut out = Vec::new();
    for item in list.unwrap_or_default().into_iter().flatten() {
        match parse_patterns(&item) {
            Ok(p) => out.extend(p),
            Err(e) => ExtError::Argument(format!("{what}: {e}")).raise("pgcopy.plan"),
        }
    }
    out
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
    let json: String = Spi::get_one(pgcopy_core::CATALOG_SQL)
        .unwrap_or_else(|e| {
            ExtError::Read {
                what: "reading the catalog",
                error: e.to_string(),
            }
            .raise("pgcopy.plan")
        })
        .unwrap_or_default();
    let catalog = Catalog::from_json(&json).unwrap_or_else(|e| {
        ExtError::Read {
            what: "decoding the catalog",
            error: e.to_string(),
        }
        .raise("pgcopy.plan")
    });
    let block_size: i64 = Spi::get_one("SELECT current_setting('block_size')::bigint")
        .ok()
        .flatten()
        .unwrap_or(8192);
    let opts = PlanOptions {
        include: patterns(include, "include"),
        exclude: patterns(exclude, "exclude"),
        split_larger_than: split_larger_than.max(0) as u64,
        block_size: block_size as u64,
        fk_strategy: FkStrategy::Drop,
        skip_schemas: vec![SCHEMA.to_string()],
        allow_empty_match: false,
        defer_indexes: false,
        // The plan of this database into one of its own major.
        dest_version_num: 0,
        only: None,
        row_filters: row_filters
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .map(|s| pgcopy_core::subset::RowFilter::parse(&s))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| ExtError::Argument(e.to_string()).raise("pgcopy.plan")),
        follow_fks,
        transforms: transforms
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .map(|s| pgcopy_core::transform::ColumnTransform::parse(&s))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| ExtError::Argument(e.to_string()).raise("pgcopy.plan")),
        trust: pgcopy_core::trust::TrustedOwners::new(
            trust_owner.unwrap_or_default().into_iter().flatten(),
        ),
    };
    // As the CLI refuses them: each is pasted into subqueries, where text
    // that is not one expression would read other rows.
    let alone = opts
        .row_filters
        .iter()
        .map(|f| ("row_filters", f.table.clone(), &f.condition))
        .chain(opts.transforms.iter().map(|t| {
            (
                "transforms",
                format!("{}.{}", t.table, t.column),
                &t.expression,
            )
        }));
    for (argument, target, text) in alone {
        if let Err(why) = parse::one_expression(text) {
            ExtError::Argument(format!(
                "the {argument} entry for {target} is refused: {why}"
            ))
            .raise("pgcopy.plan");
        }
    }
    let p = pgcopy_core::plan::plan(&catalog, &opts)
        .unwrap_or_else(|e| ExtError::Argument(e.to_string()).raise("pgcopy.plan"));
    let mut rows = Vec::new();
    for t in &p.tables {
        let root = t.partition_of.clone().unwrap_or_else(|| t.table.clone());
        let position = p
            .load_order
            .iter()
            .position(|n| n == &root)
            .map(|i| i as i32 + 1)
            .unwrap_or(0);
        let cycle = p
            .fk_cycles
            .iter()
            .position(|c| c.contains(&root))
            .map(|i| i as i32 + 1);
        let drops: Vec<String> = p
            .foreign_keys
            .iter()
            .filter(|f| {
                f.action == FkAction::DropAndRestore
                    && (f.fk.table == root || f.fk.table == t.table)
            })
            .map(|f| f.fk.name.clone())
            .collect();
        let outside: Vec<String> = p
            .foreign_keys
            .iter()
            .filter(|f| f.fk.referenced == root && p.referenced_from_outside.contains(&f.fk.table))
            .map(|f| f.fk.table.display_name())
            .collect();
        rows.push((
            position,
            t.table.schema.clone(),
            t.table.name.clone(),
            t.partition_of.as_ref().map(QualifiedName::display_name),
            t.est_rows as i64,
            t.bytes as i64,
            t.chunks.len() as i32,
            cycle,
            drops,
            outside,
            t.taken.as_str().to_string(),
            t.rows_where.clone(),
            t.transforms
                .iter()
                .map(|(c, e)| format!("{} = {e}", pgcopy_core::quote::quote_ident(c)))
                .collect(),
        ));
    }
    rows.sort_by(|a, b| (a.0, &a.1, &a.2).cmp(&(b.0, &b.1, &b.2)));
    TableIterator::new(rows)
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
            .select(&restore::pending_sql(SCHEMA), None, &[job.into()])
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
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn state_schema_is_installed() {
        let v = Spi::get_one::<i32>("SELECT pgcopy.schema_version()").unwrap();
        assert_eq!(v, Some(pgcopy_core::STATE_SCHEMA_VERSION));
        let n = Spi::get_one::<i64>("SELECT count(*) FROM pgcopy.jobs").unwrap();
        assert_eq!(n, Some(0));
    }

    #[pg_test]
    fn version_matches_cargo() {
        assert_eq!(crate::extension_version(), env!("CARGO_PKG_VERSION"));
    }

    fn fixture() {
        Spi::run(
            "CREATE TABLE a (id int PRIMARY KEY, b_id int);
             CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a);
             ALTER TABLE a ADD CONSTRAINT a_b_fk FOREIGN KEY (b_id) REFERENCES b;
             CREATE TABLE tree (id int PRIMARY KEY, parent int REFERENCES tree);
             CREATE TABLE leaf (id int, a_id int REFERENCES a);
             INSERT INTO tree SELECT g, NULLIF(g - 1, 0) FROM generate_series(1, 5000) g;",
        )
        .unwrap();
    }

    type PlanRow = (String, Option<i32>, Vec<String>, Vec<String>, i32);

    #[pg_test]
    fn plan_lists_tables_cycles_and_outside_references() {
        fixture();
        let rows: Vec<PlanRow> = Spi::connect(|c| {
            c.select(
                "SELECT table_name, fk_cycle, drops_fks, referenced_from_outside, chunks
                   FROM pgcopy.plan(include => ARRAY['a', 'b', 'tree'], split_larger_than => 16384)
                  ORDER BY table_name",
                None,
                &[],
            )?
            .map(|r| {
                Ok((
                    r.get::<String>(1)?.unwrap(),
                    r.get::<i32>(2)?,
                    r.get::<Vec<String>>(3)?.unwrap(),
                    r.get::<Vec<String>>(4)?.unwrap(),
                    r.get::<i32>(5)?.unwrap(),
                ))
            })
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        })
        .unwrap();
        assert_eq!(rows.len(), 3);
        let (a, b, tree) = (&rows[0], &rows[1], &rows[2]);
        assert_eq!(a.0, "a");
        assert!(a.1.is_some() && a.1 == b.1, "a and b form one cycle");
        assert!(
            tree.1.is_some() && tree.1 != a.1,
            "a self-reference is a cycle of its own"
        );
        assert_eq!(a.2, vec!["a_b_fk"]);
        assert_eq!(a.3, vec!["public.leaf"]);
        assert!(tree.4 > 1, "tree is split into chunks");
    }

    #[pg_test(
        error = "pgcopy.plan: this pattern matched no table: `nope` (check the spelling, quote mixed-case names, or pass --allow-empty-match)"
    )]
    fn plan_rejects_patterns_that_match_nothing() {
        Spi::run("SELECT * FROM pgcopy.plan(include => ARRAY['nope'])").unwrap();
    }

    /// Two jobs saved the same key (an earlier one left it behind, already
    /// back): the first row re-creates it and the second finds it there,
    /// both restored. A red team saw the second fail with "already exists":
    /// its probe, read-only in a new subtransaction, looked at the snapshot
    /// the call started with.
    #[pg_test]
    fn restore_fks_counts_a_key_two_jobs_saved_as_restored_once_back() {
        fixture();
        Spi::run(&format!(
            "INSERT INTO pgcopy.jobs (source, destination) VALUES ('s', 'd'), ('s', 'd');
             SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
             INSERT INTO pgcopy.saved_fks (job_id, table_schema, table_name, constraint_name,
                    referenced_schema, referenced_table, definition, was_validated, bindings)
             SELECT j.job_id, n.nspname, c.relname, con.conname, fn.nspname, f.relname,
                    pg_get_constraintdef(con.oid), con.convalidated, {}
               FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_class f ON f.oid = con.confrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace
              CROSS JOIN pgcopy.jobs j
              WHERE con.contype = 'f' AND n.nspname = 'public' AND con.conname = 'b_a_id_fkey';
             SELECT pg_catalog.set_config('search_path', 'public', true);
             ALTER TABLE b DROP CONSTRAINT b_a_id_fkey;",
            constraint_bindings()
        ))
        .unwrap();
        let outcomes: Vec<(i64, String)> = Spi::connect(|c| {
            c.select(
                "SELECT job_id, outcome FROM pgcopy.restore_fks() ORDER BY 1",
                None,
                &[],
            )?
            .map(|r| Ok((r.get::<i64>(1)?.unwrap(), r.get::<String>(2)?.unwrap())))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        })
        .unwrap();
        assert_eq!(
            outcomes.iter().map(|(_, o)| o.as_str()).collect::<Vec<_>>(),
            ["restored", "restored"]
        );
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(*) FROM pgcopy.pending_fks").unwrap(),
            Some(0)
        );
    }

    #[pg_test]
    fn restore_fks_brings_back_saved_constraints_and_reports_failures() {
        fixture();
        // pgcopy saves definitions under search_path = pg_catalog, pg_temp,
        // where pg_get_constraintdef qualifies every table it names.
        Spi::run(&format!(
            "INSERT INTO pgcopy.jobs (source, destination) VALUES ('s', 'd');
             SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
             INSERT INTO pgcopy.saved_fks (job_id, table_schema, table_name, constraint_name,
                    referenced_schema, referenced_table, definition, was_validated, bindings)
             SELECT (SELECT max(job_id) FROM pgcopy.jobs), n.nspname, c.relname, con.conname, fn.nspname, f.relname,
                    pg_get_constraintdef(con.oid), con.convalidated, {}
               FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_class f ON f.oid = con.confrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace
              WHERE con.contype = 'f' AND n.nspname = 'public';
             SELECT pg_catalog.set_config('search_path', 'public', true);
             ALTER TABLE a DROP CONSTRAINT a_b_fk; ALTER TABLE b DROP CONSTRAINT b_a_id_fkey;
             ALTER TABLE tree DROP CONSTRAINT tree_parent_fkey; ALTER TABLE leaf DROP CONSTRAINT leaf_a_id_fkey;
             INSERT INTO leaf VALUES (1, 424242);",
            constraint_bindings()
        ))
        .unwrap();
        let outcomes: Vec<(String, String)> = Spi::connect(|c| {
            c.select(
                "SELECT constraint_name, outcome FROM pgcopy.restore_fks() ORDER BY 1",
                None,
                &[],
            )?
            .map(|r| Ok((r.get::<String>(1)?.unwrap(), r.get::<String>(2)?.unwrap())))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        })
        .unwrap();
        assert_eq!(
            outcomes,
            vec![
                ("a_b_fk".to_string(), "restored".to_string()),
                ("b_a_id_fkey".to_string(), "restored".to_string()),
                (
                    "leaf_a_id_fkey".to_string(),
                    "validation_failed".to_string()
                ),
                ("tree_parent_fkey".to_string(), "restored".to_string()),
            ]
        );
        // The violated one is present, NOT VALID, with the reason saved.
        let valid = Spi::get_one::<bool>(
            "SELECT convalidated FROM pg_constraint WHERE conname = 'leaf_a_id_fkey'",
        )
        .unwrap();
        assert_eq!(valid, Some(false));
        let why = Spi::get_one::<String>(
            "SELECT restore_error FROM pgcopy.saved_fks WHERE constraint_name = 'leaf_a_id_fkey'",
        )
        .unwrap()
        .unwrap();
        assert!(why.contains("violates foreign key constraint"), "{why}");
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(*) FROM pgcopy.pending_fks").unwrap(),
            Some(0)
        );
        // Saved indexes come back through the same function.
        Spi::run(&format!(
            "CREATE INDEX leaf_a_idx ON leaf (a_id);
             INSERT INTO pgcopy.saved_indexes (job_id, table_schema, table_name, index_name, definition, bindings)
             SELECT max(job_id), 'public', 'leaf', 'leaf_a_idx', pg_get_indexdef('leaf_a_idx'::regclass), {}
               FROM pgcopy.jobs;
             DROP INDEX leaf_a_idx;",
            pgcopy_core::bindings::bindings_sql(
                "'pg_catalog.pg_class'::pg_catalog.regclass",
                "'leaf_a_idx'::pg_catalog.regclass::pg_catalog.oid"
            )
        ))
        .unwrap();
        let idx = Spi::get_two::<String, String>(
            "SELECT constraint_name, outcome FROM pgcopy.restore_fks()",
        )
        .unwrap();
        assert_eq!(
            idx,
            (Some("leaf_a_idx".into()), Some("index_restored".into()))
        );
        assert_eq!(
            Spi::get_one::<bool>("SELECT to_regclass('leaf_a_idx') IS NOT NULL").unwrap(),
            Some(true)
        );
        // Idempotent, and validation succeeds once the data is fixed.
        Spi::run("DELETE FROM leaf WHERE a_id = 424242").unwrap();
        let again =
            Spi::get_one::<String>("SELECT string_agg(outcome, ',') FROM pgcopy.restore_fks()")
                .unwrap();
        assert_eq!(again.as_deref(), Some("restored"));
        assert_eq!(
            Spi::get_one::<String>("SELECT string_agg(outcome, ',') FROM pgcopy.restore_fks()")
                .unwrap(),
            None
        );
    }

    /// What pgcopy records of the constraint `con` (a `pg_constraint` row in
    /// the query) when it drops it.
    fn constraint_bindings() -> String {
        pgcopy_core::bindings::bindings_sql(
            "'pg_catalog.pg_constraint'::pg_catalog.regclass",
            "con.oid",
        )
    }

    /// A saved index whose function was dropped and made again under its
    /// name after pgcopy dropped the index is not rebuilt (the name leads
    /// to another function); one that was rebuilt bound to another object
    /// is rolled back.
    #[pg_test]
    fn restore_fks_rebuilds_nothing_whose_names_lead_elsewhere_now() {
        fixture();
        Spi::run(&format!(
            "CREATE FUNCTION public.k(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1';
             CREATE INDEX leaf_k ON leaf (public.k(a_id));
             INSERT INTO pgcopy.jobs (source, destination) VALUES ('s', 'd');
             SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
             INSERT INTO pgcopy.saved_indexes (job_id, table_schema, table_name, index_name, definition, bindings)
             SELECT max(job_id), 'public', 'leaf', 'leaf_k', pg_get_indexdef('public.leaf_k'::regclass), {}
               FROM pgcopy.jobs;
             SELECT pg_catalog.set_config('search_path', 'public', true);
             DROP INDEX leaf_k;
             DROP FUNCTION public.k(int);
             CREATE FUNCTION public.k(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 0';",
            pgcopy_core::bindings::bindings_sql(
                "'pg_catalog.pg_class'::pg_catalog.regclass",
                "'public.leaf_k'::pg_catalog.regclass::pg_catalog.oid"
            )
        ))
        .unwrap();
        let (outcome, error) =
            Spi::get_two::<String, String>("SELECT outcome, error FROM pgcopy.restore_fks()")
                .unwrap();
        assert_eq!(outcome.as_deref(), Some("failed"));
        let error = error.unwrap_or_default();
        assert!(error.contains("public.k(integer)"), "{error}");
        assert!(error.contains("was not re-created"), "{error}");
        assert_eq!(
            Spi::get_one::<bool>("SELECT to_regclass('public.leaf_k') IS NULL").unwrap(),
            Some(true)
        );
        // Saved bound to nothing (a row that says so): built, then rolled
        // back, since it depends on the table's column and the function.
        Spi::run(
            "UPDATE pgcopy.saved_indexes SET bindings = '[]', restore_error = NULL WHERE index_name = 'leaf_k'",
        )
        .unwrap();
        let (outcome, error) =
            Spi::get_two::<String, String>("SELECT outcome, error FROM pgcopy.restore_fks()")
                .unwrap();
        assert_eq!(outcome.as_deref(), Some("failed"));
        let error = error.unwrap_or_default();
        assert!(
            error.contains("rolled back"),
            "the build is undone: {error}"
        );
        assert_eq!(
            Spi::get_one::<bool>("SELECT to_regclass('public.leaf_k') IS NULL").unwrap(),
            Some(true)
        );
    }

    #[pg_test]
    fn the_schema_and_its_objects_belong_to_a_superuser() {
        let foreign = Spi::get_one::<i64>(
            "SELECT (SELECT count(*) FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
                      WHERE n.nspname = 'pgcopy' AND NOT r.rolsuper)
                  + (SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
                      WHERE c.relnamespace = 'pgcopy'::regnamespace AND NOT r.rolsuper)
                  + (SELECT count(*) FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
                      WHERE p.pronamespace = 'pgcopy'::regnamespace AND NOT r.rolsuper)",
        )
        .unwrap();
        assert_eq!(foreign, Some(0));
        // Every function pins its search path.
        let unpinned = Spi::get_one::<i64>(
            "SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'pgcopy'::regnamespace
                AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)",
        )
        .unwrap();
        assert_eq!(unpinned, Some(0));
    }

    #[pg_test]
    fn forged_definitions_are_refused_unrun() {
        fixture();
        Spi::run(
            "CREATE ROLE forger;
             INSERT INTO pgcopy.jobs (source, destination) VALUES ('s', 'd');
             INSERT INTO pgcopy.saved_indexes (job_id, table_schema, table_name, index_name, definition)
             SELECT max(job_id), 'public', 'leaf', 'leaf_x', 'ALTER ROLE forger SUPERUSER' FROM pgcopy.jobs;
             INSERT INTO pgcopy.saved_fks (job_id, table_schema, table_name, constraint_name,
                    referenced_schema, referenced_table, definition, was_validated)
             SELECT max(job_id), 'public', 'leaf', 'leaf_c', 'public', 'a',
                    'CHECK (true); ALTER ROLE forger SUPERUSER; --', true FROM pgcopy.jobs;",
        )
        .unwrap();
        let outcomes: Vec<(String, String)> = Spi::connect(|c| {
            c.select(
                "SELECT outcome, error FROM pgcopy.restore_fks() ORDER BY constraint_name",
                None,
                &[],
            )?
            .map(|r| Ok((r.get::<String>(1)?.unwrap(), r.get::<String>(2)?.unwrap())))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        })
        .unwrap();
        assert_eq!(outcomes.len(), 2);
        assert!(outcomes.iter().all(|(o, _)| o == "failed"));
        assert!(outcomes[0].1.contains("2 statements"), "{}", outcomes[0].1);
        assert!(
            outcomes[1].1.contains("(AlterRoleStmt)"),
            "{}",
            outcomes[1].1
        );
        assert_eq!(
            Spi::get_one::<bool>("SELECT rolsuper FROM pg_roles WHERE rolname = 'forger'").unwrap(),
            Some(false)
        );
        // The reasons are kept with the rows.
        assert_eq!(
            Spi::get_one::<i64>(
                "SELECT count(*) FROM pgcopy.saved_fks WHERE restore_error LIKE '%not run%'"
            )
            .unwrap(),
            Some(1)
        );
    }

    #[pg_test]
    fn only_members_of_a_jobs_creator_may_write_its_rows() {
        // Each write must fail with insufficient_privilege; one that goes
        // through raises 'written', failing the test.
        Spi::run(
            "INSERT INTO pgcopy.jobs (source, destination) VALUES ('s', 'd');
             CREATE ROLE intruder;
             GRANT USAGE ON SCHEMA pgcopy TO intruder;
             GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA pgcopy TO intruder;
             SET LOCAL ROLE intruder;
             DO $$
             DECLARE j bigint := (SELECT max(job_id) FROM pgcopy.jobs);
             BEGIN
                 BEGIN
                     UPDATE pgcopy.jobs SET plan = '{}' WHERE job_id = j;
                     RAISE EXCEPTION 'written: jobs';
                 EXCEPTION WHEN insufficient_privilege THEN NULL;
                 END;
                 BEGIN
                     INSERT INTO pgcopy.saved_fks (job_id, table_schema, table_name, constraint_name,
                            referenced_schema, referenced_table, definition, was_validated)
                     VALUES (j, 'public', 'a', 'x', 'public', 'b', 'FOREIGN KEY (b_id) REFERENCES public.b(id)', true);
                     RAISE EXCEPTION 'written: saved_fks';
                 EXCEPTION WHEN insufficient_privilege THEN NULL;
                 END;
             END $$;
             RESET ROLE;",
        )
        .unwrap();
        // Its own job is its own: created_by is stamped, whatever it says.
        Spi::run(
            "SET LOCAL ROLE intruder;
             INSERT INTO pgcopy.jobs (source, destination, created_by) VALUES ('s', 'd', 10);
             RESET ROLE;",
        )
        .unwrap();
        assert_eq!(
            Spi::get_one::<String>(
                "SELECT pg_get_userbyid(created_by)::text FROM pgcopy.jobs ORDER BY job_id DESC LIMIT 1"
            )
            .unwrap()
            .as_deref(),
            Some("intruder")
        );
    }

    #[pg_test]
    fn status_reports_progress_and_staleness() {
        Spi::run(
            "INSERT INTO pgcopy.jobs (state, source, destination, started_at, heartbeat_at, client_backend_pid)
             VALUES ('running', 's', 'd', now() - interval '10 seconds', now(), pg_backend_pid());
             INSERT INTO pgcopy.job_tables (job_id, table_schema, table_name, est_rows, est_bytes, chunk_count, state, started_at)
             SELECT max(job_id), 'public', 'big', 1000, 80000, 2, 'copying', now() - interval '10 seconds' FROM pgcopy.jobs;
             INSERT INTO pgcopy.job_chunks (job_id, table_schema, table_name, chunk_index, state, rows_copied)
             SELECT max(job_id), 'public', 'big', c, CASE c WHEN 0 THEN 'done' ELSE 'pending' END, 500 - 500 * c
               FROM pgcopy.jobs, generate_series(0, 1) c GROUP BY c;
             INSERT INTO pgcopy.job_workers (job_id, worker, table_schema, table_name, chunk_index, rows_streamed, bytes_streamed)
             SELECT max(job_id), 0, 'public', 'big', 1, 100, 8000 FROM pgcopy.jobs;",
        )
        .unwrap();
        let (state, rows, pct) = Spi::get_three::<String, i64, f64>(
            "SELECT job_state, rows_copied, percent::float8 FROM pgcopy.status()",
        )
        .unwrap();
        assert_eq!(state.as_deref(), Some("running"));
        assert_eq!(rows, Some(600));
        assert_eq!(pct, Some(60.0));
        // A client whose connection is gone makes the job stale.
        Spi::run("UPDATE pgcopy.jobs SET client_backend_pid = -1").unwrap();
        let state = Spi::get_one::<String>("SELECT state FROM pgcopy.progress").unwrap();
        assert_eq!(state.as_deref(), Some("stale"));
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
