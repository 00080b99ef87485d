//! Building a plan from a catalog and options: the selection, chunks, FK
//! actions and cycles, sequences, materialized views, truncate targets and
//! deferred indexes.

use super::deferral::deferrable_indexes;
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
