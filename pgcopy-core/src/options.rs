//! A copy's options, resolved once: what a job copies and how
//! ([`CopyOptions`]). `pgcopy copy` and its resume, `pgcopy verify` and the
//! extension's `pgcopy.plan()` plan from this one type
//! ([`CopyOptions::plan_options`]); a job stores it as [`JobOptions`], and a
//! resume follows the stored options where today's command line agrees with
//! them ([`resume`]).

use crate::filter::PatternError;
use crate::plan::{FkStrategy, PlanOptions, DEFAULT_SPLIT_LARGER_THAN, DEFER_INDEXES_MIN_BYTES};
use crate::preflight::Problem;
use crate::states::JobOptions;
use crate::subset::RowFilter;
use crate::transform::ColumnTransform;
use crate::trust::TrustedOwners;

mod resume;

pub use resume::{resume, GivenSizes, Mismatch};

/// What a job copies and how: given on the command line for a new job,
/// taken from the job's stored options on resume ([`resume`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOptions {
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
    /// with `--defer-indexes`, [`DEFER_INDEXES_MIN_BYTES`] when decided here.
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

/// A copy of the whole database with no flag given.
impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            include_tables: None,
            exclude_tables: None,
            allow_empty_match: false,
            split_larger_than: DEFAULT_SPLIT_LARGER_THAN,
            analyze: true,
            fire_triggers: false,
            large_objects: LargeObjects::WithWholeDatabase,
            defer_indexes: None,
            defer_indexes_min_bytes: DEFER_INDEXES_MIN_BYTES,
            row_filters: Vec::new(),
            follow_fks: true,
            transforms: Vec::new(),
            trust: TrustedOwners::default(),
        }
    }
}

/// What a plan depends on besides the options: what the servers said, and
/// what was decided from it.
#[derive(Debug, Clone)]
pub struct PlanSetting<'a> {
    /// The destination schema holding pgcopy's state (never copied).
    pub state_schema: &'a str,
    /// How foreign keys are kept from firing during the load.
    pub fk_strategy: FkStrategy,
    /// The source's `block_size`.
    pub block_size: u64,
    /// Secondary indexes are deferred ([`CopyOptions::defer_indexes`] as
    /// decided).
    pub defer_indexes: bool,
    /// The destination's `server_version_num` (0: the catalog's own).
    pub dest_version_num: u32,
}

/// The plan of a database into one of its own major, with FKs dropped and
/// indexes kept: what `pgcopy.plan()` and `pgcopy verify` plan with.
impl Default for PlanSetting<'_> {
    fn default() -> Self {
        PlanSetting {
            state_schema: "pgcopy",
            fk_strategy: FkStrategy::Drop,
            block_size: 8192,
            defer_indexes: false,
            dest_version_num: 0,
        }
    }
}

impl CopyOptions {
    /// The planner's inputs: these options under `setting`; an error when
    /// a table pattern cannot be read.
    pub fn plan_options(&self, setting: &PlanSetting<'_>) -> Result<PlanOptions, PatternError> {
        PlanOptions {
            split_larger_than: self.split_larger_than,
            skip_schemas: vec![setting.state_schema.to_string()],
            allow_empty_match: self.allow_empty_match,
            fk_strategy: setting.fk_strategy,
            block_size: setting.block_size,
            defer_indexes: setting.defer_indexes,
            row_filters: self.row_filters.clone(),
            follow_fks: self.follow_fks,
            transforms: self.transforms.clone(),
            trust: self.trust.clone(),
            dest_version_num: setting.dest_version_num,
            ..PlanOptions::default()
        }
        .with_patterns(
            self.include_tables.as_deref(),
            self.exclude_tables.as_deref(),
        )
    }

    /// The options a new job stores (`jobs.options`), with the run's
    /// workers and batch size and `defer_indexes` as decided. A transform's
    /// expression is stored as its digest: whoever may read the state
    /// schema may read this.
    pub fn stored(&self, parallel: u32, batch_size: u64, defer_indexes: bool) -> JobOptions {
        JobOptions {
            parallel,
            batch_size,
            include_tables: self.include_tables.clone(),
            exclude_tables: self.exclude_tables.clone(),
            split_larger_than: self.split_larger_than,
            analyze: self.analyze,
            fire_triggers: self.fire_triggers,
            defer_indexes,
            defer_indexes_min_bytes: self.defer_indexes_min_bytes,
            row_filters: self.row_filters.clone(),
            follow_fks: self.follow_fks,
            transforms: self
                .transforms
                .iter()
                .map(ColumnTransform::stored)
                .collect(),
            trust_owner: self.trust.clone(),
        }
    }

    /// Whether large objects are copied when the source has some.
    pub fn copies_large_objects(&self) -> bool {
        match self.large_objects {
            LargeObjects::Always => true,
            LargeObjects::Never => false,
            LargeObjects::WithWholeDatabase => self.include_tables.is_none(),
        }
    }
}

/// `1.5 MB`-style sizes (powers of 1024), as every sentence shows them.
pub fn human_bytes(b: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

#[cfg(test)]
mod tests;
