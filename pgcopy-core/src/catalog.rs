//! The catalog model: what pgcopy knows about a database's tables, constraints and
//! sequences. Filled from `sql/catalog.sql`, which returns this as one `jsonb`
//! document, so the CLI (over the wire) and the extension (over SPI) read the
//! catalog with the same query and the same deserializer.

use crate::quote::QualifiedName;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Everything pgcopy reads from one database's catalog.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Ordinary tables, partitioned tables and their partitions.
    #[serde(default)]
    pub tables: Vec<Table>,
    /// Foreign-key constraints.
    #[serde(default)]
    pub foreign_keys: Vec<ForeignKey>,
    /// `NOT VALID` CHECK constraints of ordinary tables, declared there (not
    /// inherited): rows the source keeps may violate them.
    #[serde(default)]
    pub not_valid_checks: Vec<ForeignKey>,
    /// Sequences, owned by a column or standalone.
    #[serde(default)]
    pub sequences: Vec<Sequence>,
    /// Materialized views.
    #[serde(default)]
    pub matviews: Vec<MatView>,
    /// Indexes of tables.
    #[serde(default)]
    pub indexes: Vec<Index>,
    /// Large objects in the database (`pg_largeobject_metadata`): pgcopy does
    /// not copy them, so a run says so when the source has any.
    #[serde(default)]
    pub large_objects: i64,
    /// The role the catalog was read as (`current_user`).
    #[serde(default)]
    pub current_user: String,
    /// Whether that role is a superuser.
    #[serde(default)]
    pub superuser: bool,
    /// The server's `server_version_num` (150004 for 15.4; 0 when unknown).
    #[serde(default)]
    pub server_version_num: u32,
    /// Where each table is in `tables`, built on the first lookup: planning
    /// looks tables up by name for every table and FK, which a scan made
    /// quadratic (7 s for 10,000 tables).
    #[serde(skip)]
    pub(crate) by_name: TableIndex,
}

/// A cache beside the catalog's value: a clone starts empty, and it never
/// makes two catalogs unequal.
#[derive(Default)]
pub(crate) struct TableIndex(OnceLock<HashMap<QualifiedName, usize>>);

impl Clone for TableIndex {
    fn clone(&self) -> Self {
        TableIndex::default()
    }
}

impl PartialEq for TableIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for TableIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TableIndex")
    }
}

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

fn yes() -> bool {
    true
}

/// What kind of relation a table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    /// A table with storage: an ordinary table or a leaf partition.
    Ordinary,
    /// A partitioned table: no storage of its own, never copied directly.
    Partitioned,
}

/// A table as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// The table's OID in its database.
    pub oid: u32,
    /// Schema and name.
    #[serde(flatten)]
    pub name: QualifiedName,
    /// Ordinary or partitioned.
    pub kind: TableKind,
    /// The partitioned table this is a partition of, if any.
    #[serde(default)]
    pub parent: Option<QualifiedName>,
    /// A partition's bound (`FOR VALUES ...`, `DEFAULT`).
    #[serde(default)]
    pub partition_bound: Option<String>,
    /// A partitioned table's key (`RANGE (a)`).
    #[serde(default)]
    pub partition_key: Option<String>,
    /// Size of the main fork in bytes (`pg_relation_size`), exact.
    pub bytes: u64,
    /// Row estimate (`reltuples`); `None` when the table was never analyzed.
    #[serde(default)]
    pub est_rows: Option<f64>,
    /// Owner role name.
    pub owner: String,
    /// Whether the current role is a member of the owner role.
    #[serde(default)]
    pub is_owner: bool,
    /// Stored with the heap access method, which counts the rows each
    /// transaction inserts (`pg_stat_get_xact_tuples_inserted`).
    #[serde(default)]
    pub heap: bool,
    /// Current role's SELECT, INSERT and TRUNCATE rights.
    #[serde(default)]
    pub privileges: Privileges,
    /// User (non-internal) triggers, disabled ones included.
    #[serde(default)]
    pub triggers: Vec<Trigger>,
    /// Row-level security policies apply to the current role: reads see only
    /// some rows, and COPY FROM refuses the table.
    #[serde(default)]
    pub row_security: bool,
    /// Another role owns the table and the current role may act as it (a
    /// superuser, or a member): pgcopy loads it as that owner, so the code
    /// its inserts run (CHECK constraints, domain checks, generated columns,
    /// index expressions) never runs with more rights than its owner has.
    #[serde(default)]
    pub load_as_owner: bool,
    /// The owner may itself insert into and truncate the table, with no
    /// row-level security forced on it.
    #[serde(default = "yes")]
    pub owner_may_load: bool,
    /// Roles other than superusers that own the table, its schema, or a
    /// function the planner may call while planning a query over it (the
    /// IMMUTABLE calls it folds in the table's index expressions and
    /// predicates, CHECK constraints, statistics objects and the partition
    /// keys above it): see [`Table::planner_untrusted`].
    #[serde(default)]
    pub planner_roles: Vec<String>,
    /// Row-level security is enabled and forced on the table (it applies to
    /// its owner too).
    #[serde(default)]
    pub forced_rls: bool,
    /// The owner is a superuser (nobody less may change the table).
    #[serde(default)]
    pub owner_is_superuser: bool,
    /// The OID of the table's schema.
    #[serde(default)]
    pub schema_oid: u32,
    /// A role that is neither a superuser nor the current one owns the table
    /// (it may add triggers and constraints while the copy runs) or its
    /// schema (it may drop the table and put another in its place): each
    /// load transaction locks the table and checks it again.
    #[serde(default)]
    pub others_may_change: bool,
    /// Columns in `attnum` order, dropped columns left out.
    pub columns: Vec<Column>,
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

impl Table {
    /// The roles, neither `current_user` nor trusted by `trust`, whose code
    /// planning a query over this table could run (with the planning
    /// role's rights), or who could add such code at any time
    /// ([`Table::planner_roles`]). Where there is one, pgcopy plans no query
    /// over the table: it is read whole by `COPY` (which plans nothing), not
    /// split, not filtered by `--where`, not counted.
    pub fn planner_untrusted<'a>(
        &'a self,
        trust: &crate::trust::TrustedOwners,
        current_user: &str,
    ) -> Vec<&'a str> {
        self.planner_roles
            .iter()
            .map(String::as_str)
            .filter(|r| *r != current_user && !trust.trusts(r))
            .collect()
    }

    /// Whether a load takes the owner's role ([`Self::load_as_owner`]):
    /// not when `trust` trusts the owner, whose code then runs with the
    /// loading role's rights, as it would under `pg_restore`; nor, for a
    /// `superuser`, a table with row-level security forced on it, which
    /// its owner's role could only load filtered by its policies: the
    /// superuser loads it whole, as `pg_restore` does, each load
    /// transaction having locked it and proved that no trigger and no code
    /// of a role not trusted runs (the table is another role's, so it is
    /// checked: [`Self::others_may_change`]).
    pub fn loads_as_owner(&self, trust: &crate::trust::TrustedOwners, superuser: bool) -> bool {
        self.load_as_owner
            && !trust.trusts(&self.owner)
            && !(superuser && self.forced_rls && self.others_may_change)
    }
}

/// Rights of the current role on a table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Privileges {
    /// May read it.
    pub select: bool,
    /// May insert into it.
    pub insert: bool,
    /// May truncate it.
    pub truncate: bool,
    /// May use (`USAGE`) the table's schema, without which no right on the
    /// table can be exercised.
    #[serde(default = "yes")]
    pub schema_usage: bool,
}

/// When a trigger fires (`pg_trigger.tgenabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TriggerMode {
    /// `O`: in ordinary (origin) sessions, the default.
    #[serde(rename = "O")]
    Origin,
    /// `R`: only in replica-mode sessions (`ENABLE REPLICA TRIGGER`).
    #[serde(rename = "R")]
    Replica,
    /// `A`: in every session (`ENABLE ALWAYS TRIGGER`).
    #[serde(rename = "A")]
    Always,
    /// `D`: never (`DISABLE TRIGGER`).
    #[serde(rename = "D")]
    Disabled,
}

impl TriggerMode {
    /// Whether the trigger fires in a session with `session_replication_role`
    /// `replica` (`true`) or `origin` (`false`).
    pub fn fires(self, replica_session: bool) -> bool {
        match self {
            TriggerMode::Origin => !replica_session,
            TriggerMode::Replica => replica_session,
            TriggerMode::Always => true,
            TriggerMode::Disabled => false,
        }
    }
}

/// A user (non-internal) trigger of a table, as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// Trigger name.
    pub name: String,
    /// When it fires.
    pub mode: TriggerMode,
}

/// A column.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Type as `format_type(atttypid, atttypmod)` prints it.
    pub type_name: String,
    /// A stored generated column: never copied, the destination computes it.
    #[serde(default)]
    pub generated: bool,
    /// `a` (ALWAYS) or `d` (BY DEFAULT) for identity columns.
    #[serde(default)]
    pub identity: Option<String>,
    /// NOT NULL.
    #[serde(default)]
    pub not_null: bool,
    /// Its type, and every type inside it, has binary send/receive functions.
    #[serde(default = "yes")]
    pub binary_io: bool,
    /// Its type is one of PostgreSQL's own (created with the cluster, not a
    /// domain or type a role made): no role's cast or operator applies to it
    /// that a superuser did not create.
    #[serde(default)]
    pub builtin_type: bool,
    /// The names of PostgreSQL's own types (in `pg_catalog`) its type is or
    /// holds: array elements, domain bases, range subtypes, composite
    /// fields, all the way down (`crate::formats` sends some as text).
    #[serde(default)]
    pub builtin_types: Vec<String>,
    /// What the roles' types inside its type are made of (a domain's base
    /// and modifier, a composite's fields, a range's subtype): preflight
    /// requires the same on both sides, where the names alone could agree.
    #[serde(default)]
    pub type_shape: String,
}

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

/// A sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequence {
    /// Schema and name.
    #[serde(flatten)]
    pub name: QualifiedName,
    /// The table owning it (serial or identity column), if any.
    #[serde(default)]
    pub owned_by: Option<QualifiedName>,
    /// Tables whose column defaults call it (`DEFAULT nextval('...')`),
    /// whether or not they own it.
    #[serde(default)]
    pub used_by: Vec<QualifiedName>,
}

impl Sequence {
    /// Every table it is linked to: its owner and the tables whose defaults
    /// use it.
    pub fn linked(&self) -> impl Iterator<Item = &QualifiedName> {
        self.owned_by.iter().chain(&self.used_by)
    }
}

/// A materialized view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatView {
    /// Schema and name.
    #[serde(flatten)]
    pub name: QualifiedName,
    /// Whether it holds data (`relispopulated`).
    pub populated: bool,
    /// Its owner, as whom PostgreSQL runs its query on refresh.
    #[serde(default)]
    pub owner: String,
    /// Whether the current role may refresh it (member of its owner).
    #[serde(default)]
    pub is_owner: bool,
    /// Tables and materialized views its query reads.
    #[serde(default)]
    pub depends_on: Vec<QualifiedName>,
    /// Roles other than superusers whose functions its query calls.
    #[serde(default)]
    pub query_roles: Vec<String>,
}

impl MatView {
    /// The roles, neither its owner nor trusted by `trust`, whose code a
    /// refresh would run with its owner's rights (PostgreSQL runs the query
    /// as the owner): those whose functions its query calls, and those whose
    /// code planning a query over the tables it reads could run
    /// ([`Table::planner_roles`], from `catalog`).
    pub fn refresh_untrusted(
        &self,
        catalog: &Catalog,
        trust: &crate::trust::TrustedOwners,
    ) -> Vec<String> {
        let read = self
            .depends_on
            .iter()
            .filter_map(|t| catalog.table(t))
            .flat_map(|t| t.planner_roles.iter());
        self.query_roles
            .iter()
            .chain(read)
            .filter(|r| **r != self.owner && !trust.trusts(r))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

impl Catalog {
    /// Parses the document `sql/catalog.sql` returns.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// A table by name.
    pub fn table(&self, name: &QualifiedName) -> Option<&Table> {
        let index = self.by_name.0.get_or_init(|| {
            let mut m = HashMap::with_capacity(self.tables.len());
            for (i, t) in self.tables.iter().enumerate() {
                m.entry(t.name.clone()).or_insert(i);
            }
            m
        });
        // `tables` is public and may have changed since the index was built:
        // a hit is checked, and a miss falls back to a scan.
        match index.get(name).and_then(|&i| self.tables.get(i)) {
            Some(t) if &t.name == name => Some(t),
            _ => self.tables.iter().find(|t| &t.name == name),
        }
    }

    /// The relations below a partitioned table, at every level (none for
    /// another table).
    pub fn descendants(&self, name: &QualifiedName) -> Vec<&Table> {
        let mut out: Vec<&Table> = Vec::new();
        let mut frontier = vec![name.clone()];
        while let Some(parent) = frontier.pop() {
            for t in self
                .tables
                .iter()
                .filter(|t| t.parent.as_ref() == Some(&parent))
            {
                if !out.iter().any(|o| o.name == t.name) {
                    frontier.push(t.name.clone());
                    out.push(t);
                }
            }
        }
        out
    }

    /// The partitioned table at the top of a partition's tree, or the table
    /// itself when it is no partition.
    pub fn top_of(&self, name: &QualifiedName) -> QualifiedName {
        self.ancestors(name).pop().unwrap_or_else(|| name.clone())
    }

    /// The partitioned ancestors of a table, nearest first.
    pub fn ancestors(&self, name: &QualifiedName) -> Vec<QualifiedName> {
        let mut out = Vec::new();
        let mut cur = self.table(name).and_then(|t| t.parent.clone());
        while let Some(p) = cur {
            cur = self.table(&p).and_then(|t| t.parent.clone());
            if out.contains(&p) {
                break;
            }
            out.push(p);
        }
        out
    }
}

impl Table {
    /// The columns a copy reads and writes: all but generated ones.
    pub fn copied_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| !c.generated)
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

#[cfg(test)]
impl Table {
    /// An empty ordinary table the role owns, with every right and no
    /// columns, for tests to adjust.
    pub(crate) fn sample(schema: &str, name: &str) -> Table {
        Table {
            oid: 0,
            name: QualifiedName::new(schema, name),
            kind: TableKind::Ordinary,
            parent: None,
            partition_bound: None,
            partition_key: None,
            bytes: 0,
            est_rows: None,
            owner: "o".into(),
            is_owner: true,
            heap: true,
            privileges: Privileges {
                select: true,
                insert: true,
                truncate: true,
                schema_usage: true,
            },
            triggers: vec![],
            row_security: false,
            load_as_owner: false,
            owner_may_load: true,
            planner_roles: Vec::new(),
            forced_rls: false,
            owner_is_superuser: false,
            schema_oid: 0,
            others_may_change: false,
            columns: vec![],
        }
    }
}

#[cfg(test)]
mod tests;
