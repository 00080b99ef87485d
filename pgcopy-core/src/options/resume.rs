//! Whether today's command line may resume a job, and what the resume
//! follows: pure, so every way a flag can contradict what the job was
//! started with is unit-tested.

use super::{human_bytes, CopyOptions, JobOptions, Problem};

/// `--split-larger-than` and `--defer-indexes-above` as given, if given: a
/// resume must not contradict the job's.
#[derive(Debug, Clone, Copy, Default)]
pub struct GivenSizes {
    /// `--split-larger-than`.
    pub split_larger_than: Option<u64>,
    /// `--defer-indexes-above` (none with `--defer-indexes`).
    pub defer_indexes_above: Option<u64>,
}

/// The options a resume of job `job_id` follows: its stored ones, where a
/// flag given now may only ask for less work (`--no-analyze`) or allow more
/// (`--fire-triggers`); or why today's flags (`given`, `given_sizes`) may
/// not resume it.
pub fn resume(
    job_id: i64,
    stored: &JobOptions,
    given: &CopyOptions,
    given_sizes: GivenSizes,
) -> Result<CopyOptions, Mismatch> {
    compare(job_id, stored, given, given_sizes)?;
    Ok(CopyOptions {
        include_tables: stored.include_tables.clone(),
        exclude_tables: stored.exclude_tables.clone(),
        // The stored plan is checked against what its options select
        // today; a table gone since is reported there.
        allow_empty_match: true,
        split_larger_than: stored.split_larger_than,
        analyze: stored.analyze && given.analyze,
        fire_triggers: stored.fire_triggers || given.fire_triggers,
        // The stored plan already holds its large-object batches.
        large_objects: given.large_objects,
        defer_indexes: Some(stored.defer_indexes),
        defer_indexes_min_bytes: stored.defer_indexes_min_bytes,
        // Compared equal to the stored ones above; the ones run are this
        // command line's (the stored transforms are digests).
        row_filters: given.row_filters.clone(),
        follow_fks: given.follow_fks,
        transforms: given.transforms.clone(),
        // Compared equal to the job's above.
        trust: stored.trust_owner.clone(),
    })
}

/// Why a job is not resumed with today's flags.
#[derive(Debug)]
pub enum Mismatch {
    /// A flag given now says otherwise than the job: it would be ignored,
    /// so it is refused (exit 2), naming the flag and what the job used.
    Usage(String),
    /// What is read or trusted differs: the preflight's sentence.
    Problem(Box<Problem>),
}

/// Compares the flags given now (`given`, `given_sizes`) with the options
/// job `job_id` was started with (`stored_options`): what it selects, how it
/// loads, which rows it reads and whose code it trusts must be the job's.
fn compare(
    job_id: i64,
    stored: &JobOptions,
    given: &CopyOptions,
    given_sizes: GivenSizes,
) -> Result<(), Mismatch> {
    let contradicts = |asked: String, flag: &str, started: String| {
        Mismatch::Usage(format!(
            "{asked} contradicts job {job_id}, which was started with {started}: resume it without \
             {flag}, or discard it (`pgcopy jobs discard {job_id}`) and start a new copy"
        ))
    };
    for (flag, now, was) in [
        (
            "--include-tables",
            &given.include_tables,
            &stored.include_tables,
        ),
        (
            "--exclude-tables",
            &given.exclude_tables,
            &stored.exclude_tables,
        ),
    ] {
        if let Some(now) = now.as_deref().filter(|n| Some(*n) != was.as_deref()) {
            return Err(contradicts(
                format!("{flag} {now}"),
                flag,
                was.as_deref()
                    .map(|s| format!("{flag} {s}"))
                    .unwrap_or_else(|| format!("no {flag}")),
            ));
        }
    }
    // How the job loads is its own too: a flag given now that says
    // otherwise would be ignored, so it is refused instead.
    let size = human_bytes;
    for (flag, now, was) in [
        (
            "--defer-indexes-above",
            given_sizes.defer_indexes_above,
            stored.defer_indexes_min_bytes,
        ),
        (
            "--split-larger-than",
            given_sizes.split_larger_than,
            stored.split_larger_than,
        ),
    ] {
        if let Some(now) = now.filter(|n| *n != was) {
            return Err(contradicts(
                format!("{flag} {}", size(now)),
                flag,
                format!("{flag} {}", size(was)),
            ));
        }
    }
    let started = match (stored.defer_indexes, stored.defer_indexes_min_bytes) {
        (false, _) => "its indexes kept in place".to_string(),
        (true, 0) => "--defer-indexes".to_string(),
        (true, n) => format!("the indexes of tables above {} deferred", size(n)),
    };
    match given.defer_indexes {
        Some(true) if !stored.defer_indexes || stored.defer_indexes_min_bytes != 0 => {
            let flag = "--defer-indexes";
            return Err(contradicts(flag.to_string(), flag, started));
        }
        Some(false) if stored.defer_indexes => {
            let flag = "--no-defer-indexes";
            return Err(contradicts(flag.to_string(), flag, started));
        }
        _ => {}
    }
    // Which rows: the filters are SQL run on the source, so they come from
    // this command line, and must be the job's.
    let same_transforms = stored.transforms.len() == given.transforms.len()
        && given
            .transforms
            .iter()
            .zip(&stored.transforms)
            .all(|(now, was)| now.same_as_stored(was));
    if stored.row_filters != given.row_filters
        || !same_transforms
        || (!stored.row_filters.is_empty() && stored.follow_fks != given.follow_fks)
    {
        return Err(Mismatch::Problem(Box::new(Problem::RowFiltersDiffer {
            job_id,
            stored: stored
                .row_filters
                .iter()
                .map(|f| format!("--where '{}: {}'", f.table, f.condition))
                .chain(
                    // The expression is stored as a digest: named, not shown.
                    stored
                        .transforms
                        .iter()
                        .map(|t| format!("--transform '{}.{}: ...'", t.table, t.column)),
                )
                .collect(),
        })));
    }
    if stored.trust_owner != given.trust {
        let roles: Vec<&str> = stored
            .trust_owner
            .roles()
            .iter()
            .map(String::as_str)
            .collect();
        return Err(Mismatch::Problem(Box::new(Problem::TrustDiffers {
            job_id,
            stored: crate::trust::TrustedOwners::flags(&roles),
        })));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
