//! Preflight for values that go by name (`reg*` columns, sent as text by
//! `pgcopy_core::formats`): each name the source holds must name something
//! on the destination, or the load would fail half-way, and an OID that
//! named nothing on the source must not name something here.

use super::super::plan::Ctx;
use crate::error::PgContext;
use pgcopy_core::formats::{self, OID_TYPES};
use pgcopy_core::plan::Plan;
use pgcopy_core::preflight::Problem;
use tokio_postgres::Client;

/// At most this many distinct values of a column are checked: a column of
/// names holds few (the catalog bounds them); past it the load itself
/// fails loudly on a name it cannot find.
const MAX_NAMES: u32 = 100_000;

impl Ctx<'_> {
    /// Every `reg*` column (or array, or domain over either) of the tables
    /// the plan copies: its distinct values, read in the snapshot, looked
    /// up on the destination.
    pub(in crate::engine::steps) async fn names_exist(
        &self,
        dst: &Client,
        plan: &Plan,
    ) -> anyhow::Result<Vec<Problem>> {
        let mut problems = Vec::new();
        for spec in plan.tables.iter().filter(|t| !t.text_because.is_empty()) {
            let Some(table) = self.src_catalog.table(&spec.table) else {
                continue;
            };
            // No query is planned over a table whose planning could run
            // code pgcopy does not trust (`Table::planner_untrusted`): its
            // load checks the names, and fails loudly on one it lacks.
            if !table
                .planner_untrusted(&self.options.trust, &self.src_catalog.current_user)
                .is_empty()
            {
                continue;
            }
            for column in table.copied_columns() {
                if !OID_TYPES
                    .iter()
                    .any(|t| column.builtin_types.iter().any(|b| b == t))
                {
                    continue;
                }
                let shape = self
                    .src
                    .query_opt(formats::OID_COLUMN_SHAPE_SQL, &[&table.oid, &column.name])
                    .await
                    .pg_context(|| {
                        format!(
                            "reading the type of {}.{}",
                            spec.table.display_name(),
                            column.name
                        )
                    })?;
                let Some(shape) = shape else { continue };
                let (base, element): (String, String) = (shape.try_get(0)?, shape.try_get(1)?);
                let (type_name, array) = match (
                    OID_TYPES.contains(&base.as_str()),
                    OID_TYPES.contains(&element.as_str()),
                ) {
                    (true, _) => (base, false),
                    (false, true) => (element, true),
                    _ => continue,
                };
                let Some(lookup) = formats::unknown_names_sql(&type_name) else {
                    continue;
                };
                let names: Vec<String> = self
                    .src
                    .query(
                        &formats::distinct_names_sql(&spec.table, &column.name, array, MAX_NAMES),
                        &[],
                    )
                    .await
                    .pg_context(|| {
                        format!(
                            "reading the names in {}.{}",
                            spec.table.display_name(),
                            column.name
                        )
                    })?
                    .iter()
                    .map(|r| r.try_get(0))
                    .collect::<Result<_, _>>()?;
                if names.is_empty() {
                    continue;
                }
                let (mut missing, mut renamed) = (Vec::new(), Vec::new());
                for r in dst
                    .query(&lookup, &[&names])
                    .await
                    .pg_context(|| format!("looking up {type_name} names on the destination"))?
                {
                    let name: String = r.try_get(0)?;
                    match r.try_get::<_, Option<String>>(1)? {
                        None => missing.push(name),
                        Some(here) => renamed.push((name, here)),
                    }
                }
                if !missing.is_empty() || !renamed.is_empty() {
                    problems.push(Problem::NamesMissing {
                        table: spec.table.clone(),
                        column: column.name.clone(),
                        type_name,
                        missing,
                        renamed,
                    });
                }
            }
        }
        Ok(problems)
    }
}
