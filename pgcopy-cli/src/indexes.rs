//! Deferred index builds: secondary indexes, and the PRIMARY KEY and UNIQUE
//! constraints with theirs, are saved in `saved_indexes` in the same
//! transaction that drops them, and rebuilt after the load (one bulk build
//! instead of one insertion per row), in parallel with a raised
//! `maintenance_work_mem`. Rebuilding reads the saved rows, so the end of a run,
//! `pgcopy restore-fks` and `pgcopy.restore_fks()` share it.

use crate::connect::Endpoint;
use crate::error::{pg_message, PgContext};
use crate::scope::Scope;
use crate::state::{StateStore, OBJECTS_PER_TRANSACTION};
use pgcopy_core::catalog::Index;
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

/// Rebuilds on `conn` the saved indexes of `scope` on `table` that build
/// on their own (not a partitioned table's, which attaches its partitions'
/// and comes after them all), in their order; returns how many it rebuilt.
/// A build that fails stays pending, for the pass after the load to try and
/// report.
pub async fn rebuild_table(
    conn: &mut Client,
    store: &StateStore,
    scope: &Scope,
    table: &pgcopy_core::quote::QualifiedName,
    on_built: &(dyn Fn() + Send + Sync),
) -> anyhow::Result<usize> {
    let rows = conn
        .query(&restore::pending_indexes_sql(store.schema()), &[&scope.job])
        .await
        .pg_context(|| "reading saved indexes".into())?;
    let mut pending = Vec::new();
    for r in &rows {
        let (saved, level) = pgcopy_core::rows::saved_index(&crate::rows::PgRow(r))?;
        if level == 0 && &saved.table == table {
            pending.push(Pending { saved, level });
        }
    }
    let mut rebuilt = 0;
    for group in in_order(pending) {
        for p in &group {
            if crate::stop::requested() {
                return Ok(rebuilt);
            }
            rebuild_one(conn, store, scope, p).await?;
            rebuilt += 1;
            on_built();
        }
    }
    Ok(rebuilt)
}

/// The session setting every index build runs with.
pub fn build_settings() -> String {
    format!("SET maintenance_work_mem = '{BUILD_MEMORY}'")
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
    let rows = dst
        .query(&restore::pending_indexes_sql(store.schema()), &[&scope.job])
        .await
        .pg_context(|| "reading saved indexes".into())?;
    if rows.is_empty() {
        if early > 0 {
            tracing::info!(
                "rebuilt {}, each as soon as its table was loaded",
                crate::format::count(early, "index", "indexes")
            );
        }
        return Ok((0, Vec::new()));
    }
    let pending: Vec<Pending> = rows
        .iter()
        .map(|r| {
            let (saved, level) = pgcopy_core::rows::saved_index(&crate::rows::PgRow(r))?;
            Ok(Pending { saved, level })
        })
        .collect::<anyhow::Result<_>>()?;
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
    let results = crate::pool::on_connections(
        dest,
        parallel,
        "index builder",
        &build_settings(),
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
    msg
}

/// The probe and the check that every name the definition resolves still
/// leads where it led, then the transaction that builds the index, puts
/// back what hangs on it, proves the new index depends on exactly what the
/// dropped one did, and marks it restored (or rolls back), in two flights
/// (each statement alone over the extended protocol; a failed one aborts
/// the transaction).
async fn rebuild_one(
    conn: &mut Client,
    store: &StateStore,
    scope: &Scope,
    p: &Pending,
) -> anyhow::Result<()> {
    use tokio_postgres::types::Type;
    let s = &p.saved;
    crate::failpoint::delay("index-build").await;
    if let Some(own) = &scope.own {
        own.check_index(s)?;
    }
    let row = conn
        .query_typed_opt(
            &stored::index_probe_sql(store.schema()),
            &[
                (&s.job_id, Type::INT8),
                (&s.table.schema, Type::TEXT),
                (&s.table.name, Type::TEXT),
                (&s.name, Type::TEXT),
                (&s.properties.tablespace, Type::TEXT),
            ],
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("table {} does not exist", s.table.display_name()))?;
    let (present, mut authority) =
        pgcopy_core::rows::index_present(&crate::rows::PgRow(&row), s.job_id)?;
    authority.owner_trusted |= scope.trust.trusts(&authority.owner);
    let action = restore::index_action(s, present, &authority, crate::parse::parse)?;
    let IndexAction::Build {
        sql, before, after, ..
    } = &action
    else {
        return mark_rebuilt(conn, store, s).await;
    };
    let literals = crate::parse::risky_literals(sql).map_err(|e| anyhow::anyhow!("{e}"))?;
    stored::check_literals(
        &s.table,
        &format!("index {}", s.name),
        &literals,
        &authority,
    )?;
    let saved_bindings = s.bindings.as_deref().unwrap_or_default();
    crate::rebind::check_before(conn, saved_bindings, &format!("index {}", s.name), &s.table)
        .await?;
    // Each statement alone, through the extended protocol: the server
    // cannot read more statements into the text than the parser saw.
    // What hangs on the index (its key, replica identity, CLUSTER ON,
    // comments) is the owner's to put back: as the owner, so a key
    // reaches nothing the owner may not change (as the extension does).
    let definition = crate::parse::split(sql).map_err(|e| anyhow::anyhow!("{e}"))?;
    let as_owner = (!after.is_empty()).then(|| sql::set_local_role(&authority.owner));
    let statements: Vec<String> = before
        .iter()
        .chain(&definition)
        .chain(&as_owner)
        .chain(after)
        .cloned()
        .chain(as_owner.as_ref().map(|_| sql::RESET_ROLE.to_string()))
        .collect();
    let index = pgcopy_core::quote::QualifiedName::new(&s.table.schema, &s.name).to_string();
    let bindings_now = pgcopy_core::bindings::bindings_sql(
        "'pg_catalog.pg_class'::pg_catalog.regclass",
        "pg_catalog.to_regclass($1)::pg_catalog.oid",
    );
    let conn = &*conn;
    let bound_query = format!("SELECT {bindings_now}");
    let bound_params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 1] =
        [(&index, Type::TEXT)];
    let (began, built, bound) = tokio::join!(
        conn.batch_execute("BEGIN"),
        futures_util::future::join_all(statements.iter().map(|s| conn.execute_typed(s, &[]))),
        conn.query_typed_one(&bound_query, &bound_params),
    );
    let built = began
        .map_err(anyhow::Error::from)
        .and_then(|()| {
            built
                .into_iter()
                .try_for_each(|b| b.map(drop))
                .map_err(|e| anyhow::anyhow!("{}", pg_message(&e)))
        })
        .and_then(|()| Ok(bound?))
        .and_then(|row| {
            crate::rebind::check_after(
                saved_bindings,
                row.try_get(0)?,
                &format!("index {}", s.name),
                &s.table,
            )
        });
    if let Err(e) = built {
        let _ = conn.batch_execute("ROLLBACK").await;
        return Err(e);
    }
    let mark = restore::mark_index_sql(store.schema());
    let params = mark_params(s);
    let (marked, committed) = tokio::join!(
        conn.execute_typed(&mark, &params),
        conn.batch_execute("COMMIT")
    );
    marked?;
    committed?;
    Ok(())
}

/// `$1` job, `$2` schema, `$3` index name of [`restore::mark_index_sql`].
fn mark_params(
    s: &SavedIndex,
) -> [(
    &(dyn tokio_postgres::types::ToSql + Sync),
    tokio_postgres::types::Type,
); 3] {
    use tokio_postgres::types::Type;
    [
        (&s.job_id, Type::INT8),
        (&s.table.schema, Type::TEXT),
        (&s.name, Type::TEXT),
    ]
}

/// Marks an index that is there already rebuilt.
async fn mark_rebuilt(conn: &Client, store: &StateStore, s: &SavedIndex) -> anyhow::Result<()> {
    conn.execute_typed(&restore::mark_index_sql(store.schema()), &mark_params(s))
        .await?;
    Ok(())
}
