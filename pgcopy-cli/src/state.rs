//! The state store: pgcopy's jobs, tables, chunks and workers in the destination's
//! state schema (`sql/state_schema.sql`). Every statement naming the schema is
//! built here with the core's quoting, so the schema may be any name
//! (`--state-schema`).

use crate::error::{PgContext, UserError};
use pgcopy_core::plan::Plan;
use pgcopy_core::quote::{quote_ident, quote_literal};
use pgcopy_core::states::{JobState, TableState};
use pgcopy_core::STATE_SCHEMA_VERSION;
use tokio_postgres::{Client, GenericClient};

/// What the destination has for a state schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateSchemaStatus {
    /// Present with a version this build understands.
    Ready {
        /// Provided by the installed extension (not created by the CLI).
        by_extension: bool,
        /// The extension's owner when that is neither a superuser nor this
        /// role: it may drop the extension, and the state with it.
        droppable_by: Option<String>,
    },
    /// Absent; the role may create it.
    Creatable,
}

/// Objects (FKs, indexes, triggers) saved and dropped, or disabled, per
/// destination transaction. Each object and its record still share one
/// transaction; batches keep a transaction's locks (two tables per FK) within
/// the server's lock table, which one transaction for 10,000 FKs ran out of.
pub const OBJECTS_PER_TRANSACTION: usize = 200;

/// One-off steps of a job, recorded in the transaction that does them.
#[derive(Debug, Clone, Copy)]
pub enum JobStep {
    /// The up-front TRUNCATE.
    Truncated,
    /// Saving and dropping the FKs.
    FksDropped,
}

/// Which chunk of which job a state row is about.
#[derive(Debug, Clone, Copy)]
pub struct ChunkKey<'a> {
    /// The job.
    pub job_id: i64,
    /// Table schema.
    pub schema: &'a str,
    /// Table name.
    pub table: &'a str,
    /// Chunk index.
    pub chunk: i32,
}

/// A job that did not finish, as stored.
#[derive(Debug, Clone)]
pub struct StoredJob {
    /// Job id.
    pub job_id: i64,
    /// Stored state.
    pub state: String,
    /// Running, but its client is gone.
    pub stale: bool,
    /// Redacted source it copied from.
    pub source: String,
    /// The plan it follows.
    pub plan: serde_json::Value,
    /// Its command-line options.
    pub options: serde_json::Value,
    /// The up-front TRUNCATE was done.
    pub truncated: bool,
    /// Triggers it disabled and did not put back, with their modes.
    pub disabled_triggers: Vec<pgcopy_core::triggers::SavedTrigger>,
    /// The role that created it.
    pub created_by: String,
    /// Whether that is this role.
    pub mine: bool,
}

/// Where a worker is, for the heartbeat (`job_workers`).
pub struct WorkerPosition<'a> {
    /// Its number.
    pub worker: i32,
    /// The table it copies, if any.
    pub table: Option<&'a pgcopy_core::quote::QualifiedName>,
    /// The chunk, with a table.
    pub chunk: Option<i32>,
    /// Rows streamed so far in that chunk.
    pub rows: i64,
    /// Bytes streamed so far.
    pub bytes: i64,
    /// Seconds since the chunk started.
    pub secs: f64,
}

/// Reports a state write that failed where the run goes on without it (the
/// connection may be the reason): `what` was not recorded.
pub fn log_failed_write<T>(result: anyhow::Result<T>, what: &str) {
    if let Err(e) = result {
        tracing::warn!("could not record {what} in the state schema: {e:#}");
    }
}

/// Handle on the state schema of one destination.
#[derive(Debug, Clone)]
pub struct StateStore {
    schema: String,
}

impl StateStore {
    /// The store in `schema`.
    pub fn new(schema: &str) -> Self {
        StateStore {
            schema: schema.to_string(),
        }
    }

    /// The schema name, unquoted.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// `"schema".name`.
    pub fn rel(&self, name: &str) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(name))
    }

    /// Checks the state schema without changing anything, and whether this
    /// role may trust it: pgcopy reads definitions and calls functions from
    /// it, so it must be the extension's (owned by a superuser) or this
    /// role's own, with no other role allowed to create objects in it.
    pub async fn inspect(&self, client: &Client) -> anyhow::Result<StateSchemaStatus> {
        let row = client
            .query_one(
                "SELECT n.oid IS NOT NULL AS present,
                        (SELECT e.extversion FROM pg_catalog.pg_extension e
                          WHERE e.extname = 'pgcopy' AND e.extnamespace = n.oid) AS ext_version,
                        EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
                                 WHERE p.pronamespace = n.oid AND p.proname = 'schema_version'
                                   AND p.pronargs = 0) AS has_version,
                        pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE') AS may_create,
                        pg_catalog.has_schema_privilege(n.oid, 'USAGE') AS may_use,
                        pg_catalog.pg_get_userbyid(n.nspowner) AS owner,
                        coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = n.nspowner), false)
                            AS owner_is_superuser,
                        pg_catalog.pg_get_userbyid(n.nspowner) = current_user AS mine,
                        EXISTS (SELECT 1 FROM pg_catalog.aclexplode(n.nspacl) a
                                 WHERE a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner) AS others_create,
                        (SELECT pg_catalog.pg_get_userbyid(e.extowner)::text
                           FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_roles r ON r.oid = e.extowner
                          WHERE e.extname = 'pgcopy' AND e.extnamespace = n.oid
                            AND NOT r.rolsuper AND r.rolname <> current_user) AS droppable_by
                   FROM (SELECT $1::text AS name) s
                   LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = s.name",
                &[&self.schema],
            )
            .await
            .pg_context(|| "reading the destination's state schema".into())?;
        let present: bool = row.get(0);
        let ext_version: Option<String> = row.get(1);
        let has_version: bool = row.get(2);
        let may_create: bool = row.get(3);
        let may_use: Option<bool> = row.get(4);
        let owner: String = row.get::<_, Option<String>>(5).unwrap_or_default();
        let owner_is_superuser: bool = row.get(6);
        let mine: Option<bool> = row.get(7);
        let others_create: bool = row.get(8);
        let droppable_by: Option<String> = row.get(9);
        let q = quote_ident(&self.schema);
        if !present {
            if may_create {
                return Ok(StateSchemaStatus::Creatable);
            }
            return Err(UserError::failure(format!(
                "the destination has no state schema {:?} and this role may not create it: \
                 run CREATE EXTENSION pgcopy there (any role with CREATE on the database may), \
                 or GRANT CREATE ON DATABASE to this role, or choose another schema with --state-schema",
                self.schema
            ))
            .into());
        }
        // Trust before anything in it is read or called: a schema another role
        // controls could hold a look-alike schema_version() or tampered rows.
        if !owner_is_superuser && mine != Some(true) {
            return Err(UserError::failure(format!(
                "schema {:?} on the destination belongs to role {owner:?}, neither this role nor a superuser, so \
                 pgcopy will not read or run anything in it: run pgcopy as {owner:?}, or choose another \
                 schema with --state-schema (where the extension is wanted, a schema of that name must not exist \
                 before CREATE EXTENSION pgcopy)",
                self.schema
            ))
            .into());
        }
        if others_create {
            return Err(UserError::failure(format!(
                "schema {:?} on the destination lets other roles create objects in it, which could shadow its \
                 functions: as {owner:?}, REVOKE CREATE ON SCHEMA {q} FROM them (and PUBLIC), or choose another \
                 schema with --state-schema",
                self.schema
            ))
            .into());
        }
        if !has_version {
            return Err(UserError::failure(format!(
                "schema {:?} on the destination exists but is not a pgcopy state schema: \
                 choose another with --state-schema",
                self.schema
            ))
            .into());
        }
        if may_use == Some(false) {
            return Err(UserError::failure(format!(
                "the state schema {:?} on the destination belongs to role {owner:?} and this role may not use it: \
                 run as {owner:?}, have it GRANT USAGE ON SCHEMA {q} and SELECT, INSERT, UPDATE ON ALL \
                 TABLES IN SCHEMA {q} to this role, or choose another schema with --state-schema",
                self.schema,
            ))
            .into());
        }
        let v: i32 = client
            .query_one(&format!("SELECT {}()", self.rel("schema_version")), &[])
            .await
            .pg_context(|| format!("reading {}.schema_version()", self.schema))?
            .get(0);
        if v < STATE_SCHEMA_VERSION {
            return Err(UserError::failure(format!(
                "the state schema {:?} on the destination has version {v}, made by an older pgcopy, and this \
                 pgcopy needs version {}: finish or discard its jobs with that pgcopy (pgcopy restore-fks, \
                 pgcopy jobs discard), then drop it (DROP EXTENSION pgcopy, or DROP SCHEMA {q} CASCADE) so \
                 that this pgcopy makes it anew",
                self.schema, STATE_SCHEMA_VERSION
            ))
            .into());
        }
        if v != STATE_SCHEMA_VERSION {
            return Err(UserError::failure(format!(
                "the state schema {:?} on the destination has version {v}, this pgcopy understands {}: \
                 upgrade pgcopy (and ALTER EXTENSION pgcopy UPDATE) so both match",
                self.schema, STATE_SCHEMA_VERSION
            ))
            .into());
        }
        Ok(StateSchemaStatus::Ready {
            by_extension: ext_version.is_some(),
            droppable_by,
        })
    }

    /// Creates the state schema from `sql/state_schema.sql`, owned by this
    /// role.
    pub async fn create(&self, client: &mut Client) -> anyhow::Result<()> {
        let tx = client.transaction().await?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA {};\n{}",
            quote_ident(&self.schema),
            pgcopy_core::state_schema_sql(&self.schema)
        ))
        .await
        .pg_context(|| format!("creating the state schema {:?}", self.schema))?;
        tx.commit().await?;
        Ok(())
    }

    /// Jobs on this destination that did not finish (neither succeeded nor
    /// discarded), newest first; `job` picks one.
    pub async fn unfinished_jobs(
        &self,
        client: &Client,
        job: Option<i64>,
    ) -> anyhow::Result<Vec<StoredJob>> {
        let rows = client
            .query(
                &format!(
                    "SELECT job_id, state, {stale}(j), source, coalesce(plan, 'null'), options, \
                            truncated_at IS NOT NULL, \
                            coalesce(disabled_triggers, '[]'), \
                            pg_catalog.pg_get_userbyid(created_by)::text, \
                            pg_catalog.pg_get_userbyid(created_by) = current_user \
                       FROM {jobs} j \
                      WHERE state NOT IN ('succeeded', 'discarded') AND ($1::bigint IS NULL OR job_id = $1) \
                      ORDER BY job_id DESC",
                    stale = self.rel("job_is_stale"),
                    jobs = self.rel("jobs")
                ),
                &[&job],
            )
            .await
            .pg_context(|| "reading unfinished jobs".into())?;
        rows.iter()
            .map(|r| {
                Ok(StoredJob {
                    job_id: r.get(0),
                    state: r.get(1),
                    stale: r.get::<_, Option<bool>>(2).unwrap_or(false),
                    source: r.get(3),
                    plan: r.get(4),
                    options: r.get(5),
                    truncated: r.get(6),
                    disabled_triggers: serde_json::from_value(r.get(7))?,
                    created_by: r.get(8),
                    mine: r.get(9),
                })
            })
            .collect()
    }

    /// Takes a stored job up again: running, with a new snapshot and client.
    pub async fn restart_job(
        &self,
        client: &Client,
        job_id: i64,
        snapshot: &str,
    ) -> anyhow::Result<()> {
        client
            .execute(
                &format!(
                    "UPDATE {} SET state = 'running', snapshot = $2, error = NULL, finished_at = NULL, \
                            heartbeat_at = now(), client_pid = $3, client_backend_pid = pg_catalog.pg_backend_pid(), \
                            client_version = $4 \
                      WHERE job_id = $1",
                    self.rel("jobs")
                ),
                &[&job_id, &snapshot, &(std::process::id() as i32), &env!("CARGO_PKG_VERSION")],
            )
            .await
            .pg_context(|| format!("taking up job {job_id} again"))?;
        Ok(())
    }

    /// Chunks of a job already committed: (schema, table, chunk) -> (rows, bytes).
    pub async fn done_chunks(
        &self,
        client: &Client,
        job_id: i64,
    ) -> anyhow::Result<std::collections::HashMap<(String, String, i32), (i64, i64)>> {
        let rows = client
            .query(
                &format!(
                    "SELECT table_schema, table_name, chunk_index, rows_copied, bytes_copied FROM {} \
                      WHERE job_id = $1 AND state = 'done'",
                    self.rel("job_chunks")
                ),
                &[&job_id],
            )
            .await
            .pg_context(|| "reading the job's chunks".into())?;
        Ok(rows
            .iter()
            .map(|r| ((r.get(0), r.get(1), r.get(2)), (r.get(3), r.get(4))))
            .collect())
    }

    /// Whether a chunk is marked done (its transaction committed), with its rows
    /// and bytes: used when a COMMIT's answer was lost.
    pub async fn chunk_done(
        &self,
        client: &Client,
        key: ChunkKey<'_>,
    ) -> Result<Option<(i64, i64)>, tokio_postgres::Error> {
        let row = client
            .query_opt(
                &format!(
                    "SELECT rows_copied, bytes_copied FROM {} WHERE job_id = $1 AND table_schema = $2 \
                        AND table_name = $3 AND chunk_index = $4 AND state = 'done'",
                    self.rel("job_chunks")
                ),
                &[&key.job_id, &key.schema, &key.table, &key.chunk],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// `UPDATE jobs SET <column> = now()`, run inside the transaction doing the step.
    pub async fn mark_step(
        &self,
        tx: &impl GenericClient,
        job_id: i64,
        column: JobStep,
    ) -> Result<u64, tokio_postgres::Error> {
        let col = match column {
            JobStep::Truncated => "truncated_at",
            JobStep::FksDropped => "fks_dropped_at",
        };
        tx.execute(
            &format!(
                "UPDATE {} SET {col} = now() WHERE job_id = $1",
                self.rel("jobs")
            ),
            &[&job_id],
        )
        .await
    }

    /// Records which tables have their user triggers disabled by the job (None:
    /// none any more), inside the transaction that changes them.
    pub async fn set_disabled_triggers(
        &self,
        tx: &impl GenericClient,
        job_id: i64,
        tables: Option<&serde_json::Value>,
    ) -> Result<u64, tokio_postgres::Error> {
        tx.execute(
            &format!(
                "UPDATE {} SET disabled_triggers = $2 WHERE job_id = $1",
                self.rel("jobs")
            ),
            &[&job_id, &tables],
        )
        .await
    }

    /// Saved foreign keys not restored yet, from any job.
    pub async fn pending_fk_count(&self, client: &Client) -> anyhow::Result<i64> {
        Ok(client
            .query_one(
                &format!(
                    "SELECT count(*) FROM {} WHERE restored_at IS NULL",
                    self.rel("saved_fks")
                ),
                &[],
            )
            .await
            .pg_context(|| "reading pending saved foreign keys".into())?
            .get(0))
    }

    /// How many of `job_id`'s saved FKs and indexes are not restored yet.
    pub async fn job_leftovers(&self, client: &Client, job_id: i64) -> anyhow::Result<i64> {
        Ok(client
            .query_one(
                &format!(
                    "SELECT (SELECT count(*) FROM {} WHERE job_id = $1 AND restored_at IS NULL) \
                          + (SELECT count(*) FROM {} WHERE job_id = $1 AND restored_at IS NULL)",
                    self.rel("saved_fks"),
                    self.rel("saved_indexes")
                ),
                &[&job_id],
            )
            .await
            .pg_context(|| format!("reading what job {job_id} left to restore"))?
            .get(0))
    }

    /// Marks an unfinished job that left nothing to undo as discarded, keeping
    /// its error.
    pub async fn supersede_job(&self, client: &Client, job_id: i64) -> anyhow::Result<()> {
        client
            .execute(
                &format!(
                    "UPDATE {} SET state = 'discarded', finished_at = coalesce(finished_at, now()) \
                      WHERE job_id = $1",
                    self.rel("jobs")
                ),
                &[&job_id],
            )
            .await
            .pg_context(|| format!("marking job {job_id} discarded"))?;
        Ok(())
    }

    /// Records a new running job with its tables and chunks; returns its id.
    pub async fn create_job(
        &self,
        client: &mut Client,
        plan: &Plan,
        source: &str,
        dest: &str,
        options: &serde_json::Value,
        snapshot: &str,
    ) -> anyhow::Result<i64> {
        let tx = client.transaction().await?;
        let plan_json = serde_json::to_value(plan)?;
        let host = std::env::var("HOSTNAME").ok().or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        });
        let job_id: i64 = tx
            .query_one(
                &format!(
                    "INSERT INTO {} (state, source, destination, options, fk_strategy, snapshot, \
                       client_host, client_pid, client_version, plan, started_at, heartbeat_at, client_backend_pid) \
                     VALUES ('running', $1, $2, $3, $4, $5, $6, $7, $8, $9, now(), now(), pg_catalog.pg_backend_pid()) RETURNING job_id",
                    self.rel("jobs")
                ),
                &[
                    &source,
                    &dest,
                    options,
                    &plan.fk_strategy.as_str(),
                    &snapshot,
                    &host,
                    &(std::process::id() as i32),
                    &env!("CARGO_PKG_VERSION"),
                    &plan_json,
                ],
            )
            .await
            .pg_context(|| "recording the job in the state schema".into())?
            .get(0);
        // Column by column, as arrays: the SQL knows no field of the plan's.
        let t = &plan.tables;
        let schemas: Vec<&str> = t.iter().map(|t| t.table.schema.as_str()).collect();
        let names: Vec<&str> = t.iter().map(|t| t.table.name.as_str()).collect();
        let roots: Vec<Option<String>> = t
            .iter()
            .map(|t| t.partition_of.as_ref().map(|p| p.display_name()))
            .collect();
        let rows: Vec<i64> = t.iter().map(|t| t.est_rows as i64).collect();
        let bytes: Vec<i64> = t.iter().map(|t| t.bytes as i64).collect();
        let chunks: Vec<i32> = t.iter().map(|t| t.chunks.len() as i32).collect();
        tx.execute(
            &format!(
                "INSERT INTO {} (job_id, table_schema, table_name, partition_of, est_rows, est_bytes, chunk_count) \
                 SELECT $1, t.s, t.n, t.p, t.r, t.b, t.c \
                   FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::int[]) \
                        AS t(s, n, p, r, b, c)",
                self.rel("job_tables")
            ),
            &[&job_id, &schemas, &names, &roots, &rows, &bytes, &chunks],
        )
        .await
        .pg_context(|| "recording the job's tables".into())?;
        let each_chunk = || t.iter().flat_map(|t| t.chunks.iter().map(move |c| (t, c)));
        let schemas: Vec<&str> = each_chunk().map(|(t, _)| t.table.schema.as_str()).collect();
        let names: Vec<&str> = each_chunk().map(|(t, _)| t.table.name.as_str()).collect();
        let index: Vec<i32> = each_chunk().map(|(_, c)| c.index as i32).collect();
        let start: Vec<Option<i64>> = each_chunk()
            .map(|(_, c)| c.start_page.map(|p| p as i64))
            .collect();
        let end: Vec<Option<i64>> = each_chunk()
            .map(|(_, c)| c.end_page.map(|p| p as i64))
            .collect();
        tx.execute(
            &format!(
                "INSERT INTO {} (job_id, table_schema, table_name, chunk_index, start_page, end_page) \
                 SELECT $1, c.s, c.n, c.i, c.f, c.e \
                   FROM unnest($2::text[], $3::text[], $4::int[], $5::bigint[], $6::bigint[]) AS c(s, n, i, f, e)",
                self.rel("job_chunks")
            ),
            &[&job_id, &schemas, &names, &index, &start, &end],
        )
        .await
        .pg_context(|| "recording the job's chunks".into())?;
        if !plan.large_objects.is_empty() {
            // Large objects are tracked as a table of batches (by OID).
            let (schema, table) = pgcopy_core::plan::LARGE_OBJECTS;
            let batches = &plan.large_objects;
            let count: i64 = batches.iter().map(|b| i64::from(b.count)).sum();
            tx.execute(
                &format!(
                    "INSERT INTO {} (job_id, table_schema, table_name, est_rows, chunk_count) \
                     VALUES ($1, $2, $3, $4, $5)",
                    self.rel("job_tables")
                ),
                &[&job_id, &schema, &table, &count, &(batches.len() as i32)],
            )
            .await
            .pg_context(|| "recording the job's large objects".into())?;
            let index: Vec<i32> = batches.iter().map(|b| b.index as i32).collect();
            let first: Vec<i64> = batches.iter().map(|b| i64::from(b.first)).collect();
            let after: Vec<i64> = batches.iter().map(|b| i64::from(b.last) + 1).collect();
            tx.execute(
                &format!(
                    "INSERT INTO {} (job_id, table_schema, table_name, chunk_index, start_page, end_page) \
                     SELECT $1, $2, $3, b.i, b.first, b.after \
                       FROM unnest($4::int[], $5::bigint[], $6::bigint[]) AS b(i, first, after)",
                    self.rel("job_chunks")
                ),
                &[&job_id, &schema, &table, &index, &first, &after],
            )
            .await
            .pg_context(|| "recording the job's large objects".into())?;
        }
        tx.commit().await?;
        Ok(job_id)
    }

    /// Prepares the statement [`StateStore::mark_chunk_done`] runs, once per
    /// worker connection: a small table would otherwise pay a parse round
    /// trip for its progress row.
    pub async fn prepare_mark_chunk_done(
        &self,
        client: &Client,
    ) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        client
            .prepare(&format!(
                    "WITH table_done AS (\
                         UPDATE {} SET state = 'done', started_at = coalesce(started_at, now()), \
                                finished_at = now() \
                          WHERE $7 AND job_id = $1 AND table_schema = $2 AND table_name = $3) \
                     UPDATE {} SET state = 'done', rows_copied = $5, bytes_copied = $6, \
                            attempts = attempts + 1, finished_at = now(), error = NULL \
                      WHERE job_id = $1 AND table_schema = $2 AND table_name = $3 AND chunk_index = $4",
                    self.rel("job_tables"),
                    self.rel("job_chunks")
                ))
            .await
    }

    /// Marks a chunk done, in the transaction that loaded it, with the
    /// statement from [`StateStore::prepare_mark_chunk_done`]; its table too
    /// when `table_done` (the table's only chunk), which saves the coordinator
    /// a statement per small table.
    pub async fn mark_chunk_done(
        &self,
        tx: &impl GenericClient,
        statement: &tokio_postgres::Statement,
        key: ChunkKey<'_>,
        rows: i64,
        bytes: i64,
        table_done: bool,
    ) -> Result<u64, tokio_postgres::Error> {
        tx.execute(
            statement,
            &[
                &key.job_id,
                &key.schema,
                &key.table,
                &key.chunk,
                &rows,
                &bytes,
                &table_done,
            ],
        )
        .await
    }

    /// Records a failed chunk and its table (outside the failed transaction).
    pub async fn mark_chunk_failed(
        &self,
        client: &Client,
        key: ChunkKey<'_>,
        error: &str,
    ) -> anyhow::Result<()> {
        client
            .execute(
                &format!(
                    "UPDATE {} SET state = 'failed', attempts = attempts + 1, error = $5 \
                      WHERE job_id = $1 AND table_schema = $2 AND table_name = $3 AND chunk_index = $4",
                    self.rel("job_chunks")
                ),
                &[&key.job_id, &key.schema, &key.table, &key.chunk, &error],
            )
            .await
            .pg_context(|| "recording a failed chunk".into())?;
        self.set_table_state(
            client,
            key.job_id,
            key.schema,
            key.table,
            TableState::Failed,
            Some(error),
        )
        .await
    }

    /// Sets a table's state.
    pub async fn set_table_state(
        &self,
        client: &Client,
        job_id: i64,
        schema: &str,
        table: &str,
        state: TableState,
        error: Option<&str>,
    ) -> anyhow::Result<()> {
        client
            .execute(
                &format!(
                    "UPDATE {} SET state = $4, error = coalesce($5, error), \
                            started_at = coalesce(started_at, now()), \
                            finished_at = CASE WHEN $4 IN ('done', 'failed') THEN now() END \
                      WHERE job_id = $1 AND table_schema = $2 AND table_name = $3",
                    self.rel("job_tables")
                ),
                &[&job_id, &schema, &table, &state.as_str(), &error],
            )
            .await
            .pg_context(|| "recording a table's state".into())?;
        Ok(())
    }

    /// Writes the heartbeat and each worker's live position in one statement.
    pub async fn heartbeat(
        &self,
        client: &Client,
        job_id: i64,
        workers: &[WorkerPosition<'_>],
    ) -> anyhow::Result<()> {
        let worker: Vec<i32> = workers.iter().map(|w| w.worker).collect();
        let schema: Vec<Option<&str>> = workers
            .iter()
            .map(|w| w.table.map(|t| t.schema.as_str()))
            .collect();
        let table: Vec<Option<&str>> = workers
            .iter()
            .map(|w| w.table.map(|t| t.name.as_str()))
            .collect();
        let chunk: Vec<Option<i32>> = workers.iter().map(|w| w.chunk).collect();
        let rows: Vec<i64> = workers.iter().map(|w| w.rows).collect();
        let bytes: Vec<i64> = workers.iter().map(|w| w.bytes).collect();
        let secs: Vec<f64> = workers.iter().map(|w| w.secs).collect();
        client
            .execute(
                &format!(
                    "WITH beat AS (UPDATE {jobs} SET heartbeat_at = now() WHERE job_id = $1)
                 INSERT INTO {w} (job_id, worker, table_schema, table_name, chunk_index, rows_streamed, bytes_streamed, chunk_started_at, updated_at)
                 SELECT $1, x.worker, x.s, x.t, x.c, x.r, x.b, now() - make_interval(secs => x.secs), now()
                   FROM unnest($2::int[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::bigint[], $8::float8[])
                        AS x(worker, s, t, c, r, b, secs)
                 ON CONFLICT (job_id, worker) DO UPDATE SET
                        table_schema = EXCLUDED.table_schema, table_name = EXCLUDED.table_name,
                        chunk_index = EXCLUDED.chunk_index, rows_streamed = EXCLUDED.rows_streamed,
                        bytes_streamed = EXCLUDED.bytes_streamed, chunk_started_at = EXCLUDED.chunk_started_at,
                        updated_at = now()",
                    jobs = self.rel("jobs"),
                    w = self.rel("job_workers"),
                ),
                &[&job_id, &worker, &schema, &table, &chunk, &rows, &bytes, &secs],
            )
            .await
            .pg_context(|| "writing the heartbeat".into())?;
        Ok(())
    }

    /// Ends a job in `state` (succeeded, failed, interrupted or discarded).
    pub async fn finish_job(
        &self,
        client: &Client,
        job_id: i64,
        state: JobState,
        error: Option<&str>,
    ) -> anyhow::Result<()> {
        client
            .batch_execute(&format!(
                "UPDATE {jobs} SET state = {s}, error = {e}, finished_at = now(), \
                        heartbeat_at = now() WHERE job_id = {job_id};
                 UPDATE {w} SET rows_streamed = 0, bytes_streamed = 0, table_schema = NULL, table_name = NULL, \
                        chunk_index = NULL WHERE job_id = {job_id}",
                jobs = self.rel("jobs"),
                w = self.rel("job_workers"),
                s = quote_literal(state.as_str()),
                e = error.map(quote_literal).unwrap_or_else(|| "NULL".into()),
            ))
            .await
            .pg_context(|| "recording the end of the job".into())?;
        Ok(())
    }
}
