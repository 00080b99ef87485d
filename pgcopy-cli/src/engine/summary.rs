//! What a run reports: per-table results as they finish, periodic progress
//! lines, the final summary (the `--dry-run` plan is `dry_run.rs`).

use super::shared::{Outcome, Shared};
use crate::format::{human_bytes, name_column_width};
use pgcopy_core::plan::Plan;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Results of one table so far.
#[derive(Debug, Clone, Default)]
pub struct TableSummary {
    /// Rows committed.
    pub rows: u64,
    /// Bytes streamed.
    pub bytes: u64,
    /// Wall-clock seconds from its first chunk's start to its last chunk's
    /// end in this run (its chunks overlap when several workers load it).
    pub secs: f64,
    /// When its first chunk of this run started, and its last one ended.
    span: Option<(std::time::Instant, std::time::Instant)>,
    chunks_done: usize,
    chunks_total: usize,
    errors: Vec<String>,
}

/// Results of the whole run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    tables: Vec<TableSummary>,
    /// Chunks this run committed: (table, chunk) -> (rows, bytes).
    committed: std::collections::HashMap<(usize, u32), (u64, u64)>,
    /// Deferred indexes that could not be rebuilt.
    pub index_failures: Vec<String>,
    /// Materialized views that could not be refreshed, each with why.
    pub matview_failures: Vec<String>,
    /// Large objects this run copied.
    pub large_objects: u64,
    /// Why the large objects were not all copied.
    pub large_object_failure: Option<String>,
    /// Why the triggers disabled for the load were not all put back.
    pub trigger_failure: Option<String>,
}

impl RunSummary {
    /// Chunks done, by this run or (resumed) an earlier one.
    pub fn chunks_done(&self) -> usize {
        self.tables.iter().map(|t| t.chunks_done).sum()
    }

    /// An empty summary for `plan`.
    pub fn new(plan: &Plan) -> Self {
        RunSummary {
            committed: std::collections::HashMap::new(),
            index_failures: Vec::new(),
            matview_failures: Vec::new(),
            large_objects: 0,
            large_object_failure: None,
            trigger_failure: None,
            tables: plan
                .tables
                .iter()
                .map(|t| TableSummary {
                    chunks_total: t.chunks.len(),
                    ..Default::default()
                })
                .collect(),
        }
    }

    /// Counts a chunk committed by an earlier run of a resumed job.
    pub fn add_done(&mut self, table: usize, rows: u64, bytes: u64) {
        let t = &mut self.tables[table];
        t.rows += rows;
        t.bytes += bytes;
        t.chunks_done += 1;
    }

    /// Adds a unit's outcome; returns the table's summary when this completed
    /// the table without errors.
    pub fn add(&mut self, o: &Outcome) -> Option<&TableSummary> {
        let t = &mut self.tables[o.unit.table];
        t.rows += o.rows;
        t.bytes += o.bytes;
        let end = o.started + Duration::from_secs_f64(o.secs);
        let (first, last) = t
            .span
            .map_or((o.started, end), |(f, l)| (f.min(o.started), l.max(end)));
        t.span = Some((first, last));
        t.secs = (last - first).as_secs_f64();
        t.chunks_done += 1;
        if let Some(e) = &o.error {
            t.errors.push(e.clone());
        } else {
            self.committed
                .insert((o.unit.table, o.unit.chunk.index), (o.rows, o.bytes));
        }
        (t.chunks_done == t.chunks_total && t.errors.is_empty()).then_some(&*t)
    }

    /// Whether this run committed that chunk.
    pub fn committed(&self, table: usize, chunk: u32) -> bool {
        self.committed.contains_key(&(table, chunk))
    }

    /// Takes back a chunk this run believed committed but the destination does
    /// not have (lost in a crash): it is copied again.
    pub fn forget(&mut self, table: usize, chunk: u32) {
        if let Some((rows, bytes)) = self.committed.remove(&(table, chunk)) {
            let t = &mut self.tables[table];
            t.rows -= rows;
            t.bytes -= bytes;
            t.chunks_done -= 1;
        }
    }

    /// Tables with at least one failed chunk.
    pub fn failed(&self) -> usize {
        self.tables.iter().filter(|t| !t.errors.is_empty()).count()
    }

    /// Whether table `i` of the plan was copied completely.
    pub fn table_ok(&self, i: usize) -> bool {
        self.tables
            .get(i)
            .is_some_and(|t| t.errors.is_empty() && t.chunks_done == t.chunks_total)
    }

    /// Rows committed so far.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    /// The state to show on the progress display: progress counted in estimated
    /// bytes (a finished chunk counts its whole share, a chunk in flight its
    /// streamed bytes up to 99% of its share), rows exact, and the expected rows
    /// corrected to the exact count as each table finishes.
    pub fn snapshot(&self, shared: &Shared) -> crate::progress::Snapshot {
        let plan = &shared.plan;
        let mut snap = crate::progress::Snapshot {
            tables: plan.tables.len(),
            workers: vec![None; shared.live.len()],
            after_units: shared.after.units(),
            ..Default::default()
        };
        let mut in_flight = vec![(0u64, 0u64); plan.tables.len()];
        let now_ms = shared.started.elapsed().as_millis() as u64;
        for (i, w) in shared.live.iter().enumerate() {
            let t = w.table.load(Ordering::Relaxed);
            if let Some(spec) = plan.tables.get(t) {
                let (rows, bytes) = (
                    w.rows.load(Ordering::Relaxed),
                    w.bytes.load(Ordering::Relaxed),
                );
                let share = spec.bytes / spec.chunks.len().max(1) as u64;
                in_flight[t].0 += rows;
                in_flight[t].1 += bytes.min(share * 99 / 100);
                snap.rows += rows;
                snap.bytes += bytes;
                let secs =
                    now_ms.saturating_sub(w.started_ms.load(Ordering::Relaxed)) as f64 / 1000.0;
                snap.workers[i] = Some(format!(
                    "{} chunk {}/{}: {} rows, {}, {:.1} MB/s",
                    spec.table.display_name(),
                    w.chunk.load(Ordering::Relaxed) + 1,
                    spec.chunks.len(),
                    rows,
                    human_bytes(bytes),
                    bytes as f64 / 1048576.0 / secs.max(0.001)
                ));
            }
        }
        for (i, (spec, t)) in plan.tables.iter().zip(&self.tables).enumerate() {
            let chunks = spec.chunks.len().max(1) as u64;
            snap.total_units += spec.bytes.max(1);
            snap.done_units += spec.bytes.max(1) * t.chunks_done as u64 / chunks + in_flight[i].1;
            snap.rows += t.rows;
            snap.bytes += t.bytes;
            let finished = t.chunks_done == t.chunks_total;
            if finished {
                snap.tables_done += 1;
            }
            snap.rows_expected += if finished {
                t.rows
            } else {
                spec.est_rows.max(t.rows + in_flight[i].0)
            };
        }
        snap
    }

    /// Logs one progress line (bytes are exact for committed chunks and live
    /// for chunks in flight).
    pub fn report_progress(&self, shared: &Shared) {
        // The same numbers as the progress bar.
        let snap = self.snapshot(shared);
        let secs = shared.started.elapsed().as_secs_f64().max(0.001);
        tracing::info!(
            "progress: {}/{} tables, {} rows, {} ({:.0}% of {}), {:.1} MB/s",
            snap.tables_done,
            snap.tables,
            snap.rows,
            human_bytes(snap.bytes),
            (100.0 * snap.done_units as f64 / snap.total_units.max(1) as f64).min(100.0),
            human_bytes(shared.plan.total_bytes()),
            snap.bytes as f64 / 1048576.0 / secs
        );
    }

    /// Prints the per-table summary to stdout.
    pub fn print(&self, plan: &Plan, elapsed: Duration) {
        // One write for the table, not one a line (a line-buffered stdout
        // made 200 system calls for 200 tables). A reader that went away
        // ends the output: what is left is not printed.
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let _ = self.write_to(&mut out, plan, elapsed);
        let _ = out.flush();
    }

    fn write_to(
        &self,
        out: &mut impl Write,
        plan: &Plan,
        elapsed: Duration,
    ) -> std::io::Result<()> {
        let name_w = name_column_width(plan.tables.iter().map(|t| t.table.display_name()));
        writeln!(
            out,
            "{:<name_w$}  {:>12}  {:>10}  {:>8}  {:>8}  status",
            "table", "rows", "size", "seconds", "MB/s"
        )?;
        let mut order: Vec<usize> = (0..plan.tables.len()).collect();
        order.sort_by(|a, b| plan.tables[*a].table.cmp(&plan.tables[*b].table));
        for i in order {
            let spec = &plan.tables[i];
            let t = &self.tables[i];
            let status = if !t.errors.is_empty() {
                format!("FAILED: {}", pgcopy_core::quote::printable(&t.errors[0]))
            } else if t.chunks_done < t.chunks_total {
                "not copied".to_string()
            } else {
                "ok".to_string()
            };
            writeln!(
                out,
                "{:<name_w$}  {:>12}  {:>10}  {:>8.1}  {:>8.1}  {status}",
                spec.table.display_name(),
                t.rows,
                human_bytes(t.bytes),
                t.secs,
                t.bytes as f64 / 1048576.0 / t.secs.max(0.001),
            )?;
        }
        let bytes: u64 = self.tables.iter().map(|t| t.bytes).sum();
        let secs = elapsed.as_secs_f64().max(0.001);
        writeln!(
            out,
            "total: {} tables, {} rows, {} in {:.1} s ({:.1} MB/s); {} failed",
            self.tables.len(),
            self.rows(),
            human_bytes(bytes),
            secs,
            bytes as f64 / 1048576.0 / secs,
            self.failed()
        )?;
        if self.large_objects > 0 {
            writeln!(out, "large objects: {} copied", self.large_objects)?;
        }
        writeln!(out, "{}", freeze_line(plan))?;
        Ok(())
    }
}

/// Which tables are loaded with `COPY FREEZE` (rows frozen as they are
/// written, so no later VACUUM rewrites them), and why not the others.
pub fn freeze_line(plan: &Plan) -> String {
    let mut why: std::collections::BTreeMap<&str, usize> = Default::default();
    for t in &plan.tables {
        if let Some(reason) = t.not_frozen_because() {
            *why.entry(reason).or_default() += 1;
        }
    }
    let frozen = plan.tables.len() - why.values().sum::<usize>();
    let mut line = format!("COPY FREEZE: {frozen} of {} tables", plan.tables.len());
    for (reason, n) in why {
        line.push_str(&format!("; not {n}: {reason}"));
    }
    line
}

/// The job this run works on, once it has one (0 before): a run that ends
/// in an error names it in its summary.
static JOB: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
/// Whether the engine wrote the `--summary-json` document itself.
static WRITTEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Records the job this run works on (see [`write_if_unwritten`]).
pub fn note_job(job_id: i64) {
    JOB.store(job_id, Ordering::Relaxed);
}

/// Writes the `--summary-json` document; an unwritable path is logged, the
/// run's outcome stays what it was.
pub fn write(path: &std::path::Path, doc: &serde_json::Value) {
    WRITTEN.store(true, Ordering::Relaxed);
    let text = serde_json::to_string_pretty(doc).unwrap_or_default() + "\n";
    if let Err(e) = std::fs::write(path, text) {
        tracing::error!("could not write the summary to {}: {e}", path.display());
    }
}

/// For a run that ended before the engine wrote its summary (a refused
/// preflight, a connection that failed, a stop during setup, `--dry-run`,
/// an error on the way): the same document with what is known, so a script
/// always finds one with the exit code and the error.
pub fn write_if_unwritten(
    path: &std::path::Path,
    exit_code: i32,
    error: Option<&str>,
    started: std::time::Instant,
) {
    if WRITTEN.load(Ordering::Relaxed) {
        return;
    }
    let job = JOB.load(Ordering::Relaxed);
    let state = match (exit_code, crate::stop::exit_code()) {
        (_, Some(_)) => "stopped",
        (0, None) => "dry_run",
        _ => "failed",
    };
    write(
        path,
        &serde_json::json!({
            "job_id": (job > 0).then_some(job),
            "state": state,
            "exit_code": exit_code,
            "error": error,
            "seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            "fk_strategy": null,
            "trust_owner": [],
            "totals": {"tables": 0, "failed_tables": 0, "rows": 0, "bytes": 0, "large_objects": 0},
            "foreign_keys_not_restored": [],
            "materialized_views_not_refreshed": [],
            "tables": [],
        }),
    );
}

/// The `--summary-json` document (shape documented in docs/copy.md).
pub fn summary_json(
    job_id: i64,
    state: &str,
    exit_code: i32,
    error: Option<&str>,
    shared: &Shared,
    run: Option<&RunSummary>,
    not_restored: Option<&Vec<crate::constraints::RestoreOutcome>>,
) -> serde_json::Value {
    let tables: Vec<serde_json::Value> = run
        .map(|r| {
            shared
                .plan
                .tables
                .iter()
                .zip(&r.tables)
                .map(|(spec, t)| {
                    serde_json::json!({
                        "schema": spec.table.schema,
                        "table": spec.table.name,
                        "rows": t.rows,
                        "bytes": t.bytes,
                        "seconds": (t.secs * 1000.0).round() / 1000.0,
                        "chunks": t.chunks_total,
                        "status": if !t.errors.is_empty() { "failed" }
                                  else if t.chunks_done < t.chunks_total { "not_copied" }
                                  else { "ok" },
                        "error": t.errors.first(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "job_id": job_id,
        "state": state,
        "exit_code": exit_code,
        "error": error,
        "seconds": (shared.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        "fk_strategy": shared.plan.fk_strategy.as_str(),
        "trust_owner": shared.scope.trust,
        "totals": {
            "tables": shared.plan.tables.len(),
            "failed_tables": run.map(|r| r.failed()).unwrap_or(0),
            "rows": run.map(|r| r.rows()).unwrap_or(0),
            "bytes": run.map(|r| r.tables.iter().map(|t| t.bytes).sum::<u64>()).unwrap_or(0),
            "large_objects": run.map(|r| r.large_objects).unwrap_or(0),
        },
        "foreign_keys_not_restored": not_restored.map(|v| v.iter().map(|o| serde_json::json!({
            "table": o.table.display_name(),
            "constraint": o.constraint,
            "state": o.state.as_str(),
            "error": o.error,
        })).collect::<Vec<_>>()).unwrap_or_default(),
        "materialized_views_not_refreshed": run.map(|r| r.matview_failures.clone()).unwrap_or_default(),
        "tables": tables,
    })
}
