//! Planning a copy: which tables, in which chunks and order, what happens to each
//! foreign key, which sequences and materialized views follow. The same function
//! answers `pgcopy copy --dry-run` and `SELECT * FROM pgcopy.plan()`.

use crate::catalog::{Catalog, ForeignKey, TableKind};
use crate::chunk::{plan_chunks, ChunkRange};
use crate::filter::{parse_patterns, PatternError, TablePattern};
use crate::fkgraph::FkGraph;
use crate::quote::QualifiedName;
use crate::sql::{CopyFormat, TruncateTarget};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

mod build;
mod deferral;
mod keys;
mod options;

pub use build::plan;
pub use deferral::index_batches;
pub use options::{
    AmbiguousPattern, FkAction, FkStrategy, PlanError, PlanOptions, DEFAULT_SPLIT_LARGER_THAN,
};

/// Where the state schema keeps the large objects' progress: a table of
/// that name whose chunks are [`LargeObjectBatch`]es.
pub const LARGE_OBJECTS: (&str, &str) = ("pg_catalog", "pg_largeobject");

/// Large objects copied together, in one destination transaction: those with
/// OIDs `first..=last` on the source (`count` of them when planned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LargeObjectBatch {
    /// Its index among the batches (its chunk in the state schema).
    pub index: u32,
    /// The first OID.
    pub first: u32,
    /// The last OID.
    pub last: u32,
    /// Large objects in it.
    pub count: u32,
}

/// Cuts the source's large objects (`oids`, ascending) into batches of at
/// most `per_batch`.
pub fn large_object_batches(oids: &[u32], per_batch: usize) -> Vec<LargeObjectBatch> {
    oids.chunks(per_batch.max(1))
        .enumerate()
        .map(|(i, b)| LargeObjectBatch {
            index: i as u32,
            first: b[0],
            last: b[b.len() - 1],
            count: b.len() as u32,
        })
        .collect()
}

/// One table to copy, with its chunks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableCopySpec {
    /// The table (a leaf partition or an ordinary table).
    pub table: QualifiedName,
    /// The top partitioned table it belongs to, if it is a partition.
    pub partition_of: Option<QualifiedName>,
    /// Columns copied, in order (generated columns left out).
    pub columns: Vec<String>,
    /// Binary, unless a column needs text (`crate::formats`).
    #[serde(default)]
    pub format: CopyFormat,
    /// Why the table goes as text, when it does (`crate::formats`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub text_because: Vec<String>,
    /// Estimated rows (0 when never analyzed).
    pub est_rows: u64,
    /// Bytes on disk (main fork).
    pub bytes: u64,
    /// Chunks; one whole-table chunk when not split.
    pub chunks: Vec<ChunkRange>,
    /// Whether an FK that stays in place during the load (replica mode)
    /// links this table to another selected table (either way): a referenced
    /// table can only be truncated in the same statement as the tables
    /// referencing it, so all such tables are truncated up front together.
    /// In drop mode every FK is gone before the load, and no table is linked.
    pub fk_linked: bool,
    /// The destination partitions this table differently (plain on one side,
    /// partitioned on the other, or other partitions): its rows are loaded
    /// into this destination table and routed by PostgreSQL
    /// ([`crate::route`]); `None` loads it into the table of the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_into: Option<QualifiedName>,
    /// Which of its rows are taken: all, as a `--where` says, or as the
    /// foreign keys' closure limits them ([`crate::subset`]).
    #[serde(default, skip_serializing_if = "crate::subset::Taken::is_whole")]
    pub taken: crate::subset::Taken,
    /// The condition its rows are read with, over
    /// [`crate::subset::ROW_ALIAS`]; `None`: every row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_where: Option<String>,
    /// Columns copied as an expression's value (`--transform`), by column.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub transforms: BTreeMap<String, String>,
}

impl TableCopySpec {
    /// Whether the table is split into several chunks.
    pub fn is_split(&self) -> bool {
        self.chunks.len() > 1
    }

    /// Whether the table is truncated in its own load transaction (allowing
    /// `COPY FREEZE`): unsplit, not linked by an FK to another selected
    /// table, and loaded into the table of its own name (a table routed into
    /// a destination partitioned differently shares it with others, and
    /// `FREEZE` does not apply to a partitioned table).
    pub fn truncate_in_load(&self) -> bool {
        self.not_frozen_because().is_none()
    }

    /// Why the table is not truncated in its own load transaction, and so
    /// not loaded with `COPY FREEZE` (`None`: it is).
    pub fn not_frozen_because(&self) -> Option<&'static str> {
        if self.is_split() {
            Some("read in chunks, each its own transaction")
        } else if self.fk_linked {
            Some("linked by a foreign key kept in replica mode, so truncated with the tables it links")
        } else if self.load_into.is_some() {
            Some("loaded through a table partitioned differently")
        } else {
            None
        }
    }

    /// The destination table its rows are written to.
    pub fn dest_table(&self) -> &QualifiedName {
        self.load_into.as_ref().unwrap_or(&self.table)
    }
}

/// A foreign key that touches the selection, and what happens to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FkSpec {
    /// The constraint.
    #[serde(flatten)]
    pub fk: ForeignKey,
    /// What the copy does with it.
    pub action: FkAction,
    /// Why, for people.
    pub reason: String,
}

/// A sequence whose value is copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceSpec {
    /// The sequence.
    pub sequence: QualifiedName,
    /// The table owning it, if any.
    pub owned_by: Option<QualifiedName>,
    /// Tables whose defaults use it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub used_by: Vec<QualifiedName>,
    /// Also linked to a table the copy leaves alone: set only when the
    /// source's value is ahead of the destination's, so that table's next
    /// insert never meets a value it used already.
    #[serde(default)]
    pub only_forward: bool,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// FK strategy assumed.
    pub fk_strategy: FkStrategy,
    /// Tables to copy, largest first (the order workers take them).
    pub tables: Vec<TableCopySpec>,
    /// Selected tables (partitioned tables by their top parent), referenced
    /// tables before referencing ones.
    pub load_order: Vec<QualifiedName>,
    /// Groups of selected tables whose FKs form a cycle (a self-reference is a
    /// group of one).
    pub fk_cycles: Vec<Vec<QualifiedName>>,
    /// FKs touching selected tables.
    pub foreign_keys: Vec<FkSpec>,
    /// Tables outside the selection that reference selected tables.
    pub referenced_from_outside: Vec<QualifiedName>,
    /// Sequences to set.
    pub sequences: Vec<SequenceSpec>,
    /// Populated materialized views to refresh afterwards, dependencies first.
    pub matviews: Vec<QualifiedName>,
    /// What the one up-front TRUNCATE names: every table not truncated in its
    /// own load transaction, with fully copied partitioned tables named by
    /// their parent (an FK declared on a partitioned table needs the parent
    /// in the same TRUNCATE as the table it references).
    pub truncate_together: Vec<TruncateTarget>,
    /// `--include-tables` patterns without a schema that select tables in
    /// more than one schema: the dry run lists them, and a copy refuses a bare
    /// name among them (`users`) and warns about a glob, before any change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ambiguous: Vec<AmbiguousPattern>,
    /// Tables large enough to split that are read whole instead, each with
    /// the roles whose code planning a query over it could run
    /// (`catalog::Table::planner_untrusted`): the dry run and the log say so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_split: Vec<(QualifiedName, Vec<String>)>,
    /// Large objects copied after the tables, in batches by OID (empty when
    /// none are copied). Their progress is kept in the state schema under
    /// [`LARGE_OBJECTS`], each batch a chunk whose pages are its OIDs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub large_objects: Vec<LargeObjectBatch>,
    /// Secondary indexes dropped before the load and rebuilt after it (with
    /// `defer_indexes`): not backing a constraint, valid, on a copied plain
    /// table or leaf partition (not attached to a partitioned index).
    #[serde(default)]
    pub deferred_indexes: Vec<crate::catalog::Index>,
}

/// Tables smaller than this keep their secondary indexes during the load
/// unless `--defer-indexes` asks otherwise: maintaining an index while a
/// small table loads costs little, and saving, dropping and rebuilding it
/// costs round trips (three per index: over a 5 ms link, 100 indexes of
/// 105 kB tables deferred took 1.2 s of a 4.4 s copy). On loopback, pagila
/// ×20 copies as fast with 1 MB as with every index deferred (1.91 s both),
/// and 25% slower with 16 MB (its partitions keep their indexes).
pub const DEFER_INDEXES_MIN_BYTES: u64 = 1 << 20;

/// Keeps, of `deferred`, the indexes of tables that `bytes_of` says hold at
/// least `min_bytes` (`None`, such as for a partitioned table: nothing of
/// its own). A partitioned index tree is deferred whole or not at all, by
/// the bytes of all its members' tables together. `min_bytes` 0 keeps all.
/// A table's unique indexes that a foreign key re-created after the load
/// would otherwise mistake (`Index::rebuilt_for_fks`) stay whatever the size.
pub fn keep_large_tables_indexes(
    deferred: &mut Vec<crate::catalog::Index>,
    min_bytes: u64,
    bytes_of: impl Fn(&QualifiedName) -> Option<u64>,
) {
    if min_bytes == 0 {
        return;
    }
    let key = |i: &crate::catalog::Index| QualifiedName::new(&i.table.schema, &i.name);
    let parent_of: std::collections::BTreeMap<QualifiedName, QualifiedName> = deferred
        .iter()
        .filter_map(|i| Some((key(i), i.parent.clone()?)))
        .collect();
    let root = |mut k: QualifiedName| {
        while let Some(p) = parent_of.get(&k) {
            k = p.clone();
        }
        k
    };
    let mut tree_bytes: std::collections::BTreeMap<QualifiedName, u64> = Default::default();
    for i in deferred.iter() {
        *tree_bytes.entry(root(key(i))).or_default() += bytes_of(&i.table).unwrap_or(0);
    }
    deferred.retain(|i| i.rebuilt_for_fks || tree_bytes[&root(key(i))] >= min_bytes);
}

impl Plan {
    /// The plan as a job stores it: each `--transform` expression as its
    /// digest (see [`crate::transform::ColumnTransform::stored`]); a resume
    /// reads the expressions from its own command line.
    pub fn for_storage(&self) -> std::borrow::Cow<'_, Plan> {
        if self.tables.iter().all(|t| t.transforms.is_empty()) {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut stored = self.clone();
        for t in &mut stored.tables {
            for expression in t.transforms.values_mut() {
                *expression = crate::transform::digest(expression);
            }
        }
        std::borrow::Cow::Owned(stored)
    }

    /// The bytes the copy loads into destination table `t`, if it loads any.
    pub fn bytes_into(&self, t: &QualifiedName) -> Option<u64> {
        let mut specs = self
            .tables
            .iter()
            .filter(|s| s.dest_table() == t)
            .peekable();
        specs.peek()?;
        Some(specs.map(|s| s.bytes).sum())
    }

    /// Destination sessions run in replica mode (FK triggers do not fire).
    pub fn replica_mode(&self) -> bool {
        self.fk_strategy == FkStrategy::Replica
    }

    /// Whether a table may be analyzed as soon as its data is in, while other
    /// tables still load: not a partition (ANALYZE of the partitioned root
    /// samples and analyzes every partition), and no deferred index on
    /// expressions (their statistics need the index rebuilt first).
    pub fn analyze_when_loaded(&self, spec: &TableCopySpec) -> bool {
        spec.partition_of.is_none()
            && spec.load_into.is_none()
            && !self
                .deferred_indexes
                .iter()
                .any(|i| i.has_expressions && i.table == spec.table)
    }

    /// What the ANALYZE after the load names, given which tables (by index
    /// into `tables`) loaded fully and which were analyzed already: the others,
    /// partitions through their partitioned roots, each root once.
    pub fn analyze_after_load(
        &self,
        loaded: impl Fn(usize) -> bool,
        analyzed: impl Fn(usize) -> bool,
    ) -> Vec<QualifiedName> {
        let mut roots = BTreeSet::new();
        let mut out = Vec::new();
        for (i, t) in self.tables.iter().enumerate() {
            if !loaded(i) {
                continue;
            }
            if let Some(root) = t.load_into.as_ref().or(t.partition_of.as_ref()) {
                if roots.insert(root) {
                    out.push(root.clone());
                }
            } else if !analyzed(i) {
                out.push(t.table.clone());
            }
        }
        out
    }

    /// Estimated rows over all tables.
    pub fn total_est_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.est_rows).sum()
    }
    /// Bytes over all tables.
    pub fn total_bytes(&self) -> u64 {
        self.tables.iter().map(|t| t.bytes).sum()
    }
    /// Chunks over all tables.
    pub fn total_chunks(&self) -> usize {
        self.tables.iter().map(|t| t.chunks.len()).sum()
    }
    /// FKs the copy drops and restores.
    pub fn dropped_fks(&self) -> impl Iterator<Item = &FkSpec> {
        self.foreign_keys
            .iter()
            .filter(|f| f.action == FkAction::DropAndRestore)
    }

    /// What a stored plan (a resumed job's, read back from the state schema,
    /// where it may have been changed) names beyond `today`, the plan its
    /// options give against today's catalogs: tables, truncate targets,
    /// sequences and materialized views it would write to although the
    /// options do not select them. Empty when the stored plan is within it.
    pub fn beyond(&self, today: &Plan) -> Vec<String> {
        use std::collections::BTreeSet;
        let tables: BTreeSet<&QualifiedName> = today
            .tables
            .iter()
            .flat_map(|t| {
                std::iter::once(&t.table)
                    .chain(t.partition_of.as_ref())
                    .chain(t.load_into.as_ref())
            })
            .chain(today.truncate_together.iter().map(|t| &t.table))
            .collect();
        let sequences: BTreeSet<&QualifiedName> =
            today.sequences.iter().map(|s| &s.sequence).collect();
        let matviews: BTreeSet<&QualifiedName> = today.matviews.iter().collect();
        let mut out = Vec::new();
        for t in self
            .tables
            .iter()
            .flat_map(|t| std::iter::once(&t.table).chain(t.load_into.as_ref()))
            .chain(self.truncate_together.iter().map(|t| &t.table))
        {
            if !tables.contains(t) {
                out.push(format!("table {}", t.display_name()));
            }
        }
        for s in self.sequences.iter().map(|s| &s.sequence) {
            if !sequences.contains(s) {
                out.push(format!("sequence {}", s.display_name()));
            }
        }
        for m in &self.matviews {
            if !matviews.contains(m) {
                out.push(format!("materialized view {}", m.display_name()));
            }
        }
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests;
