//! ANALYZE while the load goes on: the worker that commits a table's last
//! chunk hands it to the analyzer, which analyzes it on a destination
//! connection of its own, so statistics are gathered while other tables
//! still load instead of in one serial statement at the end, and no worker
//! waits for them. What was not analyzed then (partitions, tables with a
//! deferred expression index, tables finished by an earlier run, a failed
//! ANALYZE) is analyzed after the load.

use super::{Shared, Unit};
use crate::error::pg_message;
use crate::lock::Locked;
use pgcopy_core::plan::Plan;
use pgcopy_core::sql;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Analyzes the tables sent on `ready` (indexes into the plan's tables) as
/// they come: each round takes every table ready by then and analyzes them
/// in one statement, one round trip however many there are. Returns when
/// every sender is gone; on interrupt it stops analyzing.
pub async fn analyzer(shared: Arc<Shared>, mut ready: mpsc::UnboundedReceiver<usize>) {
    let mut client = None;
    while let Some(first) = ready.recv().await {
        let mut batch = vec![first];
        while let Ok(t) = ready.try_recv() {
            batch.push(t);
        }
        if crate::stop::requested() {
            continue;
        }
        if client
            .as_ref()
            .is_none_or(|c: &tokio_postgres::Client| c.is_closed())
        {
            client = match shared.dest.connect_session("analyze").await {
                Ok(s) => {
                    // An interrupt cancels the batch running then, as it
                    // cancels the workers' COPYs.
                    let mut handles = shared.cancel_handles.locked();
                    if let Some(slot) = handles.last_mut() {
                        *slot = vec![s.cancel];
                    }
                    Some(s.client)
                }
                Err(e) => {
                    tracing::debug!("no connection to analyze with ({e}): left for after the load");
                    None
                }
            };
        }
        let Some(c) = &client else { continue };
        let names = batch.iter().map(|&t| &shared.plan.tables[t].table);
        match c.batch_execute(&sql::analyze(names)).await {
            Ok(()) => batch.iter().for_each(|&t| shared.analyze.mark_analyzed(t)),
            // Each is analyzed after the load, alone if need be.
            Err(e) => tracing::debug!(
                "ANALYZE of {} tables failed: {}; they are analyzed after the load",
                batch.len(),
                pg_message(&e)
            ),
        }
    }
}

/// Per table: chunks still to commit in this run, and whether it is analyzed.
#[derive(Debug)]
pub struct EarlyAnalyze {
    eligible: Vec<bool>,
    chunks_left: Vec<AtomicUsize>,
    analyzed: Vec<AtomicBool>,
}

impl EarlyAnalyze {
    /// Tracks the queued units; `enabled` is false with `--no-analyze`.
    pub fn new(plan: &Plan, queue: &VecDeque<Unit>, enabled: bool) -> Self {
        let chunks_left: Vec<AtomicUsize> =
            plan.tables.iter().map(|_| AtomicUsize::new(0)).collect();
        for u in queue {
            chunks_left[u.table].fetch_add(1, Ordering::Relaxed);
        }
        EarlyAnalyze {
            eligible: plan
                .tables
                .iter()
                .map(|t| enabled && plan.analyze_when_loaded(t))
                .collect(),
            chunks_left,
            analyzed: plan.tables.iter().map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// Records a committed chunk of table `t`; true when it was the table's
    /// last one.
    pub fn chunk_committed(&self, t: usize) -> bool {
        self.chunks_left[t].fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// Whether table `t`, once loaded, is analyzed at once.
    pub fn eligible(&self, t: usize) -> bool {
        self.eligible[t]
    }

    /// A chunk of table `t` goes back into the queue (lost by a crash).
    pub fn requeued(&self, t: usize) {
        self.chunks_left[t].fetch_add(1, Ordering::AcqRel);
        self.analyzed[t].store(false, Ordering::Release);
    }

    /// Table `t` has been analyzed with all its rows.
    pub fn mark_analyzed(&self, t: usize) {
        self.analyzed[t].store(true, Ordering::Release);
    }

    /// Whether table `t` has been analyzed during the load.
    pub fn is_analyzed(&self, t: usize) -> bool {
        self.analyzed[t].load(Ordering::Acquire)
    }
}
