//! `pgcopy verify`: do source and destination hold the same rows? Per table, row
//! counts (fast), or with `--exact` an order-independent checksum computed on
//! each server, the source read from one snapshot, tables checked in parallel.

use crate::cli::VerifyArgs;
use crate::conditions::ConditionEnv;
use crate::connect::Endpoint;
use crate::error::{pg_message, PgContext, UserError};
use crate::exit;
use crate::introspect;
use crate::lock::Locked;
use pgcopy_core::catalog::Catalog;
use pgcopy_core::options::{CopyOptions, PlanSetting};
use pgcopy_core::plan::{plan, Plan, PlanOptions};
use pgcopy_core::quote::{quote_literal, QualifiedName};
use pgcopy_core::sql;
use pgcopy_core::trust::TrustedOwners;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio_postgres::Client;

mod report;
use report::{report, SequenceCheck, TableCheck};

/// One relation read, with its OID (`introspect::lock_to_read`) and whether
/// the read is of it alone (`ONLY`) or of its partitions too.
#[derive(Clone)]
struct Read {
    table: QualifiedName,
    oid: u32,
    only: bool,
    /// The rows compared (`--where`), over `subset::ROW_ALIAS`.
    rows_where: Option<String>,
    /// Columns read as an expression's value (`--transform`).
    transforms: std::collections::BTreeMap<String, String>,
}

/// What to compare: the source tables whose rows the destination holds in
/// one table (one, unless the destination partitions them differently), the
/// columns compared.
struct TableToCheck {
    source: Vec<Read>,
    dest: Read,
    columns: Vec<String>,
}

/// The plan's sequences on both sides. Sequences are not transactional: each
/// side's value is read now, not as of the source's snapshot.
async fn sequences(
    src: &Client,
    dst: &Client,
    plan: &pgcopy_core::plan::Plan,
) -> anyhow::Result<Vec<SequenceCheck>> {
    use crate::introspect::read_sequence;
    let mut out = Vec::new();
    for s in &plan.sequences {
        let name = s.sequence.display_name();
        let a = read_sequence(src, &s.sequence)
            .await
            .map_err(|why| UserError::failure(format!("sequence {name} on the source: {why}")))?;
        let b = read_sequence(dst, &s.sequence).await.map_err(|why| {
            UserError::failure(format!("sequence {name} on the destination: {why}"))
        })?;
        let same = (a.last, a.called) == (b.last, b.called);
        let matches = same
            || (s.only_forward
                && sql::sequence_ahead(b.increment, b.last, b.called, a.last, a.called));
        out.push(SequenceCheck {
            sequence: name,
            source: (a.last, a.called),
            dest: (b.last, b.called),
            matches,
        });
    }
    Ok(out)
}

/// Rows and (with `exact`) the checksum of `reads` together: checksums are
/// sums, so they add up across tables.
async fn query(
    c: &Client,
    reads: &[Read],
    columns: &[String],
    exact: bool,
) -> anyhow::Result<(i64, Option<String>)> {
    let cols: Vec<&str> = columns.iter().map(String::as_str).collect();
    let (mut rows, mut sum) = (0i64, 0i128);
    for r in reads {
        let mut query = match exact {
            true => sql::table_checksum_of(
                &r.table,
                &sql::Rows {
                    condition: None,
                    transforms: Some(&r.transforms),
                }
                .select_list(&cols),
                r.only,
            ),
            false => sql::count_rows(&r.table, r.only),
        };
        // Both end `FROM [ONLY] table`.
        if let Some(condition) = &r.rows_where {
            query.push_str(&format!(
                " {} WHERE {condition}",
                pgcopy_core::subset::ROW_ALIAS
            ));
        }
        let row = c
            .query_one(&query, &[])
            .await
            .pg_context(|| format!("reading {}", r.table.display_name()))?;
        rows += row.try_get::<_, i64>(0)?;
        if exact {
            let part: String = row.try_get(1)?;
            sum += part
                .parse::<i128>()
                .map_err(|e| anyhow::anyhow!("reading the checksum {part:?}: {e}"))?;
        }
    }
    Ok((rows, exact.then(|| sum.to_string())))
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
        .try_get(0)?;
    let (catalog, dst_catalog) = tokio::try_join!(
        introspect::read_catalog(&src, "source"),
        introspect::read_catalog(&dst, "destination"),
    )?;
    let sides = Sides {
        source: &catalog,
        dest: &dst_catalog,
    };
    let (p, trust, conditions) = plan_checks(&args, &source, &src, sides).await?;
    refuse_what_cannot_be_counted(&p, sides, &trust)?;
    let work = Arc::new(Mutex::new(work_list(&p, sides)));
    let results: Arc<Mutex<Vec<TableCheck>>> = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for i in 0..args.parallel.max(1) {
        let worker = Worker {
            number: i,
            source: source.clone(),
            dest: dest.clone(),
            snapshot: snapshot.clone(),
            conditions: conditions.clone(),
            exact: args.exact,
        };
        handles.push(tokio::spawn(worker.run(work.clone(), results.clone())));
    }
    for h in handles {
        h.await
            .map_err(|e| anyhow::anyhow!("a verify worker crashed: {e}"))??;
    }
    let mut checks = results.locked().clone();
    checks.sort_by(|a, b| a.table.cmp(&b.table));
    let differ = checks.iter().filter(|c| !c.matches).count();
    let seqs = sequences(&src, &dst, &p).await?;
    let seqs_differ = seqs.iter().filter(|s| !s.matches).count();
    report(&args, &checks, &seqs)?;
    Ok(if differ == 0 && seqs_differ == 0 {
        exit::OK
    } else {
        exit::FAILURE
    })
}

/// The catalogs of both sides.
#[derive(Clone, Copy)]
struct Sides<'a> {
    source: &'a Catalog,
    dest: &'a Catalog,
}

/// The plan of what to compare, as `pgcopy copy` would plan the copy (the
/// same selection, `--where` and `--transform`), with the conditions read
/// as psql reads them for this role; refused when a table is missing on the
/// destination.
async fn plan_checks(
    args: &VerifyArgs,
    source: &Endpoint,
    src: &Client,
    sides: Sides<'_>,
) -> anyhow::Result<(Plan, TrustedOwners, Option<ConditionEnv>)> {
    let (catalog, dst_catalog) = (sides.source, sides.dest);
    // The selection as the copy's, every table whole (no chunks).
    let options = CopyOptions {
        split_larger_than: 0,
        ..crate::engine::config::selection(
            args.include_tables.clone(),
            args.exclude_tables.clone(),
            args.subset.clone(),
            &args.trust,
        )
    };
    let opts = options
        .plan_options(&PlanSetting {
            state_schema: &args.state_schema,
            ..PlanSetting::default()
        })
        .map_err(|e| UserError::usage(e.to_string()))?;
    if let Some(problem) =
        crate::parse::expressions_alone(&opts.row_filters, &opts.transforms).first()
    {
        return Err(UserError::usage(problem.to_string()).into());
    }
    let mut p = plan(catalog, &opts).map_err(|e| UserError::usage(e.to_string()))?;
    let routing = pgcopy_core::route::route(&mut p, catalog, dst_catalog);
    if let Some(problem) = routing.first() {
        return Err(UserError::failure(problem.to_string()).into());
    }
    let conditions = match opts.row_filters.is_empty() && opts.transforms.is_empty() {
        true => None,
        false => Some(read_conditions(&opts, &mut p, source, src, sides).await?),
    };

    let missing: Vec<String> = p
        .tables
        .iter()
        .filter(|t| dst_catalog.table(t.dest_table()).is_none())
        .map(|t| t.table.display_name())
        .collect();
    if !missing.is_empty() {
        return Err(UserError::failure(format!(
            "these tables do not exist on the destination: {}",
            missing.join(", ")
        ))
        .into());
    }
    Ok((p, opts.trust, conditions))
}

/// Conditions and expressions read the source as psql would for this role
/// (`crate::conditions`), and `p` then runs them as written out, every name
/// with its schema; the destination prints with the same settings, so rows
/// compare alike.
async fn read_conditions(
    opts: &PlanOptions,
    p: &mut Plan,
    source: &Endpoint,
    src: &Client,
    sides: Sides<'_>,
) -> anyhow::Result<ConditionEnv> {
    let (catalog, dst_catalog) = (sides.source, sides.dest);
    let copied: Vec<QualifiedName> = p.tables.iter().map(|t| t.table.clone()).collect();
    let written = crate::conditions::written(catalog, &copied, &opts.row_filters, &opts.transforms);
    let resolved =
        crate::conditions::resolve(source, src, &written, &opts.trust, &catalog.current_user)
            .await?;
    let problems: Vec<_> = resolved
        .problems
        .iter()
        .chain(&resolved.fails)
        .cloned()
        .collect();
    if let Some(report) = pgcopy_core::preflight::report(&problems) {
        return Err(UserError::failure(report).into());
    }
    if resolved.env.written_out {
        let mut opts = opts.clone();
        crate::conditions::substitute(
            &written,
            &resolved.written_out,
            &mut opts.row_filters,
            &mut opts.transforms,
        );
        let mut written_plan = plan(catalog, &opts).map_err(|e| UserError::usage(e.to_string()))?;
        pgcopy_core::route::route(&mut written_plan, catalog, dst_catalog);
        for spec in p.tables.iter_mut() {
            if let Some(w) = written_plan.tables.iter().find(|w| w.table == spec.table) {
                spec.rows_where = w.rows_where.clone();
                spec.transforms = w.transforms.clone();
            }
        }
    }
    Ok(resolved.env)
}

/// Counting plans a query over each table: not over one where that could
/// run code of a role this one does not trust (refused, naming the flag).
fn refuse_what_cannot_be_counted(
    p: &Plan,
    sides: Sides<'_>,
    trust: &TrustedOwners,
) -> anyhow::Result<()> {
    let (catalog, dst_catalog) = (sides.source, sides.dest);
    // Counting plans a query over each table: not over one where that could
    // run code of a role this one does not trust.
    let unplannable = |c: &pgcopy_core::catalog::Catalog, t: &QualifiedName| -> Vec<String> {
        let mut rels: Vec<&pgcopy_core::catalog::Table> = c.table(t).into_iter().collect();
        rels.extend(c.descendants(t));
        rels.extend(c.ancestors(t).iter().filter_map(|a| c.table(a)));
        rels.iter()
            .flat_map(|r| r.planner_untrusted(trust, &c.current_user))
            .map(str::to_string)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let mut refused: Vec<String> = Vec::new();
    let mut roles: std::collections::BTreeSet<String> = Default::default();
    for t in &p.tables {
        for (c, name, side) in [
            (&catalog, &t.table, "source"),
            (&dst_catalog, t.dest_table(), "destination"),
        ] {
            let r = unplannable(c, name);
            if !r.is_empty() {
                refused.push(format!(
                    "{} on the {side} ({})",
                    name.display_name(),
                    r.join(", ")
                ));
                roles.extend(r);
            }
        }
    }
    if !refused.is_empty() {
        refused.dedup();
        let names: Vec<&str> = roles.iter().map(String::as_str).collect();
        return Err(UserError::failure(format!(
            "verify counts rows with queries, and planning a query over these tables could run code of roles \
             this one does not trust, with its rights: {}; if you trust them, add {} (as pg_restore would run \
             their code), or verify as the tables' owner",
            refused.join(", "),
            pgcopy_core::trust::TrustedOwners::flags(&names)
        ))
        .into());
    }
    Ok(())
}

/// What each worker compares: a table with its destination's, or the tables
/// the destination partitions differently with the table their rows went
/// into, all of them together.
fn work_list(p: &Plan, sides: Sides<'_>) -> VecDeque<TableToCheck> {
    let (catalog, dst_catalog) = (sides.source, sides.dest);
    let read = |c: &pgcopy_core::catalog::Catalog, t: &QualifiedName, only| Read {
        table: t.clone(),
        oid: c.table(t).map_or(0, |t| t.oid),
        only,
        rows_where: None,
        transforms: Default::default(),
    };
    // Tables the destination partitions differently are compared through
    // the table their rows went into, all of them together.
    let mut work: VecDeque<TableToCheck> = VecDeque::new();
    for t in &p.tables {
        let source = Read {
            rows_where: t.rows_where.clone(),
            transforms: t.transforms.clone(),
            ..read(catalog, &t.table, true)
        };
        match &t.load_into {
            None => work.push_back(TableToCheck {
                source: vec![source],
                dest: read(dst_catalog, &t.table, true),
                columns: t.columns.clone(),
            }),
            Some(into) => match work.iter_mut().find(|w| &w.dest.table == into) {
                Some(w) => w.source.push(source),
                None => work.push_back(TableToCheck {
                    source: vec![source],
                    dest: read(dst_catalog, into, false),
                    columns: t.columns.clone(),
                }),
            },
        }
    }
    work
}

/// One verify session pair: the source in the run's snapshot, both with the
/// same output settings (and the conditions' settings), comparing tables
/// from the shared list until it is empty.
struct Worker {
    number: u32,
    source: Endpoint,
    dest: Endpoint,
    snapshot: String,
    conditions: Option<ConditionEnv>,
    exact: bool,
}

impl Worker {
    async fn run(
        self,
        work: Arc<Mutex<VecDeque<TableToCheck>>>,
        results: Arc<Mutex<Vec<TableCheck>>>,
    ) -> anyhow::Result<()> {
        let Worker {
            number: i,
            source,
            dest,
            snapshot,
            conditions,
            exact,
        } = self;
        let s = source.connect(&format!("verify {i}")).await?;
        let d = dest.connect(&format!("verify {i}")).await?;
        let (src_env, dst_env) = match &conditions {
            Some(env) => (
                format!("; {}", env.settings_sql(false)),
                format!("; {}", env.peer_settings_sql()),
            ),
            None => (String::new(), String::new()),
        };
        s.batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}; {}{src_env}",
            quote_literal(&snapshot),
            sql::STABLE_TEXT_SETTINGS
        ))
        .await
        .map_err(|e| {
            UserError::failure(format!("importing the source snapshot: {}", pg_message(&e)))
        })?;
        d.batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; {}{dst_env}",
            sql::STABLE_TEXT_SETTINGS
        ))
        .await?;
        loop {
            let Some(TableToCheck {
                source,
                dest,
                columns: cols,
            }) = work.locked().pop_front()
            else {
                break;
            };
            for r in &source {
                introspect::lock_to_read(&s, &r.table, r.oid).await?;
            }
            introspect::lock_to_read(&d, &dest.table, dest.oid).await?;
            let (a, b) = tokio::join!(
                query(&s, &source, &cols, exact),
                query(&d, std::slice::from_ref(&dest), &cols, exact)
            );
            let ((sr, sc), (dr, dc)) = (a?, b?);
            results.locked().push(TableCheck {
                table: dest.table.display_name(),
                matches: sr == dr && sc == dc,
                source_rows: sr,
                dest_rows: dr,
                source_checksum: sc,
                dest_checksum: dc,
            });
        }
        Ok(())
    }
}
