//! Indexes as the catalog reads them: what an index is, the constraint it
//! backs, and the properties that hang on it (replica identity, CLUSTER ON,
//! comments, statistics targets), kept to be put back as they were.

use super::yes;
use crate::quote::QualifiedName;
use serde::{Deserialize, Serialize};

/// An index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Its table.
    pub table: QualifiedName,
    /// Index name (in the table's schema).
    pub name: String,
    /// `pg_get_indexdef` text: the CREATE INDEX statement.
    pub definition: String,
    /// Its OID: a table's unique indexes are rebuilt oldest first.
    #[serde(default)]
    pub oid: u32,
    /// `indisunique`.
    #[serde(default)]
    pub unique: bool,
    /// Backs a PRIMARY KEY, UNIQUE or EXCLUDE constraint of its table.
    #[serde(default)]
    pub backs_constraint: bool,
    /// `indisvalid`.
    #[serde(default = "yes")]
    pub valid: bool,
    /// A partition of a partitioned table's index: it follows its parent.
    #[serde(default)]
    pub is_partition: bool,
    /// The partitioned index this one is attached to (schema and name).
    #[serde(default)]
    pub parent: Option<QualifiedName>,
    /// Has expression columns: ANALYZE gathers statistics for them, so a table
    /// whose such index is deferred is analyzed only after the rebuild.
    #[serde(default)]
    pub has_expressions: bool,
    /// On a partitioned table with a partition that is not a table (a foreign
    /// table, which has no index): such an index cannot be rebuilt valid from
    /// `ON ONLY` and its partitions' indexes, so it is never deferred.
    #[serde(default)]
    pub other_partitions: bool,
    /// Something other than a foreign key depends on it or on the constraint
    /// it backs (a view grouping by a primary key, say): dropping it would
    /// fail, so it is never deferred.
    #[serde(default)]
    pub others_depend: bool,
    /// The connecting role may build it again: CREATE INDEX asks whoever
    /// runs it for CREATE on the table's schema (and on the index's
    /// tablespace). One it may not rebuild is never deferred.
    #[serde(default = "yes")]
    pub creatable: bool,
    /// Its key columns by name, in order (none for an expression's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_columns: Vec<String>,
    /// Has a `WHERE` (a partial index): no foreign key can use it.
    #[serde(default)]
    pub partial: bool,
    /// `indimmediate`: a DEFERRABLE key's index is not; no foreign key can
    /// use it.
    #[serde(default = "yes")]
    pub immediate: bool,
    /// Rebuilt whatever its table's size: a foreign key re-created after
    /// the load would, with the table's unique indexes left as they are,
    /// choose another one than it uses (set where the unique indexes are
    /// ranked for their rebuild, with `unique_rank`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rebuilt_for_fks: bool,
    /// Roles other than superusers, the table's owner and the reading role
    /// that could put other objects under the names its definition resolves
    /// once its drop unpins them (they own what it depends on, or its
    /// schema, or may create there; `PUBLIC` for everyone): see
    /// [`crate::bindings`]. Such an index is not deferred unless they are
    /// trusted ([`Index::rebindable_by`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rebinders: Vec<String>,
    /// What hangs on the index apart from its definition, put back after a
    /// deferred rebuild.
    #[serde(flatten)]
    pub properties: IndexProperties,
}

/// What `pg_get_indexdef` does not say about an index, and a rebuild must put
/// back: saved with the definition (as data, applied with statements the
/// quoting builder makes, see [`crate::sql::index_properties`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexProperties {
    /// The table's replica identity (`REPLICA IDENTITY USING INDEX`).
    #[serde(default)]
    pub replica_identity: bool,
    /// The table's `CLUSTER ON` index.
    #[serde(default)]
    pub clustered: bool,
    /// `COMMENT ON INDEX`.
    #[serde(default)]
    pub comment: Option<String>,
    /// Statistics targets set per index column (`ALTER INDEX ... ALTER COLUMN
    /// n SET STATISTICS t`): (column number, target).
    #[serde(default)]
    pub statistics: Vec<(i32, i32)>,
    /// Its tablespace, when not the database's default.
    #[serde(default)]
    pub tablespace: Option<String>,
    /// The PRIMARY KEY or UNIQUE constraint it backs (a b-tree's), put back
    /// with `ADD CONSTRAINT ... USING INDEX` once the index is built.
    #[serde(default)]
    pub constraint: Option<BackedConstraint>,
    /// A unique index's place in its table's unique indexes' rebuild (0:
    /// first). A foreign key uses the oldest unique index that fits it, so
    /// they are rebuilt in this order, one after another: the one each key
    /// uses before the others that fit it, else oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_rank: Option<u32>,
}

/// A PRIMARY KEY or UNIQUE constraint, as the index behind it needs it put
/// back: its name is the index's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackedConstraint {
    /// Which kind.
    pub kind: KeyKind,
    /// `DEFERRABLE`.
    #[serde(default)]
    pub deferrable: bool,
    /// `INITIALLY DEFERRED`.
    #[serde(default)]
    pub initially_deferred: bool,
    /// `COMMENT ON CONSTRAINT` (apart from the index's own comment).
    #[serde(default)]
    pub comment: Option<String>,
}

/// The kinds of constraint an index build can put back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// `PRIMARY KEY`.
    PrimaryKey,
    /// `UNIQUE`.
    Unique,
}

impl KeyKind {
    /// The SQL words.
    pub fn sql(self) -> &'static str {
        match self {
            KeyKind::PrimaryKey => "PRIMARY KEY",
            KeyKind::Unique => "UNIQUE",
        }
    }
}

impl Index {
    /// The roles, not trusted by `trust`, that could put other objects under
    /// the names this index's definition resolves while it is dropped
    /// ([`Index::rebinders`]): where there is one, it is not deferred.
    pub fn rebindable_by<'a>(&'a self, trust: &crate::trust::TrustedOwners) -> Vec<&'a str> {
        self.rebinders
            .iter()
            .map(String::as_str)
            .filter(|r| !trust.trusts(r))
            .collect()
    }
}

#[cfg(test)]
impl Index {
    /// A valid secondary index `name` on `schema.table` (attached to index
    /// `parent` of the same schema, if any), for tests to adjust.
    pub(crate) fn sample(schema: &str, table: &str, name: &str, parent: Option<&str>) -> Index {
        Index {
            table: QualifiedName::new(schema, table),
            name: name.into(),
            definition: format!("CREATE INDEX {name} ON {schema}.{table} USING btree (id)"),
            oid: 0,
            unique: false,
            backs_constraint: false,
            valid: true,
            is_partition: parent.is_some(),
            parent: parent.map(|p| QualifiedName::new(schema, p)),
            has_expressions: false,
            other_partitions: false,
            others_depend: false,
            creatable: true,
            key_columns: vec!["id".into()],
            partial: false,
            immediate: true,
            rebuilt_for_fks: false,
            rebinders: Vec::new(),
            properties: IndexProperties::default(),
        }
    }
}
