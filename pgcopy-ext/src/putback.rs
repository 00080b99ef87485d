//! Putting back what jobs saved, inside the server: saved indexes rebuilt,
//! saved foreign keys and NOT VALID CHECKs added and validated, each step in
//! a subtransaction, each definition parsed by the server's own parser and
//! run as the table's owner inside a security-restricted switch
//! ([`as_owner`]), as `pgcopy_core::restore` decides.

use super::*;

mod bindings;
mod triggers;

use bindings::{check_bindings_after, check_bindings_before, rename_clones};
pub(crate) use triggers::restore_triggers;

/// Rebuilds the saved indexes of `job` (all when NULL) that are not back.
pub(crate) fn restore_indexes(job: Option<i64>) -> Vec<RestoreRow> {
    let pending: Vec<SavedIndex> = Spi::connect(|client| {
        let table = client
            .select(&restore::pending_indexes_sql(SCHEMA), None, &[job.into()])
            .map_err(|e| e.to_string())?;
        table
            .map(|row| pgcopy_core::rows::saved_index(&SpiRow(&row)).map(|(saved, _)| saved))
            .collect::<Result<Vec<_>, String>>()
    })
    .unwrap_or_else(|e| {
        ExtError::Read {
            what: "reading pgcopy.saved_indexes",
            error: e.to_string(),
        }
        .raise("pgcopy.restore_fks")
    });
    let mut rows = Vec::new();
    for saved in pending {
        let (job_id, schema, table, name) = (
            saved.job_id,
            saved.table.schema.clone(),
            saved.table.name.clone(),
            saved.name.clone(),
        );
        let result = subxact::run(|| rebuild_index(&saved));
        let error = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(msg) => Some(msg),
        };
        if let Some(msg) = &error {
            record(subxact::run(|| {
                Spi::run_with_args(
                    &restore::index_error_sql(SCHEMA),
                    &[
                        job_id.into(),
                        schema.clone().into(),
                        name.clone().into(),
                        msg.clone().into(),
                    ],
                )
            }));
        }
        let outcome = if error.is_none() {
            "index_restored"
        } else {
            "failed"
        };
        rows.push((
            job_id,
            format!("{schema}.{table}"),
            name,
            outcome.to_string(),
            error,
        ));
    }
    rows
}

/// Reports a failed write of the state itself (the restore's outcome is
/// already being returned, so it is a warning, not a lost error).
fn record(result: Result<Result<(), pgrx::spi::Error>, String>) {
    let msg = match result {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e.to_string(),
        Err(m) => m,
    };
    warning!("pgcopy.restore_fks: could not record the outcome in pgcopy's state: {msg}");
}

/// An SPI row as `pgcopy_core::rows::Columns`: positions from 0, as the core
/// decoders count, moved to SPI's count from 1 here and nowhere else.
pub(crate) struct SpiRow<'a, 'r>(pub &'a pgrx::spi::SpiHeapTupleData<'r>);

impl pgcopy_core::rows::Columns for SpiRow<'_, '_> {
    type Error = String;
    fn text(&self, i: usize) -> Result<Option<String>, String> {
        self.0.get::<String>(i + 1).map_err(|e| e.to_string())
    }
    fn int8(&self, i: usize) -> Result<Option<i64>, String> {
        self.0.get::<i64>(i + 1).map_err(|e| e.to_string())
    }
    fn int4(&self, i: usize) -> Result<Option<i32>, String> {
        self.0.get::<i32>(i + 1).map_err(|e| e.to_string())
    }
    fn boolean(&self, i: usize) -> Result<Option<bool>, String> {
        self.0.get::<bool>(i + 1).map_err(|e| e.to_string())
    }
    fn json(&self, i: usize) -> Result<Option<serde_json::Value>, String> {
        Ok(self
            .0
            .get::<pgrx::JsonB>(i + 1)
            .map_err(|e| e.to_string())?
            .map(|j| j.0))
    }
    fn invalid(&self, what: String) -> String {
        what
    }
}

/// Rebuilds one saved index unless it exists, as its table's owner, and marks
/// it rebuilt; inside the caller's subtransaction.
fn rebuild_index(saved: &SavedIndex) -> Result<(), String> {
    let (job_id, schema, table, name) = (
        saved.job_id,
        saved.table.schema.as_str(),
        saved.table.name.as_str(),
        saved.name.as_str(),
    );
    // Read-write, so the probe takes a new snapshot: one that sees what this
    // call put back already (see `restore_one`).
    let probe = Spi::connect_mut(|client| {
        let mut rows = client
            .update(
                &stored::index_probe_sql(SCHEMA),
                Some(1),
                &[
                    job_id.into(),
                    schema.into(),
                    table.into(),
                    name.into(),
                    saved.properties.tablespace.clone().into(),
                ],
            )
            .map_err(|e| e.to_string())?;
        rows.next()
            .map(|r| pgcopy_core::rows::index_present(&SpiRow(&r), job_id))
            .transpose()
    })?;
    let Some((present, authority)) = probe else {
        return Err(format!("table {schema}.{table} does not exist"));
    };
    let action = restore::index_action(saved, present, &authority, parse::parse)
        .map_err(|e| e.to_string())?;
    let what = format!("index {name}");
    let bindings = saved.bindings.as_deref().unwrap_or_default();
    if matches!(action, restore::IndexAction::Build { .. }) {
        check_bindings_before(bindings, &what, &saved.table)?;
    }
    // PostgreSQL runs what an index build calls as the table's owner in a
    // restricted operation itself (see IndexAction::Build), but parses the
    // statement first with the caller's rights, and a literal's input
    // function (a domain's CHECK) runs then. Where the owner is neither a
    // superuser nor the caller, the whole build runs in the restricted
    // switch to the owner.
    let run_all = || {
        for s in action.statements() {
            Spi::run(s)?;
        }
        Ok(())
    };
    match authority.owner_trusted {
        true => run_all(),
        false => as_owner(&authority.owner, run_all),
    }
    .map_err(|e: pgrx::spi::Error| e.to_string())?;
    // Raised, so the caller's subtransaction rolls the build back.
    if matches!(action, restore::IndexAction::Build { .. }) {
        let index = pgcopy_core::quote::QualifiedName::new(schema, name).to_string();
        if let Err(msg) = check_bindings_after(
            bindings,
            &pgcopy_core::bindings::bindings_sql(
                "'pg_catalog.pg_class'::pg_catalog.regclass",
                "pg_catalog.to_regclass($1)::pg_catalog.oid",
            ),
            vec![index.into()],
            &what,
            &saved.table,
        ) {
            pgrx::error!("{msg}");
        }
    }
    Spi::run_with_args(
        &restore::mark_index_sql(SCHEMA),
        &[job_id.into(), schema.into(), name.into()],
    )
    .map_err(|e| e.to_string())
}

/// Runs `f` with `owner`'s rights, as PostgreSQL itself does for the work of
/// CREATE INDEX or REFRESH MATERIALIZED VIEW: the current user becomes the
/// owner inside a *security-restricted operation*, so code the statement
/// calls may not `SET ROLE` back, create temporary objects, or leave a
/// deferred trigger to fire later with the caller's rights (pending deferred
/// triggers are fired before the switch ends, and one that the owner's code
/// queued fails inside it); settings it changes are rolled back. The caller's
/// identity returns afterwards (on an error, the enclosing subtransaction's
/// abort restores it).
fn as_owner<R>(
    owner: &str,
    f: impl FnOnce() -> Result<R, pgrx::spi::Error>,
) -> Result<R, pgrx::spi::Error> {
    struct Restore(pg_sys::Oid, i32, i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: puts back the settings and identity read just before
            // the switch.
            unsafe {
                pg_sys::AtEOXact_GUC(false, self.2);
                pg_sys::SetUserIdAndSecContext(self.0, self.1)
            }
        }
    }
    let name = std::ffi::CString::new(owner).unwrap_or_default();
    // SAFETY: get_role_oid raises when the role does not exist (caught by the
    // caller's subtransaction); the switch is PostgreSQL's own primitive, as
    // index.c and matview.c use it.
    let _back = unsafe {
        let role = pg_sys::get_role_oid(name.as_ptr(), false);
        let (mut user, mut context) = (pg_sys::Oid::INVALID, 0i32);
        pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
        pg_sys::SetUserIdAndSecContext(
            role,
            context
                | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
        );
        let nest = pg_sys::NewGUCNestLevel();
        Restore(user, context, nest)
    };
    let r = f()?;
    // Deferred trigger events the statement queued fire now, inside the
    // restricted operation (which refuses to fire user code), never at the
    // caller's COMMIT.
    Spi::run("SET CONSTRAINTS ALL IMMEDIATE")?;
    Ok(r)
}

fn mark(saved: &SavedFk, valid: bool, error: Option<String>) -> Result<(), pgrx::spi::Error> {
    Spi::run_with_args(
        &restore::mark_sql(SCHEMA),
        &[
            saved.job_id.into(),
            saved.table.schema.clone().into(),
            saved.table.name.clone().into(),
            saved.name.clone().into(),
            valid.into(),
            error.into(),
        ],
    )
}

pub(crate) fn restore_one(saved: &SavedFk, validate: bool) -> (RestoreState, Option<String>) {
    // Read-write: inside a new subtransaction pgrx runs a read-only query
    // in the snapshot the call started with, which does not see a key this
    // call re-created from another job's row; "already exists" followed.
    let probe = subxact::run(|| {
        Spi::connect_mut(|client| {
            let mut t = client.update(
                &restore::probe_sql(SCHEMA, saved),
                Some(1),
                &[saved.name.clone().into(), saved.job_id.into()],
            )?;
            let row = t.next();
            Ok::<_, pgrx::spi::Error>(
                row.map(|r| pgcopy_core::rows::present(&SpiRow(&r), saved.job_id)),
            )
        })
    });
    let present = match probe {
        Ok(Ok(Some(Ok(p)))) => p,
        Ok(Ok(Some(Err(e)))) => return fail(saved, e),
        Ok(Ok(None)) => {
            return fail(
                saved,
                format!("table {} does not exist", saved.table.display_name()),
            )
        }
        Ok(Err(e)) => return fail(saved, e.to_string()),
        Err(msg) => return fail(saved, msg),
    };
    let steps = match restore::steps(saved, &present, parse::parse) {
        Ok(s) => s,
        Err(why) => return fail(saved, why.to_string()),
    };
    let mut valid_now = false;
    let mut error = None;
    for step in steps {
        match step {
            Step::Add {
                sql,
                valid,
                owner,
                comment,
            } => {
                // Added validated (partitioned tables): the check runs code.
                if valid {
                    match foreign_code(saved) {
                        Ok(None) => {}
                        Ok(Some(why)) => return fail(saved, restore::not_added(&owner, &why)),
                        Err(msg) => return fail(saved, msg),
                    }
                }
                let what = format!("constraint {}", saved.name);
                let bindings = saved.bindings.as_deref().unwrap_or_default();
                if let Err(msg) = check_bindings_before(bindings, &what, &saved.table) {
                    return fail(saved, msg);
                }
                match subxact::run(|| {
                    as_owner(&owner, || {
                        Spi::run(&sql)?;
                        match &comment {
                            Some(c) => Spi::run(c),
                            None => Ok(()),
                        }
                    })
                    .map_err(|e| e.to_string())?;
                    // Raised, so the subtransaction rolls the add back.
                    if let Err(msg) = check_bindings_after(
                        bindings,
                        &restore::added_constraint_bindings(),
                        vec![saved.table.to_string().into(), saved.name.clone().into()],
                        &what,
                        &saved.table,
                    ) {
                        pgrx::error!("{msg}");
                    }
                    rename_clones(saved, &owner);
                    mark(saved, valid, None).map_err(|e| e.to_string())
                }) {
                    Ok(Ok(())) => valid_now = valid,
                    Ok(Err(e)) => return fail(saved, e),
                    Err(msg) => return fail(saved, msg),
                }
            }
            Step::MarkPresent { valid } => {
                if let Err(msg) = subxact::run(|| mark(saved, valid, None))
                    .and_then(|r| r.map_err(|e| e.to_string()))
                {
                    return fail(saved, msg);
                }
                valid_now = valid;
            }
            Step::Validate { sql, owner } if validate => {
                if let Some(msg) = match foreign_code(saved) {
                    Ok(None) => None,
                    Ok(Some(why)) => Some(restore::validation_skipped(saved, &owner, &why)),
                    Err(msg) => Some(format!("validation skipped: {msg}")),
                } {
                    record(subxact::run(|| mark(saved, false, Some(msg.clone()))));
                    error = Some(msg);
                    continue;
                }
                match subxact::run(|| {
                    as_owner(&owner, || Spi::run(&sql)).and_then(|_| mark(saved, true, None))
                }) {
                    Ok(Ok(())) => valid_now = true,
                    Ok(Err(e)) => error = Some(format!("validation failed: {e}")),
                    Err(msg) => error = Some(format!("validation failed: {msg}")),
                }
                if let Some(msg) = &error {
                    record(subxact::run(|| mark(saved, false, Some(msg.clone()))));
                }
            }
            Step::Validate { .. } => {}
        }
    }
    (
        RestoreState::from_validity(saved.was_validated, valid_now),
        error,
    )
}

/// Why checking `saved` for its table's `owner` must not run here
/// (`restore::foreign_code_refusal`). Inside `as_owner` no code can leave
/// the restricted operation, but PostgreSQL runs the check's query as the
/// referenced table's owner: where that is another role, code of roles
/// neither superuser nor the caller (casts of the columns' types, functions
/// behind the operators) would run with its rights.
fn foreign_code(saved: &SavedFk) -> Result<Option<String>, String> {
    let found = subxact::run(|| {
        Spi::connect_mut(|client| {
            // The check runs as the table's owner (the security-restricted
            // switch), and PostgreSQL may run it, or its fallback, as the
            // referenced table's: only where both are one role may that
            // role's own code run; else only superusers'.
            let checker: String = client
                .update(
                    "SELECT CASE WHEN t.relowner = r.relowner \
                                 THEN pg_catalog.pg_get_userbyid(t.relowner)::text ELSE '' END \
                       FROM pg_catalog.pg_class t, pg_catalog.pg_class r \
                      WHERE t.oid = pg_catalog.to_regclass($1) AND r.oid = pg_catalog.to_regclass($2)",
                    Some(1),
                    &[
                        saved.table.to_string().into(),
                        saved.referenced.to_string().into(),
                    ],
                )?
                .next()
                .map(|r| r.get::<String>(1))
                .transpose()?
                .flatten()
                .unwrap_or_default();
            // Locked until the call's transaction ends, so the code seen
            // below is the code the validation plans.
            let locks: Vec<pgcopy_core::quote::QualifiedName> = client
                .update(
                    restore::VALIDATION_LOCKS_SQL,
                    None,
                    &[
                        saved.table.to_string().into(),
                        saved.referenced.to_string().into(),
                        Vec::<String>::new().into(),
                        checker.clone().into(),
                    ],
                )?
                .map(|r| {
                    Ok(pgcopy_core::quote::QualifiedName::new(
                        r.get::<String>(1)?.unwrap_or_default(),
                        r.get::<String>(2)?.unwrap_or_default(),
                    ))
                })
                .collect::<Result<_, pgrx::spi::Error>>()?;
            if let Some(lock) = restore::lock_for_validation(&locks) {
                client.update(&lock, None, &[])?;
            }
            let mut rows = client.update(
                &format!("SELECT ({})", restore::FK_UNTRUSTED_CODE_SQL),
                Some(1),
                &[
                    saved.table.to_string().into(),
                    saved.referenced.to_string().into(),
                    saved.name.clone().into(),
                    // The extension trusts no role beyond superusers and the
                    // one the check runs as: nobody can say otherwise from
                    // psql.
                    Vec::<String>::new().into(),
                    checker.into(),
                ],
            )?;
            let row = rows.next();
            Ok::<_, pgrx::spi::Error>(match row {
                Some(r) => r.get::<String>(1)?.unwrap_or_default(),
                None => String::new(),
            })
        })
    });
    match found {
        Ok(Ok(what)) => Ok(restore::foreign_code_refusal(&what)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(msg) => Err(msg),
    }
}

/// Records why `saved` could not be restored and reports it.
fn fail(saved: &SavedFk, msg: String) -> (RestoreState, Option<String>) {
    record(subxact::run(|| {
        Spi::run_with_args(
            &restore::error_sql(SCHEMA),
            &[
                saved.job_id.into(),
                saved.table.schema.clone().into(),
                saved.table.name.clone().into(),
                saved.name.clone().into(),
                msg.clone().into(),
            ],
        )
    }));
    (RestoreState::Failed, Some(msg))
}
