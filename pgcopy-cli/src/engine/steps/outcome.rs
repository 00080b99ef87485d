//! How a run ended: the job's state, what to say, and the exit code, from
//! what the steps returned. Pure, and tested.

use crate::exit;
use pgcopy_core::states::JobState;

/// What the steps came to, in words a decision needs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ended {
    /// A signal stopped the run: its name and code.
    pub stopped: Option<(&'static str, i32)>,
    /// The data steps failed (with why).
    pub failed: Option<String>,
    /// The foreign keys' restore failed (with why).
    pub restore_failed: Option<String>,
    /// Tables whose load failed.
    pub failed_tables: usize,
    /// Why the disabled triggers are not all back.
    pub triggers: Option<String>,
    /// Why the large objects are not all copied.
    pub large_objects: Option<String>,
    /// Indexes that could not be rebuilt.
    pub indexes: usize,
    /// Materialized views not refreshed, each with why.
    pub matviews: Vec<String>,
    /// Foreign keys not back as they were.
    pub foreign_keys: usize,
}

/// The job's state, its error (the sentence said and stored), and the exit
/// code; `state_schema` names where saved definitions wait.
pub fn decide(e: &Ended, state_schema: &str) -> (JobState, Option<String>, i32) {
    if let Some((signal, code)) = e.stopped {
        // Whatever failed on the way out (cancelled statements), the job is
        // resumable.
        return (
            JobState::Interrupted,
            Some(format!("stopped by {signal}")),
            code,
        );
    }
    if let Some(why) = e.failed.as_ref().or(e.restore_failed.as_ref()) {
        return (JobState::Failed, Some(why.clone()), exit::FAILURE);
    }
    let mut why = Vec::new();
    if let Some(t) = &e.triggers {
        why.push(format!(
            "triggers disabled for the load were not all put back ({t}); `pgcopy restore-fks` puts them back"
        ));
    }
    if let Some(l) = &e.large_objects {
        why.push(format!(
            "large objects were not all copied ({l}); `pgcopy copy --resume` copies the rest"
        ));
    }
    if e.failed_tables > 0 {
        why.push(format!("{} tables failed", e.failed_tables));
    }
    if e.indexes > 0 {
        why.push(format!(
            "{} indexes could not be rebuilt (see {state_schema}.saved_indexes; `pgcopy restore-fks` rebuilds them)",
            e.indexes
        ));
    }
    if !e.matviews.is_empty() {
        why.push(format!(
            "{} materialized views could not be refreshed ({})",
            e.matviews.len(),
            e.matviews.join("; ")
        ));
    }
    if e.foreign_keys > 0 {
        why.push(format!(
            "{} foreign keys are not back as they were (see {state_schema}.saved_fks; fix the data, then run \
             `pgcopy restore-fks`)",
            e.foreign_keys
        ));
    }
    match why.is_empty() {
        true => (JobState::Succeeded, None, exit::OK),
        false => (JobState::Failed, Some(why.join("; ")), exit::PARTIAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_wins_then_a_failure_then_what_is_not_back() {
        let all = Ended {
            stopped: Some(("SIGTERM", 143)),
            failed: Some("boom".into()),
            failed_tables: 2,
            ..Ended::default()
        };
        assert_eq!(
            decide(&all, "pgcopy"),
            (
                JobState::Interrupted,
                Some("stopped by SIGTERM".into()),
                143
            )
        );
        let failed = Ended {
            stopped: None,
            ..all
        };
        assert_eq!(
            decide(&failed, "pgcopy"),
            (JobState::Failed, Some("boom".into()), exit::FAILURE)
        );
        let partial = Ended {
            indexes: 1,
            foreign_keys: 2,
            failed_tables: 3,
            ..Ended::default()
        };
        let (state, why, code) = decide(&partial, "st");
        assert_eq!((state, code), (JobState::Failed, exit::PARTIAL));
        assert_eq!(
            why.unwrap(),
            "3 tables failed; 1 indexes could not be rebuilt (see st.saved_indexes; `pgcopy restore-fks` \
             rebuilds them); 2 foreign keys are not back as they were (see st.saved_fks; fix the data, then \
             run `pgcopy restore-fks`)"
        );
        assert_eq!(
            decide(&Ended::default(), "pgcopy"),
            (JobState::Succeeded, None, exit::OK)
        );
        let restore = Ended {
            restore_failed: Some("gone".into()),
            ..Ended::default()
        };
        assert_eq!(decide(&restore, "p").2, exit::FAILURE);
    }
}
