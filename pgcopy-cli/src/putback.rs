//! Putting back what jobs dropped or disabled, in the order that works:
//! saved indexes first (a foreign key's validation uses them), then saved
//! foreign keys and NOT VALID CHECKs, then the triggers of jobs that are over.
//! `pgcopy restore-fks` ([`run_restore_command`]) and `pgcopy jobs discard`
//! run all of it through [`put_back`]; the end of a copy runs the same steps at its own points
//! (indexes before ANALYZE, keys last).

use crate::cli::RestoreFksArgs;
use crate::connect::Endpoint;
use crate::constraints::{self, RestoreOutcome};
use crate::exit;
use crate::scope::Scope;
use crate::state::{StateSchemaStatus, StateStore};
use pgcopy_core::quote::printable;
use pgcopy_core::states::JobState;
use tokio_postgres::Client;

/// Connections a restore outside a copy uses at once for index builds and
/// validations: each is one server process's CPU, and a restore usually runs
/// on a destination that serves other work.
pub const PARALLEL: usize = 2;

/// What [`put_back`] did.
#[derive(Debug, Default)]
pub struct PutBack {
    /// Saved indexes rebuilt.
    pub indexes: usize,
    /// Saved indexes that could not be rebuilt, each with why.
    pub index_failures: Vec<String>,
    /// Each saved foreign key's outcome.
    pub foreign_keys: Vec<RestoreOutcome>,
    /// Triggers put back in their modes.
    pub triggers: usize,
    /// Jobs whose disabled triggers were not all put back, each with why.
    pub trigger_failures: Vec<String>,
}

impl PutBack {
    /// Indexes and keys not back as they were.
    pub fn not_back(&self) -> usize {
        self.index_failures.len()
            + self.foreign_keys.iter().filter(|o| !o.is_ok()).count()
            + self.trigger_failures.len()
    }
}

/// Puts back what job `job` (every job when `None`) left saved: indexes,
/// foreign keys, and the triggers of those of the jobs that no client runs.
pub async fn put_back(
    dst: &mut Client,
    dest: &Endpoint,
    store: &StateStore,
    scope: &Scope,
) -> anyhow::Result<PutBack> {
    let job = scope.job;
    let (indexes, index_failures) =
        crate::indexes::rebuild(dst, dest, store, scope, PARALLEL, None, 0).await?;
    let foreign_keys = constraints::restore(dst, dest, PARALLEL, store, scope, None).await?;
    let (mut triggers, mut trigger_failures) = (0, Vec::new());
    for stored in store.unfinished_jobs(dst, job).await? {
        let running = stored.state == JobState::Running.as_str() && !stored.stale;
        if running || stored.disabled_triggers.is_empty() {
            continue;
        }
        match crate::triggers::enable_triggers(dst, store, stored.job_id, &stored.disabled_triggers)
            .await
        {
            Ok(()) => triggers += stored.disabled_triggers.len(),
            Err(e) => {
                tracing::error!("{e:#}");
                trigger_failures.push(format!("{e:#}"));
            }
        }
    }
    Ok(PutBack {
        indexes,
        index_failures,
        foreign_keys,
        triggers,
        trigger_failures,
    })
}

/// `pgcopy restore-fks`: restores pending saved FKs; exit 0 when all are back as
/// they were, 3 when some are not.
pub async fn run_restore_command(args: RestoreFksArgs) -> anyhow::Result<i32> {
    let dest = args.dest.endpoint()?;
    let mut dst = dest.connect("restore-fks").await?;
    let store = StateStore::new(&args.state_schema);
    if store.inspect(&dst).await? == StateSchemaStatus::Creatable {
        outln!(
            "no state schema {:?} on the destination: nothing to restore",
            args.state_schema
        );
        return Ok(exit::OK);
    }
    let scope = Scope {
        job: args.job,
        trust: args.trust.owners(),
        own: None,
    };
    let done = crate::putback::put_back(&mut dst, &dest, &store, &scope).await?;
    let outcomes = &done.foreign_keys;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&outcomes)?);
    } else if outcomes.is_empty() && done.indexes == 0 && done.triggers == 0 && done.not_back() == 0
    {
        outln!("nothing to restore: no saved foreign key, index or disabled trigger is waiting");
    } else {
        if done.indexes > 0 {
            outln!(
                "{} rebuilt",
                crate::format::count(done.indexes, "index", "indexes")
            );
        }
        for o in outcomes {
            outln!(
                "job {}  {}  {}  {}{}",
                o.job_id,
                printable(&o.table.display_name()),
                printable(&o.constraint),
                o.state.as_str(),
                o.error
                    .as_deref()
                    .map(|e| format!(": {}", printable(e)))
                    .unwrap_or_default()
            );
        }
    }
    if done.triggers > 0 && !args.json {
        outln!(
            "{} put back in their modes",
            crate::format::count(done.triggers, "trigger", "triggers")
        );
    }
    // What is left of the jobs this touched: the one next step each has.
    for job in store.unfinished_jobs(&dst, args.job).await? {
        if !job.next_step.is_empty() && !args.json {
            outln!("job {}: next: {}", job.job_id, printable(&job.next_step));
        }
    }
    let bad = done.not_back();
    if bad > 0 {
        errln!(
            "error: {bad} foreign keys, indexes or jobs' triggers are not back as they were; their definitions \
             stay in {0}.saved_fks and {0}.saved_indexes, the triggers in the jobs' disabled_triggers",
            args.state_schema
        );
        return Ok(exit::PARTIAL);
    }
    Ok(exit::OK)
}
