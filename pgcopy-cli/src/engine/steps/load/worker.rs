//! A copy worker: one source connection inside the shared snapshot, one
//! destination connection, taking chunks from the queue until it is empty.
//!
//! Each chunk is one destination transaction: `COPY ... FROM STDIN` fed with the
//! raw bytes of the source's `COPY ... TO STDOUT (FORMAT binary)`, the chunk's
//! state row marked done, then COMMIT, so the state never claims rows that are
//! not there. The bytes are forwarded, never parsed: the source session's
//! socket counts its CopyData messages for live progress, and the server's own
//! `COPY n` is checked against what the destination wrote.

use crate::connect::Session;
use crate::engine::shared::{Outcome, Shared, Unit};
use crate::error::{pg_message, UserError};
use crate::lock::Locked;
use crate::state::ChunkKey;
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use pgcopy_core::sql;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_postgres::Client;

mod chunk;
mod flight;
mod opening;
mod pipe;
use chunk::copy_unit;

/// Bytes gathered from the source before one write to the destination.
const FORWARD_BATCH: usize = 64 * 1024;

/// Chunks a source transaction copies before it ends and imports the snapshot
/// again in a new one: each table read keeps its lock until the transaction
/// ends, and the server's lock table (`max_locks_per_transaction` times the
/// connections, 6,400 by default) is shared by every session. Copying 10,000
/// tables in one transaction per worker ran out of it.
const CHUNKS_PER_SOURCE_TRANSACTION: u32 = 500;

/// Units whose statements a worker keeps before closing them together.
const RETIRE_AFTER: usize = 32;

struct Conns {
    /// The source session: its socket also counts the rows read.
    src: Session,
    /// Chunks copied in the source's current snapshot transaction.
    src_chunks: u32,
    dst: Client,
    /// The destination's prepared `sql::load_guard`, for tables other roles
    /// own; prepared, so its execution goes out before the COPY's.
    guard: tokio_postgres::Statement,
    /// The next unit's two COPY statements, prepared while the last unit
    /// ended (a COPY given as text costs a round trip to prepare first).
    prepared: Option<PreparedCopy>,
    /// Statements of units done, closed together once there are
    /// [`RETIRE_AFTER`] of them: a Close is answered on its own, and each
    /// answer wakes the client, so closing one per unit cost a wake-up on
    /// each side.
    retired: Vec<PreparedCopy>,
    /// The destination session counts inserted rows (`track_counts`), so
    /// a load's count may be checked on the server.
    track_counts: bool,
}

/// A unit's COPY statements, prepared ahead on each side.
struct PreparedCopy {
    /// Table index and chunk index of the unit.
    unit: (usize, u32),
    /// `COPY ... FROM STDIN` on the destination.
    copy_in: tokio_postgres::Statement,
    /// `COPY ... TO STDOUT` on the source.
    copy_out: tokio_postgres::Statement,
}

/// Why a chunk failed, and whether trying again may help.
#[derive(Debug)]
pub struct ChunkError {
    message: String,
    transient: bool,
}

impl ChunkError {
    fn new(what: &str, e: &tokio_postgres::Error) -> Self {
        ChunkError {
            message: format!("{what}: {}", pg_message(e)),
            transient: is_transient(e),
        }
    }
    fn fatal(message: String) -> Self {
        ChunkError {
            message,
            transient: false,
        }
    }
}

/// Lost connections and server shutdowns are worth a retry; errors in the data
/// or the schema are not.
fn is_transient(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    match e.code() {
        None => true,
        Some(c) => {
            c.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                ]
                .contains(c)
        }
    }
}

async fn open(shared: &Shared, id: usize) -> Result<Conns, ChunkError> {
    let transient = |e: UserError| ChunkError {
        message: e.to_string(),
        transient: true,
    };
    // Both sides at once, each side's statements in one pipeline: a worker
    // starts in the time of its slower connection and one round trip.
    let name = format!("worker {id}");
    let (src, dst) = tokio::join!(
        shared.source.connect_session(&name),
        shared.dest.connect_session(&name)
    );
    let (src, dst) = (src.map_err(transient)?, dst.map_err(transient)?);
    let Session {
        client: dst,
        cancel: dst_cancel,
        ..
    } = dst;
    // Text-format tables print on one side and parse on the other: the same
    // output settings on both.
    // Conditions run where psql would run them for this role
    // (`crate::conditions`); what they print parses the same on the other
    // side.
    let (src_env, dst_env) = match &shared.conditions {
        Some(env) => (
            format!("{}; ", env.settings_sql(false)),
            format!("; {}", env.peer_settings_sql()),
        ),
        None => (String::new(), String::new()),
    };
    let dst_setup = match shared.plan.replica_mode() {
        true => format!(
            "{}; {}{dst_env}",
            sql::STABLE_TEXT_SETTINGS,
            sql::SET_REPLICA_MODE
        ),
        false => format!("{}{dst_env}", sql::STABLE_TEXT_SETTINGS),
    };
    let guard_sql = sql::load_guard();
    let src_setup = format!(
        "{}; {src_env}{}",
        sql::STABLE_TEXT_SETTINGS,
        crate::engine::shared::snapshot_transaction(shared)
    );
    let (imported, set_up, guard, track_counts) = tokio::join!(
        src.client.batch_execute(&src_setup),
        dst.batch_execute(&dst_setup),
        dst.prepare(&guard_sql),
        dst.query_typed_one(
            "SELECT pg_catalog.current_setting('track_counts') OPERATOR(pg_catalog.=) 'on'",
            &[]
        )
    );
    let track_counts = track_counts.is_ok_and(|r| r.try_get::<_, bool>(0).unwrap_or(false));
    imported.map_err(|e| ChunkError::new("importing the source snapshot", &e))?;
    set_up.map_err(|e| ChunkError::new("setting up the session", &e))?;
    let guard = guard.map_err(|e| ChunkError::new("preparing the load check", &e))?;
    shared.cancel_handles.locked()[id] = vec![src.cancel.clone(), dst_cancel];
    Ok(Conns {
        src,
        src_chunks: 0,
        dst,
        guard,
        prepared: None,
        retired: Vec::new(),
        track_counts,
    })
}

/// Counts a chunk about to be read from the source; first, once the source
/// transaction has read [`CHUNKS_PER_SOURCE_TRANSACTION`] chunks, ends it and
/// imports the snapshot again in a new one, releasing their tables' locks.
async fn count_source_chunk(shared: &Shared, c: &mut Conns) -> Result<(), ChunkError> {
    if c.src_chunks >= CHUNKS_PER_SOURCE_TRANSACTION {
        c.src
            .client
            .batch_execute(&format!(
                "COMMIT; {}",
                crate::engine::shared::snapshot_transaction(shared)
            ))
            .await
            .map_err(|e| ChunkError::new("importing the source snapshot again", &e))?;
        c.src_chunks = 0;
    }
    c.src_chunks += 1;
    Ok(())
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((500u64 << attempt.min(5)).min(10_000))
}

/// Runs worker `id` until the queue is empty or the run is interrupted.
/// Where a worker hands a table it finished loading (plan indexes): to
/// the analyzer, to the index builder, or, with no index to rebuild, to
/// the foreign keys' early restore (`steps::foreign_keys::early`).
#[derive(Clone)]
pub struct Handoffs {
    /// Tables to analyze now.
    pub analyze: mpsc::UnboundedSender<usize>,
    /// Tables whose deferred indexes are rebuilt now.
    pub build: mpsc::UnboundedSender<usize>,
    /// Tables loaded with every index back.
    pub keys: mpsc::UnboundedSender<crate::engine::tables_done::KeyNews>,
}

pub async fn run(
    id: usize,
    shared: Arc<Shared>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    handoffs: Handoffs,
) -> Result<(), UserError> {
    // A slot of the budget while there are chunks to copy: index builds
    // take the slots of workers that are done.
    let Ok(_slot) = Arc::clone(&shared.budget).acquire_owned().await else {
        return Ok(());
    };
    let mut conns: Option<Conns> = None;
    let live = &shared.live[id];
    // Taken from the queue while the unit before it ended, so its COPY
    // statements could be prepared then.
    let mut upcoming: Option<Unit> = None;
    loop {
        if crate::stop::requested() {
            break;
        }
        let Some(unit) = upcoming
            .take()
            .or_else(|| shared.queue.locked().pop_front())
        else {
            break;
        };
        let key = shared.chunk_key(&unit);
        // Counters first: a reader never sees the new chunk with the last
        // chunk's rows.
        live.rows.store(0, Ordering::Relaxed);
        live.bytes.store(0, Ordering::Relaxed);
        live.table.store(unit.table, Ordering::Relaxed);
        live.chunk.store(unit.chunk.index, Ordering::Relaxed);
        live.started_ms.store(
            shared.started.elapsed().as_millis() as u64,
            Ordering::Relaxed,
        );
        let started = Instant::now();
        let result = with_retries(&shared, id, &unit, key, &mut conns, &mut upcoming).await;
        // Idle only with no chunk taken for next: one taken is out of the
        // queue, and `Shared::loads_in_flight` must still see it.
        if upcoming.is_none() {
            live.table.store(usize::MAX, Ordering::Relaxed);
        }
        let secs = started.elapsed().as_secs_f64();
        let table = unit.table;
        let loaded = result.is_ok() && shared.analyze.chunk_committed(table);
        let analyze_now = loaded && shared.analyze.eligible(table);
        let build_now = loaded && shared.builds.eligible(table);
        let outcome = match result {
            Ok((rows, bytes)) => Outcome {
                unit,
                rows,
                bytes,
                started,
                secs,
                error: None,
            },
            Err(e) => Outcome {
                unit,
                rows: 0,
                bytes: 0,
                started,
                secs,
                error: Some(e),
            },
        };
        if outcomes.send(outcome).is_err() {
            break;
        }
        hand_off(&handoffs, table, analyze_now, build_now, loaded);
    }
    Ok(())
}

/// Copies `unit` on the worker's connections (opened again when closed),
/// retrying a transient failure up to `shared.retries` times after a
/// backoff: its rows and bytes, or why it failed.
async fn with_retries(
    shared: &Shared,
    id: usize,
    unit: &Unit,
    key: ChunkKey<'_>,
    conns: &mut Option<Conns>,
    upcoming: &mut Option<Unit>,
) -> Result<(u64, u64), String> {
    let live = &shared.live[id];
    let spec = &shared.plan.tables[unit.table];
    let mut attempt = 0u32;
    loop {
        live.rows.store(0, Ordering::Relaxed);
        live.bytes.store(0, Ordering::Relaxed);
        let attempt_result = async {
            let conns = &mut *conns;
            if conns
                .as_ref()
                .is_some_and(|c| c.src.client.is_closed() || c.dst.is_closed())
            {
                *conns = None;
            }
            let c = match conns {
                Some(c) => c,
                none => none.insert(open(shared, id).await?),
            };
            if attempt > 0 {
                // The last COMMIT may have succeeded with its answer lost.
                if let Some((rows, bytes)) = shared
                    .store
                    .chunk_done(&c.dst, key)
                    .await
                    .map_err(|e| ChunkError::new("reading state", &e))?
                {
                    return Ok((rows as u64, bytes as u64));
                }
            }
            count_source_chunk(shared, c).await?;
            copy_unit(shared, c, unit, live, upcoming).await
        }
        .await;
        let e = match attempt_result {
            Ok(r) => return Ok(r),
            Err(e) => e,
        };
        if let Some(c) = conns.as_ref() {
            // A half-done source statement may have left the snapshot
            // transaction aborted: then start over with new connections.
            if c.src
                .client
                .batch_execute("ROLLBACK TO SAVEPOINT pgcopy_unit")
                .await
                .is_err()
            {
                *conns = None;
            }
        }
        if !(e.transient && attempt < shared.retries && !crate::stop::requested()) {
            return Err(e.message);
        }
        attempt += 1;
        let wait = backoff(attempt - 1);
        tracing::warn!(
            "{} chunk {}: {}; retrying in {:.1} s ({attempt} of {})",
            spec.table.display_name(),
            unit.chunk.index,
            e.message,
            wait.as_secs_f64(),
            shared.retries
        );
        *conns = None;
        tokio::time::sleep(wait).await;
    }
}

/// Tells the steps that wait for a table's load that `table` is loaded:
/// its ANALYZE, its index builds, or (with no index to wait for) its keys.
/// What is not handed off now is done after the load.
fn hand_off(handoffs: &Handoffs, table: usize, analyze_now: bool, build_now: bool, loaded: bool) {
    if analyze_now {
        let _ = handoffs.analyze.send(table);
    }
    if build_now {
        let _ = handoffs.build.send(table);
    } else if loaded {
        let _ = handoffs
            .keys
            .send(crate::engine::tables_done::KeyNews::Loaded(table));
    }
}
