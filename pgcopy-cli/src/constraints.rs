//! Foreign keys in drop mode.
//!
//! Every FK is saved in `saved_fks` **in the same transaction** that drops it, so
//! there is never a dropped FK without its stored definition. Restoring reads the
//! saved rows (not memory), so the end of a run, `pgcopy restore-fks` and a
//! recovery after a killed run share one path: each FK is added `NOT VALID` and
//! marked restored in one transaction, then validated in a second one (kept
//! `NOT VALID` if it was so before). A validation failure leaves the constraint
//! present as `NOT VALID`, with the reason recorded.

use crate::connect::Endpoint;
use crate::error::PgContext;
use crate::state::StateStore;
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::restore::{self, RestoreState, SavedFk, Unit};
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_postgres::Client;

mod save;

pub use save::save_and_drop;

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

/// Restores every saved FK of `scope` that is not back yet, or is back but
/// still waits for validation.
///
/// Adding runs on `dst`, one FK at a time: `ADD CONSTRAINT` locks both tables,
/// and two FKs between the same tables in opposite directions would deadlock
/// if added at once. Validating, the slow part (a scan of the referencing
/// table), runs over up to `parallel` connections: it locks the referencing
/// table SHARE UPDATE EXCLUSIVE and the referenced one ROW SHARE, which never
/// deadlock each other.
///
/// With `progress`, the step shows on the bar: each FK that is done, back
/// or failed, counts one of those pending (as `indexes::rebuild` counts its
/// builds).
pub async fn restore(
    dst: &mut Client,
    dest: &Endpoint,
    parallel: usize,
    store: &StateStore,
    scope: &crate::scope::Scope,
    progress: Option<&crate::engine::after_load::AfterLoad>,
) -> anyhow::Result<Vec<RestoreOutcome>> {
    let saved = store.pending_fks(dst, scope.job).await?;
    if let Some(p) = progress {
        p.begin(pgcopy_core::states::Phase::ForeignKeys, saved.len());
    }
    let done: Option<Arc<AtomicUsize>> = progress.map(|p| p.counter());
    let count_one = move || {
        if let Some(d) = &done {
            d.fetch_add(1, Ordering::Relaxed);
        }
    };

    // Per FK: its state, and why it is not back as before.
    let mut results: Vec<(RestoreState, Option<String>)> = Vec::with_capacity(saved.len());
    let mut validations = Vec::new();
    for (i, fk) in saved.iter().enumerate() {
        if crate::stop::requested() {
            results.push((
                RestoreState::Failed,
                Some("not restored: the run was stopped".to_string()),
            ));
            continue;
        }
        match add_one(dst, store, scope, fk).await {
            Ok((valid, validate)) => {
                results.push((RestoreState::from_validity(fk.was_validated, valid), None));
                match validate {
                    Some(unit) => validations.push((i, unit)),
                    None => count_one(),
                }
            }
            Err(e) => {
                let msg = format!("{e:#}");
                record_error(dst, store, fk, &msg).await;
                results.push((RestoreState::Failed, Some(msg)));
                count_one();
            }
        }
    }
    crate::failpoint::hit("after-fk-adds").await;
    let validated = crate::pool::on_connections(
        dest,
        parallel,
        "FK validation",
        &pgcopy_core::maintenance::settings(parallel, None),
        validations,
        move |mut conn, (i, unit)| {
            let count_one = count_one.clone();
            async move {
                crate::failpoint::delay("fk-validation").await;
                let why = validate_one(&mut conn, &unit).await;
                count_one();
                (conn, (i, why))
            }
        },
    )
    .await?;
    for (i, why) in validated {
        results[i] = (
            RestoreState::from_validity(saved[i].was_validated, why.is_none()),
            why,
        );
    }
    Ok(logged_outcomes(saved, results))
}

/// Each key's outcome, logged: a key not back as it was is an error.
fn logged_outcomes(
    saved: Vec<SavedFk>,
    results: Vec<(RestoreState, Option<String>)>,
) -> Vec<RestoreOutcome> {
    let mut out = Vec::new();
    for (fk, (state, error)) in saved.into_iter().zip(results) {
        let outcome = RestoreOutcome {
            job_id: fk.job_id,
            table: fk.table,
            constraint: fk.name,
            state,
            error,
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
    out
}

/// Records why a saved FK could not be restored (best effort: the connection
/// may be the reason).
async fn record_error(conn: &Client, store: &StateStore, fk: &SavedFk, msg: &str) {
    let q = restore::fk_error(store.schema(), fk, msg);
    crate::restore_units::record(conn, &q, "why a foreign key was not restored").await;
}

/// Probes what the destination has for `saved` and runs the core's unit
/// that adds it back (or marks it there), as the table's owner; returns
/// whether it is valid now, and the validation still to run.
pub(crate) async fn add_one(
    dst: &mut Client,
    store: &StateStore,
    scope: &crate::scope::Scope,
    saved: &SavedFk,
) -> anyhow::Result<(bool, Option<Unit>)> {
    let row = crate::restore_units::query(dst, &restore::fk_probe(store.schema(), saved))
        .await
        .pg_context(|| format!("looking up {}", saved.table.display_name()))?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("table {} does not exist", saved.table.display_name()))?;
    let present = pgcopy_core::rows::present(&crate::rows::PgRow(&row), saved.job_id)?;
    let by = crate::restore_units::restorer(store, scope);
    let restore = restore::fk_restore(saved, present, &by, crate::parse::parse)?;
    crate::restore_units::run(dst, &restore.add)
        .await
        .map_err(|f| match f {
            restore::Failure::Refused(why) => anyhow::anyhow!("{why}"),
            restore::Failure::Error(e) => anyhow::anyhow!(
                "adding foreign key {} on {}: {e}",
                saved.name,
                saved.table.display_name()
            ),
        })?;
    Ok((restore.valid_after_add, restore.validate))
}

/// Runs the validation `unit` of a restored FK; `Some(why)` when it is not
/// valid now (it stays NOT VALID, recorded so), or was stopped.
pub(crate) async fn validate_one(conn: &mut Client, unit: &Unit) -> Option<String> {
    match crate::restore_units::run(conn, unit).await {
        Ok(()) => None,
        // Cancelled by a stop: still waiting for its validation, which a
        // resume or `restore-fks` runs.
        Err(_) if crate::stop::requested() => {
            Some("not validated yet: the run was stopped".to_string())
        }
        Err(f) => {
            let (msg, record) = unit.failed(f);
            if let Some(record) = record {
                crate::restore_units::record(conn, &record, "why a foreign key was not validated")
                    .await;
            }
            Some(msg)
        }
    }
}
