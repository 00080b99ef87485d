//! `pgcopy copy --resume`: the job's stored plan and options, followed only
//! when this role wrote them and they select nothing today's options do not.

use super::job::{server_checks, Setup};
use super::plan::Ctx;
use super::preflight::fail_preflight;
use crate::error::UserError;
use crate::state::{StateSchemaStatus, StateStore, StoredJob};
use pgcopy_core::options::{CopyOptions, Mismatch};
use pgcopy_core::plan::{Plan, PlanOptions};
use pgcopy_core::preflight::{self, EarlierJob, Problem};
use pgcopy_core::states::JobOptions;
use tokio_postgres::Client;

pub(super) async fn resume(
    ctx: Ctx<'_>,
    job_id: Option<i64>,
    dst: &mut Client,
    store: &StateStore,
    snapshot: &str,
) -> anyhow::Result<Option<Setup>> {
    let config = ctx.config;
    let source = &config.source;
    let (job, stored) = pick_job(job_id, dst, store).await?;
    // From here on the job's stored options say what is copied and how.
    let given = &config.options;
    let options = match pgcopy_core::options::resume(job.job_id, &stored, given, config.given_sizes)
    {
        Ok(followed) => followed,
        Err(Mismatch::Usage(sentence)) => return Err(UserError::usage(sentence).into()),
        Err(Mismatch::Problem(p)) => return refuse(*p),
    };
    if job.source != source.redacted() {
        tracing::warn!(
            "job {} copied from {}; resuming from {}",
            job.job_id,
            job.source,
            source.redacted()
        );
    }
    let (ctx, opts, mut plan) = follow_stored_plan(ctx, &job, options)?;
    // Whatever of the plan's FKs and indexes is present now (all, none, or those
    // an interrupted run restored) is dropped again; the saved ones stay saved.
    let done_chunks = store.done_chunks(dst, job.job_id).await?;
    // With every chunk (and large-object batch) committed, nothing is loaded
    // again: what the earlier run put back stays, and only what it left is
    // done (rebuilds, keys, triggers, sequences, views, ANALYZE).
    let loads_left = loads_left(&plan, &done_chunks);
    let (fks_to_drop, indexes_to_drop) = match loads_left {
        true => ctx.to_drop(&opts, &plan)?,
        false => (Vec::new(), Vec::new()),
    };
    let (mut problems, mut triggers) = ctx.check(&plan, &fks_to_drop);
    if !loads_left {
        triggers.clear();
    }
    let source_objects = match plan.large_objects.is_empty() {
        true => None,
        false => Some(crate::engine::steps::large_objects::list(ctx.src).await?),
    };
    let conditions =
        server_checks(&ctx, dst, &mut plan, source_objects.as_ref(), &mut problems).await?;
    fail_preflight(&problems)?;
    // Triggers the first run disabled read as disabled now: their saved modes
    // are the ones to restore.
    for saved in &job.disabled_triggers {
        triggers.retain(|t| !(t.table == saved.table && t.trigger == saved.trigger));
        triggers.push(saved.clone());
    }
    if let Some(format) = config.dry_run {
        crate::engine::dry_run::print_plan(&plan, &indexes_to_drop, config, format)?;
        return Ok(None);
    }
    ctx.lock_split_sources(&plan).await?;
    store.restart_job(dst, job.job_id, snapshot).await?;
    // What the job's earlier runs saved and did not put back is its own too
    // (only this role's members may write the rows of its job).
    let mut own = super::job::own_saved(&fks_to_drop, &indexes_to_drop);
    store.add_pending(dst, job.job_id, &mut own).await?;
    // Large objects' batches are marked done as chunks of their own.
    tracing::info!(
        "resuming job {}: {} of {} chunks already copied; reading the rest from a new snapshot, so rows changed \
         on the source since the first run may be inconsistent across tables (use --snapshot to keep one)",
        job.job_id,
        done_chunks.len(),
        plan.total_chunks() + plan.large_objects.len()
    );
    Ok(Some(Setup {
        conditions,
        job_id: job.job_id,
        load_as: ctx.load_as(&plan),
        counted_on_server: ctx.counted_on_server(&plan),
        matview_refusals: ctx.matview_refusals(&plan),
        plan,
        pin_schemas: ctx.dst_catalog.superuser,
        fks_pending: true,
        own,
        fks_to_drop,
        indexes_to_drop,
        triggers,
        truncated: job.truncated,
        done_chunks,
        analyze: ctx.options.analyze,
    }))
}

/// The job's stored plan, followed only as far as the job's own options
/// select against today's catalogs, with this command line's conditions
/// (checked equal to the job's); from here on the job's stored options say
/// what is copied and how.
fn follow_stored_plan<'a>(
    ctx: Ctx<'a>,
    job: &StoredJob,
    options: CopyOptions,
) -> anyhow::Result<(Ctx<'a>, PlanOptions, Plan)> {
    let plan: Plan = match serde_json::from_value(job.plan.clone()) {
        Ok(plan) => plan,
        Err(e) => {
            return Err(refusal(Problem::UnreadableJob {
                job_id: job.job_id,
                what: "a plan",
                why: Some(e.to_string()),
            }))
        }
    };
    if plan.replica_mode() && !ctx.replica_allowed {
        return Err(refusal(Problem::ReplicaNotAllowed { job_id: job.job_id }));
    }
    let ctx = Ctx { options, ..ctx };
    let opts = PlanOptions {
        fk_strategy: plan.fk_strategy,
        ..ctx.plan_options()?
    };
    // The stored plan is read back from the state schema: it may name only
    // what its own options select against today's catalogs.
    let (today, _) = ctx.routed_plan(&opts)?;
    let beyond = plan.beyond(&today);
    // The conditions rows are read with are this command line's (checked
    // equal to the job's above), never the stored plan's text.
    let mut plan = plan;
    for spec in &mut plan.tables {
        let now = today.tables.iter().find(|t| t.table == spec.table);
        spec.rows_where = now.and_then(|t| t.rows_where.clone());
        spec.taken = now.map(|t| t.taken).unwrap_or_default();
        spec.transforms = now.map(|t| t.transforms.clone()).unwrap_or_default();
    }
    if !beyond.is_empty() {
        return Err(refusal(Problem::PlanBeyondOptions {
            job_id: job.job_id,
            beyond,
        }));
    }
    Ok((ctx, opts, plan))
}

/// Whether some chunk (or large-object batch) of `plan` is not committed.
fn loads_left(
    plan: &Plan,
    done_chunks: &std::collections::HashMap<(String, String, i32), (i64, i64)>,
) -> bool {
    plan.tables.iter().any(|t| {
        t.chunks.iter().any(|c| {
            !done_chunks.contains_key(&(
                t.table.schema.clone(),
                t.table.name.clone(),
                c.index as i32,
            ))
        })
    }) || plan.large_objects.iter().any(|b| {
        let (schema, table) = pgcopy_core::plan::LARGE_OBJECTS;
        !done_chunks.contains_key(&(schema.to_string(), table.to_string(), b.index as i32))
    })
}

/// The job to resume: job `job_id`, or this role's latest unfinished one;
/// refused (nothing changed) when it is not this role's, cannot be resumed
/// in its state, or its options cannot be read.
async fn pick_job(
    job_id: Option<i64>,
    dst: &mut Client,
    store: &StateStore,
) -> anyhow::Result<(StoredJob, JobOptions)> {
    if store.inspect(dst).await? == StateSchemaStatus::Creatable {
        return Err(
            UserError::failure("nothing to resume: no copy has run on this destination").into(),
        );
    }
    let jobs = store.unfinished_jobs(dst, job_id).await?;
    // Without --job, this role's own latest: a job another role wrote
    // (perhaps for this very purpose) is not taken for it.
    let job = match job_id {
        Some(_) => jobs.into_iter().next(),
        None => jobs.into_iter().find(|j| j.mine),
    };
    let Some(job) = job else {
        return Err(UserError::failure(match job_id {
            Some(n) => {
                format!("job {n} cannot be resumed: it does not exist, succeeded, or was discarded")
            }
            None => "nothing to resume: every job this role started on this destination finished"
                .to_string(),
        })
        .into());
    };
    if let EarlierJob::Blocks(p) =
        preflight::earlier_job(job.job_id, &job.state, job.stale, false, &job.next_step)
    {
        return Err(refusal(p));
    }
    // A job's stored plan and options are only as trustworthy as the role
    // that wrote them: following them with this role's rights would let that
    // role decide what this one truncates and writes.
    if !job.mine {
        return Err(refusal(Problem::JobNotMine {
            job_id: job.job_id,
            created_by: job.created_by.clone(),
        }));
    }
    let Some(options) = job.options.clone() else {
        return Err(refusal(Problem::UnreadableJob {
            job_id: job.job_id,
            what: "options",
            why: None,
        }));
    };
    Ok((job, options))
}

/// A resume refused before anything changed: the problem's one sentence.
fn refuse(p: Problem) -> anyhow::Result<Option<Setup>> {
    Err(refusal(p))
}

fn refusal(p: Problem) -> anyhow::Error {
    UserError::failure(p.to_string()).into()
}
