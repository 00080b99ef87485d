//! What the state schema records of a job, typed: its options
//! (`jobs.options`), its state (`jobs.state`) and its tables' and chunks'
//! (`job_tables.state`, `job_chunks.state`). The SQL `CHECK`s in
//! `sql/state_schema.sql` list the same words.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The options a job was started with (`jobs.options`): a resume follows
/// them. Fields missing from an older job's row take their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobOptions {
    /// Workers.
    pub parallel: u32,
    /// Rows between live progress updates.
    pub batch_size: u64,
    /// `--include-tables`, as given.
    pub include_tables: Option<String>,
    /// `--exclude-tables`, as given.
    pub exclude_tables: Option<String>,
    /// Tables larger than this many bytes are split.
    pub split_larger_than: u64,
    /// Tables are analyzed after their load.
    pub analyze: bool,
    /// User triggers fire where they cannot be disabled.
    pub fire_triggers: bool,
    /// Secondary indexes are dropped before the load and rebuilt after.
    pub defer_indexes: bool,
    /// Only those of tables of at least this many bytes (0: every table's;
    /// what jobs of earlier versions did).
    pub defer_indexes_min_bytes: u64,
    /// `--where` filters: kept to be shown and compared, never run from
    /// here (a resume runs those its own command line gives).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub row_filters: Vec<crate::subset::RowFilter>,
    /// Other tables' rows followed the filters.
    #[serde(default = "yes")]
    pub follow_fks: bool,
    /// `--transform` columns, each expression as its digest
    /// ([`crate::transform::ColumnTransform::stored`]): a masking
    /// expression may hold a secret, and whoever may read the state schema
    /// may read this; a resume compares digests, and runs the expressions
    /// its own command line gives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<crate::transform::ColumnTransform>,
    /// `--trust-owner`: the roles whose code the job runs with its role's
    /// rights; a resume must name the same.
    #[serde(default, skip_serializing_if = "crate::trust::TrustedOwners::is_empty")]
    pub trust_owner: crate::trust::TrustedOwners,
}

fn yes() -> bool {
    true
}

/// A job's state (`jobs.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Recorded, not started (a row written by hand, or from psql).
    Planned,
    /// A client runs it (or ran it and died: see `job_is_stale`).
    Running,
    /// Every table copied, every dropped object back.
    Succeeded,
    /// Ended with an error, or partly (some tables, indexes or keys not as
    /// they should be).
    Failed,
    /// Stopped by a signal; `--resume` continues it.
    Interrupted,
    /// Given up with `pgcopy jobs discard`, or superseded by a new copy.
    Discarded,
}

/// A table's (or a chunk's) state (`job_tables.state`, `job_chunks.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableState {
    /// Not started.
    Pending,
    /// Some chunks copied (tables only).
    Copying,
    /// Copied.
    Done,
    /// A chunk failed.
    Failed,
}

/// Where a running job is, in the order of work (`jobs.phase`; the
/// progress view and `status()` show it). Logs name it, and a test stops a
/// run at the start of one with `PGCOPY_FAILPOINT=phase:<word>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Catalogs read, plan made, preflight passed, job recorded.
    Setup,
    /// FKs, NOT VALID CHECKs and indexes saved and dropped, triggers
    /// disabled, the up-front TRUNCATE.
    BeforeLoad,
    /// Rows streamed, chunk by chunk.
    Load,
    /// Deferred indexes rebuilt.
    Indexes,
    /// Disabled triggers put back.
    Triggers,
    /// Large objects copied.
    LargeObjects,
    /// Sequences set.
    Sequences,
    /// Materialized views refreshed.
    MaterializedViews,
    /// Tables not analyzed during the load analyzed.
    Analyze,
    /// Dropped FKs and CHECKs put back and validated.
    ForeignKeys,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 10] = [
        Phase::Setup,
        Phase::BeforeLoad,
        Phase::Load,
        Phase::Indexes,
        Phase::Triggers,
        Phase::LargeObjects,
        Phase::Sequences,
        Phase::MaterializedViews,
        Phase::Analyze,
        Phase::ForeignKeys,
    ];

    /// The word the state schema stores (and logs and failpoints use).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Setup => "setup",
            Phase::BeforeLoad => "before-load",
            Phase::Load => "load",
            Phase::Indexes => "indexes",
            Phase::Triggers => "triggers",
            Phase::LargeObjects => "large-objects",
            Phase::Sequences => "sequences",
            Phase::MaterializedViews => "materialized-views",
            Phase::Analyze => "analyze",
            Phase::ForeignKeys => "foreign-keys",
        }
    }

    /// The phase a stored word names, if any.
    pub fn parse(word: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == word)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl JobState {
    /// The word the state schema stores.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Planned => "planned",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Interrupted => "interrupted",
            JobState::Discarded => "discarded",
        }
    }

    /// The state a stored word names, if any.
    pub fn parse(word: &str) -> Option<JobState> {
        [
            JobState::Planned,
            JobState::Running,
            JobState::Succeeded,
            JobState::Failed,
            JobState::Interrupted,
            JobState::Discarded,
        ]
        .into_iter()
        .find(|s| s.as_str() == word)
    }
}

impl TableState {
    /// The word the state schema stores.
    pub fn as_str(self) -> &'static str {
        match self {
            TableState::Pending => "pending",
            TableState::Copying => "copying",
            TableState::Done => "done",
            TableState::Failed => "failed",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for TableState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_of_an_older_job_read_back_with_defaults() {
        let stored =
            serde_json::json!({"include_tables": "public.a", "defer_indexes": true, "gone": 1});
        let o: JobOptions = serde_json::from_value(stored).unwrap();
        assert_eq!(o.include_tables.as_deref(), Some("public.a"));
        assert!(o.defer_indexes && !o.analyze && o.exclude_tables.is_none());
        let back: JobOptions = serde_json::from_value(serde_json::to_value(&o).unwrap()).unwrap();
        assert_eq!(back, o);
    }

    /// The words are the state schema's: its CHECK constraints list them,
    /// all of them.
    #[test]
    fn words_match_the_state_schema() {
        let schema = include_str!("../../sql/state_schema.sql");
        let jobs = "CHECK (state IN ('planned', 'running', 'succeeded', 'failed', 'interrupted', 'discarded'))";
        assert!(schema.contains(jobs));
        for s in [
            "planned",
            "running",
            "succeeded",
            "failed",
            "interrupted",
            "discarded",
        ] {
            assert_eq!(JobState::parse(s).map(JobState::as_str), Some(s));
        }
        assert!(schema.contains("CHECK (state IN ('pending', 'copying', 'done', 'failed'))"));
        for s in [
            TableState::Pending,
            TableState::Copying,
            TableState::Done,
            TableState::Failed,
        ] {
            assert!(schema.contains(&format!("'{s}'")), "{s}");
        }
        assert_eq!(JobState::parse("paused"), None);
        let words: Vec<String> = Phase::ALL.iter().map(|p| format!("'{p}'")).collect();
        let phases = format!("CHECK (phase IN ({}))", words.join(", "));
        assert!(schema.contains(&phases), "{phases}");
        for p in Phase::ALL {
            assert_eq!(Phase::parse(p.as_str()), Some(p));
        }
        assert!(
            Phase::ALL.windows(2).all(|w| w[0] < w[1]),
            "in the order of work"
        );
    }
}
