//! Running a closure in a subtransaction, so that a PostgreSQL error inside it
//! (which would otherwise abort the whole call) rolls back only its own work and
//! comes back as a message: the pattern PL/pgSQL uses for `BEGIN ... EXCEPTION`.

use pgrx::pg_sys;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::PgTryBuilder;

fn message(e: &CaughtError) -> String {
    let report = match e {
        CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r,
        CaughtError::RustPanic { ereport, .. } => ereport,
    };
    match report.detail() {
        Some(d) => format!("{} ({d})", report.message()),
        None => report.message().to_string(),
    }
}

/// Runs `f` in a subtransaction: its result when it completes (committing the
/// subtransaction), or the error's message when PostgreSQL raised one (rolling
/// the subtransaction back).
pub fn run<R>(f: impl FnOnce() -> R + std::panic::UnwindSafe) -> Result<R, String> {
    // SAFETY: the standard internal-subtransaction protocol (as in PL/pgSQL's
    // exception blocks): begin, run, then release or roll back, restoring the
    // caller's memory context and resource owner either way.
    unsafe {
        let mcx = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(mcx);
        PgTryBuilder::new(move || {
            let r = f();
            pg_sys::ReleaseCurrentSubTransaction();
            pg_sys::MemoryContextSwitchTo(mcx);
            pg_sys::CurrentResourceOwner = owner;
            Ok(r)
        })
        .catch_others(move |e| {
            pg_sys::MemoryContextSwitchTo(mcx);
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
            pg_sys::MemoryContextSwitchTo(mcx);
            pg_sys::CurrentResourceOwner = owner;
            Err(message(&e))
        })
        .execute()
    }
}
