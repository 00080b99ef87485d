//! Setting up a run before the destination changes: read both catalogs, choose
//! the FK strategy, plan (or take a resumed job's stored plan), and run every
//! preflight check, reporting all problems together. A new job is then recorded;
//! a resumed one is taken up again with a new snapshot.

use super::config::{CopyConfig, JobChoice, JobShape};
use super::guard::Guard;
use crate::error::{pg_message, PgContext, UserError};
use crate::introspect;
use crate::state::{StateSchemaStatus, StateStore};
use pgcopy_core::catalog::{Catalog, ForeignKey, Index};
use pgcopy_core::plan::{plan, FkStrategy, Plan, PlanOptions};
use pgcopy_core::preflight::{
    self, check_fk_rights, check_tables, large_objects_warning, EarlierJob, Problem,
};
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::triggers::SavedTrigger;
use std::collections::HashMap;
use tokio_postgres::Client;

mod checks;
mod names;
mod resume;

use checks::fail_preflight;
use resume::resume;

/// Everything the run needs to execute a job.
pub struct Setup {
    /// Where the `--where` conditions and `--transform` expressions run
    /// (`crate::conditions`); `None` when there are none.
    pub conditions: Option<crate::conditions::ConditionEnv>,
    /// The job's id.
    pub job_id: i64,
    /// Tables loaded as their owners, or locked and checked in each load
    /// transaction, with how.
    pub load_as: HashMap<QualifiedName, LoadAs>,
    /// The plan (new, or the resumed job's).
    pub plan: Plan,
    /// The destination role is a superuser, who may pin the names of the
    /// schemas of checked tables (`sql::pin_schemas`).
    pub pin_schemas: bool,
    /// FKs to save and drop now (the destination's own definitions).
    pub fks_to_drop: Vec<ForeignKey>,
    /// Secondary indexes to save and drop now, rebuilt after the load.
    pub indexes_to_drop: Vec<Index>,
    /// Whether this job has dropped FKs to restore at the end.
    pub fks_pending: bool,
    /// Triggers disabled for the load, each with the mode it goes back to.
    pub triggers: Vec<SavedTrigger>,
    /// The up-front TRUNCATE is already done (resumed job).
    pub truncated: bool,
    /// Chunks already committed (resumed job): (schema, table, chunk) -> (rows, bytes).
    pub done_chunks: HashMap<(String, String, i32), (i64, i64)>,
    /// Tables are analyzed after their load (the job's option).
    pub analyze: bool,
    /// Materialized views a refresh would run code of roles not trusted
    /// for (with their owner's rights), each with those roles: not
    /// refreshed, and said.
    pub matview_refusals: HashMap<QualifiedName, Vec<String>>,
    /// What this job saved: the indexes and keys this run drops (and, for
    /// a resumed job, those its earlier runs left saved). Its own restore
    /// runs these rows only.
    pub own: pgcopy_core::restore::OwnSaved,
    /// Destination tables (by OID) whose rows a load counts on the server
    /// (`pg_stat_get_xact_tuples_inserted`), so its COMMIT goes out with
    /// the COPY's end and the count's check: plain heap tables loaded under
    /// their own names, and no trigger allowed to fire (a trigger could
    /// insert rows of its own).
    pub counted_on_server: HashMap<QualifiedName, u32>,
}

/// How a table another role owns, or one in a schema another role owns, is
/// loaded.
#[derive(Debug, Clone, Default)]
pub struct LoadAs {
    /// The owner, whose role the load takes (`SET LOCAL ROLE`); `None` when
    /// this role loads it (it owns the table, or may not act as its owner).
    pub owner: Option<String>,
    /// The table and the partitions below it that a role neither superuser
    /// nor this one may change, or drop and replace, while the copy runs
    /// (`Table::others_may_change`): each load transaction locks the table
    /// (and so its partitions) and checks these before rows go in.
    pub guards: Vec<(QualifiedName, Guard)>,
}

/// Prepares the run; `None` after a `--dry-run` printed the plan.
pub async fn prepare(
    config: &CopyConfig,
    src: &Client,
    dst: &mut Client,
    store: &StateStore,
    snapshot: &str,
) -> anyhow::Result<Option<Setup>> {
    // Both catalogs at once: on a database of many tables each read is tens
    // of milliseconds of the run's serial start.
    let (src_catalog, dst_catalog, block_size) = tokio::try_join!(
        introspect::read_catalog(src, "source"),
        introspect::read_catalog(dst, "destination"),
        introspect::block_size(src),
    )?;
    // Replica mode if this role may set it: try it, don't guess from attributes.
    let replica = dst
        .batch_execute(&format!(
            "{}; RESET session_replication_role",
            pgcopy_core::sql::SET_REPLICA_MODE
        ))
        .await
        .is_ok();
    // Deferring indexes measured 2.1x faster on a 2 GB table with three
    // secondary indexes (BENCHMARKS.md): on whenever the role owns every table.
    let owns_all = dst_catalog
        .tables
        .iter()
        .filter(|t| t.name.schema != config.state_schema)
        .all(|t| t.is_owner);
    let ctx = Ctx {
        config,
        shape: config.shape.clone(),
        owns_all,
        src,
        src_catalog: &src_catalog,
        dst_catalog: &dst_catalog,
        replica_allowed: replica,
        block_size,
    };
    match config.job {
        JobChoice::Resume(job) => resume(ctx, job, dst, store, snapshot).await,
        JobChoice::New => new_job(&ctx, dst, store, snapshot).await,
    }
}

struct Ctx<'a> {
    config: &'a CopyConfig,
    /// What this job copies and how: the command line's, or a resumed
    /// job's stored options.
    shape: JobShape,
    /// This role owns every destination table (indexes are deferred then,
    /// unless asked otherwise).
    owns_all: bool,
    /// The source session, in the run's snapshot transaction.
    src: &'a Client,
    src_catalog: &'a Catalog,
    dst_catalog: &'a Catalog,
    /// This role may set `session_replication_role` (tried, not guessed).
    replica_allowed: bool,
    block_size: u64,
}

impl Ctx<'_> {
    /// How foreign keys are kept from firing during the load: the one place
    /// it is decided (a resumed job keeps its plan's).
    fn strategy(&self) -> FkStrategy {
        match self.replica_allowed {
            true => FkStrategy::Replica,
            false => FkStrategy::Drop,
        }
    }

    /// Whether secondary indexes are dropped before the load and rebuilt
    /// after. Deferring them measured 2.1x faster on a 2 GB table with
    /// three secondary indexes (BENCHMARKS.md): on whenever the role owns
    /// every table.
    fn defer_indexes(&self) -> bool {
        self.shape.defer_indexes.unwrap_or(self.owns_all)
    }

    fn plan_options(&self) -> Result<PlanOptions, UserError> {
        let (include, exclude) = (&self.shape.include_tables, &self.shape.exclude_tables);
        PlanOptions {
            split_larger_than: self.shape.split_larger_than,
            skip_schemas: vec![self.config.state_schema.clone()],
            allow_empty_match: self.shape.allow_empty_match,
            fk_strategy: self.strategy(),
            block_size: self.block_size,
            defer_indexes: self.defer_indexes(),
            row_filters: self.shape.row_filters.clone(),
            follow_fks: self.shape.follow_fks,
            transforms: self.shape.transforms.clone(),
            trust: self.shape.trust.clone(),
            dest_version_num: self.dst_catalog.server_version_num,
            ..PlanOptions::default()
        }
        .with_patterns(include.as_deref(), exclude.as_deref())
        .map_err(|e| UserError::usage(e.to_string()))
    }

    /// The FKs and indexes to drop: the destination's own (their exact
    /// definitions are what gets restored), selected by the same rules as the
    /// plan, among the tables the plan copies.
    #[allow(clippy::type_complexity)]
    fn to_drop(
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
            self.shape.defer_indexes_min_bytes,
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
    fn routed_plan(&self, opts: &PlanOptions) -> Result<(Plan, Vec<Problem>), UserError> {
        let mut p = plan(self.src_catalog, opts).map_err(|e| UserError::usage(e.to_string()))?;
        let problems = pgcopy_core::route::route(&mut p, self.src_catalog, self.dst_catalog);
        let mut deferred = std::mem::take(&mut p.deferred_indexes);
        pgcopy_core::plan::keep_large_tables_indexes(
            &mut deferred,
            self.shape.defer_indexes_min_bytes,
            |t| p.bytes_into(t),
        );
        p.deferred_indexes = deferred;
        Ok((p, problems.into_iter().map(Problem::Route).collect()))
    }

    /// The plan's tables to load as their owners or to check in each load
    /// transaction, with how, by destination table.
    fn counted_on_server(&self, plan: &Plan) -> HashMap<QualifiedName, u32> {
        if self.shape.fire_triggers {
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
    fn matview_refusals(&self, plan: &Plan) -> HashMap<QualifiedName, Vec<String>> {
        plan.matviews
            .iter()
            .filter_map(|name| self.dst_catalog.matviews.iter().find(|m| &m.name == name))
            .map(|m| {
                (
                    m.name.clone(),
                    m.refresh_untrusted(self.dst_catalog, &self.shape.trust),
                )
            })
            .filter(|(_, roles)| !roles.is_empty())
            .collect()
    }

    fn load_as(&self, plan: &Plan) -> HashMap<QualifiedName, LoadAs> {
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
                let owner = (loaded && t.loads_as_owner(&self.shape.trust, cat.superuser))
                    .then(|| t.owner.clone());
                (owner.is_some() || !guards.is_empty())
                    .then(|| (t.name.clone(), LoadAs { owner, guards }))
            })
            .collect()
    }
}

async fn new_job(
    ctx: &Ctx<'_>,
    dst: &mut Client,
    store: &StateStore,
    snapshot: &str,
) -> anyhow::Result<Option<Setup>> {
    let (config, shape) = (ctx.config, &ctx.shape);
    let dry_run = config.dry_run.is_some();
    let opts = ctx.plan_options()?;
    let (mut plan, routing) = ctx.routed_plan(&opts)?;
    // Large objects belong to no table: a copy of the whole database takes
    // them, a copy of some tables only when asked.
    let large_objects = ctx.src_catalog.large_objects > 0 && shape.copies_large_objects();
    let source_objects = match large_objects {
        true => super::large_objects::list(ctx.src).await?,
        false => Default::default(),
    };
    if large_objects {
        plan.large_objects = super::large_objects::batches(&source_objects);
    } else if let Some(w) = large_objects_warning(&plan, ctx.src_catalog) {
        tracing::warn!("{w}");
    }
    if !dry_run {
        for (table, roles) in &plan.not_split {
            tracing::info!("{}", super::dry_run::not_split_line(table, roles));
        }
    }
    let (fks_to_drop, indexes_to_drop) = ctx.to_drop(&opts, &plan)?;
    let (mut problems, triggers) = ctx.check(&plan, &fks_to_drop);
    problems.extend(routing);
    if large_objects {
        problems.extend(super::large_objects::preflight(ctx.src, dst, &source_objects).await?);
    }
    problems.extend(ctx.untrusted_code(dst, &plan).await?);
    // Reads the source's rows: only once nothing else stands in the way.
    if problems.is_empty() {
        problems.extend(ctx.unroutable_rows(dst, &plan).await?);
        problems.extend(ctx.names_exist(dst, &plan).await?);
    }
    let (conditions, found) = ctx.conditions(&mut plan, problems.is_empty()).await?;
    problems.extend(found);
    // A bare name that selects tables in several schemas would truncate
    // tables its writer never meant: a copy asks for the schema, and a glob
    // across schemas is said out loud, before anything changes.
    for a in &plan.ambiguous {
        if a.bare_name && !dry_run {
            problems.push(Problem::AmbiguousName(a.clone()));
        } else if !dry_run {
            tracing::warn!("{}", a.message());
        }
    }
    if shape.defer_indexes == Some(true) {
        problems.extend(preflight::check_defer_index_owners(
            &indexes_to_drop,
            ctx.dst_catalog,
        ));
    }

    let mut schema_ready = false;
    // Earlier jobs that did not finish but left nothing to undo (nothing
    // dropped or disabled is still out) are simply superseded by a new copy.
    let mut superseded = Vec::new();
    if !dry_run {
        match store.assess(dst).await? {
            Ok(StateSchemaStatus::Ready { droppable_by, .. }) => {
                schema_ready = true;
                if let Some(ext_owner) = droppable_by {
                    problems.extend(preflight::check_droppable_state(
                        &ext_owner,
                        &fks_to_drop,
                        &indexes_to_drop,
                        &triggers,
                        ctx.dst_catalog,
                    ));
                }
                let mut blocking = Vec::new();
                for job in store.unfinished_jobs(dst, None).await? {
                    let leftovers = store.job_leftovers(dst, job.job_id).await? > 0;
                    match preflight::earlier_job(
                        job.job_id,
                        &job.state,
                        job.stale,
                        leftovers,
                        &job.next_step,
                    ) {
                        EarlierJob::Blocks(p) => {
                            blocking.push(job.job_id);
                            problems.push(p)
                        }
                        // Another role's job is its own to mark.
                        EarlierJob::Superseded if job.mine => superseded.push(job),
                        EarlierJob::Superseded => {}
                    }
                }
                let pending = store.pending_fk_count(dst, &blocking).await?;
                if pending > 0 {
                    problems.push(Problem::PendingFks {
                        count: pending,
                        state_schema: config.state_schema.clone(),
                    });
                }
            }
            Ok(StateSchemaStatus::Creatable) => {}
            Err(p) => problems.push(Problem::StateSchema(p)),
        }
    }
    fail_preflight(&problems)?;
    if let Some(format) = config.dry_run {
        super::dry_run::print_plan(&plan, &indexes_to_drop, config, format)?;
        return Ok(None);
    }
    ctx.lock_split_sources(&plan).await?;

    // From here on the destination changes.
    for job in &superseded {
        store.supersede_job(dst, job.job_id).await?;
        tracing::info!(
            "earlier job {} ({}) left nothing to restore: marked discarded, this copy starts afresh",
            job.job_id,
            job.state
        );
    }
    if !schema_ready {
        store.create(dst).await?;
        tracing::info!(
            "created the state schema {:?} on the destination",
            config.state_schema
        );
    }
    let options = config.job_options(ctx.defer_indexes());
    let job_id = store
        .create_job(
            dst,
            &plan,
            &config.source.redacted(),
            &config.dest.redacted(),
            &options,
            snapshot,
        )
        .await?;
    tracing::info!(
        "job {job_id}: copying {} tables ({} chunks, {}) with {} workers, foreign keys: {}{}",
        plan.tables.len(),
        plan.total_chunks(),
        crate::format::human_bytes(plan.total_bytes()),
        config.run.parallel,
        fk_mode(plan.replica_mode(), fks_to_drop.len()),
        match shape.trust.is_empty() {
            true => String::new(),
            false => format!(
                "; code of {} runs with this role's rights (--trust-owner)",
                shape.trust.describe()
            ),
        }
    );
    Ok(Some(Setup {
        conditions,
        job_id,
        load_as: ctx.load_as(&plan),
        counted_on_server: ctx.counted_on_server(&plan),
        matview_refusals: ctx.matview_refusals(&plan),
        plan,
        pin_schemas: ctx.dst_catalog.superuser,
        fks_pending: !fks_to_drop.is_empty(),
        own: own_saved(&fks_to_drop, &indexes_to_drop),
        fks_to_drop,
        indexes_to_drop,
        triggers,
        truncated: false,
        done_chunks: HashMap::new(),
        analyze: shape.analyze,
    }))
}

/// What a run saves and drops, as it saves it (see `pgcopy_core::restore::OwnSaved`).
pub(super) fn own_saved(fks: &[ForeignKey], indexes: &[Index]) -> pgcopy_core::restore::OwnSaved {
    let mut own = pgcopy_core::restore::OwnSaved::default();
    for fk in fks {
        own.add_constraint(&fk.table, &fk.name, &fk.definition, &fk.referenced);
    }
    for i in indexes {
        own.add_index(&i.table, &i.name, &i.definition, &i.properties);
    }
    own
}

fn fk_mode(replica: bool, drops: usize) -> String {
    match (replica, drops) {
        (true, 0) => "replica mode (session_replication_role)".to_string(),
        (true, n) => {
            format!("replica mode, and {n} saved, dropped and restored (the plan says why)")
        }
        (false, n) => format!("drop mode: {n} saved, dropped and restored"),
    }
}
