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

use crate::catalog::{Catalog, ConstraintKind, TableKind};
use crate::filter::{parse_patterns, TablePattern};
use crate::quote::{quote_ident, quote_literal, QualifiedName};
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

/// Whether the closure can walk `node`'s self-references `selfs`: each
/// references the node itself (not one of its partitions), all the same
/// columns, and a limited node has one (a row then follows one parent row
/// of its own table).
fn check_self_references(
    node: &QualifiedName,
    selfs: &[Edge],
    filtered: bool,
) -> Result<(), SubsetError> {
    let why = if selfs.iter().any(|e| &e.referenced != node) {
        Some("a key references one of its partitions")
    } else if selfs
        .iter()
        .any(|e| e.referenced_columns != selfs[0].referenced_columns)
    {
        Some("they reference different keys")
    } else if !filtered && selfs.len() > 1 {
        Some("more than one, in a table the filters limit through another")
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(SubsetError::SelfReference {
            table: node.display_name(),
            keys: selfs
                .iter()
                .map(|e| quote_ident(&e.name))
                .collect::<Vec<_>>()
                .join(", "),
            why: why.into(),
        }),
    }
}

/// The cycles among `edges` (child to parent): each set of two or more
/// nodes that all reach each other (a strongly connected component), its
/// nodes in order.
fn cycles_among(edges: &[&Edge]) -> Vec<Vec<QualifiedName>> {
    let mut parents: BTreeMap<&QualifiedName, BTreeSet<&QualifiedName>> = BTreeMap::new();
    for e in edges.iter().filter(|e| e.child != e.parent) {
        parents.entry(&e.child).or_default().insert(&e.parent);
    }
    let reach = |from: &QualifiedName| -> BTreeSet<QualifiedName> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from];
        while let Some(n) = todo.pop() {
            for p in parents.get(n).into_iter().flatten() {
                if seen.insert((*p).clone()) {
                    todo.push(p);
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&QualifiedName, BTreeSet<QualifiedName>> =
        parents.keys().map(|n| (*n, reach(n))).collect();
    let mut out: Vec<Vec<QualifiedName>> = Vec::new();
    for (n, from_n) in &reached {
        if !from_n.contains(*n) || out.iter().any(|c| c.contains(*n)) {
            continue;
        }
        out.push(
            from_n
                .iter()
                .filter(|m| reached.get(m).is_some_and(|r| r.contains(*n)))
                .cloned()
                .collect(),
        );
    }
    out
}

/// Whether the closure can walk `cycle` (see [`Closure::cycle_selection`]):
/// its tables reference no restricted table outside it (whose rows would
/// depend on the cycle's and the cycle's on theirs), and each limited one
/// follows one key in it (a row is taken when that row is: a walk, not a
/// join of several).
fn check_cycle(
    cycle: &[QualifiedName],
    inner: &[&Edge],
    conditions: &BTreeMap<QualifiedName, String>,
) -> Result<(), SubsetError> {
    let names = || {
        cycle
            .iter()
            .map(|t| t.display_name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for node in cycle {
        let keys: Vec<&&Edge> = inner.iter().filter(|e| &e.child == node).collect();
        if let Some(out) = keys.iter().find(|e| !cycle.contains(&e.parent)) {
            return Err(SubsetError::Cycle {
                cycle: names(),
                why: format!(
                    "{} also references {}, which the filters restrict too",
                    node.display_name(),
                    out.parent.display_name()
                ),
            });
        }
        if !conditions.contains_key(node) && keys.len() > 1 {
            return Err(SubsetError::Cycle {
                cycle: names(),
                why: format!(
                    "{}, limited by the filters, references tables in it through {} keys ({}), so which \
                     of its rows to take has no single answer",
                    node.display_name(),
                    keys.len(),
                    keys.iter()
                        .map(|e| quote_ident(&e.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// Builds the predicates. Apart from self-references (walked in SQL, by
/// `WITH RECURSIVE`), the graph among restricted nodes is acyclic, so each
/// recursion here ends: `selected` goes to parents, `pulled` to children,
/// and `pulled` never back to parents.
struct Closure<'a> {
    catalog: &'a Catalog,
    conditions: &'a BTreeMap<QualifiedName, String>,
    restricted: &'a BTreeSet<QualifiedName>,
    /// Foreign keys between two different nodes.
    edges: Vec<Edge>,
    /// Each restricted node's foreign keys to itself.
    self_edges: BTreeMap<QualifiedName, Vec<Edge>>,
    /// The cycles among restricted nodes ([`cycles_among`]), walked in SQL.
    cycles: &'a [Vec<QualifiedName>],
    /// The cycle each node in one is in.
    cycle_of: BTreeMap<QualifiedName, usize>,
    next_alias: std::cell::Cell<usize>,
}

impl Closure<'_> {
    /// A fresh alias for a row (`pgcopy_row7`).
    fn alias(&self) -> String {
        self.named("")
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
        if let Some(&cycle) = self.cycle_of.get(node) {
            return Some(self.cycle_selection(cycle, node, alias));
        }
        if let Some(condition) = self.conditions.get(node) {
            // Its own rows and those filtered children pull in, with what
            // they reference in its own table.
            return self.with_ancestors(node, alias, &|a| {
                let own = format!("({condition})");
                Some(match self.pulled(node, a) {
                    Some(pulled) => format!("({own} OR {pulled})"),
                    None => own,
                })
            });
        }
        if let Some(e) = self.self_edges.get(node).and_then(|s| s.first()) {
            return Some(self.walk_down(node, e, alias));
        }
        let own = self.follows_others(node, alias);
        Some(match self.pulled_closed(node, alias) {
            Some(pulled) => format!("({own} OR {pulled})"),
            None => own,
        })
    }

    /// The rows of a limited `node` that references itself through `e`:
    /// walked down, over `alias`, from the rows pulled in (with what they
    /// reference in it) and the rows whose references to other restricted
    /// nodes are taken ([`Self::follows_others`], evaluated once, in a
    /// `MATERIALIZED` list) and that reference nothing in `node` or only
    /// themselves; a step takes such a row that references a row taken.
    /// Rows are known by their place (`tableoid`, `ctid`, fixed within the
    /// snapshot), so the walk's `UNION` hashes no key of the user's types.
    fn walk_down(&self, node: &QualifiedName, e: &Edge, alias: &str) -> String {
        let (eligible, walk) = (self.named("_eligible"), self.named("_down"));
        let (r, q, p, c) = (self.alias(), self.alias(), self.alias(), self.alias());
        let (toid, tid) = (format!("{ROW_ALIAS}_toid"), format!("{ROW_ALIAS}_tid"));
        let from = self.from(node);
        let is_eligible =
            |a: &str| format!("({a}.tableoid, {a}.ctid) IN (SELECT {toid}, {tid} FROM {eligible})");
        let root = format!("({} OR ({}))", nothing_referenced(e, &q), join(e, &q, &q));
        let start = match self.pulled_closed(node, &q) {
            Some(pulled) => format!("({root} AND {}) OR {pulled}", is_eligible(&q)),
            None => format!("{root} AND {}", is_eligible(&q)),
        };
        format!(
            "({alias}.tableoid, {alias}.ctid) IN (WITH RECURSIVE {eligible}({toid}, {tid}) AS MATERIALIZED (\
             SELECT {r}.tableoid, {r}.ctid FROM {from} {r} WHERE {}), \
             {walk}({toid}, {tid}) AS (SELECT {q}.tableoid, {q}.ctid FROM {from} {q} WHERE {start} \
             UNION SELECT {c}.tableoid, {c}.ctid FROM {walk} JOIN {from} {p} ON {p}.tableoid = {walk}.{toid} \
             AND {p}.ctid = {walk}.{tid} JOIN {from} {c} ON {} WHERE {}) SELECT {toid}, {tid} FROM {walk})",
            self.follows_others(node, &r),
            join(e, &c, &p),
            is_eligible(&c),
        )
    }

    /// A limited node's rows whose references to other restricted nodes are
    /// taken.
    fn follows_others(&self, node: &QualifiedName, alias: &str) -> String {
        let parts: Vec<String> = self
            .edges
            .iter()
            .filter(|e| &e.child == node && self.restricted.contains(&e.parent))
            .filter(|e| !self.in_one_cycle(&e.child, &e.parent))
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

    /// The rows `seed` selects (over the alias it is given), and the rows
    /// they reference in `node` itself, up to the top, over `alias`; `None`
    /// when `seed` selects none. The seed is evaluated once, in the walk's
    /// start; rows are known by their place (`tableoid`, `ctid`).
    fn with_ancestors(
        &self,
        node: &QualifiedName,
        alias: &str,
        seed: &dyn Fn(&str) -> Option<String>,
    ) -> Option<String> {
        let Some(selfs) = self.self_edges.get(node).filter(|s| !s.is_empty()) else {
            return seed(alias);
        };
        let walk = self.named("_up");
        let (r, c, p) = (self.alias(), self.alias(), self.alias());
        let start = seed(&r)?;
        let (toid, tid) = (format!("{ROW_ALIAS}_toid"), format!("{ROW_ALIAS}_tid"));
        let from = self.from(node);
        let referenced = &selfs[0].referenced_columns;
        let keys = key_names_list(referenced.len());
        // A taken row's references to its own table, one a row per key;
        // compared in the referenced columns' collations (written on their
        // side: a referencing column may be of a type without collations).
        let references = selfs
            .iter()
            .map(|e| {
                let values: Vec<String> = e
                    .columns
                    .iter()
                    .map(|col| format!("{c}.{}", quote_ident(col)))
                    .collect();
                format!("({})", values.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let collations: Vec<&str> = (0..referenced.len())
            .map(|i| {
                selfs
                    .iter()
                    .filter_map(|e| e.collations.get(i))
                    .find(|c| !c.is_empty())
                    .map_or("", String::as_str)
            })
            .collect();
        Some(format!(
            "({alias}.tableoid, {alias}.ctid) IN (WITH RECURSIVE {walk}({toid}, {tid}) AS (\
             SELECT {r}.tableoid, {r}.ctid FROM {from} {r} WHERE {start} \
             UNION SELECT {p}.tableoid, {p}.ctid FROM {walk} JOIN {from} {c} ON {c}.tableoid = {walk}.{toid} \
             AND {c}.ctid = {walk}.{tid} CROSS JOIN LATERAL (VALUES {references}) {walk}_k({}) \
             JOIN {from} {p} ON {}) SELECT {toid}, {tid} FROM {walk})",
            keys.join(", "),
            equal(
                &selfs[0],
                &p,
                referenced,
                &collations,
                &format!("{walk}_k"),
                &keys
            ),
        ))
    }

    /// A fresh name for a `WITH RECURSIVE` (`pgcopy_row_up7`): under
    /// [`ROW_ALIAS`], which no condition may name.
    fn named(&self, what: &str) -> String {
        let n = self.next_alias.get() + 1;
        self.next_alias.set(n);
        format!("{ROW_ALIAS}{what}{n}")
    }

    /// Whether `a` and `b` are in one cycle.
    fn in_one_cycle(&self, a: &QualifiedName, b: &QualifiedName) -> bool {
        self.cycle_of
            .get(a)
            .is_some_and(|c| self.cycle_of.get(b) == Some(c))
    }

    /// The rows of `node`, in cycle `cycle`, taken, over `alias`: the
    /// cycle's rows walked together by `WITH RECURSIVE`, each row known by
    /// its table (`tableoid`) and place (`ctid`, fixed within the snapshot),
    /// tagged with its node's place in the cycle. The walk starts from each
    /// filtered node's rows, each limited node's rows that reference nothing
    /// in the cycle, and the rows children outside it pull in; then adds,
    /// for every row it has, the rows it references in the cycle (what is
    /// kept stays whole) and, through a limited node's one key in it, the
    /// rows that reference it (children follow their parents); until
    /// nothing is new. [`check_cycle`] made sure no restricted table
    /// outside the cycle is referenced from it, so nothing here depends on
    /// the cycle's own rows again.
    fn cycle_selection(&self, cycle: usize, node: &QualifiedName, alias: &str) -> String {
        let members = &self.cycles[cycle];
        let tag = |n: &QualifiedName| members.iter().position(|m| m == n).unwrap_or(0) + 1;
        let keys: Vec<&Edge> = self
            .edges
            .iter()
            .chain(
                members
                    .iter()
                    .flat_map(|m| self.self_edges.get(m).into_iter().flatten()),
            )
            .filter(|e| members.contains(&e.child) && members.contains(&e.parent))
            .collect();
        let walk = self.named("_cycle");
        let (t, toid, tid) = (
            format!("{walk}.{ROW_ALIAS}_tag"),
            format!("{walk}.{ROW_ALIAS}_toid"),
            format!("{walk}.{ROW_ALIAS}_tid"),
        );
        let mut starts = Vec::new();
        for m in members {
            let r = self.alias();
            let own = match self.conditions.get(m) {
                Some(condition) => format!("({condition})"),
                None => keys
                    .iter()
                    .filter(|e| &e.child == m)
                    .map(|e| nothing_referenced(e, &r))
                    .collect::<Vec<_>>()
                    .join(" AND "),
            };
            let own = match self.pulled(m, &r) {
                Some(pulled) => format!("({own} OR {pulled})"),
                None => own,
            };
            starts.push(format!(
                "SELECT {}, {r}.tableoid, {r}.ctid FROM {} {r} WHERE {own}",
                tag(m),
                self.from(m)
            ));
        }
        let mut steps = Vec::new();
        for e in &keys {
            let (c, p) = (self.alias(), self.alias());
            // The row it references.
            steps.push(format!(
                "SELECT {}, {p}.tableoid, {p}.ctid FROM {} {c} JOIN {} {p} ON {} \
                 WHERE {t} = {} AND {c}.tableoid = {toid} AND {c}.ctid = {tid}",
                tag(&e.parent),
                self.from(&e.child),
                self.from(&e.referenced),
                join(e, &c, &p),
                tag(&e.child),
            ));
            // The rows of a limited child that follow it.
            if !self.conditions.contains_key(&e.child) {
                let (c, p) = (self.alias(), self.alias());
                steps.push(format!(
                    "SELECT {}, {c}.tableoid, {c}.ctid FROM {} {p} JOIN {} {c} ON {} \
                     WHERE {t} = {} AND {p}.tableoid = {toid} AND {p}.ctid = {tid}",
                    tag(&e.child),
                    self.from(&e.referenced),
                    self.from(&e.child),
                    join(e, &c, &p),
                    tag(&e.parent),
                ));
            }
        }
        format!(
            "({alias}.tableoid, {alias}.ctid) IN (WITH RECURSIVE {walk}({ROW_ALIAS}_tag, {ROW_ALIAS}_toid, \
             {ROW_ALIAS}_tid) AS ({} UNION SELECT {walk}_step.* FROM {walk} CROSS JOIN LATERAL ({}) {walk}_step) \
             SELECT {toid}, {tid} FROM {walk} WHERE {t} = {})",
            starts.join(" UNION ALL "),
            steps.join(" UNION ALL "),
            tag(node)
        )
    }

    /// Rows of `node` that taken rows of filtered children reference (and,
    /// through limited children, rows those pulled in reference); `None`:
    /// none are.
    fn pulled(&self, node: &QualifiedName, alias: &str) -> Option<String> {
        let parts: Vec<String> = self
            .edges
            .iter()
            .filter(|e| &e.parent == node && self.restricted.contains(&e.child))
            .filter(|e| !self.in_one_cycle(&e.child, &e.parent))
            .filter_map(|e| {
                let c = self.alias();
                let seed = match self.conditions.contains_key(&e.child) {
                    true => self.selected(&e.child, &c),
                    false => self.pulled_closed(&e.child, &c),
                }?;
                // A key to one partition takes rows of that partition only.
                let within = match &e.referenced == node {
                    true => String::new(),
                    false => format!(
                        " AND {alias}.tableoid IN (SELECT relid FROM pg_catalog.pg_partition_tree({}::pg_catalog.regclass) \
                         WHERE isleaf)",
                        quote_literal(&e.referenced.to_string())
                    ),
                };
                Some(format!(
                    "EXISTS (SELECT 1 FROM {} {c} WHERE {}{within} AND {seed})",
                    self.from(&e.child),
                    join(e, &c, alias)
                ))
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join(" OR "))
    }

    /// [`Self::pulled`], with the rows those reference in `node` itself.
    fn pulled_closed(&self, node: &QualifiedName, alias: &str) -> Option<String> {
        self.with_ancestors(node, alias, &|a| self.pulled(node, a))
    }
}

/// The operators `fk` compares its column pairs with, written out, or why
/// they may not be called with this role's rights.
fn key_operators(
    catalog: &Catalog,
    fk: &crate::catalog::ForeignKey,
    trust: &crate::trust::TrustedOwners,
) -> Result<Vec<String>, SubsetError> {
    if fk.equality.len() != fk.columns.len() {
        return Err(SubsetError::UnknownOperator {
            key: fk.name.clone(),
            table: fk.table.display_name(),
        });
    }
    let trusted = |r: &str| r == catalog.current_user || trust.trusts(r);
    fk.equality
        .iter()
        .map(|eq| {
            let roles = eq.untrusted(&trusted);
            match roles.is_empty() {
                true => Ok(eq.sql()),
                false => Err(SubsetError::UntrustedOperator {
                    key: fk.name.clone(),
                    table: fk.table.display_name(),
                    operator: format!("{}.{}", eq.schema, eq.name),
                    why_types: !eq.exact && eq.owners.iter().all(|o| trusted(o)),
                    roles: roles.into_iter().map(str::to_string).collect(),
                }),
            }
        })
        .collect()
}

/// `pgcopy_row_k1, pgcopy_row_k2`: the columns of a walk's keys.
fn key_names_list(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{ROW_ALIAS}_k{i}")).collect()
}

/// `a."x" COLLATE c OPERATOR(...) b.k1 AND ...`, with the key `e`'s
/// operators, the referenced columns (and their `collations`, where a
/// referencing column has another) on the left.
fn equal(
    e: &Edge,
    left: &str,
    columns: &[String],
    collations: &[&str],
    right: &str,
    keys: &[String],
) -> String {
    columns
        .iter()
        .zip(collations)
        .zip(keys)
        .zip(operators(e))
        .map(|(((c, collate), k), op)| {
            format!("{left}.{}{collate} {op} {right}.{k}", quote_ident(c))
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The key's operators; `plan_subset` refused the keys it joins over whose
/// operators may not be called, before any SQL was written.
fn operators(e: &Edge) -> &[String] {
    e.operators.as_deref().unwrap_or(&[])
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

/// The child row (over `child`) references the parent row (over `parent`),
/// compared as PostgreSQL compares the key: in the referenced columns'
/// collations.
fn join(e: &Edge, child: &str, parent: &str) -> String {
    let mut out = String::new();
    for (i, (((c, p), collate), op)) in e
        .columns
        .iter()
        .zip(&e.referenced_columns)
        .zip(&e.collations)
        .zip(operators(e))
        .enumerate()
    {
        if i > 0 {
            out.push_str(" AND ");
        }
        let _ = write!(
            out,
            "{parent}.{}{collate} {op} {child}.{}",
            quote_ident(p),
            quote_ident(c)
        );
    }
    out
}

#[cfg(test)]
mod tests;
