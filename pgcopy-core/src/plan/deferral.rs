//! Which indexes a load may drop and rebuild (bare heaps), in what order
//! they come back, and in which batches.

use super::*;

/// The indexes a load may drop and rebuild: valid, on copied tables, backing
/// no constraint, or a b-tree PRIMARY KEY or UNIQUE constraint of a plain
/// table (not a partition: it follows its parent's) that no foreign key left
/// in place references (`kept_referenced`) and nothing else depends on,
/// which comes back `USING INDEX`: the load fills a bare heap. An index on a partitioned table comes with its
/// whole tree (the partitions' indexes attached to it, at every level), when
/// every table under it is copied: its members first, deepest first, the root
/// last, so each tree is one run of the list. Dropping the root drops the tree.
/// A partitioned member's definition is `pg_get_indexdef`'s `ON ONLY` statement
/// followed by the `ATTACH PARTITION` of each of its children, so rebuilding
/// the members in list order puts the tree back as it was, names included.
///
/// A foreign key re-created after the load uses the oldest unique index that
/// fits its columns: a table's unique indexes are deferred all together or
/// not at all, and carry their place in the rebuild (`unique_rank`, see
/// [`rank_unique_indexes`]), so each key finds the index it used before.
pub(super) fn deferrable_indexes(
    catalog: &Catalog,
    selected: &BTreeSet<QualifiedName>,
    kept_referenced: &BTreeSet<&QualifiedName>,
) -> Vec<crate::catalog::Index> {
    let mut blocked: BTreeSet<QualifiedName> = BTreeSet::new();
    loop {
        let mut out = deferrable_unless(catalog, selected, kept_referenced, &blocked);
        let deferred: BTreeSet<(&QualifiedName, &str)> =
            out.iter().map(|i| (&i.table, i.name.as_str())).collect();
        let with_unique_deferred: BTreeSet<&QualifiedName> =
            out.iter().filter(|i| i.unique).map(|i| &i.table).collect();
        let split: BTreeSet<QualifiedName> = catalog
            .indexes
            .iter()
            .filter(|i| i.unique && !deferred.contains(&(&i.table, i.name.as_str())))
            .filter(|i| with_unique_deferred.contains(&i.table))
            .map(|i| i.table.clone())
            .collect();
        if split.is_empty() {
            rank_unique_indexes(&mut out, catalog);
            return out;
        }
        blocked.extend(split);
    }
}

/// Whether foreign key `fk`, re-created with its column list, could use
/// `index`: PostgreSQL takes the oldest valid, immediate (not DEFERRABLE),
/// non-partial unique index of the referenced table whose key columns are
/// the referenced ones, in any order.
fn fits(index: &crate::catalog::Index, fk: &crate::catalog::ForeignKey) -> bool {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v
    };
    index.unique
        && index.valid
        && index.immediate
        && !index.partial
        && !index.has_expressions
        && index.table == fk.referenced
        && sorted(&index.key_columns) == sorted(&fk.referenced_columns)
}

/// Orders each table's deferred unique indexes for their rebuild (see
/// [`deferrable_indexes`]): a foreign key re-created after the load uses the
/// oldest that fits it, so the one each key uses now is rebuilt before the
/// others that fit it, and otherwise the oldest first. Where the indexes as
/// they stand would lead a key to another one (declared on the primary key
/// with no column list while an older unique index fits, or made younger by
/// `REINDEX CONCURRENTLY`), they are marked to be rebuilt whatever the
/// table's size.
fn rank_unique_indexes(out: &mut [crate::catalog::Index], catalog: &Catalog) {
    let mut by_table: std::collections::BTreeMap<QualifiedName, Vec<usize>> = Default::default();
    for (n, i) in out.iter().enumerate().filter(|(_, i)| i.unique) {
        by_table.entry(i.table.clone()).or_default().push(n);
    }
    for (table, mut members) in by_table {
        members.sort_unstable_by_key(|&n| out[n].oid);
        // For each index, the ones that must be rebuilt before it.
        let mut after: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        let mut misled = false;
        let keys = catalog.foreign_keys.iter().filter(|f| {
            !f.inherited
                && f.kind == crate::catalog::ConstraintKind::Foreign
                && f.referenced == table
        });
        for fk in keys {
            let Some(&used) = members
                .iter()
                .find(|&&n| fk.index.as_deref() == Some(out[n].name.as_str()))
            else {
                continue;
            };
            let fitting: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&n| fits(&out[n], fk))
                .collect();
            misled |= fitting.first().is_some_and(|&oldest| oldest != used);
            for n in fitting.into_iter().filter(|&n| n != used) {
                after.entry(n).or_default().push(used);
            }
        }
        // Oldest first among those whose predecessors are placed; two keys
        // that each want a different one of the same fitting indexes cannot
        // both have theirs, and the rest goes oldest first.
        let mut placed: Vec<usize> = Vec::new();
        let mut left = members;
        while !left.is_empty() {
            let ready = left
                .iter()
                .position(|n| {
                    after
                        .get(n)
                        .is_none_or(|before| before.iter().all(|b| placed.contains(b)))
                })
                .unwrap_or(0);
            placed.push(left.remove(ready));
        }
        for (rank, n) in placed.into_iter().enumerate() {
            out[n].properties.unique_rank = Some(rank as u32);
            out[n].rebuilt_for_fks = misled;
        }
    }
}

/// [`deferrable_indexes`] but for the unique ones of the `blocked` tables.
fn deferrable_unless(
    catalog: &Catalog,
    selected: &BTreeSet<QualifiedName>,
    kept_referenced: &BTreeSet<&QualifiedName>,
    blocked: &BTreeSet<QualifiedName>,
) -> Vec<crate::catalog::Index> {
    use crate::catalog::Index;
    let key = |i: &Index| QualifiedName::new(&i.table.schema, &i.name);
    let kind = |i: &Index| catalog.table(&i.table).map(|t| t.kind);
    let mut attached: std::collections::BTreeMap<&QualifiedName, Vec<&Index>> =
        std::collections::BTreeMap::new();
    for i in &catalog.indexes {
        if let Some(p) = &i.parent {
            attached.entry(p).or_default().push(i);
        }
    }
    let children = |parent: &QualifiedName| -> Vec<&Index> {
        attached.get(parent).cloned().unwrap_or_default()
    };
    // Partitioned tables with a partition somewhere below that is not copied.
    let partly: BTreeSet<QualifiedName> = catalog
        .tables
        .iter()
        .filter(|t| t.kind == TableKind::Ordinary && !selected.contains(&t.name))
        .flat_map(|t| catalog.ancestors(&t.name))
        .collect();
    // Post-order over a tree into `out`; false when a member cannot be deferred.
    fn tree<'a>(
        root: &'a Index,
        children: &dyn Fn(&QualifiedName) -> Vec<&'a Index>,
        ok: &dyn Fn(&Index) -> bool,
        key: &dyn Fn(&Index) -> QualifiedName,
        out: &mut Vec<&'a Index>,
    ) -> bool {
        if !ok(root) {
            return false;
        }
        for c in children(&key(root)) {
            if !tree(c, children, ok, key, out) {
                return false;
            }
        }
        out.push(root);
        true
    }
    let key_ok = |i: &Index| {
        kind(i) == Some(TableKind::Ordinary)
            && catalog.table(&i.table).is_some_and(|t| t.parent.is_none())
    };
    let ok = |i: &Index| {
        let constraint_ok = match &i.properties.constraint {
            None => !i.backs_constraint,
            Some(_) => key_ok(i),
        };
        constraint_ok
            // A foreign key left in place may use any unique index of the
            // table it references (one that backs no constraint too).
            && !(i.unique
                && (kept_referenced.contains(&i.table) || blocked.contains(&i.table)))
            && !i.others_depend
            && i.valid
            && i.creatable
            && match kind(i) {
                Some(TableKind::Ordinary) => selected.contains(&i.table),
                Some(TableKind::Partitioned) => !i.other_partitions,
                _ => false,
            }
    };
    let mut out = Vec::new();
    for root in catalog.indexes.iter().filter(|i| !i.is_partition) {
        match kind(root) {
            Some(TableKind::Ordinary) if ok(root) => out.push(root.clone()),
            Some(TableKind::Partitioned) => {
                let mut members = Vec::new();
                // Every partition copied: then every leaf has an index in the
                // tree (a valid partitioned index has one on each partition).
                let whole = !partly.contains(&root.table);
                if whole && tree(root, &children, &ok, &key, &mut members) {
                    for m in members {
                        let mut m = m.clone();
                        if kind(&m) == Some(TableKind::Partitioned) {
                            for c in children(&key(&m)) {
                                m.definition.push_str(";\n");
                                m.definition
                                    .push_str(&crate::sql::attach_index(&key(&m), &key(c)));
                            }
                        }
                        out.push(m);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Splits deferred indexes (in the plan's order) into batches of about `size`
/// to save and drop one transaction each, never splitting an index tree: a
/// batch ends only after an index that is not a partition's, since dropping a
/// tree's root drops its members, which must be saved in the same transaction.
pub fn index_batches(
    indexes: &[crate::catalog::Index],
    size: usize,
) -> impl Iterator<Item = &[crate::catalog::Index]> {
    let mut rest = indexes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(size.max(1));
        while end < rest.len() && rest[end - 1].is_partition {
            end += 1;
        }
        let (batch, tail) = rest.split_at(end);
        rest = tail;
        Some(batch)
    })
}
