//! Foreign keys in drop mode.
//!
//! Every FK is saved in `saved_fks` **in the same transaction** that drops it, so
//! there is never a dropped FK without its stored definition. Restoring reads the
//! saved rows (not memory), so the end of a run, `pgcopy restore-fks` and a
//! recovery after a killed run share one path: each FK is added `NOT VALID` and
//! marked restored in one transaction, then validated in a second one (kept
//! `NOT VALID` if it was so before). A validation failure leaves the constraint
//! present as `NOT VALID`, with the reason recorded.

use crate::cli::RestoreFksArgs;
use crate::connect::{connection_string, Endpoint};
use crate::error::{pg_message, PgContext};
use crate::exit;
use crate::state::StateSchemaStatus;
use crate::state::StateStore;
use pgcopy_core::catalog::ForeignKey;
use pgcopy_core::quote::{quote_literal, QualifiedName};
use pgcopy_core::sql;
use serde::Serialize;
use tokio_postgres::Client;

/// Saves and drops `fks` in one destination transaction.
pub async fn save_and_drop(
    dst: &mut Client,
    store: &StateStore,
    job_id: i64,
    fks: &[&ForeignKey],
) -> anyhow::Result<()> {
    if fks.is_empty() {
        return Ok(());
    }
    let tx = dst.transaction().await?;
    let insert = format!(
        "INSERT INTO {} (job_id, table_schema, table_name, constraint_name, referenced_schema, \
                         referenced_table, definition, was_validated) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        store.rel("saved_fks")
    );
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
                &fk.definition,
                &fk.validated,
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
    tx.commit()
        .await
        .pg_context(|| "committing the dropped foreign keys".into())?;
    tracing::info!(
        "saved and dropped {} foreign keys (definitions kept in saved_fks)",
        fks.len()
    );
    Ok(())
}

/// How restoring one FK ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreState {
    /// Present and validated, as before.
    Restored,
    /// Present and NOT VALID, as it was before the copy.
    RestoredNotValid,
    /// Present, but validation failed: left NOT VALID.
    ValidationFailed,
    /// Could not be added; still saved and pending.
    Failed,
}

/// One restored (or not) FK.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreOutcome {
    /// Job that dropped it.
    pub job_id: i64,
    /// Referencing table.
    pub table: QualifiedName,
    /// Constraint name.
    pub constraint: String,
    /// Outcome.
    pub state: RestoreState,
    /// Error text, when not restored as before.
    pub error: Option<String>,
}

impl RestoreOutcome {
    /// Whether the FK is back exactly as it was.
    pub fn is_ok(&self) -> bool {
        matches!(
            self.state,
            RestoreState::Restored | RestoreState::RestoredNotValid
        )
    }
}

fn strip_not_valid(def: &str) -> &str {
    def.trim().trim_end_matches("NOT VALID").trim_end()
}

/// Restores every saved FK of `job` (all jobs when `None`) that is not back yet,
/// or is back but still waits for validation.
pub async fn restore(
    dst: &mut Client,
    store: &StateStore,
    job: Option<i64>,
) -> anyhow::Result<Vec<RestoreOutcome>> {
    let rows = dst
        .query(
            &format!(
                "SELECT job_id, table_schema, table_name, constraint_name, definition, was_validated, \
                        referenced_schema, referenced_table \
                   FROM {} \
                  WHERE ($1::bigint IS NULL OR job_id = $1) \
                    AND (restored_at IS NULL OR (was_validated AND restored_valid IS NOT TRUE)) \
                  ORDER BY job_id, table_schema, table_name, constraint_name",
                store.rel("saved_fks")
            ),
            &[&job],
        )
        .await
        .pg_context(|| "reading saved foreign keys".into())?;
    let mut out = Vec::new();
    for r in rows {
        let job_id: i64 = r.get(0);
        let table = QualifiedName::new(r.get::<_, String>(1), r.get::<_, String>(2));
        let name: String = r.get(3);
        let definition: String = r.get(4);
        let was_validated: bool = r.get(5);
        let referenced = QualifiedName::new(r.get::<_, String>(6), r.get::<_, String>(7));
        let saved = SavedFk {
            job_id,
            table: &table,
            name: &name,
            definition: &definition,
            was_validated,
            referenced: &referenced,
        };
        let outcome = restore_one(dst, store, &saved).await;
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                let msg = format!("{e:#}");
                let _ = record_error(dst, store, job_id, &table, &name, &msg).await;
                RestoreOutcome {
                    job_id,
                    table: table.clone(),
                    constraint: name.clone(),
                    state: RestoreState::Failed,
                    error: Some(msg),
                }
            }
        };
        match outcome.state {
            RestoreState::Restored | RestoreState::RestoredNotValid => {
                tracing::debug!(
                    "restored foreign key {} on {}",
                    outcome.constraint,
                    outcome.table.display_name()
                )
            }
            RestoreState::ValidationFailed => tracing::error!(
                "foreign key {} on {} is back but NOT VALID: {}",
                outcome.constraint,
                outcome.table.display_name(),
                outcome.error.as_deref().unwrap_or("")
            ),
            RestoreState::Failed => tracing::error!(
                "foreign key {} on {} could not be restored: {}; its definition stays in saved_fks",
                outcome.constraint,
                outcome.table.display_name(),
                outcome.error.as_deref().unwrap_or("")
            ),
        }
        out.push(outcome);
    }
    Ok(out)
}

async fn record_error(
    dst: &Client,
    store: &StateStore,
    job_id: i64,
    table: &QualifiedName,
    name: &str,
    error: &str,
) -> anyhow::Result<()> {
    dst.execute(
        &format!(
            "UPDATE {} SET restore_error = $5 WHERE job_id = $1 AND table_schema = $2 AND table_name = $3 AND constraint_name = $4",
            store.rel("saved_fks")
        ),
        &[&job_id, &table.schema, &table.name, &name, &error],
    )
    .await?;
    Ok(())
}

/// One row of `saved_fks`.
struct SavedFk<'a> {
    job_id: i64,
    table: &'a QualifiedName,
    name: &'a str,
    definition: &'a str,
    was_validated: bool,
    referenced: &'a QualifiedName,
}

async fn restore_one(
    dst: &mut Client,
    store: &StateStore,
    saved: &SavedFk<'_>,
) -> anyhow::Result<RestoreOutcome> {
    let SavedFk {
        job_id,
        table,
        name,
        definition,
        was_validated,
        referenced,
    } = *saved;
    let mark = format!(
        "UPDATE {} SET restored_at = coalesce(restored_at, now()), restored_valid = $5, restore_error = $6 \
          WHERE job_id = $1 AND table_schema = $2 AND table_name = $3 AND constraint_name = $4",
        store.rel("saved_fks")
    );
    let regclass = quote_literal(&table.to_string());
    let ref_regclass = quote_literal(&referenced.to_string());
    let existing = dst
        .query_opt(
            &format!(
                "SELECT pg_catalog.pg_get_constraintdef(c.oid), c.convalidated, \
                        t.relkind = 'p' OR EXISTS (SELECT 1 FROM pg_catalog.pg_class r \
                                                    WHERE r.oid = {ref_regclass}::regclass AND r.relkind = 'p') \
                   FROM pg_catalog.pg_class t LEFT JOIN pg_catalog.pg_constraint c \
                     ON c.conrelid = t.oid AND c.conname = $1 \
                  WHERE t.oid = {regclass}::regclass"
            ),
            &[&name],
        )
        .await
        .pg_context(|| format!("looking up {}", table.display_name()))?
        .ok_or_else(|| anyhow::anyhow!("table {} does not exist", table.display_name()))?;
    let present_def: Option<String> = existing.get(0);
    let present_valid: Option<bool> = existing.get(1);
    let partitioned: bool = existing.get(2);
    let mut valid_now = match present_def {
        Some(def) if strip_not_valid(&def) == strip_not_valid(definition) => {
            present_valid.unwrap_or(false)
        }
        Some(def) => anyhow::bail!(
            "a different constraint named {name:?} exists on {} ({def})",
            table.display_name()
        ),
        None => {
            // PostgreSQL cannot add a NOT VALID foreign key to a partitioned
            // table, and validating one that references a partitioned table
            // leaves its per-partition clones marked not validated: with
            // either, the constraint is added and validated in one step.
            let not_valid = !partitioned || !was_validated;
            let tx = dst.transaction().await?;
            tx.batch_execute(&sql::add_constraint(table, name, definition, not_valid))
                .await
                .pg_context(|| format!("adding foreign key {name} on {}", table.display_name()))?;
            let valid = !not_valid;
            tx.execute(
                &mark,
                &[
                    &job_id,
                    &table.schema,
                    &table.name,
                    &name,
                    &valid,
                    &None::<String>,
                ],
            )
            .await?;
            tx.commit().await?;
            valid
        }
    };
    if present_valid.is_some() {
        dst.execute(
            &mark,
            &[
                &job_id,
                &table.schema,
                &table.name,
                &name,
                &valid_now,
                &None::<String>,
            ],
        )
        .await?;
    }
    let mut error = None;
    if was_validated && !valid_now {
        let tx = dst.transaction().await?;
        match tx
            .batch_execute(&sql::validate_constraint(table, name))
            .await
        {
            Ok(()) => {
                tx.execute(
                    &mark,
                    &[
                        &job_id,
                        &table.schema,
                        &table.name,
                        &name,
                        &true,
                        &None::<String>,
                    ],
                )
                .await?;
                tx.commit().await?;
                valid_now = true;
            }
            Err(e) => {
                drop(tx);
                let msg = format!("validation failed: {}", pg_message(&e));
                dst.execute(
                    &mark,
                    &[
                        &job_id,
                        &table.schema,
                        &table.name,
                        &name,
                        &false,
                        &Some(msg.clone()),
                    ],
                )
                .await?;
                error = Some(msg);
            }
        }
    }
    let state = match (was_validated, valid_now) {
        (true, true) => RestoreState::Restored,
        (false, _) => RestoreState::RestoredNotValid,
        (true, false) => RestoreState::ValidationFailed,
    };
    Ok(RestoreOutcome {
        job_id,
        table: table.clone(),
        constraint: name.to_string(),
        state,
        error,
    })
}

/// `pgcopy restore-fks`: restores pending saved FKs; exit 0 when all are back as
/// they were, 3 when some are not.
pub async fn run_restore_command(args: RestoreFksArgs) -> anyhow::Result<i32> {
    let dest = Endpoint::resolve(
        "destination",
        &connection_string(
            "destination",
            "--dest",
            args.dest.dest.as_deref(),
            "--dest-file",
            args.dest.dest_file.as_deref(),
            "PGCOPY_DEST",
        )?,
    )?;
    let mut dst = dest.connect("restore-fks").await?;
    let store = StateStore::new(&args.state_schema);
    if store.inspect(&dst).await? == StateSchemaStatus::Creatable {
        println!(
            "no state schema {:?} on the destination: nothing to restore",
            args.state_schema
        );
        return Ok(exit::OK);
    }
    let outcomes = restore(&mut dst, &store, args.job).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcomes)?);
    } else if outcomes.is_empty() {
        println!("no foreign keys to restore");
    } else {
        for o in &outcomes {
            println!(
                "job {}  {}  {}  {}{}",
                o.job_id,
                o.table.display_name(),
                o.constraint,
                match o.state {
                    RestoreState::Restored => "restored",
                    RestoreState::RestoredNotValid => "restored (NOT VALID, as before)",
                    RestoreState::ValidationFailed => "present but NOT VALID",
                    RestoreState::Failed => "NOT restored",
                },
                o.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        }
    }
    let bad = outcomes.iter().filter(|o| !o.is_ok()).count();
    if bad > 0 {
        eprintln!(
            "error: {bad} foreign keys are not back as they were; their definitions stay in {}.saved_fks",
            args.state_schema
        );
        return Ok(exit::PARTIAL);
    }
    Ok(exit::OK)
}
