//! ANALYZE while the load goes on: the worker that commits a table's last
//! chunk analyzes it at once, on its destination connection, so statistics are
//! gathered while other tables still load instead of in one serial statement at
//! the end. What workers could not analyze (partitions, tables with a deferred
//! expression index, tables finished by an earlier run) is analyzed after the
//! load.

use super::Unit;
use pgcopy_core::plan::Plan;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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
    /// last one and the caller should analyze the table now.
    pub fn chunk_committed(&self, t: usize) -> bool {
        self.chunks_left[t].fetch_sub(1, Ordering::AcqRel) == 1 && self.eligible[t]
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

    /// Whether table `t` has been analyzed by a worker.
    pub fn is_analyzed(&self, t: usize) -> bool {
        self.analyzed[t].load(Ordering::Acquire)
    }
}
