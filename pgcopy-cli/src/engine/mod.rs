//! `pgcopy copy`: connect, take one source snapshot, set up the job (new, or a
//! resumed one), then stream every chunk through the workers, set sequences,
//! re-enable triggers, refresh materialized views, analyze, restore foreign keys
//! and summarize.
//!
//! Nothing on the destination changes before preflight has passed; `--dry-run`
//! stops right after it. Every one-off step that changes the destination (FK
//! drops, disabling triggers, the up-front TRUNCATE) is recorded in the job's
//! row in the same transaction, so a resumed job knows exactly what is done.

mod after_load;
pub mod after_progress;
mod analyze;
pub mod config;
mod dry_run;
mod guard;
mod index_builds;
mod large_objects;
mod load;
mod phases;
mod same_database;
mod session;
mod setup;
pub mod summary;
pub mod worker;

use crate::connect::{CancelHandle, Endpoint};
use crate::constraints;
use crate::error::{pg_message, PgContext, UserError};
use crate::exit;
use crate::state::{JobStep, StateStore, OBJECTS_PER_TRANSACTION};
use config::{CopyConfig, RunOptions};
use pgcopy_core::chunk::ChunkRange;
use pgcopy_core::plan::Plan;
use pgcopy_core::quote::{quote_literal, QualifiedName};
use pgcopy_core::sql;
use pgcopy_core::states::{JobState, Phase};
use setup::Setup;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_postgres::Client;
use worker::WorkerLive;

use crate::triggers::enable_triggers;
use after_load::{finish, restore_fks};
pub use guard::{lock_and_check, LockCheckError};
use load::load;
use phases::copy_data;
use same_database::guard_same_database;

/// One chunk of one table: the unit a worker takes.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Index into `plan.tables`.
    pub table: usize,
    /// The chunk.
    pub chunk: ChunkRange,
}

/// What a worker reports for a unit.
#[derive(Debug)]
pub struct Outcome {
    /// The unit.
    pub unit: Unit,
    /// Rows committed.
    pub rows: u64,
    /// Bytes streamed.
    pub bytes: u64,
    /// When it started.
    pub started: Instant,
    /// Seconds taken.
    pub secs: f64,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// State shared by the coordinator and the workers.
pub struct Shared {
    /// The slots of `--parallel` that loads and index builds share: a
    /// worker holds one while it has chunks to copy, a build takes one
    /// while it runs (`index_builds`).
    pub budget: Arc<tokio::sync::Semaphore>,
    /// The tables whose indexes are rebuilt as soon as they are loaded.
    pub builds: index_builds::EarlyBuilds,
    /// Where the `--where` conditions and `--transform` expressions run
    /// (the source sessions take it; a text table's destination its
    /// interval style).
    pub conditions: Option<crate::conditions::ConditionEnv>,
    /// The plan being executed.
    pub plan: Plan,
    /// The source.
    pub source: Endpoint,
    /// The destination.
    pub dest: Endpoint,
    /// Snapshot every worker reads from.
    pub snapshot: String,
    /// State store on the destination.
    pub store: StateStore,
    /// This run's job id.
    pub job_id: i64,
    /// Units not taken yet.
    pub queue: Mutex<VecDeque<Unit>>,
    /// Load transactions pin the names of checked tables' schemas.
    pub pin_schemas: bool,
    /// What the job's restores run: its own saved rows, as this run saved
    /// them, and the code of the roles `--trust-owner` names.
    pub scope: crate::scope::Scope,
    /// Rows between live progress updates.
    pub batch_size: u64,
    /// Retries of a chunk after a lost connection.
    pub retries: u32,
    /// Per-worker live counters.
    pub live: Vec<WorkerLive>,
    /// Cancel handles of each worker's current connections (source,
    /// destination), replaced when a worker reconnects.
    pub cancel_handles: Mutex<Vec<Vec<CancelHandle>>>,
    /// When the copy started.
    pub started: Instant,
    /// Which tables are analyzed, and by whom.
    pub analyze: analyze::EarlyAnalyze,
    /// Tables loaded as their owners, with how.
    pub load_as: std::collections::HashMap<QualifiedName, setup::LoadAs>,
    /// The step after the load the run is in, for the display.
    pub after: after_progress::AfterLoad,
    /// Materialized views not refreshed, each with the roles whose code a
    /// refresh would run (`Setup::matview_refusals`).
    pub matview_refusals: std::collections::HashMap<QualifiedName, Vec<String>>,
    /// Destination tables whose load's row count the server itself checks
    /// before the pipelined COMMIT, by OID (`Setup::counted_on_server`).
    pub counted_on_server: std::collections::HashMap<QualifiedName, u32>,
}

impl Shared {
    /// Enters `phase`, of `total` items (0: not counted): recorded in the
    /// job's row, and shown after the load.
    pub async fn enter(&self, dst: &Client, phase: Phase, total: usize) {
        self.store.enter_phase(dst, self.job_id, phase).await;
        if phase > Phase::Load {
            self.after.begin(phase, total);
        }
    }
}

/// Runs `pgcopy copy`; returns the exit code.
pub async fn run(config: CopyConfig) -> anyhow::Result<i32> {
    let (source, dest) = (&config.source, &config.dest);

    // Connect both sides first, so a bad URL fails before anything else.
    let (src, dst) = tokio::select! {
        r = async { tokio::join!(source.connect_session("coordinator"), dest.connect_session("coordinator")) } => r,
        _ = crate::stop::wait() => return stopped_before_any_change(),
    };
    let (src, dst) = (src?, dst?);
    // A lock wait of more than a second is said, on either side, until the
    // run ends.
    let _watch = (
        crate::lockwatch::watch(source),
        crate::lockwatch::watch(dest),
    );
    // Until the job is set up, a stop cancels what the coordinator waits
    // for (a lock, a catalog read) and ends the run: nothing changed yet.
    let guards = (
        crate::stop::on_stop(src.cancel.clone()),
        crate::stop::on_stop(dst.cancel.clone()),
    );
    let (src, mut dst) = (src.client, dst.client);
    let store = StateStore::new(&config.state_schema);
    let prepared = tokio::select! {
        r = prepare(&config, &src, &mut dst, &store) => r?,
        _ = crate::stop::wait() => return stopped_before_any_change(),
    };
    drop(guards);
    let Some((setup, snapshot)) = prepared else {
        return Ok(exit::OK); // --dry-run
    };
    let run = Connected {
        src,
        dst,
        store,
        snapshot,
    };
    execute(config, setup, run).await
}

/// A stop during connect or setup: said, and the run ends with the signal's
/// code (the job, if setup had just recorded it, stays as a dead client's).
fn stopped_before_any_change() -> anyhow::Result<i32> {
    errln!(
        "stopped by {} while connecting and setting up: nothing was changed on the destination",
        crate::stop::signal_name().unwrap_or("a signal")
    );
    Ok(crate::stop::exit_code().unwrap_or(exit::INTERRUPTED))
}

/// The same-database guard, the snapshot, and the job's setup; `None` after
/// a `--dry-run`.
async fn prepare(
    config: &CopyConfig,
    src: &Client,
    dst: &mut Client,
    store: &StateStore,
) -> anyhow::Result<Option<(Setup, String)>> {
    if config.dry_run.is_none() && config.guard_same_database {
        guard_same_database(src, dst).await?;
    }

    // The snapshot every worker imports; the catalog is read inside it too.
    src.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .pg_context(|| "starting the source transaction".into())?;
    let snapshot = match &config.snapshot {
        Some(id) => {
            src.batch_execute(&format!("SET TRANSACTION SNAPSHOT {}", quote_literal(id)))
                .await
                .map_err(|e| {
                    UserError::failure(format!(
                        "cannot read from snapshot {id:?}: {}; the transaction that exported it must stay open \
                         during the copy",
                        pg_message(&e)
                    ))
                })?;
            id.clone()
        }
        None => src
            .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
            .await
            .pg_context(|| "exporting the source snapshot".into())?
            .try_get(0)?,
    };
    Ok(setup::prepare(config, src, dst, store, &snapshot)
        .await?
        .map(|setup| (setup, snapshot)))
}

/// What a prepared run holds on to: the coordinator's two
/// sessions (the source's in the snapshot transaction), the state store and
/// the snapshot's id.
struct Connected {
    src: Client,
    dst: Client,
    store: StateStore,
    snapshot: String,
}

/// Runs a prepared job to its end; returns the exit code.
async fn execute(config: CopyConfig, setup: Setup, run: Connected) -> anyhow::Result<i32> {
    let (source, dest, opts) = (&config.source, &config.dest, &config.run);
    let Connected {
        src,
        mut dst,
        store,
        snapshot,
    } = run;
    let job_id = setup.job_id;
    summary::note_job(job_id);
    store.enter_phase(&dst, job_id, Phase::BeforeLoad).await;
    if !setup.fks_to_drop.is_empty() {
        let refs: Vec<_> = setup.fks_to_drop.iter().collect();
        if let Err(e) = constraints::save_and_drop(&mut dst, &store, job_id, &refs).await {
            crate::state::log_failed_write(
                store
                    .finish_job(&dst, job_id, JobState::Failed, Some(&format!("{e:#}")))
                    .await,
                "the job's end",
            );
            return Err(e);
        }
    }
    if let Err(e) =
        crate::indexes::save_and_drop(&mut dst, &store, job_id, &setup.indexes_to_drop).await
    {
        // Nothing is lost: the batch that failed dropped and saved nothing.
        tracing::warn!(
            "{e:#}: those indexes stay in place and are kept up to date during the load (slower, \
             same result)"
        );
    }
    crate::failpoint::hit("after-drop-fks").await;

    let mut summary = summary::RunSummary::new(&setup.plan);
    let queue: VecDeque<Unit> = setup
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
        .collect();
    let analyze = analyze::EarlyAnalyze::new(&setup.plan, &queue, setup.analyze);
    let shared = Arc::new(Shared {
        budget: Arc::new(tokio::sync::Semaphore::new(opts.parallel.max(1))),
        builds: index_builds::EarlyBuilds::new(&setup.plan, &setup.indexes_to_drop),
        conditions: setup.conditions.clone(),
        analyze,
        load_as: setup.load_as.clone(),
        counted_on_server: setup.counted_on_server.clone(),
        matview_refusals: setup.matview_refusals.clone(),
        after: after_progress::AfterLoad::new(after_progress::AfterWeights::of(
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
        store: store.clone(),
        job_id,
        pin_schemas: setup.pin_schemas,
        scope: crate::scope::Scope {
            job: Some(job_id),
            trust: config.shape.trust.clone(),
            own: Some(Arc::new(setup.own.clone())),
        },
        batch_size: opts.batch_size,
        retries: opts.retries,
        // One slot per worker, and the analyzer's last.
        cancel_handles: Mutex::new(vec![Vec::new(); opts.parallel + 1]),
        started: Instant::now(),
    });

    let mut display = match crate::progress::detect(!opts.progress) {
        crate::progress::ProgressMode::Bar => Some(crate::progress::Display::start(opts.parallel)),
        crate::progress::ProgressMode::Lines => None,
    };
    let (result, restore) = after_progress::shown(&shared, display.as_ref(), async {
        let result = copy_data(
            &shared,
            &src,
            &mut dst,
            &setup,
            opts,
            display.as_ref(),
            summary,
        )
        .await;
        if reconnect_if_closed(&mut dst, dest).await {
            shared.enter(&dst, Phase::ForeignKeys, 0).await;
        }
        let restore = restore_fks(
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
    let interrupted = crate::stop::requested();
    if let Ok(summary) = &result {
        summary.print(&shared.plan, shared.started.elapsed());
    }
    let (state, error, code) = match (&result, &restore) {
        // Stopped: whatever failed on the way out (cancelled statements),
        // the job is resumable.
        _ if interrupted => (
            JobState::Interrupted,
            Some(format!(
                "stopped by {}",
                crate::stop::signal_name().unwrap_or("a signal")
            )),
            crate::stop::exit_code().unwrap_or(exit::INTERRUPTED),
        ),
        (Err(e), _) | (Ok(_), Err(e)) => (JobState::Failed, Some(format!("{e:#}")), exit::FAILURE),
        (Ok(summary), Ok(bad))
            if summary.failed() > 0
                || !bad.is_empty()
                || !summary.index_failures.is_empty()
                || !summary.matview_failures.is_empty()
                || summary.large_object_failure.is_some()
                || summary.trigger_failure.is_some() =>
        {
            let mut why = Vec::new();
            if let Some(e) = &summary.trigger_failure {
                why.push(format!(
                    "triggers disabled for the load were not all put back ({e}); \
                     `pgcopy restore-fks` puts them back"
                ));
            }
            if let Some(e) = &summary.large_object_failure {
                why.push(format!(
                    "large objects were not all copied ({e}); `pgcopy copy --resume` copies the rest"
                ));
            }
            if summary.failed() > 0 {
                why.push(format!("{} tables failed", summary.failed()));
            }
            if !summary.index_failures.is_empty() {
                why.push(format!(
                    "{} indexes could not be rebuilt (see {}.saved_indexes; `pgcopy restore-fks` rebuilds them)",
                    summary.index_failures.len(),
                    store.schema()
                ));
            }
            if !summary.matview_failures.is_empty() {
                why.push(format!(
                    "{} materialized views could not be refreshed ({})",
                    summary.matview_failures.len(),
                    summary.matview_failures.join("; ")
                ));
            }
            if !bad.is_empty() {
                why.push(format!(
                    "{} foreign keys are not back as they were (see {}.saved_fks; fix the data, then run \
                     `pgcopy restore-fks`)",
                    bad.len(),
                    store.schema()
                ));
            }
            (JobState::Failed, Some(why.join("; ")), exit::PARTIAL)
        }
        _ => (JobState::Succeeded, None, exit::OK),
    };
    if reconnect_if_closed(&mut dst, dest).await {
        if let Err(e) = store
            .finish_job(&dst, job_id, state, error.as_deref())
            .await
        {
            tracing::warn!("could not record the end of job {job_id}: {e:#}");
        }
    } else {
        tracing::warn!("the destination is unreachable: job {job_id} stays marked running");
    }
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
    if code == exit::PARTIAL {
        let error = error.unwrap_or_default();
        errln!("error: {}", pgcopy_core::quote::printable(&error));
    }
    if code != exit::OK && code != exit::PARTIAL {
        errln!("hint: continue this job with `pgcopy copy --resume` (same source and destination)");
    }
    Ok(code)
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

/// Makes sure `dst` is connected, reconnecting once if the server closed it
/// (e.g. after a restart); false when it cannot.
async fn reconnect_if_closed(dst: &mut Client, dest: &Endpoint) -> bool {
    if !dst.is_closed() {
        return true;
    }
    match dest.connect("coordinator").await {
        Ok(c) => {
            *dst = c;
            tracing::info!("reconnected to the destination");
            true
        }
        Err(e) => {
            tracing::debug!("reconnecting to the destination failed: {e}");
            false
        }
    }
}
