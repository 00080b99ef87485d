//! What each maintenance session of a copy (an index build, a foreign key's
//! validation) may use on the destination: `maintenance_work_mem` out of
//! one budget shared by the `--parallel` sessions, and, for a build,
//! parallel workers only from the slots no load or build holds.
//!
//! A foreign key's validation counts too: PostgreSQL runs its check with
//! `work_mem` set to `maintenance_work_mem` (`RI_Initial_Check`), so a
//! parent table whose keys do not fit is hashed in batches, spilled to disk.

/// Memory the maintenance sessions of one copy may use together, MiB.
pub const TOTAL_MB: u32 = 1024;

/// Memory one session gets at least, MiB, however many run: a build of a
/// large table sorts in memory rather than on disk.
pub const MIN_MB: u32 = 128;

/// Parallel workers one build takes at most.
pub const MAX_WORKERS: usize = 4;

/// `maintenance_work_mem` (MiB) for each of `sessions` sessions at once:
/// the total shared, between [`MIN_MB`] and [`TOTAL_MB`].
pub fn memory_mb(sessions: usize) -> u32 {
    let sessions = u32::try_from(sessions.max(1)).unwrap_or(u32::MAX);
    (TOTAL_MB / sessions).clamp(MIN_MB, TOTAL_MB)
}

/// `max_parallel_maintenance_workers` for a build that starts while `free`
/// slots of `--parallel` are idle: it takes those (at most
/// [`MAX_WORKERS`]), so `--parallel` bounds the servers' work, and the
/// last big build after the load uses the cores the load left.
pub fn parallel_workers(free: usize) -> usize {
    free.min(MAX_WORKERS)
}

/// The settings of a maintenance session among `sessions`; for a build,
/// `free` slots give it parallel workers (`None`: a validation, which
/// plans no parallel build).
pub fn settings(sessions: usize, free: Option<usize>) -> String {
    let memory = format!("SET maintenance_work_mem = '{}MB'", memory_mb(sessions));
    match free {
        Some(free) => format!(
            "{memory}; SET max_parallel_maintenance_workers = {}",
            parallel_workers(free)
        ),
        None => memory,
    }
}

#[cfg(test)]
mod tests;
