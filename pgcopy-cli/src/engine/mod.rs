//! `pgcopy copy`: connect, take one source snapshot, set up the job (new, or a
//! resumed one), then stream every chunk through the workers, set sequences,
//! re-enable triggers, refresh materialized views, analyze, restore foreign keys
//! and summarize.
//!
//! Nothing on the destination changes before preflight has passed; `--dry-run`
//! stops right after it. Every one-off step that changes the destination (FK
//! drops, disabling triggers, the up-front TRUNCATE) is recorded in the job's
//! row in the same transaction, so a resumed job knows exactly what is done.

mod analyze;
mod large_objects;
mod setup;
mod summary;
pub mod worker;

use crate::cli::CopyArgs;
use crate::connect::{CancelHandle, Endpoint};
use crate::constraints;
use crate::error::{pg_message, PgContext, UserError};
use crate::exit;
use crate::state::{JobStep, StateStore, OBJECTS_PER_TRANSACTION};
use pgcopy_core::chunk::ChunkRange;
use pgcopy_core::plan::Plan;
use pgcopy_core::quote::{quote_literal, QualifiedName};
use pgcopy_core::sql;
use pgcopy_core::triggers::SavedTrigger;
use setup::Setup;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_postgres::Client;
use worker::WorkerLive;

pub use summary::{human_bytes, name_column_width};

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
    /// Seconds taken.
    pub secs: f64,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// State shared by the coordinator and the workers.
pub struct Shared {
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
    /// Destination sessions run in replica mode.
    pub replica: bool,
    /// Load transactions pin the names of checked tables' schemas.
    pub pin_schemas: bool,
    /// Rows between live progress updates.
    pub batch_size: u64,
    /// Retries of a chunk after a lost connection.
    pub retries: u32,
    /// Set on Ctrl-C/SIGTERM.
    pub interrupted: AtomicBool,
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
}

/// Runs `pgcopy copy`; returns the exit code.
pub async fn run(args: CopyArgs) -> anyhow::Result<i32> {
    if args.json && !args.dry_run {
        return Err(UserError::usage("--json goes with --dry-run").into());
    }
    let (source, dest) = (args.source.endpoint()?, args.dest.endpoint()?);

    // Connect both sides first, so a bad URL fails before anything else.
    let (src, dst) = tokio::join!(source.connect("coordinator"), dest.connect("coordinator"));
    let src = src?;
    let mut dst = dst?;

    if !args.dry_run && !args.yes_i_know {
        guard_same_database(&src, &dst).await?;
    }

    // The snapshot every worker imports; the catalog is read inside it too.
    src.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .pg_context(|| "starting the source transaction".into())?;
    let snapshot = match &args.snapshot {
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
            .get(0),
    };

    let store = StateStore::new(&args.state_schema);
    let Some(setup) =
        setup::prepare(&args, &source, &dest, &src, &mut dst, &store, &snapshot).await?
    else {
        return Ok(exit::OK); // --dry-run
    };
    execute(args, setup, source, dest, src, dst, store, snapshot).await
}

/// Refuses to copy a database onto itself: the truncation would destroy the
/// source. It fails closed: the copy goes ahead only when one of two checks
/// proves the two sessions reach different databases, and neither says they
/// reach the same one.
///
/// 1. Server identity: same system identifier, postmaster start time *and*
///    port, and same database name. Clusters cloned from one base backup (a
///    staging copy of production) share the identifier, and two clones started
///    together on one host can share the start time where the clock is coarse
///    (seen in tests), but not the port. Needs `pg_control_system()`, which
///    managed services often revoke.
/// 2. Needs no privilege: the destination session takes a random
///    `application_name`, and the source looks for it in its own
///    `pg_stat_activity` (every role sees every session's database and
///    application name there).
async fn guard_same_database(src: &Client, dst: &Client) -> anyhow::Result<()> {
    let q = "SELECT system_identifier::text || '/' || pg_catalog.pg_postmaster_start_time()::text || '/' \
                    || pg_catalog.current_setting('port') || '/' || pg_catalog.current_database() \
               FROM pg_catalog.pg_control_system()";
    let (a, b) = tokio::join!(src.query_one(q, &[]), dst.query_one(q, &[]));
    let by_identity = match (a, b) {
        (Ok(a), Ok(b)) => Some(a.get::<_, String>(0) == b.get::<_, String>(0)),
        _ => None,
    };
    let by_session = session_seen_from(src, dst).await;
    let same = by_identity == Some(true) || by_session == Ok(true);
    let different = by_identity == Some(false) || by_session == Ok(false);
    if same {
        return Err(UserError::usage(
            "source and destination are the same database: copying would empty it; check --dest, \
             or pass --yes-i-know if this is really meant",
        )
        .into());
    }
    if !different {
        return Err(UserError::failure(format!(
            "cannot tell whether source and destination are different databases (pg_control_system() is not \
             allowed to this role, and the source's pg_stat_activity could not be read: {}), and copying a \
             database onto itself would empty it: check --dest, and pass --yes-i-know if they are different",
            by_session.err().unwrap_or_default()
        ))
        .into());
    }
    Ok(())
}

/// Whether the source's database shows the destination's session: the
/// destination takes a random `application_name` for the check.
async fn session_seen_from(src: &Client, dst: &Client) -> Result<bool, String> {
    use std::hash::{BuildHasher, Hasher};
    let mut token = String::from("pgcopy-same-database-check-");
    for i in 0..2u64 {
        // RandomState is seeded from the operating system's randomness.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i ^ u64::from(std::process::id()));
        token.push_str(&format!("{:016x}", h.finish()));
    }
    dst.batch_execute(&format!("SET application_name = {}", quote_literal(&token)))
        .await
        .map_err(|e| pg_message(&e))?;
    let seen = src
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a \
                             WHERE a.application_name = $1 AND a.datname = pg_catalog.current_database())",
            &[&token],
        )
        .await
        .map(|r| r.get::<_, bool>(0))
        .map_err(|e| pg_message(&e));
    dst.batch_execute("RESET application_name")
        .await
        .map_err(|e| pg_message(&e))?;
    seen
}

/// Runs a prepared job to its end; returns the exit code.
#[allow(clippy::too_many_arguments)]
async fn execute(
    args: CopyArgs,
    setup: Setup,
    source: Endpoint,
    dest: Endpoint,
    src: Client,
    mut dst: Client,
    store: StateStore,
    snapshot: String,
) -> anyhow::Result<i32> {
    let job_id = setup.job_id;
    if !setup.fks_to_drop.is_empty() {
        let refs: Vec<_> = setup.fks_to_drop.iter().collect();
        if let Err(e) = constraints::save_and_drop(&mut dst, &store, job_id, &refs).await {
            let _ = store
                .finish_job(&dst, job_id, "failed", Some(&format!("{e:#}")))
                .await;
            return Err(e);
        }
    }
    if let Err(e) =
        crate::indexes::save_and_drop(&mut dst, &store, job_id, &setup.indexes_to_drop).await
    {
        tracing::error!("{e:#}");
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
    let analyze = analyze::EarlyAnalyze::new(&setup.plan, &queue, !args.no_analyze);
    let shared = Arc::new(Shared {
        analyze,
        load_as: setup.load_as.clone(),
        queue: Mutex::new(queue),
        live: (0..args.parallel).map(|_| WorkerLive::default()).collect(),
        plan: setup.plan.clone(),
        source: source.clone(),
        dest: dest.clone(),
        snapshot,
        store: store.clone(),
        job_id,
        replica: setup.replica,
        pin_schemas: setup.pin_schemas,
        batch_size: args.batch_size,
        retries: args.retries,
        interrupted: AtomicBool::new(false),
        cancel_handles: Mutex::new(vec![Vec::new(); args.parallel as usize]),
        started: Instant::now(),
    });

    let result = copy_data(&shared, &src, &mut dst, &setup, &args, summary).await;
    let restore = restore_fks(
        &mut dst,
        &store,
        job_id,
        &dest,
        args.parallel as usize,
        setup.fks_pending,
    )
    .await;
    let interrupted = shared.interrupted.load(Ordering::SeqCst);
    if let Ok(summary) = &result {
        summary.print(&shared.plan, shared.started.elapsed());
    }
    let (state, error, code) = match (&result, &restore) {
        (Err(e), _) | (Ok(_), Err(e)) => ("failed", Some(format!("{e:#}")), exit::FAILURE),
        (Ok(_), Ok(_)) if interrupted => (
            "interrupted",
            Some("interrupted by signal".to_string()),
            exit::INTERRUPTED,
        ),
        (Ok(summary), Ok(bad))
            if summary.failed() > 0
                || !bad.is_empty()
                || !summary.index_failures.is_empty()
                || !summary.matview_failures.is_empty()
                || summary.large_object_failure.is_some() =>
        {
            let mut why = Vec::new();
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
            ("failed", Some(why.join("; ")), exit::PARTIAL)
        }
        _ => ("succeeded", None, exit::OK),
    };
    if reconnect_if_closed(&mut dst, &dest).await {
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
    if let Some(path) = &args.summary_json {
        let doc = summary::summary_json(
            job_id,
            state,
            code,
            error.as_deref(),
            &shared,
            result.as_ref().ok(),
            restore.as_ref().ok(),
        );
        if let Err(e) = std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n") {
            tracing::error!("could not write the summary to {}: {e}", path.display());
        }
    }
    if let (Err(_), Err(e)) = (&result, &restore) {
        tracing::error!("{e:#}");
    }
    result?;
    restore?;
    if code == exit::PARTIAL {
        let error = error.unwrap_or_default();
        eprintln!("error: {}", pgcopy_core::quote::printable(&error));
    }
    if code != exit::OK && code != exit::PARTIAL {
        eprintln!(
            "hint: continue this job with `pgcopy copy --resume` (same source and destination)"
        );
    }
    Ok(code)
}

/// Locks `tables` by name in `mode`, then checks those of them in `guarded`
/// (`sql::load_guard`: still the tables preflight saw, no trigger, no code of
/// an untrusted role), all in one round trip; first, where `pin_schemas`,
/// takes `sql::pin_schemas` on their schemas, so their names lead to the
/// checked tables until the transaction ends.
pub async fn lock_and_check<T>(
    tx: &tokio_postgres::Transaction<'_>,
    guard: &T,
    tables: &[&QualifiedName],
    guarded: &[(&QualifiedName, &setup::Guard)],
    mode: &str,
    pin_schemas: bool,
) -> Result<(), LockCheckError>
where
    T: ?Sized + tokio_postgres::ToStatement,
{
    let oids: Vec<u32> = guarded.iter().map(|(_, g)| g.oid).collect();
    let names: Vec<String> = guarded.iter().map(|(t, _)| t.to_string()).collect();
    let columns: Vec<serde_json::Value> = guarded
        .iter()
        .map(|(_, g)| serde_json::json!(g.columns))
        .collect();
    let mut schemas: Vec<u32> = guarded.iter().map(|(_, g)| g.schema_oid).collect();
    schemas.sort_unstable();
    schemas.dedup();
    let lock = sql::lock_tables(tables.iter().copied(), mode);
    // Simple-query texts go out in order, before the check's Bind/Execute
    // (and before whatever the caller pipelines after, `SET ROLE` included).
    let (pinned, locked, checked) = tokio::join!(
        async {
            match pin_schemas && !schemas.is_empty() {
                true => tx.batch_execute(&sql::pin_schemas(&schemas)).await,
                false => Ok(()),
            }
        },
        tx.batch_execute(&lock),
        async {
            match guarded.is_empty() {
                true => Ok(()),
                false => tx
                    .execute(guard, &[&oids, &names, &columns])
                    .await
                    .map(|_| ()),
            }
        }
    );
    if let Err(e) = &checked {
        if e.code() == Some(&tokio_postgres::error::SqlState::DIVISION_BY_ZERO) {
            return Err(LockCheckError::Changed);
        }
    }
    pinned.map_err(LockCheckError::Lock)?;
    locked.map_err(LockCheckError::Lock)?;
    checked.map_err(LockCheckError::Check)
}

/// Why [`lock_and_check`] failed.
#[derive(Debug)]
pub enum LockCheckError {
    /// Locking the tables (or pinning their schemas) failed.
    Lock(tokio_postgres::Error),
    /// The check itself failed to run.
    Check(tokio_postgres::Error),
    /// The check found a change: nothing may be written.
    Changed,
}

impl LockCheckError {
    /// One sentence for the user.
    pub fn message(&self) -> String {
        match self {
            LockCheckError::Lock(e) => format!("LOCK failed: {}", pg_message(e)),
            LockCheckError::Check(e) => {
                format!("checking the tables before changing them: {}", pg_message(e))
            }
            LockCheckError::Changed => "a table changed while the copy ran: another role dropped it and put \
                 another in its place, or added a column, a trigger, or a constraint, index or column type \
                 calling code of a role that is neither a superuser nor this one; nothing was written to it, \
                 so that code did not run with this role's rights (check the table, then run the copy again)"
                .to_string(),
        }
    }
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

/// Restores the job's dropped FKs; returns those not back as they were. A second
/// Ctrl-C stops restoring, leaving the rest saved.
async fn restore_fks(
    dst: &mut Client,
    store: &StateStore,
    job_id: i64,
    dest: &Endpoint,
    parallel: usize,
    any: bool,
) -> anyhow::Result<Vec<constraints::RestoreOutcome>> {
    if !any {
        return Ok(Vec::new());
    }
    let mut tries = 0;
    while !reconnect_if_closed(dst, dest).await {
        tries += 1;
        if tries > 20 {
            return Err(UserError::failure(format!(
                "the destination is unreachable: the foreign keys job {job_id} dropped stay saved in {}.saved_fks; \
                 run `pgcopy restore-fks` when it is back",
                store.schema()
            ))
            .into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let started = Instant::now();
    let outcomes = tokio::select! {
        r = constraints::restore(dst, dest, parallel, store, Some(job_id)) => r?,
        _ = tokio::signal::ctrl_c() => {
            return Err(UserError::failure(format!(
                "restoring foreign keys was stopped; the rest stay saved in {}.saved_fks: \
                 run `pgcopy restore-fks --dest ...` or SELECT * FROM pgcopy.restore_fks()",
                store.schema()
            )).into());
        }
    };
    let total = outcomes.len();
    let bad: Vec<_> = outcomes.into_iter().filter(|o| !o.is_ok()).collect();
    tracing::info!(
        "restored {} foreign keys in {:.1} s{}",
        total - bad.len(),
        started.elapsed().as_secs_f64(),
        if bad.is_empty() {
            String::new()
        } else {
            format!(", {} not as before (see above)", bad.len())
        }
    );
    Ok(bad)
}

/// Disables user triggers (recorded in the job), runs the load, re-enables them
/// whatever happened, then sets sequences, refreshes and analyzes.
async fn copy_data(
    shared: &Arc<Shared>,
    src: &Client,
    dst: &mut Client,
    setup: &Setup,
    args: &CopyArgs,
    summary: summary::RunSummary,
) -> anyhow::Result<summary::RunSummary> {
    let store = &shared.store;
    if shared.replica {
        dst.batch_execute("SET session_replication_role = replica")
            .await?;
    }
    // In batches, each recording every trigger disabled so far.
    let mut disabled = 0;
    for batch in setup.triggers.chunks(OBJECTS_PER_TRANSACTION) {
        let tx = dst.transaction().await?;
        for t in batch {
            tx.batch_execute(&t.disable_sql())
                .await
                .pg_context(|| format!("disabling trigger {}", t.display_name()))?;
        }
        disabled += batch.len();
        store
            .set_disabled_triggers(
                &tx,
                shared.job_id,
                Some(&serde_json::to_value(&setup.triggers[..disabled])?),
            )
            .await?;
        tx.commit().await?;
    }
    match setup.triggers.len() {
        0 => {}
        n if n <= 20 => {
            for t in &setup.triggers {
                tracing::info!("disabled trigger {} for the load", t.display_name());
            }
        }
        n => tracing::info!("disabled {n} triggers for the load"),
    }
    crate::failpoint::delay("before-truncate").await;
    if !setup.truncated && !shared.plan.truncate_together.is_empty() {
        let tx = dst.transaction().await?;
        let targets = &shared.plan.truncate_together;
        let names: Vec<String> = targets.iter().map(|t| t.table.to_string()).collect();
        let only: Vec<bool> = targets.iter().map(|t| t.only).collect();
        // Tables other roles may change may have changed since preflight:
        // locked first, then checked, so no trigger or code their owners
        // added runs with this role's rights during the TRUNCATE.
        // Those truncated whole (a partitioned table) and those truncated
        // through them (LOCK TABLE locks a partitioned table's partitions).
        let loaded = shared.plan.tables.iter().filter(|t| !t.truncate_in_load());
        let mut guarded: Vec<(&QualifiedName, &setup::Guard)> = targets
            .iter()
            .map(|t| &t.table)
            .chain(loaded.map(|t| t.dest_table()))
            .filter_map(|t| shared.load_as.get(t))
            .flat_map(|l| l.guards.iter().map(|(n, g)| (n, g)))
            .collect();
        guarded.sort_by(|a, b| a.0.cmp(b.0));
        guarded.dedup();
        if !guarded.is_empty() {
            let tables: Vec<&QualifiedName> = targets.iter().map(|t| &t.table).collect();
            lock_and_check(
                &tx,
                sql::load_guard().as_str(),
                &tables,
                &guarded,
                "ACCESS EXCLUSIVE",
                shared.pin_schemas,
            )
            .await
            .map_err(|e| match e {
                LockCheckError::Changed => UserError::failure(e.message()).into(),
                _ => anyhow::anyhow!("locking the tables to truncate: {}", e.message()),
            })?;
        }
        let holds_rows: bool = tx
            .query_one(pgcopy_core::HOLDS_ROWS_SQL, &[&names, &only])
            .await
            .pg_context(|| "reading the destination tables' sizes".into())?
            .get(0);
        if holds_rows {
            tx.batch_execute(&sql::truncate(targets))
                .await
                .pg_context(|| "truncating the destination tables".into())?;
        } else {
            tracing::debug!("the destination tables are empty: not truncated");
        }
        store
            .mark_step(&tx, shared.job_id, JobStep::Truncated)
            .await?;
        tx.commit().await?;
    }
    let result = load(shared, dst, args, summary).await;
    // Indexes come back whatever happened, before ANALYZE and FK validation
    // (both use them).
    let index_failures = if reconnect_if_closed(dst, &shared.dest).await {
        crate::indexes::rebuild(
            dst,
            &shared.dest,
            store,
            Some(shared.job_id),
            args.parallel as usize,
        )
        .await
    } else {
        Err(anyhow::anyhow!(
            "the destination is unreachable: saved indexes are rebuilt by `pgcopy restore-fks`"
        ))
    };
    if !setup.triggers.is_empty() && reconnect_if_closed(dst, &shared.dest).await {
        if let Err(e) = enable_triggers(dst, store, shared.job_id, &setup.triggers).await {
            tracing::error!(
                "could not put the disabled triggers back: {e:#}; they are listed in the job's \
                 disabled_triggers, and `pgcopy jobs discard {}` restores them",
                shared.job_id
            );
        }
    }
    let mut summary = result?;
    summary.index_failures = index_failures?;
    if shared.interrupted.load(Ordering::SeqCst) {
        return Ok(summary);
    }
    if !shared.plan.large_objects.is_empty() {
        let done: std::collections::HashSet<i32> = setup
            .done_chunks
            .keys()
            .filter(|(schema, table, _)| {
                (schema.as_str(), table.as_str()) == pgcopy_core::plan::LARGE_OBJECTS
            })
            .map(|(_, _, chunk)| *chunk)
            .collect();
        match large_objects::copy(shared, &done, args.parallel as usize).await {
            Ok(copied) => summary.large_objects = copied.objects,
            Err(e) => {
                tracing::error!("{e:#}");
                summary.large_object_failure = Some(format!("{e:#}"));
            }
        }
    }
    reconnect_if_closed(dst, &shared.dest).await;
    if shared.replica {
        dst.batch_execute("SET session_replication_role = replica")
            .await?;
    }
    summary.matview_failures = finish(shared, src, dst, args, &summary).await?;
    Ok(summary)
}

/// Puts disabled triggers back in their modes and clears the job's record of
/// them, together. The list comes from the job's row, which members of its
/// creator may have changed: each trigger goes back as its table's owner, and
/// only when the job's creator could act as that owner (see
/// `pgcopy_core::stored::authorize`); one that may not is left disabled and
/// listed, and the error names it.
pub async fn enable_triggers(
    dst: &mut Client,
    store: &StateStore,
    job_id: i64,
    triggers: &[SavedTrigger],
) -> anyhow::Result<()> {
    let mut owners: std::collections::HashMap<QualifiedName, Result<String, String>> =
        std::collections::HashMap::new();
    let probe = pgcopy_core::stored::table_probe_sql(store.schema());
    let mut refused: Vec<SavedTrigger> = Vec::new();
    let mut refusals: Vec<String> = Vec::new();
    // In batches, each recording the triggers still disabled after it.
    let mut rest = triggers;
    while !rest.is_empty() {
        let (batch, after) = rest.split_at(rest.len().min(OBJECTS_PER_TRANSACTION));
        let tx = dst.transaction().await?;
        let mut role: Option<String> = None;
        for t in batch {
            if !owners.contains_key(&t.table) {
                let row = tx
                    .query_opt(&probe, &[&job_id, &t.table.schema, &t.table.name])
                    .await
                    .pg_context(|| format!("looking up {}", t.table.display_name()))?;
                let owner = match row {
                    None => Err(format!("table {} does not exist", t.table.display_name())),
                    Some(r) => {
                        let a = constraints::authority(&r, 0, job_id);
                        pgcopy_core::stored::authorize(&t.table, &a)
                            .map(|()| a.owner)
                            .map_err(|e| e.to_string())
                    }
                };
                owners.insert(t.table.clone(), owner);
            }
            match &owners[&t.table] {
                Ok(owner) => {
                    if role.as_deref() != Some(owner.as_str()) {
                        tx.batch_execute(&sql::set_local_role(owner)).await?;
                        role = Some(owner.clone());
                    }
                    tx.batch_execute(&t.restore_sql())
                        .await
                        .pg_context(|| format!("re-enabling trigger {}", t.display_name()))?;
                }
                Err(why) => {
                    refusals.push(format!("trigger {}: {why}", t.display_name()));
                    refused.push(t.clone());
                }
            }
        }
        if role.is_some() {
            tx.batch_execute(sql::RESET_ROLE).await?;
        }
        let mut left = refused.clone();
        left.extend_from_slice(after);
        let left = (!left.is_empty())
            .then(|| serde_json::to_value(&left))
            .transpose()?;
        store
            .set_disabled_triggers(&tx, job_id, left.as_ref())
            .await?;
        tx.commit().await?;
        rest = after;
    }
    if !refusals.is_empty() {
        return Err(UserError::failure(format!(
            "{} disabled triggers were not put back, and stay listed in job {job_id}'s disabled_triggers: {}",
            refusals.len(),
            refusals.join("; ")
        ))
        .into());
    }
    Ok(())
}

async fn load(
    shared: &Arc<Shared>,
    dst: &mut Client,
    args: &CopyArgs,
    summary: summary::RunSummary,
) -> anyhow::Result<summary::RunSummary> {
    let mut display = match crate::progress::detect(args.no_progress) {
        crate::progress::ProgressMode::Bar => {
            Some(crate::progress::Display::start(args.parallel as usize))
        }
        crate::progress::ProgressMode::Lines => None,
    };
    let result = load_rounds(shared, dst, args, summary, display.as_ref()).await;
    if let (Some(d), Ok(summary)) = (display.as_mut(), &result) {
        d.finish(
            &summary.snapshot(shared),
            shared.started.elapsed().as_secs_f64(),
        );
    }
    result
}

async fn load_rounds(
    shared: &Arc<Shared>,
    dst: &mut Client,
    args: &CopyArgs,
    mut summary: summary::RunSummary,
    display: Option<&crate::progress::Display>,
) -> anyhow::Result<summary::RunSummary> {
    for round in 0.. {
        summary = run_workers(shared, dst, args, summary, display).await?;
        if shared.interrupted.load(Ordering::SeqCst) || round == 3 {
            return Ok(summary);
        }
        // A commit acknowledged just before a destination crash can be lost
        // (synchronous_commit = off): its rows and its done mark vanish
        // together. Copy such chunks again.
        let lost = lost_chunks(shared, dst, &summary).await?;
        if lost.is_empty() {
            return Ok(summary);
        }
        tracing::warn!(
            "{} chunks committed before the destination restarted were lost by it (is synchronous_commit off?): \
             copying them again",
            lost.len()
        );
        let mut queue = shared.queue.lock().expect("lock");
        for unit in lost {
            summary.forget(unit.table, unit.chunk.index);
            shared.analyze.requeued(unit.table);
            queue.push_back(unit);
        }
    }
    Ok(summary)
}

/// Chunks this run counted as committed that the state does not show as done.
async fn lost_chunks(
    shared: &Shared,
    dst: &mut Client,
    summary: &summary::RunSummary,
) -> anyhow::Result<Vec<Unit>> {
    if !reconnect_if_closed(dst, &shared.dest).await {
        return Ok(Vec::new());
    }
    let done = shared.store.done_chunks(dst, shared.job_id).await?;
    let mut lost = Vec::new();
    for (i, t) in shared.plan.tables.iter().enumerate() {
        for c in &t.chunks {
            let key = (t.table.schema.clone(), t.table.name.clone(), c.index as i32);
            if summary.committed(i, c.index) && !done.contains_key(&key) {
                lost.push(Unit {
                    table: i,
                    chunk: *c,
                });
            }
        }
    }
    Ok(lost)
}

async fn run_workers(
    shared: &Arc<Shared>,
    dst: &mut Client,
    args: &CopyArgs,
    mut summary: summary::RunSummary,
    display: Option<&crate::progress::Display>,
) -> anyhow::Result<summary::RunSummary> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Outcome>();
    let mut handles = Vec::new();
    for id in 0..args.parallel as usize {
        let shared = Arc::clone(shared);
        let tx = tx.clone();
        handles.push(tokio::spawn(
            async move { worker::run(id, shared, tx).await },
        ));
    }
    drop(tx);

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut redraw = tokio::time::interval(Duration::from_millis(200));
    let mut last_report = Instant::now();
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            outcome = rx.recv() => {
                let Some(o) = outcome else { break };
                reconnect_if_closed(dst, &shared.dest).await;
                record_outcome(shared, dst, &mut summary, o).await;
            }
            _ = tick.tick() => {
                if reconnect_if_closed(dst, &shared.dest).await {
                    heartbeat(shared, dst).await;
                }
                if display.is_none() && last_report.elapsed() >= Duration::from_secs(5) {
                    last_report = Instant::now();
                    summary.report_progress(shared);
                }
            }
            _ = redraw.tick(), if display.is_some() => {
                if let Some(d) = display {
                    d.update(&summary.snapshot(shared), shared.started.elapsed().as_secs_f64());
                }
            }
            _ = tokio::signal::ctrl_c() => interrupt(shared).await,
            _ = sigterm.recv() => interrupt(shared).await,
        }
    }
    for h in handles {
        match h.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(e) => return Err(anyhow::anyhow!("a worker crashed: {e}")),
        }
    }
    Ok(summary)
}

async fn interrupt(shared: &Arc<Shared>) {
    if shared.interrupted.swap(true, Ordering::SeqCst) {
        return;
    }
    tracing::warn!("interrupted: stopping the workers, then restoring what was dropped");
    let handles: Vec<_> = shared
        .cancel_handles
        .lock()
        .expect("lock")
        .iter()
        .flatten()
        .cloned()
        .collect();
    for handle in handles {
        handle.cancel().await;
    }
}

async fn record_outcome(
    shared: &Shared,
    dst: &Client,
    summary: &mut summary::RunSummary,
    o: Outcome,
) {
    let spec = &shared.plan.tables[o.unit.table];
    let t = &spec.table;
    if let Some(err) = &o.error {
        if !shared.interrupted.load(Ordering::SeqCst) {
            tracing::error!(
                "table {} chunk {}: {err}",
                t.display_name(),
                o.unit.chunk.index
            );
        }
        let _ = shared
            .store
            .mark_chunk_failed(
                dst,
                crate::state::ChunkKey {
                    job_id: shared.job_id,
                    schema: &t.schema,
                    table: &t.name,
                    chunk: o.unit.chunk.index as i32,
                },
                err,
            )
            .await;
    }
    if let Some(done) = summary.add(&o) {
        // A table of one chunk was marked done in the chunk's transaction.
        if spec.is_split() {
            let _ = shared
                .store
                .set_table_state(dst, shared.job_id, &t.schema, &t.name, "done", None)
                .await;
        }
        tracing::info!(
            "copied {} ({} rows, {}, {:.1} s)",
            t.display_name(),
            done.rows,
            summary::human_bytes(done.bytes),
            done.secs
        );
    }
}

async fn heartbeat(shared: &Shared, dst: &Client) {
    let workers: Vec<serde_json::Value> = shared
        .live
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let table = w.table.load(Ordering::Relaxed);
            let spec = shared.plan.tables.get(table);
            serde_json::json!({
                "worker": i,
                "schema": spec.map(|s| s.table.schema.clone()),
                "table": spec.map(|s| s.table.name.clone()),
                "chunk": spec.map(|_| w.chunk.load(Ordering::Relaxed)),
                "rows": if spec.is_some() { w.rows.load(Ordering::Relaxed) } else { 0 },
                "bytes": if spec.is_some() { w.bytes.load(Ordering::Relaxed) } else { 0 },
                "secs": (shared.started.elapsed().as_millis() as u64)
                    .saturating_sub(w.started_ms.load(Ordering::Relaxed)) as f64 / 1000.0,
            })
        })
        .collect();
    if let Err(e) = shared
        .store
        .heartbeat(dst, shared.job_id, &serde_json::Value::Array(workers))
        .await
    {
        tracing::debug!("heartbeat failed: {e:#}");
    }
}

/// What to do about a failed REFRESH MATERIALIZED VIEW. A name that does not
/// resolve is the usual cause: PostgreSQL 17 and later refresh with
/// `search_path = pg_catalog, pg_temp` whoever runs it (and pgcopy's sessions
/// pin the same path), so what the view's query calls must name its objects
/// with their schema; REFRESH by hand would fail the same way.
fn refresh_hint(e: &tokio_postgres::Error) -> &'static str {
    use tokio_postgres::error::SqlState;
    match e.code() {
        Some(c)
            if *c == SqlState::UNDEFINED_TABLE
                || *c == SqlState::UNDEFINED_FUNCTION
                || *c == SqlState::UNDEFINED_OBJECT =>
        {
            "a name in the view's query, or in a function it calls, is written without its schema, and \
             refreshes run with search_path = pg_catalog, pg_temp (as PostgreSQL 17 and later always do): \
             write the schema into those names (or give the function SET search_path), then run REFRESH \
             MATERIALIZED VIEW"
        }
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => {
            "the view's owner lacks a right its query needs: grant it, then run REFRESH MATERIALIZED VIEW"
        }
        _ => "fix the cause above, then run REFRESH MATERIALIZED VIEW on it",
    }
}

/// A sequence as [`read_sequence`] reads it.
struct SequenceState {
    oid: u32,
    increment: i64,
    last: i64,
    called: bool,
}

/// The sequence under the name `seq`, read by its OID once the name proved
/// to lead to a sequence (`sql::SEQUENCE_PROBE`, which also locks it); from
/// its catalog when `nextval` was called, else from the sequence itself,
/// by a read that finds nothing unless the name still leads to it
/// (`sql::read_sequence`). Another role that put a view calling its code in
/// the sequence's place gets nothing run.
async fn read_sequence(conn: &Client, seq: &QualifiedName) -> Result<SequenceState, String> {
    let probe = conn
        .query_opt(sql::SEQUENCE_PROBE, &[&seq.to_string()])
        .await
        .map_err(|e| pg_message(&e))?;
    let Some(row) = probe else {
        return Err("it no longer exists".into());
    };
    let (oid, is_sequence, increment, last): (u32, bool, Option<i64>, Option<i64>) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    if !is_sequence {
        return Err("the name now leads to something that is not a sequence".into());
    }
    let increment = increment.unwrap_or(1);
    if let Some(last) = last {
        return Ok(SequenceState {
            oid,
            increment,
            last,
            called: true,
        });
    }
    let row = conn
        .query_opt(&sql::read_sequence(seq, oid), &[])
        .await
        .map_err(|e| pg_message(&e))?
        .ok_or_else(|| {
            "the name no longer leads to the sequence it led to a moment before".to_string()
        })?;
    Ok(SequenceState {
        oid,
        increment,
        last: row.get(0),
        called: row.get(1),
    })
}

/// After the data: sequences, materialized views, ANALYZE; returns the
/// materialized views that could not be refreshed, each with why.
async fn finish(
    shared: &Shared,
    src: &Client,
    dst: &Client,
    args: &CopyArgs,
    summary: &summary::RunSummary,
) -> anyhow::Result<Vec<String>> {
    let plan = &shared.plan;
    // Sequence values are read at the end of the copy, after its rows.
    for s in &plan.sequences {
        let source = match read_sequence(src, &s.sequence).await {
            Ok(state) => state,
            Err(why) => {
                // The snapshot transaction may be aborted now; later reads
                // would fail too.
                return Err(UserError::failure(format!(
                    "could not read sequence {} on the source: {why}",
                    s.sequence.display_name()
                ))
                .into());
            }
        };
        let dest = read_sequence(dst, &s.sequence)
            .await
            .map_err(|why| anyhow::anyhow!("sequence {}: {why}", s.sequence.display_name()))?;
        // A sequence a table the copy leaves alone also uses only moves
        // forward.
        if s.only_forward
            && !sql::sequence_ahead(
                dest.increment,
                source.last,
                source.called,
                dest.last,
                dest.called,
            )
        {
            continue;
        }
        dst.batch_execute(&sql::set_sequence(dest.oid, source.last, source.called))
            .await
            .pg_context(|| format!("setting sequence {}", s.sequence.display_name()))?;
    }
    if !plan.sequences.is_empty() {
        tracing::info!("set {} sequences", plan.sequences.len());
    }
    let mut matview_failures = Vec::new();
    for m in &plan.matviews {
        match dst.batch_execute(&sql::refresh_matview(m)).await {
            Ok(()) => tracing::info!("refreshed materialized view {}", m.display_name()),
            Err(e) => {
                let why = format!(
                    "{}: {}; {}",
                    m.display_name(),
                    pg_message(&e),
                    refresh_hint(&e)
                );
                tracing::error!("could not refresh materialized view {why}");
                matview_failures.push(why);
            }
        }
    }
    if !args.no_analyze {
        let rest =
            plan.analyze_after_load(|i| summary.table_ok(i), |i| shared.analyze.is_analyzed(i));
        let early = plan
            .tables
            .iter()
            .enumerate()
            .filter(|(i, _)| shared.analyze.is_analyzed(*i))
            .count();
        if !rest.is_empty() {
            let started = Instant::now();
            let mut failed = 0;
            if let Err(e) = dst.batch_execute(&sql::analyze(&rest)).await {
                tracing::debug!(
                    "ANALYZE of {} tables failed: {}",
                    rest.len(),
                    pg_message(&e)
                );
                failed = analyze_one_by_one(dst, plan, &rest).await;
            }
            tracing::info!(
                "analyzed {} tables after the load in {:.1} s ({early} during it)",
                rest.len() - failed,
                started.elapsed().as_secs_f64()
            );
        } else if early > 0 {
            tracing::info!("analyzed {early} tables during the load");
        }
    }
    Ok(matview_failures)
}

/// After a combined ANALYZE failed: each table alone, so one failure costs
/// only its own statistics. A partitioned table that cannot be analyzed
/// through its root (a foreign partition without a user mapping is sampled
/// too) gets its copied partitions analyzed instead. The data is in either
/// way, so a failure is a warning, not the run's. Returns how many tables got
/// no statistics at all.
async fn analyze_one_by_one(dst: &Client, plan: &Plan, tables: &[QualifiedName]) -> usize {
    let mut failed = 0;
    for t in tables {
        let Err(e) = dst.batch_execute(&sql::analyze([t])).await else {
            continue;
        };
        let partitions: Vec<&QualifiedName> = plan
            .tables
            .iter()
            .filter(|s| s.partition_of.as_ref() == Some(t))
            .map(|s| &s.table)
            .collect();
        let first = pg_message(&e);
        let fallback = match partitions.is_empty() {
            true => Some(first.clone()),
            false => dst
                .batch_execute(&sql::analyze(partitions))
                .await
                .err()
                .map(|f| pg_message(&f)),
        };
        match fallback {
            None => tracing::warn!(
                "could not analyze {} through its partitions' root ({}); analyzed its copied partitions instead",
                t.display_name(),
                first
            ),
            Some(f) => {
                failed += 1;
                tracing::warn!(
                    "could not analyze {}: {f}; run ANALYZE on it once that is fixed",
                    t.display_name()
                )
            }
        }
    }
    failed
}
