//! Which saved rows a restore may touch, and whose code it may run: shared
//! by the copy's own restore, `restore-fks` and `jobs discard`.

/// Which saved rows a restore runs, and whose code it may run: `pgcopy
/// restore-fks` and `jobs discard` take every pending row of `job` (all
/// jobs' when `None`) that passes the core's checks; a copy's own restore
/// takes only what it saved itself (`own`).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// One job's rows, or every job's.
    pub job: Option<i64>,
    /// `--trust-owner`: roles whose code may run with this role's rights.
    pub trust: pgcopy_core::trust::TrustedOwners,
    /// For a copy: what it saved itself; a row of its job that is not one
    /// of these, as saved, is not run.
    pub own: Option<std::sync::Arc<pgcopy_core::restore::OwnSaved>>,
}
