//! A copy's configuration, resolved once from the command line
//! (`CopyConfig`): the endpoints, the run's tuning, and what the job copies
//! and how (core's `CopyOptions`, which a resume takes from the job's
//! stored options). The engine reads this, never the clap struct.

use crate::cli::{CopyArgs, SubsetArgs, TrustArgs};
use crate::connect::Endpoint;
use crate::error::UserError;
use pgcopy_core::options::{CopyOptions, GivenSizes, LargeObjects};
use std::path::PathBuf;

/// What `pgcopy copy` was asked to do, resolved (not `Debug`: the
/// endpoints hold passwords).
#[derive(Clone)]
pub struct CopyConfig {
    /// Where rows come from.
    pub source: Endpoint,
    /// Where they go.
    pub dest: Endpoint,
    /// Print the plan instead of running it.
    pub dry_run: Option<PlanFormat>,
    /// A new job, or which one to continue.
    pub job: JobChoice,
    /// Read from this exported snapshot instead of exporting one.
    pub snapshot: Option<String>,
    /// The destination schema holding pgcopy's state.
    pub state_schema: String,
    /// Refuse to copy a database onto itself (`--yes-i-know` turns it off).
    pub guard_same_database: bool,
    /// Run-time tuning, taken from the command line also on resume.
    pub run: RunOptions,
    /// What the job copies and how, as given on the command line (a resume
    /// follows the job's stored options: `pgcopy_core::options::resume`).
    pub options: CopyOptions,
    /// The sizes given on the command line (not defaulted), which a resume
    /// must not contradict.
    pub given_sizes: GivenSizes,
}

/// The dry run's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanFormat {
    /// For a person.
    Text,
    /// `--json`.
    Json,
}

/// Which job a run works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobChoice {
    /// A new job.
    New,
    /// `--resume`: this job, or the most recent unfinished one.
    Resume(Option<i64>),
}

/// Options that tune a run without changing what it copies.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Workers.
    pub parallel: usize,
    /// Rows between live progress updates.
    pub batch_size: u64,
    /// Retries of a chunk after a lost connection.
    pub retries: u32,
    /// The progress bar (when the terminal allows it), or plain lines.
    pub progress: bool,
    /// Where to write the JSON summary.
    pub summary_json: Option<PathBuf>,
}

impl CopyConfig {
    /// Resolves the arguments; `quiet` (the global `-q`) turns the bar off.
    pub fn from_args(args: CopyArgs, quiet: bool) -> anyhow::Result<Self> {
        if args.json && !args.dry_run {
            return Err(UserError::usage("--json goes with --dry-run").into());
        }
        let given_sizes = GivenSizes {
            split_larger_than: args.split_larger_than,
            // --defer-indexes means every table's, whatever the size.
            defer_indexes_above: args.defer_indexes_above.filter(|_| !args.defer_indexes),
        };
        Ok(CopyConfig {
            given_sizes,
            source: args
                .source
                .endpoint()?
                .with_lock_timeout(args.lock_wait_timeout.as_deref())?,
            dest: args
                .dest
                .endpoint()?
                .with_lock_timeout(args.lock_wait_timeout.as_deref())?,
            dry_run: args.dry_run.then_some(match args.json {
                true => PlanFormat::Json,
                false => PlanFormat::Text,
            }),
            job: match args.resume {
                true => JobChoice::Resume(args.job),
                false => JobChoice::New,
            },
            snapshot: args.snapshot,
            state_schema: args.state_schema,
            guard_same_database: !args.yes_i_know,
            run: RunOptions {
                parallel: args.parallel as usize,
                batch_size: args.batch_size,
                retries: args.retries,
                progress: !(args.no_progress || quiet),
                summary_json: args.summary_json,
            },
            options: CopyOptions {
                allow_empty_match: args.allow_empty_match,
                split_larger_than: args
                    .split_larger_than
                    .unwrap_or(pgcopy_core::plan::DEFAULT_SPLIT_LARGER_THAN),
                analyze: !args.no_analyze,
                fire_triggers: args.fire_triggers,
                large_objects: match (args.large_objects, args.skip_large_objects) {
                    (true, _) => LargeObjects::Always,
                    (_, true) => LargeObjects::Never,
                    _ => LargeObjects::WithWholeDatabase,
                },
                defer_indexes: match (args.defer_indexes, args.no_defer_indexes) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                defer_indexes_min_bytes: match args.defer_indexes {
                    true => 0,
                    false => args
                        .defer_indexes_above
                        .unwrap_or(pgcopy_core::plan::DEFER_INDEXES_MIN_BYTES),
                },
                ..selection(
                    args.include_tables,
                    args.exclude_tables,
                    args.subset,
                    &args.trust,
                )
            },
        })
    }
}

/// What the tables and rows flags select, as `pgcopy copy` and `pgcopy
/// verify` take them alike (`--include-tables`, `--exclude-tables`,
/// `--where`, `--no-follow-fks`, `--transform`, `--trust-owner`), the other
/// options at their defaults: verify compares what the copy copied.
pub fn selection(
    include_tables: Option<String>,
    exclude_tables: Option<String>,
    subset: SubsetArgs,
    trust: &TrustArgs,
) -> CopyOptions {
    CopyOptions {
        include_tables,
        exclude_tables,
        row_filters: subset.row_filters,
        follow_fks: !subset.no_follow_fks,
        transforms: subset.transforms,
        trust: trust.owners(),
        ..CopyOptions::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn config(extra: &[&str]) -> CopyConfig {
        let mut argv = vec![
            "pgcopy",
            "copy",
            "-s",
            "host=a dbname=x",
            "-d",
            "host=b dbname=y",
        ];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Copy(args) => CopyConfig::from_args(args, false).unwrap(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn flags_resolve_once() {
        let c = config(&[]);
        assert_eq!(c.job, JobChoice::New);
        assert_eq!(c.dry_run, None);
        assert!(c.run.progress && c.options.analyze && c.guard_same_database);
        assert_eq!(c.options.defer_indexes, None);
        assert_eq!(
            c.options.defer_indexes_min_bytes,
            pgcopy_core::plan::DEFER_INDEXES_MIN_BYTES
        );
        assert_eq!(
            config(&["--defer-indexes"]).options.defer_indexes_min_bytes,
            0
        );
        assert_eq!(
            config(&["--defer-indexes-above", "1MB"])
                .options
                .defer_indexes_min_bytes,
            1 << 20
        );
        assert!(c.options.copies_large_objects());

        let c = config(&[
            "--dry-run",
            "--json",
            "--include-tables",
            "t",
            "--no-defer-indexes",
        ]);
        assert_eq!(c.dry_run, Some(PlanFormat::Json));
        assert_eq!(c.options.defer_indexes, Some(false));
        assert!(!c.options.copies_large_objects());
        assert!(config(&["--include-tables", "t", "--large-objects"])
            .options
            .copies_large_objects());
        assert!(!config(&["--skip-large-objects"])
            .options
            .copies_large_objects());
        assert_eq!(
            config(&["--resume", "--job", "7"]).job,
            JobChoice::Resume(Some(7))
        );
        let subset = config(&[
            "--where",
            "public.t: a > 1",
            "--where",
            "u:true",
            "--no-follow-fks",
        ]);
        assert_eq!(subset.options.row_filters.len(), 2);
        assert_eq!(subset.options.row_filters[0].condition, "a > 1");
        assert!(!subset.options.follow_fks);
        assert!(config(&[]).options.follow_fks);
    }

    #[test]
    fn json_without_dry_run_is_refused() {
        let argv = ["pgcopy", "copy", "-s", "host=a", "-d", "host=b", "--json"];
        let Command::Copy(args) = Cli::try_parse_from(argv).unwrap().command else {
            unreachable!()
        };
        let Err(e) = CopyConfig::from_args(args, false) else {
            panic!("--json without --dry-run was accepted")
        };
        assert!(e.to_string().contains("--json goes with --dry-run"), "{e}");
    }
}
