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
//! - A cycle of foreign keys through filtered or limited tables (a table
//!   referencing itself included) is refused: which of its rows to take has
//!   no single answer; `follow_fks = false` (`--no-follow-fks`) takes each
//!   filtered table's rows as filtered and every other table whole.

use crate::catalog::{Catalog, ConstraintKind, TableKind};
use crate::filter::{parse_patterns, TablePattern};
use crate::quote::{quote_ident, QualifiedName};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

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
    /// A cycle of foreign keys through restricted tables.
    #[error(
        "foreign keys form a cycle through tables the filters restrict ({0}): which of their rows to take has \
         no single answer; filter a table outside the cycle, or pass --no-follow-fks (the foreign keys that \
         no longer hold then come back NOT VALID)"
    )]
    Cycle(String),
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
    child: QualifiedName,
    parent: QualifiedName,
    /// The referenced table as the key names it (the node, or one of its
    /// partitions).
    referenced: QualifiedName,
    columns: Vec<String>,
    referenced_columns: Vec<String>,
    match_full: bool,
}

/// The rows each of `copied` (plain tables and partitions) takes under
/// `filters` (see the module's rule), in `copied`'s order.
pub fn plan_subset(
    catalog: &Catalog,
    copied: &[QualifiedName],
    filters: &[RowFilter],
    follow_fks: bool,
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
            child: catalog.top_of(&fk.table),
            parent: catalog.top_of(&fk.referenced),
            referenced: fk.referenced.clone(),
            columns: fk.columns.clone(),
            referenced_columns: fk.referenced_columns.clone(),
            match_full: fk.match_full,
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
        let inner: Vec<&Edge> = edges
            .iter()
            .filter(|e| restricted.contains(&e.child) && restricted.contains(&e.parent))
            .collect();
        if let Some(cycle) = find_cycle(&inner) {
            return Err(SubsetError::Cycle(cycle));
        }
    }
    let closure = Closure {
        catalog,
        conditions: &conditions,
        restricted: &restricted,
        edges: if follow_fks { edges } else { Vec::new() },
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

/// A cycle among `edges` (child to parent), named for people.
fn find_cycle(edges: &[&Edge]) -> Option<String> {
    let mut parents: BTreeMap<&QualifiedName, Vec<&QualifiedName>> = BTreeMap::new();
    for e in edges {
        parents.entry(&e.child).or_default().push(&e.parent);
    }
    // Depth first, keeping the path: 0 unseen, 1 on the path, 2 done.
    fn visit<'a>(
        n: &'a QualifiedName,
        parents: &BTreeMap<&'a QualifiedName, Vec<&'a QualifiedName>>,
        state: &mut BTreeMap<&'a QualifiedName, u8>,
        path: &mut Vec<&'a QualifiedName>,
    ) -> Option<String> {
        state.insert(n, 1);
        path.push(n);
        for p in parents.get(n).into_iter().flatten() {
            match state.get(p).copied().unwrap_or(0) {
                1 => {
                    let from = path.iter().position(|x| x == p).unwrap_or(0);
                    let mut names: Vec<String> =
                        path[from..].iter().map(|t| t.display_name()).collect();
                    names.push(p.display_name());
                    return Some(names.join(" -> "));
                }
                0 => {
                    if let Some(c) = visit(p, parents, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(n, 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in parents.keys() {
        if state.get(n).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, &parents, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// Builds the predicates (the graph among restricted nodes is acyclic, so
/// each recursion ends: `selected` goes to parents, `pulled` to children,
/// and `pulled` never back to parents).
struct Closure<'a> {
    catalog: &'a Catalog,
    conditions: &'a BTreeMap<QualifiedName, String>,
    restricted: &'a BTreeSet<QualifiedName>,
    edges: Vec<Edge>,
    next_alias: std::cell::Cell<usize>,
}

impl Closure<'_> {
    fn alias(&self) -> String {
        let n = self.next_alias.get() + 1;
        self.next_alias.set(n);
        format!("pgcopy_row{n}")
    }

    /// `FROM` a node (with its partitions) or a referenced partition.
    fn from(&self, t: &QualifiedName) -> String {
        match self.catalog.table(t).map(|t| t.kind) {
            Some(TableKind::Partitioned) => t.to_string(),
            _ => format!("ONLY {t}"),
        }
    }

    /// The rows of `node` taken, over `alias`; `None`: all.
    fn selected(&self, node: &QualifiedName, alias: &str) -> Option<String> {
        if !self.restricted.contains(node) {
            return None;
        }
        let own = match self.conditions.get(node) {
            Some(condition) => format!("({condition})"),
            None => self.follows(node, alias),
        };
        Some(match self.pulled(node, alias) {
            Some(pulled) => format!("({own} OR {pulled})"),
            None => own,
        })
    }

    /// A limited node's rows whose references to restricted nodes are taken.
    fn follows(&self, node: &QualifiedName, alias: &str) -> String {
        let parts: Vec<String> = self
            .edges
            .iter()
            .filter(|e| &e.child == node && self.restricted.contains(&e.parent))
            .map(|e| {
                let p = self.alias();
                let parent = self
                    .selected(&e.parent, &p)
                    .unwrap_or_else(|| "true".into());
                format!(
                    "({} OR EXISTS (SELECT 1 FROM {} {p} WHERE {} AND {parent}))",
                    nothing_referenced(e, alias),
                    self.from(&e.referenced),
                    join(e, alias, &p)
                )
            })
            .collect();
        match parts.is_empty() {
            true => "true".into(),
            false => parts.join(" AND "),
        }
    }

    /// Rows of `node` that taken rows of filtered children reference (and,
    /// through limited children, rows those pulled in reference); `None`:
    /// none are.
    fn pulled(&self, node: &QualifiedName, alias: &str) -> Option<String> {
        let parts: Vec<String> = self
            .edges
            .iter()
            .filter(|e| &e.parent == node && self.restricted.contains(&e.child))
            .filter_map(|e| {
                let c = self.alias();
                let seed = match self.conditions.contains_key(&e.child) {
                    true => self.selected(&e.child, &c),
                    false => self.pulled(&e.child, &c),
                }?;
                Some(format!(
                    "EXISTS (SELECT 1 FROM {} {c} WHERE {} AND {seed})",
                    self.from(&e.child),
                    join(e, &c, alias)
                ))
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join(" OR "))
    }
}

/// The child row (over `child`) references nothing: a NULL column (MATCH
/// SIMPLE), or all of them (MATCH FULL).
fn nothing_referenced(e: &Edge, child: &str) -> String {
    let nulls: Vec<String> = e
        .columns
        .iter()
        .map(|c| format!("{child}.{} IS NULL", quote_ident(c)))
        .collect();
    nulls.join(if e.match_full { " AND " } else { " OR " })
}

/// The child row (over `child`) references the parent row (over `parent`).
fn join(e: &Edge, child: &str, parent: &str) -> String {
    let mut out = String::new();
    for (i, (c, p)) in e.columns.iter().zip(&e.referenced_columns).enumerate() {
        if i > 0 {
            out.push_str(" AND ");
        }
        let _ = write!(
            out,
            "{parent}.{} = {child}.{}",
            quote_ident(p),
            quote_ident(c)
        );
    }
    out
}

#[cfg(test)]
mod tests;
