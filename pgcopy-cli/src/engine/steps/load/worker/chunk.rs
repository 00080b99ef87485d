//! One chunk through a worker: the destination transaction that locks and
//! checks its table, takes its owner's role, and loads the source's COPY
//! stream into it, counted and marked done before it commits.

use super::flight::{Flight, FlightError};
use super::opening::{copy_statements, first_number, open_transaction, opening_flight};
use super::pipe::{pipe, source_rows, Piped};
use super::*;
use crate::engine::shared::WorkerLive;
use crate::lock::Locked;

/// Copies one chunk in one destination transaction; returns rows and bytes.
///
/// The transaction's `BEGIN` goes out in the same pipeline as the load's
/// first statements, so it costs no round trip of its own; on any error it
/// is rolled back here (a COPY left unfinished was failed by its dropped
/// sink first).
pub(super) async fn copy_unit(
    shared: &Shared,
    c: &mut Conns,
    unit: &Unit,
    live: &WorkerLive,
    upcoming: &mut Option<Unit>,
) -> Result<(u64, u64), ChunkError> {
    let result = load_chunk(shared, c, unit, live, upcoming).await;
    if result.is_err() && !c.dst.is_closed() {
        let _ = c.dst.batch_execute("ROLLBACK").await;
    }
    result
}

/// Round trips on the destination, for a chunk read whole: one to begin,
/// lock and check, take the owner's role, count the rows inserted so far
/// and start the COPY (the source's COPY starts at the same time); one to
/// end the COPY, reset the role, mark the chunk done, have the server check
/// its count against the source's and commit. Where the server cannot
/// count, the client compares the counts and a third commits. The COPY
/// statements were prepared
/// while the unit before ended: the next unit is taken from the queue
/// (into `upcoming`) as this one's rows end, and its statements prepared
/// on both sides alongside this one's last steps.
async fn load_chunk(
    shared: &Shared,
    c: &mut Conns,
    unit: &Unit,
    live: &WorkerLive,
    upcoming: &mut Option<Unit>,
) -> Result<(u64, u64), ChunkError> {
    let prepared = c
        .prepared
        .take()
        .filter(|p| p.unit == (unit.table, unit.chunk.index));
    if c.retired.len() >= RETIRE_AFTER {
        // Their Close messages go out with this unit's first statements.
        c.retired.clear();
    }
    let spec = &shared.plan.tables[unit.table];
    // Left over from an earlier COPY that failed before its count was read.
    let _ = c.src.stats.take_copy_rows();
    // Rows so far: one CopyData message each, counted by the socket from
    // before the COPY starts (its first rows may arrive with its answer).
    let messages_before = c.src.stats.messages();
    let started = start(shared, c, unit, prepared.as_ref()).await?;
    let sink = started.sink;
    futures_util::pin_mut!(sink);
    let (bytes, read) = forward(
        shared,
        c,
        spec,
        started.stream,
        sink.as_mut(),
        live,
        messages_before,
    )
    .await?;
    let loaded = Loaded {
        read,
        bytes,
        counted_before: started.counted_before,
        owner: started.owner,
    };
    let written = finish(shared, c, unit, sink.as_mut(), loaded, upcoming, live).await?;
    c.retired.extend(prepared);
    Ok((written, bytes))
}

/// A chunk's COPY under way on both sides, from [`start`].
struct Started<'a> {
    /// The destination's `COPY ... FROM STDIN`.
    sink: tokio_postgres::CopyInSink<Bytes>,
    /// The source's `COPY ... TO STDOUT`.
    stream: tokio_postgres::CopyOutStream,
    /// Where the server counts: the table's OID and the rows this
    /// transaction had inserted before the COPY.
    counted_before: Option<(u32, i64)>,
    /// The table's owner, whose role the load took (reset at its end).
    owner: Option<&'a String>,
}

/// Opens the destination transaction (lock and check, the owner's role,
/// the truncation of a table loaded with FREEZE, the count so far) with
/// its COPY, and starts the source's COPY at the same time. A small table
/// costs round trips more than bytes: each side's statements go out
/// together (tokio-postgres pipelines requests polled together, in
/// order), and both sides start at once.
async fn start<'a>(
    shared: &'a Shared,
    c: &Conns,
    unit: &Unit,
    prepared: Option<&PreparedCopy>,
) -> Result<Started<'a>, ChunkError> {
    let spec = &shared.plan.tables[unit.table];
    let tx = &c.dst;
    let freeze = spec.truncate_in_load();
    let src = &c.src.client;
    let truncate = sql::truncate([&sql::TruncateTarget::only(&spec.table)]);
    let (copy_in, copy_out) = copy_statements(shared, unit);
    // A table another role owns is loaded as that owner: what its inserts
    // run (CHECK constraints, domain checks, generated columns, index
    // expressions) gets the owner's rights, never this role's. The role is
    // set for the load and reset before the state row is written.
    let target = spec.dest_table();
    let load_as = shared.load_as.get(target);
    let owner = load_as.and_then(|l| l.owner.as_ref());
    let guards: Vec<(
        &pgcopy_core::quote::QualifiedName,
        &crate::engine::guard::Guard,
    )> = load_as
        .map(|l| l.guards.iter().map(|(n, g)| (n, g)).collect())
        .unwrap_or_default();
    // Where the server can count the rows this transaction inserts, it
    // counts them before the COPY and checks the difference after it, so
    // the COMMIT goes out with the COPY's end instead of after its answer.
    let counted = shared
        .counted_on_server
        .get(target)
        .copied()
        .filter(|_| c.track_counts);
    let opening = opening_flight(owner, freeze.then_some(truncate), counted);
    let dst_start = async {
        let (opened, sink) = tokio::join!(
            open_transaction(shared, c, target, &guards, freeze, opening),
            async {
                match prepared {
                    Some(p) => tx.copy_in::<_, Bytes>(&p.copy_in).await,
                    None => tx.copy_in::<_, Bytes>(copy_in.as_str()).await,
                }
            }
        );
        let replies = opened?;
        let sink = sink.map_err(|e| ChunkError::new("COPY FROM failed to start", &e))?;
        let counted_before = match counted {
            Some(oid) => Some((
                oid,
                first_number(&replies).ok_or_else(|| {
                    ChunkError::fatal(
                        "counting the table's inserted rows failed: no count came back".into(),
                    )
                })?,
            )),
            None => None,
        };
        Ok((sink, counted_before))
    };
    let src_start = async {
        match prepared {
            Some(p) => src.copy_out(&p.copy_out).await,
            None => src.copy_out(copy_out.as_str()).await,
        }
        .map_err(|e| ChunkError::new("reading the source failed", &e))
    };
    match tokio::join!(dst_start, src_start) {
        (Ok((sink, counted_before)), Ok(stream)) => Ok(Started {
            sink,
            stream,
            counted_before,
            owner,
        }),
        (Err(e), started) => {
            // Do not wait for a whole chunk to arrive only to be dropped.
            if started.is_ok() {
                c.src.cancel.cancel().await;
            }
            Err(e)
        }
        (Ok(_), Err(e)) => Err(e),
    }
}

/// Forwards the chunk's rows ([`pipe()`]) and reads the source's own count,
/// which arrives right behind its data: the bytes moved and the rows read.
async fn forward(
    shared: &Shared,
    c: &Conns,
    spec: &pgcopy_core::plan::TableCopySpec,
    stream: tokio_postgres::CopyOutStream,
    sink: std::pin::Pin<&mut tokio_postgres::CopyInSink<Bytes>>,
    live: &WorkerLive,
    messages_before: u64,
) -> Result<(u64, u64), ChunkError> {
    // Binary COPY ends with a trailer message of its own (the header rides
    // with the first row): not counting it keeps live progress from ever
    // showing one row more than the chunk has.
    let trailer = u64::from(spec.format == sql::CopyFormat::Binary);
    let rows_so_far = || (c.src.stats.messages() - messages_before).saturating_sub(trailer);
    futures_util::pin_mut!(stream);
    let bytes = match pipe(stream, sink, live, shared.batch_size, rows_so_far).await {
        Ok(bytes) => bytes,
        Err(Piped {
            source_failed,
            error,
        }) => {
            // Stop the source's COPY if it is still sending, so the connection
            // comes back quickly; the savepoint is rolled back by the caller.
            if !source_failed {
                c.src.cancel.cancel().await;
            }
            return Err(ChunkError::new(
                if source_failed {
                    "reading the source failed"
                } else {
                    "writing to the destination failed"
                },
                &error,
            ));
        }
    };
    let Some(read) = source_rows(&c.src).await else {
        return Err(ChunkError {
            message: "the source connection closed before reporting how many rows it sent"
                .to_string(),
            transient: true,
        });
    };
    Ok((bytes, read))
}

/// What [`finish`] closes: the rows the source sent, the bytes moved, the
/// server's count before the COPY (where it counts), the owner's role
/// taken for the load.
#[derive(Clone, Copy)]
struct Loaded<'a> {
    read: u64,
    bytes: u64,
    counted_before: Option<(u32, i64)>,
    owner: Option<&'a String>,
}

/// Ends the chunk: the COPY's end, the role's reset and the chunk's mark go
/// out together (the mark records the source's count); the transaction
/// commits only if the destination wrote exactly that many rows, checked
/// by the server in the same flight where it counts them, else here,
/// between this flight and the COMMIT. Meanwhile the next unit is taken
/// from the queue (into `upcoming`) and its COPY statements prepared on
/// both sides. The rows written.
async fn finish(
    shared: &Shared,
    c: &mut Conns,
    unit: &Unit,
    mut sink: std::pin::Pin<&mut tokio_postgres::CopyInSink<Bytes>>,
    loaded: Loaded<'_>,
    upcoming: &mut Option<Unit>,
    live: &WorkerLive,
) -> Result<u64, ChunkError> {
    let (read, bytes) = (loaded.read, loaded.bytes);
    let (tx, src) = (&c.dst, &c.src.client);
    // The next unit, whose statements are prepared now: the source's at
    // once (it is idle), the destination's with this unit's COMMIT.
    if upcoming.is_none() && !crate::stop::requested() {
        *upcoming = shared.queue.locked().pop_front();
    }
    let next = upcoming.as_ref().map(|u| {
        let (copy_in, copy_out) = copy_statements(shared, u);
        ((u.table, u.chunk.index), copy_in, copy_out)
    });
    let prepare_next_in = || async {
        match &next {
            Some((_, copy_in, _)) => tx.prepare(copy_in).await.ok(),
            None => None,
        }
    };
    crate::failpoint::delay("before-chunk-commit").await;
    let (closing, commit_now) = closing_flight(shared, unit, &loaded);
    let (next_out, written, closed, next_in_early) = tokio::join!(
        async {
            match &next {
                Some((_, _, out)) => src.prepare(out).await.ok(),
                None => None,
            }
        },
        sink.as_mut().finish(),
        closing.run(tx),
        async {
            match commit_now {
                true => prepare_next_in().await,
                false => None,
            }
        }
    );
    let written = written.map_err(|e| ChunkError::new("writing to the destination failed", &e))?;
    live.rows.store(written, Ordering::Relaxed);
    live.bytes.store(bytes, Ordering::Relaxed);
    let mismatch = || {
        ChunkError::fatal(format!(
            "row count mismatch: the source sent {read} rows, the destination wrote {written}"
        ))
    };
    if read != written && !commit_now {
        return Err(mismatch());
    }
    if let Err(e) = closed {
        return Err(closing_failed(read, e));
    }
    let next_in = match commit_now {
        true => next_in_early,
        false => {
            let (committed, next_in) = tokio::join!(tx.batch_execute("COMMIT"), prepare_next_in());
            committed.map_err(|e| ChunkError::new("COMMIT failed", &e))?;
            next_in
        }
    };
    if read != written {
        // The server counted `read` rows inserted while the COPY said
        // `written`: they are committed, and the job must not pass.
        return Err(mismatch());
    }
    if let (Some((unit, _, _)), Some(copy_out), Some(copy_in)) = (next, next_out, next_in) {
        c.prepared = Some(PreparedCopy {
            unit,
            copy_in,
            copy_out,
        });
    }
    Ok(written)
}

/// The one message after a chunk's COPY ends (`loaded`): the role's reset
/// (where the load took the owner's), the chunk's mark with the source's
/// count and the bytes, and, where the server counts, its check
/// of the rows inserted and the COMMIT (which an error before it turns
/// into a rollback); with whether that flight commits.
fn closing_flight(shared: &Shared, unit: &Unit, loaded: &Loaded<'_>) -> (Flight, bool) {
    let Loaded {
        read,
        bytes,
        counted_before,
        owner,
    } = *loaded;
    let spec = &shared.plan.tables[unit.table];
    let key = shared.chunk_key(unit);
    // A test makes the server expect one row more than the source sent.
    let expected = read as i64 + i64::from(crate::failpoint::is("miscount"));
    let check = counted_before
        .map(|(oid, before)| sql::check_inserted_by_transaction(oid, before, expected));
    let mut closing = Flight::default();
    if owner.is_some() {
        closing.push("RESET ROLE failed", sql::RESET_ROLE.to_string());
    }
    closing.push(
        MARK_FAILED,
        shared
            .store
            .mark_chunk_done_sql(key, read as i64, bytes as i64, !spec.is_split()),
    );
    let commit_now = check.is_some();
    if let Some(check) = check {
        closing.push(CHECK_FAILED, check);
        closing.push("COMMIT failed", "COMMIT".to_string());
    }
    (closing, commit_now)
}

/// What names the chunk's mark in the closing flight.
const MARK_FAILED: &str = "recording progress failed";
/// What names the server's count check in the closing flight.
const CHECK_FAILED: &str = "checking the count of rows written failed";

/// Why the load's closing statements failed. The chunk's mark and the
/// server's count check both fail by division by zero: the one when the
/// chunk was done already (an earlier attempt's transaction committed
/// behind this one's back), the other when the count differs.
fn closing_failed(read: u64, e: FlightError) -> ChunkError {
    let by_zero = e.error.code() == Some(&tokio_postgres::error::SqlState::DIVISION_BY_ZERO);
    match e.what {
        // Rolled back; the retry finds the chunk done and goes on.
        MARK_FAILED if by_zero => ChunkError {
            message: crate::state::StateStore::CHUNK_DONE_ALREADY.to_string(),
            transient: true,
        },
        CHECK_FAILED if by_zero => ChunkError::fatal(format!(
            "row count mismatch: the source sent {read} rows, and the destination counted another \
             number inserted by the load; nothing of this chunk was committed"
        )),
        what => ChunkError::new(what, &e.error),
    }
}
