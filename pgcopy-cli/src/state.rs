//! The state store: pgcopy's jobs, tables, chunks and workers in the destination's
//! state schema (`sql/state_schema.sql`). Its statements are files under
//! `sql/state/`, the schema filled in quoted (`pgcopy_core::state_sql`), so
//! it may be any name (`--state-schema`); the two put together from builders
//! (the saved keys' and indexes' bindings) name it through [`StateStore::rel`].

use crate::error::{PgContext, UserError};
use pgcopy_core::plan::Plan;
use pgcopy_core::preflight::state_schema::{self, StateSchemaFacts, StateSchemaProblem};
use pgcopy_core::quote::{quote_ident, quote_literal};
use pgcopy_core::state_sql::{self, StateSql};
use pgcopy_core::states::Phase;
use pgcopy_core::states::{JobState, TableState};
use pgcopy_core::STATE_SCHEMA_VERSION;
use tokio_postgres::{Client, GenericClient};

/// What the destination has under the state schema's name `$1`, and what
/// this role may do there: whether it is present, the extension's version
/// there, whether it has `schema_version()`, whether this role may create
/// schemas and use this one, its owner and whether that is a superuser or
/// this role, whether another role may create objects in it, and the
/// extension's owner when neither a superuser nor this role.
const STATE_SCHEMA_FACTS_SQL: &str = include_str!("../../sql/state_schema_facts.sql");

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
    /// Its options (`None`: the stored ones do not read as options).
    pub options: Option<pgcopy_core::states::JobOptions>,
    /// The up-front TRUNCATE was done.
    pub truncated: bool,
    /// Triggers it disabled and did not put back, with their modes.
    pub disabled_triggers: Vec<pgcopy_core::triggers::SavedTrigger>,
    /// The role that created it.
    pub created_by: String,
    /// Whether that is this role.
    pub mine: bool,
    /// The one next step the state schema says for it (`next_step`).
    pub next_step: String,
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

/// What a job left out for now (`StateStore::outstanding`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outstanding {
    /// Saved foreign keys (and NOT VALID CHECKs) not back or not validated.
    pub fks: i64,
    /// Saved indexes not rebuilt.
    pub indexes: i64,
    /// Triggers still disabled.
    pub triggers: i64,
}

/// Handle on the state schema of one destination.
#[derive(Debug, Clone)]
pub struct StateStore {
    schema: String,
}

mod jobs;
mod progress;

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

    /// `statement` for this state schema.
    pub fn sql(&self, statement: StateSql) -> String {
        statement.render(&self.schema)
    }

    /// `"schema".name`, for the statements put together from builders.
    pub fn rel(&self, name: &str) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(name))
    }

    /// What the state schema is, or the one sentence why this role may not
    /// use it (as an error).
    pub async fn inspect(&self, client: &Client) -> anyhow::Result<StateSchemaStatus> {
        self.assess(client)
            .await?
            .map_err(|p| UserError::failure(p.to_string()).into())
    }

    /// Checks the state schema without changing anything, and whether this
    /// role may trust it: pgcopy reads definitions and calls functions from
    /// it, so it must be the extension's (owned by a superuser) or this
    /// role's own, with no other role allowed to create objects in it. The
    /// decision is `pgcopy_core::preflight::state_schema`'s; the outer error
    /// is a failed query.
    pub async fn assess(
        &self,
        client: &Client,
    ) -> anyhow::Result<Result<StateSchemaStatus, StateSchemaProblem>> {
        let row = client
            .query_one(STATE_SCHEMA_FACTS_SQL, &[&self.schema])
            .await
            .pg_context(|| "reading the destination's state schema".into())?;
        let facts = StateSchemaFacts {
            present: row.try_get(0)?,
            has_version: row.try_get(2)?,
            may_create: row.try_get(3)?,
            may_use: row.try_get(4)?,
            owner: row.try_get::<_, Option<String>>(5)?.unwrap_or_default(),
            owner_is_superuser: row.try_get(6)?,
            mine: row.try_get(7)?,
            others_create: row.try_get(8)?,
        };
        let ext_version: Option<String> = row.try_get(1)?;
        let droppable_by: Option<String> = row.try_get(9)?;
        match state_schema::assess(&self.schema, &facts) {
            Err(p) => return Ok(Err(p)),
            Ok(false) => return Ok(Ok(StateSchemaStatus::Creatable)),
            Ok(true) => {}
        }
        let v: i32 = client
            .query_one(&self.sql(state_sql::SCHEMA_VERSION), &[])
            .await
            .pg_context(|| format!("reading {}.schema_version()", self.schema))?
            .try_get(0)?;
        Ok(
            state_schema::check_version(&self.schema, v, STATE_SCHEMA_VERSION).map(|()| {
                StateSchemaStatus::Ready {
                    by_extension: ext_version.is_some(),
                    droppable_by,
                }
            }),
        )
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
}
