//! The steps of a copy after its setup, as a graph: what each step waits
//! for. The engine (`pgcopy-cli/src/engine/steps/`) runs each step in a file
//! named after it, in an order this graph allows; a step's per-table parts
//! may start before the whole step before it is over (a table's index
//! builds start when that table is loaded: [`Step::Indexes`] waits for
//! [`Step::Load`] table by table, see [`TableReady`]).

use crate::quote::QualifiedName;
use std::collections::{BTreeMap, BTreeSet};

/// One step of a copy after its setup. The order of the variants is an
/// order the graph allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Foreign keys and deferred indexes saved and dropped.
    SaveAndDrop,
    /// Triggers that would fire during the load disabled.
    DisableTriggers,
    /// The tables emptied together before the load.
    Truncate,
    /// The rows, chunk by chunk.
    Load,
    /// Deferred indexes rebuilt: each table's once it is loaded, a
    /// partitioned table's once its partitions' are.
    Indexes,
    /// Disabled triggers put back.
    EnableTriggers,
    /// Large objects.
    LargeObjects,
    /// Sequences set from the source.
    Sequences,
    /// Materialized views refreshed.
    MaterializedViews,
    /// Tables analyzed (those not analyzed during the load).
    Analyze,
    /// Dropped foreign keys added back and validated. A key between two
    /// plain tables may come back as soon as both tables are loaded with
    /// their indexes back (the engine's early restore, while the load goes
    /// on); this step restores every key still pending.
    ForeignKeys,
}

impl Step {
    /// Every step.
    pub const ALL: [Step; 11] = [
        Step::SaveAndDrop,
        Step::DisableTriggers,
        Step::Truncate,
        Step::Load,
        Step::Indexes,
        Step::EnableTriggers,
        Step::LargeObjects,
        Step::Sequences,
        Step::MaterializedViews,
        Step::Analyze,
        Step::ForeignKeys,
    ];

    /// The steps this one waits for, and why.
    pub fn after(self) -> &'static [Step] {
        use Step::*;
        match self {
            SaveAndDrop => &[],
            // Recorded in the job after the drops.
            DisableTriggers => &[SaveAndDrop],
            // A TRUNCATE would fire ON TRUNCATE triggers; keys referencing
            // the tables must be gone.
            Truncate => &[DisableTriggers, SaveAndDrop],
            Load => &[Truncate, DisableTriggers, SaveAndDrop],
            Indexes => &[Load],
            // No trigger fires for a row of the load.
            EnableTriggers => &[Load],
            // Large objects are copied once the tables' rows are in (a
            // table's lo column may name them; nothing checks it).
            LargeObjects => &[Load],
            // Read at the end of the copy, after the rows that used them.
            Sequences => &[Load],
            // A refresh reads the loaded tables through their indexes, and
            // its own triggers are the view's business.
            MaterializedViews => &[Load, Indexes, EnableTriggers],
            // Statistics of expression indexes come with the indexes.
            Analyze => &[Load, Indexes],
            // A key needs its referenced table's unique index back, and is
            // checked against every row.
            ForeignKeys => &[Load, Indexes],
        }
    }

    /// The steps in an order where each comes after what it waits for.
    pub fn in_order() -> Vec<Step> {
        let mut done: BTreeSet<Step> = BTreeSet::new();
        let mut order = Vec::new();
        while order.len() < Step::ALL.len() {
            let next = Step::ALL
                .iter()
                .copied()
                .find(|s| !done.contains(s) && s.after().iter().all(|d| done.contains(d)));
            match next {
                Some(s) => {
                    done.insert(s);
                    order.push(s);
                }
                // The graph above has no cycle (a test proves it).
                None => break,
            }
        }
        order
    }
}

/// When each destination table's deferred indexes may be rebuilt: once
/// every table of the plan that loads into it is loaded.
#[derive(Debug, Clone, Default)]
pub struct TableReady {
    /// For each destination table, the plan's tables (by index) still
    /// loading into it.
    waiting: BTreeMap<QualifiedName, BTreeSet<usize>>,
}

impl TableReady {
    /// `loads[i]` is the destination table plan table `i` loads into.
    pub fn new<'a>(loads: impl IntoIterator<Item = &'a QualifiedName>) -> Self {
        let mut waiting: BTreeMap<QualifiedName, BTreeSet<usize>> = BTreeMap::new();
        for (i, dest) in loads.into_iter().enumerate() {
            waiting.entry(dest.clone()).or_default().insert(i);
        }
        TableReady { waiting }
    }

    /// Plan table `i` is loaded: the destination table that is now ready
    /// for its index builds, if this was the last one loading into it.
    pub fn loaded(&mut self, i: usize) -> Option<QualifiedName> {
        let dest = self
            .waiting
            .iter()
            .find(|(_, left)| left.contains(&i))
            .map(|(d, _)| d.clone())?;
        let left = self.waiting.get_mut(&dest)?;
        left.remove(&i);
        left.is_empty().then_some(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_comes_after_what_it_waits_for() {
        let order = Step::in_order();
        assert_eq!(order.len(), Step::ALL.len(), "a cycle: {order:?}");
        for (i, s) in order.iter().enumerate() {
            for d in s.after() {
                let j = order.iter().position(|o| o == d).unwrap();
                assert!(j < i, "{s:?} before {d:?}");
            }
        }
        // The variants' own order is one the graph allows.
        assert_eq!(order, Step::ALL.to_vec());
    }

    #[test]
    fn a_table_is_ready_once_everything_loading_into_it_is_loaded() {
        let a = QualifiedName::new("s", "a");
        let p = QualifiedName::new("s", "p");
        // 0 loads into a; 1 and 2 are routed into p.
        let mut ready = TableReady::new([&a, &p, &p]);
        assert_eq!(ready.loaded(1), None);
        assert_eq!(ready.loaded(0), Some(a));
        assert_eq!(ready.loaded(2), Some(p));
        // Loaded again (a chunk lost and copied again): nothing new.
        assert_eq!(ready.loaded(2), None);
    }
}
