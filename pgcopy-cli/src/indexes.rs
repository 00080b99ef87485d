//! Deferred index builds: secondary indexes are saved in `saved_indexes` in the
//! same transaction that drops them, and rebuilt after the load (one bulk build
//! instead of one insertion per row), in parallel with a raised
//! `maintenance_work_mem`. Rebuilding reads the saved rows, so the end of a run,
//! `pgcopy restore-fks` and `pgcopy.restore_fks()` share it.

use crate::connect::Endpoint;
use crate::error::{pg_message, PgContext};
use crate::state::{StateStore, OBJECTS_PER_TRANSACTION};
use pgcopy_core::catalog::Index;
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::restore::{self, IndexAction, SavedIndex};
use pgcopy_core::sql;
use pgcopy_core::stored;
use tokio_postgres::Client;

/// `maintenance_work_mem` for each rebuilding session.
const BUILD_MEMORY: &str = "256MB";

/// Saves and drops `indexes`, each saved in the transaction that drops it, in
/// batches of about [`OBJECTS_PER_TRANSACTION`], a partitioned table's index
/// tree whole in one (dropping its root drops the partitions' indexes).
pub async fn save_and_drop(
    dst: &mut Client,
    store: &StateStore,
    job_id: i64,
    indexes: &[Index],
) -> anyhow::Result<()> {
    for batch in pgcopy_core::plan::index_batches(indexes, OBJECTS_PER_TRANSACTION) {
        save_and_drop_batch(dst, store, job_id, batch).await?;
    }
    if !indexes.is_empty() {
        tracing::info!(
            "saved and dropped {}, rebuilt after the load",
            crate::format::count(indexes.len(), "secondary index", "secondary indexes")
        );
    }
    Ok(())
}

async fn save_and_drop_batch(
    dst: &mut Client,
    store: &StateStore,
    job_id: i64,
    indexes: &[Index],
) -> anyhow::Result<()> {
    let tx = dst.transaction().await?;
    let insert = format!(
        "INSERT INTO {} (job_id, table_schema, table_name, index_name, definition, properties) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (job_id, table_schema, index_name) DO UPDATE SET table_name = EXCLUDED.table_name, \
                definition = EXCLUDED.definition, properties = EXCLUDED.properties, \
                dropped_at = now(), restored_at = NULL, restore_error = NULL",
        store.rel("saved_indexes")
    );
    for i in indexes {
        tx.execute(
            &insert,
            &[
                &job_id,
                &i.table.schema,
                &i.table.name,
                &i.name,
                &i.definition,
                &serde_json::to_value(&i.properties)?,
            ],
        )
        .await
        .pg_context(|| format!("saving index {}", i.name))?;
    }
    for i in indexes.iter().filter(|i| !i.is_partition) {
        tx.batch_execute(&sql::drop_index(&i.table.schema, &i.name))
            .await
            .pg_context(|| format!("dropping index {} on {}", i.name, i.table.display_name()))?;
    }
    tx.commit()
        .await
        .pg_context(|| "committing the dropped indexes".into())?;
    Ok(())
}

/// A saved index waiting to be rebuilt.
#[derive(Debug, Clone)]
struct Pending {
    saved: SavedIndex,
    /// 0 for an index on a plain table; for a partitioned table's, its depth
    /// in the partition tree (it attaches its children, so it comes after).
    level: i32,
}

/// Rebuilds the saved indexes of `job` (all when `None`) that are not back,
/// with up to `parallel` sessions; returns one message per index that failed.
pub async fn rebuild(
    dst: &Client,
    dest: &Endpoint,
    store: &StateStore,
    job: Option<i64>,
    parallel: usize,
) -> anyhow::Result<Vec<String>> {
    let rows = dst
        .query(&restore::pending_indexes_sql(store.schema()), &[&job])
        .await
        .pg_context(|| "reading saved indexes".into())?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let pending: Vec<Pending> = rows
        .iter()
        .map(|r| {
            Ok(Pending {
                saved: SavedIndex {
                    job_id: r.get(0),
                    table: QualifiedName::new(r.get::<_, String>(1), r.get::<_, String>(2)),
                    name: r.get(3),
                    definition: r.get(4),
                    properties: serde_json::from_value(r.get(5))?,
                },
                level: r.get(6),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let total = pending.len();
    let started = std::time::Instant::now();
    // The builds, in parallel; then the partitioned tables' indexes, which
    // attach them, one at a time, deepest first (the query's order).
    let (builds, attaches): (Vec<Pending>, Vec<Pending>) =
        pending.into_iter().partition(|p| p.level == 0);
    let mut failures = rebuild_all(dest, store, parallel, builds).await?;
    failures.extend(rebuild_all(dest, store, 1, attaches).await?);
    tracing::info!(
        "rebuilt {} in {:.1} s",
        crate::format::count(total - failures.len(), "index", "indexes"),
        started.elapsed().as_secs_f64()
    );
    Ok(failures)
}

async fn rebuild_all(
    dest: &Endpoint,
    store: &StateStore,
    parallel: usize,
    pending: Vec<Pending>,
) -> anyhow::Result<Vec<String>> {
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let schema = store.clone();
    let results = crate::pool::on_connections(
        dest,
        parallel,
        "index builder",
        &format!("SET maintenance_work_mem = '{BUILD_MEMORY}'"),
        pending,
        move |mut conn, p| {
            let store = schema.clone();
            async move {
                let r = rebuild_one(&mut conn, &store, &p).await;
                let failure = match r {
                    Ok(()) => None,
                    Err(e) => {
                        let s = &p.saved;
                        let msg = format!(
                            "index {} on {} could not be rebuilt: {e:#}",
                            s.name,
                            s.table.display_name()
                        );
                        if let Err(e) = conn
                            .execute(
                                &restore::index_error_sql(store.schema()),
                                &[&s.job_id, &s.table.schema, &s.name, &msg],
                            )
                            .await
                        {
                            tracing::warn!(
                                "could not record why index {} was not rebuilt: {}",
                                s.name,
                                pg_message(&e)
                            );
                        }
                        tracing::error!(
                            "{msg}; its definition stays in {}.saved_indexes",
                            store.schema()
                        );
                        Some(msg)
                    }
                };
                (conn, failure)
            }
        },
    )
    .await?;
    Ok(results.into_iter().flatten().collect())
}

async fn rebuild_one(conn: &mut Client, store: &StateStore, p: &Pending) -> anyhow::Result<()> {
    let s = &p.saved;
    let row = conn
        .query_opt(
            &stored::index_probe_sql(store.schema()),
            &[&s.job_id, &s.table.schema, &s.table.name, &s.name],
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("table {} does not exist", s.table.display_name()))?;
    let authority = crate::constraints::authority(&row, 1, s.job_id);
    let action = restore::index_action(s, row.get(0), &authority, crate::parse::parse)?;
    if let IndexAction::Build { sql, .. } = &action {
        let literals = crate::parse::risky_literals(sql).map_err(|e| anyhow::anyhow!("{e}"))?;
        stored::check_literals(
            &s.table,
            &format!("index {}", s.name),
            &literals,
            &authority,
        )?;
    }
    let tx = conn.transaction().await?;
    if let IndexAction::Build {
        sql, before, after, ..
    } = &action
    {
        // Each statement alone, through the extended protocol: the server
        // cannot read more statements into the text than the parser saw.
        let definition = crate::parse::split(sql).map_err(|e| anyhow::anyhow!("{e}"))?;
        for s in before.iter().chain(&definition).chain(after) {
            tx.execute(s.as_str(), &[])
                .await
                .map_err(|e| anyhow::anyhow!("{}", pg_message(&e)))?;
        }
    }
    tx.execute(
        &restore::mark_index_sql(store.schema()),
        &[&s.job_id, &s.table.schema, &s.name],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
