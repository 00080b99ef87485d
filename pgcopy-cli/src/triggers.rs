//! Triggers a job disabled, put back: by the end of a copy, and by `pgcopy
//! jobs discard`.

use crate::error::{PgContext, UserError};
use crate::state::{StateStore, OBJECTS_PER_TRANSACTION};
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::restore::{self, Action, Unit};
use pgcopy_core::stored::Authority;
use pgcopy_core::triggers::SavedTrigger;
use std::collections::HashMap;
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
    let mut owners: HashMap<QualifiedName, Result<Authority, String>> = HashMap::new();
    let mut refused: Vec<SavedTrigger> = Vec::new();
    let mut refusals: Vec<String> = Vec::new();
    // In batches, each recording the triggers still disabled after it.
    let mut rest = triggers;
    while !rest.is_empty() {
        let (batch, after) = rest.split_at(rest.len().min(OBJECTS_PER_TRANSACTION));
        // Every owner is looked up before any role is taken: the state
        // schema is this role's to read, not the owners'.
        let mut actions = Vec::new();
        for t in batch {
            if !owners.contains_key(&t.table) {
                let probe = restore::table_probe(store.schema(), job_id, &t.table);
                let rows = crate::restore_units::query(dst, &probe)
                    .await
                    .pg_context(|| format!("looking up {}", t.table.display_name()))?;
                let authority = match rows.first() {
                    None => Err(format!("table {} does not exist", t.table.display_name())),
                    Some(r) => pgcopy_core::rows::authority(&crate::rows::PgRow(r), 0, job_id)
                        .map_err(|e| format!("{e:#}")),
                };
                owners.insert(t.table.clone(), authority);
            }
            let action = owners[&t.table]
                .clone()
                .and_then(|a| restore::trigger_restore(t, &a).map_err(|e| e.to_string()));
            match action {
                Ok(action) => actions.push(action),
                Err(why) => {
                    refusals.push(format!("trigger {}: {why}", t.display_name()));
                    refused.push(t.clone());
                }
            }
        }
        let mut left = refused.clone();
        left.extend_from_slice(after);
        actions.push(Action::Record(restore::disabled_triggers_update(
            store.schema(),
            job_id,
            &left,
        )));
        crate::restore_units::run(dst, &Unit::new(actions))
            .await
            .map_err(|f| anyhow::anyhow!("re-enabling the triggers job {job_id} disabled: {f}"))?;
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
