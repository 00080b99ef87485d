//! Triggers that jobs no client runs any more disabled, put back in the
//! modes they had, as their tables' owners.

use super::*;

/// Puts back the triggers disabled by the jobs of `job` (all when NULL) that
/// no client runs any more, as `pgcopy restore-fks` does: each as its
/// table's owner, and only where the job's creator could act as that owner
/// (`pgcopy_core::stored::authorize`); one that may not, or fails, stays
/// listed in the job's `disabled_triggers`.
pub(crate) fn restore_triggers(job: Option<i64>) -> Vec<RestoreRow> {
    let jobs: Result<Vec<(i64, serde_json::Value)>, String> = Spi::connect_mut(|client| {
        let table = client
            .update(
                &pgcopy_core::state_sql::JOBS_WITH_DISABLED_TRIGGERS.render(SCHEMA),
                None,
                &[job.into()],
            )
            .map_err(|e| e.to_string())?;
        table
            .map(|row| {
                let r = SpiRow(&row);
                use pgcopy_core::rows::Columns;
                Ok((
                    r.int8(0)?.unwrap_or_default(),
                    r.json(1)?.unwrap_or_default(),
                ))
            })
            .collect()
    });
    let jobs = jobs.unwrap_or_else(|e| {
        ExtError::Read {
            what: "reading the jobs' disabled triggers",
            error: e,
        }
        .raise("pgcopy.restore_fks")
    });
    let mut rows = Vec::new();
    for (job_id, listed) in jobs {
        let triggers: Vec<SavedTrigger> = match serde_json::from_value(listed) {
            Ok(t) => t,
            Err(e) => {
                rows.push((
                    job_id,
                    String::new(),
                    String::new(),
                    "failed".to_string(),
                    Some(format!("its disabled_triggers cannot be read: {e}")),
                ));
                continue;
            }
        };
        let mut left = Vec::new();
        for t in triggers {
            let name = t.trigger.clone().unwrap_or_else(|| "USER".to_string());
            let put_back = subxact::run(|| enable_trigger(job_id, &t)).and_then(|r| r);
            match put_back {
                Ok(()) => rows.push((
                    job_id,
                    t.table.display_name(),
                    name,
                    "trigger_restored".into(),
                    None,
                )),
                Err(e) => {
                    rows.push((
                        job_id,
                        t.table.display_name(),
                        name,
                        "failed".into(),
                        Some(e),
                    ));
                    left.push(t);
                }
            }
        }
        units::record_query(&restore::disabled_triggers_update(SCHEMA, job_id, &left));
    }
    rows
}

/// Enables one trigger in the mode it had, as its table's owner: the
/// core's action, after the probe of who owns its table.
pub(super) fn enable_trigger(job_id: i64, t: &SavedTrigger) -> Result<(), String> {
    let probe = units::select(&restore::table_probe(SCHEMA, job_id, &t.table), |r| {
        pgcopy_core::rows::authority(&SpiRow(r), 0, job_id)
    })?;
    let authority = probe
        .into_iter()
        .next()
        .ok_or_else(|| format!("table {} does not exist", t.table.display_name()))?;
    let action = restore::trigger_restore(t, &authority).map_err(|e| e.to_string())?;
    units::run(&restore::Unit::new(vec![action])).map_err(|f| f.to_string())
}
