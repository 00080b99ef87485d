//! The foreign-key graph over tables: cycles (strongly connected components) and
//! a load order with referenced tables before referencing ones.

use crate::catalog::ForeignKey;
use crate::quote::QualifiedName;
use std::collections::BTreeMap;

/// Tables as nodes, "references" as edges (child → parent).
#[derive(Debug, Clone, Default)]
pub struct FkGraph {
    nodes: Vec<QualifiedName>,
    index: BTreeMap<QualifiedName, usize>,
    edges: Vec<Vec<usize>>,
    self_refs: Vec<bool>,
}

impl FkGraph {
    /// Builds the graph over `tables` from the FKs whose both ends are among them.
    pub fn new<'a>(
        tables: impl IntoIterator<Item = &'a QualifiedName>,
        fks: impl IntoIterator<Item = &'a ForeignKey>,
    ) -> Self {
        let mut g = FkGraph::default();
        for t in tables {
            if !g.index.contains_key(t) {
                g.index.insert(t.clone(), g.nodes.len());
                g.nodes.push(t.clone());
                g.edges.push(Vec::new());
                g.self_refs.push(false);
            }
        }
        for fk in fks {
            if let (Some(&c), Some(&p)) = (g.index.get(&fk.table), g.index.get(&fk.referenced)) {
                if c == p {
                    g.self_refs[c] = true;
                } else if !g.edges[c].contains(&p) {
                    g.edges[c].push(p);
                }
            }
        }
        g
    }

    /// Strongly connected components (Tarjan), each sorted by name, in reverse
    /// topological order: a component comes after every component it references.
    fn components(&self) -> Vec<Vec<usize>> {
        struct State {
            index: Vec<Option<usize>>,
            low: Vec<usize>,
            on_stack: Vec<bool>,
            stack: Vec<usize>,
            next: usize,
            out: Vec<Vec<usize>>,
        }
        let n = self.nodes.len();
        let mut st = State {
            index: vec![None; n],
            low: vec![0; n],
            on_stack: vec![false; n],
            stack: Vec::new(),
            next: 0,
            out: Vec::new(),
        };
        // Iterative DFS, so deep FK chains cannot overflow the stack.
        for root in 0..n {
            if st.index[root].is_some() {
                continue;
            }
            let mut work: Vec<(usize, usize)> = vec![(root, 0)];
            while let Some(&mut (v, ref mut ei)) = work.last_mut() {
                if *ei == 0 && st.index[v].is_none() {
                    st.index[v] = Some(st.next);
                    st.low[v] = st.next;
                    st.next += 1;
                    st.stack.push(v);
                    st.on_stack[v] = true;
                }
                if let Some(&w) = self.edges[v].get(*ei) {
                    *ei += 1;
                    match st.index[w] {
                        None => work.push((w, 0)),
                        Some(wi) if st.on_stack[w] => st.low[v] = st.low[v].min(wi),
                        Some(_) => {}
                    }
                    continue;
                }
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    st.low[parent] = st.low[parent].min(st.low[v]);
                }
                if Some(st.low[v]) == st.index[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = st.stack.pop() {
                        st.on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    comp.sort_by(|a, b| self.nodes[*a].cmp(&self.nodes[*b]));
                    st.out.push(comp);
                }
            }
        }
        st.out
    }

    /// Groups of tables that reference each other in a cycle, including a table
    /// referencing itself. Each group is sorted; groups are in load order.
    pub fn cycles(&self) -> Vec<Vec<QualifiedName>> {
        self.components()
            .into_iter()
            .filter(|c| c.len() > 1 || self.self_refs[c[0]])
            .map(|c| c.into_iter().map(|i| self.nodes[i].clone()).collect())
            .collect()
    }

    /// Every table, referenced tables before the tables referencing them (tables
    /// in one cycle are adjacent, in name order).
    pub fn load_order(&self) -> Vec<QualifiedName> {
        // Tarjan emits a component only after all components it can reach, i.e.
        // after everything it references: that is already parents-first.
        self.components()
            .into_iter()
            .flatten()
            .map(|i| self.nodes[i].clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fk(child: &str, parent: &str) -> ForeignKey {
        ForeignKey {
            name: format!("{child}_{parent}_fk"),
            table: QualifiedName::new("s", child),
            referenced: QualifiedName::new("s", parent),
            definition: String::new(),
            validated: true,
            inherited: false,
            kind: Default::default(),
            columns: vec![],
            referenced_columns: vec![],
            match_full: false,
            collations: Vec::new(),
            owner_may_reference: true,
            index: None,
            equality: Vec::new(),
        }
    }

    fn names(v: &[&str]) -> Vec<QualifiedName> {
        v.iter().map(|n| QualifiedName::new("s", *n)).collect()
    }

    #[test]
    fn chain_and_cycle() {
        let tables = names(&["a", "b", "c", "d", "e"]);
        let fks = [
            fk("b", "a"),
            fk("c", "b"),
            fk("d", "e"),
            fk("e", "d"),
            fk("a", "a"),
        ];
        let g = FkGraph::new(&tables, &fks);
        let order = g.load_order();
        let pos = |n: &str| order.iter().position(|t| t.name == n).unwrap();
        assert!(pos("a") < pos("b") && pos("b") < pos("c"));
        let mut cycles = g.cycles();
        cycles.sort();
        assert_eq!(cycles, vec![names(&["a"]), names(&["d", "e"])]);
    }

    #[test]
    fn outside_tables_ignored() {
        let tables = names(&["a"]);
        let g = FkGraph::new(&tables, &[fk("a", "zzz")]);
        assert_eq!(g.load_order(), names(&["a"]));
        assert!(g.cycles().is_empty());
    }

    proptest! {
        /// For any graph: every table appears once in the load order, and every FK
        /// between two tables not in one cycle points backwards in that order.
        #[test]
        fn load_order_respects_edges(n in 1usize..30, raw in proptest::collection::vec((0usize..30, 0usize..30), 0..80)) {
            let tables: Vec<QualifiedName> = (0..n).map(|i| QualifiedName::new("s", format!("t{i:02}"))).collect();
            let fks: Vec<ForeignKey> = raw.iter().filter(|(a, b)| *a < n && *b < n)
                .map(|(a, b)| fk(&format!("t{a:02}"), &format!("t{b:02}"))).collect();
            let g = FkGraph::new(&tables, &fks);
            let order = g.load_order();
            prop_assert_eq!(order.len(), n);
            let cycles = g.cycles();
            let same_cycle = |x: &QualifiedName, y: &QualifiedName| cycles.iter().any(|c| c.contains(x) && c.contains(y));
            for f in &fks {
                if f.table == f.referenced || same_cycle(&f.table, &f.referenced) { continue; }
                let pc = order.iter().position(|t| t == &f.table).unwrap();
                let pp = order.iter().position(|t| t == &f.referenced).unwrap();
                prop_assert!(pp < pc, "{} must load before {}", f.referenced.name, f.table.name);
            }
        }
    }
}
