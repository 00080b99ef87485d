//! Preflight: every check a run makes before the destination changes,
//! each problem one sentence, all reported together.

use super::plan::Ctx;
use crate::error::{pg_message, PgContext, UserError};
use crate::introspect;
use pgcopy_core::catalog::{Catalog, ForeignKey, Index};
use pgcopy_core::plan::{Plan, PlanOptions};
use pgcopy_core::preflight::{self, check_fk_rights, check_tables, Problem};
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::triggers::SavedTrigger;
use std::collections::HashMap;
use tokio_postgres::Client;

mod names;
mod row_filters;

impl Ctx<'_> {
    /// `deferred` less the indexes this role could not rebuild, the rest of
    /// their partitioned index trees (a tree is dropped whole) and, for a
    /// unique one, its table's other unique indexes: on a table whose
    /// owner is neither a superuser nor this role, a definition that casts a
    /// literal to a type outside `pg_catalog` is not parsed with this role's
    /// rights (`stored::check_literals`), so such an index stays; and an
    /// index whose names a role neither superuser, the table's owner, this
    /// one nor trusted could rebind while it is dropped stays
    /// (`Index::rebindable_by`, `pgcopy_core::bindings`).
    pub(super) fn rebuildable(&self, deferred: Vec<Index>) -> Vec<Index> {
        let cat = self.dst_catalog;
        let key = |i: &Index| QualifiedName::new(&i.table.schema, &i.name);
        let mut kept: std::collections::HashSet<QualifiedName> = deferred
            .iter()
            .filter(|i| {
                let trusted = cat.table(&i.table).is_some_and(|t| {
                    t.owner_is_superuser
                        || t.owner == cat.current_user
                        || self.options.trust.trusts(&t.owner)
                });
                let rebinders = i.rebindable_by(&self.options.trust);
                if !rebinders.is_empty() {
                    tracing::debug!(
                        "index {} on {} stays in place: {} could put other objects under the names it uses \
                         while it is dropped",
                        i.name,
                        i.table.display_name(),
                        rebinders.join(", ")
                    );
                    return true;
                }
                !trusted
                    && crate::parse::risky_literals(&i.definition)
                        .map_or(true, |types| !types.is_empty())
            })
            .map(key)
            .collect();
        loop {
            let before = kept.len();
            // A table's unique indexes stay or go together (see
            // `pgcopy_core::plan::deferrable_indexes`).
            let unique_kept: std::collections::HashSet<QualifiedName> = deferred
                .iter()
                .filter(|i| i.unique && kept.contains(&key(i)))
                .map(|i| i.table.clone())
                .collect();
            for i in deferred
                .iter()
                .filter(|i| i.unique && unique_kept.contains(&i.table))
            {
                kept.insert(key(i));
            }
            for i in &deferred {
                if let Some(p) = &i.parent {
                    if kept.contains(p) || kept.contains(&key(i)) {
                        kept.insert(p.clone());
                        kept.insert(key(i));
                    }
                }
            }
            if kept.len() == before {
                break;
            }
        }
        deferred
            .into_iter()
            .filter(|i| !kept.contains(&key(i)))
            .collect()
    }

    /// Locks the tables read in chunks on the source, in the snapshot
    /// transaction, for the run, after making sure each name still leads to
    /// the table the catalog showed: a chunk's `COPY (SELECT ...)` would read
    /// a view put in its place (and run its code with this role's rights),
    /// where a whole table's `COPY` refuses one. Locked, it cannot be renamed
    /// or dropped before the copy ends.
    ///
    /// With `--where`, every copied table and partitioned table is locked and
    /// proved so: a subset's conditions read the tables its rows follow.
    pub(super) async fn lock_split_sources(&self, plan: &Plan) -> anyhow::Result<()> {
        let subset = plan.tables.iter().any(|t| t.rows_where.is_some());
        let mut locked = std::collections::HashSet::new();
        for spec in plan.tables.iter().filter(|t| subset || t.is_split()) {
            let tables = std::iter::once(spec.table.clone()).chain(
                self.src_catalog
                    .ancestors(&spec.table)
                    .into_iter()
                    .filter(|_| subset),
            );
            for t in tables {
                if locked.insert(t.clone()) {
                    let oid = self.src_catalog.table(&t).map_or(0, |t| t.oid);
                    introspect::lock_to_read(self.src, &t, oid).await?;
                }
            }
        }
        Ok(())
    }

    /// Tables whose inserts would run code of a role that is neither a
    /// superuser nor this one, where this role is a superuser or not the
    /// table's owner: that code would run with this role's rights.
    pub(super) async fn untrusted_code(
        &self,
        dst: &Client,
        plan: &Plan,
    ) -> anyhow::Result<Vec<Problem>> {
        let cat = self.dst_catalog;
        let written = pgcopy_core::route::dest_relations(plan, cat);
        let tables: Vec<&pgcopy_core::catalog::Table> = written
            .iter()
            .filter_map(|name| cat.table(name))
            .filter(|t| cat.superuser || t.owner != cat.current_user)
            .collect();
        if tables.is_empty() {
            return Ok(Vec::new());
        }
        let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
        let found = introspect::untrusted_code(dst, &oids, &self.options.trust).await?;
        Ok(tables
            .iter()
            .filter_map(|t| {
                found.get(&t.oid).map(|findings| Problem::UntrustedCode {
                    table: t.name.clone(),
                    owner: t.owner.clone(),
                    role: cat.current_user.clone(),
                    findings: findings.clone(),
                })
            })
            .collect())
    }

    /// What a row must satisfy to have a partition of `target` on the
    /// destination: its partitions' constraints, OR'ed (`None` when one of
    /// them takes every row).
    async fn partition_condition(
        &self,
        dst: &Client,
        target: &QualifiedName,
    ) -> anyhow::Result<Option<String>> {
        let leaves: Vec<u32> = self
            .dst_catalog
            .descendants(target)
            .iter()
            .filter(|l| l.kind == pgcopy_core::catalog::TableKind::Ordinary)
            .map(|l| l.oid)
            .collect();
        let rows = dst
            .query(pgcopy_core::sql::PARTITION_CONSTRAINTS, &[&leaves])
            .await
            .pg_context(|| format!("reading the partitions of {}", target.display_name()))?;
        let constraints: Vec<Option<String>> = rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, tokio_postgres::Error>>()?;
        if constraints.iter().any(Option::is_none) {
            return Ok(None);
        }
        Ok(Some(match constraints.is_empty() {
            true => "false".to_string(),
            false => constraints
                .iter()
                .flatten()
                .map(|c| format!("coalesce(({c}), false)"))
                .collect::<Vec<_>>()
                .join(" OR "),
        }))
    }

    /// Rows of the tables routed into a partitioned table on the destination
    /// that no partition there would take (the load would fail on the first
    /// of them, after the table was emptied): counted on the source, in the
    /// snapshot, against the destination's partition constraints, before
    /// anything changes. The source table is locked and proved to be the one
    /// the catalog showed first (a view put in its place is never read). A
    /// constraint that calls a function (hash partitioning, a key
    /// expression), names anything outside `pg_catalog`, or reads a column
    /// whose type is not PostgreSQL's own and the same on both sides (a
    /// role's implicit cast from its type would run) is not run on the
    /// source: that table is not checked ahead.
    pub(super) async fn unroutable_rows(
        &self,
        dst: &Client,
        plan: &Plan,
    ) -> anyhow::Result<Vec<Problem>> {
        let mut problems = Vec::new();
        // The partitions' constraints, read once per destination table
        // (`None`: one partition takes every row).
        let mut conditions: HashMap<&QualifiedName, Option<String>> = HashMap::new();
        for spec in plan.tables.iter().filter(|t| t.load_into.is_some()) {
            let target = spec.dest_table();
            let Some(t) = self.dst_catalog.table(target) else {
                continue;
            };
            if t.kind != pgcopy_core::catalog::TableKind::Partitioned {
                continue;
            }
            if !conditions.contains_key(target) {
                let condition = self.partition_condition(dst, target).await?;
                conditions.insert(target, condition);
            }
            let Some(condition) = &conditions[target] else {
                continue;
            };
            // Counting plans a query over the source table: not where that
            // could run code of a role not trusted.
            let untrusted = self.src_catalog.table(&spec.table).map_or(Vec::new(), |t| {
                t.planner_untrusted(&self.options.trust, &self.src_catalog.current_user)
            });
            if !untrusted.is_empty() {
                tracing::info!(
                    "{}: not checked ahead for rows no partition of {} on the destination takes (counting them \
                     would plan a query over a table of {}); such a row would fail the load",
                    spec.table.display_name(),
                    target.display_name(),
                    untrusted.join(", ")
                );
                continue;
            }
            let builtin = |cat: &Catalog, table: &QualifiedName, column: &str| {
                cat.table(table)
                    .and_then(|t| t.columns.iter().find(|c| c.name == column))
                    .filter(|c| c.builtin_type)
                    .map(|c| c.type_name.clone())
            };
            let plain = crate::parse::condition_columns(condition).is_some_and(|columns| {
                columns.iter().all(|c| {
                    let source = builtin(self.src_catalog, &spec.table, c);
                    source.is_some() && source == builtin(self.dst_catalog, target, c)
                })
            });
            if !plain {
                tracing::info!(
                    "{}: not checked ahead for rows no partition of {} on the destination takes (its partition \
                     bounds need functions, or types other than PostgreSQL's own, to evaluate); such a row would \
                     fail the load",
                    spec.table.display_name(),
                    target.display_name()
                );
                continue;
            }
            let oid = self.src_catalog.table(&spec.table).map_or(0, |t| t.oid);
            introspect::lock_to_read(self.src, &spec.table, oid).await?;
            let count = format!(
                "SELECT count(*) FROM ONLY {} WHERE NOT ({condition})",
                spec.table
            );
            // In a savepoint: a failure must not end the snapshot transaction.
            self.src.batch_execute("SAVEPOINT pgcopy_routing").await?;
            match self.src.query_one(&count, &[]).await {
                Ok(row) => {
                    self.src
                        .batch_execute("RELEASE SAVEPOINT pgcopy_routing")
                        .await?;
                    let n: i64 = row.try_get(0)?;
                    if n > 0 {
                        problems.push(Problem::UnroutableRows {
                            rows: n,
                            table: spec.table.clone(),
                            target: target.clone(),
                        });
                    }
                }
                Err(e) => {
                    self.src
                        .batch_execute("ROLLBACK TO SAVEPOINT pgcopy_routing; RELEASE SAVEPOINT pgcopy_routing")
                        .await?;
                    tracing::warn!(
                        "{}: could not check ahead which rows fit no partition of {} on the destination ({}); \
                         such a row would fail the load",
                        spec.table.display_name(),
                        target.display_name(),
                        pg_message(&e)
                    );
                }
            }
        }
        Ok(problems)
    }

    /// Checks that need no server round trip; returns the problems and the
    /// triggers that must be disabled for the load.
    pub(super) fn check(
        &self,
        plan: &Plan,
        fks_to_drop: &[ForeignKey],
    ) -> (Vec<Problem>, Vec<SavedTrigger>) {
        let mut problems = check_tables(
            plan,
            self.src_catalog,
            self.dst_catalog,
            &self.options.trust,
        );
        problems.extend(check_fk_rights(fks_to_drop, self.dst_catalog));
        let (refused, to_disable) =
            preflight::check_triggers(plan, self.dst_catalog, self.options.fire_triggers);
        problems.extend(refused);
        (problems, to_disable)
    }
}

/// Ends the run, before anything changed, when preflight found problems.
pub(super) fn fail_preflight(problems: &[Problem]) -> anyhow::Result<()> {
    match preflight::report(problems) {
        Some(msg) => Err(UserError::failure(msg).into()),
        None => Ok(()),
    }
}
