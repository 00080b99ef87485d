//! Building a plan from a catalog and options: the selection, chunks, FK
//! actions and cycles, sequences, materialized views, truncate targets and
//! deferred indexes.

use super::*;

/// Plans a copy of `catalog`'s tables (the source's; the destination has the same
/// schema) under `opts`.
pub fn plan(catalog: &Catalog, opts: &PlanOptions) -> Result<Plan, PlanError> {
    let in_scope = |t: &QualifiedName| !opts.skip_schemas.iter().any(|s| s == &t.schema);
    // The table and its partitioned ancestors: a pattern naming a partitioned
    // table selects all its partitions.
    let lineage = |t: &QualifiedName| {
        let mut v = vec![t.clone()];
        v.extend(catalog.ancestors(t));
        v
    };
    let root_of = |t: &QualifiedName| lineage(t).pop().unwrap_or_else(|| t.clone());

    let mut used_include = vec![false; opts.include.len()];
    let mut used_exclude = vec![false; opts.exclude.len()];
    for t in catalog.tables.iter().filter(|t| in_scope(&t.name)) {
        for (i, p) in opts.include.iter().enumerate() {
            used_include[i] |= p.matches(&t.name);
        }
        for (i, p) in opts.exclude.iter().enumerate() {
            used_exclude[i] |= p.matches(&t.name);
        }
    }
    let ambiguous: Vec<AmbiguousPattern> = opts
        .include
        .iter()
        .filter(|p| p.any_schema())
        .filter_map(|p| {
            let tables: BTreeSet<QualifiedName> = catalog
                .tables
                .iter()
                .filter(|t| in_scope(&t.name) && t.parent.is_none() && p.matches(&t.name))
                .map(|t| t.name.clone())
                .collect();
            let schemas: BTreeSet<&String> = tables.iter().map(|t| &t.schema).collect();
            (schemas.len() > 1).then(|| AmbiguousPattern {
                pattern: p.to_string(),
                bare_name: p.is_bare_name(),
                tables: tables.into_iter().collect(),
            })
        })
        .collect();
    let unmatched: Vec<String> = opts
        .include
        .iter()
        .zip(&used_include)
        .chain(opts.exclude.iter().zip(&used_exclude))
        .filter(|(_, used)| !**used)
        .map(|(p, _)| format!("`{p}`"))
        .collect();
    if !unmatched.is_empty() && !opts.allow_empty_match {
        return Err(PlanError::NoMatch(unmatched));
    }

    let selected: Vec<&crate::catalog::Table> = catalog
        .tables
        .iter()
        .filter(|t| t.kind == TableKind::Ordinary && in_scope(&t.name))
        .filter(|t| opts.only.as_ref().is_none_or(|o| o.contains(&t.name)))
        .filter(|t| {
            let names = lineage(&t.name);
            let inc = opts.include.is_empty()
                || names
                    .iter()
                    .any(|n| opts.include.iter().any(|p| p.matches(n)));
            let exc = names
                .iter()
                .any(|n| opts.exclude.iter().any(|p| p.matches(n)));
            inc && !exc
        })
        .collect();
    let selected_names: BTreeSet<QualifiedName> = selected.iter().map(|t| t.name.clone()).collect();
    // A relation "is selected" when it or any partition below it is.
    let mut touched: BTreeSet<QualifiedName> = BTreeSet::new();
    for t in &selected_names {
        touched.extend(lineage(t));
    }
    let roots: BTreeSet<QualifiedName> = selected_names.iter().map(&root_of).collect();
    // Partitioned tables all of whose partitions are copied.
    let whole_partitioned: BTreeSet<QualifiedName> = roots
        .iter()
        .filter(|r| {
            catalog
                .table(r)
                .is_some_and(|t| t.kind == TableKind::Partitioned)
        })
        .filter(|r| {
            catalog
                .tables
                .iter()
                .filter(|t| t.kind == TableKind::Ordinary && &root_of(&t.name) == *r)
                .all(|t| selected_names.contains(&t.name))
        })
        .cloned()
        .collect();

    // A partitioned table only partly copied cannot be named in the
    // TRUNCATE, so its FK to a copied table has to go, like an outside one.
    let partly_copied = |t: &QualifiedName| {
        catalog
            .table(t)
            .is_some_and(|t| t.kind == TableKind::Partitioned)
            && !whole_partitioned.contains(&root_of(t))
    };
    // Tables linked by an FK to another selected table that stays in place
    // during the load (replica mode): such tables are truncated together.
    // Where every FK is dropped first (drop mode), each table can be
    // truncated in its own load transaction, and so loaded with FREEZE. A
    // self-reference does not stop a plain table from being truncated alone;
    // a partitioned table's does its partitions: its key references each of
    // them, so TRUNCATE of one alone is refused.
    let fk_linked: BTreeSet<QualifiedName> = match opts.fk_strategy {
        FkStrategy::Drop => BTreeSet::new(),
        FkStrategy::Replica => catalog
            .foreign_keys
            .iter()
            .filter(|fk| {
                !fk.inherited && touched.contains(&fk.table) && touched.contains(&fk.referenced)
            })
            .filter(|fk| !partly_copied(&fk.table))
            .map(|fk| (root_of(&fk.table), root_of(&fk.referenced)))
            .filter(|(a, b)| {
                a != b
                    || catalog
                        .table(a)
                        .is_some_and(|t| t.kind == TableKind::Partitioned)
            })
            .flat_map(|(a, b)| [a, b])
            .collect(),
    };

    // A query pgcopy plans over a table could run its owners' code (see
    // `Table::planner_untrusted`): such a table is read whole, by a COPY
    // that plans nothing.
    let unplannable = |t: &QualifiedName| -> Vec<String> {
        lineage(t)
            .iter()
            .filter_map(|n| catalog.table(n))
            .flat_map(|t| t.planner_untrusted(&opts.trust, &catalog.current_user))
            .map(str::to_string)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let mut not_split = Vec::new();
    let mut tables: Vec<TableCopySpec> = selected
        .iter()
        .map(|t| {
            let partition_of = t.parent.as_ref().map(|_| root_of(&t.name));
            let mut chunks = plan_chunks(t.bytes, opts.block_size, opts.split_larger_than);
            if chunks.len() > 1 {
                let roles = unplannable(&t.name);
                if !roles.is_empty() {
                    chunks = vec![crate::chunk::ChunkRange::WHOLE];
                    not_split.push((t.name.clone(), roles));
                }
            }
            let (format, text_because) =
                crate::formats::choose(t, catalog.server_version_num, opts.dest_version_num);
            TableCopySpec {
                table: t.name.clone(),
                partition_of,
                columns: t.copied_columns().map(|c| c.name.clone()).collect(),
                format,
                text_because: crate::formats::describe(&text_because),
                est_rows: t.est_rows.unwrap_or(0.0).max(0.0) as u64,
                bytes: t.bytes,
                chunks,
                fk_linked: fk_linked.contains(&root_of(&t.name)),
                load_into: None,
                taken: Default::default(),
                rows_where: None,
                transforms: Default::default(),
            }
        })
        .collect();
    tables.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.table.cmp(&b.table)));
    if !opts.row_filters.is_empty() {
        let copied: Vec<QualifiedName> = tables.iter().map(|t| t.table.clone()).collect();
        let subsets = crate::subset::plan_subset(
            catalog,
            &copied,
            &opts.row_filters,
            opts.follow_fks,
            &opts.trust,
        )?;
        for (spec, s) in tables.iter_mut().zip(subsets) {
            spec.taken = s.taken;
            spec.rows_where = s.predicate;
        }
    }
    if !opts.transforms.is_empty() {
        let copied: Vec<QualifiedName> = tables.iter().map(|t| t.table.clone()).collect();
        let mut by_table = crate::transform::plan_transforms(catalog, &copied, &opts.transforms)?;
        for spec in &mut tables {
            spec.transforms = by_table.remove(&spec.table).unwrap_or_default();
        }
    }
    // A table read through a query (a --where, the rows that follow one, a
    // --transform) is planned: refused where that could run a role's code
    // that is not trusted.
    for spec in tables
        .iter()
        .filter(|t| t.rows_where.is_some() || !t.transforms.is_empty())
    {
        let roles = unplannable(&spec.table);
        if !roles.is_empty() {
            return Err(PlanError::Unplannable {
                table: spec.table.display_name(),
                option: match spec.rows_where.is_some() {
                    true => "--where",
                    false => "--transform",
                },
                roles,
            });
        }
    }

    // The FK graph over top-level tables: a partitioned table is one node.
    let root_fks: Vec<ForeignKey> = catalog
        .foreign_keys
        .iter()
        .filter(|fk| !fk.inherited)
        .map(|fk| ForeignKey {
            table: root_of(&fk.table),
            referenced: root_of(&fk.referenced),
            ..fk.clone()
        })
        .collect();
    let graph = FkGraph::new(&roots, &root_fks);

    // With --no-follow-fks, a key to a filtered table may no longer hold:
    // kept in place (replica mode), it would stay VALID over rows that break
    // it; dropped and restored, it comes back NOT VALID if they do.
    let filtered_roots: BTreeSet<QualifiedName> = match opts.follow_fks {
        true => BTreeSet::new(),
        false => tables
            .iter()
            .filter(|t| t.taken == crate::subset::Taken::Filtered)
            .map(|t| root_of(&t.table))
            .collect(),
    };
    let mut foreign_keys = Vec::new();
    let mut outside = BTreeSet::new();
    for fk in catalog.foreign_keys.iter().filter(|fk| !fk.inherited) {
        let child_in = touched.contains(&fk.table);
        let parent_in = touched.contains(&fk.referenced);
        if !child_in && !parent_in {
            continue;
        }
        let partly = partly_copied(&fk.table);
        let (action, reason) = match (child_in, parent_in, opts.fk_strategy) {
            (true, true, _) if partly => (
                FkAction::DropAndRestore,
                "declared on a partitioned table that is only partly copied: TRUNCATE needs it dropped".to_string(),
            ),
            (false, true, _) => {
                outside.insert(root_of(&fk.table));
                (
                    FkAction::DropAndRestore,
                    "references a copied table from a table that is not copied: TRUNCATE needs it dropped".to_string(),
                )
            }
            (true, true, FkStrategy::Replica)
                if filtered_roots.contains(&root_of(&fk.referenced)) =>
            {
                (
                    FkAction::DropAndRestore,
                    "references a table --where filters, and --no-follow-fks leaves its rows: saved, dropped, \
                     restored (NOT VALID where they no longer hold)"
                        .to_string(),
                )
            }
            (_, _, FkStrategy::Replica) => (
                FkAction::Keep,
                "replica mode: its triggers do not fire during the load".to_string(),
            ),
            (_, _, FkStrategy::Drop) => (
                FkAction::DropAndRestore,
                "drop mode: saved, dropped, restored after the load".to_string(),
            ),
        };
        foreign_keys.push(FkSpec {
            fk: fk.clone(),
            action,
            reason,
        });
    }
    for check in catalog
        .not_valid_checks
        .iter()
        .filter(|c| selected_names.contains(&c.table))
    {
        foreign_keys.push(FkSpec {
            fk: check.clone(),
            action: FkAction::DropAndRestore,
            reason: "a NOT VALID CHECK the source's rows may violate: saved, dropped, restored NOT VALID"
                .to_string(),
        });
    }
    foreign_keys.sort_by(|a, b| (&a.fk.table, &a.fk.name).cmp(&(&b.fk.table, &b.fk.name)));

    let whole_db = opts.include.is_empty();
    // A sequence follows the tables it is linked to (owner, identity, column
    // defaults): set when one of them is copied, moved only forward when one
    // is not; a sequence linked to no table is set on a whole-database copy.
    let sequences = catalog
        .sequences
        .iter()
        .filter(|s| in_scope(&s.name))
        .filter_map(|s| {
            let linked: Vec<&QualifiedName> = s.linked().collect();
            let copied = linked.iter().filter(|t| touched.contains(**t)).count();
            let set = match linked.len() {
                0 => whole_db,
                _ => copied > 0,
            };
            set.then(|| SequenceSpec {
                sequence: s.name.clone(),
                owned_by: s.owned_by.clone(),
                used_by: s.used_by.clone(),
                only_forward: copied < linked.len(),
            })
        })
        .collect();

    let matviews = catalog
        .matviews
        .iter()
        .filter(|m| m.populated && in_scope(&m.name))
        .filter(|m| whole_db || m.depends_on.iter().any(|d| touched.contains(d)))
        .map(|m| m.name.clone())
        .collect::<Vec<_>>();
    let matviews = order_matviews(catalog, matviews);

    let mut truncate_together: Vec<TruncateTarget> = Vec::new();
    for t in tables.iter().filter(|t| !t.truncate_in_load()) {
        let target = match &t.partition_of {
            Some(root) if whole_partitioned.contains(root) => TruncateTarget {
                table: root.clone(),
                only: false,
            },
            _ => TruncateTarget::only(&t.table),
        };
        if !truncate_together.contains(&target) {
            truncate_together.push(target);
        }
    }
    truncate_together.sort_by(|a, b| a.table.cmp(&b.table));

    let deferred_indexes = if opts.defer_indexes {
        // A table some foreign key that stays in place references keeps its
        // keys: that key depends on their indexes.
        let dropped: BTreeSet<(&QualifiedName, &str)> = foreign_keys
            .iter()
            .filter(|f| f.action == FkAction::DropAndRestore)
            .map(|f| (&f.fk.table, f.fk.name.as_str()))
            .collect();
        let kept_referenced: BTreeSet<&QualifiedName> = catalog
            .foreign_keys
            .iter()
            .filter(|f| !f.inherited && !dropped.contains(&(&f.table, f.name.as_str())))
            .map(|f| &f.referenced)
            .collect();
        deferrable_indexes(catalog, &selected_names, &kept_referenced)
    } else {
        Vec::new()
    };

    Ok(Plan {
        deferred_indexes,
        large_objects: Vec::new(),
        truncate_together,
        fk_strategy: opts.fk_strategy,
        tables,
        load_order: graph.load_order(),
        fk_cycles: graph.cycles(),
        foreign_keys,
        referenced_from_outside: outside.into_iter().collect(),
        sequences,
        matviews,
        ambiguous,
        not_split,
    })
}

/// Orders materialized views so that a view built on another comes after it.
pub(super) fn order_matviews(catalog: &Catalog, views: Vec<QualifiedName>) -> Vec<QualifiedName> {
    let mut done: Vec<QualifiedName> = Vec::new();
    let mut left = views;
    while !left.is_empty() {
        let before = left.len();
        let (ready, rest): (Vec<_>, Vec<_>) = left.into_iter().partition(|v| {
            let deps = catalog
                .matviews
                .iter()
                .find(|m| &m.name == v)
                .map(|m| m.depends_on.clone())
                .unwrap_or_default();
            let is_view = |d: &QualifiedName| catalog.matviews.iter().any(|m| &m.name == d);
            deps.iter()
                .all(|d| d == v || !is_view(d) || done.contains(d))
        });
        done.extend(ready);
        left = rest;
        if left.len() == before {
            // A dependency outside the set: keep the rest in name order.
            done.append(&mut left);
        }
    }
    done
}

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
