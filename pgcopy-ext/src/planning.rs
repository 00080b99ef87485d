//! `pgcopy.plan()` between its arguments and its rows: the catalog read
//! through SPI, the arguments as core's `CopyOptions` (the options type
//! `pgcopy copy` and `pgcopy verify` plan from too), and one row a table.

use crate::{parse, ExtError, SCHEMA};
use pgcopy_core::catalog::Catalog;
use pgcopy_core::filter::parse_patterns;
use pgcopy_core::options::{CopyOptions, PlanSetting};
use pgcopy_core::plan::{FkAction, Plan, PlanOptions};
use pgcopy_core::quote::QualifiedName;
use pgrx::prelude::*;

/// `pgcopy.plan()`'s arguments, as SQL gives them.
pub(crate) struct Arguments {
    pub include: Option<Vec<Option<String>>>,
    pub exclude: Option<Vec<Option<String>>>,
    pub split_larger_than: i64,
    pub row_filters: Option<Vec<Option<String>>>,
    pub follow_fks: bool,
    pub transforms: Option<Vec<Option<String>>>,
    pub trust_owner: Option<Vec<Option<String>>>,
}

/// One row of `pgcopy.plan()`, in its columns' order.
pub(crate) type PlanRow = (
    i32,
    String,
    String,
    Option<String>,
    i64,
    i64,
    i32,
    Option<i32>,
    Vec<String>,
    Vec<String>,
    String,
    Option<String>,
    Vec<String>,
);

/// This database's catalog, read by the query the CLI reads it with.
pub(crate) fn read_catalog() -> Catalog {
    let json: String = Spi::get_one(pgcopy_core::CATALOG_SQL)
        .unwrap_or_else(|e| {
            ExtError::Read {
                what: "reading the catalog",
                error: e.to_string(),
            }
            .raise("pgcopy.plan")
        })
        .unwrap_or_default();
    Catalog::from_json(&json).unwrap_or_else(|e| {
        ExtError::Read {
            what: "decoding the catalog",
            error: e.to_string(),
        }
        .raise("pgcopy.plan")
    })
}

/// The planner's inputs from the arguments; an argument that cannot be read,
/// or a condition or expression that is not one expression, is an error.
pub(crate) fn plan_options(args: Arguments) -> PlanOptions {
    let block_size: i64 = Spi::get_one("SELECT current_setting('block_size')::bigint")
        .ok()
        .flatten()
        .unwrap_or(8192);
    // Each array element is a list of patterns of its own; read first, as
    // before the options were core's.
    let include = patterns(args.include, "include");
    let exclude = patterns(args.exclude, "exclude");
    let options = CopyOptions {
        split_larger_than: args.split_larger_than.max(0) as u64,
        row_filters: each(args.row_filters, pgcopy_core::subset::RowFilter::parse),
        follow_fks: args.follow_fks,
        transforms: each(
            args.transforms,
            pgcopy_core::transform::ColumnTransform::parse,
        ),
        trust: pgcopy_core::trust::TrustedOwners::new(
            args.trust_owner.unwrap_or_default().into_iter().flatten(),
        ),
        ..CopyOptions::default()
    };
    // The plan of this database into one of its own major, in drop mode.
    let setting = PlanSetting {
        state_schema: SCHEMA,
        block_size: block_size as u64,
        ..PlanSetting::default()
    };
    let opts = PlanOptions {
        include,
        exclude,
        ..options
            .plan_options(&setting)
            .unwrap_or_else(|e| ExtError::Argument(e.to_string()).raise("pgcopy.plan"))
    };
    // As the CLI refuses them: each is pasted into subqueries, where text
    // that is not one expression would read other rows.
    let alone = opts
        .row_filters
        .iter()
        .map(|f| ("row_filters", f.table.clone(), &f.condition))
        .chain(opts.transforms.iter().map(|t| {
            (
                "transforms",
                format!("{}.{}", t.table, t.column),
                &t.expression,
            )
        }));
    for (argument, target, text) in alone {
        if let Err(why) = parse::one_expression(text) {
            ExtError::Argument(format!(
                "the {argument} entry for {target} is refused: {why}"
            ))
            .raise("pgcopy.plan");
        }
    }
    opts
}

/// One row a table, in load order.
pub(crate) fn rows(p: &Plan) -> Vec<PlanRow> {
    let mut rows = Vec::new();
    for t in &p.tables {
        let root = t.partition_of.clone().unwrap_or_else(|| t.table.clone());
        let position = p
            .load_order
            .iter()
            .position(|n| n == &root)
            .map(|i| i as i32 + 1)
            .unwrap_or(0);
        let cycle = p
            .fk_cycles
            .iter()
            .position(|c| c.contains(&root))
            .map(|i| i as i32 + 1);
        let drops: Vec<String> = p
            .foreign_keys
            .iter()
            .filter(|f| {
                f.action == FkAction::DropAndRestore
                    && (f.fk.table == root || f.fk.table == t.table)
            })
            .map(|f| f.fk.name.clone())
            .collect();
        let outside: Vec<String> = p
            .foreign_keys
            .iter()
            .filter(|f| f.fk.referenced == root && p.referenced_from_outside.contains(&f.fk.table))
            .map(|f| f.fk.table.display_name())
            .collect();
        rows.push((
            position,
            t.table.schema.clone(),
            t.table.name.clone(),
            t.partition_of.as_ref().map(QualifiedName::display_name),
            t.est_rows as i64,
            t.bytes as i64,
            t.chunks.len() as i32,
            cycle,
            drops,
            outside,
            t.taken.as_str().to_string(),
            t.rows_where.clone(),
            t.transforms
                .iter()
                .map(|(c, e)| format!("{} = {e}", pgcopy_core::quote::quote_ident(c)))
                .collect(),
        ));
    }
    rows.sort_by(|a, b| (a.0, &a.1, &a.2).cmp(&(b.0, &b.1, &b.2)));
    rows
}

fn patterns(
    list: Option<Vec<Option<String>>>,
    what: &str,
) -> Vec<pgcopy_core::filter::TablePattern> {
    let mut out = Vec::new();
    for item in list.unwrap_or_default().into_iter().flatten() {
        match parse_patterns(&item) {
            Ok(p) => out.extend(p),
            Err(e) => ExtError::Argument(format!("{what}: {e}")).raise("pgcopy.plan"),
        }
    }
    out
}

/// Each non-NULL element of an array argument, parsed; the first that
/// cannot be is the call's error.
fn each<T, E: std::fmt::Display>(
    list: Option<Vec<Option<String>>>,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Vec<T> {
    list.unwrap_or_default()
        .into_iter()
        .flatten()
        .map(|s| parse(&s))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| ExtError::Argument(e.to_string()).raise("pgcopy.plan"))
}
