//! The steps of `pgcopy copy` once its job is set up, each in a file named
//! after it (`pgcopy_core::steps::Step` says what each waits for): save and
//! drop, disable triggers, truncate, load (with index builds and ANALYZE as
//! each table is loaded), indexes, enable triggers, large objects,
//! sequences, materialized views, analyze, foreign keys; then the outcome.
//! [`execute`] walks them in the graph's order.

pub mod analyze;
pub mod connect;
mod foreign_keys;
pub mod indexes;
pub mod job;
pub mod large_objects;
pub mod load;
mod matviews;
mod outcome;
pub mod plan;
mod preflight;
pub mod prepare;
mod resume;
mod save_drop;
mod sequences;
mod triggers;
mod truncate;

use crate::connect::Endpoint;
use crate::engine::after_load;
use crate::engine::after_progress;
use crate::engine::config::{CopyConfig, RunOptions};
use crate::engine::shared::WorkerLive;
use crate::engine::shared::{reconnect_if_closed, Shared, Unit};
use crate::engine::summary;
use crate::engine::tables_done::{EarlyAnalyze, EarlyBuilds};
use crate::exit;
use crate::state::StateStore;
use job::Setup;
use pgcopy_core::sql;
use pgcopy_core::states::{JobState, Phase};
use pgcopy_core::steps::Step;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio_postgres::Client;

/// What a prepared run holds on to: the coordinator's two sessions (the
/// source's in the snapshot transaction), the state store and the
/// snapshot's id.
pub struct Connected {
    /// The source session, in the snapshot transaction.
    pub src: Client,
    /// The destination session.
    pub dst: Client,
    /// The state store.
    pub store: StateStore,
    /// The snapshot's id.
    pub snapshot: String,
}

/// Runs a prepared job to its end; returns the exit code.
pub async fn execute(config: CopyConfig, setup: Setup, run: Connected) -> anyhow::Result<i32> {
    let (dest, opts) = (&config.dest, &config.run);
    let Connected {
        src,
        mut dst,
        store,
        snapshot,
    } = run;
    let job_id = setup.job_id;
    summary::note_job(job_id);
    store.enter_phase(&dst, job_id, Phase::BeforeLoad).await;
    save_drop::run(&mut dst, &store, &setup).await?;

    let mut summary = summary::RunSummary::new(&setup.plan);
    let queue = pending_units(&setup, &mut summary);
    let shared = share(&config, &setup, queue, snapshot, store.clone());

    let mut display = match crate::progress::detect(!opts.progress) {
        crate::progress::ProgressMode::Bar => Some(crate::progress::Display::start(opts.parallel)),
        crate::progress::ProgressMode::Lines => None,
    };
    let (result, restore) = after_progress::shown(&shared, display.as_ref(), async {
        let result = data_steps(
            &shared,
            &src,
            &mut dst,
            &setup,
            opts,
            display.as_ref(),
            summary,
        )
        .await;
        // The keys come back whatever happened to the rows (but a stop).
        if reconnect_if_closed(&mut dst, dest).await {
            shared.enter(&dst, Phase::ForeignKeys, 0).await;
        }
        let restore = foreign_keys::restore(
            &mut dst,
            &store,
            &shared.scope,
            dest,
            opts.parallel,
            setup.fks_pending,
            &shared.after,
        )
        .await;
        (result, restore)
    })
    .await;
    if let (Some(d), Ok(summary)) = (display.as_mut(), &result) {
        d.finish(
            &summary.snapshot(&shared),
            shared.started.elapsed().as_secs_f64(),
        );
    }
    drop(display);
    let interrupted = crate::stop::settle();
    if let Ok(summary) = &result {
        summary.print(&shared.plan, shared.started.elapsed());
    }
    let ended = ended(interrupted, &result, &restore);
    let (state, error, code) = outcome::decide(&ended, store.schema());
    record_end(&mut dst, dest, &store, job_id, state, error.as_deref()).await;
    let _ = src.batch_execute("COMMIT").await;
    if let Some(path) = &opts.summary_json {
        let doc = summary::summary_json(
            job_id,
            state.as_str(),
            code,
            error.as_deref(),
            &shared,
            result.as_ref().ok(),
            restore.as_ref().ok(),
        );
        summary::write(path, &doc);
    }
    if interrupted {
        let left = store.outstanding(&dst, job_id).await;
        errln!(
            "{}",
            pgcopy_core::quote::printable(&stopped_message(
                job_id,
                &shared,
                result.as_ref().ok().map(|s| s.chunks_done()),
                left.as_ref().ok()
            ))
        );
        return Ok(code);
    }
    if let (Err(_), Err(e)) = (&result, &restore) {
        tracing::error!("{e:#}");
    }
    result?;
    restore?;
    say_end(code, error);
    Ok(code)
}

/// Records how job `job_id` ended in the state schema (reconnecting if
/// needed); where it cannot, it stays marked running, and a warning says so.
async fn record_end(
    dst: &mut Client,
    dest: &Endpoint,
    store: &StateStore,
    job_id: i64,
    state: JobState,
    error: Option<&str>,
) {
    if !reconnect_if_closed(dst, dest).await {
        tracing::warn!("the destination is unreachable: job {job_id} stays marked running");
        return;
    }
    if let Err(e) = store.finish_job(dst, job_id, state, error).await {
        tracing::warn!("could not record the end of job {job_id}: {e:#}");
    }
}

/// The last lines of a run that was not stopped: the error of a partial
/// copy, and how to continue one that failed.
fn say_end(code: i32, error: Option<String>) {
    if code == exit::PARTIAL {
        let error = error.unwrap_or_default();
        errln!("error: {}", pgcopy_core::quote::printable(&error));
    }
    if code != exit::OK && code != exit::PARTIAL {
        errln!("hint: continue this job with `pgcopy copy --resume` (same source and destination)");
    }
}

/// What the workers, the index builds, ANALYZE and the display share.
fn share(
    config: &CopyConfig,
    setup: &Setup,
    queue: VecDeque<Unit>,
    snapshot: String,
    store: StateStore,
) -> Arc<Shared> {
    let (source, dest, opts) = (&config.source, &config.dest, &config.run);
    let job_id = setup.job_id;
    let analyze = EarlyAnalyze::new(&setup.plan, queue.iter().map(|u| u.table), setup.analyze);
    Arc::new(Shared {
        budget: Arc::new(tokio::sync::Semaphore::new(opts.parallel.max(1))),
        parallel: opts.parallel.max(1),
        builds: EarlyBuilds::new(&setup.plan, &setup.indexes_to_drop),
        conditions: setup.conditions.clone(),
        analyze,
        load_as: setup.load_as.clone(),
        counted_on_server: setup.counted_on_server.clone(),
        matview_refusals: setup.matview_refusals.clone(),
        after: after_load::AfterLoad::new(after_load::AfterWeights::of(
            &setup.plan,
            &setup.indexes_to_drop,
            setup.analyze,
        )),
        queue: Mutex::new(queue),
        live: (0..opts.parallel).map(|_| WorkerLive::default()).collect(),
        plan: setup.plan.clone(),
        source: source.clone(),
        dest: dest.clone(),
        snapshot,
        store,
        job_id,
        pin_schemas: setup.pin_schemas,
        scope: crate::scope::Scope {
            job: Some(job_id),
            trust: config.options.trust.clone(),
            own: Some(Arc::new(setup.own.clone())),
        },
        batch_size: opts.batch_size,
        retries: opts.retries,
        // One slot per worker, and the analyzer's last.
        cancel_handles: Mutex::new(vec![Vec::new(); opts.parallel + 1]),
        started: Instant::now(),
    })
}

/// The chunks still to load, largest table first, in the plan's order; the
/// chunks an earlier run of the job committed count in `summary` instead.
fn pending_units(setup: &Setup, summary: &mut summary::RunSummary) -> VecDeque<Unit> {
    setup
        .plan
        .tables
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            t.chunks.iter().map(move |c| Unit {
                table: i,
                chunk: *c,
            })
        })
        .filter(|u| {
            let t = &setup.plan.tables[u.table].table;
            match setup
                .done_chunks
                .get(&(t.schema.clone(), t.name.clone(), u.chunk.index as i32))
            {
                Some(&(rows, bytes)) => {
                    summary.add_done(u.table, rows as u64, bytes as u64);
                    false
                }
                None => true,
            }
        })
        .collect()
}

/// How the run ended, in the terms the outcome is decided from.
fn ended(
    interrupted: bool,
    result: &anyhow::Result<summary::RunSummary>,
    restore: &anyhow::Result<Vec<crate::constraints::RestoreOutcome>>,
) -> outcome::Ended {
    outcome::Ended {
        stopped: interrupted.then(|| {
            (
                crate::stop::signal_name().unwrap_or("a signal"),
                crate::stop::exit_code().unwrap_or(exit::INTERRUPTED),
            )
        }),
        failed: result.as_ref().err().map(|e| format!("{e:#}")),
        restore_failed: restore.as_ref().err().map(|e| format!("{e:#}")),
        failed_tables: result.as_ref().map_or(0, |s| s.failed()),
        triggers: result.as_ref().ok().and_then(|s| s.trigger_failure.clone()),
        large_objects: result
            .as_ref()
            .ok()
            .and_then(|s| s.large_object_failure.clone()),
        indexes: result.as_ref().map_or(0, |s| s.index_failures.len()),
        matviews: result
            .as_ref()
            .map(|s| s.matview_failures.clone())
            .unwrap_or_default(),
        foreign_keys: restore.as_ref().map_or(0, Vec::len),
    }
}

/// The steps that move data, in the graph's order: those before the load,
/// the load (with index builds and ANALYZE as each table is loaded), and
/// those after it. A stop lets no step start; a step before the load that
/// fails ends them; the indexes and the triggers come back whatever
/// happened to the load.
async fn data_steps(
    shared: &Arc<Shared>,
    src: &Client,
    dst: &mut Client,
    setup: &Setup,
    opts: &RunOptions,
    display: Option<&crate::progress::Display>,
    summary: summary::RunSummary,
) -> anyhow::Result<summary::RunSummary> {
    let order = Step::in_order();
    let load_at = order.iter().position(|s| *s == Step::Load).unwrap_or(0);
    if crate::stop::requested() {
        return Ok(summary);
    }
    if shared.plan.replica_mode() {
        dst.batch_execute(sql::SET_REPLICA_MODE).await?;
    }
    for step in &order[..load_at] {
        if crate::stop::requested() {
            return Ok(summary);
        }
        match step {
            Step::DisableTriggers => triggers::disable(shared, dst, setup).await?,
            Step::Truncate => {
                crate::failpoint::delay("before-truncate").await;
                if crate::stop::requested() {
                    return Ok(summary);
                }
                truncate::run(shared, dst, setup).await?
            }
            // Saved and dropped before the run's shared state (`execute`).
            _ => {}
        }
    }
    shared.enter(dst, Phase::Load, 0).await;
    let loaded = load::load(shared, dst, opts, display, summary).await;
    if crate::stop::requested() {
        return loaded;
    }
    let mut loaded = Some(loaded);
    let mut index_failures: Option<anyhow::Result<Vec<String>>> = None;
    let mut trigger_failure = None;
    let mut summary: Option<summary::RunSummary> = None;
    for step in &order[load_at + 1..] {
        // Once the indexes and triggers are back, what the load came to
        // decides whether the rest runs.
        if summary.is_none() && !matches!(step, Step::Indexes | Step::EnableTriggers) {
            let mut s = loaded
                .take()
                .unwrap_or_else(|| Err(anyhow::anyhow!("the load's outcome was lost")))?;
            s.index_failures = index_failures.take().unwrap_or(Ok(Vec::new()))?;
            s.trigger_failure = trigger_failure.take();
            summary = Some(s);
        }
        if crate::stop::requested() {
            break;
        }
        match (step, summary.as_mut()) {
            (Step::Indexes, _) => {
                index_failures = Some(indexes::after_load(shared, dst, opts.parallel).await)
            }
            (Step::EnableTriggers, _) => {
                trigger_failure = triggers::enable(shared, dst, setup).await
            }
            (Step::LargeObjects, Some(s)) => {
                large_objects::run(shared, dst, &setup.done_chunks, opts.parallel, s).await;
                // The session of the steps after it: back, in replica mode.
                reconnect_if_closed(dst, &shared.dest).await;
                if shared.plan.replica_mode() {
                    dst.batch_execute(sql::SET_REPLICA_MODE).await?;
                }
            }
            (Step::Sequences, Some(_)) => sequences::set(shared, src, dst).await?,
            (Step::MaterializedViews, Some(s)) => {
                s.matview_failures = matviews::refresh(shared, dst).await;
            }
            (Step::Analyze, Some(s)) => analyze::after_load(shared, dst, setup.analyze, s).await,
            // After the data steps, whatever happened (`execute`).
            _ => {}
        }
    }
    match (summary, loaded) {
        (Some(s), _) => Ok(s),
        // Stopped with the indexes or the triggers: what the load came to.
        (None, Some(l)) => {
            let mut s = l?;
            s.index_failures = index_failures.unwrap_or(Ok(Vec::new()))?;
            s.trigger_failure = trigger_failure;
            Ok(s)
        }
        (None, None) => Err(anyhow::anyhow!("the load's outcome was lost")),
    }
}

/// What a stopped run did and the one command that finishes it.
fn stopped_message(
    job_id: i64,
    shared: &Shared,
    done: Option<usize>,
    left: Option<&crate::state::Outstanding>,
) -> String {
    let total = shared.plan.total_chunks();
    let done = done.map_or("some".to_string(), |d| d.to_string());
    let mut out = Vec::new();
    if let Some(l) = left {
        if l.fks > 0 {
            out.push(
                crate::format::count(l.fks as usize, "foreign key", "foreign keys")
                    + " saved and not back",
            );
        }
        if l.indexes > 0 {
            out.push(
                crate::format::count(l.indexes as usize, "index", "indexes")
                    + " saved and not rebuilt",
            );
        }
        if l.triggers > 0 {
            out.push(
                crate::format::count(l.triggers as usize, "trigger", "triggers")
                    + " still disabled",
            );
        }
    }
    format!(
        "stopped by {}: job {job_id} copied {done} of {total} chunks{}; it is resumable: finish it with `pgcopy \
         copy --resume` (the same source and destination){}",
        crate::stop::signal_name().unwrap_or("a signal"),
        match out.is_empty() {
            true => String::new(),
            false => format!(", and has {}", out.join(", ")),
        },
        match out.is_empty() {
            true => String::new(),
            false => format!(", or give it up with `pgcopy jobs discard {job_id}`, which puts them back"),
        }
    )
}
