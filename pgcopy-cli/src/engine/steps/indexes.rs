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
/// plan's tables) as they come ([`rebuild_table`]). Returns when every
/// sender is gone and every build it started is over; a stop leaves the
/// rest pending. A table whose builds all succeed goes on to `keys_ready`.
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
            let table = &shared.plan.tables[t].table;
            match rebuild_table(&shared, t).await {
                Ok((n, sessions)) => {
                    match (n, sessions) {
                        (0, _) => {}
                        (n, 1) => tracing::debug!(
                            "rebuilt {} of {} while the load goes on",
                            crate::format::count(n, "index", "indexes"),
                            table.display_name()
                        ),
                        (n, sessions) => tracing::debug!(
                            "rebuilt {} of {} on {sessions} sessions side by side, the load done",
                            crate::format::count(n, "index", "indexes"),
                            table.display_name()
                        ),
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

/// A session that builds, holding its slot of the budget while it lives.
struct BuildSession {
    client: Client,
    _cancel: crate::stop::OnStop,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl BuildSession {
    /// A new session on `slot`.
    async fn open(
        shared: &Shared,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) -> anyhow::Result<Self> {
        let session = shared
            .dest
            .connect_session("index builder")
            .await
            .map_err(|e| anyhow::anyhow!("no connection to rebuild with ({e})"))?;
        Ok(BuildSession {
            _cancel: crate::stop::on_stop(session.cancel.clone()),
            client: session.client,
            _slot: slot,
        })
    }

    /// Memory out of the shared budget, and `workers` parallel workers.
    async fn set_up(&self, shared: &Shared, workers: usize) -> anyhow::Result<()> {
        let settings = pgcopy_core::maintenance::settings(shared.parallel, Some(workers));
        Ok(self.client.batch_execute(&settings).await?)
    }

    /// Rebuilds `groups` in turn, counting each build as it ends.
    async fn rebuild(
        &mut self,
        shared: &Shared,
        groups: &[crate::indexes::TableGroup],
    ) -> anyhow::Result<usize> {
        let built = || built(shared);
        crate::indexes::rebuild_groups(
            &mut self.client,
            &shared.store,
            &shared.scope,
            groups,
            &built,
        )
        .await
    }
}

/// Rebuilds the deferred indexes of the plan's table `t` once its load is
/// in, once a slot of the budget is free. While loads go on, in turn on
/// one session: the loads keep the cores. Once no load is left, each group
/// of [`crate::indexes::table_groups`] a free slot can take goes on a
/// session of its own, side by side, so the last large table's key and
/// its other indexes build at once (one 3M-row table's two builds took
/// 1.5 s side by side, 1.8-2.2 s in turn). Returns how many it rebuilt, on
/// how many sessions; an error when a build failed (it stays pending).
async fn rebuild_table(shared: &Arc<Shared>, t: usize) -> anyhow::Result<(usize, usize)> {
    let table = &shared.plan.tables[t].table;
    let slot = Arc::clone(&shared.budget).acquire_owned().await?;
    if crate::stop::requested() {
        anyhow::bail!("the run was stopped");
    }
    let mut first = BuildSession::open(shared, slot).await?;
    let groups =
        crate::indexes::table_groups(&first.client, &shared.store, &shared.scope, table).await?;
    let mut in_turn = Vec::new();
    let mut beside = Vec::new();
    for (i, group) in groups.into_iter().enumerate() {
        let slot = (i > 0 && !shared.loads_in_flight())
            .then(|| Arc::clone(&shared.budget).try_acquire_owned().ok())
            .flatten();
        match slot {
            Some(slot) => beside.push((slot, group)),
            None => in_turn.push(group),
        }
    }
    // The slots left idle go to parallel workers, shared by the sessions.
    let sessions = 1 + beside.len();
    let workers = shared.budget.available_permits() / sessions;
    // Before any build beside it starts: a failure here returns before
    // there is one to abandon half-sent.
    first.set_up(shared, workers).await?;
    let mut others = tokio::task::JoinSet::new();
    for (slot, group) in beside {
        let shared = Arc::clone(shared);
        others.spawn(async move {
            let mut session = BuildSession::open(&shared, slot).await?;
            session.set_up(&shared, workers).await?;
            session.rebuild(&shared, &[group]).await
        });
    }
    let mut rebuilt = first.rebuild(shared, &in_turn).await;
    drop(first);
    while let Some(done) = others.join_next().await {
        let n = done.map_err(anyhow::Error::from).and_then(|n| n);
        rebuilt = match (rebuilt, n) {
            (Ok(a), Ok(b)) => Ok(a + b),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
    }
    rebuilt.map(|n| (n, sessions))
}

/// Counts one build at once, on the bar too once the rows are in.
fn built(shared: &Shared) {
    shared.builds.add_built(1);
    if shared
        .after
        .current()
        .is_some_and(|(phase, ..)| phase == Phase::Indexes)
    {
        shared.after.advance();
    }
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
