//! Stored definitions are data, not code.
//!
//! The index and foreign key definitions a job saves live in the state schema,
//! where a less privileged role than the one restoring them may have written
//! them. Before pgcopy runs one, a real PostgreSQL parser reads it (the
//! server's own `raw_parser` in the extension, libpg_query in the CLI) and
//! reduces each statement to a [`Statement`]; [`check_index`] and
//! [`check_foreign_key`] then prove it is exactly what pgcopy saved: one
//! `CREATE INDEX` of that name on that table (plus, for a partitioned table's
//! index, `ALTER INDEX <it> ATTACH PARTITION ...`), or one `ALTER TABLE <that
//! table> ADD CONSTRAINT <that name> FOREIGN KEY ... REFERENCES <that table>`.
//! Anything else is refused, never run.
//!
//! A statement that passes is still run with no more rights than the table's
//! owner has, and only when the role that created the job could act as that
//! owner ([`authorize`]): the parser bounds *what* runs, the role bounds what
//! it can reach (an index expression calls functions, a foreign key adds
//! triggers).

use crate::quote::QualifiedName;

mod refusal;

pub use refusal::Refusal;
use refusal::{describe, unexpected};

/// A relation named in a statement, as written (unquoted parts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationRef {
    /// A database name before the schema (`db.schema.table`), if written.
    pub catalog: Option<String>,
    /// The schema, if written.
    pub schema: Option<String>,
    /// The relation's name.
    pub name: String,
}

impl RelationRef {
    /// Whether this names exactly `expected`, schema written out.
    pub fn is(&self, expected: &QualifiedName) -> bool {
        self.catalog.is_none()
            && self.schema.as_deref() == Some(expected.schema.as_str())
            && self.name == expected.name
    }

    fn describe(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.name),
            None => format!("{} (no schema)", self.name),
        }
    }
}

/// What `ALTER TABLE` / `ALTER INDEX` acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlterObject {
    /// `ALTER TABLE`.
    Table,
    /// `ALTER INDEX`.
    Index,
    /// Anything else (`ALTER VIEW`, `ALTER SEQUENCE`, ...).
    Other,
}

/// One command of an `ALTER TABLE` / `ALTER INDEX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterCommand {
    /// `ADD CONSTRAINT name FOREIGN KEY ... REFERENCES referenced`.
    AddForeignKey {
        /// The constraint's name (empty when none was written).
        name: String,
        /// The referenced table.
        referenced: RelationRef,
        /// `NOT VALID` was written.
        not_valid: bool,
    },
    /// `ADD CONSTRAINT name CHECK (...)`.
    AddCheck {
        /// The constraint's name (empty when none was written).
        name: String,
        /// `NOT VALID` was written.
        not_valid: bool,
    },
    /// `ATTACH PARTITION partition` (of an index, under `ALTER INDEX`).
    AttachPartition {
        /// The attached relation.
        partition: RelationRef,
    },
    /// Any other command (another constraint kind, OWNER TO, ...).
    Other {
        /// What it is, for the message.
        kind: String,
    },
}

/// One parsed statement, reduced to what the checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `CREATE [UNIQUE] INDEX`.
    CreateIndex {
        /// The index's name.
        index: String,
        /// Its table.
        table: RelationRef,
        /// `CONCURRENTLY` was written.
        concurrently: bool,
        /// `IF NOT EXISTS` was written.
        if_not_exists: bool,
    },
    /// `ALTER TABLE` or `ALTER INDEX`.
    Alter {
        /// What it alters.
        object: AlterObject,
        /// The relation altered.
        relation: RelationRef,
        /// Its commands.
        commands: Vec<AlterCommand>,
    },
    /// Any other statement.
    Other {
        /// Its node type, for the message (`AlterRoleStmt`, ...).
        kind: String,
    },
}

/// Proves a saved index definition is what pgcopy saves for index `index` on
/// `table`: `pg_get_indexdef`'s one `CREATE INDEX` of that name on that table,
/// followed, for a partitioned table's index, only by `ALTER INDEX <that
/// index> ATTACH PARTITION <an index>` statements.
pub fn check_index(
    table: &QualifiedName,
    index: &str,
    parsed: Result<Vec<Statement>, String>,
) -> Result<(), Refusal> {
    let statements = parsed.map_err(Refusal::Syntax)?;
    let expected = format!(
        "one CREATE INDEX {index} ON {} (with its ATTACH PARTITION statements)",
        table.display_name()
    );
    let Some((first, rest)) = statements.split_first() else {
        return Err(unexpected(expected, "no statement at all".into()));
    };
    match first {
        Statement::CreateIndex {
            index: name,
            table: on,
            concurrently: false,
            if_not_exists: false,
        } if name == index && on.is(table) => {}
        other => return Err(unexpected(expected, describe(other))),
    }
    let this_index = QualifiedName::new(&table.schema, index);
    for s in rest {
        match s {
            Statement::Alter {
                object: AlterObject::Index,
                relation,
                commands,
            } if relation.is(&this_index)
                && matches!(commands.as_slice(),
                    [AlterCommand::AttachPartition { partition }]
                        if partition.catalog.is_none() && partition.schema.is_some()) => {}
            other => return Err(unexpected(expected, describe(other))),
        }
    }
    Ok(())
}

/// Proves a statement built to restore a saved `NOT VALID` CHECK constraint
/// is exactly one `ALTER TABLE <table> ADD CONSTRAINT <name> CHECK (...) NOT
/// VALID`.
pub fn check_check(
    table: &QualifiedName,
    name: &str,
    parsed: Result<Vec<Statement>, String>,
) -> Result<(), Refusal> {
    let statements = parsed.map_err(Refusal::Syntax)?;
    let expected = format!("one CHECK {name} on {} NOT VALID", table.display_name());
    match statements.as_slice() {
        [Statement::Alter {
            object: AlterObject::Table,
            relation,
            commands,
        }] if relation.is(table)
            && matches!(commands.as_slice(),
                [AlterCommand::AddCheck { name: n, not_valid: true }] if n == name) =>
        {
            Ok(())
        }
        [one] => Err(unexpected(expected, describe(one))),
        many => Err(unexpected(
            expected,
            format!(
                "{} statements ({})",
                many.len(),
                many.iter().map(describe).collect::<Vec<_>>().join("; ")
            ),
        )),
    }
}

/// Proves a statement built to restore a saved foreign key (see
/// [`crate::sql::add_constraint`]) is exactly one `ALTER TABLE <table> ADD
/// CONSTRAINT <name> FOREIGN KEY ... REFERENCES <referenced>`, `NOT VALID`
/// exactly when `not_valid`, the referenced table written with its schema (as
/// `pg_get_constraintdef` writes it under pgcopy's pinned `search_path`), so it
/// cannot bind to a look-alike.
pub fn check_foreign_key(
    table: &QualifiedName,
    name: &str,
    referenced: &QualifiedName,
    not_valid: bool,
    parsed: Result<Vec<Statement>, String>,
) -> Result<(), Refusal> {
    let statements = parsed.map_err(Refusal::Syntax)?;
    let expected = format!(
        "one FOREIGN KEY {name} on {} referencing {}{}",
        table.display_name(),
        referenced.display_name(),
        if not_valid { " NOT VALID" } else { "" }
    );
    match statements.as_slice() {
        [Statement::Alter {
            object: AlterObject::Table,
            relation,
            commands,
        }] if relation.is(table) => match commands.as_slice() {
            [AlterCommand::AddForeignKey {
                name: n,
                referenced: r,
                not_valid: nv,
            }] if n == name && r.is(referenced) && *nv == not_valid => Ok(()),
            _ => Err(unexpected(expected, describe(&statements[0]))),
        },
        [one] => Err(unexpected(expected, describe(one))),
        many => Err(unexpected(
            expected,
            format!(
                "{} statements ({})",
                many.len(),
                many.iter().map(describe).collect::<Vec<_>>().join("; ")
            ),
        )),
    }
}

/// Who stands behind a restore: the owner of the table it touches, whether the
/// role restoring may act as that owner, and whether the role that created
/// the job could.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// The job whose saved row it is.
    pub job: i64,
    /// The table's owner.
    pub owner: String,
    /// The role restoring (`current_user`).
    pub caller: String,
    /// `pg_has_role(current_user, owner, 'MEMBER')`.
    pub caller_is_member: bool,
    /// The job's creator.
    pub creator: String,
    /// `pg_has_role(creator, owner, 'MEMBER')`.
    pub creator_is_member: bool,
    /// The owner is a superuser or the role restoring: what it wrote may be
    /// parsed with this role's rights (see [`check_literals`]).
    pub owner_trusted: bool,
}

/// Whether a saved object of `table` may be re-created, as its owner: only when
/// the job's creator could act as the owner (so the row carries no rights its
/// writer lacked) and the role restoring can too (so `SET ROLE` gives it
/// nothing new).
pub fn authorize(table: &QualifiedName, a: &Authority) -> Result<(), Refusal> {
    if !a.creator_is_member {
        return Err(Refusal::CreatorNotOwner {
            job: a.job,
            creator: a.creator.clone(),
            owner: a.owner.clone(),
            table: table.display_name(),
        });
    }
    if !a.caller_is_member {
        return Err(Refusal::CallerNotOwner {
            table: table.display_name(),
            owner: a.owner.clone(),
            caller: a.caller.clone(),
        });
    }
    Ok(())
}

/// Whether a definition holding `risky` literals (those whose input function
/// the parser would not take from `pg_catalog`: cast to another schema's type,
/// or with no cast, typed by where they stand; described for people) may be
/// run by this role outside a security-restricted operation. Parsing a
/// literal runs its type's input function, and for a domain (or an array,
/// range or row of one) the domain's CHECK: with the parsing role's rights,
/// before any `SET ROLE` or the table owner's switch that `CREATE INDEX`
/// makes. So where the table's owner is neither a superuser nor this role,
/// only literals cast to `pg_catalog`'s types are parsed; the definition is
/// left for the owner to re-create otherwise.
pub fn check_literals(
    table: &QualifiedName,
    what: &str,
    risky: &[String],
    a: &Authority,
) -> Result<(), Refusal> {
    match risky.first() {
        Some(l) if !a.owner_trusted => Err(Refusal::OwnerLiterals {
            what: what.to_string(),
            table: table.display_name(),
            owner: a.owner.clone(),
            literal: l.clone(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
