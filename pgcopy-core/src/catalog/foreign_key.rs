//! Foreign keys and the other constraints as the catalog reads them,
//! with the equality each key compares its columns with.

use super::yes;
use crate::quote::QualifiedName;
use serde::{Deserialize, Serialize};

/// A foreign-key constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    /// Constraint name.
    pub name: String,
    /// The referencing table.
    pub table: QualifiedName,
    /// The referenced table.
    pub referenced: QualifiedName,
    /// `pg_get_constraintdef(oid)`: the exact text to re-create it.
    pub definition: String,
    /// `convalidated`: false for a NOT VALID constraint.
    pub validated: bool,
    /// Inherited from a partitioned parent's constraint (`conparentid <> 0`): it
    /// follows its parent and is never handled on its own.
    #[serde(default)]
    pub inherited: bool,
    /// A foreign key, or a `NOT VALID` CHECK constraint (which rows the source
    /// keeps may violate, so a load must go without it), saved, dropped and
    /// restored the same way; a CHECK's `referenced` is its own table.
    #[serde(default)]
    pub kind: ConstraintKind,
    /// A foreign key's referencing columns, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// The referenced columns, in the same order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referenced_columns: Vec<String>,
    /// `MATCH FULL`: only a row whose columns are all NULL references
    /// nothing (under MATCH SIMPLE, one NULL column is enough).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub match_full: bool,
    /// Per column pair, the referenced column's collation where the
    /// referencing column has another one (PostgreSQL compares the pair in
    /// the referenced column's; an `=` between them names none and fails).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collations: Vec<Option<QualifiedName>>,
    /// The referencing table's owner holds REFERENCES on the referenced
    /// columns: a key the load drops is re-created as that owner, so
    /// without it the key could not come back (true for CHECKs).
    #[serde(default = "yes")]
    pub owner_may_reference: bool,
    /// The referenced table's unique index it uses (`conindid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// Per column pair, how the key compares it (its own equality
    /// operator): what the joins pgcopy writes over the key may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equality: Vec<KeyEquality>,
}

/// The operator a foreign key compares one column pair with
/// (`conpfeqop`), as SQL pgcopy writes over the key calls it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEquality {
    /// The operator's schema.
    pub schema: String,
    /// Its name (`=`).
    pub name: String,
    /// It takes exactly the referenced and referencing columns' types
    /// (domains as their base types): the parser picks it and adds no
    /// cast.
    pub exact: bool,
    /// Roles other than superusers that own the operator, its function or
    /// its schema (they could change what it does or put another in its
    /// place).
    #[serde(default)]
    pub owners: Vec<String>,
    /// Roles other than superusers that own either column's type (or the
    /// type under a domain, or an array's element type): such an owner may
    /// add an implicit cast from it that the parser would pick where the
    /// operator does not take the types exactly.
    #[serde(default)]
    pub type_owners: Vec<String>,
    /// Roles other than superusers that may create objects in its schema
    /// (`PUBLIC` for everyone): where it does not take the columns' types
    /// exactly, one could add an operator of its name that does, which the
    /// parser would pick.
    #[serde(default)]
    pub creators: Vec<String>,
}

impl KeyEquality {
    /// `pg_catalog.=` on two columns of one built-in type, for tests.
    #[cfg(test)]
    pub(crate) fn builtin() -> KeyEquality {
        KeyEquality {
            schema: "pg_catalog".into(),
            name: "=".into(),
            exact: true,
            owners: Vec::new(),
            type_owners: Vec::new(),
            creators: Vec::new(),
        }
    }

    /// The operator, as `OPERATOR(schema.name)`.
    pub fn sql(&self) -> String {
        format!(
            "OPERATOR({}.{})",
            crate::quote::quote_ident(&self.schema),
            self.name
        )
    }

    /// The roles `trusted` does not trust whose code comparing with it could
    /// run: the operator's owners, and where it does not take the columns'
    /// types exactly, the types' owners.
    pub fn untrusted<'a>(&'a self, trusted: &dyn Fn(&str) -> bool) -> Vec<&'a str> {
        let (types, creators) = match self.exact {
            true => (&[][..], &[][..]),
            false => (&self.type_owners[..], &self.creators[..]),
        };
        let mut roles: Vec<&str> = self
            .owners
            .iter()
            .chain(types)
            .chain(creators)
            .map(String::as_str)
            .filter(|r| !trusted(r))
            .collect();
        roles.sort_unstable();
        roles.dedup();
        roles
    }
}

/// What kind of constraint a job saves, drops and restores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    /// `FOREIGN KEY`.
    #[default]
    Foreign,
    /// `CHECK ... NOT VALID`.
    Check,
}

impl ConstraintKind {
    /// `pg_constraint.contype`, as `saved_fks.constraint_type` stores it.
    pub fn contype(self) -> &'static str {
        match self {
            ConstraintKind::Foreign => "f",
            ConstraintKind::Check => "c",
        }
    }

    /// From `contype`.
    pub fn from_contype(c: &str) -> Self {
        match c {
            "c" => ConstraintKind::Check,
            _ => ConstraintKind::Foreign,
        }
    }
}
