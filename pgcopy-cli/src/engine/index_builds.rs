//! Index builds while the load goes on: the worker that commits a table's
//! last chunk hands it to the builder, which rebuilds that table's deferred
//! indexes at once, as pgcopydb does, instead of waiting for every table's
//! load. Builds and loads share one budget of `--parallel` slots
//! ([`Shared::budget`]): a worker holds a slot while it has chunks to copy,
//! a build takes one while it runs, so the servers do as much work at once
//! as the user asked, and builds fill the slots loads leave idle (the tail
//! of a big table's load). What was not rebuilt then (a partitioned
//! table's indexes, which attach their partitions'; a table routed into
//! another; a failed build) is rebuilt after the load, as before.

use super::Shared;
use pgcopy_core::catalog::Index;
use pgcopy_core::plan::Plan;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Which of the plan's tables get their indexes back as soon as they are
/// loaded, and how many were rebuilt so.
#[derive(Debug, Default)]
pub struct EarlyBuilds {
    eligible: Vec<bool>,
    built: AtomicUsize,
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
}

/// Rebuilds the indexes of the tables sent on `ready` (indexes into the
/// plan's tables) as they come, each on a session of its own once a slot
/// of the budget is free. Returns when every sender is gone and every
/// build it started is over; a stop leaves the rest pending.
pub async fn builder(shared: Arc<Shared>, mut ready: mpsc::UnboundedReceiver<usize>) {
    let mut builds = tokio::task::JoinSet::new();
    while let Some(t) = ready.recv().await {
        if crate::stop::requested() {
            continue;
        }
        let shared = Arc::clone(&shared);
        builds.spawn(async move {
            let Ok(_slot) = Arc::clone(&shared.budget).acquire_owned().await else {
                return;
            };
            if crate::stop::requested() {
                return;
            }
            let table = &shared.plan.tables[t].table;
            let session = match shared.dest.connect_session("index builder").await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(
                        "no connection to rebuild the indexes of {} with ({e}): left for after the load",
                        table.display_name()
                    );
                    return;
                }
            };
            let _cancel = crate::stop::on_stop(session.cancel.clone());
            let mut conn = session.client;
            if conn
                .batch_execute(&crate::indexes::build_settings())
                .await
                .is_err()
            {
                return;
            }
            match crate::indexes::rebuild_table(&mut conn, &shared.store, &shared.scope, table)
                .await
            {
                Ok(n) => {
                    shared.builds.built.fetch_add(n, Ordering::Relaxed);
                    if n > 0 {
                        tracing::debug!(
                            "rebuilt {} of {} while the load goes on",
                            crate::format::count(n, "index", "indexes"),
                            table.display_name()
                        );
                    }
                }
                // Tried again, and said, after the load.
                Err(e) => tracing::debug!(
                    "an index of {} was not rebuilt while the load went on ({e:#}): tried again after it",
                    table.display_name()
                ),
            }
        });
    }
    while builds.join_next().await.is_some() {}
}
