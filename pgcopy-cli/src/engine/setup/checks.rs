//! Preflight: every check a run makes before the destination changes,
//! each problem one sentence, all reported together.

use super::*;

impl Ctx<'_> {
    /// `deferred` less the indexes this role could not rebuild, and the rest
    /// of their partitioned index trees (a tree is dropped whole): on a table whose
    /// owner is neither a superuser nor this role, a definition that casts a
    /// literal to a type outside `pg_catalog` is not parsed with this role's
    /// rights (`stored::check_literals`), so such an index stays.
    pub(super) fn rebuildable(&self, deferred: Vec<Index>) -> Vec<Index> {
        let cat = self.dst_catalog;
        let key = |i: &Index| QualifiedName::new(&i.table.schema, &i.name);
        let mut kept: std::collections::HashSet<QualifiedName> = deferred
            .iter()
            .filter(|i| {
                let trusted = cat
                    .table(&i.table)
                    .is_some_and(|t| t.owner_is_superuser || t.owner == cat.current_user);
                !trusted
                    && crate::parse::risky_literals(&i.definition)
                        .map_or(true, |types| !types.is_empty())
            })
            .map(key)
            .collect();
        loop {
            let before = kept.len();
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
    pub(super) async fn lock_split_sources(&self, plan: &Plan) -> anyhow::Result<()> {
        for spec in plan.tables.iter().filter(|t| t.is_split()) {
            let oid = self.src_catalog.table(&spec.table).map_or(0, |t| t.oid);
            introspect::lock_to_read(self.src, &spec.table, oid).await?;
        }
        Ok(())
    }

    /// Where the extension belongs to `ext_owner`, who may drop it (and the
    /// state in it) at any time: refused when this copy would keep there what
    /// it drops or disables on tables `ext_owner` does not own.
    pub(super) fn droppable_state(
        &self,
        ext_owner: &str,
        fks: &[ForeignKey],
        indexes: &[Index],
        triggers: &[SavedTrigger],
    ) -> Option<String> {
        let others: std::collections::BTreeSet<String> = fks
            .iter()
            .map(|f| &f.table)
            .chain(indexes.iter().map(|i| &i.table))
            .chain(triggers.iter().map(|t| &t.table))
            .filter(|t| {
                self.dst_catalog
                    .table(t)
                    .is_some_and(|t| t.owner != ext_owner)
            })
            .map(|t| t.display_name())
            .collect();
        (!others.is_empty()).then(|| {
            format!(
                "the pgcopy extension here belongs to role {ext_owner:?}, who may DROP EXTENSION pgcopy at any \
                 time, and with it what this copy would save there of tables {ext_owner:?} does not own ({}): \
                 keep this copy's state in a schema of your own (--state-schema NAME), or have a superuser \
                 install the extension (DROP EXTENSION pgcopy, then CREATE EXTENSION pgcopy as a superuser)",
                others.into_iter().collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// Tables whose inserts would run code of a role that is neither a
    /// superuser nor this one, where this role is a superuser or not the
    /// table's owner: that code would run with this role's rights.
    pub(super) async fn untrusted_code(
        &self,
        dst: &Client,
        plan: &Plan,
    ) -> anyhow::Result<Vec<String>> {
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
        let found = introspect::untrusted_code(dst, &oids).await?;
        Ok(tables
            .iter()
            .filter_map(|t| {
                found.get(&t.oid).map(|findings| {
                    Problem::UntrustedCode {
                        table: t.name.clone(),
                        owner: t.owner.clone(),
                        role: cat.current_user.clone(),
                        findings: findings.clone(),
                    }
                    .to_string()
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
        let constraints: Vec<Option<String>> = rows.iter().map(|r| r.get(0)).collect();
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
    ) -> anyhow::Result<Vec<String>> {
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
                    let n: i64 = row.get(0);
                    if n > 0 {
                        problems.push(format!(
                            "{n} rows of {} fit no partition of {} on the destination: add a partition that \
                             takes them there (or a DEFAULT one), or exclude the table",
                            spec.table.display_name(),
                            target.display_name()
                        ));
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
    ) -> (Vec<String>, Vec<SavedTrigger>) {
        let mut problems: Vec<String> = check_tables(plan, self.src_catalog, self.dst_catalog)
            .iter()
            .map(|p| p.to_string())
            .collect();
        problems.extend(
            check_fk_rights(fks_to_drop, self.dst_catalog)
                .iter()
                .map(|p| p.to_string()),
        );
        let mut to_disable = Vec::new();
        for name in pgcopy_core::route::dest_relations(plan, self.dst_catalog) {
            let Some(t) = self.dst_catalog.table(&name) else {
                continue;
            };
            let firing = triggers::firing(t, plan.replica_mode());
            if firing.is_empty() {
                continue;
            }
            if t.is_owner {
                to_disable.extend(firing);
            } else if !self.shape.fire_triggers {
                let names: Vec<String> = firing.iter().map(|f| f.display_name()).collect();
                problems.push(format!(
                    "table {} has triggers that would fire during the load ({}){}, and this role cannot \
                     disable them (it must own the table): pass --fire-triggers to let them fire, or run as the owner",
                    t.name.display_name(),
                    names.join(", "),
                    if plan.replica_mode() {
                        ", as ENABLE ALWAYS and ENABLE REPLICA triggers do in replica mode"
                    } else {
                        ""
                    }
                ));
            }
        }
        (problems, to_disable)
    }
}

pub(super) fn fail_preflight(problems: &[String]) -> anyhow::Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let mut msg = if problems.len() == 1 {
        format!("preflight failed, nothing was changed: {}", problems[0])
    } else {
        format!(
            "preflight found {} problems, nothing was changed:",
            problems.len()
        )
    };
    if problems.len() > 1 {
        for p in problems {
            msg.push_str("\n  - ");
            msg.push_str(p);
        }
    }
    Err(UserError::failure(msg).into())
}

/// Why an unfinished job blocks a new copy, and what to do.
pub(super) fn blocking(job: &StoredJob) -> String {
    if job.state == pgcopy_core::states::JobState::Running.as_str() && !job.stale {
        format!(
            "job {} is running on the destination right now (its client is connected): wait for it",
            job.job_id
        )
    } else {
        format!(
            "job {} did not finish ({}): continue it with `pgcopy copy --resume`, or give it up with \
             `pgcopy jobs discard {}` (which restores what it dropped)",
            job.job_id,
            if job.stale { "its client died" } else { job.state.as_str() },
            job.job_id
        )
    }
}
