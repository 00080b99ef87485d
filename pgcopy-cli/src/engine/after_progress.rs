//! What a person sees once the rows are in: the step after the load the
//! copy is in (indexes, triggers, large objects, sequences, materialized
//! views, ANALYZE, foreign keys), how far it is, and for index builds what
//! `pg_stat_progress_create_index` says. On the bar when there is one, else
//! a log line every few seconds.

use super::{reconnect_if_closed, Shared};
use crate::lock::Locked;
use crate::progress::Display;
use pgcopy_core::plan::Plan;
use pgcopy_core::quote::{printable, QualifiedName};
use pgcopy_core::states::Phase;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_postgres::Client;

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

    fn current(&self) -> Option<(Phase, Duration, usize, usize)> {
        let (phase, since) = (*self.step.locked())?;
        Some((
            phase,
            since.elapsed(),
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        ))
    }
}

/// Runs `work` (the steps after the load) while showing their progress.
pub async fn shown<F: Future>(shared: &Shared, display: Option<&Display>, work: F) -> F::Output {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last_line = Instant::now();
    let mut builds = IndexBuilds::default();
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => {
                let Some((phase, secs, done, total)) = shared.after.current() else { continue };
                let detail = match phase {
                    Phase::Indexes => builds.read(shared).await,
                    _ => String::new(),
                };
                let line = describe(phase, secs, done, total, &detail);
                match display {
                    Some(d) => d.after_load(&line, shared.after.fraction_done()),
                    // A step worth a line: running for 2 s, then every 5 s.
                    None if secs >= Duration::from_secs(2)
                        && last_line.elapsed() >= Duration::from_secs(5) =>
                    {
                        last_line = Instant::now();
                        tracing::info!("after the load: {line}");
                    }
                    None => {}
                }
            }
        }
    }
}

/// `indexes: 3 of 14 done (public.big: 45%, building index) · 12 s, ETA 28 s`
fn describe(phase: Phase, secs: Duration, done: usize, total: usize, detail: &str) -> String {
    let mut line = phase.as_str().replace('-', " ");
    if total > 0 {
        line.push_str(&format!(": {done} of {total} done"));
    }
    if !detail.is_empty() {
        line.push_str(&format!(" ({detail})"));
    }
    line.push_str(&format!(" · {:.0} s", secs.as_secs_f64()));
    if total > 0 && done > 0 && done < total {
        let left = secs.as_secs_f64() * (total - done) as f64 / done as f64;
        line.push_str(&format!(", ETA {left:.0} s"));
    }
    line
}

/// The index builds pgcopy runs now, as `pg_stat_progress_create_index`
/// reports them, read on a connection of its own at most once a second.
#[derive(Default)]
struct IndexBuilds {
    client: Option<Client>,
    read_at: Option<Instant>,
    last: String,
}

impl IndexBuilds {
    async fn read(&mut self, shared: &Shared) -> String {
        if self
            .read_at
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return self.last.clone();
        }
        self.read_at = Some(Instant::now());
        match &mut self.client {
            Some(c) => {
                if !reconnect_if_closed(c, &shared.dest).await {
                    return String::new();
                }
            }
            None => match shared.dest.connect("progress").await {
                Ok(c) => self.client = Some(c),
                Err(_) => return String::new(),
            },
        }
        let Some(c) = &self.client else {
            return String::new();
        };
        // The builders' sessions are named "pgcopy index builder N".
        let rows = c
            .query(
                "SELECT p.relid::pg_catalog.regclass::pg_catalog.text, p.phase,
                        CASE WHEN p.blocks_total > 0 THEN 100 * p.blocks_done / p.blocks_total
                             WHEN p.tuples_total > 0 THEN 100 * p.tuples_done / p.tuples_total END
                   FROM pg_catalog.pg_stat_progress_create_index p
                   JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid
                  WHERE a.application_name LIKE 'pgcopy index builder %'
                  ORDER BY 1",
                &[],
            )
            .await;
        self.last = match rows {
            Ok(rows) => rows
                .iter()
                // A build's table reads as NULL where this role may not
                // see its session (acting as another role): skipped.
                .filter_map(|r| {
                    let table: String = r.try_get::<_, Option<String>>(0).ok().flatten()?;
                    let phase: String = r.try_get::<_, Option<String>>(1).ok().flatten()?;
                    Some(match r.try_get::<_, Option<i64>>(2).ok().flatten() {
                        Some(pct) => format!("{}: {phase} {pct}%", printable(&table)),
                        None => format!("{}: {phase}", printable(&table)),
                    })
                })
                .collect::<Vec<_>>()
                .join(", "),
            Err(_) => String::new(),
        };
        self.last.clone()
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

    #[test]
    fn a_step_says_how_far_it_is_and_how_long_is_left() {
        let s = Duration::from_secs(12);
        assert_eq!(
            describe(Phase::Indexes, s, 3, 12, "public.big: building index 45%"),
            "indexes: 3 of 12 done (public.big: building index 45%) · 12 s, ETA 36 s"
        );
        assert_eq!(describe(Phase::Analyze, s, 0, 0, ""), "analyze · 12 s");
        assert_eq!(
            describe(Phase::ForeignKeys, s, 4, 4, ""),
            "foreign keys: 4 of 4 done · 12 s"
        );
    }
}
