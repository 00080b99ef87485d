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
            .query(&self.sql(state_sql::DONE_CHUNKS), &[&job_id])
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
                &self.sql(state_sql::CHUNK_DONE),
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
        client.prepare(&self.sql(state_sql::MARK_CHUNK_DONE)).await
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
        state_sql::MARK_CHUNK_DONE.render_with(
            self.schema(),
            &[
                &key.job_id.to_string(),
                &quote_literal(key.schema),
                &quote_literal(key.table),
                &key.chunk.to_string(),
                &rows.to_string(),
                &bytes.to_string(),
                &table_done.to_string(),
            ],
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
                &self.sql(state_sql::MARK_CHUNK_FAILED),
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
                &self.sql(state_sql::TABLE_STATE),
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
                &self.sql(state_sql::HEARTBEAT),
                &[
                    &job_id, &worker, &schema, &table, &chunk, &rows, &bytes, &secs,
                ],
            )
            .await
            .pg_context(|| "writing the heartbeat".into())?;
        Ok(())
    }
}
