//! Large objects: listed by OID in the run's snapshot, checked before
//! anything changes, copied after the tables by parallel workers, each batch
//! in one destination transaction that also marks it done in the state
//! schema (as a chunk of `pg_catalog.pg_largeobject`), so a resumed job
//! copies only the batches not done. Each keeps its OID, owner, privileges
//! and comment. A destination large object with a source one's OID is
//! replaced; others are left alone.

use crate::engine::shared::{snapshot_transaction, Shared};
use crate::engine::summary::RunSummary;
use crate::error::{pg_message, PgContext};
use crate::lock::Locked;
use crate::state::ChunkKey;
use pgcopy_core::plan::{large_object_batches, LargeObjectBatch, LARGE_OBJECTS};
use pgcopy_core::preflight::{check_large_objects, LargeObjectFacts, Problem};
use pgcopy_core::states::Phase;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Mutex;
use tokio_postgres::Client;

mod batch;
use batch::{grants_ddl, object_ddl, read_batch, write_object, SourceBatch};

/// On the source: how many large objects this role may not read (without
/// `lo_compat_privileges`, neither owner nor granted SELECT, itself or
/// through PUBLIC), and the roles any object grants something to.
const SOURCE_OBJECTS_READABLE_SQL: &str =
    include_str!("../../../../sql/large_objects_readable.sql");

/// Large objects per batch (one destination transaction).
const PER_BATCH: usize = 256;
/// Bytes read per `lo_get` call: a batch holds at most this much per large
/// object at once, whatever their sizes.
pub(super) const SLICE: i32 = 256 * 1024;

/// The source's large objects, each OID with its owner, in OID order, as the
/// snapshot `src` reads in shows them: read once, for the plan's batches
/// ([`batches`]) and for [`preflight`].
pub async fn list(src: &Client) -> anyhow::Result<BTreeMap<u32, String>> {
    Ok(src
        .query(
            "SELECT m.oid, pg_catalog.pg_get_userbyid(m.lomowner)::text
               FROM pg_catalog.pg_largeobject_metadata m",
            &[],
        )
        .await
        .pg_context(|| "listing the source's large objects".into())?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, tokio_postgres::Error>>()?)
}

/// The large objects of [`list`], in batches.
pub fn batches(objects: &BTreeMap<u32, String>) -> Vec<LargeObjectBatch> {
    let oids: Vec<u32> = objects.keys().copied().collect();
    large_object_batches(&oids, PER_BATCH)
}

/// What keeps this role from copying the source's large objects as they are
/// (decided by `pgcopy_core::preflight::check_large_objects` from what this
/// reads on both sides). `objects`: the source's, from [`list`].
pub async fn preflight(
    src: &Client,
    dst: &Client,
    objects: &BTreeMap<u32, String>,
) -> anyhow::Result<Vec<Problem>> {
    let row = src
        .query_one(SOURCE_OBJECTS_READABLE_SQL, &[])
        .await
        .pg_context(|| "reading the source's large objects".into())?;
    let (unreadable, grantees): (i64, Vec<String>) = (row.try_get(0)?, row.try_get(1)?);
    let owners: BTreeSet<&String> = objects.values().collect();
    let roles = dst
        .query(
            "SELECT n, r.oid IS NOT NULL, coalesce(pg_catalog.pg_has_role(r.oid, 'MEMBER'), false)
               FROM pg_catalog.unnest($1::text[]) n LEFT JOIN pg_catalog.pg_roles r ON r.rolname = n",
            &[&owners.iter().copied().chain(&grantees).collect::<Vec<_>>()],
        )
        .await
        .pg_context(|| "looking up the large objects' roles on the destination".into())?;
    let all: Vec<u32> = objects.keys().copied().collect();
    let dest_objects = dst
        .query(
            "SELECT m.oid, pg_catalog.pg_get_userbyid(m.lomowner)::text,
                    pg_catalog.pg_has_role(m.lomowner, 'MEMBER')
               FROM pg_catalog.pg_largeobject_metadata m WHERE m.oid = ANY ($1::pg_catalog.oid[])
              ORDER BY m.oid",
            &[&all],
        )
        .await
        .pg_context(|| "reading the destination's large objects".into())?;
    let may_create: bool = dst
        .query_one(
            "SELECT pg_catalog.has_function_privilege('pg_catalog.lo_from_bytea(pg_catalog.oid, pg_catalog.bytea)', 'EXECUTE')
                    AND pg_catalog.has_function_privilege('pg_catalog.lo_put(pg_catalog.oid, pg_catalog.int8, pg_catalog.bytea)', 'EXECUTE')
                    AND pg_catalog.has_function_privilege('pg_catalog.lo_unlink(pg_catalog.oid)', 'EXECUTE')",
            &[],
        )
        .await
        .pg_context(|| "reading the destination's large objects".into())?
        .try_get(0)?;
    Ok(check_large_objects(&LargeObjectFacts {
        source_owners: objects.clone(),
        unreadable,
        roles: roles
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, tokio_postgres::Error>>()?,
        dest_objects: dest_objects
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, tokio_postgres::Error>>()?,
        may_create,
    }))
}

/// Large objects and bytes one run copied.
#[derive(Debug, Default, Clone, Copy)]
pub struct Copied {
    /// Large objects.
    pub objects: u64,
    /// Bytes of their data.
    pub bytes: u64,
}

/// Copies the plan's batches not in `done` (chunk indexes committed by an
/// earlier run), with up to `parallel` workers; marks the large objects done
/// in the state schema when every batch is. Errors name the batch.
pub async fn copy(shared: &Shared, done: &HashSet<i32>, parallel: usize) -> anyhow::Result<Copied> {
    let batches = &shared.plan.large_objects;
    let queue: Mutex<VecDeque<LargeObjectBatch>> = Mutex::new(
        batches
            .iter()
            .filter(|b| !done.contains(&(b.index as i32)))
            .copied()
            .collect(),
    );
    let pending = queue.locked().len();
    if pending == 0 {
        return Ok(Copied::default());
    }
    let started = std::time::Instant::now();
    let workers = parallel.clamp(1, pending);
    let results =
        futures_util::future::join_all((0..workers).map(|i| worker(shared, &queue, i))).await;
    let mut total = Copied::default();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(c) => {
                total.objects += c.objects;
                total.bytes += c.bytes;
            }
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if let Some(e) = errors.into_iter().next() {
        return Err(anyhow::anyhow!("copying large objects: {e}"));
    }
    let dst = shared.dest.connect("large objects").await?;
    shared
        .store
        .set_table_state(
            &dst,
            shared.job_id,
            LARGE_OBJECTS.0,
            LARGE_OBJECTS.1,
            pgcopy_core::states::TableState::Done,
            None,
        )
        .await?;
    tracing::info!(
        "copied {} large objects ({}) in {:.1} s",
        total.objects,
        crate::format::human_bytes(total.bytes),
        started.elapsed().as_secs_f64()
    );
    Ok(total)
}

/// One worker: its own source session in the snapshot and destination
/// session, batches until none is left.
async fn worker(
    shared: &Shared,
    queue: &Mutex<VecDeque<LargeObjectBatch>>,
    id: usize,
) -> anyhow::Result<Copied> {
    let name = format!("large objects {id}");
    let (src, dst) = tokio::try_join!(shared.source.connect(&name), shared.dest.connect(&name))?;
    let mut dst = dst;
    src.batch_execute(&snapshot_transaction(shared))
        .await
        .pg_context(|| "importing the source snapshot".into())?;
    let mark_done = shared
        .store
        .prepare_mark_chunk_done(&dst)
        .await
        .pg_context(|| "preparing the progress update".into())?;
    let mut copied = Copied::default();
    loop {
        if crate::stop::requested() {
            break;
        }
        let Some(batch) = queue.locked().pop_front() else {
            break;
        };
        let bytes = copy_batch(shared, &src, &mut dst, &mark_done, batch)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "batch {} (OIDs {}..={}): {e:#}",
                    batch.index,
                    batch.first,
                    batch.last
                )
            })?;
        copied.objects += bytes.0;
        copied.bytes += bytes.1;
        crate::failpoint::hit("after-large-object-batch").await;
    }
    Ok(copied)
}

/// Copies one batch into one destination transaction: the objects replace
/// any of the same OIDs, with the source's owners, comments and privileges,
/// and the batch is marked done in the same transaction; returns how many
/// objects and bytes.
async fn copy_batch(
    shared: &Shared,
    src: &Client,
    dst: &mut Client,
    mark_done: &tokio_postgres::Statement,
    batch: LargeObjectBatch,
) -> anyhow::Result<(u64, u64)> {
    let SourceBatch {
        mut objects,
        grants,
        with_acl,
    } = read_batch(src, batch).await?;
    let tx = dst.transaction().await?;
    let oids: Vec<u32> = objects.iter().map(|o| o.oid).collect();
    tx.execute(
        "SELECT pg_catalog.lo_unlink(m.oid) FROM pg_catalog.pg_largeobject_metadata m
          WHERE m.oid = ANY ($1::pg_catalog.oid[])",
        &[&oids],
    )
    .await
    .map_err(|e| anyhow::anyhow!("replacing the destination's: {}", pg_message(&e)))?;
    let create = tx
        .prepare("SELECT pg_catalog.lo_from_bytea($1, $2)")
        .await?;
    let put = tx.prepare("SELECT pg_catalog.lo_put($1, $2, $3)").await?;
    let mut bytes = 0u64;
    let current_user: String = tx
        .query_one("SELECT current_user::text", &[])
        .await?
        .try_get(0)?;
    let mut ddl = String::new();
    for o in &mut objects {
        bytes += write_object(&tx, src, (&create, &put), o).await?;
        o.data = Vec::new();
        ddl.push_str(&object_ddl(o, &current_user, with_acl.contains(&o.oid)));
    }
    ddl.push_str(&grants_ddl(&tx, &grants).await?);
    if !ddl.is_empty() {
        tx.batch_execute(&ddl).await.map_err(|e| {
            anyhow::anyhow!(
                "setting owners, privileges and comments: {}",
                pg_message(&e)
            )
        })?;
    }
    shared
        .store
        .mark_chunk_done(
            &tx,
            mark_done,
            ChunkKey {
                job_id: shared.job_id,
                schema: LARGE_OBJECTS.0,
                table: LARGE_OBJECTS.1,
                chunk: batch.index as i32,
            },
            objects.len() as i64,
            bytes as i64,
            false,
        )
        .await?;
    tx.commit().await?;
    Ok((objects.len() as u64, bytes))
}

/// Step `LargeObjects`: copies the plan's large objects not copied by an
/// earlier run of the job, into `summary` (how many, or why not all).
pub async fn run(
    shared: &Shared,
    dst: &Client,
    done_chunks: &std::collections::HashMap<(String, String, i32), (i64, i64)>,
    parallel: usize,
    summary: &mut RunSummary,
) {
    if shared.plan.large_objects.is_empty() {
        return;
    }
    shared.enter(dst, Phase::LargeObjects, 0).await;
    let done: HashSet<i32> = done_chunks
        .keys()
        .filter(|(schema, table, _)| (schema.as_str(), table.as_str()) == LARGE_OBJECTS)
        .map(|(_, _, chunk)| *chunk)
        .collect();
    match copy(shared, &done, parallel).await {
        Ok(copied) => summary.large_objects = copied.objects,
        Err(e) => {
            tracing::error!("{e:#}");
            summary.large_object_failure = Some(format!("{e:#}"));
        }
    }
}
