//! Steps before the job: read both catalogs, choose the FK strategy, plan
//! (or take a resumed job's stored plan: `resume`), run every preflight
//! check (`preflight`), reporting all problems together, and record the job
//! (`job`). Nothing on the destination changes before preflight passed.

use crate::engine::config::CopyConfig;
use crate::engine::guard::{Guard, LoadAs};
use crate::error::UserError;
use pgcopy_core::catalog::{Catalog, ForeignKey, Index};
use pgcopy_core::options::{CopyOptions, PlanSetting};
use pgcopy_core::plan::{plan, FkStrategy, Plan, PlanOptions};
use pgcopy_core::preflight::Problem;
use pgcopy_core::quote::QualifiedName;
use std::collections::HashMap;
use tokio_postgres::Client;

/// What the steps before the job read and decide with.
pub struct Ctx<'a> {
    pub(super) config: &'a CopyConfig,
    /// What this job copies and how: the command line's, or a resumed
    /// job's stored options.
    pub(super) options: CopyOptions,
    /// This role owns every destination table (indexes are deferred then,
    /// unless asked otherwise).
    pub(super) owns_all: bool,
    /// The source session, in the run's snapshot transaction.
    pub(super) src: &'a Client,
    pub(super) src_catalog: &'a Catalog,
    pub(super) dst_catalog: &'a Catalog,
    /// This role may set `session_replication_role` (tried, not guessed).
    pub(super) replica_allowed: bool,
    pub(super) block_size: u64,
}

impl Ctx<'_> {
    /// How foreign keys are kept from firing during the load: the one place
    /// it is decided (a resumed job keeps its plan's).
    pub(super) fn strategy(&self) -> FkStrategy {
        match self.replica_allowed {
            true => FkStrategy::Replica,
            false => FkStrategy::Drop,
        }
    }

    /// Whether secondary indexes are dropped before the load and rebuilt
    /// after. Deferring them measured 2.1x faster on a 2 GB table with
    /// three secondary indexes (BENCHMARKS.md): on whenever the role owns
    /// every table.
    pub(super) fn defer_indexes(&self) -> bool {
        self.options.defer_indexes.unwrap_or(self.owns_all)
    }

    /// The planner's inputs: this job's options under what the servers said.
    pub(super) fn plan_options(&self) -> Result<PlanOptions, UserError> {
        self.options
            .plan_options(&PlanSetting {
                state_schema: &self.config.state_schema,
                fk_strategy: self.strategy(),
                block_size: self.block_size,
                defer_indexes: self.defer_indexes(),
                dest_version_num: self.dst_catalog.server_version_num,
            })
            .map_err(|e| UserError::usage(e.to_string()))
    }

    /// The FKs and indexes to drop: the destination's own (their exact
    /// definitions are what gets restored), selected by the same rules as the
    /// plan, among the tables the plan copies.
    #[allow(clippy::type_complexity)]
    pub(super) fn to_drop(
        &self,
        opts: &PlanOptions,
        copied: &Plan,
    ) -> Result<(Vec<ForeignKey>, Vec<Index>), UserError> {
        // The destination's own tables the load writes to: for a table
        // routed into a table partitioned differently, every partition there.
        let written = pgcopy_core::route::dest_relations(copied, self.dst_catalog);
        let mut dest_plan = plan(
            self.dst_catalog,
            &PlanOptions {
                allow_empty_match: true,
                only: Some(written.into_iter().collect()),
                // Which rows are copied, and how, does not change what is
                // dropped; but without the closure (--no-follow-fks), keys
                // to the filtered tables go and come back (NOT VALID where
                // they no longer hold), even in replica mode.
                row_filters: match opts.follow_fks {
                    true => Vec::new(),
                    false => opts.row_filters.clone(),
                },
                transforms: Vec::new(),
                ..opts.clone()
            },
        )
        .map_err(|e| UserError::usage(e.to_string()))?;
        // By the source's sizes: the destination's tables may be empty.
        pgcopy_core::plan::keep_large_tables_indexes(
            &mut dest_plan.deferred_indexes,
            self.options.defer_indexes_min_bytes,
            |t| copied.bytes_into(t),
        );
        Ok((
            dest_plan.dropped_fks().map(|f| f.fk.clone()).collect(),
            self.rebuildable(dest_plan.deferred_indexes),
        ))
    }

    /// The plan `opts` select on the source, with the tables the destination
    /// partitions differently routed through its tables
    /// (`pgcopy_core::route`), and why some cannot be.
    pub(super) fn routed_plan(
        &self,
        opts: &PlanOptions,
    ) -> Result<(Plan, Vec<Problem>), UserError> {
        let mut p = plan(self.src_catalog, opts).map_err(|e| UserError::usage(e.to_string()))?;
        let problems = pgcopy_core::route::route(&mut p, self.src_catalog, self.dst_catalog);
        let mut deferred = std::mem::take(&mut p.deferred_indexes);
        pgcopy_core::plan::keep_large_tables_indexes(
            &mut deferred,
            self.options.defer_indexes_min_bytes,
            |t| p.bytes_into(t),
        );
        p.deferred_indexes = deferred;
        Ok((p, problems.into_iter().map(Problem::Route).collect()))
    }

    /// The plan's tables to load as their owners or to check in each load
    /// transaction, with how, by destination table.
    pub(super) fn counted_on_server(&self, plan: &Plan) -> HashMap<QualifiedName, u32> {
        if self.options.fire_triggers {
            return HashMap::new();
        }
        plan.tables
            .iter()
            .filter(|spec| spec.load_into.is_none())
            .filter_map(|spec| self.dst_catalog.table(&spec.table))
            .filter(|t| t.heap && t.kind == pgcopy_core::catalog::TableKind::Ordinary)
            .map(|t| (t.name.clone(), t.oid))
            .collect()
    }

    /// The plan's materialized views whose refresh on the destination would
    /// run code of roles neither their owner nor trusted, with those roles
    /// (`MatView::refresh_untrusted`).
    pub(super) fn matview_refusals(&self, plan: &Plan) -> HashMap<QualifiedName, Vec<String>> {
        plan.matviews
            .iter()
            .filter_map(|name| self.dst_catalog.matviews.iter().find(|m| &m.name == name))
            .map(|m| {
                (
                    m.name.clone(),
                    m.refresh_untrusted(self.dst_catalog, &self.options.trust),
                )
            })
            .filter(|(_, roles)| !roles.is_empty())
            .collect()
    }

    pub(super) fn load_as(&self, plan: &Plan) -> HashMap<QualifiedName, LoadAs> {
        let cat = self.dst_catalog;
        let guard = |t: &pgcopy_core::catalog::Table| {
            t.others_may_change.then(|| {
                (
                    t.name.clone(),
                    Guard {
                        oid: t.oid,
                        schema_oid: t.schema_oid,
                        columns: t.columns.iter().map(|c| c.name.clone()).collect(),
                        partitions: (t.kind == pgcopy_core::catalog::TableKind::Partitioned).then(
                            || {
                                let mut below: Vec<u32> =
                                    cat.descendants(&t.name).iter().map(|d| d.oid).collect();
                                below.sort_unstable();
                                below
                            },
                        ),
                    },
                )
            })
        };
        let loaded = plan.tables.iter().map(|spec| (spec.dest_table(), true));
        // Partitioned tables truncated whole are checked too, not loaded.
        let truncated = plan.truncate_together.iter().map(|t| (&t.table, false));
        loaded
            .chain(truncated)
            .filter_map(|(name, loaded)| Some((cat.table(name)?, loaded)))
            .filter_map(|(t, loaded)| {
                // A partitioned table's rows land in its partitions, which
                // LOCK TABLE locks with it: each is checked too.
                let below = cat.descendants(&t.name);
                let guards: Vec<(QualifiedName, Guard)> =
                    std::iter::once(t).chain(below).filter_map(guard).collect();
                let owner = (loaded && t.loads_as_owner(&self.options.trust, cat.superuser))
                    .then(|| t.owner.clone());
                (owner.is_some() || !guards.is_empty())
                    .then(|| (t.name.clone(), LoadAs { owner, guards }))
            })
            .collect()
    }
}
