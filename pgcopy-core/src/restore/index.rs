//! Saved indexes: what to run for each, from what the destination has now.

use super::*;

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

/// What the destination has of a saved index, from
/// [`crate::state_sql::INDEX_PROBE`].
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
