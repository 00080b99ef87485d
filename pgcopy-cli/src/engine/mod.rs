//! `pgcopy copy`: connect, introspect, plan, preflight, record the job, take one
//! source snapshot, stream every chunk through the workers, then set sequences,
//! re-enable triggers, refresh materialized views, analyze, and summarize.
//!
//! Nothing on the destination changes before preflight has passed; `--dry-run`
//! stops right after it.

mod summary;
pub mod worker;

use crate::cli::CopyArgs;
use crate::connect::{connection_string, Endpoint};
use crate::constraints;
use crate::error::{pg_message, PgContext, UserError};
use crate::exit;
use crate::introspect;
use crate::state::{StateSchemaStatus, StateStore};
use pgcopy_core::catalog::Catalog;
use pgcopy_core::catalog::ForeignKey;
use pgcopy_core::chunk::ChunkRange;
use pgcopy_core::plan::{plan, FkStrategy, Plan, PlanOptions};
use pgcopy_core::preflight::{check_fk_rights, check_tables};
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::sql;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_postgres::Client;
use worker::WorkerLive;

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
    /// Snapshot exported by the coordinator.
    pub snapshot: String,
    /// State store on the destination.
    pub store: StateStore,
    /// This run's job id.
    pub job_id: i64,
    /// Units not taken yet.
    pub queue: Mutex<VecDeque<Unit>>,
    /// Destination sessions run in replica mode.
    pub replica: bool,
    /// Rows between live progress updates.
    pub batch_size: u64,
    /// Set on Ctrl-C/SIGTERM.
    pub interrupted: AtomicBool,
    /// Per-worker live counters.
    pub live: Vec<WorkerLive>,
    /// Cancel handles of every worker connection.
    pub cancel_tokens: Mutex<Vec<(Endpoint, tokio_postgres::CancelToken)>>,
    /// When the copy started.
    pub started: Instant,
}

/// Runs `pgcopy copy`; returns the exit code.
pub async fn run(args: CopyArgs) -> anyhow::Result<i32> {
    if args.resume {
        return Err(UserError::usage(
            "--resume is not available in this version yet: start a new copy without it",
        )
        .into());
    }
    if args.json && !args.dry_run {
        return Err(UserError::usage("--json goes with --dry-run").into());
    }
    let source = Endpoint::resolve(
        "source",
        &connection_string(
            "source",
            "--source",
            args.source.source.as_deref(),
            "--source-file",
            args.source.source_file.as_deref(),
            "PGCOPY_SOURCE",
        )?,
    )?;
    let dest = Endpoint::resolve(
        "destination",
        &connection_string(
            "destination",
            "--dest",
            args.dest.dest.as_deref(),
            "--dest-file",
            args.dest.dest_file.as_deref(),
            "PGCOPY_DEST",
        )?,
    )?;
    let opts = PlanOptions {
        split_larger_than: args.split_larger_than,
        skip_schemas: vec![args.state_schema.clone()],
        allow_empty_match: args.allow_empty_match,
        ..PlanOptions::default()
    }
    .with_patterns(
        args.include_tables.as_deref(),
        args.exclude_tables.as_deref(),
    )
    .map_err(|e| UserError::usage(e.to_string()))?;

    // Connect both sides first, so a bad URL fails before anything else.
    let (src, dst) = tokio::join!(source.connect("coordinator"), dest.connect("coordinator"));
    let src = src?;
    let mut dst = dst?;

    // The snapshot every worker imports; the catalog is read inside it too.
    src.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .pg_context(|| "starting the source transaction".into())?;
    let snapshot: String = src
        .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
        .await
        .pg_context(|| "exporting the source snapshot".into())?
        .get(0);
    let src_catalog = introspect::read_catalog(&src, "source").await?;
    let dst_catalog = introspect::read_catalog(&dst, "destination").await?;
    let block_size = introspect::block_size(&src).await?;

    // Replica mode if this role may set it: try it, don't guess from attributes.
    let replica = dst
        .batch_execute("SET session_replication_role = replica; RESET session_replication_role")
        .await
        .is_ok();
    let strategy = if replica {
        FkStrategy::Replica
    } else {
        FkStrategy::Drop
    };
    // The FKs to drop are the destination's own (their exact definitions are
    // what gets restored), selected by the same rules.
    let dest_plan = plan(
        &dst_catalog,
        &PlanOptions {
            fk_strategy: strategy,
            block_size,
            allow_empty_match: true,
            ..opts.clone()
        },
    )
    .map_err(|e| UserError::usage(e.to_string()))?;
    let fks_to_drop: Vec<ForeignKey> = dest_plan.dropped_fks().map(|f| f.fk.clone()).collect();
    let plan = plan(
        &src_catalog,
        &PlanOptions {
            fk_strategy: strategy,
            block_size,
            ..opts
        },
    )
    .map_err(|e| UserError::usage(e.to_string()))?;

    let store = StateStore::new(&args.state_schema);
    let trigger_tables = preflight(
        &args,
        &plan,
        &src_catalog,
        &dst_catalog,
        &fks_to_drop,
        replica,
        &store,
        &dst,
    )
    .await?;

    if args.dry_run {
        summary::print_plan(&plan, &source, &dest, replica, args.json)?;
        return Ok(exit::OK);
    }

    // From here on the destination changes.
    if store.inspect(&dst).await? == StateSchemaStatus::Creatable {
        store.create(&mut dst).await?;
        tracing::info!(
            "created the state schema {:?} on the destination",
            args.state_schema
        );
    }
    let options = serde_json::json!({
        "parallel": args.parallel,
        "batch_size": args.batch_size,
        "include_tables": args.include_tables,
        "exclude_tables": args.exclude_tables,
        "split_larger_than": args.split_larger_than,
        "analyze": !args.no_analyze,
        "fire_triggers": args.fire_triggers,
    });
    let job_id = store
        .create_job(
            &mut dst,
            &plan,
            &source.redacted(),
            &dest.redacted(),
            &options,
            &snapshot,
        )
        .await?;
    tracing::info!(
        "job {job_id}: copying {} tables ({} chunks, {} estimated) with {} workers, foreign keys: {}",
        plan.tables.len(),
        plan.total_chunks(),
        summary::human_bytes(plan.total_bytes()),
        args.parallel,
        match (replica, fks_to_drop.len()) {
            (true, 0) => "replica mode (session_replication_role)".to_string(),
            (true, n) => format!("replica mode, and {n} from tables not copied dropped and restored"),
            (false, n) => format!("drop mode: {n} saved, dropped and restored"),
        }
    );
    let fk_refs: Vec<&ForeignKey> = fks_to_drop.iter().collect();
    if let Err(e) = constraints::save_and_drop(&mut dst, &store, job_id, &fk_refs).await {
        let _ = store
            .finish_job(&dst, job_id, "failed", Some(&format!("{e:#}")))
            .await;
        return Err(e);
    }
    crate::failpoint::hit("after-drop-fks").await;

    let shared = Arc::new(Shared {
        queue: Mutex::new(units(&plan)),
        live: (0..args.parallel).map(|_| WorkerLive::default()).collect(),
        plan,
        source: source.clone(),
        dest: dest.clone(),
        snapshot,
        store: store.clone(),
        job_id,
        replica,
        batch_size: args.batch_size,
        interrupted: AtomicBool::new(false),
        cancel_tokens: Mutex::new(Vec::new()),
        started: Instant::now(),
    });

    let result = copy_data(&shared, &src, &dst, &trigger_tables, &args).await;
    let restore = restore_fks(&mut dst, &store, job_id, &dest, fks_to_drop.len()).await;
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
        (Ok(summary), Ok(bad)) if summary.failed() > 0 || !bad.is_empty() => {
            let mut why = Vec::new();
            if summary.failed() > 0 {
                why.push(format!("{} tables failed", summary.failed()));
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
    if dst.is_closed() {
        tracing::warn!("the destination connection was lost: job {job_id} stays marked running");
    } else if let Err(e) = store
        .finish_job(&dst, job_id, state, error.as_deref())
        .await
    {
        tracing::warn!("could not record the end of job {job_id}: {e:#}");
    }
    let _ = src.batch_execute("COMMIT").await;
    if let (Err(_), Err(e)) = (&result, &restore) {
        tracing::error!("{e:#}");
    }
    result?;
    restore?;
    if code == exit::PARTIAL {
        eprintln!("error: {}", error.unwrap_or_default());
    }
    Ok(code)
}

/// Restores the job's dropped FKs; returns those not back as they were. A second
/// Ctrl-C stops restoring, leaving the rest saved.
async fn restore_fks(
    dst: &mut Client,
    store: &StateStore,
    job_id: i64,
    dest: &Endpoint,
    dropped: usize,
) -> anyhow::Result<Vec<constraints::RestoreOutcome>> {
    if dropped == 0 {
        return Ok(Vec::new());
    }
    if dst.is_closed() {
        *dst = dest.connect("restore").await?;
    }
    let started = Instant::now();
    let outcomes = tokio::select! {
        r = constraints::restore(dst, store, Some(job_id)) => r?,
        _ = tokio::signal::ctrl_c() => {
            return Err(UserError::failure(format!(
                "restoring foreign keys was stopped; the rest stay saved in {}.saved_fks: \
                 run `pgcopy restore-fks --dest ...` or SELECT * FROM pgcopy.restore_fks()",
                store.schema()
            )).into());
        }
    };
    let bad: Vec<_> = outcomes.into_iter().filter(|o| !o.is_ok()).collect();
    tracing::info!(
        "restored {} foreign keys in {:.1} s{}",
        dropped - bad.len(),
        started.elapsed().as_secs_f64(),
        if bad.is_empty() {
            String::new()
        } else {
            format!(", {} not as before (see above)", bad.len())
        }
    );
    Ok(bad)
}

/// Every unit, largest tables first, chunks in order within a table.
fn units(plan: &Plan) -> VecDeque<Unit> {
    plan.tables
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            t.chunks.iter().map(move |c| Unit {
                table: i,
                chunk: *c,
            })
        })
        .collect()
}

/// Checks everything that can be checked before the destination is touched; all
/// problems are reported together. Returns the tables whose user triggers must
/// be disabled for the load.
#[allow(clippy::too_many_arguments)]
async fn preflight(
    args: &CopyArgs,
    plan: &Plan,
    src_catalog: &Catalog,
    dst_catalog: &Catalog,
    fks_to_drop: &[ForeignKey],
    replica: bool,
    store: &StateStore,
    dst: &Client,
) -> anyhow::Result<Vec<QualifiedName>> {
    let mut problems: Vec<String> = check_tables(plan, src_catalog, dst_catalog)
        .iter()
        .map(|p| p.to_string())
        .collect();

    problems.extend(
        check_fk_rights(fks_to_drop, dst_catalog)
            .iter()
            .map(|p| p.to_string()),
    );

    let mut trigger_tables = Vec::new();
    if !replica {
        for spec in &plan.tables {
            let Some(t) = dst_catalog.table(&spec.table) else {
                continue;
            };
            if !t.has_user_triggers {
                continue;
            }
            if t.is_owner {
                trigger_tables.push(t.name.clone());
            } else if !args.fire_triggers {
                problems.push(format!(
                    "table {} has user triggers that would fire during the load, and this role can neither \
                     disable them (it must own the table) nor use replica mode: pass --fire-triggers to \
                     let them fire, or run as the owner",
                    t.name.display_name()
                ));
            }
        }
    }

    if !args.dry_run {
        match store.inspect(dst).await {
            Ok(StateSchemaStatus::Ready { .. }) => {
                let pending = store.pending_fk_count(dst).await?;
                if pending > 0 {
                    problems.push(format!(
                        "{pending} foreign key(s) dropped by an earlier job are not restored yet: \
                         restore them first (SELECT * FROM {}.restore_fks())",
                        args.state_schema
                    ));
                }
                for (job, state) in store.unfinished_jobs(dst).await? {
                    if state == "running" {
                        tracing::warn!("job {job} on the destination is still marked running (another pgcopy, or one that died)");
                    }
                }
            }
            Ok(StateSchemaStatus::Creatable) => {}
            Err(e) => problems.push(format!("{e:#}")),
        }
    }

    if problems.is_empty() {
        return Ok(trigger_tables);
    }
    let mut msg = if problems.len() == 1 {
        format!("preflight failed, nothing was changed: {}", problems[0])
    } else {
        format!(
            "preflight found {} problems, nothing was changed:",
            problems.len()
        )
    };
    if problems.len() > 1 {
        for p in &problems {
            msg.push_str("\n  - ");
            msg.push_str(p);
        }
    }
    Err(UserError::failure(msg).into())
}

/// The part of the run that changes the destination.
async fn copy_data(
    shared: &Arc<Shared>,
    src: &Client,
    dst: &Client,
    trigger_tables: &[QualifiedName],
    args: &CopyArgs,
) -> anyhow::Result<summary::RunSummary> {
    if shared.replica {
        dst.batch_execute("SET session_replication_role = replica")
            .await?;
    }
    for t in trigger_tables {
        dst.batch_execute(&sql::set_user_triggers(t, false))
            .await
            .pg_context(|| format!("disabling user triggers on {}", t.display_name()))?;
        tracing::info!(
            "disabled user triggers on {} for the load",
            t.display_name()
        );
    }
    let result = load(shared, dst, args).await;
    // Triggers come back whatever happened.
    for t in trigger_tables {
        if let Err(e) = dst.batch_execute(&sql::set_user_triggers(t, true)).await {
            tracing::error!(
                "could not re-enable user triggers on {}: {}; run ALTER TABLE {} ENABLE TRIGGER USER",
                t.display_name(),
                pg_message(&e),
                t
            );
        }
    }
    let summary = result?;
    if shared.interrupted.load(Ordering::SeqCst) {
        return Ok(summary);
    }
    finish(shared, src, dst, args, &summary).await?;
    Ok(summary)
}

async fn load(
    shared: &Arc<Shared>,
    dst: &Client,
    args: &CopyArgs,
) -> anyhow::Result<summary::RunSummary> {
    let plan = &shared.plan;
    // Tables referenced by FKs can only be truncated together with the tables
    // referencing them, and split tables are loaded by several transactions:
    // both are truncated up front, in one statement.
    if !plan.truncate_together.is_empty() {
        dst.batch_execute(&sql::truncate(&plan.truncate_together))
            .await
            .pg_context(|| "truncating the destination tables".into())?;
    }

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

    let mut summary = summary::RunSummary::new(plan);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_report = Instant::now();
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            outcome = rx.recv() => {
                let Some(o) = outcome else { break };
                record_outcome(shared, dst, &mut summary, o).await;
            }
            _ = tick.tick() => {
                heartbeat(shared, dst).await;
                if last_report.elapsed() >= Duration::from_secs(5) {
                    last_report = Instant::now();
                    summary.report_progress(shared);
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
    tracing::warn!("interrupted: stopping the workers");
    let tokens: Vec<_> = shared.cancel_tokens.lock().expect("lock").clone();
    for (ep, token) in tokens {
        ep.cancel(&token).await;
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
        let _ = shared
            .store
            .set_table_state(dst, shared.job_id, &t.schema, &t.name, "done", None)
            .await;
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

/// After the data: sequences, materialized views, ANALYZE.
async fn finish(
    shared: &Shared,
    src: &Client,
    dst: &Client,
    args: &CopyArgs,
    summary: &summary::RunSummary,
) -> anyhow::Result<()> {
    let plan = &shared.plan;
    // Sequence values are read in the snapshot, so they match the rows copied.
    for s in &plan.sequences {
        let row = match src.query_one(&sql::read_sequence(&s.sequence), &[]).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(
                    "could not read sequence {}: {}",
                    s.sequence.display_name(),
                    pg_message(&e)
                );
                // The snapshot transaction is aborted now; later reads would fail too.
                return Err(UserError::failure(format!(
                    "could not read sequence {} on the source: {}",
                    s.sequence.display_name(),
                    pg_message(&e)
                ))
                .into());
            }
        };
        let last: i64 = row.get(0);
        let called: bool = row.get(1);
        dst.batch_execute(&sql::set_sequence(&s.sequence, last, called))
            .await
            .pg_context(|| format!("setting sequence {}", s.sequence.display_name()))?;
    }
    if !plan.sequences.is_empty() {
        tracing::info!("set {} sequences", plan.sequences.len());
    }
    for m in &plan.matviews {
        match dst.batch_execute(&sql::refresh_matview(m)).await {
            Ok(()) => tracing::info!("refreshed materialized view {}", m.display_name()),
            Err(e) => tracing::warn!(
                "could not refresh materialized view {}: {}; run REFRESH MATERIALIZED VIEW as its owner",
                m.display_name(),
                pg_message(&e)
            ),
        }
    }
    if !args.no_analyze {
        let mut copied: Vec<&QualifiedName> = plan
            .tables
            .iter()
            .filter(|t| summary.table_ok(&t.table))
            .map(|t| &t.table)
            .collect();
        let mut roots: Vec<&QualifiedName> = plan
            .tables
            .iter()
            .filter_map(|t| t.partition_of.as_ref())
            .collect();
        roots.sort();
        roots.dedup();
        copied.extend(roots);
        if !copied.is_empty() {
            let started = Instant::now();
            dst.batch_execute(&sql::analyze(copied.iter().copied()))
                .await
                .pg_context(|| "analyzing the copied tables".into())?;
            tracing::info!(
                "analyzed {} tables in {:.1} s",
                copied.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

pub use summary::human_bytes;
