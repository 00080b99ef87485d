//! The phases of a copy after setup, in their order: before the load
//! (replica mode, triggers disabled, the up-front TRUNCATE, locked and
//! checked), the load, and after it (indexes rebuilt, triggers put back,
//! large objects, sequences, materialized views, ANALYZE).

use super::*;

/// Disables user triggers (recorded in the job), runs the load, re-enables them
/// whatever happened, then sets sequences, refreshes and analyzes.
pub(super) async fn copy_data(
    shared: &Arc<Shared>,
    src: &Client,
    dst: &mut Client,
    setup: &Setup,
    opts: &RunOptions,
    display: Option<&crate::progress::Display>,
    summary: summary::RunSummary,
) -> anyhow::Result<summary::RunSummary> {
    let store = &shared.store;
    // A stop (`crate::stop`) lets nothing new start: each step asks first,
    // and the job stays as resumable as a killed one.
    if crate::stop::requested() {
        return Ok(summary);
    }
    if shared.plan.replica_mode() {
        dst.batch_execute(sql::SET_REPLICA_MODE).await?;
    }
    // In batches, each recording every trigger disabled so far.
    let mut disabled = 0;
    for batch in setup.triggers.chunks(OBJECTS_PER_TRANSACTION) {
        if crate::stop::requested() {
            return Ok(summary);
        }
        let tx = dst.transaction().await?;
        for t in batch {
            tx.batch_execute(&t.disable_sql())
                .await
                .pg_context(|| format!("disabling trigger {}", t.display_name()))?;
        }
        disabled += batch.len();
        store
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
    crate::failpoint::delay("before-truncate").await;
    if crate::stop::requested() {
        return Ok(summary);
    }
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
        let mut guarded: Vec<(&QualifiedName, &super::guard::Guard)> = targets
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
        store
            .mark_step(&tx, shared.job_id, JobStep::Truncated)
            .await?;
        tx.commit().await?;
    }
    shared.enter(dst, Phase::Load, 0).await;
    let result = load(shared, dst, opts, display, summary).await;
    if crate::stop::requested() {
        return result;
    }
    // Indexes come back whatever happened (but a stop), before ANALYZE and
    // FK validation (both use them).
    let index_failures = if reconnect_if_closed(dst, &shared.dest).await {
        shared.enter(dst, Phase::Indexes, 0).await;
        crate::indexes::rebuild(
            dst,
            &shared.dest,
            store,
            &shared.scope,
            opts.parallel,
            Some(&shared.after),
            shared.builds.built(),
        )
        .await
        .map(|(_, failures)| failures)
    } else {
        Err(anyhow::anyhow!(
            "the destination is unreachable: saved indexes are rebuilt by `pgcopy restore-fks`"
        ))
    };
    let mut trigger_failure = None;
    if crate::stop::requested() {
        let mut summary = result?;
        summary.index_failures = index_failures?;
        return Ok(summary);
    }
    if !setup.triggers.is_empty() {
        // A trigger left disabled fails the job, so `pgcopy restore-fks`
        // (which puts back what jobs that did not succeed left) finds it.
        let put_back = match reconnect_if_closed(dst, &shared.dest).await {
            true => {
                shared.enter(dst, Phase::Triggers, 0).await;
                enable_triggers(dst, store, shared.job_id, &setup.triggers).await
            }
            false => Err(anyhow::anyhow!("the destination is unreachable")),
        };
        if let Err(e) = put_back {
            tracing::error!(
                "could not put the disabled triggers back: {e:#}; they are listed in the job's \
                 disabled_triggers, and `pgcopy restore-fks` puts them back"
            );
            trigger_failure = Some(format!("{e:#}"));
        }
    }
    let mut summary = result?;
    summary.index_failures = index_failures?;
    summary.trigger_failure = trigger_failure;
    if crate::stop::requested() {
        return Ok(summary);
    }
    if !shared.plan.large_objects.is_empty() {
        shared.enter(dst, Phase::LargeObjects, 0).await;
        let done: std::collections::HashSet<i32> = setup
            .done_chunks
            .keys()
            .filter(|(schema, table, _)| {
                (schema.as_str(), table.as_str()) == pgcopy_core::plan::LARGE_OBJECTS
            })
            .map(|(_, _, chunk)| *chunk)
            .collect();
        match large_objects::copy(shared, &done, opts.parallel).await {
            Ok(copied) => summary.large_objects = copied.objects,
            Err(e) => {
                tracing::error!("{e:#}");
                summary.large_object_failure = Some(format!("{e:#}"));
            }
        }
    }
    if crate::stop::requested() {
        return Ok(summary);
    }
    reconnect_if_closed(dst, &shared.dest).await;
    if shared.plan.replica_mode() {
        dst.batch_execute(sql::SET_REPLICA_MODE).await?;
    }
    summary.matview_failures = finish(shared, src, dst, setup.analyze, &summary).await?;
    Ok(summary)
}
