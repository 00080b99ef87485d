//! What a person sees once the rows are in: the step after the load the
//! copy is in (indexes, triggers, large objects, sequences, materialized
//! views, ANALYZE, foreign keys), how far it is, and for index builds what
//! `pg_stat_progress_create_index` says. On the bar when there is one, else
//! a log line every few seconds.

use super::{reconnect_if_closed, Shared};
use crate::progress::Display;
use pgcopy_core::quote::printable;
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
    /// What the index builds weigh on the bar, in the load's units
    /// (estimated bytes): the bar's ETA counts them from the start.
    units: u64,
}

/// What rebuilding `indexes` after the load weighs on the bar, in the load's
/// units (estimated bytes): a third of its table's bytes per index. Builds
/// went about three times as fast as the load, per byte of their table: a
/// 112 MB table's four indexes and a 33 MB table's UUID key rebuilt in 0.7 s
/// after a 0.6 s load (2 cores, PostgreSQL 15). A partitioned table's own
/// index weighs nothing: attaching its partitions' indexes is quick.
pub fn index_units(plan: &pgcopy_core::plan::Plan, indexes: &[pgcopy_core::catalog::Index]) -> u64 {
    indexes
        .iter()
        .filter_map(|i| plan.bytes_into(&i.table))
        .map(|bytes| bytes / 3)
        .sum()
}

impl AfterLoad {
    /// Expects index builds worth `units` of the bar ([`index_units`]).
    pub fn new(units: u64) -> Self {
        AfterLoad {
            units,
            ..Default::default()
        }
    }

    /// What the index builds weigh on the bar.
    pub fn units(&self) -> u64 {
        self.units
    }

    /// How much of what the bar counts after the load is done, 0 to 1: the
    /// index builds, by count (the steps after them are not on the bar).
    pub fn fraction_done(&self) -> f64 {
        match self.current() {
            None => 0.0,
            Some((phase, ..)) if phase < Phase::Indexes => 0.0,
            Some((Phase::Indexes, _, done, total)) => done.min(total) as f64 / total.max(1) as f64,
            Some(_) => 1.0,
        }
    }

    /// Starts `phase`, of `total` items (0: not counted).
    pub fn begin(&self, phase: Phase, total: usize) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        *self.step.lock().expect("lock") = Some((phase, Instant::now()));
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
        let (phase, since) = (*self.step.lock().expect("lock"))?;
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
                .map(|r| {
                    let table: String = r.get(0);
                    let phase: String = r.get(1);
                    match r.get::<_, Option<i64>>(2) {
                        Some(pct) => format!("{}: {phase} {pct}%", printable(&table)),
                        None => format!("{}: {phase}", printable(&table)),
                    }
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
