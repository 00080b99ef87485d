//! The load: workers take chunks from the queue, the coordinator records
//! their outcomes, beats the job's heartbeat, and copies again what a
//! crash lost.

use crate::engine::config::RunOptions;
use crate::engine::shared::{reconnect_if_closed, Outcome, Shared, Unit};
use crate::engine::steps::{analyze, foreign_keys, indexes};
use crate::engine::summary;
use crate::lock::Locked;
use pgcopy_core::states::Phase;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_postgres::Client;

pub mod worker;

pub async fn load(
    shared: &Arc<Shared>,
    dst: &mut Client,
    opts: &RunOptions,
    display: Option<&crate::progress::Display>,
    summary: summary::RunSummary,
) -> anyhow::Result<summary::RunSummary> {
    let result = load_rounds(shared, dst, opts, summary, display).await;
    if let (Some(d), Ok(summary)) = (display, &result) {
        d.update(
            &summary.snapshot(shared),
            shared.started.elapsed().as_secs_f64(),
        );
    }
    result
}

async fn load_rounds(
    shared: &Arc<Shared>,
    dst: &mut Client,
    opts: &RunOptions,
    mut summary: summary::RunSummary,
    display: Option<&crate::progress::Display>,
) -> anyhow::Result<summary::RunSummary> {
    for round in 0.. {
        summary = run_workers(shared, dst, opts, summary, display).await?;
        if crate::stop::requested() || round == 3 {
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
        let mut queue = shared.queue.locked();
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

/// Runs the workers over the queue, beside the tasks that take their
/// tables on (ANALYZE, index builds, the keys), while this task records
/// what they did; returns once all of them are over.
async fn run_workers(
    shared: &Arc<Shared>,
    dst: &mut Client,
    opts: &RunOptions,
    summary: summary::RunSummary,
    display: Option<&crate::progress::Display>,
) -> anyhow::Result<summary::RunSummary> {
    let (tx, rx) = mpsc::unbounded_channel::<Outcome>();
    let (handoffs, beside) = start_beside(shared);
    let mut handles = Vec::new();
    for id in 0..opts.parallel {
        let shared = Arc::clone(shared);
        let (tx, handoffs) = (tx.clone(), handoffs.clone());
        handles.push(tokio::spawn(async move {
            worker::run(id, shared, tx, handoffs).await
        }));
    }
    drop((tx, handoffs));
    let summary = coordinate(shared, dst, rx, summary, display).await;
    for h in handles {
        match h.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(e) => return Err(anyhow::anyhow!("a worker crashed: {e}")),
        }
    }
    beside.wind_down(shared, dst).await;
    Ok(summary)
}

/// The tasks that take on the tables the workers hand over.
struct Beside {
    analyzer: tokio::task::JoinHandle<()>,
    builder: tokio::task::JoinHandle<()>,
    early_keys: tokio::task::JoinHandle<()>,
}

/// Starts the analyzer, the index builder and the early restore of the
/// keys, and returns the workers' ends of their channels.
fn start_beside(shared: &Arc<Shared>) -> (worker::Handoffs, Beside) {
    let (keys, keys_ready) = mpsc::unbounded_channel::<crate::engine::tables_done::KeyNews>();
    let early_keys = tokio::spawn(foreign_keys::early(Arc::clone(shared), keys_ready));
    let (ready, to_analyze) = mpsc::unbounded_channel::<usize>();
    let analyzer = tokio::spawn(analyze::analyzer(
        Arc::clone(shared),
        to_analyze,
        keys.clone(),
    ));
    let (loaded, to_build) = mpsc::unbounded_channel::<usize>();
    let builder = tokio::spawn(indexes::builder(Arc::clone(shared), to_build, keys.clone()));
    let handoffs = worker::Handoffs {
        analyze: ready,
        build: loaded,
        keys,
    };
    (
        handoffs,
        Beside {
            analyzer,
            builder,
            early_keys,
        },
    )
}

/// Records each outcome the workers send, beats the heartbeat, draws the
/// progress and passes a stop on, until every worker has hung up.
async fn coordinate(
    shared: &Arc<Shared>,
    dst: &mut Client,
    mut rx: mpsc::UnboundedReceiver<Outcome>,
    mut summary: summary::RunSummary,
    display: Option<&crate::progress::Display>,
) -> summary::RunSummary {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut redraw = tokio::time::interval(Duration::from_millis(200));
    let mut last_report = Instant::now();
    let mut cancelled = false;
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
            _ = crate::stop::wait(), if !cancelled => {
                cancelled = true;
                interrupt(shared).await;
            }
        }
    }
    summary
}

impl Beside {
    /// Waits for the tasks beside the workers, which end once the workers
    /// (their senders) are gone and what they started is over; the phase
    /// moves on to what is still running. What a task that crashed did not
    /// do is done after the load.
    async fn wind_down(self, shared: &Arc<Shared>, dst: &mut Client) {
        if self.analyzer.await.is_err() {
            tracing::debug!(
                "the analyzer crashed: what it did not analyze is analyzed after the load"
            );
        }
        // Every row is in by now: what is left running is index builds.
        if !self.builder.is_finished() && !crate::stop::requested() {
            reconnect_if_closed(dst, &shared.dest).await;
            shared
                .enter(dst, Phase::Indexes, shared.builds.deferred())
                .await;
            shared
                .after
                .counter()
                .fetch_add(shared.builds.built(), Ordering::Relaxed);
        }
        if self.builder.await.is_err() {
            tracing::debug!(
                "the index builder crashed: what it did not rebuild is rebuilt after the load"
            );
        }
        // The builder's sender gone too, the early restore of the keys ends
        // once what it started is over.
        if !self.early_keys.is_finished() && !crate::stop::requested() {
            shared.after.begin(Phase::ForeignKeys, 0);
        }
        if self.early_keys.await.is_err() {
            tracing::debug!(
                "the early restore of the foreign keys crashed: they are restored after the load"
            );
        }
    }
}

/// Cancels what the workers run: a stop was asked (`crate::stop`).
async fn interrupt(shared: &Arc<Shared>) {
    let handles: Vec<_> = shared
        .cancel_handles
        .locked()
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
        if !crate::stop::requested() {
            tracing::error!(
                "table {} chunk {}: {err}",
                t.display_name(),
                o.unit.chunk.index
            );
        }
        crate::state::log_failed_write(
            shared
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
                .await,
            "a failed chunk",
        );
    }
    if let Some(done) = summary.add(&o) {
        // A table of one chunk was marked done in the chunk's transaction.
        if spec.is_split() {
            crate::state::log_failed_write(
                shared
                    .store
                    .set_table_state(
                        dst,
                        shared.job_id,
                        &t.schema,
                        &t.name,
                        pgcopy_core::states::TableState::Done,
                        None,
                    )
                    .await,
                "a table's end",
            );
        }
        tracing::info!(
            "copied {} ({} rows, {}, {:.1} s)",
            t.display_name(),
            done.rows,
            crate::format::human_bytes(done.bytes),
            done.secs
        );
    }
}

async fn heartbeat(shared: &Shared, dst: &Client) {
    let workers: Vec<crate::state::WorkerPosition> = shared
        .live
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let table = w.table.load(Ordering::Relaxed);
            let spec = shared.plan.tables.get(table);
            let busy = spec.is_some();
            crate::state::WorkerPosition {
                worker: i as i32,
                table: spec.map(|s| &s.table),
                chunk: spec.map(|_| w.chunk.load(Ordering::Relaxed) as i32),
                rows: if busy {
                    w.rows.load(Ordering::Relaxed) as i64
                } else {
                    0
                },
                bytes: if busy {
                    w.bytes.load(Ordering::Relaxed) as i64
                } else {
                    0
                },
                secs: (shared.started.elapsed().as_millis() as u64)
                    .saturating_sub(w.started_ms.load(Ordering::Relaxed))
                    as f64
                    / 1000.0,
            }
        })
        .collect();
    if let Err(e) = shared.store.heartbeat(dst, shared.job_id, &workers).await {
        tracing::debug!("heartbeat failed: {e:#}");
    }
}
