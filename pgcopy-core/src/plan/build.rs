//! Building a plan from a catalog and options: the selection, chunks, FK
//! actions and cycles, sequences, materialized views, truncate targets and
//! deferred indexes.

use super::deferral::deferrable_indexes;
use super::*;

/// Plans a copy of `catalog`'s tables (the source's; the destination has the same
/// schema) under `opts`.
pub fn plan(catalog: &Catalog, opts: &PlanOptions) -> Result<Plan, PlanError> {
    let scope = Scope { catalog, opts };
    let sel = scope.select()?;
    let fk_linked = scope.fk_linked(&sel);
    let (mut tables, not_split) = scope.table_specs(&sel, &fk_linked);
    scope.take_rows(&mut tables)?;
    let graph = scope.fk_graph(&sel);
    let (foreign_keys, outside) = scope.fk_specs(&sel, &tables);
    let deferred_indexes = match opts.defer_indexes {
        true => scope.deferred_indexes(&sel, &foreign_keys),
        false => Vec::new(),
    };
    Ok(Plan {
        deferred_indexes,
        large_objects: Vec::new(),
        truncate_together: truncate_targets(&sel, &tables),
        fk_strategy: opts.fk_strategy,
        load_order: graph.load_order(),
        fk_cycles: graph.cycles(),
        sequences: scope.sequences(&sel),
        matviews: order_matviews(catalog, scope.matviews(&sel)),
        tables,
        foreign_keys,
        referenced_from_outside: outside.into_iter().collect(),
        ambiguous: sel.ambiguous,
        not_split,
    })
}

/// The catalog and the options a plan is made under, with the questions
/// every step of planning asks of them.
pub(super) struct Scope<'c> {
    pub(super) catalog: &'c Catalog,
    pub(super) opts: &'c PlanOptions,
}

/// The tables a copy selects, and what follows from them.
pub(super) struct Selection<'c> {
    /// Ordinary tables (leaf partitions included) copied.
    pub(super) selected: Vec<&'c crate::catalog::Table>,
    /// Their names.
    pub(super) names: BTreeSet<QualifiedName>,
    /// The selected tables and every partitioned table above one: a
    /// relation "is selected" when it or any partition below it is.
    pub(super) touched: BTreeSet<QualifiedName>,
    /// The top-level tables of the selection.
    pub(super) roots: BTreeSet<QualifiedName>,
    /// Partitioned tables all of whose partitions are copied.
    pub(super) whole_partitioned: BTreeSet<QualifiedName>,
    /// Patterns of `--include-tables` that match tables in several schemas.
    pub(super) ambiguous: Vec<AmbiguousPattern>,
    /// Whether the whole database is copied (no `--include-tables`).
    pub(super) whole_db: bool,
}

impl<'c> Scope<'c> {
    fn in_scope(&self, t: &QualifiedName) -> bool {
        !self.opts.skip_schemas.iter().any(|s| s == &t.schema)
    }

    /// The table and its partitioned ancestors: a pattern naming a
    /// partitioned table selects all its partitions.
    fn lineage(&self, t: &QualifiedName) -> Vec<QualifiedName> {
        let mut v = vec![t.clone()];
        v.extend(self.catalog.ancestors(t));
        v
    }

    pub(super) fn root_of(&self, t: &QualifiedName) -> QualifiedName {
        self.lineage(t).pop().unwrap_or_else(|| t.clone())
    }

    fn is_partitioned(&self, t: &QualifiedName) -> bool {
        self.catalog
            .table(t)
            .is_some_and(|t| t.kind == TableKind::Partitioned)
    }

    /// A partitioned table only partly copied cannot be named in the
    /// TRUNCATE, so its FK to a copied table has to go, like an outside one.
    pub(super) fn partly_copied(&self, sel: &Selection, t: &QualifiedName) -> bool {
        self.is_partitioned(t) && !sel.whole_partitioned.contains(&self.root_of(t))
    }

    /// The roles not trusted whose code planning a query over `t` could run
    /// (see `Table::planner_untrusted`): such a table is read whole, by a
    /// COPY that plans nothing.
    fn unplannable(&self, t: &QualifiedName) -> Vec<String> {
        self.lineage(t)
            .iter()
            .filter_map(|n| self.catalog.table(n))
            .flat_map(|t| t.planner_untrusted(&self.opts.trust, &self.catalog.current_user))
            .map(str::to_string)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// The tables the patterns select; a pattern that matches nothing is an
    /// error unless allowed.
    fn select(&self) -> Result<Selection<'c>, PlanError> {
        let (catalog, opts) = (self.catalog, self.opts);
        let mut used_include = vec![false; opts.include.len()];
        let mut used_exclude = vec![false; opts.exclude.len()];
        for t in catalog.tables.iter().filter(|t| self.in_scope(&t.name)) {
            for (i, p) in opts.include.iter().enumerate() {
                used_include[i] |= p.matches(&t.name);
            }
            for (i, p) in opts.exclude.iter().enumerate() {
                used_exclude[i] |= p.matches(&t.name);
            }
        }
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
            .filter(|t| t.kind == TableKind::Ordinary && self.in_scope(&t.name))
            .filter(|t| opts.only.as_ref().is_none_or(|o| o.contains(&t.name)))
            .filter(|t| {
                let names = self.lineage(&t.name);
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
        let names: BTreeSet<QualifiedName> = selected.iter().map(|t| t.name.clone()).collect();
        let touched: BTreeSet<QualifiedName> = names.iter().flat_map(|t| self.lineage(t)).collect();
        let roots: BTreeSet<QualifiedName> = names.iter().map(|t| self.root_of(t)).collect();
        let whole_partitioned: BTreeSet<QualifiedName> = roots
            .iter()
            .filter(|r| self.is_partitioned(r))
            .filter(|r| {
                catalog
                    .tables
                    .iter()
                    .filter(|t| t.kind == TableKind::Ordinary && &self.root_of(&t.name) == *r)
                    .all(|t| names.contains(&t.name))
            })
            .cloned()
            .collect();
        Ok(Selection {
            selected,
            names,
            touched,
            roots,
            whole_partitioned,
            ambiguous: self.ambiguous_patterns(),
            whole_db: opts.include.is_empty(),
        })
    }

    /// Include patterns without a schema that match tables in several.
    fn ambiguous_patterns(&self) -> Vec<AmbiguousPattern> {
        self.opts
            .include
            .iter()
            .filter(|p| p.any_schema())
            .filter_map(|p| {
                let tables: BTreeSet<QualifiedName> = self
                    .catalog
                    .tables
                    .iter()
                    .filter(|t| self.in_scope(&t.name) && t.parent.is_none() && p.matches(&t.name))
                    .map(|t| t.name.clone())
                    .collect();
                let schemas: BTreeSet<&String> = tables.iter().map(|t| &t.schema).collect();
                (schemas.len() > 1).then(|| AmbiguousPattern {
                    pattern: p.to_string(),
                    bare_name: p.is_bare_name(),
                    tables: tables.into_iter().collect(),
                })
            })
            .collect()
    }

    /// Tables linked by an FK to another selected table that stays in place
    /// during the load (replica mode): such tables are truncated together.
    /// Where every FK is dropped first (drop mode), each table can be
    /// truncated in its own load transaction, and so loaded with FREEZE. A
    /// self-reference does not stop a plain table from being truncated alone;
    /// a partitioned table's does its partitions: its key references each of
    /// them, so TRUNCATE of one alone is refused.
    fn fk_linked(&self, sel: &Selection) -> BTreeSet<QualifiedName> {
        match self.opts.fk_strategy {
            FkStrategy::Drop => BTreeSet::new(),
            FkStrategy::Replica => self
                .catalog
                .foreign_keys
                .iter()
                .filter(|fk| {
                    !fk.inherited
                        && sel.touched.contains(&fk.table)
                        && sel.touched.contains(&fk.referenced)
                })
                .filter(|fk| !self.partly_copied(sel, &fk.table))
                .map(|fk| (self.root_of(&fk.table), self.root_of(&fk.referenced)))
                .filter(|(a, b)| a != b || self.is_partitioned(a))
                .flat_map(|(a, b)| [a, b])
                .collect(),
        }
    }

    /// One spec a selected table, largest first: its chunks (one where a
    /// query over it may not be planned: those are listed), columns, format.
    #[allow(clippy::type_complexity)]
    fn table_specs(
        &self,
        sel: &Selection,
        fk_linked: &BTreeSet<QualifiedName>,
    ) -> (Vec<TableCopySpec>, Vec<(QualifiedName, Vec<String>)>) {
        let (catalog, opts) = (self.catalog, self.opts);
        let mut not_split = Vec::new();
        let mut tables: Vec<TableCopySpec> = sel
            .selected
            .iter()
            .map(|t| {
                let partition_of = t.parent.as_ref().map(|_| self.root_of(&t.name));
                let mut chunks = plan_chunks(t.bytes, opts.block_size, opts.split_larger_than);
                if chunks.len() > 1 {
                    let roles = self.unplannable(&t.name);
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
                    fk_linked: fk_linked.contains(&self.root_of(&t.name)),
                    load_into: None,
                    taken: Default::default(),
                    rows_where: None,
                    transforms: Default::default(),
                }
            })
            .collect();
        tables.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.table.cmp(&b.table)));
        (tables, not_split)
    }

    /// The rows each table gives (`--where` and the rows that follow) and
    /// the columns it gives as expressions (`--transform`). A table read
    /// through such a query is planned: refused where that could run a
    /// role's code that is not trusted.
    fn take_rows(&self, tables: &mut [TableCopySpec]) -> Result<(), PlanError> {
        let (catalog, opts) = (self.catalog, self.opts);
        let copied: Vec<QualifiedName> = tables.iter().map(|t| t.table.clone()).collect();
        if !opts.row_filters.is_empty() {
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
            let mut by_table =
                crate::transform::plan_transforms(catalog, &copied, &opts.transforms)?;
            for spec in tables.iter_mut() {
                spec.transforms = by_table.remove(&spec.table).unwrap_or_default();
            }
        }
        for spec in tables
            .iter()
            .filter(|t| t.rows_where.is_some() || !t.transforms.is_empty())
        {
            let roles = self.unplannable(&spec.table);
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
        Ok(())
    }

    /// A sequence follows the tables it is linked to (owner, identity, column
    /// defaults): set when one of them is copied, moved only forward when one
    /// is not; a sequence linked to no table is set on a whole-database copy.
    fn sequences(&self, sel: &Selection) -> Vec<SequenceSpec> {
        self.catalog
            .sequences
            .iter()
            .filter(|s| self.in_scope(&s.name))
            .filter_map(|s| {
                let linked: Vec<&QualifiedName> = s.linked().collect();
                let copied = linked.iter().filter(|t| sel.touched.contains(**t)).count();
                let set = match linked.len() {
                    0 => sel.whole_db,
                    _ => copied > 0,
                };
                set.then(|| SequenceSpec {
                    sequence: s.name.clone(),
                    owned_by: s.owned_by.clone(),
                    used_by: s.used_by.clone(),
                    only_forward: copied < linked.len(),
                })
            })
            .collect()
    }

    /// The populated materialized views over copied tables (all, on a
    /// whole-database copy).
    fn matviews(&self, sel: &Selection) -> Vec<QualifiedName> {
        self.catalog
            .matviews
            .iter()
            .filter(|m| m.populated && self.in_scope(&m.name))
            .filter(|m| sel.whole_db || m.depends_on.iter().any(|d| sel.touched.contains(d)))
            .map(|m| m.name.clone())
            .collect()
    }

    /// The indexes the load may drop and rebuild. A table some foreign key
    /// that stays in place references keeps its keys: that key depends on
    /// their indexes.
    fn deferred_indexes(
        &self,
        sel: &Selection,
        foreign_keys: &[FkSpec],
    ) -> Vec<crate::catalog::Index> {
        let dropped: BTreeSet<(&QualifiedName, &str)> = foreign_keys
            .iter()
            .filter(|f| f.action == FkAction::DropAndRestore)
            .map(|f| (&f.fk.table, f.fk.name.as_str()))
            .collect();
        let kept_referenced: BTreeSet<&QualifiedName> = self
            .catalog
            .foreign_keys
            .iter()
            .filter(|f| !f.inherited && !dropped.contains(&(&f.table, f.name.as_str())))
            .map(|f| &f.referenced)
            .collect();
        deferrable_indexes(self.catalog, &sel.names, &kept_referenced)
    }
}

/// What is truncated up front, together: each table not truncated in its
/// own load transaction, a wholly copied partitioned table by its root.
fn truncate_targets(sel: &Selection, tables: &[TableCopySpec]) -> Vec<TruncateTarget> {
    let mut targets: Vec<TruncateTarget> = Vec::new();
    for t in tables.iter().filter(|t| !t.truncate_in_load()) {
        let target = match &t.partition_of {
            Some(root) if sel.whole_partitioned.contains(root) => TruncateTarget {
                table: root.clone(),
                only: false,
            },
            _ => TruncateTarget::only(&t.table),
        };
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    targets.sort_by(|a, b| a.table.cmp(&b.table));
    targets
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
