//! What the steps of a running copy share: the plan, the endpoints, the
//! state store, the queue of chunks, the budget of slots, the live
//! counters; and the session helpers every step uses.

use super::tables_done::{EarlyAnalyze, EarlyBuilds};
use crate::connect::{CancelHandle, Endpoint};
use crate::state::StateStore;
use pgcopy_core::chunk::ChunkRange;
use pgcopy_core::plan::Plan;
use pgcopy_core::quote::{quote_literal, QualifiedName};
use pgcopy_core::states::Phase;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio_postgres::Client;

/// Live position of one worker, read by the progress reporter and heartbeat.
#[derive(Debug)]
pub struct WorkerLive {
    /// Index into the plan's tables of the unit being copied (`usize::MAX`: idle).
    pub table: std::sync::atomic::AtomicUsize,
    /// Chunk index being copied.
    pub chunk: std::sync::atomic::AtomicU32,
    /// Rows streamed in the current chunk, published every `--batch-size` rows.
    pub rows: std::sync::atomic::AtomicU64,
    /// Bytes streamed in the current chunk.
    pub bytes: std::sync::atomic::AtomicU64,
    /// When the current chunk started (ms since the run's start).
    pub started_ms: std::sync::atomic::AtomicU64,
}

impl Default for WorkerLive {
    /// Idle: a worker copies nothing until it takes a unit (with 0, the
    /// heartbeat and the bar showed each worker on the plan's first table
    /// until then).
    fn default() -> Self {
        WorkerLive {
            table: std::sync::atomic::AtomicUsize::new(usize::MAX),
            chunk: Default::default(),
            rows: Default::default(),
            bytes: Default::default(),
            started_ms: Default::default(),
        }
    }
}

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
    /// `--parallel`: the budget's size, over which maintenance sessions
    /// share their memory (`pgcopy_core::maintenance`).
    pub parallel: usize,
    /// The tables whose indexes are rebuilt as soon as they are loaded.
    pub builds: EarlyBuilds,
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
    pub analyze: EarlyAnalyze,
    /// Tables loaded as their owners, with how.
    pub load_as: std::collections::HashMap<QualifiedName, super::guard::LoadAs>,
    /// The step after the load the run is in, for the display.
    pub after: super::after_load::AfterLoad,
    /// Materialized views not refreshed, each with the roles whose code a
    /// refresh would run (`Setup::matview_refusals`).
    pub matview_refusals: std::collections::HashMap<QualifiedName, Vec<String>>,
    /// Destination tables whose load's row count the server itself checks
    /// before the pipelined COMMIT, by OID (`Setup::counted_on_server`).
    pub counted_on_server: std::collections::HashMap<QualifiedName, u32>,
}

impl Shared {
    /// Whether a load is still to come or under way: a chunk in the queue,
    /// or a worker copying one.
    pub fn loads_in_flight(&self) -> bool {
        use crate::lock::Locked;
        !self.queue.locked().is_empty()
            || self
                .live
                .iter()
                .any(|l| l.table.load(std::sync::atomic::Ordering::Relaxed) != usize::MAX)
    }

    /// The state row's key of `unit`, a chunk of this job.
    pub fn chunk_key(&self, unit: &Unit) -> crate::state::ChunkKey<'_> {
        let spec = &self.plan.tables[unit.table];
        crate::state::ChunkKey {
            job_id: self.job_id,
            schema: &spec.table.schema,
            table: &spec.table.name,
            chunk: unit.chunk.index as i32,
        }
    }

    /// Enters `phase`, of `total` items (0: not counted): recorded in the
    /// job's row, and shown after the load.
    pub async fn enter(&self, dst: &Client, phase: Phase, total: usize) {
        self.store.enter_phase(dst, self.job_id, phase).await;
        if phase > Phase::Load {
            self.after.begin(phase, total);
        }
    }
}

/// Makes sure `dst` is connected, reconnecting once if the server closed it
/// (e.g. after a restart); false when it cannot.
pub async fn reconnect_if_closed(dst: &mut Client, dest: &Endpoint) -> bool {
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

/// Starts a source transaction in the run's snapshot.
pub fn snapshot_transaction(shared: &Shared) -> String {
    // One savepoint for the transaction's life: a failed COPY rolls back to it
    // and the snapshot transaction goes on. It is never released, so a chunk
    // costs no savepoint round trips.
    format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}; \
         SAVEPOINT pgcopy_unit",
        quote_literal(&shared.snapshot)
    )
}
