//! Row filters (`--where 'TABLE: CONDITION'`) and the rows they bring along:
//! which rows of each copied table a copy takes so that every foreign key
//! validates on the destination. Pure: the predicates it returns are SQL to
//! run on the source, in the run's snapshot, over the copied table aliased
//! [`ROW_ALIAS`].
//!
//! The rule. A partitioned table is one node (its partitions share its
//! filter and its foreign keys); only foreign keys between copied tables
//! count.
//! - A table is *filtered* when a `--where` names it, *limited* when it is
//!   not and references, through a foreign key, a filtered or limited table,
//!   and *whole* otherwise (all its rows).
//! - Children follow their parents: a row of a limited table is taken when
//!   each row it references in a filtered or limited table is taken. A
//!   reference with a NULL column (MATCH SIMPLE), or with all of them NULL
//!   (MATCH FULL), references nothing and holds no row back.
//! - What is kept stays whole: a row that a taken row of a filtered table
//!   references is taken, whatever its own filter says; so is a row such a
//!   row references, and so on up; and the rows of limited tables that follow
//!   a row taken so.
//! - A table that references itself (a manager, a parent category, a
//!   previous version) is walked with `WITH RECURSIVE`. Filtered, its
//!   taken rows bring the rows they reference along, up to the top
//!   (what is kept stays whole). Limited, a row is taken when its
//!   references to other tables are, and what it references in its own
//!   table is taken, or nothing, or itself: the tree is walked down from
//!   its roots and from the rows pulled in, so rows in a loop of references
//!   nothing pulls in are left out. Rows are known by their place in the
//!   snapshot (`tableoid`, `ctid`), so the walks hash no key of the user's
//!   types, and each selection appears once in its walk.
//! - A cycle of foreign keys through two or more filtered or limited tables
//!   (stores and their managers, authors and their best books) is walked
//!   together with `WITH RECURSIVE`, each row known by its place in the
//!   snapshot: from the filtered rows, the limited rows that reference
//!   nothing in the cycle, and what children outside pull in, it adds the
//!   rows each taken row references in the cycle, and the rows of a limited
//!   table that reference a taken row, until nothing is new. It is refused
//!   when a table in it also references a restricted table outside it, or
//!   a limited one references the cycle through more than one key (which of
//!   its rows to take then has no single answer), and so is a filtered
//!   table whose self-references point at different keys, or a limited one
//!   with more than one. `follow_fks = false` (`--no-follow-fks`) takes
//!   each filtered table's rows as filtered and every other table whole.

use crate::catalog::{Catalog, ConstraintKind};
use crate::filter::{parse_patterns, TablePattern};
use crate::quote::QualifiedName;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

mod closure;
mod cycles;
mod joins;

use closure::Closure;
use cycles::{check_cycle, check_self_references, cycles_among};
use joins::key_operators;

/// The alias of the copied table in the predicates: `SELECT ... FROM ONLY
/// t AS pgcopy_row WHERE <predicate>`.
pub const ROW_ALIAS: &str = "pgcopy_row";

/// One `--where 'TABLE: CONDITION'`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowFilter {
    /// TABLE as written (one table, or a partitioned table, as in
    /// `--include-tables`).
    pub table: String,
    /// The SQL condition, over that table's columns.
    pub condition: String,
}

/// Why a set of filters cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubsetError {
    /// Not `TABLE: CONDITION`.
    #[error("--where {0:?} is not TABLE: CONDITION (for example --where 'public.customer: customer_id <= 50')")]
    Syntax(String),
    /// TABLE selects no copied table, or several.
    #[error("--where names {table:?}, which {found}: name one copied table (schema.table), or a partitioned table")]
    NotOneTable {
        /// TABLE as written.
        table: String,
        /// What it selects, for people.
        found: String,
    },
    /// TABLE is a partition: its partitioned table is the one to filter.
    #[error("--where names {table}, a partition of {root}: filter {root} (the condition applies to each of its partitions)")]
    Partition {
        /// The partition.
        table: String,
        /// Its partitioned table at the top.
        root: String,
    },
    /// Two filters for one table.
    #[error("--where names {0} twice: join the conditions with AND in one --where")]
    Twice(String),
    /// A cycle of foreign keys through restricted tables that the closure
    /// cannot walk.
    #[error(
        "foreign keys form a cycle through tables the filters restrict ({cycle}), which --where cannot \
         follow: {why}; filter another table, or pass --no-follow-fks (the foreign keys that no longer hold \
         then come back NOT VALID)"
    )]
    Cycle {
        /// The tables, for people.
        cycle: String,
        /// Why not, for people.
        why: String,
    },
    /// A key the closure joins over compares with code of a role not
    /// trusted.
    #[error(
        "foreign key {key:?} on {table} compares its columns with {operator}{}, which role {} may change: \
         pgcopy will not call it with this role's rights to follow the key; if you trust {}, add {} (as \
         pg_restore would run it), or pass --no-follow-fks (the foreign keys that no longer hold then come \
         back NOT VALID)",
        match why_types { true => " and a cast from a column's type", false => "" },
        roles.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", "),
        match roles.len() { 1 => "that role", _ => "those roles" },
        crate::trust::TrustedOwners::flags(&roles.iter().map(String::as_str).collect::<Vec<_>>())
    )]
    UntrustedOperator {
        /// The key.
        key: String,
        /// Its table, for people.
        table: String,
        /// The operator, for people.
        operator: String,
        /// Its columns' types' owners count (it does not take them exactly).
        why_types: bool,
        /// The roles not trusted.
        roles: Vec<String>,
    },
    /// The catalog does not say how a key compares its columns.
    #[error(
        "foreign key {key:?} on {table}: the catalog did not say which operator compares its columns, so \
         --where cannot follow it; pass --no-follow-fks"
    )]
    UnknownOperator {
        /// The key.
        key: String,
        /// Its table, for people.
        table: String,
    },
    /// Self-references the closure cannot walk.
    #[error(
        "{table} references itself through {keys}, which --where cannot follow ({why}); filter another \
         table, or pass --no-follow-fks (the foreign keys that no longer hold then come back NOT VALID)"
    )]
    SelfReference {
        /// The table.
        table: String,
        /// Its self-referencing foreign keys' names.
        keys: String,
        /// Why not, for people.
        why: String,
    },
}

impl RowFilter {
    /// Parses `TABLE: CONDITION`, TABLE as in `--include-tables` (split at
    /// the first `:` outside double quotes).
    pub fn parse(spec: &str) -> Result<RowFilter, SubsetError> {
        let mut quoted = false;
        let colon = spec.char_indices().find(|&(_, c)| {
            if c == '"' {
                quoted = !quoted;
            }
            c == ':' && !quoted
        });
        let Some((at, _)) = colon else {
            return Err(SubsetError::Syntax(spec.into()));
        };
        let (table, condition) = (spec[..at].trim(), spec[at + 1..].trim());
        if table.is_empty() || condition.is_empty() {
            return Err(SubsetError::Syntax(spec.into()));
        }
        Ok(RowFilter {
            table: table.into(),
            condition: condition.into(),
        })
    }
}

/// How a copied table's rows are taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Taken {
    /// Every row.
    #[default]
    Whole,
    /// As a `--where` says, and the rows taken rows of filtered tables
    /// reference.
    Filtered,
    /// The rows whose references to filtered or limited tables are taken
    /// (and the rows taken rows of filtered tables reference).
    Limited,
}

impl Taken {
    /// Every row.
    pub fn is_whole(&self) -> bool {
        *self == Taken::Whole
    }

    /// For people.
    pub fn as_str(self) -> &'static str {
        match self {
            Taken::Whole => "whole",
            Taken::Filtered => "filtered",
            Taken::Limited => "limited by foreign keys",
        }
    }
}

/// Which rows of one copied table are taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSubset {
    /// The copied table (a partition, for a partitioned one).
    pub table: QualifiedName,
    /// How.
    pub taken: Taken,
    /// The condition over [`ROW_ALIAS`]; `None`: every row.
    pub predicate: Option<String>,
}

/// A foreign key between two nodes, as the closure reads it.
#[derive(Debug, Clone)]
struct Edge {
    name: String,
    child: QualifiedName,
    parent: QualifiedName,
    /// The referenced table as the key names it (the node, or one of its
    /// partitions).
    referenced: QualifiedName,
    columns: Vec<String>,
    referenced_columns: Vec<String>,
    match_full: bool,
    /// Per column pair, ` COLLATE "s"."c"` (the referenced column's) where
    /// the referencing column has another collation; else empty. Written
    /// on the referenced column's side of a comparison: the referencing
    /// column may be of a type without collations (an enum compared with
    /// text through a cast).
    collations: Vec<String>,
    /// Per column pair, the key's own equality operator written out
    /// (`OPERATOR("pg_catalog".=)`), or why it may not be called here.
    operators: Result<Vec<String>, SubsetError>,
}

/// The rows each of `copied` (plain tables and partitions) takes under
/// `filters` (see the module's rule), in `copied`'s order. The joins over a
/// foreign key call the key's own equality operator, written out, and only
/// where no role that `trust` does not trust (beyond superusers and the
/// catalog's current user) owns it or, where it does not take the columns'
/// types exactly, their types ([`crate::catalog::KeyEquality`]).
pub fn plan_subset(
    catalog: &Catalog,
    copied: &[QualifiedName],
    filters: &[RowFilter],
    follow_fks: bool,
    trust: &crate::trust::TrustedOwners,
) -> Result<Vec<TableSubset>, SubsetError> {
    let nodes: BTreeSet<QualifiedName> = copied.iter().map(|t| catalog.top_of(t)).collect();
    let mut conditions: BTreeMap<QualifiedName, String> = BTreeMap::new();
    for f in filters {
        let node = resolve(catalog, copied, &f.table)?;
        if conditions
            .insert(node.clone(), f.condition.clone())
            .is_some()
        {
            return Err(SubsetError::Twice(node.display_name()));
        }
    }
    let edges: Vec<Edge> = catalog
        .foreign_keys
        .iter()
        .filter(|fk| !fk.inherited && fk.kind == ConstraintKind::Foreign && !fk.columns.is_empty())
        .map(|fk| Edge {
            name: fk.name.clone(),
            child: catalog.top_of(&fk.table),
            parent: catalog.top_of(&fk.referenced),
            referenced: fk.referenced.clone(),
            columns: fk.columns.clone(),
            referenced_columns: fk.referenced_columns.clone(),
            match_full: fk.match_full,
            collations: (0..fk.columns.len())
                .map(|i| match fk.collations.get(i) {
                    Some(Some(c)) => format!(" COLLATE {c}"),
                    _ => String::new(),
                })
                .collect(),
            operators: key_operators(catalog, fk, trust),
        })
        .filter(|e| nodes.contains(&e.child) && nodes.contains(&e.parent))
        .collect();
    let mut restricted: BTreeSet<QualifiedName> = conditions.keys().cloned().collect();
    if follow_fks {
        loop {
            let more: Vec<QualifiedName> = edges
                .iter()
                .filter(|e| restricted.contains(&e.parent) && !restricted.contains(&e.child))
                .map(|e| e.child.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            restricted.extend(more);
        }
    }
    // Every key the closure joins over (one into a restricted table) must
    // compare with code this role may call.
    if follow_fks {
        for e in edges.iter().filter(|e| restricted.contains(&e.parent)) {
            if let Err(refused) = &e.operators {
                return Err(refused.clone());
            }
        }
    }
    let inner: Vec<&Edge> = edges
        .iter()
        .filter(|e| follow_fks && restricted.contains(&e.child) && restricted.contains(&e.parent))
        .collect();
    let cycles = cycles_among(&inner);
    for cycle in &cycles {
        check_cycle(cycle, &inner, &conditions)?;
    }
    let mut cycle_of = BTreeMap::new();
    for (i, cycle) in cycles.iter().enumerate() {
        for node in cycle {
            cycle_of.insert(node.clone(), i);
        }
    }
    let (self_edges, edges): (Vec<Edge>, Vec<Edge>) = match follow_fks {
        true => edges.into_iter().partition(|e| e.child == e.parent),
        false => (Vec::new(), Vec::new()),
    };
    let mut by_node: BTreeMap<QualifiedName, Vec<Edge>> = BTreeMap::new();
    for e in self_edges
        .into_iter()
        .filter(|e| restricted.contains(&e.child))
    {
        by_node.entry(e.child.clone()).or_default().push(e);
    }
    for (node, selfs) in &by_node {
        if !cycle_of.contains_key(node) {
            check_self_references(node, selfs, conditions.contains_key(node))?;
        }
    }
    let closure = Closure {
        catalog,
        conditions: &conditions,
        restricted: &restricted,
        edges,
        self_edges: by_node,
        cycles: &cycles,
        cycle_of,
        next_alias: std::cell::Cell::new(0),
    };
    Ok(copied
        .iter()
        .map(|t| {
            let node = catalog.top_of(t);
            let taken = match (conditions.contains_key(&node), restricted.contains(&node)) {
                (true, _) => Taken::Filtered,
                (false, true) => Taken::Limited,
                (false, false) => Taken::Whole,
            };
            closure.next_alias.set(0);
            TableSubset {
                table: t.clone(),
                taken,
                predicate: closure.selected(&node, ROW_ALIAS),
            }
        })
        .collect())
}

/// Why a TABLE option names no one copied table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unresolved {
    /// It selects none, or several (what it selects, for people).
    NotOne(String),
    /// It is a partition of this partitioned table.
    Partition(QualifiedName, QualifiedName),
}

/// The one copied node (a plain table, or a partitioned table at the top)
/// that a TABLE written as in `--include-tables` names.
pub(crate) fn resolve_node(
    catalog: &Catalog,
    copied: &[QualifiedName],
    table: &str,
) -> Result<QualifiedName, Unresolved> {
    let nodes: BTreeSet<QualifiedName> = copied.iter().map(|t| catalog.top_of(t)).collect();
    let pattern: TablePattern = match parse_patterns(table) {
        Ok(mut p) if p.len() == 1 => p.remove(0),
        _ => return Err(Unresolved::NotOne("is not one table name".into())),
    };
    let found: Vec<&QualifiedName> = nodes.iter().filter(|n| pattern.matches(n)).collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => match copied.iter().find(|t| pattern.matches(t)) {
            Some(partition) => Err(Unresolved::Partition(
                partition.clone(),
                catalog.top_of(partition),
            )),
            None => Err(Unresolved::NotOne("selects no copied table".into())),
        },
        many => Err(Unresolved::NotOne(format!(
            "selects {} tables ({})",
            many.len(),
            many.iter()
                .map(|t| t.display_name())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The one copied node a `--where`'s TABLE names.
/// The one copied table (or partitioned table) `table` (as written in a
/// `--where` or a `--transform`) names, as the plan resolves it.
pub fn resolve_table(
    catalog: &Catalog,
    copied: &[QualifiedName],
    table: &str,
) -> Result<QualifiedName, SubsetError> {
    resolve(catalog, copied, table)
}

fn resolve(
    catalog: &Catalog,
    copied: &[QualifiedName],
    table: &str,
) -> Result<QualifiedName, SubsetError> {
    resolve_node(catalog, copied, table).map_err(|e| match e {
        Unresolved::NotOne(found) => SubsetError::NotOneTable {
            table: table.into(),
            found,
        },
        Unresolved::Partition(partition, root) => SubsetError::Partition {
            table: partition.display_name(),
            root: root.display_name(),
        },
    })
}

#[cfg(test)]
mod tests;
