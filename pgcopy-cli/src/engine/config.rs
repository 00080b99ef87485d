//! A copy's options, resolved once from the command line (`CopyConfig`), and
//! on `--resume` completed from the job's stored `JobOptions`: the engine
//! reads this, never the clap struct.

use crate::cli::CopyArgs;
use crate::connect::Endpoint;
use crate::error::UserError;
use pgcopy_core::states::JobOptions;
use pgcopy_core::subset::RowFilter;
use pgcopy_core::transform::ColumnTransform;
use pgcopy_core::trust::TrustedOwners;
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
    /// What the job copies and how: from the command line for a new job,
    /// from the job's stored options on resume (`with_stored`).
    pub shape: JobShape,
    /// The sizes given on the command line (not defaulted), which a resume
    /// must not contradict.
    pub given_sizes: GivenSizes,
}

/// `--split-larger-than` and `--defer-indexes-above` as given, if given.
#[derive(Debug, Clone, Copy, Default)]
pub struct GivenSizes {
    /// `--split-larger-than`.
    pub split_larger_than: Option<u64>,
    /// `--defer-indexes-above` (none with `--defer-indexes`).
    pub defer_indexes_above: Option<u64>,
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

/// What a job copies and how: what is stored with it and followed on resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobShape {
    /// `--include-tables`, as given.
    pub include_tables: Option<String>,
    /// `--exclude-tables`, as given.
    pub exclude_tables: Option<String>,
    /// Patterns may match nothing.
    pub allow_empty_match: bool,
    /// Tables larger than this many bytes are split (0: never).
    pub split_larger_than: u64,
    /// Tables are analyzed after their load.
    pub analyze: bool,
    /// User triggers fire where they cannot be disabled.
    pub fire_triggers: bool,
    /// Whether large objects are copied.
    pub large_objects: LargeObjects,
    /// Defer secondary indexes: `Some` when asked either way, `None` to defer
    /// them when the role owns every table.
    pub defer_indexes: Option<bool>,
    /// Deferred only on tables of at least this many bytes: 0 when asked
    /// with `--defer-indexes`, `DEFER_INDEXES_MIN_BYTES` when decided here.
    pub defer_indexes_min_bytes: u64,
    /// `--where` filters, as given on this command line (never read back
    /// from the destination: they are SQL run on the source).
    pub row_filters: Vec<RowFilter>,
    /// Other tables' rows follow the filters (no `--no-follow-fks`).
    pub follow_fks: bool,
    /// `--transform` columns, as given on this command line (SQL run on the
    /// source, like the filters).
    pub transforms: Vec<ColumnTransform>,
    /// `--trust-owner`: roles whose code may run with this role's rights.
    pub trust: TrustedOwners,
}

/// Whether the source's large objects are copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LargeObjects {
    /// With a copy of the whole database (no `--include-tables`).
    WithWholeDatabase,
    /// `--large-objects`.
    Always,
    /// `--skip-large-objects`.
    Never,
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
            shape: JobShape {
                include_tables: args.include_tables,
                exclude_tables: args.exclude_tables,
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
                row_filters: args.subset.row_filters,
                follow_fks: !args.subset.no_follow_fks,
                transforms: args.subset.transforms,
                trust: args.trust.owners(),
            },
        })
    }

    /// The options stored with a new job; `defer_indexes` as decided.
    pub fn job_options(&self, defer_indexes: bool) -> JobOptions {
        let s = &self.shape;
        JobOptions {
            parallel: self.run.parallel as u32,
            batch_size: self.run.batch_size,
            include_tables: s.include_tables.clone(),
            exclude_tables: s.exclude_tables.clone(),
            split_larger_than: s.split_larger_than,
            analyze: s.analyze,
            fire_triggers: s.fire_triggers,
            defer_indexes,
            defer_indexes_min_bytes: s.defer_indexes_min_bytes,
            row_filters: s.row_filters.clone(),
            follow_fks: s.follow_fks,
            transforms: s.transforms.iter().map(ColumnTransform::stored).collect(),
            trust_owner: s.trust.clone(),
        }
    }

    /// The shape of a resumed job: its stored options, where a flag given now
    /// may only ask for less work (`--no-analyze`) or allow more
    /// (`--fire-triggers`); table patterns given now must equal the stored
    /// ones (the caller says so first).
    pub fn with_stored(&self, stored: &JobOptions) -> JobShape {
        JobShape {
            include_tables: stored.include_tables.clone(),
            exclude_tables: stored.exclude_tables.clone(),
            // The stored plan is checked against what its options select
            // today; a table gone since is reported there.
            allow_empty_match: true,
            split_larger_than: stored.split_larger_than,
            analyze: stored.analyze && self.shape.analyze,
            fire_triggers: stored.fire_triggers || self.shape.fire_triggers,
            // The stored plan already holds its large-object batches.
            large_objects: self.shape.large_objects,
            defer_indexes: Some(stored.defer_indexes),
            defer_indexes_min_bytes: stored.defer_indexes_min_bytes,
            // The caller made sure they equal the stored ones; the ones run
            // are this command line's.
            row_filters: self.shape.row_filters.clone(),
            follow_fks: self.shape.follow_fks,
            transforms: self.shape.transforms.clone(),
            // The caller made sure it is the job's.
            trust: stored.trust_owner.clone(),
        }
    }
}

impl JobShape {
    /// Whether large objects are copied when the source has some.
    pub fn copies_large_objects(&self) -> bool {
        match self.large_objects {
            LargeObjects::Always => true,
            LargeObjects::Never => false,
            LargeObjects::WithWholeDatabase => self.include_tables.is_none(),
        }
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
        assert!(c.run.progress && c.shape.analyze && c.guard_same_database);
        assert_eq!(c.shape.defer_indexes, None);
        assert_eq!(
            c.shape.defer_indexes_min_bytes,
            pgcopy_core::plan::DEFER_INDEXES_MIN_BYTES
        );
        assert_eq!(
            config(&["--defer-indexes"]).shape.defer_indexes_min_bytes,
            0
        );
        assert_eq!(
            config(&["--defer-indexes-above", "1MB"])
                .shape
                .defer_indexes_min_bytes,
            1 << 20
        );
        assert!(c.shape.copies_large_objects());

        let c = config(&[
            "--dry-run",
            "--json",
            "--include-tables",
            "t",
            "--no-defer-indexes",
        ]);
        assert_eq!(c.dry_run, Some(PlanFormat::Json));
        assert_eq!(c.shape.defer_indexes, Some(false));
        assert!(!c.shape.copies_large_objects());
        assert!(config(&["--include-tables", "t", "--large-objects"])
            .shape
            .copies_large_objects());
        assert!(!config(&["--skip-large-objects"])
            .shape
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
        assert_eq!(subset.shape.row_filters.len(), 2);
        assert_eq!(subset.shape.row_filters[0].condition, "a > 1");
        assert!(!subset.shape.follow_fks);
        assert!(config(&[]).shape.follow_fks);
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

    #[test]
    fn a_resumed_job_keeps_its_shape() {
        let now = config(&["--no-analyze", "-p", "8"]);
        let stored = JobOptions {
            parallel: 2,
            batch_size: 10,
            include_tables: Some("a,b".into()),
            exclude_tables: None,
            split_larger_than: 1 << 20,
            analyze: true,
            fire_triggers: true,
            defer_indexes: false,
            defer_indexes_min_bytes: 0,
            row_filters: Vec::new(),
            follow_fks: true,
            transforms: Vec::new(),
            trust_owner: Default::default(),
        };
        let shape = now.with_stored(&stored);
        assert_eq!(shape.include_tables.as_deref(), Some("a,b"));
        assert_eq!(shape.split_larger_than, 1 << 20);
        assert!(!shape.analyze, "--no-analyze given now is followed");
        assert!(
            shape.fire_triggers,
            "the job fired triggers: so does its resume"
        );
        assert_eq!(shape.defer_indexes, Some(false));
        assert_eq!(
            now.run.parallel, 8,
            "run-time tuning comes from the command line"
        );
    }
}
