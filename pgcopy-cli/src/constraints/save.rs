//! Saving and dropping foreign keys: each saved in `saved_fks` in the
//! transaction that drops it, with the bindings it had.

use super::*;
use crate::state::OBJECTS_PER_TRANSACTION;
use pgcopy_core::catalog::ForeignKey;
use pgcopy_core::sql;

/// Saves and drops `fks`, each saved in the transaction that drops it, in
/// batches of [`OBJECTS_PER_TRANSACTION`]; the job's step is recorded with
/// the last batch.
pub async fn save_and_drop(
    dst: &mut Client,
    store: &StateStore,
    job_id: i64,
    fks: &[&ForeignKey],
) -> anyhow::Result<()> {
    let batches = fks.chunks(OBJECTS_PER_TRANSACTION).count();
    for (i, batch) in fks.chunks(OBJECTS_PER_TRANSACTION).enumerate() {
        // A stop lets no new batch start: those done are saved, the rest
        // stay in place.
        if crate::stop::requested() {
            break;
        }
        save_and_drop_batch(dst, store, job_id, batch, i + 1 == batches).await?;
        if i + 1 < batches {
            crate::failpoint::hit("after-fk-batch").await;
        }
    }
    if !fks.is_empty() {
        tracing::info!(
            "saved and dropped {} (definitions kept in saved_fks)",
            crate::format::count(fks.len(), "foreign key", "foreign keys")
        );
    }
    Ok(())
}

async fn save_and_drop_batch(
    dst: &mut Client,
    store: &StateStore,
    job_id: i64,
    fks: &[&ForeignKey],
    last: bool,
) -> anyhow::Result<()> {
    let tx = dst.transaction().await?;
    // What each constraint depends on is read here, in the transaction that
    // drops it, just before it is dropped.
    let insert = format!(
        "INSERT INTO {fks} (job_id, table_schema, table_name, constraint_name, referenced_schema, \
                         referenced_table, definition, constraint_type, comment, was_validated, bindings, \
                         clone_names) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $9, \
                 (SELECT pg_catalog.obj_description(c.oid, 'pg_constraint') FROM pg_catalog.pg_constraint c \
                   WHERE c.conrelid = pg_catalog.to_regclass($10) AND c.conname = $4::text), \
                 $8 OR EXISTS (SELECT 1 FROM {fks} o JOIN {jobs} oj ON oj.job_id = o.job_id \
                                WHERE o.table_schema = $2 AND o.table_name = $3 \
                                  AND o.constraint_name = $4 AND o.was_validated \
                                  AND o.restored_valid IS NOT TRUE \
                                  AND pg_catalog.pg_get_userbyid(oj.created_by) = current_user), \
                 {bindings}, {clones}) \
         ON CONFLICT (job_id, table_schema, table_name, constraint_name) DO UPDATE SET \
                referenced_schema = EXCLUDED.referenced_schema, referenced_table = EXCLUDED.referenced_table, \
                definition = EXCLUDED.definition, constraint_type = EXCLUDED.constraint_type, \
                comment = EXCLUDED.comment, bindings = EXCLUDED.bindings, clone_names = EXCLUDED.clone_names, \
                was_validated = {fks}.was_validated OR EXCLUDED.was_validated, dropped_at = now(), \
                restored_at = NULL, restored_valid = NULL, restore_error = NULL",
        fks = store.rel("saved_fks"),
        jobs = store.rel("jobs"),
        bindings = pgcopy_core::bindings::bindings_sql(
            "'pg_catalog.pg_constraint'::pg_catalog.regclass",
            CONSTRAINT_OID
        ),
        clones = restore::clone_names_sql(CONSTRAINT_OID),
    );
    // An FK present NOT VALID because a restore was cut short between adding
    // and validating it (a resumed job re-drops it, or a new job finds it)
    // keeps the validity it had: the row saved then, or an earlier job's row
    // of this role still waiting for validation, says it was validated. The
    // definition is stored without NOT VALID; validity lives in was_validated.
    for fk in fks {
        tx.execute(
            &insert,
            &[
                &job_id,
                &fk.table.schema,
                &fk.table.name,
                &fk.name,
                &fk.referenced.schema,
                &fk.referenced.name,
                &restore::strip_not_valid(&fk.definition),
                &fk.validated,
                &fk.kind.contype(),
                &fk.table.to_string(),
            ],
        )
        .await
        .pg_context(|| {
            format!(
                "saving foreign key {} on {}",
                fk.name,
                fk.table.display_name()
            )
        })?;
        tx.batch_execute(&sql::drop_constraint(&fk.table, &fk.name))
            .await
            .pg_context(|| {
                format!(
                    "dropping foreign key {} on {}",
                    fk.name,
                    fk.table.display_name()
                )
            })?;
    }
    if last {
        store
            .mark_step(&tx, job_id, crate::state::JobStep::FksDropped)
            .await?;
    }
    tx.commit()
        .await
        .pg_context(|| "committing the dropped foreign keys".into())?;
    Ok(())
}

/// The OID of the constraint named `$4` on the table named `$10` (a quoted
/// qualified name), as an SQL expression.
const CONSTRAINT_OID: &str = "(SELECT c.oid FROM pg_catalog.pg_constraint c \
     WHERE c.conrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($10) \
       AND c.conname OPERATOR(pg_catalog.=) $4::pg_catalog.text)";
