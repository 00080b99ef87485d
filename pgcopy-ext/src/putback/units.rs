//! The extension's executor of the core's restore units
//! (`pgcopy_core::restore::Unit`): each unit in a subtransaction, the
//! owner's statements inside PostgreSQL's security-restricted switch
//! ([`as_owner`]). What a unit holds, and in which order, is the core's.

use super::*;
use pgcopy_core::restore::{Action, CodeCheck, Failure, Param, Query, Unit};
use pgrx::datum::DatumWithOid;

/// No role is trusted from psql: nobody can name one there.
static NO_TRUST: pgcopy_core::trust::TrustedOwners = pgcopy_core::trust::TrustedOwners::none();

/// Who restores in the extension: the restricted switch, trusting no role
/// beyond superusers and the checker.
pub(super) fn restorer() -> restore::Restorer<'static> {
    restore::Restorer {
        switch: restore::Switch::Restricted,
        trust: &NO_TRUST,
        own: None,
        state_schema: SCHEMA,
    }
}

fn args(q: &Query) -> Vec<DatumWithOid<'static>> {
    q.params
        .iter()
        .map(|p| match p {
            Param::Int8(v) => (*v).into(),
            Param::Text(v) => v.clone().into(),
            Param::Bool(v) => (*v).into(),
            Param::TextArray(v) => v.clone().into(),
            Param::Json(v) => v.clone().map(pgrx::JsonB).into(),
        })
        .collect()
}

/// The rows of `q`, each decoded by `decode`. Read-write, so it takes a new
/// snapshot: inside a new subtransaction pgrx runs a read-only query in the
/// snapshot the call started with, which does not see what this call put
/// back already (a key re-created from another job's row: "already exists"
/// followed).
pub(super) fn select<T>(
    q: &Query,
    mut decode: impl FnMut(&pgrx::spi::SpiHeapTupleData) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    Spi::connect_mut(|client| {
        let rows = client
            .update(&q.sql, None, &args(q))
            .map_err(|e| e.to_string())?;
        rows.map(|r| decode(&r)).collect()
    })
}

/// Runs `q` (a record of the state) in a subtransaction of its own,
/// reporting a failure as a warning.
pub(super) fn record_query(q: &Query) {
    record(subxact::run(|| Spi::run_with_args(&q.sql, &args(q))));
}

/// Runs `unit` in a subtransaction: rolled back whole on any failure.
pub(super) fn run(unit: &Unit) -> Result<(), Failure> {
    let failure = std::cell::RefCell::new(None);
    let ran = subxact::run(std::panic::AssertUnwindSafe(|| {
        // Settings the unit makes ([`Action::PlanValidation`]) end with it,
        // as a function's SET clause ends with the call, rather than with
        // the caller's transaction. An error pops the level with the
        // subtransaction.
        // SAFETY: the pattern of PostgreSQL's own index builds and VACUUM
        // (a new nest level, then `AtEOXact_GUC(false, level)` to restore
        // what was set inside it), in the unit's subtransaction.
        let level = unsafe { pgrx::pg_sys::NewGUCNestLevel() };
        let done = run_actions(unit);
        unsafe { pgrx::pg_sys::AtEOXact_GUC(false, level) };
        if let Err(f) = done {
            let message = f.to_string();
            *failure.borrow_mut() = Some(f);
            // Raised, so the subtransaction rolls back.
            pgrx::error!("{message}");
        }
    }));
    match ran {
        Ok(()) => Ok(()),
        Err(message) => Err(failure.take().unwrap_or(Failure::Error(message))),
    }
}

fn spi(e: pgrx::spi::Error) -> Failure {
    Failure::Error(e.to_string())
}

fn text(r: &pgrx::spi::SpiHeapTupleData) -> Result<Option<String>, String> {
    r.get::<String>(1).map_err(|e| e.to_string())
}

fn json(q: &Query) -> Result<Option<serde_json::Value>, Failure> {
    let rows = select(q, |r| {
        r.get::<pgrx::JsonB>(1)
            .map(|j| j.map(|j| j.0))
            .map_err(|e| e.to_string())
    })
    .map_err(Failure::Error)?;
    Ok(rows.into_iter().next().flatten())
}

fn run_actions(unit: &Unit) -> Result<(), Failure> {
    for action in &unit.actions {
        match action {
            // The core asks for these only under `SET ROLE`: with no
            // client parser here, fail closed.
            Action::CheckLiterals(c) => {
                return Err(Failure::Refused(format!(
                    "{} on {}: its literals cannot be checked here",
                    c.what,
                    c.table.display_name()
                )))
            }
            Action::CheckBindingsBefore(c) => {
                if let Some(q) = c.identities_now() {
                    c.before(&select(&q, text).map_err(Failure::Error)?)?;
                }
            }
            Action::CheckForeignCode(c) => foreign_code(c)?,
            Action::Run(statements) => {
                for s in statements {
                    Spi::run(s).map_err(spi)?;
                }
            }
            Action::RunAsOwner { owner, statements } => as_owner(owner, || {
                for s in statements {
                    Spi::run(s)?;
                }
                Ok(())
            })
            .map_err(spi)?,
            Action::CheckBindingsAfter(c, q) => c.after(json(q)?)?,
            Action::RenameClones(c) => rename_clones(c),
            // A plan's settings end with the unit ([`run`]).
            Action::PlanValidation(q) | Action::Record(q) => {
                Spi::run_with_args(&q.sql, &args(q)).map_err(spi)?
            }
        }
    }
    Ok(())
}

/// Locks the tables of `c` others could give code, then refuses the code
/// its check would run ([`CodeCheck`]). Inside `as_owner` no code can leave
/// the restricted operation, but PostgreSQL runs the check's query as the
/// referenced table's owner: where that is another role, code of roles
/// neither superuser nor the caller would run with its rights.
fn foreign_code(c: &CodeCheck) -> Result<(), Failure> {
    let checker = match c.checker_query() {
        Some(q) => Some(
            select(&q, text)
                .map_err(Failure::Error)?
                .into_iter()
                .next()
                .flatten()
                .unwrap_or_default(),
        ),
        None => None,
    };
    // Locked until the call's transaction ends, so the code seen below is
    // the code the validation plans.
    let locks = select(&c.locks(checker.clone()), |r| {
        Ok(pgcopy_core::quote::QualifiedName::new(
            text(r)?.unwrap_or_default(),
            r.get::<String>(2)
                .map_err(|e| e.to_string())?
                .unwrap_or_default(),
        ))
    })
    .map_err(Failure::Error)?;
    if let Some(lock) = restore::lock_for_validation(&locks) {
        Spi::run(&lock).map_err(spi)?;
    }
    // Fail closed: the query always answers one text.
    let what = select(&c.code(checker), text)
        .map_err(Failure::Error)?
        .into_iter()
        .next()
        .flatten()
        .ok_or_else(|| Failure::Error("reading what the key's check runs gave no answer".into()))?;
    c.verdict(&what)
}

/// The renames of the partitions' copies, as the owner, in a subtransaction
/// of their own: where they fail, the copies keep the names PostgreSQL gave
/// them, with a warning; the key itself is back.
fn rename_clones(c: &restore::CloneNames) {
    let renames = match json(&c.now()).map(|now| c.renames(now)) {
        Ok(Ok(r)) if !r.is_empty() => r,
        _ => return,
    };
    let renamed = subxact::run(|| {
        as_owner(&c.owner, || {
            for r in &renames {
                Spi::run(r)?;
            }
            Ok(())
        })
        .map_err(|e| e.to_string())
    });
    if let Err(e) | Ok(Err(e)) = renamed {
        pgrx::warning!("{}", c.warning(&e));
    }
}
