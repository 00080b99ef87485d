//! The statements a restore reads and marks the state schema with, and the
//! probe of what the destination has now.

use super::*;

/// Reads what the destination has for `saved`, with `$1` the constraint name
/// and `$2` the job: one row (none when the table is gone) of definition,
/// validated, partitioned, then the [`Authority`] columns (owner, caller,
/// caller is a member, creator, creator is a member).
pub fn probe_sql(state_schema: &str, saved: &SavedFk) -> String {
    format!(
        "SELECT pg_catalog.pg_get_constraintdef(c.oid), c.convalidated, \
                t.relkind = 'p' OR EXISTS (SELECT 1 FROM pg_catalog.pg_class r \
                                            WHERE r.oid = pg_catalog.to_regclass({}) AND r.relkind = 'p'), \
                {} \
           FROM pg_catalog.pg_class t LEFT JOIN pg_catalog.pg_constraint c \
             ON c.conrelid = t.oid AND c.conname = $1 \
           LEFT JOIN {}.jobs j ON j.job_id = $2 \
          WHERE t.oid = pg_catalog.to_regclass({})",
        quote_literal(&saved.referenced.to_string()),
        stored::AUTHORITY_COLUMNS,
        quote_ident(state_schema),
        quote_literal(&saved.table.to_string())
    )
}

/// What validating a foreign key would run that a role neither superuser,
/// the role it runs as nor trusted controls (`sql/fk_untrusted_code.sql`):
/// `$1` the table, `$2` the referenced table (quoted names), `$3` the
/// constraint, `$4` the trusted roles ([`crate::trust::TrustedOwners::roles`]),
/// `$5` the role the check runs as (NULL: the current user). One text: empty
/// when nothing.
pub const FK_UNTRUSTED_CODE_SQL: &str = include_str!("../../../sql/fk_untrusted_code.sql");

/// Which of a foreign key's tables its validation locks before checking
/// [`FK_UNTRUSTED_CODE_SQL`] (`sql/validation_locks.sql`): `$1` the table,
/// `$2` the referenced table, `$3` the trusted roles, `$4` the role the
/// check runs as (NULL: the current user). Rows of (schema, name), sorted.
pub const VALIDATION_LOCKS_SQL: &str = include_str!("../../../sql/validation_locks.sql");

/// Locks `tables` (from [`VALIDATION_LOCKS_SQL`]) so that no one adds code
/// the validation's planning calls until the transaction ends; `None` when
/// there are none.
pub fn lock_for_validation(tables: &[QualifiedName]) -> Option<String> {
    (!tables.is_empty()).then(|| sql::lock_tables(tables, "SHARE UPDATE EXCLUSIVE"))
}

/// Saved FKs still to restore (not back, or back and waiting for validation),
/// of job `$1` or all jobs when `$1` is NULL, in `state_schema`.
pub fn pending_sql(state_schema: &str) -> String {
    format!(
        "SELECT job_id, table_schema, table_name, constraint_name, definition, was_validated, \
                referenced_schema, referenced_table, constraint_type, comment, bindings, clone_names \
           FROM {}.saved_fks \
          WHERE ($1::bigint IS NULL OR job_id = $1) \
            AND (restored_at IS NULL OR (was_validated AND restored_valid IS NOT TRUE)) \
          ORDER BY job_id, table_schema, table_name, constraint_name",
        quote_ident(state_schema)
    )
}

/// Marks a saved FK restored: `$1` job, `$2` schema, `$3` table, `$4` name,
/// `$5` restored_valid, `$6` restore_error (NULL clears it).
pub fn mark_sql(state_schema: &str) -> String {
    format!(
        "UPDATE {}.saved_fks SET restored_at = coalesce(restored_at, now()), restored_valid = $5, \
                restore_error = $6 \
          WHERE job_id = $1 AND table_schema = $2 AND table_name = $3 AND constraint_name = $4",
        quote_ident(state_schema)
    )
}

/// Records why a restore failed, same keys as [`mark_sql`] with `$5` the error.
pub fn error_sql(state_schema: &str) -> String {
    format!(
        "UPDATE {}.saved_fks SET restore_error = $5 \
          WHERE job_id = $1 AND table_schema = $2 AND table_name = $3 AND constraint_name = $4",
        quote_ident(state_schema)
    )
}

/// Saved indexes still to rebuild, of job `$1` (all when NULL):
/// (job_id, table_schema, table_name, index_name, definition, properties,
/// level, bindings), where
/// level is 0 for an index on a plain table and, for a partitioned table's
/// (whose definition attaches its partitions' indexes), the table's depth in
/// its partition tree. In rebuild order: level 0 first, then the deepest
/// partitioned tables' up to the roots'; a table's unique indexes oldest
/// first (`unique_rank`).
pub fn pending_indexes_sql(state_schema: &str) -> String {
    format!(
        "SELECT * FROM ( \
           SELECT s.job_id, s.table_schema, s.table_name, s.index_name, s.definition, s.properties, \
                  CASE WHEN c.relkind = 'p' \
                       THEN (SELECT count(*) FROM pg_catalog.pg_partition_ancestors(c.oid))::int \
                       ELSE 0 END AS level, \
                  s.bindings \
             FROM {}.saved_indexes s \
             LEFT JOIN pg_catalog.pg_class c \
               ON c.oid = pg_catalog.to_regclass(pg_catalog.quote_ident(s.table_schema) || '.' || \
                                                 pg_catalog.quote_ident(s.table_name)) \
            WHERE ($1::bigint IS NULL OR s.job_id = $1) AND s.restored_at IS NULL) pending \
          ORDER BY job_id, level = 0 DESC, level DESC, table_schema, table_name, \
                   (properties ->> 'unique_rank')::int NULLS LAST, index_name",
        quote_ident(state_schema)
    )
}

/// Marks a saved index rebuilt: `$1` job, `$2` schema, `$3` index name.
pub fn mark_index_sql(state_schema: &str) -> String {
    format!(
        "UPDATE {}.saved_indexes SET restored_at = now(), restore_error = NULL \
          WHERE job_id = $1 AND table_schema = $2 AND index_name = $3",
        quote_ident(state_schema)
    )
}

/// Records why a rebuild failed: `$1` job, `$2` schema, `$3` index, `$4` error.
pub fn index_error_sql(state_schema: &str) -> String {
    format!(
        "UPDATE {}.saved_indexes SET restore_error = $4 WHERE job_id = $1 AND table_schema = $2 AND index_name = $3",
        quote_ident(state_schema)
    )
}

/// The bindings (see [`crate::bindings`]) of the constraint named `$2` on
/// the table named `$1` (a quoted qualified name), as one `jsonb`
/// expression: what a re-added foreign key depends on, compared in its own
/// transaction with what it depended on when it was dropped (the CLI and
/// the extension alike).
pub fn added_constraint_bindings() -> String {
    crate::bindings::bindings_sql(
        "'pg_catalog.pg_constraint'::pg_catalog.regclass",
        "(SELECT c.oid FROM pg_catalog.pg_constraint c \
           WHERE c.conrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1) \
             AND c.conname OPERATOR(pg_catalog.=) $2::pg_catalog.text)",
    )
}
