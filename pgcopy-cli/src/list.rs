//! `pgcopy list`: the source's tables with size, estimated (or exact) rows and
//! whether they are partitioned.

use crate::cli::ListArgs;
use crate::error::PgContext;
use crate::exit;
use crate::format::human_bytes;
use crate::introspect::read_catalog;
use pgcopy_core::catalog::TableKind;
use pgcopy_core::sql;

/// Runs `pgcopy list`; returns the exit code.
pub async fn run(args: ListArgs) -> anyhow::Result<i32> {
    let source = args.source.endpoint()?;
    let client = source.connect("list").await?;
    let catalog = read_catalog(&client, "source").await?;
    let mut rows = Vec::new();
    for t in &catalog.tables {
        if args.schema.as_deref().is_some_and(|s| s != t.name.schema) {
            continue;
        }
        let partitioned = t.kind == TableKind::Partitioned;
        // Counting plans a query over the table: not over one whose planning
        // could run code of a role this one does not trust (its rows show
        // as not counted).
        let untrusted = t.planner_untrusted(&Default::default(), &catalog.current_user);
        if args.exact && !partitioned && !untrusted.is_empty() {
            tracing::warn!(
                "{} not counted: planning a query over it could run code of {} with this role's rights",
                t.name.display_name(),
                untrusted.join(", ")
            );
        }
        let exact = if args.exact && !partitioned && untrusted.is_empty() {
            client.batch_execute("BEGIN READ ONLY").await?;
            crate::introspect::lock_to_read(&client, &t.name, t.oid).await?;
            let n: i64 = client
                .query_one(&sql::count_rows(&t.name, true), &[])
                .await
                .pg_context(|| format!("counting rows of {}", t.name.display_name()))?
                .try_get(0)?;
            client.batch_execute("COMMIT").await?;
            Some(n)
        } else {
            None
        };
        rows.push((t, partitioned, exact));
    }
    if args.json {
        let doc: Vec<serde_json::Value> = rows
            .iter()
            .map(|(t, partitioned, exact)| {
                serde_json::json!({
                    "schema": t.name.schema,
                    "name": t.name.name,
                    "partitioned": partitioned,
                    "partition_of": t.parent,
                    "bytes": t.bytes,
                    "est_rows": t.est_rows.map(|r| r.max(0.0) as u64),
                    "rows": exact,
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(exit::OK);
    }
    let w = crate::format::name_column_width(rows.iter().map(|(t, _, _)| t.name.display_name()));
    outln!(
        "{:<w$}  {:>12}  {:>10}  partitioned",
        "table",
        if args.exact { "rows" } else { "est. rows" },
        "size"
    );
    for (t, partitioned, exact) in &rows {
        let n = match exact {
            Some(n) => n.to_string(),
            None if *partitioned => "-".into(),
            None => t
                .est_rows
                .map(|r| (r.max(0.0) as u64).to_string())
                .unwrap_or_else(|| "?".into()),
        };
        outln!(
            "{:<w$}  {:>12}  {:>10}  {}",
            t.name.display_name(),
            n,
            human_bytes(t.bytes),
            if *partitioned {
                "yes".to_string()
            } else if let Some(p) = &t.parent {
                format!("partition of {}", p.display_name())
            } else {
                "no".to_string()
            }
        );
    }
    outln!("{} tables", rows.len());
    Ok(exit::OK)
}
