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

use crate::quote::{quote_ident, QualifiedName};
use crate::sql;
use crate::stored::{self, Authority, Refusal, Statement};
use serde::{Deserialize, Serialize};

mod actions;
mod checks;
mod clones;
mod index;
mod queries;
mod statements;

pub use actions::{
    fk_restore, index_failure, index_restore, trigger_restore, Action, Failure, FkRestore, Param,
    Query, Restorer, Switch, Unit,
};
pub use checks::{BindingsCheck, Checker, CloneNames, CodeCheck, LiteralCheck, CHECKER_SQL};
pub use queries::{
    disabled_triggers_update, fk_error, fk_probe, index_error, index_probe, table_probe,
};

pub use clones::{
    clone_names_from_json, clone_names_sql, clone_renames, clones_now_sql, CloneName,
};
pub use index::{index_action, IndexAction, IndexPresent, SavedIndex};
pub use statements::{
    added_constraint_bindings, lock_for_validation, FK_UNTRUSTED_CODE_SQL, VALIDATION_LOCKS_SQL,
    VALIDATION_PLAN_SQL,
};

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

/// What the destination has now, from [`crate::state_sql::FK_PROBE`].
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

/// Why a restored constraint (`name` on `table`) was left NOT VALID
/// ([`foreign_code_refusal`]), and how its owner validates it.
fn validation_skipped(table: &QualifiedName, name: &str, owner: &str, why: &str) -> String {
    format!(
        "validation skipped: {why}; if you trust that role's code, restore it with `pgcopy restore-fks \
         --trust-owner` naming it, or validate it as {owner:?} yourself (ALTER TABLE {table} VALIDATE CONSTRAINT {})",
        quote_ident(name)
    )
}

#[cfg(test)]
mod tests;
