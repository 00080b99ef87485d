//! The state store's progress rows: chunks marked done in the transactions
//! that load them, tables' states, the workers' heartbeat.

use super::*;

impl StateStore {
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
            .map(|r| {
                Ok((
                    (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?),
                    (r.try_get(3)?, r.try_get(4)?),
                ))
            })
            .collect::<Result<_, tokio_postgres::Error>>()?)
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
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Why [`StateStore::mark_chunk_done`] failed, when the chunk was done
    /// before it ran.
    pub const CHUNK_DONE_ALREADY: &'static str = "the chunk was committed by an earlier attempt";

    /// Prepares the statement [`StateStore::mark_chunk_done`] runs, once per
    /// worker connection: a small table would otherwise pay a parse round
    /// trip for its progress row.
    ///
    /// It fails (division by zero, aborting the load's transaction) when the
    /// chunk is done already: an earlier attempt's transaction, whose
    /// client lost its connection while the server still had the COMMIT
    /// queued, may commit after the retry started. The row lock makes this
    /// one wait for that one's end, and then see it done, so a chunk's rows
    /// are committed once.
    pub async fn prepare_mark_chunk_done(
        &self,
        client: &Client,
    ) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        client
            .prepare(&self.mark_chunk_done_statement(["$1", "$2", "$3", "$4", "$5", "$6", "$7"]))
            .await
    }

    /// The statement of [`StateStore::prepare_mark_chunk_done`] with its
    /// values written in, for a load that sends it in one message with the
    /// rest of its transaction's end (each message the server answers on its
    /// own costs the client a wake-up).
    pub fn mark_chunk_done_sql(
        &self,
        key: ChunkKey<'_>,
        rows: i64,
        bytes: i64,
        table_done: bool,
    ) -> String {
        self.mark_chunk_done_statement([
            &key.job_id.to_string(),
            &quote_literal(key.schema),
            &quote_literal(key.table),
            &key.chunk.to_string(),
            &rows.to_string(),
            &bytes.to_string(),
            &table_done.to_string(),
        ])
    }

    /// The chunk's (and, with the 7th value, its table's) progress update,
    /// over SQL values: job, schema, table, chunk, rows, bytes, table done.
    fn mark_chunk_done_statement(&self, v: [&str; 7]) -> String {
        let [job, schema, table, chunk, rows, bytes, table_done] = v;
        format!(
            // now() is the load transaction's start, the chunk's: the
            // table started with its first chunk, and ends at this commit
            // (clock_timestamp()), so the rate status() shows is the load's.
            "WITH table_done AS (\
                 UPDATE {tables} SET state = 'done', started_at = coalesce(started_at, now()), \
                        finished_at = pg_catalog.clock_timestamp() \
                  WHERE {table_done} AND job_id = {job} AND table_schema = {schema} AND table_name = {table}) \
             , table_started AS (\
                 UPDATE {tables} SET started_at = now() \
                  WHERE NOT {table_done} AND started_at IS NULL \
                    AND job_id = {job} AND table_schema = {schema} AND table_name = {table}) \
             , chunk AS (\
                 UPDATE {chunks} SET state = 'done', rows_copied = {rows}, bytes_copied = {bytes}, \
                        attempts = attempts + 1, finished_at = now(), error = NULL \
                  WHERE job_id = {job} AND table_schema = {schema} AND table_name = {table} \
                    AND chunk_index = {chunk} AND state <> 'done' \
              RETURNING 1) \
             SELECT 1 / count(*)::int FROM chunk",
            tables = self.rel("job_tables"),
            chunks = self.rel("job_chunks")
        )
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
                      WHERE job_id = $1 AND table_schema = $2 AND table_name = $3 AND chunk_index = $4 \
                        AND state <> 'done'",
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
}
