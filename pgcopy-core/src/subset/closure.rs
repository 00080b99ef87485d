//! The closure: from the filtered tables and the foreign keys among
//! restricted tables, each table's predicate (what it takes).

use super::joins::{equal, join, key_names_list, nothing_referenced};
use super::{Edge, ROW_ALIAS};
use crate::catalog::{Catalog, TableKind};
use crate::quote::{quote_ident, quote_literal, QualifiedName};
use std::collections::{BTreeMap, BTreeSet};

/// Builds the predicates. Apart from self-references (walked in SQL, by
/// `WITH RECURSIVE`), the graph among restricted nodes is acyclic, so each
/// recursion here ends: `selected` goes to parents, `pulled` to children,
/// and `pulled` never back to parents.
pub(super) struct Closure<'a> {
    pub(super) catalog: &'a Catalog,
    pub(super) conditions: &'a BTreeMap<QualifiedName, String>,
    pub(super) restricted: &'a BTreeSet<QualifiedName>,
    /// Foreign keys between two different nodes.
    pub(super) edges: Vec<Edge>,
    /// Each restricted node's foreign keys to itself.
    pub(super) self_edges: BTreeMap<QualifiedName, Vec<Edge>>,
    /// The cycles among restricted nodes ([`cycles_among`]), walked in SQL.
    pub(super) cycles: &'a [Vec<QualifiedName>],
    /// The cycle each node in one is in.
    pub(super) cycle_of: BTreeMap<QualifiedName, usize>,
    pub(super) next_alias: std::cell::Cell<usize>,
}

impl Closure<'_> {
    /// A fresh alias for a row (`pgcopy_row7`).
    pub(super) fn alias(&self) -> String {
        self.named("")
    }

    /// `FROM` a node (with its partitions) or a referenced partition.
    pub(super) fn from(&self, t: &QualifiedName) -> String {
        match self.catalog.table(t).map(|t| t.kind) {
            Some(TableKind::Partitioned) => t.to_string(),
            _ => format!("ONLY {t}"),
        }
    }

    /// The rows of `node` taken, over `alias`; `None`: all.
    pub(super) fn selected(&self, node: &QualifiedName, alias: &str) -> Option<String> {
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
    pub(super) fn walk_down(&self, node: &QualifiedName, e: &Edge, alias: &str) -> String {
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
    pub(super) fn follows_others(&self, node: &QualifiedName, alias: &str) -> String {
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
    pub(super) fn with_ancestors(
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
    pub(super) fn named(&self, what: &str) -> String {
        let n = self.next_alias.get() + 1;
        self.next_alias.set(n);
        format!("{ROW_ALIAS}{what}{n}")
    }

    /// Whether `a` and `b` are in one cycle.
    pub(super) fn in_one_cycle(&self, a: &QualifiedName, b: &QualifiedName) -> bool {
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
    pub(super) fn cycle_selection(
        &self,
        cycle: usize,
        node: &QualifiedName,
        alias: &str,
    ) -> String {
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
    pub(super) fn pulled(&self, node: &QualifiedName, alias: &str) -> Option<String> {
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
    pub(super) fn pulled_closed(&self, node: &QualifiedName, alias: &str) -> Option<String> {
        self.with_ancestors(node, alias, &|a| self.pulled(node, a))
    }
}
