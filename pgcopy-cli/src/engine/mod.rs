//! `pgcopy copy`: connect, take one source snapshot, set up the job (new, or a
//! resumed one: `setup`), then run its steps (`steps`, one file each, in the
//! order `pgcopy_core::steps::Step` allows) and summarize.
//!
//! Nothing on the destination changes before preflight has passed; `--dry-run`
//! stops right after it. Every one-off step that changes the destination (FK
//! drops, disabling triggers, the up-front TRUNCATE) is recorded in the job's
//! row in the same transaction, so a resumed job knows exactly what is done.

pub mod after_load;
pub mod after_progress;
pub mod config;
mod dry_run;
pub mod guard;
pub mod shared;
pub mod steps;
pub mod summary;
pub mod tables_done;

use crate::error::{pg_message, PgContext, UserError};
use crate::exit;
use crate::state::StateStore;
use config::CopyConfig;
use pgcopy_core::quote::quote_literal;
use steps::connect::guard_same_database;
use steps::job::Setup;
use steps::Connected;
use tokio_postgres::Client;

/// Runs `pgcopy copy`; returns the exit code.
pub async fn run(config: CopyConfig) -> anyhow::Result<i32> {
    let (source, dest) = (&config.source, &config.dest);

    // Connect both sides first, so a bad URL fails before anything else.
    let (src, dst) = tokio::select! {
        r = async { tokio::join!(source.connect_session("coordinator"), dest.connect_session("coordinator")) } => r,
        _ = crate::stop::wait() => return stopped_before_any_change(),
    };
    let (src, dst) = (src?, dst?);
    // A lock wait of more than a second is said, on either side, until the
    // run ends.
    let _watch = (
        crate::lockwatch::watch(source),
        crate::lockwatch::watch(dest),
    );
    // Until the job is set up, a stop cancels what the coordinator waits
    // for (a lock, a catalog read) and ends the run: nothing changed yet.
    let guards = (
        crate::stop::on_stop(src.cancel.clone()),
        crate::stop::on_stop(dst.cancel.clone()),
    );
    let (src, mut dst) = (src.client, dst.client);
    let store = StateStore::new(&config.state_schema);
    let prepared = tokio::select! {
        r = prepare(&config, &src, &mut dst, &store) => r?,
        _ = crate::stop::wait() => return stopped_before_any_change(),
    };
    drop(guards);
    let Some((setup, snapshot)) = prepared else {
        return Ok(exit::OK); // --dry-run
    };
    let run = Connected {
        src,
        dst,
        store,
        snapshot,
    };
    steps::execute(config, setup, run).await
}

/// A stop during connect or setup: said, and the run ends with the signal's
/// code (the job, if setup had just recorded it, stays as a dead client's).
fn stopped_before_any_change() -> anyhow::Result<i32> {
    errln!(
        "stopped by {} while connecting and setting up: nothing was changed on the destination",
        crate::stop::signal_name().unwrap_or("a signal")
    );
    Ok(crate::stop::exit_code().unwrap_or(exit::INTERRUPTED))
}

/// The same-database guard, the snapshot, and the job's setup; `None` after
/// a `--dry-run`.
async fn prepare(
    config: &CopyConfig,
    src: &Client,
    dst: &mut Client,
    store: &StateStore,
) -> anyhow::Result<Option<(Setup, String)>> {
    if config.dry_run.is_none() && config.guard_same_database {
        guard_same_database(src, dst).await?;
    }

    // The snapshot every worker imports; the catalog is read inside it too.
    src.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .pg_context(|| "starting the source transaction".into())?;
    let snapshot = match &config.snapshot {
        Some(id) => {
            src.batch_execute(&format!("SET TRANSACTION SNAPSHOT {}", quote_literal(id)))
                .await
                .map_err(|e| {
                    UserError::failure(format!(
                        "cannot read from snapshot {id:?}: {}; the transaction that exported it must stay open \
                         during the copy",
                        pg_message(&e)
                    ))
                })?;
            id.clone()
        }
        None => src
            .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
            .await
            .pg_context(|| "exporting the source snapshot".into())?
            .try_get(0)?,
    };
    Ok(steps::prepare::prepare(config, src, dst, store, &snapshot)
        .await?
        .map(|setup| (setup, snapshot)))
}
