//! The checks of a restore unit ([`super::Action`]): each carries what it
//! needs, says which query the executor runs, and judges the answer, so
//! both executors refuse with the same sentences.

use super::*;
use crate::bindings::{self, Binding};

/// The role a foreign key's check is taken to run with, for
/// [`CodeCheck`]: whose own code it may run besides superusers'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checker {
    /// The current user: under `SET ROLE`, code the check calls runs with
    /// the restoring role's rights.
    CurrentUser,
    /// The tables' owner where both tables have one owner, else no one
    /// ([`CHECKER_SQL`]): inside the restricted switch the check runs as
    /// the table's owner, and PostgreSQL may run it as the referenced
    /// table's.
    SharedOwner,
}

/// The role a foreign key's check runs with under [`Checker::SharedOwner`]
/// (`sql/fk_checker.sql`): `$1` the table, `$2` the referenced table
/// (quoted names); one text, `''` when the owners differ.
pub const CHECKER_SQL: &str = include_str!("../../../sql/fk_checker.sql");

/// Refuses a foreign key whose check would run code of a role that is
/// neither a superuser, the [`Checker`] nor trusted. The executor locks the
/// tables such a role could change ([`CodeCheck::locks`]), in the
/// transaction that then adds or validates, reads what the check would run
/// ([`CodeCheck::code`]) and asks [`CodeCheck::verdict`].
#[derive(Debug, Clone, PartialEq)]
pub struct CodeCheck {
    /// The referencing table.
    pub table: QualifiedName,
    /// The referenced table.
    pub referenced: QualifiedName,
    /// The constraint.
    pub name: String,
    /// Roles trusted beyond superusers and the checker.
    pub trusted: Vec<String>,
    /// Who the check runs as.
    pub checker: Checker,
    /// The table's owner, named in the refusal.
    pub owner: String,
    /// Whether the check validates a constraint already back (else it adds
    /// one validated).
    pub validating: bool,
}

impl CodeCheck {
    /// The query of the tables to lock ([`VALIDATION_LOCKS_SQL`]), given the
    /// checker (`None`: the current user; see [`CHECKER_SQL`]): rows of
    /// (schema, name), locked by [`lock_for_validation`].
    pub fn locks(&self, checker: Option<String>) -> Query {
        Query {
            sql: VALIDATION_LOCKS_SQL.to_string(),
            params: vec![
                self.table.to_string().as_str().into(),
                self.referenced.to_string().as_str().into(),
                Param::TextArray(self.trusted.clone()),
                Param::Text(checker),
            ],
        }
    }

    /// The query of what the check would run ([`FK_UNTRUSTED_CODE_SQL`]):
    /// one text.
    pub fn code(&self, checker: Option<String>) -> Query {
        Query {
            sql: format!("SELECT ({FK_UNTRUSTED_CODE_SQL})"),
            params: vec![
                self.table.to_string().as_str().into(),
                self.referenced.to_string().as_str().into(),
                self.name.as_str().into(),
                Param::TextArray(self.trusted.clone()),
                Param::Text(checker),
            ],
        }
    }

    /// The query of the checker under [`Checker::SharedOwner`].
    pub fn checker_query(&self) -> Option<Query> {
        (self.checker == Checker::SharedOwner).then(|| Query {
            sql: CHECKER_SQL.to_string(),
            params: vec![
                self.table.to_string().as_str().into(),
                self.referenced.to_string().as_str().into(),
            ],
        })
    }

    /// A refusal when the code found (`what`, empty when none) is not the
    /// trusted roles' ([`foreign_code_refusal`]).
    pub fn verdict(&self, what: &str) -> Result<(), Failure> {
        match foreign_code_refusal(what) {
            None => Ok(()),
            Some(why) if self.validating => Err(Failure::Refused(validation_skipped(
                &self.table,
                &self.name,
                &self.owner,
                &why,
            ))),
            Some(why) => Err(Failure::Refused(not_added(&self.owner, &why))),
        }
    }
}

/// What the re-created object's names must still resolve to, and what it
/// must depend on once re-created ([`crate::bindings`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BindingsCheck {
    /// What it depended on when it was dropped.
    pub saved: Vec<Binding>,
    /// The object, for people (`index x`, `constraint y`).
    pub what: String,
    /// Its table.
    pub table: QualifiedName,
}

impl BindingsCheck {
    /// The query of what each saved OID is now ([`bindings::IDENTITIES_NOW_SQL`]):
    /// a text a row, in the saved order. `None` when nothing was bound.
    pub fn identities_now(&self) -> Option<Query> {
        (!self.saved.is_empty()).then(|| Query {
            sql: bindings::IDENTITIES_NOW_SQL.to_string(),
            params: vec![Param::Json(serde_json::to_value(&self.saved).ok())],
        })
    }

    /// Refuses when a name is gone or leads elsewhere now (`now` from
    /// [`BindingsCheck::identities_now`]).
    pub fn before(&self, now: &[Option<String>]) -> Result<(), Failure> {
        let rebound = bindings::rebound(&self.saved, now);
        match rebound.is_empty() {
            true => Ok(()),
            false => Err(Failure::Refused(
                Refusal::Rebound {
                    what: self.what.clone(),
                    table: self.table.display_name(),
                    rebound,
                }
                .to_string(),
            )),
        }
    }

    /// Refuses when the object re-created depends on other objects than
    /// the saved one did (`now`, the `jsonb` of [`Action::CheckBindingsAfter`]).
    pub fn after(&self, now: Option<serde_json::Value>) -> Result<(), Failure> {
        let now = bindings::from_json(now)
            .map_err(Failure::Error)?
            .unwrap_or_default();
        match bindings::differs(&self.saved, &now) {
            None => Ok(()),
            Some(why) => Err(Failure::Refused(
                Refusal::BoundDifferently {
                    what: self.what.clone(),
                    table: self.table.display_name(),
                    why,
                }
                .to_string(),
            )),
        }
    }
}

/// A definition whose literals must be checked before it is parsed with the
/// caller's rights ([`Switch::SetRole`] only; [`stored::check_literals`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LiteralCheck {
    /// The definition.
    pub sql: String,
    /// The object, for people.
    pub what: String,
    /// Its table.
    pub table: QualifiedName,
    /// Who owns it.
    pub authority: Authority,
}

impl LiteralCheck {
    /// Refuses when the executor's parser found literals (`risky`) whose
    /// input functions are not trusted code.
    pub fn verdict(&self, risky: &[String]) -> Result<(), Failure> {
        stored::check_literals(&self.table, &self.what, risky, &self.authority)
            .map_err(|r| Failure::Refused(r.to_string()))
    }
}

/// The partitions' copies of a re-added foreign key, renamed to what they
/// were ([`clone_renames`]), as its owner, best effort: where the renames
/// fail they are rolled back alone and a warning says so.
#[derive(Debug, Clone, PartialEq)]
pub struct CloneNames {
    /// The names they had.
    pub saved: Vec<CloneName>,
    /// The key's table.
    pub table: QualifiedName,
    /// The key.
    pub name: String,
    /// Who runs the renames.
    pub owner: String,
}

impl CloneNames {
    /// The query of the copies' names now (one `jsonb`).
    pub fn now(&self) -> Query {
        Query {
            sql: clones_now_sql(),
            params: vec![
                self.table.to_string().as_str().into(),
                self.name.as_str().into(),
            ],
        }
    }

    /// The renames, given [`CloneNames::now`]'s answer.
    pub fn renames(&self, now: Option<serde_json::Value>) -> Result<Vec<String>, String> {
        Ok(clone_renames(&self.saved, &clone_names_from_json(now)?))
    }

    /// The warning when the renames failed with `error`.
    pub fn warning(&self, error: &str) -> String {
        format!(
            "foreign key {} on {} is back, but its copies on partitions keep the names PostgreSQL gave them: {error}",
            crate::quote::printable(&self.name),
            self.table.display_name()
        )
    }
}
