//! The `--dry-run` plan, as text or JSON: what a copy would do, changing
//! nothing.

use super::config::{CopyConfig, PlanFormat};
use super::summary::freeze_line;
use crate::format::{human_bytes, name_column_width};
use pgcopy_core::plan::Plan;
use pgcopy_core::quote::printable;
use pgcopy_core::quote::QualifiedName;

/// Which of the destination's indexes the load goes without (`deferred`, to
/// be dropped), and how many of them take a PRIMARY KEY or UNIQUE
/// constraint along: those tables are loaded as bare heaps.
pub fn indexes_line(deferred: &[pgcopy_core::catalog::Index]) -> String {
    if deferred.is_empty() {
        return "kept in place during the load".into();
    }
    let keys = deferred
        .iter()
        .filter(|i| i.properties.constraint.is_some())
        .count();
    let mut line = format!(
        "{} dropped for the load and rebuilt after it",
        crate::format::count(deferred.len(), "index", "indexes")
    );
    if keys > 0 {
        line.push_str(&format!(
            ", {keys} with the primary key or unique constraint they back (put back USING INDEX)"
        ));
    }
    line
}

/// Prints the plan of a `--dry-run`, as text or JSON, with the indexes the
/// destination would go without during the load (`deferred`).
pub fn print_plan(
    plan: &Plan,
    deferred: &[pgcopy_core::catalog::Index],
    config: &CopyConfig,
    format: PlanFormat,
) -> anyhow::Result<()> {
    if format == PlanFormat::Json {
        let doc = serde_json::json!({
            "source": config.source.redacted(),
            "destination": config.dest.redacted(),
            "replica_mode": plan.replica_mode(),
            "trust_owner": config.options.trust,
            "plan": plan,
            "destination_indexes_deferred": deferred,
        });
        outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    print_header(plan, deferred, config);
    print_tables(plan);
    print_subset(plan);
    print_routing(plan);
    print_order_and_keys(plan);
    print_sequences(plan);
    Ok(())
}

/// The copy in a few lines: where from and to, the FK mode, the sizes, what
/// is trusted, how tables load, the indexes.
fn print_header(plan: &Plan, deferred: &[pgcopy_core::catalog::Index], config: &CopyConfig) {
    outln!("dry run: nothing was changed");
    outln!("source:       {}", config.source.redacted());
    outln!("destination:  {}", config.dest.redacted());
    outln!(
        "foreign keys: {}",
        if plan.replica_mode() {
            "replica mode (session_replication_role = replica): triggers do not fire"
        } else {
            "drop mode: saved in the state schema, dropped, restored after the load"
        }
    );
    outln!(
        "tables:       {} ({} chunks), about {} rows, {}",
        plan.tables.len(),
        plan.total_chunks(),
        plan.total_est_rows(),
        human_bytes(plan.total_bytes())
    );
    if !config.options.trust.is_empty() {
        outln!(
            "trusted:      code of {} runs with this role's rights (--trust-owner)",
            printable(&config.options.trust.describe())
        );
    }
    for (table, roles) in &plan.not_split {
        outln!("not split:    {}", not_split_line(table, roles));
    }
    outln!("loading:      {}", freeze_line(plan));
    for t in plan.tables.iter().filter(|t| !t.text_because.is_empty()) {
        outln!(
            "as text:      {} ({})",
            t.table.display_name(),
            printable(&t.text_because.join("; "))
        );
    }
    outln!("indexes:      {}", indexes_line(deferred));
}

/// One line a table: its estimated rows, size and chunks.
fn print_tables(plan: &Plan) {
    let name_w = name_column_width(plan.tables.iter().map(|t| t.table.display_name()));
    outln!(
        "\n{:<name_w$}  {:>12}  {:>10}  {:>6}",
        "table",
        "est. rows",
        "size",
        "chunks"
    );
    for t in &plan.tables {
        outln!(
            "{:<name_w$}  {:>12}  {:>10}  {:>6}",
            t.table.display_name(),
            t.est_rows,
            human_bytes(t.bytes),
            t.chunks.len()
        );
    }
}

fn names(v: &[QualifiedName]) -> String {
    v.iter()
        .map(|t| t.display_name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Large objects, tables partitioned differently on the destination, and
/// names that resolve ambiguously.
fn print_routing(plan: &Plan) {
    if !plan.large_objects.is_empty() {
        outln!(
            "large objects: {} in {} batches, after the tables (same OIDs, owners, privileges, comments)",
            plan.large_objects.iter().map(|b| u64::from(b.count)).sum::<u64>(),
            plan.large_objects.len()
        );
    }
    let routed: Vec<String> = plan
        .tables
        .iter()
        .filter_map(|t| {
            t.load_into
                .as_ref()
                .map(|into| format!("{} -> {}", t.table.display_name(), into.display_name()))
        })
        .collect();
    if !routed.is_empty() {
        outln!(
            "\npartitioned differently on the destination (rows go through its table and PostgreSQL routes \
             them; it is emptied whole first; loaded without FREEZE):\n  {}",
            routed.join("\n  ")
        );
    }
    for a in &plan.ambiguous {
        outln!(
            "\n{}: {}",
            if a.bare_name {
                "NEEDS A SCHEMA (a copy refuses it)"
            } else {
                "note"
            },
            printable(&a.message())
        );
    }
}

/// The load order, FK cycles, and what happens to each foreign key.
fn print_order_and_keys(plan: &Plan) {
    outln!("\nload order:   {}", names(&plan.load_order));
    for (i, c) in plan.fk_cycles.iter().enumerate() {
        outln!("FK cycle {}:   {}", i + 1, names(c));
    }
    for f in &plan.foreign_keys {
        outln!(
            "FK {} on {} -> {}: {} ({})",
            printable(&f.fk.name),
            f.fk.table.display_name(),
            f.fk.referenced.display_name(),
            match f.action {
                pgcopy_core::plan::FkAction::Keep => "kept",
                pgcopy_core::plan::FkAction::DropAndRestore => "dropped and restored",
            },
            printable(&f.reason)
        );
    }
    if !plan.referenced_from_outside.is_empty() {
        outln!(
            "referenced from tables not copied: {}",
            names(&plan.referenced_from_outside)
        );
    }
}

/// Each sequence set, with the tables that use it, and the materialized
/// views refreshed.
fn print_sequences(plan: &Plan) {
    for s in &plan.sequences {
        let linked: Vec<String> = s
            .owned_by
            .iter()
            .map(|t| format!("owned by {}", t.display_name()))
            .chain(
                s.used_by
                    .iter()
                    .filter(|t| s.owned_by.as_ref() != Some(*t))
                    .map(|t| format!("default of {}", t.display_name())),
            )
            .collect();
        outln!(
            "sequence:     {}{}{}",
            s.sequence.display_name(),
            if linked.is_empty() {
                String::new()
            } else {
                format!(" ({})", linked.join(", "))
            },
            if s.only_forward {
                ", set only if the source's value is ahead (a table not copied uses it too)"
            } else {
                ""
            }
        );
    }
    if !plan.matviews.is_empty() {
        outln!("refresh:      {}", names(&plan.matviews));
    }
}

/// With `--where`: how each table that is not copied whole is read; with
/// `--transform`: each column copied as an expression's value.
fn print_subset(plan: &Plan) {
    let transformed: Vec<_> = plan
        .tables
        .iter()
        .flat_map(|t| t.transforms.iter().map(move |(c, e)| (t, c, e)))
        .collect();
    if !transformed.is_empty() {
        outln!("\ncolumns (--transform, computed on the source):");
        for (t, column, expression) in transformed {
            outln!(
                "  {}.{} = {}",
                t.table.display_name(),
                printable(&pgcopy_core::quote::quote_ident(column)),
                printable(expression)
            );
        }
    }
    let subset: Vec<_> = plan.tables.iter().filter(|t| !t.taken.is_whole()).collect();
    if subset.is_empty() {
        return;
    }
    outln!(
        "\nrows (--where, and the rows that follow them through foreign keys; every other table whole):"
    );
    for t in subset {
        outln!(
            "  {} ({}): SELECT ... FROM ONLY {} {} WHERE {}",
            t.table.display_name(),
            t.taken.as_str(),
            printable(&t.table.to_string()),
            pgcopy_core::subset::ROW_ALIAS,
            printable(t.rows_where.as_deref().unwrap_or("true"))
        );
    }
}

/// Why a table large enough to split is read whole: planning a query over
/// it could run code of `roles`, which are not trusted.
pub(super) fn not_split_line(table: &QualifiedName, roles: &[String]) -> String {
    let names: Vec<&str> = roles.iter().map(String::as_str).collect();
    format!(
        "{} is read whole, not in parallel chunks: planning a query over it could run code of {} with this \
         role's rights (add {} to split it)",
        table.display_name(),
        names
            .iter()
            .map(|r| format!("{r:?}"))
            .collect::<Vec<_>>()
            .join(", "),
        pgcopy_core::trust::TrustedOwners::flags(&names)
    )
}
