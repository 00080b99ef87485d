//! Triggers a job disabled, put back: by the end of a copy, and by `pgcopy
//! jobs discard`.

use crate::error::{PgContext, UserError};
use crate::state::{StateStore, OBJECTS_PER_TRANSACTION};
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::sql;
use pgcopy_core::triggers::SavedTrigger;
use tokio_postgres::Client;

/// Puts disabled triggers back in their modes and clears the job's record of
/// them, together. The list comes from the job's row, which members of its
/// creator may have changed: each trigger goes back as its table's owner, and
/// only when the job's creator could act as that owner (see
/// `pgcopy_core::stored::authorize`); one that may not is left disabled and
/// listed, and the error names it.
pub async fn enable_triggers(
    dst: &mut Client,
    store: &StateStore,
    job_id: i64,
    triggers: &[SavedTrigger],
) -> anyhow::Result<()> {
    let mut owners: std::collections::HashMap<QualifiedName, Result<String, String>> =
        std::collections::HashMap::new();
    let probe = pgcopy_core::stored::table_probe_sql(store.schema());
    let mut refused: Vec<SavedTrigger> = Vec::new();
    let mut refusals: Vec<String> = Vec::new();
    // In batches, each recording the triggers still disabled after it.
    let mut rest = triggers;
    while !rest.is_empty() {
        let (batch, after) = rest.split_at(rest.len().min(OBJECTS_PER_TRANSACTION));
        let tx = dst.transaction().await?;
        // Every owner is looked up before any role is taken: the state
        // schema is this role's to read, not the owners'.
        for t in batch {
            if !owners.contains_key(&t.table) {
                let row = tx
                    .query_opt(&probe, &[&job_id, &t.table.schema, &t.table.name])
                    .await
                    .pg_context(|| format!("looking up {}", t.table.display_name()))?;
                let owner = match row {
                    None => Err(format!("table {} does not exist", t.table.display_name())),
                    Some(r) => pgcopy_core::rows::authority(&crate::rows::PgRow(&r), 0, job_id)
                        .map_err(|e| format!("{e:#}"))
                        .and_then(|a| {
                            pgcopy_core::stored::authorize(&t.table, &a)
                                .map(|()| a.owner)
                                .map_err(|e| e.to_string())
                        }),
                };
                owners.insert(t.table.clone(), owner);
            }
        }
        let mut role: Option<String> = None;
        for t in batch {
            match &owners[&t.table] {
                Ok(owner) => {
                    if role.as_deref() != Some(owner.as_str()) {
                        tx.batch_execute(&sql::set_local_role(owner)).await?;
                        role = Some(owner.clone());
                    }
                    tx.batch_execute(&t.restore_sql())
                        .await
                        .pg_context(|| format!("re-enabling trigger {}", t.display_name()))?;
                }
                Err(why) => {
                    refusals.push(format!("trigger {}: {why}", t.display_name()));
                    refused.push(t.clone());
                }
            }
        }
        if role.is_some() {
            tx.batch_execute(sql::RESET_ROLE).await?;
        }
        let mut left = refused.clone();
        left.extend_from_slice(after);
        let left = (!left.is_empty())
            .then(|| serde_json::to_value(&left))
            .transpose()?;
        store
            .set_disabled_triggers(&tx, job_id, left.as_ref())
            .await?;
        tx.commit().await?;
        rest = after;
    }
    if !refusals.is_empty() {
        return Err(UserError::failure(format!(
            "{} disabled triggers were not put back, and stay listed in job {job_id}'s disabled_triggers: {}",
            refusals.len(),
            refusals.join("; ")
        ))
        .into());
    }
    Ok(())
}
