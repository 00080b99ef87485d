//! The steps before the job, in their order: both catalogs read, then a
//! new job planned, checked and recorded (`job`), or an earlier one taken up
//! again (`resume`); `plan` holds what both decide with.

use super::job::{new_job, Setup};
use super::plan::Ctx;
use super::resume::resume;
use crate::engine::config::{CopyConfig, JobChoice};
use crate::introspect;
use crate::state::StateStore;
use tokio_postgres::Client;

/// Prepares the run; `None` after a `--dry-run` printed the plan.
pub async fn prepare(
    config: &CopyConfig,
    src: &Client,
    dst: &mut Client,
    store: &StateStore,
    snapshot: &str,
) -> anyhow::Result<Option<Setup>> {
    // Both catalogs at once: on a database of many tables each read is tens
    // of milliseconds of the run's serial start.
    let (src_catalog, dst_catalog, block_size) = tokio::try_join!(
        introspect::read_catalog(src, "source"),
        introspect::read_catalog(dst, "destination"),
        introspect::block_size(src),
    )?;
    // Replica mode if this role may set it: try it, don't guess from attributes.
    let replica = dst
        .batch_execute(&format!(
            "{}; RESET session_replication_role",
            pgcopy_core::sql::SET_REPLICA_MODE
        ))
        .await
        .is_ok();
    // Deferring indexes measured 2.1x faster on a 2 GB table with three
    // secondary indexes (BENCHMARKS.md): on whenever the role owns every table.
    let owns_all = dst_catalog
        .tables
        .iter()
        .filter(|t| t.name.schema != config.state_schema)
        .all(|t| t.is_owner);
    let ctx = Ctx {
        config,
        options: config.options.clone(),
        owns_all,
        src,
        src_catalog: &src_catalog,
        dst_catalog: &dst_catalog,
        replica_allowed: replica,
        block_size,
    };
    match config.job {
        JobChoice::Resume(job) => resume(ctx, job, dst, store, snapshot).await,
        JobChoice::New => new_job(&ctx, dst, store, snapshot).await,
    }
}
