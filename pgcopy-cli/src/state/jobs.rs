//! The state store's job rows: a job recorded with its plan, tables and
//! chunks, its steps, its disabled triggers, its end; the jobs a new copy
//! or a resume finds.

use super::*;
use tokio_postgres::types::{ToSql, Type};

impl StateStore {
    /// Jobs on this destination that did not finish (neither succeeded nor
    /// discarded), newest first; `job` picks one.
    pub async fn unfinished_jobs(
        &self,
        client: &Client,
        job: Option<i64>,
    ) -> anyhow::Result<Vec<StoredJob>> {
        let rows = client
            .query(&self.sql(state_sql::UNFINISHED_JOBS), &[&job])
            .await
            .pg_context(|| "reading unfinished jobs".into())?;
        rows.iter()
            .map(|r| {
                Ok(StoredJob {
                    job_id: r.try_get(0)?,
                    state: r.try_get(1)?,
                    stale: r.try_get::<_, Option<bool>>(2)?.unwrap_or(false),
                    source: r.try_get(3)?,
                    plan: r.try_get(4)?,
                    options: serde_json::from_value(r.try_get(5)?).ok(),
                    truncated: r.try_get(6)?,
                    disabled_triggers: serde_json::from_value(r.try_get(7)?)?,
                    created_by: r.try_get(8)?,
                    mine: r.try_get(9)?,
                    next_step: r.try_get(10)?,
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
                &self.sql(state_sql::RESTART_JOB),
                &[
                    &job_id,
                    &snapshot,
                    &(std::process::id() as i32),
                    &env!("CARGO_PKG_VERSION"),
                ],
            )
            .await
            .pg_context(|| format!("taking up job {job_id} again"))?;
        Ok(())
    }

    /// Records that the job enters `phase` (a failed write is logged, not
    /// fatal: the phase is for people watching), and stops there when a
    /// test asks (`PGCOPY_FAILPOINT=phase:<word>`).
    pub async fn enter_phase(&self, client: &Client, job_id: i64, phase: Phase) {
        tracing::debug!("job {job_id}: phase {phase}");
        let written = client
            .execute(&self.sql(state_sql::JOB_PHASE), &[&job_id, &phase.as_str()])
            .await
            .pg_context(|| format!("recording job {job_id}'s phase"));
        crate::state::log_failed_write(written.map(drop), "the job's phase");
        crate::failpoint::hit(&format!("phase:{phase}")).await;
    }

    /// Records that the job did `step`, inside the transaction doing it.
    pub async fn mark_step(
        &self,
        tx: &impl GenericClient,
        job_id: i64,
        column: JobStep,
    ) -> Result<u64, tokio_postgres::Error> {
        let statement = match column {
            JobStep::Truncated => state_sql::JOB_TRUNCATED,
            JobStep::FksDropped => state_sql::JOB_FKS_DROPPED,
        };
        tx.execute_typed(&self.sql(statement), &[(&job_id, Type::INT8)])
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
            &self.sql(state_sql::JOB_DISABLED_TRIGGERS),
            &[&job_id, &tables],
        )
        .await
    }

    /// Saved foreign keys not restored yet, from any job, that the job's
    /// creator may put back (it could act as the table's owner): a row
    /// nobody may restore (another role's, on a table it does not own)
    /// does not hold up other roles' copies.
    ///
    /// The FKs of the jobs in `besides` are not counted: those jobs are
    /// reported with their own next step (resume or discard, which puts
    /// them back).
    pub async fn pending_fk_count(&self, client: &Client, besides: &[i64]) -> anyhow::Result<i64> {
        Ok(client
            .query_one(&self.sql(state_sql::PENDING_FK_COUNT), &[&besides])
            .await
            .pg_context(|| "reading pending saved foreign keys".into())?
            .try_get(0)?)
    }

    /// How many of `job_id`'s saved FKs and indexes are not restored yet,
    /// and of the triggers it lists as disabled, that its creator may put
    /// back (see [`Self::pending_fk_count`]).
    pub async fn job_leftovers(&self, client: &Client, job_id: i64) -> anyhow::Result<i64> {
        Ok(client
            .query_one(&self.sql(state_sql::JOB_LEFTOVERS), &[&job_id])
            .await
            .pg_context(|| format!("reading what job {job_id} left to restore"))?
            .try_get(0)?)
    }

    /// The saved foreign keys (and NOT VALID checks) still to restore, of
    /// job `job` or of every job, in the state schema's order.
    pub async fn pending_fks(
        &self,
        client: &Client,
        job: Option<i64>,
    ) -> anyhow::Result<Vec<pgcopy_core::restore::SavedFk>> {
        let rows = client
            .query(&self.sql(state_sql::PENDING_FKS), &[&job])
            .await
            .pg_context(|| "reading saved foreign keys".into())?;
        rows.iter()
            .map(|r| pgcopy_core::rows::saved_fk(&crate::rows::PgRow(r)))
            .collect()
    }

    /// The saved indexes still to rebuild, of job `job` or of every job, in
    /// rebuild order, each with its level (`sql/state/pending_indexes.sql`).
    pub async fn pending_indexes(
        &self,
        client: &Client,
        job: Option<i64>,
    ) -> anyhow::Result<Vec<(pgcopy_core::restore::SavedIndex, i32)>> {
        let rows = client
            .query(&self.sql(state_sql::PENDING_INDEXES), &[&job])
            .await
            .pg_context(|| "reading saved indexes".into())?;
        rows.iter()
            .map(|r| pgcopy_core::rows::saved_index(&crate::rows::PgRow(r)))
            .collect()
    }

    /// Adds what job `job_id` saved and has not put back to `own`.
    pub async fn add_pending(
        &self,
        client: &Client,
        job_id: i64,
        own: &mut pgcopy_core::restore::OwnSaved,
    ) -> anyhow::Result<()> {
        let job = Some(job_id);
        let (fk_sql, index_sql) = (
            self.sql(state_sql::PENDING_FKS),
            self.sql(state_sql::PENDING_INDEXES),
        );
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&job];
        let (fks, indexes) = tokio::try_join!(
            client.query(&fk_sql, &params),
            client.query(&index_sql, &params),
        )
        .pg_context(|| format!("reading what job {job_id} left saved"))?;
        for r in &fks {
            let fk = pgcopy_core::rows::saved_fk(&crate::rows::PgRow(r))?;
            own.add_constraint(&fk.table, &fk.name, &fk.definition, &fk.referenced);
        }
        for r in &indexes {
            let (i, _) = pgcopy_core::rows::saved_index(&crate::rows::PgRow(r))?;
            own.add_index(&i.table, &i.name, &i.definition, &i.properties);
        }
        Ok(())
    }

    /// What job `job_id` left out: saved keys and indexes not back, triggers
    /// still disabled.
    pub async fn outstanding(&self, client: &Client, job_id: i64) -> anyhow::Result<Outstanding> {
        let row = client
            .query_one(&self.sql(state_sql::JOB_OUTSTANDING), &[&job_id])
            .await
            .pg_context(|| format!("reading what job {job_id} left out"))?;
        Ok(Outstanding {
            fks: row.try_get(0)?,
            indexes: row.try_get(1)?,
            triggers: row.try_get::<_, Option<i64>>(2)?.unwrap_or(0),
        })
    }

    /// Marks an unfinished job that left nothing to undo as discarded, keeping
    /// its error.
    pub async fn supersede_job(&self, client: &Client, job_id: i64) -> anyhow::Result<()> {
        client
            .execute(&self.sql(state_sql::DISCARD_JOB), &[&job_id])
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
        options: &pgcopy_core::states::JobOptions,
        snapshot: &str,
    ) -> anyhow::Result<i64> {
        let tx = client.transaction().await?;
        // Written straight into the parameter's bytes: a serde_json::Value
        // of a plan of thousands of tables is a tree of as many maps.
        let stored_plan = plan.for_storage();
        let plan_json = tokio_postgres::types::Json(&*stored_plan);
        let options = tokio_postgres::types::Json(options);
        let host = std::env::var("HOSTNAME").ok().or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        });
        let job_id: i64 = tx
            .query_typed_one(
                &self.sql(state_sql::INSERT_JOB),
                &[
                    (&source, Type::TEXT),
                    (&dest, Type::TEXT),
                    (&options, Type::JSONB),
                    (&plan.fk_strategy.as_str(), Type::TEXT),
                    (&snapshot, Type::TEXT),
                    (&host, Type::TEXT),
                    (&(std::process::id() as i32), Type::INT4),
                    (&env!("CARGO_PKG_VERSION"), Type::TEXT),
                    (&plan_json, Type::JSONB),
                ],
            )
            .await
            .pg_context(|| "recording the job in the state schema".into())?
            .try_get(0)?;
        self.insert_tables_and_chunks(&tx, job_id, plan).await?;
        if !plan.large_objects.is_empty() {
            self.insert_large_objects(&tx, job_id, plan).await?;
        }
        tx.commit().await?;
        Ok(job_id)
    }

    /// The job's tables and chunks, column by column as arrays (the SQL
    /// knows no field of the plan's), in the transaction recording it.
    async fn insert_tables_and_chunks(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        job_id: i64,
        plan: &Plan,
    ) -> anyhow::Result<()> {
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
        // The tables' and the chunks' rows go out together (one round trip).
        let tables_sql = self.sql(state_sql::INSERT_JOB_TABLES);
        let each_chunk = || t.iter().flat_map(|t| t.chunks.iter().map(move |c| (t, c)));
        let chunk_schemas: Vec<&str> = each_chunk().map(|(t, _)| t.table.schema.as_str()).collect();
        let chunk_names: Vec<&str> = each_chunk().map(|(t, _)| t.table.name.as_str()).collect();
        let index: Vec<i32> = each_chunk().map(|(_, c)| c.index as i32).collect();
        let start: Vec<Option<i64>> = each_chunk()
            .map(|(_, c)| c.start_page.map(|p| p as i64))
            .collect();
        let end: Vec<Option<i64>> = each_chunk()
            .map(|(_, c)| c.end_page.map(|p| p as i64))
            .collect();
        let chunks_sql = self.sql(state_sql::INSERT_JOB_CHUNKS);
        let table_params: [(&(dyn ToSql + Sync), Type); 7] = [
            (&job_id, Type::INT8),
            (&schemas, Type::TEXT_ARRAY),
            (&names, Type::TEXT_ARRAY),
            (&roots, Type::TEXT_ARRAY),
            (&rows, Type::INT8_ARRAY),
            (&bytes, Type::INT8_ARRAY),
            (&chunks, Type::INT4_ARRAY),
        ];
        let chunk_params: [(&(dyn ToSql + Sync), Type); 6] = [
            (&job_id, Type::INT8),
            (&chunk_schemas, Type::TEXT_ARRAY),
            (&chunk_names, Type::TEXT_ARRAY),
            (&index, Type::INT4_ARRAY),
            (&start, Type::INT8_ARRAY),
            (&end, Type::INT8_ARRAY),
        ];
        let (tables_done, chunks_done) = tokio::join!(
            tx.execute_typed(&tables_sql, &table_params),
            tx.execute_typed(&chunks_sql, &chunk_params)
        );
        tables_done.pg_context(|| "recording the job's tables".into())?;
        chunks_done.pg_context(|| "recording the job's chunks".into())?;
        Ok(())
    }

    /// The job's large objects, tracked as a table of batches (by OID), in
    /// the transaction recording it.
    async fn insert_large_objects(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        job_id: i64,
        plan: &Plan,
    ) -> anyhow::Result<()> {
        let (schema, table) = pgcopy_core::plan::LARGE_OBJECTS;
        let batches = &plan.large_objects;
        let count: i64 = batches.iter().map(|b| i64::from(b.count)).sum();
        tx.execute(
            &self.sql(state_sql::INSERT_LARGE_OBJECTS),
            &[&job_id, &schema, &table, &count, &(batches.len() as i32)],
        )
        .await
        .pg_context(|| "recording the job's large objects".into())?;
        let index: Vec<i32> = batches.iter().map(|b| b.index as i32).collect();
        let first: Vec<i64> = batches.iter().map(|b| i64::from(b.first)).collect();
        let after: Vec<i64> = batches.iter().map(|b| i64::from(b.last) + 1).collect();
        tx.execute(
            &self.sql(state_sql::INSERT_LARGE_OBJECT_BATCHES),
            &[&job_id, &schema, &table, &index, &first, &after],
        )
        .await
        .pg_context(|| "recording the job's large objects".into())?;
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
            .execute(
                &self.sql(state_sql::FINISH_JOB),
                &[&job_id, &state.as_str(), &error],
            )
            .await
            .pg_context(|| "recording the end of the job".into())?;
        Ok(())
    }
}
