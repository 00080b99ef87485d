//! Step `Indexes`: deferred indexes rebuilt. While the load goes on, the worker that commits a table's
//! last chunk hands it to the builder, which rebuilds that table's deferred
//! indexes at once, as pgcopydb does, instead of waiting for every table's
//! load. Builds and loads share one budget of `--parallel` slots
//! ([`Shared::budget`]): a worker holds a slot while it has chunks to copy,
//! a build takes one while it runs, so the servers do as much work at once
//! as the user asked, and builds fill the slots loads leave idle (the tail
//! of a big table's load). What was not rebuilt then (a partitioned
//! table's indexes, which attach their partitions'; a table routed into
//! another; a failed build) is rebuilt after the load, as before.

use crate::engine::shared::{reconnect_if_closed, Shared};
use pgcopy_core::states::Phase;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_postgres::Client;

/// Rebuilds the indexes of the tables sent on `ready` (indexes into the
/// plan's tables) as they come, each on a session of its own once a slot
/// of the budget is free. Returns when every sender is gone and every
/// build it started is over; a stop leaves the rest pending.
/// A table whose builds all succeed goes on to `keys_ready`.
pub async fn builder(
    shared: Arc<Shared>,
    mut ready: mpsc::UnboundedReceiver<usize>,
    keys_ready: mpsc::UnboundedSender<crate::engine::tables_done::KeyNews>,
) {
    let mut builds = tokio::task::JoinSet::new();
    while let Some(t) = ready.recv().await {
        if crate::stop::requested() {
            continue;
        }
        let shared = Arc::clone(&shared);
        let keys_ready = keys_ready.clone();
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
                .batch_execute(&pgcopy_core::maintenance::settings(
                    shared.parallel,
                    Some(shared.budget.available_permits()),
                ))
                .await
                .is_err()
            {
                return;
            }
            // Each build counts at once, on the bar too once the rows are in.
            let on_built = || {
                shared.builds.add_built(1);
                if shared
                    .after
                    .current()
                    .is_some_and(|(phase, ..)| phase == Phase::Indexes)
                {
                    shared.after.advance();
                }
            };
            match crate::indexes::rebuild_table(
                &mut conn,
                &shared.store,
                &shared.scope,
                table,
                &on_built,
            )
            .await
            {
                Ok(n) => {
                    if n > 0 {
                        tracing::debug!(
                            "rebuilt {} of {} while the load goes on",
                            crate::format::count(n, "index", "indexes"),
                            table.display_name()
                        );
                    }
                    let _ = keys_ready.send(crate::engine::tables_done::KeyNews::Loaded(t));
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

/// After the load: rebuilds the saved indexes the builder did not (whatever
/// happened to the load, but a stop); one message per index that failed.
pub async fn after_load(
    shared: &Shared,
    dst: &mut Client,
    parallel: usize,
) -> anyhow::Result<Vec<String>> {
    if !reconnect_if_closed(dst, &shared.dest).await {
        return Err(anyhow::anyhow!(
            "the destination is unreachable: saved indexes are rebuilt by `pgcopy restore-fks`"
        ));
    }
    shared.enter(dst, Phase::Indexes, 0).await;
    crate::indexes::rebuild(
        dst,
        &shared.dest,
        &shared.store,
        &shared.scope,
        parallel,
        Some(&shared.after),
        shared.builds.built(),
    )
    .await
    .map(|(_, failures)| failures)
}
