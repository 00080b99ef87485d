//! One chunk through a worker: the destination transaction that locks and
//! checks its table, takes its owner's role, and loads the source's COPY
//! stream into it, counted and marked done before it commits.

use super::*;

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
) -> Result<(u64, u64), ChunkError> {
    let result = load_chunk(shared, c, unit, live).await;
    if result.is_err() && !c.dst.is_closed() {
        let _ = c.dst.batch_execute("ROLLBACK").await;
    }
    result
}

/// Round trips on the destination, for a chunk read whole: one to begin,
/// lock and check, take the owner's role and start the COPY (the source's
/// COPY starts at the same time); one to end the COPY, reset the role and
/// mark the chunk done; one to commit, once the destination's count of
/// rows written equals the source's.
async fn load_chunk(
    shared: &Shared,
    c: &mut Conns,
    unit: &Unit,
    live: &WorkerLive,
) -> Result<(u64, u64), ChunkError> {
    let spec = &shared.plan.tables[unit.table];
    let cols: Vec<&str> = spec.columns.iter().map(String::as_str).collect();
    let tx = &c.dst;
    let freeze = spec.truncate_in_load();
    let src = &c.src.client;
    // Left over from an earlier COPY that failed before its count was read.
    let _ = c.src.stats.take_copy_rows();
    // Rows so far: one CopyData message each, counted by the socket from
    // before the COPY starts (its first rows may arrive with its answer).
    let messages_before = c.src.stats.messages();
    let truncate = sql::truncate([&sql::TruncateTarget::only(&spec.table)]);
    let copy_in = sql::copy_in(spec.dest_table(), &cols, freeze, spec.format);
    let copy_out = sql::copy_out(&spec.table, &cols, &unit.chunk, spec.format);
    // A small table costs round trips more than bytes: each side's statements
    // go out together (tokio-postgres pipelines requests polled together, in
    // order), and both sides start at once.
    // A table another role owns is loaded as that owner: what its inserts
    // run (CHECK constraints, domain checks, generated columns, index
    // expressions) gets the owner's rights, never this role's. The role is
    // set for the load and reset before the state row is written.
    let target = spec.dest_table();
    let load_as = shared.load_as.get(target);
    let owner = load_as.and_then(|l| l.owner.as_ref());
    let guards: Vec<(
        &pgcopy_core::quote::QualifiedName,
        &crate::engine::setup::Guard,
    )> = load_as
        .map(|l| l.guards.iter().map(|(n, g)| (n, g)).collect())
        .unwrap_or_default();
    let dst_start = async {
        let (began, checked, role, truncated, sink) = tokio::join!(
            tx.batch_execute("BEGIN"),
            // A table others may change while the copy runs is locked, then
            // checked, before the role changes and rows go in.
            async {
                match guards.is_empty() {
                    false => {
                        let mode = if freeze {
                            "ACCESS EXCLUSIVE"
                        } else {
                            "ROW EXCLUSIVE"
                        };
                        crate::engine::lock_and_check(
                            tx,
                            &c.guard,
                            &[target],
                            &guards,
                            mode,
                            shared.pin_schemas,
                        )
                        .await
                        .map_err(|e| match e {
                            crate::engine::LockCheckError::Lock(e) => {
                                ChunkError::new("LOCK failed", &e)
                            }
                            _ => ChunkError::fatal(e.message()),
                        })
                    }
                    true => Ok(()),
                }
            },
            async {
                match owner {
                    Some(o) => tx.batch_execute(&sql::set_local_role(o)).await,
                    None => Ok(()),
                }
            },
            async {
                match freeze {
                    true => tx.batch_execute(&truncate).await,
                    false => Ok(()),
                }
            },
            tx.copy_in::<_, Bytes>(&copy_in)
        );
        began.map_err(|e| ChunkError::new("BEGIN failed", &e))?;
        checked?;
        role.map_err(|e| ChunkError::new("SET ROLE to the table's owner failed", &e))?;
        truncated.map_err(|e| ChunkError::new("TRUNCATE failed", &e))?;
        sink.map_err(|e| ChunkError::new("COPY FROM failed to start", &e))
    };
    let src_start = async {
        src.copy_out(&copy_out)
            .await
            .map_err(|e| ChunkError::new("reading the source failed", &e))
    };
    let (sink, stream) = match tokio::join!(dst_start, src_start) {
        (Ok(sink), Ok(stream)) => (sink, stream),
        (Err(e), started) => {
            // Do not wait for a whole chunk to arrive only to be dropped.
            if started.is_ok() {
                c.src.cancel.cancel().await;
            }
            return Err(e);
        }
        (Ok(_), Err(e)) => return Err(e),
    };

    // Binary COPY ends with a trailer message of its own (the header rides
    // with the first row): not counting it keeps live progress from ever
    // showing one row more than the chunk has.
    let trailer = u64::from(spec.format == sql::CopyFormat::Binary);
    let rows_so_far = || (c.src.stats.messages() - messages_before).saturating_sub(trailer);
    let mut bytes_total = 0u64;
    let mut published = 0u64;
    let batch = shared.batch_size;
    let mut source_failed = false;
    futures_util::pin_mut!(sink);
    futures_util::pin_mut!(stream);
    // The socket joins the server's per-row messages, so most pieces arrive
    // large and go on as they are; small ones (the last of a run, or rows of
    // a slow source) are gathered so the destination reads large messages.
    let mut out = BytesMut::new();
    let piped: Result<(), tokio_postgres::Error> = async {
        while let Some(item) = stream.next().await {
            let chunk = item.inspect_err(|_| source_failed = true)?;
            bytes_total += chunk.len() as u64;
            let rows = rows_so_far();
            if rows - published >= batch {
                published = rows;
                live.rows.store(rows, Ordering::Relaxed);
                live.bytes.store(bytes_total, Ordering::Relaxed);
            }
            if out.is_empty() && chunk.len() >= FORWARD_BATCH / 2 {
                sink.send(chunk).await?;
                continue;
            }
            out.extend_from_slice(&chunk);
            if out.len() >= FORWARD_BATCH {
                sink.send(out.split().freeze()).await?;
            }
        }
        if !out.is_empty() {
            sink.send(out.split().freeze()).await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = piped {
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
            &e,
        ));
    }
    // The source's own count arrives right behind its data.
    let Some(read) = source_rows(&c.src).await else {
        return Err(ChunkError {
            message: "the source connection closed before reporting how many rows it sent"
                .to_string(),
            transient: true,
        });
    };
    // The COPY's end, the role's reset and the chunk's mark go out together;
    // the mark records the source's count, and the transaction commits only
    // if the destination wrote exactly that many rows.
    let (written, reset, marked) = tokio::join!(
        sink.as_mut().finish(),
        async {
            match owner {
                Some(_) => tx.batch_execute(sql::RESET_ROLE).await,
                None => Ok(()),
            }
        },
        shared.store.mark_chunk_done(
            tx,
            &c.mark_done,
            ChunkKey {
                job_id: shared.job_id,
                schema: &spec.table.schema,
                table: &spec.table.name,
                chunk: unit.chunk.index as i32,
            },
            read as i64,
            bytes_total as i64,
            !spec.is_split(),
        )
    );
    let written = written.map_err(|e| ChunkError::new("writing to the destination failed", &e))?;
    live.rows.store(written, Ordering::Relaxed);
    live.bytes.store(bytes_total, Ordering::Relaxed);
    if read != written {
        return Err(ChunkError::fatal(format!(
            "row count mismatch: the source sent {read} rows, the destination wrote {written}"
        )));
    }
    reset.map_err(|e| ChunkError::new("RESET ROLE failed", &e))?;
    marked.map_err(|e| ChunkError::new("recording progress failed", &e))?;
    crate::failpoint::delay("before-chunk-commit").await;
    tx.batch_execute("COMMIT")
        .await
        .map_err(|e| ChunkError::new("COMMIT failed", &e))?;
    Ok((written, bytes_total))
}

/// The source's own count of the rows its COPY sent (`COPY n`), which arrives
/// right behind the data; `None` if the connection closed first.
async fn source_rows(src: &Session) -> Option<u64> {
    loop {
        match tokio::time::timeout(Duration::from_secs(1), src.stats.copy_rows()).await {
            Ok(n) => return Some(n),
            Err(_) if src.client.is_closed() => return None,
            Err(_) => continue,
        }
    }
}
