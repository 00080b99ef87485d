//! Steps `DisableTriggers` and `EnableTriggers`: every user trigger that
//! would fire during the load is disabled by name, recorded in the job in
//! the same transaction, and put back in its own mode once the rows are in
//! (`crate::triggers`, which `jobs discard` and `restore-fks` share).

use crate::engine::shared::{reconnect_if_closed, Shared};
use crate::engine::steps::job::Setup;
use crate::error::PgContext;
use crate::state::OBJECTS_PER_TRANSACTION;
use pgcopy_core::states::Phase;
use tokio_postgres::Client;

/// Disables the triggers the setup found, in batches, each recording every
/// trigger disabled so far; a stop leaves the rest as they are.
pub async fn disable(shared: &Shared, dst: &mut Client, setup: &Setup) -> anyhow::Result<()> {
    // In batches, each recording every trigger disabled so far.
    let mut disabled = 0;
    for batch in setup.triggers.chunks(OBJECTS_PER_TRANSACTION) {
        if crate::stop::requested() {
            return Ok(());
        }
        let tx = dst.transaction().await?;
        for t in batch {
            tx.batch_execute(&t.disable_sql())
                .await
                .pg_context(|| format!("disabling trigger {}", t.display_name()))?;
        }
        disabled += batch.len();
        shared
            .store
            .set_disabled_triggers(
                &tx,
                shared.job_id,
                Some(&serde_json::to_value(&setup.triggers[..disabled])?),
            )
            .await?;
        tx.commit().await?;
    }
    match setup.triggers.len() {
        0 => {}
        n if n <= 20 => {
            for t in &setup.triggers {
                tracing::info!("disabled trigger {} for the load", t.display_name());
            }
        }
        n => tracing::info!("disabled {n} triggers for the load"),
    }
    Ok(())
}

/// Puts the disabled triggers back in their modes; `Some(why)` when they
/// are not all back (the job then fails, so `pgcopy restore-fks`, which
/// puts back what jobs that did not succeed left, finds them).
pub async fn enable(shared: &Shared, dst: &mut Client, setup: &Setup) -> Option<String> {
    if setup.triggers.is_empty() {
        return None;
    }
    let put_back = match reconnect_if_closed(dst, &shared.dest).await {
        true => {
            shared.enter(dst, Phase::Triggers, 0).await;
            crate::triggers::enable_triggers(dst, &shared.store, shared.job_id, &setup.triggers)
                .await
        }
        false => Err(anyhow::anyhow!("the destination is unreachable")),
    };
    match put_back {
        Ok(()) => None,
        Err(e) => {
            tracing::error!(
                "could not put the disabled triggers back: {e:#}; they are listed in the job's \
                 disabled_triggers, and `pgcopy restore-fks` puts them back"
            );
            Some(format!("{e:#}"))
        }
    }
}
