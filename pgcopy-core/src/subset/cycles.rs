//! Which self-references and cycles of foreign keys the closure can walk,
//! and the refusals for those it cannot.

use super::{Edge, SubsetError};
use crate::quote::{quote_ident, QualifiedName};
use std::collections::{BTreeMap, BTreeSet};

/// Whether the closure can walk `node`'s self-references `selfs`: each
/// references the node itself (not one of its partitions), all the same
/// columns, and a limited node has one (a row then follows one parent row
/// of its own table).
pub(super) fn check_self_references(
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
pub(super) fn cycles_among(edges: &[&Edge]) -> Vec<Vec<QualifiedName>> {
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
pub(super) fn check_cycle(
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
