//! A chunk's rows on their way: the source's COPY stream forwarded to the
//! destination's sink as it comes, and the source's own count of them.

use super::*;
use crate::engine::shared::WorkerLive;

/// Why forwarding a chunk stopped: the source's stream or the
/// destination's sink failed.
pub(super) struct Piped {
    pub(super) source_failed: bool,
    pub(super) error: tokio_postgres::Error,
}

/// Forwards the source's COPY data to the destination as it comes, and
/// publishes the rows so far every `batch` rows; returns the bytes moved.
///
/// The socket joins the server's per-row messages, so most pieces arrive
/// large and go on as they are; small ones (the last of a run, or rows of
/// a slow source) are gathered so the destination reads large messages.
/// Sized up front: a BytesMut remembers its first capacity, so each batch
/// after a split starts at full size instead of growing (and copying) from
/// nothing.
pub(super) async fn pipe(
    mut stream: std::pin::Pin<&mut tokio_postgres::CopyOutStream>,
    mut sink: std::pin::Pin<&mut tokio_postgres::CopyInSink<Bytes>>,
    live: &WorkerLive,
    batch: u64,
    rows_so_far: impl Fn() -> u64,
) -> Result<u64, Piped> {
    let mut bytes_total = 0u64;
    let mut published = 0u64;
    let mut out = BytesMut::with_capacity(FORWARD_BATCH);
    let sink_failed = |error| Piped {
        source_failed: false,
        error,
    };
    while let Some(item) = stream.next().await {
        let chunk = item.map_err(|error| Piped {
            source_failed: true,
            error,
        })?;
        bytes_total += chunk.len() as u64;
        let rows = rows_so_far();
        if rows - published >= batch {
            published = rows;
            live.rows.store(rows, Ordering::Relaxed);
            live.bytes.store(bytes_total, Ordering::Relaxed);
        }
        if out.is_empty() && chunk.len() >= FORWARD_BATCH / 2 {
            sink.send(chunk).await.map_err(sink_failed)?;
            continue;
        }
        out.extend_from_slice(&chunk);
        if out.len() >= FORWARD_BATCH {
            sink.send(out.split().freeze()).await.map_err(sink_failed)?;
        }
    }
    if !out.is_empty() {
        sink.send(out.split().freeze()).await.map_err(sink_failed)?;
    }
    Ok(bytes_total)
}

/// The source's own count of the rows its COPY sent (`COPY n`), which arrives
/// right behind the data; `None` if the connection closed first.
pub(super) async fn source_rows(src: &Session) -> Option<u64> {
    loop {
        match tokio::time::timeout(Duration::from_secs(1), src.stats.copy_rows()).await {
            Ok(n) => return Some(n),
            Err(_) if src.client.is_closed() => return None,
            Err(_) => continue,
        }
    }
}
