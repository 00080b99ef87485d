//! What a person sees once the rows are in: the step after the load the
//! copy is in (indexes, triggers, large objects, sequences, materialized
//! views, ANALYZE, foreign keys), how far it is, and for index builds what
//! `pg_stat_progress_create_index` says. On the bar when there is one, else
//! a log line every few seconds.

use super::shared::{reconnect_if_closed, Shared};
use crate::progress::Display;
use pgcopy_core::quote::printable;
use pgcopy_core::states::Phase;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

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

/// The index builds of this run (its builders' sessions are named "pgcopy
/// index builder N"): (table, phase, percent done when known), by table.
const INDEX_BUILDS_PROGRESS_SQL: &str = include_str!("../../../sql/index_builds_progress.sql");

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
        let rows = c.query(INDEX_BUILDS_PROGRESS_SQL, &[]).await;
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
