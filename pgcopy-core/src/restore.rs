//! Restoring a saved foreign key: what to run, decided from the saved row and
//! what the table has now. Pure, so the CLI (tokio-postgres) and the extension
//! (SPI) execute the same decisions.
//!
//! The usual path adds the constraint `NOT VALID` (cheap, no scan under a strong
//! lock), marks it restored in the same transaction, then validates it in a
//! second transaction: a validation failure leaves it present and `NOT VALID`.
//! PostgreSQL cannot add a `NOT VALID` FK on a partitioned table, and validating
//! one that references a partitioned table leaves its per-partition clones
//! marked not validated, so those are added and validated in one step.

use crate::quote::{quote_ident, quote_literal, QualifiedName};
use crate::sql;
use serde::{Deserialize, Serialize};

/// A row of `saved_fks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedFk {
    /// Job that dropped it.
    pub job_id: i64,
    /// Referencing table.
    pub table: QualifiedName,
    /// Constraint name.
    pub name: String,
    /// `pg_get_constraintdef` text.
    pub definition: String,
    /// Whether it was validated before the drop.
    pub was_validated: bool,
    /// Referenced table.
    pub referenced: QualifiedName,
}

/// What the destination has now, from [`probe_sql`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Present {
    /// Definition of a constraint with that name on the table, if any.
    pub definition: Option<String>,
    /// Its `convalidated`.
    pub validated: Option<bool>,
    /// Either table is partitioned.
    pub partitioned: bool,
}

/// One step of a restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Run `sql` and mark the row restored with `restored_valid = valid`, in one
    /// transaction.
    Add {
        /// The ALTER TABLE.
        sql: String,
        /// Whether the constraint is validated once added.
        valid: bool,
    },
    /// The constraint is already there: only mark the row restored.
    MarkPresent {
        /// Its current validity.
        valid: bool,
    },
    /// Validate, marking `restored_valid = true` in the same transaction; on
    /// failure record the error and leave it NOT VALID.
    Validate {
        /// The ALTER TABLE ... VALIDATE CONSTRAINT.
        sql: String,
    },
}

/// How a restore ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreState {
    /// Present and validated, as before.
    Restored,
    /// Present and NOT VALID, as it was before the copy.
    RestoredNotValid,
    /// Present, but validation failed: left NOT VALID.
    ValidationFailed,
    /// Could not be added; still saved and pending.
    Failed,
}

impl RestoreState {
    /// The name shown to people and returned by `pgcopy.restore_fks()`.
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreState::Restored => "restored",
            RestoreState::RestoredNotValid => "restored_not_valid",
            RestoreState::ValidationFailed => "validation_failed",
            RestoreState::Failed => "failed",
        }
    }

    /// From whether it should be valid and whether it is.
    pub fn from_validity(was_validated: bool, valid_now: bool) -> Self {
        match (was_validated, valid_now) {
            (true, true) => RestoreState::Restored,
            (false, _) => RestoreState::RestoredNotValid,
            (true, false) => RestoreState::ValidationFailed,
        }
    }
}

/// A constraint with the saved name but another definition is in the way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a different constraint named {name:?} exists on {table} ({present}): drop or rename it, then restore again")]
pub struct Conflict {
    /// Constraint name.
    pub name: String,
    /// Table, for people.
    pub table: String,
    /// The definition found.
    pub present: String,
}

/// A constraint definition without its trailing `NOT VALID`: validity is kept
/// apart, in `was_validated`.
pub fn strip_not_valid(def: &str) -> &str {
    def.trim().trim_end_matches("NOT VALID").trim_end()
}

/// The steps restoring `saved` given what is `present`.
pub fn steps(saved: &SavedFk, present: &Present) -> Result<Vec<Step>, Conflict> {
    let mut out = Vec::new();
    let valid_after_add = match &present.definition {
        Some(def) if strip_not_valid(def) == strip_not_valid(&saved.definition) => {
            let valid = present.validated.unwrap_or(false);
            out.push(Step::MarkPresent { valid });
            valid
        }
        Some(def) => {
            return Err(Conflict {
                name: saved.name.clone(),
                table: saved.table.display_name(),
                present: def.clone(),
            })
        }
        None => {
            let one_step = present.partitioned && saved.was_validated;
            out.push(Step::Add {
                sql: sql::add_constraint(&saved.table, &saved.name, &saved.definition, !one_step),
                valid: one_step,
            });
            one_step
        }
    };
    if saved.was_validated && !valid_after_add {
        out.push(Step::Validate {
            sql: sql::validate_constraint(&saved.table, &saved.name),
        });
    }
    Ok(out)
}

/// Reads what the destination has for `saved` (one row: definition, validated,
/// partitioned), with `$1` the constraint name.
pub fn probe_sql(saved: &SavedFk) -> String {
    format!(
        "SELECT pg_catalog.pg_get_constraintdef(c.oid), c.convalidated, \
                t.relkind = 'p' OR EXISTS (SELECT 1 FROM pg_catalog.pg_class r \
                                            WHERE r.oid = {}::regclass AND r.relkind = 'p') \
           FROM pg_catalog.pg_class t LEFT JOIN pg_catalog.pg_constraint c \
             ON c.conrelid = t.oid AND c.conname = $1 \
          WHERE t.oid = {}::regclass",
        quote_literal(&saved.referenced.to_string()),
        quote_literal(&saved.table.to_string())
    )
}

/// Saved FKs still to restore (not back, or back and waiting for validation),
/// of job `$1` or all jobs when `$1` is NULL, in `state_schema`.
pub fn pending_sql(state_schema: &str) -> String {
    format!(
        "SELECT job_id, table_schema, table_name, constraint_name, definition, was_validated, \
                referenced_schema, referenced_table \
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
/// (job_id, table_schema, table_name, index_name, definition, level), where
/// level is 0 for an index on a plain table and, for a partitioned table's
/// (whose definition attaches its partitions' indexes), the table's depth in
/// its partition tree. In rebuild order: level 0 first, then the deepest
/// partitioned tables' up to the roots'.
pub fn pending_indexes_sql(state_schema: &str) -> String {
    format!(
        "SELECT * FROM ( \
           SELECT s.job_id, s.table_schema, s.table_name, s.index_name, s.definition, \
                  CASE WHEN c.relkind = 'p' \
                       THEN (SELECT count(*) FROM pg_catalog.pg_partition_ancestors(c.oid))::int \
                       ELSE 0 END AS level \
             FROM {}.saved_indexes s \
             LEFT JOIN pg_catalog.pg_class c \
               ON c.oid = pg_catalog.to_regclass(pg_catalog.quote_ident(s.table_schema) || '.' || \
                                                 pg_catalog.quote_ident(s.table_name)) \
            WHERE ($1::bigint IS NULL OR s.job_id = $1) AND s.restored_at IS NULL) pending \
          ORDER BY job_id, level = 0 DESC, level DESC, table_schema, table_name, index_name",
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

/// Whether index `$2` exists in schema `$1`.
pub const INDEX_EXISTS_SQL: &str = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 \
     AND c.relkind IN ('i', 'I'))";

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(validated: bool) -> SavedFk {
        SavedFk {
            job_id: 1,
            table: QualifiedName::new("public", "b"),
            name: "b_a_fk".into(),
            definition: if validated {
                "FOREIGN KEY (a) REFERENCES a(id)".into()
            } else {
                "FOREIGN KEY (a) REFERENCES a(id) NOT VALID".into()
            },
            was_validated: validated,
            referenced: QualifiedName::new("public", "a"),
        }
    }

    fn absent(partitioned: bool) -> Present {
        Present {
            definition: None,
            validated: None,
            partitioned,
        }
    }

    #[test]
    fn absent_validated_fk_is_added_not_valid_then_validated() {
        let s = steps(&saved(true), &absent(false)).unwrap();
        assert_eq!(s.len(), 2);
        assert!(
            matches!(&s[0], Step::Add { sql, valid: false } if sql.ends_with("REFERENCES a(id) NOT VALID"))
        );
        assert!(
            matches!(&s[1], Step::Validate { sql } if sql == r#"ALTER TABLE "public"."b" VALIDATE CONSTRAINT "b_a_fk""#)
        );
    }

    #[test]
    fn not_valid_fk_stays_not_valid() {
        let s = steps(&saved(false), &absent(false)).unwrap();
        assert_eq!(s.len(), 1);
        assert!(
            matches!(&s[0], Step::Add { sql, valid: false } if sql.matches("NOT VALID").count() == 1)
        );
    }

    #[test]
    fn partitioned_fk_is_added_in_one_step() {
        let s = steps(&saved(true), &absent(true)).unwrap();
        assert_eq!(s.len(), 1);
        assert!(matches!(&s[0], Step::Add { sql, valid: true } if !sql.contains("NOT VALID")));
    }

    #[test]
    fn present_fk_is_marked_and_validated_if_needed() {
        let present = Present {
            definition: Some("FOREIGN KEY (a) REFERENCES a(id) NOT VALID".into()),
            validated: Some(false),
            partitioned: false,
        };
        let s = steps(&saved(true), &present).unwrap();
        assert_eq!(s[0], Step::MarkPresent { valid: false });
        assert!(matches!(s[1], Step::Validate { .. }));
        let present = Present {
            validated: Some(true),
            ..present
        };
        assert_eq!(
            steps(&saved(true), &present).unwrap(),
            vec![Step::MarkPresent { valid: true }]
        );
    }

    #[test]
    fn different_constraint_in_the_way_is_a_conflict() {
        let present = Present {
            definition: Some("FOREIGN KEY (x) REFERENCES z(id)".into()),
            validated: Some(true),
            partitioned: false,
        };
        let err = steps(&saved(true), &present).unwrap_err();
        assert!(err
            .to_string()
            .contains("a different constraint named \"b_a_fk\" exists on public.b"));
    }

    #[test]
    fn states() {
        assert_eq!(
            RestoreState::from_validity(true, true),
            RestoreState::Restored
        );
        assert_eq!(
            RestoreState::from_validity(false, false),
            RestoreState::RestoredNotValid
        );
        assert_eq!(
            RestoreState::from_validity(true, false),
            RestoreState::ValidationFailed
        );
    }
}
