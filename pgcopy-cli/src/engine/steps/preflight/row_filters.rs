//! Preflight of `--where` and `--transform`: each text one expression,
//! read as psql reads it, steady across the snapshot, and its rows routable.

use super::*;

/// Of the function names `$1` (bare, or qualified as written), those that
/// name a volatile function visible on the path, or qualified; sorted.
const VOLATILE_CALLS_SQL: &str = include_str!("../../../../../sql/volatile_calls.sql");

impl Ctx<'_> {
    /// Each `--where` condition and `--transform` expression is one SQL
    /// expression on its own ([`crate::parse::expressions_alone`]).
    pub(in crate::engine::steps) fn expressions_alone(&self) -> Vec<Problem> {
        crate::parse::expressions_alone(&self.options.row_filters, &self.options.transforms)
    }

    /// The `--where` conditions and `--transform` expressions: each one
    /// expression on its own; then, when `deep` (nothing else stands in the
    /// way), read as psql would read them for this role and written out
    /// with their schemas into `plan` ([`crate::conditions`]), the
    /// conditions steady, and each table's selection run on the source
    /// that way. Returns where they run (`None` when there are none).
    pub(in crate::engine::steps) async fn conditions(
        &self,
        plan: &mut Plan,
        deep: bool,
    ) -> anyhow::Result<(Option<crate::conditions::ConditionEnv>, Vec<Problem>)> {
        let (filters, transforms) = (&self.options.row_filters, &self.options.transforms);
        if filters.is_empty() && transforms.is_empty() {
            return Ok((None, Vec::new()));
        }
        let problems = self.expressions_alone();
        if !problems.is_empty() || !deep {
            return Ok((None, problems));
        }
        let copied: Vec<QualifiedName> = plan.tables.iter().map(|t| t.table.clone()).collect();
        let written = crate::conditions::written(self.src_catalog, &copied, filters, transforms);
        let resolved = crate::conditions::resolve(
            &self.config.source,
            self.src,
            &written,
            &self.options.trust,
            &self.src_catalog.current_user,
        )
        .await?;
        let env = resolved.env;
        if !resolved.problems.is_empty() {
            return Ok((Some(env), resolved.problems));
        }
        let (mut filters, mut transforms) = (filters.clone(), transforms.clone());
        crate::conditions::substitute(
            &written,
            &resolved.written_out,
            &mut filters,
            &mut transforms,
        );
        if env.written_out {
            let opts = PlanOptions {
                row_filters: filters.clone(),
                transforms: transforms.clone(),
                ..self.plan_options()?
            };
            let (written_plan, _) = self.routed_plan(&opts)?;
            for spec in plan.tables.iter_mut() {
                if let Some(w) = written_plan.tables.iter().find(|w| w.table == spec.table) {
                    spec.rows_where = w.rows_where.clone();
                    spec.transforms = w.transforms.clone();
                }
            }
        }
        self.src
            .batch_execute(&format!(
                "SAVEPOINT pgcopy_conditions; {}",
                env.settings_sql(true)
            ))
            .await
            .pg_context(|| "taking the role's settings for the conditions".into())?;
        let mut problems = self.row_filters_steady(&filters).await?;
        if problems.is_empty() {
            problems.extend(self.row_filters_run(plan).await?);
        }
        if problems.is_empty() {
            problems.extend(resolved.fails);
        }
        self.src
            .batch_execute(
                "ROLLBACK TO SAVEPOINT pgcopy_conditions; RELEASE SAVEPOINT pgcopy_conditions",
            )
            .await?;
        Ok((Some(env), problems))
    }

    /// Each `--where` condition that calls a volatile function (`random()`,
    /// `clock_timestamp()`, one of the source's own) or the transaction's
    /// time (`now()`, `CURRENT_TIMESTAMP`): each transaction reading the
    /// table would take other rows.
    pub(in crate::engine::steps) async fn row_filters_steady(
        &self,
        filters: &[pgcopy_core::subset::RowFilter],
    ) -> anyhow::Result<Vec<Problem>> {
        const TRANSACTION_TIME: [&str; 3] = ["now", "transaction_timestamp", "statement_timestamp"];
        let mut problems = Vec::new();
        for filter in filters {
            let (names, clock) = crate::parse::calls(&filter.condition);
            let volatile: Vec<String> = match names.is_empty() {
                true => Vec::new(),
                false => self
                    .src
                    .query(VOLATILE_CALLS_SQL, &[&names])
                    .await?
                    .iter()
                    .map(|r| r.try_get(0))
                    .collect::<Result<_, tokio_postgres::Error>>()?,
            };
            let timed = names.iter().find(|n| {
                let bare = n.strip_prefix("pg_catalog.").unwrap_or(n);
                TRANSACTION_TIME.contains(&bare)
            });
            let calls = match (volatile.first(), timed, clock) {
                (Some(v), _, _) => format!("{v}()"),
                (None, Some(t), _) => format!("{t}()"),
                (None, None, true) => {
                    "the clock (CURRENT_TIMESTAMP, CURRENT_DATE, LOCALTIME...)".into()
                }
                (None, None, false) => continue,
            };
            problems.push(Problem::RowFilterUnsteady {
                table: filter.table.clone(),
                calls,
            });
        }
        Ok(problems)
    }

    /// Each table's `--where` selection and `--transform` columns, tried on
    /// the source (prepared and `EXPLAIN`ed, in a savepoint of the snapshot
    /// transaction), after making sure the query is one statement: a
    /// condition or expression that does not parse, names what the table
    /// lacks, or gives a column another type than its own is one sentence
    /// here, before anything changes, not a failed load.
    pub(in crate::engine::steps) async fn row_filters_run(
        &self,
        plan: &Plan,
    ) -> anyhow::Result<Vec<Problem>> {
        let mut problems = Vec::new();
        // The tables a --where names first: a limited table's selection
        // holds their conditions, so when one of those fails, its failure
        // would only be said again for every table that follows it.
        let mut specs: Vec<&pgcopy_core::plan::TableCopySpec> = plan
            .tables
            .iter()
            .filter(|t| t.rows_where.is_some() || !t.transforms.is_empty())
            .collect();
        specs.sort_by_key(|t| t.taken != pgcopy_core::subset::Taken::Filtered);
        let mut filter_failed = false;
        for spec in specs {
            if filter_failed && spec.taken == pgcopy_core::subset::Taken::Limited {
                continue;
            }
            let cols: Vec<&str> = spec.columns.iter().map(String::as_str).collect();
            let rows = pgcopy_core::sql::Rows {
                condition: spec.rows_where.as_deref(),
                transforms: Some(&spec.transforms),
            };
            let query = pgcopy_core::sql::select_rows(
                &spec.table,
                &cols,
                &pgcopy_core::chunk::ChunkRange::WHOLE,
                &rows,
            )
            .unwrap_or_default();
            let tried = match crate::parse::split(&query).map(|s| s.len()) {
                Err(e) => Err(format!("it does not parse: {e}")),
                Ok(n) if n != 1 => Err("it is not one SQL condition or expression".to_string()),
                Ok(_) => {
                    self.src.batch_execute("SAVEPOINT pgcopy_where").await?;
                    let r = match self.src.query(&format!("EXPLAIN {query}"), &[]).await {
                        Ok(_) => self.column_types(spec).await,
                        Err(e) => Err(pg_message(&e)),
                    };
                    self.src
                        .batch_execute(
                            "ROLLBACK TO SAVEPOINT pgcopy_where; RELEASE SAVEPOINT pgcopy_where",
                        )
                        .await?;
                    r
                }
            };
            if let Err(error) = tried {
                filter_failed |= spec.taken == pgcopy_core::subset::Taken::Filtered;
                problems.push(Problem::RowFilterFails {
                    table: spec.table.clone(),
                    taken: spec.taken,
                    transformed: !spec.transforms.is_empty(),
                    error,
                });
            }
        }
        Ok(problems)
    }

    /// Each transformed column's expression gives the column's own type
    /// (binary COPY sends it as it is): prepared beside the column itself.
    async fn column_types(&self, spec: &pgcopy_core::plan::TableCopySpec) -> Result<(), String> {
        for (column, expression) in &spec.transforms {
            let probe = format!(
                "SELECT {}, ({expression}) FROM ONLY {} {}",
                pgcopy_core::quote::quote_ident(column),
                spec.table,
                pgcopy_core::subset::ROW_ALIAS
            );
            let statement = self.src.prepare(&probe).await.map_err(|e| pg_message(&e))?;
            let (own, made) = (
                statement.columns()[0].type_(),
                statement.columns()[1].type_(),
            );
            if own != made {
                return Err(format!(
                    "the expression for column {column:?} is of type {}, the column of type {}: cast it \
                     (({expression})::{})",
                    made.name(),
                    own.name(),
                    own.name()
                ));
            }
        }
        Ok(())
    }
}
