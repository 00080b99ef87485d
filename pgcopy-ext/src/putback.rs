//! Putting back what jobs saved, inside the server: saved indexes rebuilt,
//! saved foreign keys and NOT VALID CHECKs added and validated, each step in
//! a subtransaction, each definition parsed by the server's own parser and
//! run as the table's owner inside a security-restricted switch
//! ([`as_owner`]), as `pgcopy_core::restore` decides.

use super::*;

mod triggers;
mod units;

pub(crate) use triggers::restore_triggers;

/// Rebuilds the saved indexes of `job` (all when NULL) that are not back.
pub(crate) fn restore_indexes(job: Option<i64>) -> Vec<RestoreRow> {
    let pending: Vec<SavedIndex> = Spi::connect(|client| {
        let table = client
            .select(
                &pgcopy_core::state_sql::PENDING_INDEXES.render(SCHEMA),
                None,
                &[job.into()],
            )
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
        let error = subxact::run(|| rebuild_index(&saved))
            .and_then(|r| r)
            .err()
            .map(|why| restore::index_failure(&saved, &why));
        if let Some(msg) = &error {
            units::record_query(&restore::index_error(SCHEMA, &saved, msg));
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

/// Rebuilds one saved index unless it exists, and marks it rebuilt: the
/// core's unit, after the probe of what the destination has.
fn rebuild_index(saved: &SavedIndex) -> Result<(), String> {
    let probe = units::select(&restore::index_probe(SCHEMA, saved), |r| {
        pgcopy_core::rows::index_present(&SpiRow(r), saved.job_id)
    })?;
    let Some((present, authority)) = probe.into_iter().next() else {
        return Err(format!(
            "table {} does not exist",
            saved.table.display_name()
        ));
    };
    let unit = restore::index_restore(saved, present, authority, &units::restorer(), parse::parse)
        .map_err(|e| e.to_string())?;
    units::run(&unit).map_err(|f| f.to_string())
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

/// Puts back one saved foreign key (or NOT VALID CHECK), and validates it
/// when `validate`: the core's units, after the probe of what the
/// destination has.
pub(crate) fn restore_one(saved: &SavedFk, validate: bool) -> (RestoreState, Option<String>) {
    let probe = subxact::run(|| {
        units::select(&restore::fk_probe(SCHEMA, saved), |r| {
            pgcopy_core::rows::present(&SpiRow(r), saved.job_id)
        })
    });
    let present = match probe.and_then(|r| r) {
        Ok(rows) => match rows.into_iter().next() {
            Some(p) => p,
            None => {
                return fail(
                    saved,
                    format!("table {} does not exist", saved.table.display_name()),
                )
            }
        },
        Err(msg) => return fail(saved, msg),
    };
    let restore = match restore::fk_restore(saved, present, &units::restorer(), parse::parse) {
        Ok(r) => r,
        Err(why) => return fail(saved, why.to_string()),
    };
    if let Err(f) = units::run(&restore.add) {
        return fail(saved, f.to_string());
    }
    let mut valid_now = restore.valid_after_add;
    let mut error = None;
    if let (Some(unit), true) = (&restore.validate, validate) {
        match units::run(unit) {
            Ok(()) => valid_now = true,
            Err(f) => {
                let (msg, record) = unit.failed(f);
                if let Some(record) = record {
                    units::record_query(&record);
                }
                error = Some(msg);
            }
        }
    }
    (
        RestoreState::from_validity(saved.was_validated, valid_now),
        error,
    )
}

/// Records why `saved` could not be restored and reports it.
fn fail(saved: &SavedFk, msg: String) -> (RestoreState, Option<String>) {
    units::record_query(&restore::fk_error(SCHEMA, saved, &msg));
    (RestoreState::Failed, Some(msg))
}
