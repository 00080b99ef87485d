//! Step `ForeignKeys`: the foreign keys (and NOT VALID CHECKs) the job
//! dropped, added back and validated as their tables' owners
//! (`crate::constraints::restore`), whatever happened before, unless a
//! stop was asked: they stay saved for the resume.

use crate::connect::Endpoint;
use crate::engine::after_load;
use crate::engine::shared::reconnect_if_closed;
use crate::error::UserError;
use crate::state::StateStore;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// Restores the job's dropped FKs; returns those not back as they were. A second
/// Ctrl-C stops restoring, leaving the rest saved.
pub async fn restore(
    dst: &mut Client,
    store: &StateStore,
    scope: &crate::scope::Scope,
    dest: &Endpoint,
    parallel: usize,
    any: bool,
    progress: &after_load::AfterLoad,
) -> anyhow::Result<Vec<crate::constraints::RestoreOutcome>> {
    if !any || crate::stop::requested() {
        return Ok(Vec::new());
    }
    let job_id = scope.job.unwrap_or_default();
    let mut tries = 0;
    while !reconnect_if_closed(dst, dest).await {
        tries += 1;
        if tries > 20 {
            return Err(UserError::failure(format!(
                "the destination is unreachable: the foreign keys job {job_id} dropped stay saved in {}.saved_fks; \
                 run `pgcopy restore-fks` when it is back",
                store.schema()
            ))
            .into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let started = Instant::now();
    let outcomes = tokio::select! {
        r = crate::constraints::restore(dst, dest, parallel, store, scope, Some(progress)) => r?,
        // The restore asks before each key, and what runs is cancelled; the
        // rest stay saved, for the resume.
        _ = crate::stop::wait() => return Ok(Vec::new()),
    };
    let total = outcomes.len();
    let bad: Vec<_> = outcomes.into_iter().filter(|o| !o.is_ok()).collect();
    tracing::info!(
        "restored {} foreign keys in {:.1} s{}",
        total - bad.len(),
        started.elapsed().as_secs_f64(),
        if bad.is_empty() {
            String::new()
        } else {
            format!(", {} not as before (see above)", bad.len())
        }
    );
    Ok(bad)
}
