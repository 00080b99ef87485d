//! Step `SaveAndDrop`: the foreign keys and the deferred indexes the load
//! must not have, each saved in the state schema in the transaction that
//! drops it (`crate::constraints`, `crate::indexes`).

use crate::engine::steps::job::Setup;
use crate::state::StateStore;
use pgcopy_core::states::JobState;
use tokio_postgres::Client;

/// Saves and drops the job's foreign keys, then its deferred indexes. A
/// foreign key that cannot be saved and dropped fails the job (recorded);
/// an index batch that cannot stays in place, kept up during the load.
pub async fn run(dst: &mut Client, store: &StateStore, setup: &Setup) -> anyhow::Result<()> {
    let job_id = setup.job_id;
    if !setup.fks_to_drop.is_empty() {
        let refs: Vec<_> = setup.fks_to_drop.iter().collect();
        if let Err(e) = crate::constraints::save_and_drop(dst, store, job_id, &refs).await {
            crate::state::log_failed_write(
                store
                    .finish_job(dst, job_id, JobState::Failed, Some(&format!("{e:#}")))
                    .await,
                "the job's end",
            );
            return Err(e);
        }
    }
    if let Err(e) = crate::indexes::save_and_drop(dst, store, job_id, &setup.indexes_to_drop).await
    {
        // Nothing is lost: the batch that failed dropped and saved nothing.
        tracing::warn!(
            "{e:#}: those indexes stay in place and are kept up to date during the load (slower, \
             same result)"
        );
    }
    crate::failpoint::hit("after-drop-fks").await;
    Ok(())
}
