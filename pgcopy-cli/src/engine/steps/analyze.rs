//! ANALYZE while the load goes on: the worker that commits a table's last
//! chunk hands it to the analyzer, which analyzes it on a destination
//! connection of its own, so statistics are gathered while other tables
//! still load instead of in one serial statement at the end, and no worker
//! waits for them. What was not analyzed then (partitions, tables with a
//! deferred expression index, tables finished by an earlier run, a failed
//! ANALYZE) is analyzed after the load.

use crate::engine::shared::Shared;
use crate::error::pg_message;
use crate::lock::Locked;
use pgcopy_core::plan::Plan;
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::sql;
use pgcopy_core::states::Phase;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_postgres::Client;

/// Analyzes the tables sent on `ready` (indexes into the plan's tables) as
/// they come: each round takes every table ready by then and analyzes them
/// in one statement, one round trip however many there are. Returns when
/// every sender is gone; on interrupt it stops analyzing.
/// Each table analyzed is said on `analyzed`.
pub async fn analyzer(
    shared: Arc<Shared>,
    mut ready: mpsc::UnboundedReceiver<usize>,
    analyzed: mpsc::UnboundedSender<crate::engine::tables_done::KeyNews>,
) {
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
            Ok(()) => batch.iter().for_each(|&t| {
                shared.analyze.mark_analyzed(t);
                let _ = analyzed.send(crate::engine::tables_done::KeyNews::Analyzed(t));
            }),
            // Each is analyzed after the load, alone if need be.
            Err(e) => tracing::debug!(
                "ANALYZE of {} tables failed: {}; they are analyzed after the load",
                batch.len(),
                pg_message(&e)
            ),
        }
    }
}

/// After the load: analyzes the copied tables not analyzed during it (all
/// of them when `analyze`; none with `--no-analyze`).
pub async fn after_load(
    shared: &Shared,
    dst: &Client,
    analyze: bool,
    summary: &crate::engine::summary::RunSummary,
) {
    let plan = &shared.plan;
    if analyze && !crate::stop::requested() {
        let rest =
            plan.analyze_after_load(|i| summary.table_ok(i), |i| shared.analyze.is_analyzed(i));
        let early = plan
            .tables
            .iter()
            .enumerate()
            .filter(|(i, _)| shared.analyze.is_analyzed(*i))
            .count();
        // The tables analyzed during the load count as done.
        shared.enter(dst, Phase::Analyze, early + rest.len()).await;
        shared.after.counter().fetch_add(early, Ordering::Relaxed);
        if !rest.is_empty() {
            let started = Instant::now();
            let mut failed = 0;
            if let Err(e) = dst.batch_execute(&sql::analyze(&rest)).await {
                tracing::debug!(
                    "ANALYZE of {} tables failed: {}",
                    rest.len(),
                    pg_message(&e)
                );
                failed = analyze_one_by_one(dst, plan, &rest).await;
            }
            shared
                .after
                .counter()
                .fetch_add(rest.len(), Ordering::Relaxed);
            tracing::info!(
                "analyzed {} after the load in {:.1} s ({early} during it)",
                crate::format::count(rest.len() - failed, "table", "tables"),
                started.elapsed().as_secs_f64()
            );
        } else if early > 0 {
            tracing::info!(
                "analyzed {} during the load",
                crate::format::count(early, "table", "tables")
            );
        }
    }
}

/// After a combined ANALYZE failed: each table alone, so one failure costs
/// only its own statistics. A partitioned table that cannot be analyzed
/// through its root (a foreign partition without a user mapping is sampled
/// too) gets its copied partitions analyzed instead. The data is in either
/// way, so a failure is a warning, not the run's. Returns how many tables got
/// no statistics at all.
async fn analyze_one_by_one(dst: &Client, plan: &Plan, tables: &[QualifiedName]) -> usize {
    let mut failed = 0;
    for t in tables {
        let Err(e) = dst.batch_execute(&sql::analyze([t])).await else {
            continue;
        };
        let partitions: Vec<&QualifiedName> = plan
            .tables
            .iter()
            .filter(|s| s.partition_of.as_ref() == Some(t))
            .map(|s| &s.table)
            .collect();
        let first = pg_message(&e);
        let fallback = match partitions.is_empty() {
            true => Some(first.clone()),
            false => dst
                .batch_execute(&sql::analyze(partitions))
                .await
                .err()
                .map(|f| pg_message(&f)),
        };
        match fallback {
            None => tracing::warn!(
                "could not analyze {} through its partitions' root ({}); analyzed its copied partitions instead",
                t.display_name(),
                first
            ),
            Some(f) => {
                failed += 1;
                tracing::warn!(
                    "could not analyze {}: {f}; run ANALYZE on it once that is fixed",
                    t.display_name()
                )
            }
        }
    }
    failed
}
