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
    }
}
