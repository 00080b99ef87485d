//! After the load: foreign keys restored, sequences set, materialized views
//! refreshed, tables analyzed.

use super::*;

/// What to do about a failed REFRESH MATERIALIZED VIEW. A name that does not
/// resolve is the usual cause: PostgreSQL 17 and later refresh with
/// `search_path = pg_catalog, pg_temp` whoever runs it (and pgcopy's sessions
/// pin the same path), so what the view's query calls must name its objects
/// with their schema; REFRESH by hand would fail the same way.
fn refresh_hint(e: &tokio_postgres::Error) -> &'static str {
    use tokio_postgres::error::SqlState;
    match e.code() {
        Some(c)
            if *c == SqlState::UNDEFINED_TABLE
                || *c == SqlState::UNDEFINED_FUNCTION
                || *c == SqlState::UNDEFINED_OBJECT =>
        {
            "a name in the view's query, or in a function it calls, is written without its schema, and \
             refreshes run with search_path = pg_catalog, pg_temp (as PostgreSQL 17 and later always do): \
             write the schema into those names (or give the function SET search_path), then run REFRESH \
             MATERIALIZED VIEW"
        }
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => {
            "the view's owner lacks a right its query needs: grant it, then run REFRESH MATERIALIZED VIEW"
        }
        _ => "fix the cause above, then run REFRESH MATERIALIZED VIEW on it",
    }
}

/// After the data: sequences, materialized views, ANALYZE; returns the
/// materialized views that could not be refreshed, each with why.
pub(super) async fn finish(
    shared: &Shared,
    src: &Client,
    dst: &Client,
    analyze: bool,
    summary: &summary::RunSummary,
) -> anyhow::Result<Vec<String>> {
    let plan = &shared.plan;
    shared
        .enter(dst, Phase::Sequences, plan.sequences.len())
        .await;
    // Sequence values are read at the end of the copy, after its rows.
    for s in &plan.sequences {
        shared.after.advance();
        let source = match crate::introspect::read_sequence(src, &s.sequence).await {
            Ok(state) => state,
            Err(why) => {
                // The snapshot transaction may be aborted now; later reads
                // would fail too.
                return Err(UserError::failure(format!(
                    "could not read sequence {} on the source: {why}",
                    s.sequence.display_name()
                ))
                .into());
            }
        };
        let dest = crate::introspect::read_sequence(dst, &s.sequence)
            .await
            .map_err(|why| anyhow::anyhow!("sequence {}: {why}", s.sequence.display_name()))?;
        // A sequence a table the copy leaves alone also uses only moves
        // forward.
        if s.only_forward
            && !sql::sequence_ahead(
                dest.increment,
                source.last,
                source.called,
                dest.last,
                dest.called,
            )
        {
            continue;
        }
        dst.batch_execute(&sql::set_sequence(dest.oid, source.last, source.called))
            .await
            .pg_context(|| format!("setting sequence {}", s.sequence.display_name()))?;
    }
    if !plan.sequences.is_empty() {
        tracing::info!(
            "set {}",
            crate::format::count(plan.sequences.len(), "sequence", "sequences")
        );
    }
    let mut matview_failures = Vec::new();
    if !plan.matviews.is_empty() {
        shared
            .enter(dst, Phase::MaterializedViews, plan.matviews.len())
            .await;
    }
    for m in &plan.matviews {
        if crate::stop::requested() {
            return Ok(matview_failures);
        }
        shared.after.advance();
        if let Some(roles) = shared.matview_refusals.get(m) {
            let names: Vec<&str> = roles.iter().map(String::as_str).collect();
            let why = format!(
                "{}: not refreshed: its query would run code of {} with the rights of its owner (it calls it, or \
                 planning it over the tables it reads would); refresh it yourself, or add {} if you trust that \
                 code",
                m.display_name(),
                names.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", "),
                pgcopy_core::trust::TrustedOwners::flags(&names)
            );
            tracing::error!("materialized view {why}");
            matview_failures.push(why);
            continue;
        }
        match dst.batch_execute(&sql::refresh_matview(m)).await {
            Ok(()) => tracing::info!("refreshed materialized view {}", m.display_name()),
            Err(e) => {
                let why = format!(
                    "{}: {}; {}",
                    m.display_name(),
                    pg_message(&e),
                    refresh_hint(&e)
                );
                tracing::error!("could not refresh materialized view {why}");
                matview_failures.push(why);
            }
        }
    }
    if analyze && !crate::stop::requested() {
        let rest =
            plan.analyze_after_load(|i| summary.table_ok(i), |i| shared.analyze.is_analyzed(i));
        let early = plan
            .tables
            .iter()
            .enumerate()
            .filter(|(i, _)| shared.analyze.is_analyzed(*i))
            .count();
        // The tables analyzed during the load count as done.
        shared.enter(dst, Phase::Analyze, early + rest.len()).await;
        shared.after.counter().fetch_add(early, Ordering::Relaxed);
        if !rest.is_empty() {
            let started = Instant::now();
            let mut failed = 0;
            if let Err(e) = dst.batch_execute(&sql::analyze(&rest)).await {
                tracing::debug!(
                    "ANALYZE of {} tables failed: {}",
                    rest.len(),
                    pg_message(&e)
                );
                failed = analyze_one_by_one(dst, plan, &rest).await;
            }
            shared
                .after
                .counter()
                .fetch_add(rest.len(), Ordering::Relaxed);
            tracing::info!(
                "analyzed {} after the load in {:.1} s ({early} during it)",
                crate::format::count(rest.len() - failed, "table", "tables"),
                started.elapsed().as_secs_f64()
            );
        } else if early > 0 {
            tracing::info!(
                "analyzed {} during the load",
                crate::format::count(early, "table", "tables")
            );
        }
    }
    Ok(matview_failures)
}

/// After a combined ANALYZE failed: each table alone, so one failure costs
/// only its own statistics. A partitioned table that cannot be analyzed
/// through its root (a foreign partition without a user mapping is sampled
/// too) gets its copied partitions analyzed instead. The data is in either
/// way, so a failure is a warning, not the run's. Returns how many tables got
/// no statistics at all.
async fn analyze_one_by_one(dst: &Client, plan: &Plan, tables: &[QualifiedName]) -> usize {
    let mut failed = 0;
    for t in tables {
        let Err(e) = dst.batch_execute(&sql::analyze([t])).await else {
            continue;
        };
        let partitions: Vec<&QualifiedName> = plan
            .tables
            .iter()
            .filter(|s| s.partition_of.as_ref() == Some(t))
            .map(|s| &s.table)
            .collect();
        let first = pg_message(&e);
        let fallback = match partitions.is_empty() {
            true => Some(first.clone()),
            false => dst
                .batch_execute(&sql::analyze(partitions))
                .await
                .err()
                .map(|f| pg_message(&f)),
        };
        match fallback {
            None => tracing::warn!(
                "could not analyze {} through its partitions' root ({}); analyzed its copied partitions instead",
                t.display_name(),
                first
            ),
            Some(f) => {
                failed += 1;
                tracing::warn!(
                    "could not analyze {}: {f}; run ANALYZE on it once that is fixed",
                    t.display_name()
                )
            }
        }
    }
    failed
}

/// Restores the job's dropped FKs; returns those not back as they were. A second
/// Ctrl-C stops restoring, leaving the rest saved.
pub(super) async fn restore_fks(
    dst: &mut Client,
    store: &StateStore,
    scope: &crate::scope::Scope,
    dest: &Endpoint,
    parallel: usize,
    any: bool,
    progress: &after_progress::AfterLoad,
) -> anyhow::Result<Vec<constraints::RestoreOutcome>> {
    if !any || crate::stop::requested() {
        return Ok(Vec::new());
    }
    let job_id = scope.job.unwrap_or_default();
    let mut tries = 0;
    while !reconnect_if_closed(dst, dest).await {
        tries += 1;
        if tries > 20 {
            return Err(UserError::failure(format!(
                "the destination is unreachable: the foreign keys job {job_id} dropped stay saved in {}.saved_fks; \
                 run `pgcopy restore-fks` when it is back",
                store.schema()
            ))
            .into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let started = Instant::now();
    let outcomes = tokio::select! {
        r = constraints::restore(dst, dest, parallel, store, scope, Some(progress)) => r?,
        // The restore asks before each key, and what runs is cancelled; the
        // rest stay saved, for the resume.
        _ = crate::stop::wait() => return Ok(Vec::new()),
    };
    let total = outcomes.len();
    let bad: Vec<_> = outcomes.into_iter().filter(|o| !o.is_ok()).collect();
    tracing::info!(
        "restored {} foreign keys in {:.1} s{}",
        total - bad.len(),
        started.elapsed().as_secs_f64(),
        if bad.is_empty() {
            String::new()
        } else {
            format!(", {} not as before (see above)", bad.len())
        }
    );
    Ok(bad)
}
