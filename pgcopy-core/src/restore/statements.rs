//! The statements a restore reads and marks the state schema with, and the
//! probe of what the destination has now.

use super::*;

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

/// How a foreign key's validation plans its check
/// (`sql/validation_plan.sql`): hash joins off for the rest of the
/// transaction where both tables can be merged in key order from their
/// indexes. `$1` the table (a quoted qualified name), `$2` the constraint.
/// The plan changes the check's speed, never what it finds.
pub const VALIDATION_PLAN_SQL: &str = include_str!("../../../sql/validation_plan.sql");

/// Locks `tables` (from [`VALIDATION_LOCKS_SQL`]) so that no one adds code
/// the validation's planning calls until the transaction ends; `None` when
/// there are none.
pub fn lock_for_validation(tables: &[QualifiedName]) -> Option<String> {
    (!tables.is_empty()).then(|| sql::lock_tables(tables, "SHARE UPDATE EXCLUSIVE"))
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
