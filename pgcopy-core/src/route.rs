//! A destination partitioned differently from the source: a table plain on
//! one side and partitioned on the other, or partitions with other bounds.
//! Such a table's rows are loaded into the destination's partitioned table
//! (or plain table) of the same name as the source's top table, and
//! PostgreSQL routes each row to its partition. The destination's table is
//! truncated whole, up front, and loaded without `FREEZE`.

use crate::catalog::{Catalog, TableKind};
use crate::plan::Plan;
use crate::quote::QualifiedName;
use crate::sql::TruncateTarget;
use std::collections::BTreeSet;

/// Why a table cannot be routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteProblem {
    /// Only some partitions of a source partitioned table are copied, and the
    /// destination partitions it differently: its rows would go through the
    /// destination's table, which is truncated whole.
    #[error(
        "{table} is a partition of {root}, which the destination partitions differently: its rows go through \
         {root} on the destination, which is emptied whole first, so copy all of {root} (or none of it)"
    )]
    PartOfHierarchy {
        /// The partition copied.
        table: String,
        /// Its top partitioned table.
        root: String,
    },
}

/// Sets [`crate::plan::TableCopySpec::load_into`] for each table of `plan`
/// (made from `source`) whose destination is laid out differently, and
/// names the tables they load into in the up-front `TRUNCATE`. A plain table
/// is loaded as it is when the destination's table of that name is not
/// partitioned; the partitions of a partitioned table, when the destination
/// has every table of its tree under the same name, parent, bound and key.
/// Otherwise they are loaded into the destination's table named like the
/// source's top table, every partition of a tree alike.
pub fn route(plan: &mut Plan, source: &Catalog, dest: &Catalog) -> Vec<RouteProblem> {
    let mut problems = Vec::new();
    let selected: BTreeSet<QualifiedName> = plan.tables.iter().map(|t| t.table.clone()).collect();
    let same_tree = |root: &QualifiedName| {
        let mut tree = source.descendants(root);
        tree.extend(source.table(root));
        tree.iter().all(|s| {
            dest.table(&s.name).is_some_and(|d| {
                d.kind == s.kind
                    && d.parent == s.parent
                    && d.partition_bound == s.partition_bound
                    && d.partition_key == s.partition_key
            })
        })
    };
    for spec in &mut plan.tables {
        let d = dest.table(&spec.table);
        let same_layout = match &spec.partition_of {
            Some(root) => same_tree(root),
            None => d.is_some_and(|d| d.kind == TableKind::Ordinary),
        };
        if same_layout {
            continue;
        }
        let root = spec
            .partition_of
            .clone()
            .unwrap_or_else(|| spec.table.clone());
        let target = if dest.table(&root).is_some() {
            root.clone()
        } else if d.is_some_and(|d| d.kind == TableKind::Partitioned) {
            spec.table.clone()
        } else {
            continue; // preflight says the table is missing
        };
        if let Some(r) = &spec.partition_of {
            let whole = source
                .descendants(r)
                .iter()
                .filter(|t| t.kind == TableKind::Ordinary)
                .all(|t| selected.contains(&t.name));
            if !whole {
                problems.push(RouteProblem::PartOfHierarchy {
                    table: spec.table.display_name(),
                    root: r.display_name(),
                });
                continue;
            }
        }
        spec.load_into = Some(target);
    }
    // Each routed table's destination is emptied once, whole; the others
    // keep their targets.
    let old = std::mem::take(&mut plan.truncate_together);
    let mut together: Vec<TruncateTarget> = Vec::new();
    for t in plan.tables.iter().filter(|t| !t.truncate_in_load()) {
        let target = match &t.load_into {
            // A plain table is emptied alone; a partitioned one down to its
            // partitions.
            Some(d) => TruncateTarget {
                table: d.clone(),
                only: dest.table(d).is_some_and(|d| d.kind == TableKind::Ordinary),
            },
            None => old
                .iter()
                .find(|o| o.table == t.table || Some(&o.table) == t.partition_of.as_ref())
                .cloned()
                .unwrap_or_else(|| TruncateTarget::only(&t.table)),
        };
        if !together.contains(&target) {
            together.push(target);
        }
    }
    together.sort_by(|a, b| a.table.cmp(&b.table));
    plan.truncate_together = together;
    problems
}

/// Every destination table the load writes to: each table loaded as it is,
/// and for each routed one the table it loads into and every partition below
/// it (their triggers, constraints, indexes and foreign keys are on the
/// insert path). Sorted, each once.
pub fn dest_relations(plan: &Plan, dest: &Catalog) -> Vec<QualifiedName> {
    let mut out = BTreeSet::new();
    for spec in &plan.tables {
        match &spec.load_into {
            None => {
                out.insert(spec.table.clone());
            }
            Some(target) => {
                out.insert(target.clone());
                out.extend(dest.descendants(target).iter().map(|t| t.name.clone()));
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Table;
    use crate::plan::{plan, PlanOptions};

    fn q(n: &str) -> QualifiedName {
        QualifiedName::new("public", n)
    }

    /// `m` partitioned by the given bounds, or plain when there are none.
    fn catalog(bounds: &[(&str, &str)]) -> Catalog {
        let mut m = Table::sample("public", "m");
        let mut other = Table::sample("public", "other");
        other.bytes = 8192;
        let mut tables = vec![other];
        if !bounds.is_empty() {
            m.kind = TableKind::Partitioned;
            for (name, bound) in bounds {
                let mut p = Table::sample("public", name);
                p.parent = Some(q("m"));
                p.partition_bound = Some(bound.to_string());
                tables.push(p);
            }
        }
        tables.push(m);
        Catalog {
            tables,
            ..Default::default()
        }
    }

    fn routed(
        source: &Catalog,
        dest: &Catalog,
        include: Option<&str>,
    ) -> (Plan, Vec<RouteProblem>) {
        let opts = PlanOptions::default().with_patterns(include, None).unwrap();
        let mut p = plan(source, &opts).unwrap();
        let problems = route(&mut p, source, dest);
        (p, problems)
    }

    fn load_into(p: &Plan, table: &str) -> Option<String> {
        let spec = p.tables.iter().find(|t| t.table == q(table)).unwrap();
        spec.load_into.as_ref().map(|t| t.display_name())
    }

    #[test]
    fn the_same_layout_loads_each_table_as_it_is() {
        let c = catalog(&[("m_a", "FOR VALUES FROM (1) TO (10)"), ("m_b", "DEFAULT")]);
        let (p, problems) = routed(&c, &c, None);
        assert!(problems.is_empty());
        assert!(p.tables.iter().all(|t| t.load_into.is_none()));
        assert!(p.tables.iter().all(|t| t.truncate_in_load()));
        assert!(p.truncate_together.is_empty());
    }

    #[test]
    fn plain_on_the_source_partitioned_on_the_destination() {
        let src = catalog(&[]);
        let dst = catalog(&[("m_a", "FOR VALUES FROM (1) TO (10)")]);
        let (p, problems) = routed(&src, &dst, None);
        assert!(problems.is_empty());
        assert_eq!(load_into(&p, "m").as_deref(), Some("public.m"));
        assert_eq!(load_into(&p, "other"), None);
        let spec = p.tables.iter().find(|t| t.table == q("m")).unwrap();
        assert!(
            !spec.truncate_in_load(),
            "no FREEZE into a partitioned table"
        );
        assert_eq!(
            p.truncate_together,
            [TruncateTarget {
                table: q("m"),
                only: false
            }]
        );
        assert_eq!(dest_relations(&p, &dst), [q("m"), q("m_a"), q("other")]);
    }

    #[test]
    fn partitioned_on_the_source_plain_or_bounded_otherwise_on_the_destination() {
        let src = catalog(&[("m_a", "FOR VALUES FROM (1) TO (10)"), ("m_b", "DEFAULT")]);
        for (dst, plain) in [
            (catalog(&[]), true),
            (
                catalog(&[("m_a", "FOR VALUES FROM (1) TO (5)"), ("m_c", "DEFAULT")]),
                false,
            ),
        ] {
            let (p, problems) = routed(&src, &dst, None);
            assert!(problems.is_empty());
            assert_eq!(load_into(&p, "m_a").as_deref(), Some("public.m"));
            assert_eq!(load_into(&p, "m_b").as_deref(), Some("public.m"));
            assert_eq!(p.truncate_together.len(), 1);
            assert_eq!(p.truncate_together[0].table, q("m"));
            assert_eq!(p.truncate_together[0].only, plain);
        }
        // One partition with its own bound kept, another changed, or the
        // same bounds over another key: the whole tree goes through the top
        // table, which is emptied once.
        let mut other_key = src.clone();
        other_key
            .tables
            .iter_mut()
            .find(|t| t.name == q("m"))
            .unwrap()
            .partition_key = Some("RANGE (b)".into());
        for dst in [
            catalog(&[("m_a", "FOR VALUES FROM (1) TO (10)"), ("m_c", "DEFAULT")]),
            other_key,
        ] {
            let (p, _) = routed(&src, &dst, None);
            assert_eq!(load_into(&p, "m_a").as_deref(), Some("public.m"));
            assert_eq!(load_into(&p, "m_b").as_deref(), Some("public.m"));
            assert_eq!(p.truncate_together.len(), 1);
        }
    }

    #[test]
    fn a_partition_alone_is_not_routed() {
        let src = catalog(&[("m_a", "FOR VALUES FROM (1) TO (10)"), ("m_b", "DEFAULT")]);
        let dst = catalog(&[]);
        let (_, problems) = routed(&src, &dst, Some("public.m_a"));
        assert_eq!(
            problems,
            [RouteProblem::PartOfHierarchy {
                table: "public.m_a".into(),
                root: "public.m".into()
            }]
        );
    }
}
