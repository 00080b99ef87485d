//! Step before the load: a new job planned, checked and recorded in the
//! state schema (or an earlier one that left nothing to undo marked
//! discarded), and what the run needs to execute it ([`Setup`]).

use super::plan::Ctx;
use super::preflight::fail_preflight;
use crate::engine::guard::LoadAs;
use crate::state::{StateSchemaStatus, StateStore, StoredJob};
use pgcopy_core::catalog::{ForeignKey, Index};
use pgcopy_core::plan::Plan;
use pgcopy_core::preflight::{self, large_objects_warning, EarlierJob, Problem};
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::triggers::SavedTrigger;
use std::collections::{BTreeMap, HashMap};
use tokio_postgres::Client;

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

/// Plans, checks and records a new job; `None` after a `--dry-run`.
pub(super) async fn new_job(
    ctx: &Ctx<'_>,
    dst: &mut Client,
    store: &StateStore,
    snapshot: &str,
) -> anyhow::Result<Option<Setup>> {
    let (config, options) = (ctx.config, &ctx.options);
    let dry_run = config.dry_run.is_some();
    let opts = ctx.plan_options()?;
    let (mut plan, routing) = ctx.routed_plan(&opts)?;
    // Large objects belong to no table: a copy of the whole database takes
    // them, a copy of some tables only when asked.
    let large_objects = ctx.src_catalog.large_objects > 0 && options.copies_large_objects();
    let source_objects = match large_objects {
        true => crate::engine::steps::large_objects::list(ctx.src).await?,
        false => Default::default(),
    };
    if large_objects {
        plan.large_objects = crate::engine::steps::large_objects::batches(&source_objects);
    } else if let Some(w) = large_objects_warning(&plan, ctx.src_catalog) {
        tracing::warn!("{w}");
    }
    if !dry_run {
        for (table, roles) in &plan.not_split {
            tracing::info!("{}", crate::engine::dry_run::not_split_line(table, roles));
        }
    }
    let (fks_to_drop, indexes_to_drop) = ctx.to_drop(&opts, &plan)?;
    let (mut problems, triggers) = ctx.check(&plan, &fks_to_drop);
    problems.extend(routing);
    let source_objects = large_objects.then_some(&source_objects);
    let conditions = server_checks(ctx, dst, &mut plan, source_objects, &mut problems).await?;
    option_checks(ctx, &plan, &indexes_to_drop, &mut problems);

    let (schema_ready, superseded) = match dry_run {
        true => (false, Vec::new()),
        false => {
            let earlier =
                earlier_jobs(ctx, dst, store, &fks_to_drop, &indexes_to_drop, &triggers).await?;
            problems.extend(earlier.problems);
            (earlier.schema_ready, earlier.superseded)
        }
    };
    fail_preflight(&problems)?;
    if let Some(format) = config.dry_run {
        crate::engine::dry_run::print_plan(&plan, &indexes_to_drop, config, format)?;
        return Ok(None);
    }
    ctx.lock_split_sources(&plan).await?;

    // From here on the destination changes.
    let job_id = record_job(ctx, dst, store, snapshot, &plan, &superseded, schema_ready).await?;
    tracing::info!(
        "job {job_id}: copying {} tables ({} chunks, {}) with {} workers, foreign keys: {}{}",
        plan.tables.len(),
        plan.total_chunks(),
        crate::format::human_bytes(plan.total_bytes()),
        config.run.parallel,
        fk_mode(plan.replica_mode(), fks_to_drop.len()),
        match options.trust.is_empty() {
            true => String::new(),
            false => format!(
                "; code of {} runs with this role's rights (--trust-owner)",
                options.trust.describe()
            ),
        }
    );
    if let Some(hint) = replica_hint(ctx, &fks_to_drop) {
        tracing::info!("{hint}");
    }
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
        analyze: options.analyze,
    }))
}

/// The checks that ask the servers (beyond the catalogs' `Ctx::check`),
/// adding to `problems`: the large objects' (`source_objects`, when they
/// are copied), code of roles not trusted, rows no destination partition
/// takes, names that must exist, the conditions (written into `plan`).
/// Returns the conditions' environment. A new job and a resumed one alike.
pub(super) async fn server_checks(
    ctx: &Ctx<'_>,
    dst: &Client,
    plan: &mut Plan,
    source_objects: Option<&BTreeMap<u32, String>>,
    problems: &mut Vec<Problem>,
) -> anyhow::Result<Option<crate::conditions::ConditionEnv>> {
    if let Some(objects) = source_objects {
        problems
            .extend(crate::engine::steps::large_objects::preflight(ctx.src, dst, objects).await?);
    }
    problems.extend(ctx.untrusted_code(dst, plan).await?);
    // Reads the source's rows: only once nothing else stands in the way.
    if problems.is_empty() {
        problems.extend(ctx.unroutable_rows(dst, plan).await?);
        problems.extend(ctx.names_exist(dst, plan).await?);
    }
    let (conditions, found) = ctx.conditions(plan, problems.is_empty()).await?;
    problems.extend(found);
    Ok(conditions)
}

/// What a new job's options may ask that a resume cannot change, so only
/// a new job is held to it: a bare name that selects tables in several
/// schemas would truncate tables its writer never meant (a copy asks for
/// the schema; a glob across schemas is said out loud), and deferred
/// indexes need their tables' owners.
fn option_checks(
    ctx: &Ctx<'_>,
    plan: &Plan,
    indexes_to_drop: &[Index],
    problems: &mut Vec<Problem>,
) {
    for a in plan
        .ambiguous
        .iter()
        .filter(|_| ctx.config.dry_run.is_none())
    {
        match a.bare_name {
            true => problems.push(Problem::AmbiguousName(a.clone())),
            false => tracing::warn!("{}", a.message()),
        }
    }
    if ctx.options.defer_indexes == Some(true) {
        problems.extend(preflight::check_defer_index_owners(
            indexes_to_drop,
            ctx.dst_catalog,
        ));
    }
}

/// The first changes to the destination: earlier jobs that left nothing
/// out marked discarded (`superseded`), the state schema created unless
/// `schema_ready`, and the job recorded with its plan; its id.
async fn record_job(
    ctx: &Ctx<'_>,
    dst: &mut Client,
    store: &StateStore,
    snapshot: &str,
    plan: &Plan,
    superseded: &[StoredJob],
    schema_ready: bool,
) -> anyhow::Result<i64> {
    let config = ctx.config;
    for job in superseded {
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
    let stored = ctx.options.stored(
        config.run.parallel as u32,
        config.run.batch_size,
        ctx.defer_indexes(),
    );
    store
        .create_job(
            dst,
            plan,
            &config.source.redacted(),
            &config.dest.redacted(),
            &stored,
            snapshot,
        )
        .await
}

/// What the destination's state schema says of earlier jobs.
struct EarlierJobs {
    /// The state schema exists and this role may use it.
    schema_ready: bool,
    /// Jobs that block a new copy, and why; and saved keys still out.
    problems: Vec<Problem>,
    /// This role's unfinished jobs that left nothing to undo (nothing
    /// dropped or disabled is still out): a new copy supersedes them.
    superseded: Vec<StoredJob>,
}

/// Reads the state schema before a new job: whether it can be used (and
/// dropped by whom), which earlier jobs block a copy, which it supersedes.
async fn earlier_jobs(
    ctx: &Ctx<'_>,
    dst: &Client,
    store: &StateStore,
    fks_to_drop: &[ForeignKey],
    indexes_to_drop: &[Index],
    triggers: &[pgcopy_core::triggers::SavedTrigger],
) -> anyhow::Result<EarlierJobs> {
    let mut schema_ready = false;
    let mut problems = Vec::new();
    let mut superseded = Vec::new();
    match store.assess(dst).await? {
        Ok(StateSchemaStatus::Ready { droppable_by, .. }) => {
            schema_ready = true;
            if let Some(ext_owner) = droppable_by {
                problems.extend(preflight::check_droppable_state(
                    &ext_owner,
                    fks_to_drop,
                    indexes_to_drop,
                    triggers,
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
                    state_schema: ctx.config.state_schema.clone(),
                });
            }
        }
        Ok(StateSchemaStatus::Creatable) => {}
        Err(p) => problems.push(Problem::StateSchema(p)),
    }
    Ok(EarlierJobs {
        schema_ready,
        problems,
        superseded,
    })
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

/// The way to keep the foreign keys in place, for a role that must drop
/// them: the grant of replica mode (PostgreSQL 15 and later), which spares
/// the keys' validation after the load.
fn replica_hint(ctx: &Ctx<'_>, fks_to_drop: &[ForeignKey]) -> Option<String> {
    let keys = fks_to_drop
        .iter()
        .filter(|k| k.kind == pgcopy_core::catalog::ConstraintKind::Foreign)
        .count();
    (!ctx.replica_allowed && keys > 0 && ctx.dst_catalog.server_version_num >= 150000).then(|| {
        format!(
            "the {keys} foreign keys are validated again after the load; a role that may set \
             session_replication_role keeps them in place and skips that (a superuser runs \
             GRANT SET ON PARAMETER session_replication_role TO {})",
            pgcopy_core::quote::quote_ident(&ctx.dst_catalog.current_user)
        )
    })
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
