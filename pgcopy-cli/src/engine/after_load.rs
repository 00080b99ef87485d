//! How far the steps after the load are: which step a run is in, how
//! many of its items are done, and what the steps weigh on the bar. Plain
//! state the steps update and the display reads (`after_progress`).

use crate::lock::Locked;
use pgcopy_core::plan::Plan;
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::states::Phase;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The step after the load a run is in, with how many of its items are done.
#[derive(Debug, Default)]
pub struct AfterLoad {
    step: Mutex<Option<(Phase, Instant)>>,
    total: AtomicUsize,
    done: Arc<AtomicUsize>,
    /// What the steps after the load weigh on the bar: its ETA counts them
    /// from the start.
    weights: AfterWeights,
}

/// What the steps after the load weigh on the bar, each in the load's units
/// (estimated bytes), from one run of 480 MB in three FK-linked tables, two
/// workers, 2 cores, PostgreSQL 15: the load took 2.2 s; rebuilding the four
/// indexes 1.2 s, validating the three FKs 1.7 s, an ANALYZE of the 242 MB
/// table 0.19 s. Steps not counted (triggers, sequences, materialized views,
/// large objects) take a round trip or two each, or their own log lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AfterWeights {
    /// Index builds: a third of its table's bytes per index. A partitioned
    /// table's own index weighs nothing: attaching its partitions' indexes is
    /// quick.
    pub indexes: u64,
    /// ANALYZE: a tenth of each table's bytes, up to the 30,000 pages it
    /// samples at the default statistics target.
    pub analyze: u64,
    /// FK validation: a third of the bytes of the table and of the table it
    /// references, per FK dropped and restored (the check joins the two).
    pub foreign_keys: u64,
}

/// The pages ANALYZE reads of a table at most (300 × the default statistics
/// target of 100), in bytes of 8 kB pages.
const ANALYZE_SAMPLE_BYTES: u64 = 30_000 * 8192;

impl AfterWeights {
    /// The weights of the steps after `plan`'s load, which rebuilds
    /// `indexes`, analyzes its tables when `analyze`, and restores the FKs it
    /// drops.
    pub fn of(plan: &Plan, indexes: &[pgcopy_core::catalog::Index], analyze: bool) -> Self {
        let bytes = |t: &QualifiedName| plan.bytes_into(t).unwrap_or(0);
        AfterWeights {
            indexes: indexes.iter().map(|i| bytes(&i.table) / 3).sum(),
            analyze: match analyze {
                true => plan
                    .tables
                    .iter()
                    .map(|t| t.bytes.min(ANALYZE_SAMPLE_BYTES) / 10)
                    .sum(),
                false => 0,
            },
            foreign_keys: plan
                .dropped_fks()
                .map(|f| (bytes(&f.fk.table) + bytes(&f.fk.referenced)) / 3)
                .sum(),
        }
    }

    /// All of them.
    pub fn total(&self) -> u64 {
        self.indexes + self.analyze + self.foreign_keys
    }

    /// The counted steps, in the order they run, with their weights.
    fn steps(&self) -> [(Phase, u64); 3] {
        [
            (Phase::Indexes, self.indexes),
            (Phase::Analyze, self.analyze),
            (Phase::ForeignKeys, self.foreign_keys),
        ]
    }

    /// How much of them is done, 0 to 1, in `phase` with `done` of its
    /// `total` items done: the steps before it whole, its own by count.
    fn fraction_done(&self, phase: Phase, done: usize, total: usize) -> f64 {
        let units: f64 = self
            .steps()
            .iter()
            .map(|&(step, weight)| match step.cmp(&phase) {
                std::cmp::Ordering::Less => weight as f64,
                std::cmp::Ordering::Equal if total > 0 => {
                    weight as f64 * done.min(total) as f64 / total as f64
                }
                _ => 0.0,
            })
            .sum();
        units / self.total().max(1) as f64
    }
}

impl AfterLoad {
    /// Expects the steps after the load to weigh `weights` on the bar.
    pub fn new(weights: AfterWeights) -> Self {
        AfterLoad {
            weights,
            ..Default::default()
        }
    }

    /// What the steps after the load weigh on the bar.
    pub fn units(&self) -> u64 {
        self.weights.total()
    }

    /// How much of what the bar counts after the load is done, 0 to 1.
    pub fn fraction_done(&self) -> f64 {
        match self.current() {
            None => 0.0,
            Some((phase, _, done, total)) => self.weights.fraction_done(phase, done, total),
        }
    }

    /// Starts `phase`, of `total` items (0: not counted).
    pub fn begin(&self, phase: Phase, total: usize) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        *self.step.locked() = Some((phase, Instant::now()));
    }

    /// One more item of the current step is done.
    pub fn advance(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    /// The counter the current step's items add to (for work done on other
    /// tasks).
    pub fn counter(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.done)
    }

    /// The step it is in: since when, and how many of how many items are done.
    pub fn current(&self) -> Option<(Phase, Duration, usize, usize)> {
        let (phase, since) = (*self.step.locked())?;
        Some((
            phase,
            since.elapsed(),
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_by_the_weight_of_each_step_after_the_load() {
        let w = AfterWeights {
            indexes: 30,
            analyze: 10,
            foreign_keys: 60,
        };
        assert_eq!(w.fraction_done(Phase::Load, 0, 0), 0.0);
        assert_eq!(w.fraction_done(Phase::Indexes, 1, 3), 0.1);
        // Steps without weight between them move nothing.
        assert_eq!(w.fraction_done(Phase::Sequences, 0, 4), 0.3);
        assert_eq!(w.fraction_done(Phase::Analyze, 1, 2), 0.35);
        assert_eq!(w.fraction_done(Phase::ForeignKeys, 0, 0), 0.4);
        assert_eq!(w.fraction_done(Phase::ForeignKeys, 3, 6), 0.7);
        assert_eq!(w.fraction_done(Phase::ForeignKeys, 9, 6), 1.0);
        assert_eq!(
            AfterWeights::default().fraction_done(Phase::Analyze, 1, 1),
            0.0
        );
    }
}
