//! `pgcopy verify`: do source and destination hold the same rows? Per table, row
//! counts (fast), or with `--exact` an order-independent checksum computed on
//! each server, the source read from one snapshot, tables checked in parallel.

use crate::cli::VerifyArgs;
use crate::error::{pg_message, PgContext, UserError};
use crate::exit;
use crate::introspect;
use pgcopy_core::plan::{plan, PlanOptions};
use pgcopy_core::quote::{quote_literal, QualifiedName};
use pgcopy_core::sql;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio_postgres::Client;

/// A table and the columns compared.
/// A table to compare: its name, columns, and OIDs on the source and the
/// destination (`introspect::lock_to_read`).
struct TableToCheck {
    table: QualifiedName,
    columns: Vec<String>,
    oids: (u32, u32),
}

/// One table's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct TableCheck {
    /// `schema.table`.
    pub table: String,
    /// Rows on the source.
    pub source_rows: i64,
    /// Rows on the destination.
    pub dest_rows: i64,
    /// Checksums (with --exact).
    pub source_checksum: Option<String>,
    /// Checksum on the destination.
    pub dest_checksum: Option<String>,
    /// Whether they match.
    pub matches: bool,
}

async fn query(
    c: &Client,
    table: &QualifiedName,
    columns: &[String],
    exact: bool,
) -> anyhow::Result<(i64, Option<String>)> {
    if exact {
        let cols: Vec<&str> = columns.iter().map(String::as_str).collect();
        let row = c
            .query_one(&sql::table_checksum(table, &cols), &[])
            .await
            .pg_context(|| format!("checksumming {}", table.display_name()))?;
        Ok((row.get(0), Some(row.get(1))))
    } else {
        let row = c
            .query_one(&sql::count_rows(table), &[])
            .await
            .pg_context(|| format!("counting {}", table.display_name()))?;
        Ok((row.get(0), None))
    }
}

/// Runs `pgcopy verify`: exit 0 when every table matches, 1 otherwise.
pub async fn run(args: VerifyArgs) -> anyhow::Result<i32> {
    let source = args.source.endpoint()?;
    let dest = args.dest.endpoint()?;
    let (src, dst) = tokio::join!(source.connect("verify"), dest.connect("verify"));
    let (src, dst) = (src?, dst?);
    src.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .pg_context(|| "starting the source transaction".into())?;
    let snapshot: String = src
        .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
        .await
        .pg_context(|| "exporting the source snapshot".into())?
        .get(0);
    let (catalog, dst_catalog) = tokio::try_join!(
        introspect::read_catalog(&src, "source"),
        introspect::read_catalog(&dst, "destination"),
    )?;
    let opts = PlanOptions {
        skip_schemas: vec![args.state_schema.clone()],
        split_larger_than: 0,
        ..PlanOptions::default()
    }
    .with_patterns(
        args.include_tables.as_deref(),
        args.exclude_tables.as_deref(),
    )
    .map_err(|e| UserError::usage(e.to_string()))?;
    let p = plan(&catalog, &opts).map_err(|e| UserError::usage(e.to_string()))?;
    let missing: Vec<String> = p
        .tables
        .iter()
        .filter(|t| dst_catalog.table(&t.table).is_none())
        .map(|t| t.table.display_name())
        .collect();
    if !missing.is_empty() {
        return Err(UserError::failure(format!(
            "these tables do not exist on the destination: {}",
            missing.join(", ")
        ))
        .into());
    }

    let oid = |c: &pgcopy_core::catalog::Catalog, t| c.table(t).map_or(0, |t| t.oid);
    let work: Arc<Mutex<VecDeque<TableToCheck>>> = Arc::new(Mutex::new(
        p.tables
            .iter()
            .map(|t| TableToCheck {
                table: t.table.clone(),
                columns: t.columns.clone(),
                oids: (oid(&catalog, &t.table), oid(&dst_catalog, &t.table)),
            })
            .collect(),
    ));
    let results: Arc<Mutex<Vec<TableCheck>>> = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for i in 0..args.parallel.max(1) {
        let (source, dest, work, results, snapshot) = (
            source.clone(),
            dest.clone(),
            work.clone(),
            results.clone(),
            snapshot.clone(),
        );
        let exact = args.exact;
        handles.push(tokio::spawn(async move {
            let s = source.connect(&format!("verify {i}")).await?;
            let d = dest.connect(&format!("verify {i}")).await?;
            s.batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}; {}",
                quote_literal(&snapshot),
                sql::STABLE_TEXT_SETTINGS
            ))
            .await
            .map_err(|e| {
                UserError::failure(format!("importing the source snapshot: {}", pg_message(&e)))
            })?;
            d.batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; {}",
                sql::STABLE_TEXT_SETTINGS
            ))
            .await?;
            loop {
                let Some(TableToCheck {
                    table,
                    columns: cols,
                    oids,
                }) = work.lock().expect("lock").pop_front()
                else {
                    break;
                };
                tokio::try_join!(
                    introspect::lock_to_read(&s, &table, oids.0),
                    introspect::lock_to_read(&d, &table, oids.1)
                )?;
                let (a, b) = tokio::join!(
                    query(&s, &table, &cols, exact),
                    query(&d, &table, &cols, exact)
                );
                let ((sr, sc), (dr, dc)) = (a?, b?);
                results.lock().expect("lock").push(TableCheck {
                    table: table.display_name(),
                    matches: sr == dr && sc == dc,
                    source_rows: sr,
                    dest_rows: dr,
                    source_checksum: sc,
                    dest_checksum: dc,
                });
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for h in handles {
        h.await
            .map_err(|e| anyhow::anyhow!("a verify worker crashed: {e}"))??;
    }
    let mut checks = results.lock().expect("lock").clone();
    checks.sort_by(|a, b| a.table.cmp(&b.table));
    let differ = checks.iter().filter(|c| !c.matches).count();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "exact": args.exact,
                "tables": checks,
                "matching": checks.len() - differ,
                "differing": differ,
            }))?
        );
    } else {
        let w = crate::engine::name_column_width(checks.iter().map(|c| c.table.as_str()));
        println!(
            "{:<w$}  {:>12}  {:>12}  result",
            "table", "source rows", "dest rows"
        );
        for c in &checks {
            println!(
                "{:<w$}  {:>12}  {:>12}  {}",
                c.table,
                c.source_rows,
                c.dest_rows,
                match (c.matches, c.source_rows == c.dest_rows) {
                    (true, _) => "ok",
                    (false, true) => "DIFFERENT (same count, different rows)",
                    (false, false) => "DIFFERENT",
                }
            );
        }
        println!(
            "{} tables {}: {} match, {} differ",
            checks.len(),
            if args.exact {
                "compared row by row (checksums)"
            } else {
                "compared by row count"
            },
            checks.len() - differ,
            differ
        );
    }
    Ok(if differ == 0 { exit::OK } else { exit::FAILURE })
}
