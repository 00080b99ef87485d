//! Step `ForeignKeys`: the foreign keys (and NOT VALID CHECKs) the job
//! dropped, added back and validated as their tables' owners
//! (`crate::constraints::restore`), whatever happened before, unless a
//! stop was asked: they stay saved for the resume.
//!
//! A key between two plain tables need not wait for the whole load: once
//! both are loaded with their indexes back, [`early`] adds it and
//! validates it while the load goes on. What it does not restore (a
//! partitioned table's key, a failure, a stop) the step after the load
//! restores, or says why not: it reads every key still pending, so the
//! early restore never decides an outcome alone.

use crate::connect::Endpoint;
use crate::engine::after_load;
use crate::engine::shared::{reconnect_if_closed, Shared};
use crate::engine::tables_done::KeyNews;
use crate::error::UserError;
use crate::state::StateStore;
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::restore::SavedFk;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_postgres::Client;

/// While the load goes on: adds back and validates each foreign key the
/// job dropped as soon as both its tables are ready, as `ready` tells
/// (loaded with every deferred index back, and analyzed where the load
/// analyzes them). Only keys between plain tables (not partitioned, not
/// partitions, each loaded from one source table) are restored here. The adds run one at a time on one session
/// (an add locks both tables, so two at once could deadlock); each
/// validation once a slot of the budget is free, on a validation session
/// kept from one validation to the next.
/// Returns once every sender is gone and what it started is over; a
/// failure is left for the step after the load, which tries again and
/// says why.
pub async fn early(shared: Arc<Shared>, mut ready: mpsc::UnboundedReceiver<KeyNews>) {
    let keys = match early_candidates(&shared).await {
        Some((keys, adder)) if !keys.is_empty() => Some((keys, adder)),
        _ => None,
    };
    let Some((keys, mut adder)) = keys else {
        while ready.recv().await.is_some() {}
        return;
    };
    let mut loaded: HashSet<usize> = HashSet::new();
    let mut done: HashSet<QualifiedName> = HashSet::new();
    let mut started = vec![false; keys.len()];
    let mut validations = tokio::task::JoinSet::new();
    // Validation sessions, kept for the next validation (each new one
    // costs both sides a SCRAM exchange).
    let idle: Arc<std::sync::Mutex<Vec<crate::connect::Session>>> = Arc::default();
    let mut back = 0;
    while let Some(news) = ready.recv().await {
        if crate::stop::requested() {
            continue;
        }
        let t = match news {
            KeyNews::Loaded(t) => {
                loaded.insert(t);
                t
            }
            KeyNews::Analyzed(t) => t,
        };
        // Ready once loaded with its indexes, and analyzed where it is
        // analyzed during the load: a validation planned over a table
        // without statistics can take a nested loop over millions of rows.
        let analyzed = !shared.analyze.eligible(t) || shared.analyze.is_analyzed(t);
        match (loaded.contains(&t), analyzed, shared.plan.tables.get(t)) {
            (true, true, Some(spec)) => done.insert(spec.table.clone()),
            _ => continue,
        };
        for (i, fk) in keys.iter().enumerate() {
            if started[i] || !done.contains(&fk.table) || !done.contains(&fk.referenced) {
                continue;
            }
            started[i] = true;
            if crate::stop::requested() || !reconnect_if_closed(&mut adder, &shared.dest).await {
                break;
            }
            match crate::constraints::add_one(&mut adder, &shared.store, &shared.scope, fk).await {
                Ok((_, None)) => back += 1,
                Ok((_, Some(unit))) => {
                    crate::failpoint::hit("after-early-fk-add").await;
                    let (shared, idle) = (Arc::clone(&shared), Arc::clone(&idle));
                    validations.spawn(async move { validate_early(&shared, &idle, &unit).await });
                }
                Err(e) => tracing::debug!(
                    "foreign key {} on {} not added while the load went on ({e:#}): tried again after it",
                    fk.name,
                    fk.table.display_name()
                ),
            }
        }
    }
    while let Some(ok) = validations.join_next().await {
        back += usize::from(ok.unwrap_or(false));
    }
    if back > 0 {
        tracing::info!(
            "restored {} while the load went on",
            crate::format::count(back, "foreign key", "foreign keys")
        );
    }
}

/// The keys [`early`] may restore, with the session that adds them; `None`
/// where there is nothing to restore early (replica mode, a stop, no
/// session).
async fn early_candidates(shared: &Shared) -> Option<(Vec<SavedFk>, Client)> {
    // `PGCOPY_EARLY_FOREIGN_KEYS=off`: every key after the load, as before
    // (tests of that step's cuts, and to measure what this saves).
    let off = std::env::var("PGCOPY_EARLY_FOREIGN_KEYS").is_ok_and(|v| v == "off");
    if off || shared.plan.replica_mode() || crate::stop::requested() {
        return None;
    }
    // Plain tables: loaded into themselves, from themselves alone.
    let mut loads: HashMap<&QualifiedName, usize> = HashMap::new();
    for t in &shared.plan.tables {
        *loads
            .entry(t.load_into.as_ref().unwrap_or(&t.table))
            .or_default() += 1;
    }
    let plain: HashSet<&QualifiedName> = shared
        .plan
        .tables
        .iter()
        .filter(|t| {
            t.load_into.is_none() && t.partition_of.is_none() && loads.get(&t.table) == Some(&1)
        })
        .map(|t| &t.table)
        .collect();
    let adder = shared.dest.connect("foreign key adder").await.ok()?;
    let rows = adder
        .query(
            &shared.store.sql(pgcopy_core::state_sql::PENDING_FKS),
            &[&shared.scope.job],
        )
        .await
        .ok()?;
    let keys = rows
        .iter()
        .filter_map(|r| pgcopy_core::rows::saved_fk(&crate::rows::PgRow(r)).ok())
        .filter(|fk| {
            fk.clone_names.is_empty() && plain.contains(&fk.table) && plain.contains(&fk.referenced)
        })
        .collect();
    Some((keys, adder))
}

/// Validates a key added NOT VALID (its validation `unit`) on a kept session of `idle` (or a new
/// one, kept after), once a slot of the budget is free; true when it is
/// back valid. A failure is recorded
/// with the key, which the step after the load validates again.
async fn validate_early(
    shared: &Shared,
    idle: &std::sync::Mutex<Vec<crate::connect::Session>>,
    unit: &pgcopy_core::restore::Unit,
) -> bool {
    use crate::lock::Locked;
    let Ok(_slot) = Arc::clone(&shared.budget).acquire_owned().await else {
        return false;
    };
    if crate::stop::requested() {
        return false;
    }
    crate::failpoint::delay("fk-validation").await;
    let kept = idle.locked().pop().filter(|s| !s.client.is_closed());
    let mut session = match kept {
        Some(s) => s,
        None => match shared.dest.connect_session("FK validation").await {
            // A validation's check hashes with maintenance_work_mem.
            Ok(s) => {
                let settings = pgcopy_core::maintenance::settings(shared.parallel, None);
                if s.client.batch_execute(&settings).await.is_err() {
                    return false;
                }
                s
            }
            Err(_) => return false,
        },
    };
    let valid = {
        let _cancel = crate::stop::on_stop(session.cancel.clone());
        crate::constraints::validate_one(&mut session.client, unit)
            .await
            .is_none()
    };
    idle.locked().push(session);
    valid
}

/// Restores the job's dropped FKs; returns those not back as they were. A second
/// Ctrl-C stops restoring, leaving the rest saved.
pub async fn restore(
    dst: &mut Client,
    store: &StateStore,
    scope: &crate::scope::Scope,
    dest: &Endpoint,
    parallel: usize,
    any: bool,
    progress: &after_load::AfterLoad,
) -> anyhow::Result<Vec<crate::constraints::RestoreOutcome>> {
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
        r = crate::constraints::restore(dst, dest, parallel, store, scope, Some(progress)) => r?,
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
