//! One restore contract for the CLI and the extension: for each saved index
//! or constraint, the ordered actions that put it back, grouped into the
//! transactions they run in ([`Unit`]). Which check comes where, what runs
//! with whose rights, and what the state schema records lives here; the CLI
//! (tokio-postgres, `SET ROLE`) and the extension (SPI, PostgreSQL's
//! security-restricted switch) only execute the list.
//!
//! A saved object is restored in four moves, each the same in both:
//! 1. probe what the destination has now ([`fk_probe`], [`index_probe`]);
//! 2. decide from the saved row and the probe ([`fk_restore`],
//!    [`index_restore`]), refusing what the rules of [`crate::stored`]
//!    refuse;
//! 3. run each [`Unit`] in a transaction of its own, rolling it back whole on
//!    any [`Failure`];
//! 4. record a failure as [`Unit::failed`] says.

use super::queries::{fk_mark, index_keys};
use super::*;
use crate::bindings;
use crate::trust::TrustedOwners;

/// How an executor takes a table owner's rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// `SET LOCAL ROLE` in the restoring session (the CLI). It bounds what a
    /// statement itself may do, but is no sandbox for code the statement
    /// calls, nor for the input functions its literals run while it is
    /// parsed: such literals are refused first ([`Action::CheckLiterals`]),
    /// and an index is built with the caller's rights (PostgreSQL runs what
    /// a build calls as the table's owner itself, restricted).
    SetRole,
    /// PostgreSQL's security-restricted switch to the owner (the extension,
    /// as `index.c` and `matview.c` use it): code cannot switch back, so a
    /// build whose owner is not trusted runs wholly inside it.
    Restricted,
}

/// A parameter of a [`Query`]; each executor converts it to its driver's.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// `int8`.
    Int8(i64),
    /// `text`, perhaps NULL.
    Text(Option<String>),
    /// `bool`.
    Bool(bool),
    /// `text[]`.
    TextArray(Vec<String>),
    /// `jsonb`, perhaps NULL.
    Json(Option<serde_json::Value>),
}

impl From<&str> for Param {
    fn from(s: &str) -> Self {
        Param::Text(Some(s.to_string()))
    }
}

/// A statement with its parameters (`$1`, `$2`, ... in order).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The statement.
    pub sql: String,
    /// Its parameters.
    pub params: Vec<Param>,
}

/// One action of a [`Unit`], in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Parse the definition with the executor's parser and refuse risky
    /// literals ([`LiteralCheck::verdict`]).
    CheckLiterals(LiteralCheck),
    /// Refuse when a saved binding is gone or leads elsewhere
    /// ([`BindingsCheck::before`]).
    CheckBindingsBefore(BindingsCheck),
    /// Lock, then refuse code the check would run ([`CodeCheck`]).
    CheckForeignCode(CodeCheck),
    /// Run statements with the caller's own rights, each alone.
    Run(Vec<String>),
    /// Set how the validation that follows plans its check
    /// ([`VALIDATION_PLAN_SQL`]), for the unit only: the CLI's transaction
    /// ends with it, the extension restores the settings after the unit.
    PlanValidation(Query),
    /// Run statements as `owner`, by the executor's [`Switch`], each alone.
    RunAsOwner {
        /// The table's owner.
        owner: String,
        /// The statements.
        statements: Vec<String>,
    },
    /// Read the re-created object's bindings (`query`: one `jsonb`) and
    /// refuse when they differ ([`BindingsCheck::after`]).
    CheckBindingsAfter(BindingsCheck, Query),
    /// Rename the partitions' copies back, best effort ([`CloneNames`]).
    RenameClones(CloneNames),
    /// Write to the state schema.
    Record(Query),
}

/// Why a [`Unit`] did not complete; it is rolled back whole either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A check refused: the whole sentence.
    Refused(String),
    /// The server (or the connection) failed: its message.
    Error(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused(m) | Failure::Error(m) => f.write_str(m),
        }
    }
}

/// What a failed unit leaves behind.
#[derive(Debug, Clone, PartialEq)]
enum OnFailure {
    /// Everything as it was: the caller records why where the object has a
    /// row of its own ([`fk_error`], [`index_error`]).
    Pending,
    /// A validation: the constraint stays NOT VALID, marked so, with why.
    NotValid { record: Query },
}

/// Actions run in one transaction (the CLI) or subtransaction (the
/// extension): all or nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// In order.
    pub actions: Vec<Action>,
    on_failure: OnFailure,
}

impl Unit {
    /// A unit of `actions` whose failure leaves everything as it was (the
    /// triggers of a job: [`trigger_restore`], [`disabled_triggers_update`]).
    pub fn new(actions: Vec<Action>) -> Unit {
        Unit {
            actions,
            on_failure: OnFailure::Pending,
        }
    }

    /// After the unit rolled back with `failure`: the message to report,
    /// and for a validation the statement that records it (in a
    /// transaction of its own).
    pub fn failed(&self, failure: Failure) -> (String, Option<Query>) {
        match (&self.on_failure, failure) {
            (OnFailure::NotValid { record }, failure) => {
                let message = match failure {
                    Failure::Error(e) => format!("validation failed: {e}"),
                    Failure::Refused(m) => m,
                };
                let mut record = record.clone();
                record.params.push(Param::Text(Some(message.clone())));
                (message, Some(record))
            }
            (OnFailure::Pending, f) => (f.to_string(), None),
        }
    }
}

/// The message an index that could not be rebuilt is reported and recorded
/// with.
pub fn index_failure(saved: &SavedIndex, why: &str) -> String {
    format!(
        "index {} on {} could not be rebuilt: {why}",
        saved.name,
        saved.table.display_name()
    )
}

/// How a saved foreign key (or NOT VALID CHECK) comes back.
#[derive(Debug, Clone, PartialEq)]
pub struct FkRestore {
    /// Adding it (or only marking what is there).
    pub add: Unit,
    /// Whether it is valid once `add` ran.
    pub valid_after_add: bool,
    /// Validating it, in a transaction of its own after `add` (the CLI runs
    /// these side by side on several sessions).
    pub validate: Option<Unit>,
}

/// Who restores, and with what they trust.
#[derive(Debug, Clone, Copy)]
pub struct Restorer<'a> {
    /// How it takes the owner's rights.
    pub switch: Switch,
    /// Owners whose code it trusts besides superusers and itself.
    pub trust: &'a TrustedOwners,
    /// What a running copy saved itself: a row of its job it did not write
    /// is refused ([`OwnSaved`]); `None` for rows of jobs no one runs.
    pub own: Option<&'a OwnSaved>,
    /// The state schema.
    pub state_schema: &'a str,
}

impl Restorer<'_> {
    /// `--trust-owner` counts only under `SET ROLE`, where the CLI's user
    /// named it; in the restricted switch nobody could (psql has no such
    /// flag), and a trusted owner there would take a build out of it.
    fn trusted(&self, authority: &mut Authority) {
        if self.switch == Switch::SetRole {
            authority.owner_trusted |= self.trust.trusts(&authority.owner);
        }
    }

    fn literals(&self, sql: &str, what: &str, table: &QualifiedName, a: &Authority) -> Vec<Action> {
        match (self.switch, a.owner_trusted) {
            (Switch::SetRole, false) => vec![Action::CheckLiterals(LiteralCheck {
                sql: sql.to_string(),
                what: what.to_string(),
                table: table.clone(),
                authority: a.clone(),
            })],
            _ => Vec::new(),
        }
    }

    fn code_check(&self, saved: &SavedFk, owner: &str, validating: bool) -> Action {
        let (trusted, checker) = match self.switch {
            Switch::SetRole => (self.trust.roles().to_vec(), Checker::CurrentUser),
            // Nobody can name trusted roles from psql.
            Switch::Restricted => (Vec::new(), Checker::SharedOwner),
        };
        Action::CheckForeignCode(CodeCheck {
            table: saved.table.clone(),
            referenced: saved.referenced.clone(),
            name: saved.name.clone(),
            trusted,
            checker,
            owner: owner.to_string(),
            validating,
        })
    }
}

/// How `saved` comes back, given what is `present` ([`steps`] decides;
/// this orders the checks around each step for `by`).
pub fn fk_restore(
    saved: &SavedFk,
    mut present: Present,
    by: &Restorer,
    parse: impl Fn(&str) -> Result<Vec<Statement>, String>,
) -> Result<FkRestore, NotRestored> {
    if let Some(own) = by.own {
        own.check_constraint(saved)
            .map_err(|refusal| NotRestored::Refused {
                name: saved.name.clone(),
                table: saved.table.display_name(),
                refusal: Box::new(refusal),
            })?;
    }
    by.trusted(&mut present.authority);
    let mut restore = FkRestore {
        add: Unit {
            actions: Vec::new(),
            on_failure: OnFailure::Pending,
        },
        valid_after_add: false,
        validate: None,
    };
    for step in steps(saved, &present, parse)? {
        match step {
            Step::MarkPresent { valid } => {
                restore.add.actions = vec![Action::Record(fk_mark(
                    by.state_schema,
                    saved,
                    valid,
                    false,
                ))];
                restore.valid_after_add = valid;
            }
            Step::Add {
                sql,
                valid,
                owner,
                comment,
            } => {
                restore.add.actions =
                    add_actions(saved, &present.authority, by, (sql, comment), valid, owner);
                restore.valid_after_add = valid;
            }
            Step::Validate { sql, owner } => {
                restore.validate = Some(Unit {
                    actions: vec![
                        by.code_check(saved, &owner, true),
                        Action::PlanValidation(Query {
                            sql: VALIDATION_PLAN_SQL.to_string(),
                            params: vec![
                                saved.table.to_string().as_str().into(),
                                saved.name.as_str().into(),
                            ],
                        }),
                        Action::RunAsOwner {
                            owner,
                            statements: vec![sql],
                        },
                        Action::Record(fk_mark(by.state_schema, saved, true, false)),
                    ],
                    on_failure: OnFailure::NotValid {
                        record: fk_mark(by.state_schema, saved, false, true),
                    },
                })
            }
        }
    }
    Ok(restore)
}

/// The actions that add `saved` back as `owner` (its statement and
/// comment, `valid` when added validated in one step): the checks before,
/// the statements, the bindings check after, its copies' names, its mark.
fn add_actions(
    saved: &SavedFk,
    authority: &Authority,
    by: &Restorer,
    (sql, comment): (String, Option<String>),
    valid: bool,
    owner: String,
) -> Vec<Action> {
    let what = format!("constraint {}", saved.name);
    let bindings = BindingsCheck {
        saved: saved.bindings.clone().unwrap_or_default(),
        what: what.clone(),
        table: saved.table.clone(),
    };
    let mut actions = by.literals(&sql, &what, &saved.table, authority);
    actions.push(Action::CheckBindingsBefore(bindings.clone()));
    // Added validated in one step (partitioned tables): the check runs
    // code.
    if valid {
        actions.push(by.code_check(saved, &owner, false));
    }
    actions.push(Action::RunAsOwner {
        owner: owner.clone(),
        statements: std::iter::once(sql).chain(comment).collect(),
    });
    actions.push(Action::CheckBindingsAfter(
        bindings,
        Query {
            sql: format!("SELECT {}", added_constraint_bindings()),
            params: vec![
                saved.table.to_string().as_str().into(),
                saved.name.as_str().into(),
            ],
        },
    ));
    if !saved.clone_names.is_empty() {
        actions.push(Action::RenameClones(CloneNames {
            saved: saved.clone_names.clone(),
            table: saved.table.clone(),
            name: saved.name.clone(),
            owner,
        }));
    }
    actions.push(Action::Record(fk_mark(
        by.state_schema,
        saved,
        valid,
        false,
    )));
    actions
}

/// How `saved` is rebuilt (one unit), given what is `present` and who owns
/// the table ([`index_action`] decides; this orders the checks around it
/// for `by`).
pub fn index_restore(
    saved: &SavedIndex,
    present: IndexPresent,
    mut authority: Authority,
    by: &Restorer,
    parse: impl Fn(&str) -> Result<Vec<Statement>, String>,
) -> Result<Unit, Refusal> {
    if let Some(own) = by.own {
        own.check_index(saved)?;
    }
    by.trusted(&mut authority);
    let mark = Action::Record(index_keys(
        crate::state_sql::MARK_INDEX.render(by.state_schema),
        saved,
    ));
    let on_failure = OnFailure::Pending;
    let IndexAction::Build { sql, before, after } =
        index_action(saved, present, &authority, parse)?
    else {
        return Ok(Unit {
            actions: vec![mark],
            on_failure,
        });
    };
    let what = format!("index {}", saved.name);
    let bindings = BindingsCheck {
        saved: saved.bindings.clone().unwrap_or_default(),
        what: what.clone(),
        table: saved.table.clone(),
    };
    let mut actions = by.literals(&sql, &what, &saved.table, &authority);
    actions.push(Action::CheckBindingsBefore(bindings.clone()));
    let owner = authority.owner.clone();
    match (by.switch, authority.owner_trusted) {
        // What hangs on the index (its key, replica identity, CLUSTER ON,
        // comments) is the owner's to put back: as the owner, so a key
        // reaches nothing the owner may not change.
        (Switch::SetRole, _) => {
            actions.push(Action::Run(before.into_iter().chain([sql]).collect()));
            if !after.is_empty() {
                actions.push(Action::RunAsOwner {
                    owner,
                    statements: after,
                });
            }
        }
        (Switch::Restricted, true) => actions.push(Action::Run(
            before.into_iter().chain([sql]).chain(after).collect(),
        )),
        // PostgreSQL parses the build with the caller's rights, and a
        // literal's input function (a domain's CHECK) runs then: the whole
        // build runs in the restricted switch to an owner not trusted.
        (Switch::Restricted, false) => actions.push(Action::RunAsOwner {
            owner,
            statements: before.into_iter().chain([sql]).chain(after).collect(),
        }),
    }
    actions.push(Action::CheckBindingsAfter(
        bindings,
        Query {
            sql: format!(
                "SELECT {}",
                bindings::bindings_sql(
                    "'pg_catalog.pg_class'::pg_catalog.regclass",
                    "pg_catalog.to_regclass($1)::pg_catalog.oid",
                )
            ),
            params: vec![QualifiedName::new(&saved.table.schema, &saved.name)
                .to_string()
                .as_str()
                .into()],
        },
    ));
    actions.push(mark);
    Ok(Unit {
        actions,
        on_failure,
    })
}

/// What puts back a trigger a job disabled, given who owns its table: its
/// mode, by the quoting builder, as the owner, only where the job's
/// creator and the role restoring could act as that owner.
pub fn trigger_restore(
    trigger: &crate::triggers::SavedTrigger,
    authority: &Authority,
) -> Result<Action, Refusal> {
    stored::authorize(&trigger.table, authority)?;
    Ok(Action::RunAsOwner {
        owner: authority.owner.clone(),
        statements: vec![trigger.restore_sql()],
    })
}
