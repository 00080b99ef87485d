//! `pgcopy status`: what `pgcopy.progress` and `pgcopy.status()` say, for people
//! or as JSON. Reads only; works with or without the extension.

use crate::cli::StatusArgs;
use crate::error::{PgContext, UserError};
use crate::exit;
use crate::state::{StateSchemaStatus, StateStore};
use pgcopy_core::quote::printable;
use pgcopy_core::state_sql;
use serde::Serialize;

/// One job's overall progress (`pgcopy.progress`).
#[derive(Debug, Serialize)]
pub struct JobStatus {
    /// Job id.
    pub job_id: i64,
    /// planned, running, succeeded, failed, interrupted, or stale.
    pub state: String,
    /// While it runs: the step of the copy it is in (`pgcopy_core::states::Phase`).
    pub phase: Option<String>,
    /// The one next step for the job in its state (none once it is over),
    /// as every command and `pgcopy.status()` say it.
    pub next_step: Option<String>,
    /// Tables in the job.
    pub tables: i64,
    /// Tables done.
    pub tables_done: i64,
    /// Estimated rows.
    pub est_rows: i64,
    /// Rows copied (committed plus in flight).
    pub rows_copied: i64,
    /// Percent done.
    pub percent: Option<f64>,
    /// Rows per second since the start.
    pub rows_per_second: Option<f64>,
    /// Estimated time left.
    pub eta: Option<String>,
    /// Error of the job.
    pub error: Option<String>,
    /// Per table.
    pub table_status: Vec<TableStatus>,
}

/// One table's progress (`pgcopy.status()`).
#[derive(Debug, Serialize)]
pub struct TableStatus {
    /// `schema.table`.
    pub table: String,
    /// pending, copying, done, failed.
    pub state: String,
    /// Rows copied.
    pub rows_copied: i64,
    /// Estimated rows.
    pub est_rows: i64,
    /// Percent done.
    pub percent: Option<f64>,
    /// Rows per second.
    pub rows_per_second: Option<f64>,
    /// Estimated time left.
    pub eta: Option<String>,
    /// Error.
    pub error: Option<String>,
}

/// Runs `pgcopy status`; exit 0, or 1 when there is no such job.
pub async fn run(args: StatusArgs) -> anyhow::Result<i32> {
    let dest = args.dest.endpoint()?;
    let dst = dest.connect("status").await?;
    let store = StateStore::new(&args.state_schema);
    if store.inspect(&dst).await? == StateSchemaStatus::Creatable {
        return Err(UserError::failure(format!(
            "no pgcopy state schema {:?} on the destination: no copy has run there",
            args.state_schema
        ))
        .into());
    }
    let status = read_status(&dst, &store, args.job).await?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(exit::OK);
    }
    print_status(&status);
    Ok(exit::OK)
}

/// The progress of job `job` (else the latest this role ran) and of each
/// of its tables, from the state schema's `progress` view and `status()`.
async fn read_status(
    dst: &tokio_postgres::Client,
    store: &StateStore,
    job: Option<i64>,
) -> anyhow::Result<JobStatus> {
    let found = dst
        .query_opt(&store.sql(state_sql::JOB_PROGRESS), &[&job])
        .await
        .pg_context(|| "reading the job's progress".into())?;
    let Some(j) = found else {
        return Err(UserError::failure(match job {
            Some(n) => format!("there is no job {n} on the destination"),
            // Another role's job is its business: a job it forged must
            // not read as this role's copy.
            None => {
                "this role has run no job on the destination yet (another role's job needs --job N)"
                    .to_string()
            }
        })
        .into());
    };
    let job_id: i64 = j.try_get(0)?;
    let rows = dst
        .query(&store.sql(state_sql::TABLE_PROGRESS), &[&job_id])
        .await
        .pg_context(|| "reading the tables' progress".into())?;
    Ok(JobStatus {
        job_id,
        state: j.try_get(1)?,
        tables: j.try_get(2)?,
        tables_done: j.try_get(3)?,
        est_rows: j.try_get(4)?,
        rows_copied: j.try_get(5)?,
        percent: j.try_get(6)?,
        rows_per_second: j.try_get(7)?,
        eta: j.try_get(8)?,
        error: j.try_get(9)?,
        phase: j.try_get(10)?,
        next_step: j.try_get(11)?,
        table_status: rows
            .iter()
            .map(|r| {
                Ok(TableStatus {
                    table: r.try_get(0)?,
                    state: r.try_get(1)?,
                    rows_copied: r.try_get(2)?,
                    est_rows: r.try_get(3)?,
                    percent: r.try_get(4)?,
                    rows_per_second: r.try_get(5)?,
                    eta: r.try_get(6)?,
                    error: r.try_get(7)?,
                })
            })
            .collect::<Result<_, tokio_postgres::Error>>()?,
    })
}

/// Prints a job's status for a person: the job's line, its error and next
/// step, then one line a table.
fn print_status(status: &JobStatus) {
    outln!(
        "job {}: {}{}, {:.1}% ({}/{} tables), {} rows{}, {:.0} rows/s{}",
        status.job_id,
        printable(&status.state),
        status
            .phase
            .as_deref()
            .map(|p| format!(" ({})", printable(p)))
            .unwrap_or_default(),
        status.percent.unwrap_or(0.0),
        status.tables_done,
        status.tables,
        status.rows_copied,
        if status.est_rows > 0 {
            format!(" of about {}", status.est_rows)
        } else {
            String::new()
        },
        status.rows_per_second.unwrap_or(0.0),
        status
            .eta
            .as_deref()
            .map(|e| format!(", ETA {e}"))
            .unwrap_or_default()
    );
    if let Some(e) = &status.error {
        outln!("error: {}", printable(e));
    }
    if let Some(step) = &status.next_step {
        outln!("next: {}", printable(step));
    }
    let w = crate::format::name_column_width(
        status
            .table_status
            .iter()
            .map(|t| printable(&t.table).into_owned()),
    );
    outln!(
        "{:<w$}  {:<8}  {:>12}  {:>12}  {:>6}",
        "table",
        "state",
        "rows",
        "est. rows",
        "%"
    );
    for t in &status.table_status {
        outln!(
            "{:<w$}  {:<8}  {:>12}  {:>12}  {:>6.1}{}",
            printable(&t.table),
            printable(&t.state),
            t.rows_copied,
            t.est_rows,
            t.percent.unwrap_or(0.0),
            t.error
                .as_deref()
                .map(|e| format!("  {}", printable(e)))
                .unwrap_or_default()
        );
    }
}
