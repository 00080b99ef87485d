//! The catalog model: what pgcopy knows about a database's tables, constraints and
//! sequences. Filled from `sql/catalog.sql`, which returns this as one `jsonb`
//! document, so the CLI (over the wire) and the extension (over SPI) read the
//! catalog with the same query and the same deserializer.

use crate::quote::QualifiedName;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::OnceLock;

mod foreign_key;
mod index;

pub use foreign_key::{ConstraintKind, ForeignKey, KeyEquality};
pub use index::{BackedConstraint, Index, IndexProperties, KeyKind};

/// serde's default for the flags that are true unless a stored plan says otherwise.
fn yes() -> bool {
    true
}

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
