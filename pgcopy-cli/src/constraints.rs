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
use crate::error::{pg_message, PgContext};
use crate::state::StateStore;
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::restore::{self, RestoreState, SavedFk, Step};
use pgcopy_core::sql;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_postgres::{Client, GenericClient};

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
    let rows = dst
        .query(&restore::pending_sql(store.schema()), &[&scope.job])
        .await
        .pg_context(|| "reading saved foreign keys".into())?;
    let saved: Vec<SavedFk> = rows
        .iter()
        .map(|r| pgcopy_core::rows::saved_fk(&crate::rows::PgRow(r)))
        .collect::<anyhow::Result<_>>()?;
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
                    Some((sql, owner)) => validations.push((i, fk.clone(), sql, owner)),
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
    let (schema, trust) = (store.clone(), scope.trust.clone());
    let validated = crate::pool::on_connections(
        dest,
        parallel,
        "FK validation",
        "",
        validations,
        move |mut conn, (i, fk, sql, owner)| {
            let (store, trust) = (schema.clone(), trust.clone());
            let count_one = count_one.clone();
            async move {
                crate::failpoint::delay("fk-validation").await;
                let r = validate_one(&mut conn, &store, &trust, &fk, &sql, &owner).await;
                if let Err(e) = &r {
                    record_error(&conn, &store, &fk, &format!("{e:#}")).await;
                }
                count_one();
                (conn, (i, r))
            }
        },
    )
    .await?;
    for (i, r) in validated {
        let why = match r {
            Ok(why) => why,
            Err(e) => Some(format!("{e:#}")),
        };
        results[i] = (
            RestoreState::from_validity(saved[i].was_validated, why.is_none()),
            why,
        );
    }

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
    Ok(out)
}

/// Records why a saved FK could not be restored (best effort: the connection
/// may be the reason).
async fn record_error(conn: &Client, store: &StateStore, fk: &SavedFk, msg: &str) {
    let written = conn
        .execute(
            &restore::error_sql(store.schema()),
            &[&fk.job_id, &fk.table.schema, &fk.table.name, &fk.name, &msg],
        )
        .await
        .map(|_| ())
        .map_err(anyhow::Error::from);
    crate::state::log_failed_write(written, "why a foreign key was not restored");
}

/// Runs the core's steps for one FK up to validation, each in its own
/// transaction and as the table's owner; returns whether it is valid now, and
/// the VALIDATE still to run with the role to run it as.
pub(crate) async fn add_one(
    dst: &mut Client,
    store: &StateStore,
    scope: &crate::scope::Scope,
    saved: &SavedFk,
) -> anyhow::Result<(bool, Option<(String, String)>)> {
    if let Some(own) = &scope.own {
        own.check_constraint(saved)?;
    }
    let row = dst
        .query_opt(
            &restore::probe_sql(store.schema(), saved),
            &[&saved.name, &saved.job_id],
        )
        .await
        .pg_context(|| format!("looking up {}", saved.table.display_name()))?
        .ok_or_else(|| anyhow::anyhow!("table {} does not exist", saved.table.display_name()))?;
    let mut present = pgcopy_core::rows::present(&crate::rows::PgRow(&row), saved.job_id)?;
    present.authority.owner_trusted |= scope.trust.trusts(&present.authority.owner);
    let mut valid_now = false;
    let mut validate = None;
    for step in restore::steps(saved, &present, crate::parse::parse)? {
        match step {
            Step::Add {
                sql,
                valid,
                owner,
                comment,
            } => {
                let literals =
                    crate::parse::risky_literals(&sql).map_err(|e| anyhow::anyhow!("{e}"))?;
                pgcopy_core::stored::check_literals(
                    &saved.table,
                    &format!("constraint {}", saved.name),
                    &literals,
                    &present.authority,
                )?;
                // Added validated in one step (partitioned tables): the check
                // runs code; see foreign_code.
                let what = format!("constraint {}", saved.name);
                let bindings = saved.bindings.as_deref().unwrap_or_default();
                crate::rebind::check_before(&*dst, bindings, &what, &saved.table).await?;
                let tx = dst.transaction().await?;
                if valid {
                    if let Some(why) = foreign_code(&tx, &scope.trust, saved).await? {
                        anyhow::bail!("{}", restore::not_added(&owner, &why));
                    }
                }
                let statements: Vec<&str> = std::iter::once(sql.as_str())
                    .chain(comment.as_deref())
                    .collect();
                run_as(&tx, &owner, &statements).await.pg_context(|| {
                    format!(
                        "adding foreign key {} on {}",
                        saved.name,
                        saved.table.display_name()
                    )
                })?;
                let now = tx
                    .query_one(
                        &format!("SELECT {}", restore::added_constraint_bindings()),
                        &[&saved.table.to_string(), &saved.name],
                    )
                    .await?;
                // Rolled back (the transaction dropped unfinished) when not
                // bound as before.
                crate::rebind::check_after(bindings, now.try_get(0)?, &what, &saved.table)?;
                rename_clones(&tx, saved, &owner).await?;
                mark_restored(&tx, store, saved, valid, None).await?;
                tx.commit().await?;
                valid_now = valid;
            }
            Step::MarkPresent { valid } => {
                mark_restored(dst, store, saved, valid, None).await?;
                valid_now = valid;
            }
            Step::Validate { sql, owner } => validate = Some((sql, owner)),
        }
    }
    Ok((valid_now, validate))
}

/// Gives the copies PostgreSQL made of the re-added `saved` on partitions
/// the names they had (`restore::clone_renames`), as `owner`, in `tx`; where
/// that fails (a name taken since), they keep the names PostgreSQL chose,
/// and a warning says so: the key itself is back.
async fn rename_clones(
    tx: &tokio_postgres::Transaction<'_>,
    saved: &SavedFk,
    owner: &str,
) -> anyhow::Result<()> {
    if saved.clone_names.is_empty() {
        return Ok(());
    }
    let now = tx
        .query_one(
            &restore::clones_now_sql(),
            &[&saved.table.to_string(), &saved.name],
        )
        .await
        .pg_context(|| format!("reading the partitions' copies of {}", saved.name))?;
    let now = restore::clone_names_from_json(now.try_get(0)?).map_err(|e| anyhow::anyhow!(e))?;
    let renames = restore::clone_renames(&saved.clone_names, &now);
    if renames.is_empty() {
        return Ok(());
    }
    tx.batch_execute("SAVEPOINT pgcopy_clone_names").await?;
    let statements: Vec<&str> = renames.iter().map(String::as_str).collect();
    match run_as(tx, owner, &statements).await {
        Ok(()) => {
            tx.batch_execute("RELEASE SAVEPOINT pgcopy_clone_names")
                .await?
        }
        Err(e) => {
            tx.batch_execute(
                "ROLLBACK TO SAVEPOINT pgcopy_clone_names; RELEASE SAVEPOINT pgcopy_clone_names",
            )
            .await?;
            tracing::warn!(
                "foreign key {} on {} is back, but its copies on partitions keep the names PostgreSQL gave them: {}",
                pgcopy_core::quote::printable(&saved.name),
                saved.table.display_name(),
                pg_message(&e)
            );
        }
    }
    Ok(())
}

/// Runs statements proven by `pgcopy_core::stored` (or built by the quoting
/// builder) as `owner`, inside `tx`: `SET LOCAL ROLE`, each statement, `RESET
/// ROLE`, each sent alone through the extended protocol, which refuses a text
/// the server would read as more than one statement.
///
/// `SET ROLE` bounds what the statement itself may do; it is no sandbox for
/// code the statement calls (that code could `RESET ROLE` under a superuser's
/// session): callers run here only statements that call no code of a role
/// the caller does not trust (see `Authority::code_trusted`).
pub async fn run_as(
    tx: &impl GenericClient,
    owner: &str,
    statements: &[&str],
) -> Result<(), tokio_postgres::Error> {
    tx.batch_execute(&sql::set_local_role(owner)).await?;
    for s in statements {
        tx.execute(*s, &[]).await?;
    }
    tx.batch_execute(sql::RESET_ROLE).await
}

/// Marks `saved` restored, with its validity now and why it is not as before.
async fn mark_restored(
    conn: &impl GenericClient,
    store: &StateStore,
    saved: &SavedFk,
    valid: bool,
    error: Option<&str>,
) -> Result<u64, tokio_postgres::Error> {
    conn.execute(
        &restore::mark_sql(store.schema()),
        &[
            &saved.job_id,
            &saved.table.schema,
            &saved.table.name,
            &saved.name,
            &valid,
            &error,
        ],
    )
    .await
}

/// Validates one restored FK and records the result with it; `Some(why)` when
/// the data does not satisfy it (it stays NOT VALID).
pub(crate) async fn validate_one(
    conn: &mut Client,
    store: &StateStore,
    trust: &pgcopy_core::trust::TrustedOwners,
    saved: &SavedFk,
    sql: &str,
    owner: &str,
) -> anyhow::Result<Option<String>> {
    let tx = conn.transaction().await?;
    if let Some(why) = foreign_code(&tx, trust, saved).await? {
        drop(tx);
        let msg = restore::validation_skipped(saved, owner, &why);
        mark_restored(conn, store, saved, false, Some(&msg)).await?;
        return Ok(Some(msg));
    }
    match run_as(&tx, owner, &[sql]).await {
        Ok(()) => {
            mark_restored(&tx, store, saved, true, None).await?;
            tx.commit().await?;
            Ok(None)
        }
        // Cancelled by a stop: still waiting for its validation, which a
        // resume or `restore-fks` runs.
        Err(_) if crate::stop::requested() => {
            Ok(Some("not validated yet: the run was stopped".to_string()))
        }
        Err(e) => {
            drop(tx);
            let msg = format!("validation failed: {}", pg_message(&e));
            mark_restored(conn, store, saved, false, Some(&msg)).await?;
            Ok(Some(msg))
        }
    }
}

/// Why checking `saved` would run code of a role that is neither a
/// superuser, this one nor trusted, with this role's rights (`SET ROLE` is
/// no sandbox for such code, so it is not run): see
/// `restore::FK_UNTRUSTED_CODE_SQL`. `None` when nothing such runs. In `tx`,
/// the transaction that validates, after locking the tables others could
/// give such code meanwhile (`restore::VALIDATION_LOCKS_SQL`).
async fn foreign_code(
    tx: &impl GenericClient,
    trust: &pgcopy_core::trust::TrustedOwners,
    saved: &SavedFk,
) -> anyhow::Result<Option<String>> {
    let (table, referenced) = (saved.table.to_string(), saved.referenced.to_string());
    let roles = trust.roles();
    let locks: Vec<QualifiedName> = tx
        .query(
            restore::VALIDATION_LOCKS_SQL,
            &[&table, &referenced, &roles, &None::<String>],
        )
        .await
        .pg_context(|| format!("reading who may change the tables of {}", saved.name))?
        .iter()
        .map(|r| {
            Ok(QualifiedName::new(
                r.try_get::<_, String>(0)?,
                r.try_get::<_, String>(1)?,
            ))
        })
        .collect::<Result<_, tokio_postgres::Error>>()?;
    if let Some(lock) = restore::lock_for_validation(&locks) {
        tx.batch_execute(&lock)
            .await
            .pg_context(|| format!("locking the tables of {}", saved.name))?;
    }
    let row = tx
        .query_one(
            &format!("SELECT ({})", restore::FK_UNTRUSTED_CODE_SQL),
            &[&table, &referenced, &saved.name, &roles, &None::<String>],
        )
        .await
        .pg_context(|| format!("reading what validating {} runs", saved.name))?;
    let what: String = row.try_get(0)?;
    Ok(restore::foreign_code_refusal(&what))
}
