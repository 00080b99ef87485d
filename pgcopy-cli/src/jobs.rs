//! `pgcopy jobs list` and `pgcopy jobs discard N`.

use crate::cli::{JobsAction, JobsArgs};
use crate::error::{PgContext, UserError};
use crate::exit;
use crate::state::{StateSchemaStatus, StateStore};
use pgcopy_core::quote::printable;
use pgcopy_core::states::JobState;

/// Runs `pgcopy jobs ...`; returns the exit code.
pub async fn run(args: JobsArgs) -> anyhow::Result<i32> {
    let target = match &args.action {
        JobsAction::List { target, .. } | JobsAction::Discard { target, .. } => target.clone(),
    };
    let dest = target.dest.endpoint()?;
    let mut dst = dest.connect("jobs").await?;
    let store = StateStore::new(&target.state_schema);
    if store.inspect(&dst).await? == StateSchemaStatus::Creatable {
        return Err(
            UserError::failure("no copy has run on this destination: there are no jobs").into(),
        );
    }
    match args.action {
        JobsAction::List { json, .. } => list(&dst, &store, json).await,
        JobsAction::Discard { job, trust, .. } => {
            discard(&mut dst, &dest, &store, job, trust).await
        }
    }
}

/// `pgcopy jobs list`: every job, newest first (as JSON with `json`).
async fn list(dst: &tokio_postgres::Client, store: &StateStore, json: bool) -> anyhow::Result<i32> {
    let rows = dst
        .query(&store.sql(pgcopy_core::state_sql::LIST_JOBS), &[])
        .await
        .pg_context(|| "listing jobs".into())?;
    let jobs: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            Ok(serde_json::json!({
                "job_id": r.try_get::<_, i64>(0)?,
                "state": r.try_get::<_, String>(1)?,
                "source": r.try_get::<_, String>(2)?,
                "started_at": r.try_get::<_, Option<String>>(3)?,
                "finished_at": r.try_get::<_, Option<String>>(4)?,
                "rows_copied": r.try_get::<_, i64>(5)?,
                "error": r.try_get::<_, Option<String>>(6)?,
            }))
        })
        .collect::<Result<_, tokio_postgres::Error>>()?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&jobs)?);
    } else {
        outln!(
            "{:>5}  {:<11}  {:>12}  {:<32}  source",
            "job",
            "state",
            "rows",
            "started"
        );
        for j in &jobs {
            outln!(
                "{:>5}  {:<11}  {:>12}  {:<32}  {}",
                j["job_id"],
                printable(j["state"].as_str().unwrap_or("")),
                j["rows_copied"],
                printable(j["started_at"].as_str().unwrap_or("")),
                printable(j["source"].as_str().unwrap_or(""))
            );
        }
    }
    Ok(exit::OK)
}

/// `pgcopy jobs discard N`: puts back what job `job` left saved, then marks
/// it discarded; a job running now, or one whose objects cannot all come
/// back, stays as it is.
async fn discard(
    dst: &mut tokio_postgres::Client,
    dest: &crate::connect::Endpoint,
    store: &StateStore,
    job: i64,
    trust: crate::cli::TrustArgs,
) -> anyhow::Result<i32> {
    let Some(stored) = store
        .unfinished_jobs(dst, Some(job))
        .await?
        .into_iter()
        .next()
    else {
        return Err(UserError::failure(format!(
            "job {job} cannot be discarded: it does not exist, succeeded, or was discarded already"
        ))
        .into());
    };
    if stored.state == JobState::Running.as_str() && !stored.stale {
        return Err(UserError::failure(format!(
            "job {job} is running right now (its client is connected): stop that pgcopy first"
        ))
        .into());
    }
    let scope = crate::scope::Scope {
        job: Some(job),
        trust: trust.owners(),
        own: None,
    };
    let done = crate::putback::put_back(dst, dest, store, &scope).await?;
    let bad = done.not_back();
    if bad > 0 {
        errln!(
            "error: {bad} foreign keys, indexes or triggers of job {job} are not back as they were (see \
             {0}.saved_fks, {0}.saved_indexes and the job's disabled_triggers); the job stays as it is",
            store.schema()
        );
        return Ok(exit::PARTIAL);
    }
    store
        .finish_job(dst, job, JobState::Discarded, None)
        .await?;
    outln!(
        "job {job} discarded: {} foreign keys restored, {} triggers re-enabled",
        done.foreign_keys.len(),
        done.triggers
    );
    Ok(exit::OK)
}
