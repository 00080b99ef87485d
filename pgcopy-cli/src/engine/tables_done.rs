//! What becomes of each table as the load goes on: how many of its chunks
//! are still to commit, whether it was analyzed during the load
//! ([`EarlyAnalyze`]) and whether its indexes are rebuilt once it is loaded
//! ([`EarlyBuilds`]). Plain counters the steps share (`Shared`).

use pgcopy_core::catalog::Index;
use pgcopy_core::plan::Plan;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Per table: chunks still to commit in this run, and whether it is analyzed.
#[derive(Debug)]
pub struct EarlyAnalyze {
    eligible: Vec<bool>,
    chunks_left: Vec<AtomicUsize>,
    analyzed: Vec<AtomicBool>,
}

impl EarlyAnalyze {
    /// Tracks the chunks queued (by their table's index in the plan);
    /// `enabled` is false with `--no-analyze`.
    pub fn new(plan: &Plan, queued: impl IntoIterator<Item = usize>, enabled: bool) -> Self {
        let chunks_left: Vec<AtomicUsize> =
            plan.tables.iter().map(|_| AtomicUsize::new(0)).collect();
        for t in queued {
            if let Some(left) = chunks_left.get(t) {
                left.fetch_add(1, Ordering::Relaxed);
            }
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

/// Which of the plan's tables get their indexes back as soon as they are
/// loaded, and how many were rebuilt so.
#[derive(Debug, Default)]
pub struct EarlyBuilds {
    eligible: Vec<bool>,
    built: AtomicUsize,
    deferred: usize,
}

impl EarlyBuilds {
    /// The tables of `plan` loaded into themselves that have deferred
    /// indexes in `deferred`.
    pub fn new(plan: &Plan, deferred: &[Index]) -> Self {
        EarlyBuilds {
            eligible: plan
                .tables
                .iter()
                .map(|t| t.load_into.is_none() && deferred.iter().any(|i| i.table == t.table))
                .collect(),
            built: AtomicUsize::new(0),
            deferred: deferred.len(),
        }
    }

    /// Whether table `t`'s indexes are rebuilt as soon as it is loaded.
    pub fn eligible(&self, t: usize) -> bool {
        self.eligible.get(t).copied().unwrap_or(false)
    }

    /// How many indexes were rebuilt while the load went on.
    pub fn built(&self) -> usize {
        self.built.load(Ordering::Relaxed)
    }

    /// How many indexes the job deferred.
    pub fn deferred(&self) -> usize {
        self.deferred
    }

    /// `n` more indexes were rebuilt while the load goes on.
    pub fn add_built(&self, n: usize) {
        self.built.fetch_add(n, Ordering::Relaxed);
    }
}

/// What the foreign keys' early restore hears of a table (plan index),
/// from the workers, the index builder and the analyzer.
#[derive(Debug, Clone, Copy)]
pub enum KeyNews {
    /// Loaded, with every deferred index back.
    Loaded(usize),
    /// Analyzed (its validations plan with statistics).
    Analyzed(usize),
}
