//! Why a stored statement is refused: each way it can differ from what
//! pgcopy saved, said in one sentence.

use super::*;

/// Why a stored definition was not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The text does not parse.
    #[error("its saved definition does not parse ({0}); it was not run")]
    Syntax(String),
    /// The text is not what pgcopy saves for this object.
    #[error("its saved definition is not {expected}: {found}; it was not run (the row was changed after pgcopy saved it)")]
    Unexpected {
        /// What it must be.
        expected: String,
        /// What it is.
        found: String,
    },
    /// A saved index that backed a constraint is there, without it.
    #[error(
        "index {index:?} on {table} is there, but not the {kind} constraint it backed: add it (ALTER TABLE ... ADD \
         CONSTRAINT {index:?} {kind} USING INDEX {index:?}), or drop the index and restore again"
    )]
    IndexWithoutConstraint {
        /// The index (and constraint) name.
        index: String,
        /// The table, for people.
        table: String,
        /// `PRIMARY KEY` or `UNIQUE`.
        kind: &'static str,
    },
    /// The job's creator could not have dropped it.
    #[error(
        "job {job} was created by role {creator:?}, which cannot act as {owner:?}, the owner of {table}: pgcopy \
         will not re-create it with {owner:?}'s rights (if it is genuine, re-create it as {owner:?} from the saved definition)"
    )]
    CreatorNotOwner {
        /// The job.
        job: i64,
        /// Its creator.
        creator: String,
        /// The table's owner.
        owner: String,
        /// The table, for people.
        table: String,
    },
    /// The definition holds a literal whose input function the owner (no
    /// superuser) may have written.
    #[error(
        "the saved definition of {what} on {table} holds a literal ({literal}) whose input function (a domain's \
         CHECK) would run with this role's rights when the definition is parsed, and {owner:?}, who owns the \
         table, is neither a superuser nor this role: it was not run; re-create it as {owner:?} from the saved \
         definition"
    )]
    OwnerLiterals {
        /// The object, for people (`index x`, `constraint y`).
        what: String,
        /// The table, for people.
        table: String,
        /// Its owner.
        owner: String,
        /// The first such literal, for people.
        literal: String,
    },
    /// The row holds no record of what the object depended on: pgcopy
    /// writes one in the transaction that drops it.
    #[error(
        "the saved row of {what} holds no record of what it depended on (pgcopy writes one when it drops \
         it): it was not written by pgcopy, and was not run"
    )]
    NoBindings {
        /// The object, for people (`index x`, `constraint y`).
        what: String,
    },
    /// A name in the saved text now leads to another object than it did.
    #[error(
        "{what} on {table} was not re-created: {} since it was dropped, so its saved definition would \
         now call {}; re-create it from the saved definition after checking {}",
        match rebound.len() { 1 => "this object was dropped or renamed", _ => "these objects were dropped or renamed" },
        match rebound.len() { 1 => "whatever now has that name", _ => "whatever now has those names" },
        rebound.join(", ")
    )]
    Rebound {
        /// The object, for people.
        what: String,
        /// The table, for people.
        table: String,
        /// What it depended on that is gone or renamed, each described.
        rebound: Vec<String>,
    },
    /// Re-created, the object depended on other objects than before: rolled
    /// back.
    #[error(
        "{what} on {table} was not re-created: its saved definition resolved to other objects than the \
         dropped one used ({why}), so it was rolled back; check what now has those names, then re-create it \
         from the saved definition"
    )]
    BoundDifferently {
        /// The object, for people.
        what: String,
        /// The table, for people.
        table: String,
        /// What changed.
        why: String,
    },
    /// A saved index's tablespace is one the table's owner may not use.
    #[error(
        "index {index:?} was saved in tablespace {tablespace:?}, where {owner:?}, who owns its table, may not \
         create objects: it was not rebuilt (rebuild it as {owner:?}, or GRANT CREATE ON TABLESPACE first)"
    )]
    Tablespace {
        /// The index.
        index: String,
        /// The tablespace its row names.
        tablespace: String,
        /// The table's owner.
        owner: String,
    },
    /// A row of this copy's job that this copy did not save.
    #[error(
        "{what} on {table} is in this job's saved rows, but this copy did not save it: not run (another \
         role's row, or a changed one; `pgcopy restore-fks` judges it with its own checks)"
    )]
    NotSavedByThisRun {
        /// The object, for people.
        what: String,
        /// The table, for people.
        table: String,
    },
    /// The role restoring may not act as the owner.
    #[error(
        "{table} belongs to role {owner:?}, and this role ({caller:?}) is not a member of it: restore as {owner:?} \
         or as a member of that role"
    )]
    CallerNotOwner {
        /// The table, for people.
        table: String,
        /// Its owner.
        owner: String,
        /// The role restoring.
        caller: String,
    },
}

pub(super) fn describe(s: &Statement) -> String {
    match s {
        Statement::CreateIndex { index, table, .. } => {
            format!("CREATE INDEX {index} ON {}", table.describe())
        }
        Statement::Alter {
            object,
            relation,
            commands,
        } => {
            let what = match object {
                AlterObject::Table => "ALTER TABLE",
                AlterObject::Index => "ALTER INDEX",
                AlterObject::Other => "ALTER (not a table or index)",
            };
            let cmds: Vec<String> = commands
                .iter()
                .map(|c| match c {
                    AlterCommand::AddForeignKey {
                        name,
                        referenced,
                        not_valid,
                    } => format!(
                        "ADD CONSTRAINT {name} FOREIGN KEY REFERENCES {}{}",
                        referenced.describe(),
                        if *not_valid { " NOT VALID" } else { "" }
                    ),
                    AlterCommand::AddCheck { name, not_valid } => format!(
                        "ADD CONSTRAINT {name} CHECK{}",
                        if *not_valid { " NOT VALID" } else { "" }
                    ),
                    AlterCommand::AttachPartition { partition } => {
                        format!("ATTACH PARTITION {}", partition.describe())
                    }
                    AlterCommand::Other { kind } => kind.clone(),
                })
                .collect();
            format!("{what} {} {}", relation.describe(), cmds.join(", "))
        }
        Statement::Other { kind } => format!("another kind of statement ({kind})"),
    }
}

pub(super) fn unexpected(expected: String, found: String) -> Refusal {
    Refusal::Unexpected { expected, found }
}
