//! Preflight: every check a run makes before the destination changes,
//! each problem one sentence, all reported together.

use super::plan::Ctx;
use crate::error::{pg_message, PgContext, UserError};
use crate::introspect;
use pgcopy_core::catalog::{Catalog, ForeignKey, Index};
use pgcopy_core::plan::{Plan, PlanOptions};
use pgcopy_core::preflight::{self, check_fk_rights, check_tables, Problem};
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::triggers::SavedTrigger;
use std::collections::HashMap;
use tokio_postgres::Client;

mod names;

impl Ctx<'_> {
    /// `deferred` less the indexes this role could not rebuild, the rest of
    /// their partitioned index trees (a tree is dropped whole) and, for a
    /// unique one, its table's other unique indexes: on a table whose
    /// owner is neither a superuser nor this role, a definition that casts a
    /// literal to a type outside `pg_catalog` is not parsed with this role's
    /// rights (`stored::check_literals`), so such an index stays; and an
    /// index whose names a role neither superuser, the table's owner, this
    /// one nor trusted could rebind while it is dropped stays
    /// (`Index::rebindable_by`, `pgcopy_core::bindings`).
    pub(super) fn rebuildable(&self, deferred: Vec<Index>) -> Vec<Index> {
        let cat = self.dst_catalog;
        let key = |i: &Index| QualifiedName::new(&i.table.schema, &i.name);
        let mut kept: std::collections::HashSet<QualifiedName> = deferred
            .iter()
            .filter(|i| {
                let trusted = cat.table(&i.table).is_some_and(|t| {
                    t.owner_is_superuser
                        || t.owner == cat.current_user
                        || self.shape.trust.trusts(&t.owner)
                });
                let rebinders = i.rebindable_by(&self.shape.trust);
                if !rebinders.is_empty() {
                    tracing::debug!(
                        "index {} on {} stays in place: {} could put other objects under the names it uses \
                         while it is dropped",
                        i.name,
                        i.table.display_name(),
                        rebinders.join(", ")
                    );
                    return true;
                }
                !trusted
                    && crate::parse::risky_literals(&i.definition)
                        .map_or(true, |types| !types.is_empty())
            })
            .map(key)
            .collect();
        loop {
            let before = kept.len();
            // A table's unique indexes stay or go together (see
            // `pgcopy_core::plan::deferrable_indexes`).
            let unique_kept: std::collections::HashSet<QualifiedName> = deferred
                .iter()
                .filter(|i| i.unique && kept.contains(&key(i)))
                .map(|i| i.table.clone())
                .collect();
            for i in deferred
                .iter()
                .filter(|i| i.unique && unique_kept.contains(&i.table))
            {
                kept.insert(key(i));
            }
            for i in &deferred {
                if let Some(p) = &i.parent {
                    if kept.contains(p) || kept.contains(&key(i)) {
                        kept.insert(p.clone());
                        kept.insert(key(i));
                    }
                }
            }
            if kept.len() == before {
                break;
            }
        }
        deferred
            .into_iter()
            .filter(|i| !kept.contains(&key(i)))
            .collect()
    }

    /// Locks the tables read in chunks on the source, in the snapshot
    /// transaction, for the run, after making sure each name still leads to
    /// the table the catalog showed: a chunk's `COPY (SELECT ...)` would read
    /// a view put in its place (and run its code with this role's rights),
    /// where a whole table's `COPY` refuses one. Locked, it cannot be renamed
    /// or dropped before the copy ends.
    ///
    /// With `--where`, every copied table and partitioned table is locked and
    /// proved so: a subset's conditions read the tables its rows follow.
    pub(super) async fn lock_split_sources(&self, plan: &Plan) -> anyhow::Result<()> {
        let subset = plan.tables.iter().any(|t| t.rows_where.is_some());
        let mut locked = std::collections::HashSet::new();
        for spec in plan.tables.iter().filter(|t| subset || t.is_split()) {
            let tables = std::iter::once(spec.table.clone()).chain(
                self.src_catalog
                    .ancestors(&spec.table)
                    .into_iter()
                    .filter(|_| subset),
            );
            for t in tables {
                if locked.insert(t.clone()) {
                    let oid = self.src_catalog.table(&t).map_or(0, |t| t.oid);
                    introspect::lock_to_read(self.src, &t, oid).await?;
                }
            }
        }
        Ok(())
    }

    /// Each `--where` condition and `--transform` expression is one SQL
    /// expression on its own ([`crate::parse::one_expression`]).
    pub(super) fn expressions_alone(&self) -> Vec<Problem> {
        crate::parse::expressions_alone(&self.shape.row_filters, &self.shape.transforms)
    }

    /// The `--where` conditions and `--transform` expressions: each one
    /// expression on its own; then, when `deep` (nothing else stands in the
    /// way), read as psql would read them for this role and written out
    /// with their schemas into `plan` ([`crate::conditions`]), the
    /// conditions steady, and each table's selection run on the source
    /// that way. Returns where they run (`None` when there are none).
    pub(super) async fn conditions(
        &self,
        plan: &mut Plan,
        deep: bool,
    ) -> anyhow::Result<(Option<crate::conditions::ConditionEnv>, Vec<Problem>)> {
        let (filters, transforms) = (&self.shape.row_filters, &self.shape.transforms);
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
            &self.shape.trust,
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
    pub(super) async fn row_filters_steady(
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
                    .query(
                        "SELECT n.name FROM unnest($1::pg_catalog.text[]) AS n(name) \
                          WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_proc p \
                                          JOIN pg_catalog.pg_namespace s ON s.oid OPERATOR(pg_catalog.=) p.pronamespace \
                                         WHERE p.provolatile OPERATOR(pg_catalog.=) 'v' \
                                           AND CASE WHEN pg_catalog.strpos(n.name, '.') OPERATOR(pg_catalog.>) 0 \
                                                    THEN (s.nspname OPERATOR(pg_catalog.||) '.' \
                                                          OPERATOR(pg_catalog.||) p.proname) OPERATOR(pg_catalog.=) n.name \
                                                    ELSE p.proname OPERATOR(pg_catalog.=) n.name \
                                                         AND pg_catalog.pg_function_is_visible(p.oid) END) \
                          ORDER BY 1",
                        &[&names],
                    )
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
    pub(super) async fn row_filters_run(&self, plan: &Plan) -> anyhow::Result<Vec<Problem>> {
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

    /// Tables whose inserts would run code of a role that is neither a
    /// superuser nor this one, where this role is a superuser or not the
    /// table's owner: that code would run with this role's rights.
    pub(super) async fn untrusted_code(
        &self,
        dst: &Client,
        plan: &Plan,
    ) -> anyhow::Result<Vec<Problem>> {
        let cat = self.dst_catalog;
        let written = pgcopy_core::route::dest_relations(plan, cat);
        let tables: Vec<&pgcopy_core::catalog::Table> = written
            .iter()
            .filter_map(|name| cat.table(name))
            .filter(|t| cat.superuser || t.owner != cat.current_user)
            .collect();
        if tables.is_empty() {
            return Ok(Vec::new());
        }
        let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
        let found = introspect::untrusted_code(dst, &oids, &self.shape.trust).await?;
        Ok(tables
            .iter()
            .filter_map(|t| {
                found.get(&t.oid).map(|findings| Problem::UntrustedCode {
                    table: t.name.clone(),
                    owner: t.owner.clone(),
                    role: cat.current_user.clone(),
                    findings: findings.clone(),
                })
            })
            .collect())
    }

    /// What a row must satisfy to have a partition of `target` on the
    /// destination: its partitions' constraints, OR'ed (`None` when one of
    /// them takes every row).
    async fn partition_condition(
        &self,
        dst: &Client,
        target: &QualifiedName,
    ) -> anyhow::Result<Option<String>> {
        let leaves: Vec<u32> = self
            .dst_catalog
            .descendants(target)
            .iter()
            .filter(|l| l.kind == pgcopy_core::catalog::TableKind::Ordinary)
            .map(|l| l.oid)
            .collect();
        let rows = dst
            .query(pgcopy_core::sql::PARTITION_CONSTRAINTS, &[&leaves])
            .await
            .pg_context(|| format!("reading the partitions of {}", target.display_name()))?;
        let constraints: Vec<Option<String>> = rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, tokio_postgres::Error>>()?;
        if constraints.iter().any(Option::is_none) {
            return Ok(None);
        }
        Ok(Some(match constraints.is_empty() {
            true => "false".to_string(),
            false => constraints
                .iter()
                .flatten()
                .map(|c| format!("coalesce(({c}), false)"))
                .collect::<Vec<_>>()
                .join(" OR "),
        }))
    }

    /// Rows of the tables routed into a partitioned table on the destination
    /// that no partition there would take (the load would fail on the first
    /// of them, after the table was emptied): counted on the source, in the
    /// snapshot, against the destination's partition constraints, before
    /// anything changes. The source table is locked and proved to be the one
    /// the catalog showed first (a view put in its place is never read). A
    /// constraint that calls a function (hash partitioning, a key
    /// expression), names anything outside `pg_catalog`, or reads a column
    /// whose type is not PostgreSQL's own and the same on both sides (a
    /// role's implicit cast from its type would run) is not run on the
    /// source: that table is not checked ahead.
    pub(super) async fn unroutable_rows(
        &self,
        dst: &Client,
        plan: &Plan,
    ) -> anyhow::Result<Vec<Problem>> {
        let mut problems = Vec::new();
        // The partitions' constraints, read once per destination table
        // (`None`: one partition takes every row).
        let mut conditions: HashMap<&QualifiedName, Option<String>> = HashMap::new();
        for spec in plan.tables.iter().filter(|t| t.load_into.is_some()) {
            let target = spec.dest_table();
            let Some(t) = self.dst_catalog.table(target) else {
                continue;
            };
            if t.kind != pgcopy_core::catalog::TableKind::Partitioned {
                continue;
            }
            if !conditions.contains_key(target) {
                let condition = self.partition_condition(dst, target).await?;
                conditions.insert(target, condition);
            }
            let Some(condition) = &conditions[target] else {
                continue;
            };
            // Counting plans a query over the source table: not where that
            // could run code of a role not trusted.
            let untrusted = self.src_catalog.table(&spec.table).map_or(Vec::new(), |t| {
                t.planner_untrusted(&self.shape.trust, &self.src_catalog.current_user)
            });
            if !untrusted.is_empty() {
                tracing::info!(
                    "{}: not checked ahead for rows no partition of {} on the destination takes (counting them \
                     would plan a query over a table of {}); such a row would fail the load",
                    spec.table.display_name(),
                    target.display_name(),
                    untrusted.join(", ")
                );
                continue;
            }
            let builtin = |cat: &Catalog, table: &QualifiedName, column: &str| {
                cat.table(table)
                    .and_then(|t| t.columns.iter().find(|c| c.name == column))
                    .filter(|c| c.builtin_type)
                    .map(|c| c.type_name.clone())
            };
            let plain = crate::parse::condition_columns(condition).is_some_and(|columns| {
                columns.iter().all(|c| {
                    let source = builtin(self.src_catalog, &spec.table, c);
                    source.is_some() && source == builtin(self.dst_catalog, target, c)
                })
            });
            if !plain {
                tracing::info!(
                    "{}: not checked ahead for rows no partition of {} on the destination takes (its partition \
                     bounds need functions, or types other than PostgreSQL's own, to evaluate); such a row would \
                     fail the load",
                    spec.table.display_name(),
                    target.display_name()
                );
                continue;
            }
            let oid = self.src_catalog.table(&spec.table).map_or(0, |t| t.oid);
            introspect::lock_to_read(self.src, &spec.table, oid).await?;
            let count = format!(
                "SELECT count(*) FROM ONLY {} WHERE NOT ({condition})",
                spec.table
            );
            // In a savepoint: a failure must not end the snapshot transaction.
            self.src.batch_execute("SAVEPOINT pgcopy_routing").await?;
            match self.src.query_one(&count, &[]).await {
                Ok(row) => {
                    self.src
                        .batch_execute("RELEASE SAVEPOINT pgcopy_routing")
                        .await?;
                    let n: i64 = row.try_get(0)?;
                    if n > 0 {
                        problems.push(Problem::UnroutableRows {
                            rows: n,
                            table: spec.table.clone(),
                            target: target.clone(),
                        });
                    }
                }
                Err(e) => {
                    self.src
                        .batch_execute("ROLLBACK TO SAVEPOINT pgcopy_routing; RELEASE SAVEPOINT pgcopy_routing")
                        .await?;
                    tracing::warn!(
                        "{}: could not check ahead which rows fit no partition of {} on the destination ({}); \
                         such a row would fail the load",
                        spec.table.display_name(),
                        target.display_name(),
                        pg_message(&e)
                    );
                }
            }
        }
        Ok(problems)
    }

    /// Checks that need no server round trip; returns the problems and the
    /// triggers that must be disabled for the load.
    pub(super) fn check(
        &self,
        plan: &Plan,
        fks_to_drop: &[ForeignKey],
    ) -> (Vec<Problem>, Vec<SavedTrigger>) {
        let mut problems =
            check_tables(plan, self.src_catalog, self.dst_catalog, &self.shape.trust);
        problems.extend(check_fk_rights(fks_to_drop, self.dst_catalog));
        let (refused, to_disable) =
            preflight::check_triggers(plan, self.dst_catalog, self.shape.fire_triggers);
        problems.extend(refused);
        (problems, to_disable)
    }
}

/// Ends the run, before anything changed, when preflight found problems.
pub(super) fn fail_preflight(problems: &[Problem]) -> anyhow::Result<()> {
    match preflight::report(problems) {
        Some(msg) => Err(UserError::failure(msg).into()),
        None => Ok(()),
    }
}
