//! Step `Truncate`: the tables the load does not empty in its own
//! transactions (those linked by a foreign key kept in place, and those
//! routed into a table partitioned otherwise) are emptied together first,
//! once locked and checked (`crate::engine::guard`), and only when one of
//! them holds rows.

use crate::engine::guard::{lock_and_check, Guard, LockCheckError};
use crate::engine::shared::Shared;
use crate::engine::steps::job::Setup;
use crate::error::{PgContext, UserError};
use crate::state::JobStep;
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::sql;
use tokio_postgres::Client;

/// Empties the plan's tables to truncate together, unless an earlier run
/// of the job did.
pub async fn run(shared: &Shared, dst: &mut Client, setup: &Setup) -> anyhow::Result<()> {
    if !setup.truncated && !shared.plan.truncate_together.is_empty() {
        let tx = dst.transaction().await?;
        let targets = &shared.plan.truncate_together;
        let names: Vec<String> = targets.iter().map(|t| t.table.to_string()).collect();
        let only: Vec<bool> = targets.iter().map(|t| t.only).collect();
        // Tables other roles may change may have changed since preflight:
        // locked first, then checked, so no trigger or code their owners
        // added runs with this role's rights during the TRUNCATE.
        // Those truncated whole (a partitioned table) and those truncated
        // through them (LOCK TABLE locks a partitioned table's partitions).
        let loaded = shared.plan.tables.iter().filter(|t| !t.truncate_in_load());
        let mut guarded: Vec<(&QualifiedName, &Guard)> = targets
            .iter()
            .map(|t| &t.table)
            .chain(loaded.map(|t| t.dest_table()))
            .filter_map(|t| shared.load_as.get(t))
            .flat_map(|l| l.guards.iter().map(|(n, g)| (n, g)))
            .collect();
        guarded.sort_by(|a, b| a.0.cmp(b.0));
        guarded.dedup();
        if !guarded.is_empty() {
            let tables: Vec<&QualifiedName> = targets.iter().map(|t| &t.table).collect();
            lock_and_check(
                &tx,
                sql::load_guard().as_str(),
                &tables,
                &guarded,
                "ACCESS EXCLUSIVE",
                shared.pin_schemas,
                &shared.scope.trust,
            )
            .await
            .map_err(|e| match e {
                LockCheckError::Changed => UserError::failure(e.message()).into(),
                _ => anyhow::anyhow!("locking the tables to truncate: {}", e.message()),
            })?;
        }
        let holds_rows: bool = tx
            .query_typed_one(
                pgcopy_core::HOLDS_ROWS_SQL,
                &[
                    (&names, tokio_postgres::types::Type::TEXT_ARRAY),
                    (&only, tokio_postgres::types::Type::BOOL_ARRAY),
                ],
            )
            .await
            .pg_context(|| "reading the destination tables' sizes".into())?
            .try_get(0)?;
        if holds_rows {
            tx.batch_execute(&sql::truncate(targets))
                .await
                .pg_context(|| "truncating the destination tables".into())?;
        } else {
            tracing::debug!("the destination tables are empty: not truncated");
        }
        shared
            .store
            .mark_step(&tx, shared.job_id, JobStep::Truncated)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}
