//! Setting up a run before the destination changes: read both catalogs, choose
//! the FK strategy, plan (or take a resumed job's stored plan), and run every
//! preflight check, reporting all problems together. A new job is then recorded;
//! a resumed one is taken up again with a new snapshot.

use super::summary;
use crate::cli::CopyArgs;
use crate::connect::Endpoint;
use crate::error::{pg_message, PgContext, UserError};
use crate::introspect;
use crate::state::{StateSchemaStatus, StateStore, StoredJob};
use pgcopy_core::catalog::{Catalog, ForeignKey, Index};
use pgcopy_core::plan::{plan, FkStrategy, Plan, PlanOptions};
use pgcopy_core::preflight::{check_fk_rights, check_tables, large_objects_warning, Problem};
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::triggers::{self, SavedTrigger};
use std::collections::HashMap;
use tokio_postgres::Client;

/// Everything the run needs to execute a job.
pub struct Setup {
    /// The job's id.
    pub job_id: i64,
    /// Tables loaded as their owners, or locked and checked in each load
    /// transaction, with how.
    pub load_as: HashMap<QualifiedName, LoadAs>,
    /// The plan (new, or the resumed job's).
    pub plan: Plan,
    /// Destination sessions use replica mode.
    pub replica: bool,
    /// The destination role is a superuser, who may pin the names of the
    /// schemas of checked tables (`sql::pin_schemas`).
    pub pin_schemas: bool,
    /// FKs to save and drop now (the destination's own definitions).
    pub fks_to_drop: Vec<ForeignKey>,
    /// Secondary indexes to save and drop now, rebuilt after the load.
    pub indexes_to_drop: Vec<Index>,
    /// Whether this job has dropped FKs to restore at the end.
    pub fks_pending: bool,
    /// Triggers disabled for the load, each with the mode it goes back to.
    pub triggers: Vec<SavedTrigger>,
    /// The up-front TRUNCATE is already done (resumed job).
    pub truncated: bool,
    /// Chunks already committed (resumed job): (schema, table, chunk) -> (rows, bytes).
    pub done_chunks: HashMap<(String, String, i32), (i64, i64)>,
}

/// How a table another role owns, or one in a schema another role owns, is
/// loaded.
#[derive(Debug, Clone, Default)]
pub struct LoadAs {
    /// The owner, whose role the load takes (`SET LOCAL ROLE`); `None` when
    /// this role loads it (it owns the table, or may not act as its owner).
    pub owner: Option<String>,
    /// The table and the partitions below it that a role neither superuser
    /// nor this one may change, or drop and replace, while the copy runs
    /// (`Table::others_may_change`): each load transaction locks the table
    /// (and so its partitions) and checks these before rows go in.
    pub guards: Vec<(QualifiedName, Guard)>,
}

/// What a load transaction checks of a table once it is locked
/// (`sql::load_guard`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// The table's OID on the destination at preflight: the name must still
    /// lead to it.
    pub oid: u32,
    /// Its schema's OID: a superuser pins the schema's name for the
    /// transaction (`sql::pin_schemas`).
    pub schema_oid: u32,
    /// Its columns at preflight, in order: a column added since would have
    /// its default computed by the COPY, with the loading role's rights.
    pub columns: Vec<String>,
    /// For a partitioned table, the OIDs of the relations below it at
    /// preflight, ascending: a partition attached since would take rows
    /// routed through it, unchecked.
    pub partitions: Option<Vec<u32>>,
}

/// Prepares the run; `None` after a `--dry-run` printed the plan.
pub async fn prepare(
    args: &CopyArgs,
    source: &Endpoint,
    dest: &Endpoint,
    src: &Client,
    dst: &mut Client,
    store: &StateStore,
    snapshot: &str,
) -> anyhow::Result<Option<Setup>> {
    // Both catalogs at once: on a database of many tables each read is tens
    // of milliseconds of the run's serial start.
    let (src_catalog, dst_catalog, block_size) = tokio::try_join!(
        introspect::read_catalog(src, "source"),
        introspect::read_catalog(dst, "destination"),
        introspect::block_size(src),
    )?;
    // Replica mode if this role may set it: try it, don't guess from attributes.
    let replica = dst
        .batch_execute("SET session_replication_role = replica; RESET session_replication_role")
        .await
        .is_ok();
    let strategy = if replica {
        FkStrategy::Replica
    } else {
        FkStrategy::Drop
    };
    // Deferring indexes measured 2.1x faster on a 2 GB table with three
    // secondary indexes (BENCHMARKS.md): on whenever the role owns every table.
    let owns_all = dst_catalog
        .tables
        .iter()
        .filter(|t| t.name.schema != args.state_schema)
        .all(|t| t.is_owner);
    let defer_indexes = args.defer_indexes || (!args.no_defer_indexes && owns_all);
    let ctx = Ctx {
        args,
        src,
        defer_indexes,
        src_catalog: &src_catalog,
        dst_catalog: &dst_catalog,
        replica,
        strategy,
        block_size,
    };
    if args.resume {
        resume(&ctx, source, dest, dst, store, snapshot).await
    } else {
        new_job(&ctx, source, dest, dst, store, snapshot).await
    }
}

struct Ctx<'a> {
    args: &'a CopyArgs,
    /// The source session, in the run's snapshot transaction.
    src: &'a Client,
    defer_indexes: bool,
    src_catalog: &'a Catalog,
    dst_catalog: &'a Catalog,
    replica: bool,
    strategy: FkStrategy,
    block_size: u64,
}

impl Ctx<'_> {
    fn plan_options(
        &self,
        include: Option<&str>,
        exclude: Option<&str>,
    ) -> Result<PlanOptions, UserError> {
        PlanOptions {
            split_larger_than: self.args.split_larger_than,
            skip_schemas: vec![self.args.state_schema.clone()],
            allow_empty_match: self.args.allow_empty_match,
            fk_strategy: self.strategy,
            block_size: self.block_size,
            defer_indexes: self.defer_indexes,
            ..PlanOptions::default()
        }
        .with_patterns(include, exclude)
        .map_err(|e| UserError::usage(e.to_string()))
    }

    /// The FKs and indexes to drop: the destination's own (their exact
    /// definitions are what gets restored), selected by the same rules as the
    /// plan, among the tables the plan copies.
    #[allow(clippy::type_complexity)]
    fn to_drop(
        &self,
        opts: &PlanOptions,
        copied: &Plan,
    ) -> Result<(Vec<ForeignKey>, Vec<Index>), UserError> {
        // The destination's own tables the load writes to: for a table
        // routed into a table partitioned differently, every partition there.
        let written = pgcopy_core::route::dest_relations(copied, self.dst_catalog);
        let dest_plan = plan(
            self.dst_catalog,
            &PlanOptions {
                allow_empty_match: true,
                only: Some(written.into_iter().collect()),
                ..opts.clone()
            },
        )
        .map_err(|e| UserError::usage(e.to_string()))?;
        Ok((
            dest_plan.dropped_fks().map(|f| f.fk.clone()).collect(),
            self.rebuildable(dest_plan.deferred_indexes),
        ))
    }

    /// `deferred` less the indexes this role could not rebuild, and the rest
    /// of their partitioned index trees (a tree is dropped whole): on a table whose
    /// owner is neither a superuser nor this role, a definition that casts a
    /// literal to a type outside `pg_catalog` is not parsed with this role's
    /// rights (`stored::check_literals`), so such an index stays.
    fn rebuildable(&self, deferred: Vec<Index>) -> Vec<Index> {
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
    async fn lock_split_sources(&self, plan: &Plan) -> anyhow::Result<()> {
        for spec in plan.tables.iter().filter(|t| t.is_split()) {
            let oid = self.src_catalog.table(&spec.table).map_or(0, |t| t.oid);
            introspect::lock_to_read(self.src, &spec.table, oid).await?;
        }
        Ok(())
    }

    /// The plan `opts` select on the source, with the tables the destination
    /// partitions differently routed through its tables
    /// (`pgcopy_core::route`), and why some cannot be.
    fn routed_plan(&self, opts: &PlanOptions) -> Result<(Plan, Vec<String>), UserError> {
        let mut p = plan(self.src_catalog, opts).map_err(|e| UserError::usage(e.to_string()))?;
        let problems = pgcopy_core::route::route(&mut p, self.src_catalog, self.dst_catalog);
        Ok((p, problems.iter().map(|p| p.to_string()).collect()))
    }

    /// The plan's tables to load as their owners or to check in each load
    /// transaction, with how, by destination table.
    fn load_as(&self, plan: &Plan) -> HashMap<QualifiedName, LoadAs> {
        let cat = self.dst_catalog;
        let guard = |t: &pgcopy_core::catalog::Table| {
            t.others_may_change.then(|| {
                (
                    t.name.clone(),
                    Guard {
                        oid: t.oid,
                        schema_oid: t.schema_oid,
                        columns: t.columns.iter().map(|c| c.name.clone()).collect(),
                        partitions: (t.kind == pgcopy_core::catalog::TableKind::Partitioned).then(
                            || {
                                let mut below: Vec<u32> =
                                    cat.descendants(&t.name).iter().map(|d| d.oid).collect();
                                below.sort_unstable();
                                below
                            },
                        ),
                    },
                )
            })
        };
        let loaded = plan.tables.iter().map(|spec| (spec.dest_table(), true));
        // Partitioned tables truncated whole are checked too, not loaded.
        let truncated = plan.truncate_together.iter().map(|t| (&t.table, false));
        loaded
            .chain(truncated)
            .filter_map(|(name, loaded)| Some((cat.table(name)?, loaded)))
            .filter_map(|(t, loaded)| {
                // A partitioned table's rows land in its partitions, which
                // LOCK TABLE locks with it: each is checked too.
                let below = cat.descendants(&t.name);
                let guards: Vec<(QualifiedName, Guard)> =
                    std::iter::once(t).chain(below).filter_map(guard).collect();
                let owner = (loaded && t.load_as_owner).then(|| t.owner.clone());
                (owner.is_some() || !guards.is_empty())
                    .then(|| (t.name.clone(), LoadAs { owner, guards }))
            })
            .collect()
    }

    /// Where the extension belongs to `ext_owner`, who may drop it (and the
    /// state in it) at any time: refused when this copy would keep there what
    /// it drops or disables on tables `ext_owner` does not own.
    fn droppable_state(
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
    async fn untrusted_code(&self, dst: &Client, plan: &Plan) -> anyhow::Result<Vec<String>> {
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
    async fn unroutable_rows(&self, dst: &Client, plan: &Plan) -> anyhow::Result<Vec<String>> {
        let mut problems = Vec::new();
        let mut checked = std::collections::HashSet::new();
        for spec in plan.tables.iter().filter(|t| t.load_into.is_some()) {
            let target = spec.dest_table();
            let Some(t) = self.dst_catalog.table(target) else {
                continue;
            };
            if t.kind != pgcopy_core::catalog::TableKind::Partitioned
                || !checked.insert(&spec.table)
            {
                continue;
            }
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
                continue; // a partition that takes every row
            }
            let condition = match constraints.is_empty() {
                true => "false".to_string(),
                false => constraints
                    .iter()
                    .flatten()
                    .map(|c| format!("coalesce(({c}), false)"))
                    .collect::<Vec<_>>()
                    .join(" OR "),
            };
            let builtin = |cat: &Catalog, table: &QualifiedName, column: &str| {
                cat.table(table)
                    .and_then(|t| t.columns.iter().find(|c| c.name == column))
                    .filter(|c| c.builtin_type)
                    .map(|c| c.type_name.clone())
            };
            let plain = crate::parse::condition_columns(&condition).is_some_and(|columns| {
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
    fn check(&self, plan: &Plan, fks_to_drop: &[ForeignKey]) -> (Vec<String>, Vec<SavedTrigger>) {
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
            let firing = triggers::firing(t, self.replica);
            if firing.is_empty() {
                continue;
            }
            if t.is_owner {
                to_disable.extend(firing);
            } else if !self.args.fire_triggers {
                let names: Vec<String> = firing.iter().map(|f| f.display_name()).collect();
                problems.push(format!(
                    "table {} has triggers that would fire during the load ({}){}, and this role cannot \
                     disable them (it must own the table): pass --fire-triggers to let them fire, or run as the owner",
                    t.name.display_name(),
                    names.join(", "),
                    if self.replica {
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

fn fail_preflight(problems: &[String]) -> anyhow::Result<()> {
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
fn blocking(job: &StoredJob) -> String {
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

async fn new_job(
    ctx: &Ctx<'_>,
    source: &Endpoint,
    dest: &Endpoint,
    dst: &mut Client,
    store: &StateStore,
    snapshot: &str,
) -> anyhow::Result<Option<Setup>> {
    let args = ctx.args;
    let opts = ctx.plan_options(
        args.include_tables.as_deref(),
        args.exclude_tables.as_deref(),
    )?;
    let (mut plan, routing) = ctx.routed_plan(&opts)?;
    // Large objects belong to no table: a copy of the whole database takes
    // them, a copy of some tables only when asked.
    let large_objects = ctx.src_catalog.large_objects > 0
        && (args.large_objects || (!args.skip_large_objects && args.include_tables.is_none()));
    if large_objects {
        plan.large_objects = super::large_objects::plan(ctx.src).await?;
    } else if let Some(w) = large_objects_warning(&plan, ctx.src_catalog) {
        tracing::warn!("{w}");
    }
    let (fks_to_drop, indexes_to_drop) = ctx.to_drop(&opts, &plan)?;
    let (mut problems, triggers) = ctx.check(&plan, &fks_to_drop);
    problems.extend(routing);
    if large_objects {
        problems.extend(super::large_objects::preflight(ctx.src, dst).await?);
    }
    problems.extend(ctx.untrusted_code(dst, &plan).await?);
    // Reads the source's rows: only once nothing else stands in the way.
    if problems.is_empty() {
        problems.extend(ctx.unroutable_rows(dst, &plan).await?);
    }
    // A bare name that selects tables in several schemas would truncate
    // tables its writer never meant: a copy asks for the schema, and a glob
    // across schemas is said out loud, before anything changes.
    for a in &plan.ambiguous {
        if a.bare_name && !args.dry_run {
            problems.push(a.message());
        } else if !args.dry_run {
            tracing::warn!("{}", a.message());
        }
    }
    if args.defer_indexes {
        for i in &indexes_to_drop {
            if !ctx.dst_catalog.table(&i.table).is_some_and(|t| t.is_owner) {
                problems.push(format!(
                    "--defer-indexes needs to drop index {:?} on {}: the role must own the table, or leave out --defer-indexes",
                    i.name,
                    i.table.display_name()
                ));
            }
        }
    }

    let mut schema_ready = false;
    // Earlier jobs that did not finish but left nothing to undo (nothing
    // dropped or disabled is still out) are simply superseded by a new copy.
    let mut superseded = Vec::new();
    if !args.dry_run {
        match store.inspect(dst).await {
            Ok(StateSchemaStatus::Ready { droppable_by, .. }) => {
                schema_ready = true;
                if let Some(ext_owner) = droppable_by {
                    problems.extend(ctx.droppable_state(
                        &ext_owner,
                        &fks_to_drop,
                        &indexes_to_drop,
                        &triggers,
                    ));
                }
                for job in store.unfinished_jobs(dst, None).await? {
                    let busy =
                        job.state == pgcopy_core::states::JobState::Running.as_str() && !job.stale;
                    if busy
                        || !job.disabled_triggers.is_empty()
                        || store.job_leftovers(dst, job.job_id).await? > 0
                    {
                        problems.push(blocking(&job));
                    } else {
                        superseded.push(job);
                    }
                }
                let pending = store.pending_fk_count(dst).await?;
                if pending > 0 {
                    problems.push(format!(
                        "{pending} foreign key(s) dropped by an earlier job are not restored yet: restore them \
                         first (`pgcopy restore-fks`, or SELECT * FROM {}.restore_fks())",
                        args.state_schema
                    ));
                }
            }
            Ok(StateSchemaStatus::Creatable) => {}
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    fail_preflight(&problems)?;
    if args.dry_run {
        summary::print_plan(&plan, source, dest, ctx.replica, args.json)?;
        return Ok(None);
    }
    ctx.lock_split_sources(&plan).await?;

    // From here on the destination changes.
    for job in &superseded {
        store.supersede_job(dst, job.job_id).await?;
        tracing::info!(
            "earlier job {} ({}) left nothing to restore: marked discarded, this copy starts afresh",
            job.job_id,
            job.state
        );
    }
    if !schema_ready {
        store.create(dst).await?;
        tracing::info!(
            "created the state schema {:?} on the destination",
            args.state_schema
        );
    }
    let options = serde_json::json!({
        "parallel": args.parallel,
        "batch_size": args.batch_size,
        "include_tables": args.include_tables,
        "exclude_tables": args.exclude_tables,
        "split_larger_than": args.split_larger_than,
        "analyze": !args.no_analyze,
        "fire_triggers": args.fire_triggers,
        "defer_indexes": ctx.defer_indexes,
    });
    let job_id = store
        .create_job(
            dst,
            &plan,
            &source.redacted(),
            &dest.redacted(),
            &options,
            snapshot,
        )
        .await?;
    tracing::info!(
        "job {job_id}: copying {} tables ({} chunks, {}) with {} workers, foreign keys: {}",
        plan.tables.len(),
        plan.total_chunks(),
        crate::format::human_bytes(plan.total_bytes()),
        args.parallel,
        fk_mode(ctx.replica, fks_to_drop.len())
    );
    Ok(Some(Setup {
        job_id,
        load_as: ctx.load_as(&plan),
        plan,
        replica: ctx.replica,
        pin_schemas: ctx.dst_catalog.superuser,
        fks_pending: !fks_to_drop.is_empty(),
        fks_to_drop,
        indexes_to_drop,
        triggers,
        truncated: false,
        done_chunks: HashMap::new(),
    }))
}

fn fk_mode(replica: bool, drops: usize) -> String {
    match (replica, drops) {
        (true, 0) => "replica mode (session_replication_role)".to_string(),
        (true, n) => format!("replica mode, and {n} from tables not copied dropped and restored"),
        (false, n) => format!("drop mode: {n} saved, dropped and restored"),
    }
}

async fn resume(
    ctx: &Ctx<'_>,
    source: &Endpoint,
    dest: &Endpoint,
    dst: &mut Client,
    store: &StateStore,
    snapshot: &str,
) -> anyhow::Result<Option<Setup>> {
    let args = ctx.args;
    if store.inspect(dst).await? == StateSchemaStatus::Creatable {
        return Err(
            UserError::failure("nothing to resume: no copy has run on this destination").into(),
        );
    }
    let jobs = store.unfinished_jobs(dst, args.job).await?;
    let Some(job) = jobs.into_iter().next() else {
        return Err(UserError::failure(match args.job {
            Some(n) => {
                format!("job {n} cannot be resumed: it does not exist, succeeded, or was discarded")
            }
            None => "nothing to resume: every job on this destination finished".to_string(),
        })
        .into());
    };
    if job.state == pgcopy_core::states::JobState::Running.as_str() && !job.stale {
        return Err(UserError::failure(blocking(&job)).into());
    }
    // A job's stored plan and options are only as trustworthy as the role
    // that wrote them: following them with this role's rights would let that
    // role decide what this one truncates and writes.
    if !job.mine {
        return Err(UserError::failure(format!(
            "job {} was started by role {:?}, not by this role: resume it as {:?}, or give it up with \
             `pgcopy jobs discard {}` (which restores what it dropped with no more than {:?}'s rights)",
            job.job_id, job.created_by, job.created_by, job.job_id, job.created_by
        ))
        .into());
    }
    for (flag, given, key) in [
        ("--include-tables", &args.include_tables, "include_tables"),
        ("--exclude-tables", &args.exclude_tables, "exclude_tables"),
    ] {
        let stored = job
            .options
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_string);
        if given.is_some() && given != &stored {
            return Err(UserError::usage(format!(
                "{flag} {} contradicts job {}, which was started with {}: resume it without {flag}, \
                 or discard it (`pgcopy jobs discard {}`) and start a new copy",
                given.as_deref().unwrap_or(""),
                job.job_id,
                stored.map(|s| format!("{flag} {s}")).unwrap_or_else(|| format!("no {flag}")),
                job.job_id
            ))
            .into());
        }
    }
    if job.source != source.redacted() {
        tracing::warn!(
            "job {} copied from {}; resuming from {}",
            job.job_id,
            job.source,
            source.redacted()
        );
    }
    let plan: Plan = serde_json::from_value(job.plan.clone()).map_err(|e| {
        UserError::failure(format!(
            "job {} has a plan this pgcopy cannot read: {e}",
            job.job_id
        ))
    })?;
    if plan.fk_strategy == FkStrategy::Replica && !ctx.replica {
        return Err(UserError::failure(format!(
            "job {} used replica mode, but this role may not SET session_replication_role: resume it as the role \
             that started it",
            job.job_id
        ))
        .into());
    }
    let opts = ctx.plan_options(
        job.options.get("include_tables").and_then(|v| v.as_str()),
        job.options.get("exclude_tables").and_then(|v| v.as_str()),
    )?;
    let opts = PlanOptions {
        fk_strategy: plan.fk_strategy,
        allow_empty_match: true,
        defer_indexes: job
            .options
            .get("defer_indexes")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        ..opts
    };
    // The stored plan is read back from the state schema: it may name only
    // what its own options select against today's catalogs.
    let (today, _) = ctx.routed_plan(&opts)?;
    let beyond = plan.beyond(&today);
    if !beyond.is_empty() {
        return Err(UserError::failure(format!(
            "job {}'s stored plan names what its options do not select today ({}): it was changed, or the \
             source's tables were; nothing was changed here: give the job up with `pgcopy jobs discard {}` and \
             start a new copy",
            job.job_id,
            beyond.join(", "),
            job.job_id
        ))
        .into());
    }
    // Whatever of the plan's FKs and indexes is present now (all, none, or those
    // an interrupted run restored) is dropped again; the saved ones stay saved.
    let (fks_to_drop, indexes_to_drop) = ctx.to_drop(&opts, &plan)?;
    let (mut problems, mut triggers) = ctx.check(&plan, &fks_to_drop);
    problems.extend(ctx.untrusted_code(dst, &plan).await?);
    if problems.is_empty() {
        problems.extend(ctx.unroutable_rows(dst, &plan).await?);
    }
    if !plan.large_objects.is_empty() {
        problems.extend(super::large_objects::preflight(ctx.src, dst).await?);
    }
    fail_preflight(&problems)?;
    // Triggers the first run disabled read as disabled now: their saved modes
    // are the ones to restore.
    for saved in &job.disabled_triggers {
        triggers.retain(|t| !(t.table == saved.table && t.trigger == saved.trigger));
        triggers.push(saved.clone());
    }
    if args.dry_run {
        summary::print_plan(&plan, source, dest, ctx.replica, args.json)?;
        return Ok(None);
    }
    ctx.lock_split_sources(&plan).await?;
    store.restart_job(dst, job.job_id, snapshot).await?;
    let done_chunks = store.done_chunks(dst, job.job_id).await?;
    tracing::info!(
        "resuming job {}: {} of {} chunks already copied; reading the rest from a new snapshot, so rows changed \
         on the source since the first run may be inconsistent across tables (use --snapshot to keep one)",
        job.job_id,
        done_chunks.len(),
        plan.total_chunks()
    );
    Ok(Some(Setup {
        job_id: job.job_id,
        load_as: ctx.load_as(&plan),
        plan,
        replica: ctx.replica,
        pin_schemas: ctx.dst_catalog.superuser,
        fks_pending: true,
        fks_to_drop,
        indexes_to_drop,
        triggers,
        truncated: job.truncated,
        done_chunks,
    }))
}
