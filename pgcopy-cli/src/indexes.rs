//! Deferred index builds: secondary indexes, and the PRIMARY KEY and UNIQUE
//! constraints with theirs, are saved in `saved_indexes` in the same
//! transaction that drops them, and rebuilt after the load (one bulk build
//! instead of one insertion per row), in parallel with a raised
//! `maintenance_work_mem`. Rebuilding reads the saved rows, so the end of a run,
//! `pgcopy restore-fks` and `pgcopy.restore_fks()` share it.

use crate::connect::Endpoint;
use crate::error::PgContext;
use crate::scope::Scope;
use crate::state::{StateStore, OBJECTS_PER_TRANSACTION};
use pgcopy_core::catalog::Index;
use pgcopy_core::restore::{self, SavedIndex};
use pgcopy_core::sql;
use tokio_postgres::Client;

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
        if crate::stop::requested() {
            break;
        }
        save_and_drop_batch(dst, store, job_id, batch).await?;
    }
    if !indexes.is_empty() {
        let keys = indexes
            .iter()
            .filter(|i| i.properties.constraint.is_some())
            .count();
        tracing::info!(
            "saved and dropped {}{}, each rebuilt once its table is loaded",
            crate::format::count(indexes.len(), "index", "indexes"),
            match keys {
                0 => String::new(),
                n => format!(
                    " ({n} behind primary keys or unique constraints, which come back with them)"
                ),
            }
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
    use tokio_postgres::types::Type;
    // Column by column, as arrays, in one statement; then every drop in one
    // message: a batch costs three round trips however many indexes it has.
    // What each index depends on is read here, in the transaction that
    // drops it, before the drops (sent after it on the same connection).
    let insert = format!(
        "INSERT INTO {} (job_id, table_schema, table_name, index_name, definition, properties, bindings) \
         SELECT $1, i.s, i.t, i.n, i.d, i.p, {} \
           FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[]) AS i(s, t, n, d, p) \
         ON CONFLICT (job_id, table_schema, index_name) DO UPDATE SET table_name = EXCLUDED.table_name, \
                definition = EXCLUDED.definition, properties = EXCLUDED.properties, \
                bindings = EXCLUDED.bindings, dropped_at = now(), restored_at = NULL, restore_error = NULL",
        store.rel("saved_indexes"),
        pgcopy_core::bindings::bindings_sql(
            "'pg_catalog.pg_class'::pg_catalog.regclass",
            "pg_catalog.to_regclass(pg_catalog.quote_ident(i.s) OPERATOR(pg_catalog.||) '.' \
             OPERATOR(pg_catalog.||) pg_catalog.quote_ident(i.n))::pg_catalog.oid"
        )
    );
    let schemas: Vec<&str> = indexes.iter().map(|i| i.table.schema.as_str()).collect();
    let tables: Vec<&str> = indexes.iter().map(|i| i.table.name.as_str()).collect();
    let names: Vec<&str> = indexes.iter().map(|i| i.name.as_str()).collect();
    let definitions: Vec<&str> = indexes.iter().map(|i| i.definition.as_str()).collect();
    let properties = indexes
        .iter()
        .map(|i| serde_json::to_value(&i.properties))
        .collect::<Result<Vec<_>, _>>()?;
    let drops: Vec<String> = indexes
        .iter()
        .filter(|i| !i.is_partition)
        .map(sql::drop_deferred_index)
        .collect();
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 6] = [
        (&job_id, Type::INT8),
        (&schemas, Type::TEXT_ARRAY),
        (&tables, Type::TEXT_ARRAY),
        (&names, Type::TEXT_ARRAY),
        (&definitions, Type::TEXT_ARRAY),
        (&properties, Type::JSONB_ARRAY),
    ];
    let drops = drops.join(";\n");
    let tx = dst.transaction().await?;
    let (saved, dropped) =
        tokio::join!(tx.execute_typed(&insert, &params), tx.batch_execute(&drops));
    saved.pg_context(|| format!("saving {} indexes", indexes.len()))?;
    dropped.pg_context(|| "dropping the saved indexes".into())?;
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

/// The saved indexes of `scope` on `table` that build on their own (not a
/// partitioned table's, which attaches its partitions' and comes after them
/// all), in the groups [`in_order`] makes: each group in order on one
/// session; the groups may go side by side.
pub async fn table_groups(
    conn: &Client,
    store: &StateStore,
    scope: &Scope,
    table: &pgcopy_core::quote::QualifiedName,
) -> anyhow::Result<Vec<TableGroup>> {
    let pending: Vec<Pending> = store
        .pending_indexes(conn, scope.job)
        .await?
        .into_iter()
        .filter(|(saved, level)| *level == 0 && &saved.table == table)
        .map(|(saved, level)| Pending { saved, level })
        .collect();
    Ok(in_order(pending).into_iter().map(TableGroup).collect())
}

/// Indexes of one table rebuilt in order on one session ([`table_groups`]).
#[derive(Debug)]
pub struct TableGroup(Vec<Pending>);

/// Rebuilds `groups` on `conn`, one after the other, each in its order;
/// returns how many it rebuilt. A build that fails stays pending, for the
/// pass after the load to try and report.
pub async fn rebuild_groups(
    conn: &mut Client,
    store: &StateStore,
    scope: &Scope,
    groups: &[TableGroup],
    on_built: &(dyn Fn() + Send + Sync),
) -> anyhow::Result<usize> {
    let mut rebuilt = 0;
    for p in groups.iter().flat_map(|g| &g.0) {
        if crate::stop::requested() {
            return Ok(rebuilt);
        }
        rebuild_one(conn, store, scope, p).await?;
        rebuilt += 1;
        on_built();
    }
    Ok(rebuilt)
}

/// Rebuilds the saved indexes of `scope` that are not back, with up to
/// `parallel` sessions; returns how many it rebuilt, and one message per
/// index that failed. `early` were rebuilt while the load went on: the
/// progress counts them done.
pub async fn rebuild(
    dst: &Client,
    dest: &Endpoint,
    store: &StateStore,
    scope: &Scope,
    parallel: usize,
    progress: Option<&crate::engine::after_load::AfterLoad>,
    early: usize,
) -> anyhow::Result<(usize, Vec<String>)> {
    let pending: Vec<Pending> = store
        .pending_indexes(dst, scope.job)
        .await?
        .into_iter()
        .map(|(saved, level)| Pending { saved, level })
        .collect();
    if pending.is_empty() {
        if early > 0 {
            tracing::info!(
                "rebuilt {}, each as soon as its table was loaded",
                crate::format::count(early, "index", "indexes")
            );
        }
        return Ok((0, Vec::new()));
    }
    let total = pending.len();
    if let Some(p) = progress {
        p.begin(pgcopy_core::states::Phase::Indexes, total + early);
        p.counter()
            .fetch_add(early, std::sync::atomic::Ordering::Relaxed);
    }
    let done = progress.map(|p| p.counter());
    let started = std::time::Instant::now();
    // The builds, in parallel; then the partitioned tables' indexes, which
    // attach them, one at a time, deepest first (the query's order).
    let (builds, attaches): (Vec<Pending>, Vec<Pending>) =
        pending.into_iter().partition(|p| p.level == 0);
    let mut outcomes =
        rebuild_all(dest, store, scope, parallel, in_order(builds), done.clone()).await?;
    outcomes.extend(rebuild_all(dest, store, scope, 1, vec![attaches], done).await?);
    let rebuilt = outcomes.iter().filter(|o| o.is_none()).count();
    let failures: Vec<String> = outcomes.into_iter().flatten().collect();
    tracing::info!(
        "rebuilt {}{} in {:.1} s after the load{}",
        crate::format::count(rebuilt, "index", "indexes"),
        match total - rebuilt - failures.len() {
            0 => String::new(),
            left => format!(" ({left} left for later: stopped)"),
        },
        started.elapsed().as_secs_f64(),
        match early {
            0 => String::new(),
            n => format!(", and {n} as soon as their tables were loaded"),
        }
    );
    Ok((rebuilt, failures))
}

/// The builds in groups that each run in order on one connection. A table's
/// unique indexes go together, in their `unique_rank` (the query's order: the
/// one each foreign key uses before the others that fit it, see
/// `pgcopy_core::plan::deferrable_indexes`), and so does every index whose
/// rebuild then takes a stronger lock on its table than the build's SHARE
/// lock (its key, replica identity, CLUSTER ON, statistics targets): two
/// such builds side by side each hold SHARE and wait for the other's to go,
/// a deadlock. Every other index goes alone: a plain build waits for no one,
/// so the one stronger lock a table's group waits for always comes.
fn in_order(pending: Vec<Pending>) -> Vec<Vec<Pending>> {
    let mut groups: Vec<Vec<Pending>> = Vec::new();
    // By table, whatever the job: `pgcopy restore-fks` rebuilds every job's.
    let mut group_of: std::collections::HashMap<pgcopy_core::quote::QualifiedName, usize> =
        std::collections::HashMap::new();
    for p in pending {
        if !locks_its_table(&p.saved) {
            groups.push(vec![p]);
            continue;
        }
        match group_of.entry(p.saved.table.clone()) {
            std::collections::hash_map::Entry::Occupied(g) => groups[*g.get()].push(p),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(groups.len());
                groups.push(vec![p]);
            }
        }
    }
    groups
}

/// Whether rebuilding `saved` locks its table beyond the build's SHARE lock,
/// or must come in order with the table's other unique indexes.
fn locks_its_table(saved: &SavedIndex) -> bool {
    let p = &saved.properties;
    p.unique_rank.is_some()
        || p.constraint.is_some()
        || p.replica_identity
        || p.clustered
        || !p.statistics.is_empty()
}

async fn rebuild_all(
    dest: &Endpoint,
    store: &StateStore,
    scope: &Scope,
    parallel: usize,
    groups: Vec<Vec<Pending>>,
    done: Option<std::sync::Arc<std::sync::atomic::AtomicUsize>>,
) -> anyhow::Result<Vec<Option<String>>> {
    let groups: Vec<Vec<Pending>> = groups.into_iter().filter(|g| !g.is_empty()).collect();
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let (schema, scope) = (store.clone(), scope.clone());
    // Slots no builder takes give the builds parallel workers.
    let sessions = parallel.clamp(1, groups.len());
    let settings =
        pgcopy_core::maintenance::settings(parallel, Some(parallel.saturating_sub(sessions)));
    let results = crate::pool::on_connections(
        dest,
        parallel,
        "index builder",
        &settings,
        groups,
        move |mut conn, group| {
            let (store, done, scope) = (schema.clone(), done.clone(), scope.clone());
            async move {
                // One outcome a build done: `None` rebuilt, else why not. A
                // stop leaves the rest (and the one it cancelled) pending.
                let mut outcomes = Vec::new();
                for p in &group {
                    if crate::stop::requested() {
                        break;
                    }
                    let r = rebuild_one(&mut conn, &store, &scope, p).await;
                    if let Some(d) = &done {
                        d.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    match r {
                        Ok(()) => outcomes.push(None),
                        Err(_) if crate::stop::requested() => break,
                        Err(e) => outcomes.push(Some(record_failure(&conn, &store, p, e).await)),
                    }
                }
                (conn, outcomes)
            }
        },
    )
    .await?;
    Ok(results.into_iter().flatten().collect())
}

/// Records why `p` was not rebuilt in its saved row (or says why it could
/// not), logs it, and returns the message.
async fn record_failure(
    conn: &Client,
    store: &StateStore,
    p: &Pending,
    e: anyhow::Error,
) -> String {
    let msg = restore::index_failure(&p.saved, &format!("{e:#}"));
    let record = restore::index_error(store.schema(), &p.saved, &msg);
    crate::restore_units::record(conn, &record, "why an index was not rebuilt").await;
    tracing::error!(
        "{msg}; its definition stays in {}.saved_indexes",
        store.schema()
    );
    msg
}

/// Probes what the destination has for `p` and runs the core's unit that
/// rebuilds it (or marks it there): its build, what hangs on it, the proof
/// that it depends on exactly what the dropped one did, and its mark, in
/// one transaction.
async fn rebuild_one(
    conn: &mut Client,
    store: &StateStore,
    scope: &Scope,
    p: &Pending,
) -> anyhow::Result<()> {
    let s = &p.saved;
    crate::failpoint::delay("index-build").await;
    let row = crate::restore_units::query(conn, &restore::index_probe(store.schema(), s))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("table {} does not exist", s.table.display_name()))?;
    let (present, authority) =
        pgcopy_core::rows::index_present(&crate::rows::PgRow(&row), s.job_id)?;
    let by = crate::restore_units::restorer(store, scope);
    let unit = restore::index_restore(s, present, authority, &by, crate::parse::parse)?;
    crate::restore_units::run(conn, &unit)
        .await
        .map_err(|f| anyhow::anyhow!("{f}"))
}
