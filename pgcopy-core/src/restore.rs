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
//!
//! The saved rows are data another role may have written: every statement
//! built from them is proven by a parser to be what was saved
//! ([`crate::stored`]), and runs as the table's owner, only when both the job's
//! creator and the role restoring may act as that owner.

use crate::quote::{quote_ident, quote_literal, QualifiedName};
use crate::sql;
use crate::stored::{self, Authority, Refusal, Statement};
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
    /// Referenced table (a CHECK's own table).
    pub referenced: QualifiedName,
    /// A foreign key, or a `NOT VALID` CHECK.
    pub kind: crate::catalog::ConstraintKind,
    /// Its comment (`COMMENT ON CONSTRAINT`), put back with it.
    pub comment: Option<String>,
    /// What it depended on when it was dropped ([`crate::bindings`]);
    /// `None` in a row pgcopy did not write, which is refused.
    pub bindings: Option<Vec<crate::bindings::Binding>>,
    /// The names its copies on partitions had ([`CloneName`]), put back
    /// once it is re-created.
    pub clone_names: Vec<CloneName>,
}

/// A copy PostgreSQL made of a constraint on a partitioned table: one on
/// each partition of the referencing table, and one for each partition of a
/// partitioned referenced table. Re-adding the constraint makes them again,
/// under names PostgreSQL picks (PostgreSQL 18 numbers them otherwise than
/// when the partitions were created: `_fkey_3` for what was `_fkey_2_1`),
/// so the names they had are saved with it and put back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CloneName {
    /// The table it is on.
    pub table: QualifiedName,
    /// The table it references.
    pub referenced: QualifiedName,
    /// Its name.
    pub name: String,
}

/// The copies of the constraint of OID `oid` (an SQL expression), all the
/// way down, as one `jsonb` array of [`CloneName`].
pub fn clone_names_sql(oid: &str) -> String {
    format!(
        "(SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object( \
                    'table', pg_catalog.jsonb_build_object('schema', tn.nspname, 'name', t.relname), \
                    'referenced', pg_catalog.jsonb_build_object('schema', rn.nspname, 'name', r.relname), \
                    'name', c.conname) ORDER BY tn.nspname, t.relname, rn.nspname, r.relname, c.conname), \
                  '[]'::pg_catalog.jsonb) \
           FROM (WITH RECURSIVE tree(oid) AS ( \
                   SELECT k.oid FROM pg_catalog.pg_constraint k WHERE k.conparentid OPERATOR(pg_catalog.=) {oid} \
                   UNION ALL \
                   SELECT k.oid FROM pg_catalog.pg_constraint k JOIN tree ON k.conparentid OPERATOR(pg_catalog.=) tree.oid) \
                 SELECT oid FROM tree) AS d \
           JOIN pg_catalog.pg_constraint c ON c.oid OPERATOR(pg_catalog.=) d.oid \
           JOIN pg_catalog.pg_class t ON t.oid OPERATOR(pg_catalog.=) c.conrelid \
           JOIN pg_catalog.pg_namespace tn ON tn.oid OPERATOR(pg_catalog.=) t.relnamespace \
           JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) c.confrelid \
           JOIN pg_catalog.pg_namespace rn ON rn.oid OPERATOR(pg_catalog.=) r.relnamespace)"
    )
}

/// The copies of the constraint named `$2` on the table named `$1` (a
/// quoted qualified name), now: `SELECT` of one `jsonb`.
pub fn clones_now_sql() -> String {
    format!(
        "SELECT {}",
        clone_names_sql(
            "(SELECT c.oid FROM pg_catalog.pg_constraint c \
               WHERE c.conrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1) \
                 AND c.conname OPERATOR(pg_catalog.=) $2::pg_catalog.text)"
        )
    )
}

/// Reads [`CloneName`]s (`jsonb`); NULL reads as none.
pub fn clone_names_from_json(v: Option<serde_json::Value>) -> Result<Vec<CloneName>, String> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v).map_err(|e| format!("saved copies' names: {e}")),
    }
}

/// The statements that give the copies `now` the names `saved` had, each
/// matched by its table and the table it references (a pair found more
/// than once on either side is left as it is); through names of their own
/// first, so two copies may trade names.
pub fn clone_renames(saved: &[CloneName], now: &[CloneName]) -> Vec<String> {
    let key = |c: &CloneName| (c.table.clone(), c.referenced.clone());
    let once =
        |list: &[CloneName], c: &CloneName| list.iter().filter(|o| key(o) == key(c)).count() == 1;
    let moves: Vec<(&CloneName, &CloneName)> = now
        .iter()
        .filter(|n| once(now, n))
        .filter_map(|n| {
            saved
                .iter()
                .find(|s| key(s) == key(n) && once(saved, s))
                .filter(|s| s.name != n.name)
                .map(|s| (n, s))
        })
        .collect();
    let parked = |i: usize| format!("pgcopy renaming {i}");
    let first = moves
        .iter()
        .enumerate()
        .map(|(i, (n, _))| sql::rename_constraint(&n.table, &n.name, &parked(i)));
    let then = moves
        .iter()
        .enumerate()
        .map(|(i, (n, s))| sql::rename_constraint(&n.table, &parked(i), &s.name));
    first.chain(then).collect()
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
    /// Who owns the table, and who may act as its owner.
    pub authority: Authority,
}

/// One step of a restore. `Add` and `Validate` run as `owner`, the table's
/// owner (`SET LOCAL ROLE`), never with the restoring role's own rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Run `sql` and mark the row restored with `restored_valid = valid`, in one
    /// transaction.
    Add {
        /// The ALTER TABLE, checked by a parser.
        sql: String,
        /// Whether the constraint is validated once added.
        valid: bool,
        /// The role to run it as.
        owner: String,
        /// Then, as the owner too: its comment, by the quoting builder.
        comment: Option<String>,
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
        /// The role to run it as.
        owner: String,
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

/// Why a saved FK is not restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotRestored {
    /// A constraint with the saved name but another definition is in the way.
    #[error("a different constraint named {name:?} exists on {table} ({present}): drop or rename it, then restore again")]
    Conflict {
        /// Constraint name.
        name: String,
        /// Table, for people.
        table: String,
        /// The definition found.
        present: String,
    },
    /// The saved row may not be run (see [`crate::stored`]).
    #[error("foreign key {name:?} on {table}: {refusal}")]
    Refused {
        /// Constraint name.
        name: String,
        /// Table, for people.
        table: String,
        /// Why.
        refusal: Box<Refusal>,
    },
}

/// A constraint definition without its trailing `NOT VALID`: validity is kept
/// apart, in `was_validated`.
pub fn strip_not_valid(def: &str) -> &str {
    def.trim().trim_end_matches("NOT VALID").trim_end()
}

/// The steps restoring `saved` given what is `present`; `parse` is a
/// PostgreSQL parser (see [`crate::stored`]), which reads the statement to run
/// before it may be returned.
pub fn steps(
    saved: &SavedFk,
    present: &Present,
    parse: impl Fn(&str) -> Result<Vec<Statement>, String>,
) -> Result<Vec<Step>, NotRestored> {
    let refused = |refusal| NotRestored::Refused {
        name: saved.name.clone(),
        table: saved.table.display_name(),
        refusal: Box::new(refusal),
    };
    let owner = present.authority.owner.clone();
    let mut out = Vec::new();
    let valid_after_add = match &present.definition {
        Some(def) if strip_not_valid(def) == strip_not_valid(&saved.definition) => {
            let valid = present.validated.unwrap_or(false);
            out.push(Step::MarkPresent { valid });
            valid
        }
        Some(def) => {
            return Err(NotRestored::Conflict {
                name: saved.name.clone(),
                table: saved.table.display_name(),
                present: def.clone(),
            })
        }
        None => {
            stored::authorize(&saved.table, &present.authority).map_err(refused)?;
            let one_step = present.partitioned && saved.was_validated;
            let sql = sql::add_constraint(&saved.table, &saved.name, &saved.definition, !one_step);
            match saved.kind {
                crate::catalog::ConstraintKind::Foreign => stored::check_foreign_key(
                    &saved.table,
                    &saved.name,
                    &saved.referenced,
                    !one_step,
                    parse(&sql),
                ),
                crate::catalog::ConstraintKind::Check if !saved.was_validated => {
                    stored::check_check(&saved.table, &saved.name, parse(&sql))
                }
                // pgcopy saves only NOT VALID CHECKs: a row claiming one that
                // was validated was not written by it.
                crate::catalog::ConstraintKind::Check => Err(Refusal::Unexpected {
                    expected: "a NOT VALID CHECK".into(),
                    found: "a CHECK marked validated".into(),
                }),
            }
            .map_err(refused)?;
            if saved.bindings.is_none() {
                return Err(refused(Refusal::NoBindings {
                    what: format!("constraint {}", saved.name),
                }));
            }
            out.push(Step::Add {
                sql,
                valid: one_step,
                owner: owner.clone(),
                comment: saved
                    .comment
                    .as_ref()
                    .map(|c| sql::comment_on_constraint(&saved.table, &saved.name, c)),
            });
            one_step
        }
    };
    if saved.was_validated && !valid_after_add {
        stored::authorize(&saved.table, &present.authority).map_err(refused)?;
        out.push(Step::Validate {
            sql: sql::validate_constraint(&saved.table, &saved.name),
            owner,
        });
    }
    Ok(out)
}

/// What to do for a saved index that is not marked rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexAction {
    /// It exists already: only mark it rebuilt.
    MarkPresent,
    /// Run `before`, `sql` (checked by a parser) and `after`, then mark it
    /// rebuilt, all in one transaction. As the role restoring, not as the
    /// owner: PostgreSQL itself runs what an index build calls (its
    /// expressions and predicate) as the table's owner in a security-restricted
    /// operation, whoever builds it; the owner may lack CREATE on its own
    /// table's schema, which building it needs.
    Build {
        /// The saved definition.
        sql: String,
        /// Statements before it (its tablespace).
        before: Vec<String>,
        /// Statements after it (what hangs on the index: its key, replica
        /// identity, CLUSTER ON, comments, statistics targets), built by the
        /// quoting builder from the saved properties, to run as the table's
        /// owner.
        after: Vec<String>,
    },
}

impl IndexAction {
    /// Every statement of a build, in order.
    pub fn statements(&self) -> Vec<&str> {
        match self {
            IndexAction::MarkPresent => Vec::new(),
            IndexAction::Build {
                sql, before, after, ..
            } => before
                .iter()
                .map(String::as_str)
                .chain(std::iter::once(sql.as_str()))
                .chain(after.iter().map(String::as_str))
                .collect(),
        }
    }
}

/// A saved index, as `saved_indexes` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedIndex {
    /// The job that saved it.
    pub job_id: i64,
    /// Its table.
    pub table: QualifiedName,
    /// Its name (in the table's schema).
    pub name: String,
    /// `pg_get_indexdef` text (and, for a partitioned table's, its attaches).
    pub definition: String,
    /// What hangs on it.
    pub properties: crate::catalog::IndexProperties,
    /// What it depended on when it was dropped ([`crate::bindings`]);
    /// `None` in a row pgcopy did not write, which is refused.
    pub bindings: Option<Vec<crate::bindings::Binding>>,
}

/// What a running copy saved and dropped itself, held in memory: its own
/// rebuilds and restores run a stored row only when the row is one of
/// these, as saved ([`OwnSaved::check_index`],
/// [`OwnSaved::check_constraint`]). A row of its job it did not write
/// (another role's, raced in before the job row was visible) is never run
/// by it.
#[derive(Debug, Clone, Default)]
pub struct OwnSaved {
    /// By (schema, index name): its table, definition and properties.
    indexes: std::collections::HashMap<
        (String, String),
        (QualifiedName, String, crate::catalog::IndexProperties),
    >,
    /// By (table, name): its definition (without `NOT VALID`) and the
    /// referenced table.
    constraints: std::collections::HashMap<(QualifiedName, String), (String, QualifiedName)>,
}

impl OwnSaved {
    /// Records an index this copy saves (as `saved_indexes` holds it).
    pub fn add_index(
        &mut self,
        table: &QualifiedName,
        name: &str,
        definition: &str,
        properties: &crate::catalog::IndexProperties,
    ) {
        self.indexes.insert(
            (table.schema.clone(), name.to_string()),
            (table.clone(), definition.to_string(), properties.clone()),
        );
    }

    /// Records a foreign key or CHECK this copy saves.
    pub fn add_constraint(
        &mut self,
        table: &QualifiedName,
        name: &str,
        definition: &str,
        referenced: &QualifiedName,
    ) {
        self.constraints.insert(
            (table.clone(), name.to_string()),
            (strip_not_valid(definition).to_string(), referenced.clone()),
        );
    }

    /// Whether `saved` is an index this copy saved, as it saved it.
    pub fn check_index(&self, saved: &SavedIndex) -> Result<(), Refusal> {
        match self
            .indexes
            .get(&(saved.table.schema.clone(), saved.name.clone()))
        {
            Some((table, definition, properties))
                if *table == saved.table
                    && *definition == saved.definition
                    && *properties == saved.properties =>
            {
                Ok(())
            }
            _ => Err(Refusal::NotSavedByThisRun {
                what: format!("index {}", saved.name),
                table: saved.table.display_name(),
            }),
        }
    }

    /// Whether `saved` is a constraint this copy saved, as it saved it.
    pub fn check_constraint(&self, saved: &SavedFk) -> Result<(), Refusal> {
        match self
            .constraints
            .get(&(saved.table.clone(), saved.name.clone()))
        {
            Some((definition, referenced))
                if definition == strip_not_valid(&saved.definition)
                    && *referenced == saved.referenced =>
            {
                Ok(())
            }
            _ => Err(Refusal::NotSavedByThisRun {
                what: format!("constraint {}", saved.name),
                table: saved.table.display_name(),
            }),
        }
    }
}

/// What the destination has of a saved index, from
/// [`stored::index_probe_sql`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexPresent {
    /// An index of that name is on the table (one of that name on another
    /// table is no rebuilt index).
    pub index: bool,
    /// A PRIMARY KEY or UNIQUE constraint of the table uses it.
    pub constraint: bool,
    /// The table's owner may create objects in the tablespace its saved
    /// properties name (true when they name none): the build runs with the
    /// restorer's rights, so a row's tablespace is used only where the owner
    /// could have put the index itself.
    pub tablespace_allowed: bool,
}

/// Decides a saved index's rebuild: nothing to run when it is `present`
/// (with the constraint it backed, if any), else its definition (once
/// `parse` proved it is that index on that table and the `authority` allows
/// running it as the table's owner), in its tablespace, followed by its
/// constraint and what hung on it.
pub fn index_action(
    saved: &SavedIndex,
    present: IndexPresent,
    authority: &Authority,
    parse: impl Fn(&str) -> Result<Vec<Statement>, String>,
) -> Result<IndexAction, Refusal> {
    if present.index {
        return match &saved.properties.constraint {
            Some(c) if !present.constraint => Err(Refusal::IndexWithoutConstraint {
                index: saved.name.clone(),
                table: saved.table.display_name(),
                kind: c.kind.sql(),
            }),
            _ => Ok(IndexAction::MarkPresent),
        };
    }
    stored::authorize(&saved.table, authority)?;
    stored::check_index(&saved.table, &saved.name, parse(&saved.definition))?;
    if saved.bindings.is_none() {
        return Err(Refusal::NoBindings {
            what: format!("index {}", saved.name),
        });
    }
    if !present.tablespace_allowed {
        return Err(Refusal::Tablespace {
            index: saved.name.clone(),
            tablespace: saved.properties.tablespace.clone().unwrap_or_default(),
            owner: authority.owner.clone(),
        });
    }
    Ok(IndexAction::Build {
        sql: saved.definition.clone(),
        before: vec![sql::index_tablespace(&saved.properties)],
        after: sql::index_properties(&saved.table, &saved.name, &saved.properties),
    })
}

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
pub const FK_UNTRUSTED_CODE_SQL: &str = include_str!("../../sql/fk_untrusted_code.sql");

/// Which of a foreign key's tables its validation locks before checking
/// [`FK_UNTRUSTED_CODE_SQL`] (`sql/validation_locks.sql`): `$1` the table,
/// `$2` the referenced table, `$3` the trusted roles, `$4` the role the
/// check runs as (NULL: the current user). Rows of (schema, name), sorted.
pub const VALIDATION_LOCKS_SQL: &str = include_str!("../../sql/validation_locks.sql");

/// Locks `tables` (from [`VALIDATION_LOCKS_SQL`]) so that no one adds code
/// the validation's planning calls until the transaction ends; `None` when
/// there are none.
pub fn lock_for_validation(tables: &[QualifiedName]) -> Option<String> {
    (!tables.is_empty()).then(|| sql::lock_tables(tables, "SHARE UPDATE EXCLUSIVE"))
}

/// Why a foreign key must not be added validated, or validated, given what
/// [`FK_UNTRUSTED_CODE_SQL`] found (`what`, empty when nothing): code of a
/// role that is neither a superuser, the role the check runs as nor trusted
/// would run with that role's rights (the restoring role's in the CLI, where
/// `SET ROLE` is no sandbox; the referenced table's owner's in the
/// extension, perhaps a superuser), whoever owns the table: a cast of a
/// column's type is looked up when the check runs. `None` when nothing such
/// runs.
pub fn foreign_code_refusal(what: &str) -> Option<String> {
    (!what.is_empty()).then(|| {
        format!(
            "checking it would run code of another role ({what}) with the rights of the role that checks it"
        )
    })
}

/// Why a saved constraint was not added validated ([`foreign_code_refusal`]),
/// and what to do.
pub fn not_added(owner: &str, why: &str) -> String {
    format!("not added: {why}; add it as {owner:?} from its saved definition")
}

/// Why a restored constraint was left NOT VALID ([`foreign_code_refusal`]),
/// and how its owner validates it.
pub fn validation_skipped(saved: &SavedFk, owner: &str, why: &str) -> String {
    format!(
        "validation skipped: {why}; if you trust that role's code, restore it with `pgcopy restore-fks \
         --trust-owner` naming it, or validate it as {owner:?} yourself (ALTER TABLE {} VALIDATE CONSTRAINT {})",
        saved.table,
        quote_ident(&saved.name)
    )
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

#[cfg(test)]
mod tests;
