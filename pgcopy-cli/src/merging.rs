//! The socket under the workers' source connections: it joins the server's
//! per-row CopyData messages into large ones before tokio-postgres sees them
//! (the framing itself is `pgcopy_core::copy_frames`), so reading a table
//! costs the client a few operations per 64 kB instead of per row.
//!
//! The merger also counts, for the worker: CopyData messages (one per row)
//! for live progress, and the `COPY n` completion, the exact count of rows the
//! server sent, so the worker needs no parsing of the data it forwards.
//!
//! tokio-postgres opens its own sockets and offers no hook below its message
//! decoding, so these connections are opened here and handed over with
//! `connect_raw`; TLS is layered under the merging so the merger reads
//! plaintext, and SCRAM channel binding still sees the TLS stream.

use bytes::{Buf, BytesMut};
use pgcopy_core::copy_frames::FrameMerger;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres_rustls::MakeRustlsConnect;

/// A plain socket to a server, before any TLS: TCP or Unix-domain.
pub type RawSocket = tokio_util::either::Either<tokio::net::TcpStream, tokio::net::UnixStream>;

/// The 8-byte SSLRequest: its answer is one byte outside any message.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// Reads at least this much from the socket at a time.
const READ_SIZE: usize = 64 * 1024;

/// What a merging connection has read, shared with the worker that uses it.
#[derive(Debug)]
pub struct CopyReadStats {
    copy_data: AtomicU64,
    copy_rows: AtomicU64,
    /// Signalled when a `COPY n` completion is read.
    completed: tokio::sync::Notify,
}

const NO_ROWS: u64 = u64::MAX;

impl Default for CopyReadStats {
    fn default() -> Self {
        CopyReadStats {
            copy_data: AtomicU64::new(0),
            copy_rows: AtomicU64::new(NO_ROWS),
            completed: tokio::sync::Notify::new(),
        }
    }
}

impl CopyReadStats {
    /// CopyData messages received so far on the connection: one per row.
    pub fn messages(&self) -> u64 {
        self.copy_data.load(Ordering::Relaxed)
    }

    /// The row count of the last `COPY ... TO STDOUT` completed, once, if its
    /// completion has been read.
    pub fn take_copy_rows(&self) -> Option<u64> {
        Some(self.copy_rows.swap(NO_ROWS, Ordering::Relaxed)).filter(|n| *n != NO_ROWS)
    }

    /// Waits for the row count of the `COPY ... TO STDOUT` whose data has
    /// ended, and takes it. tokio-postgres ends the data at CopyDone; the
    /// completion right behind it is read by the connection's task whether
    /// anyone waits or not, so this needs no round trip.
    pub async fn copy_rows(&self) -> u64 {
        loop {
            // A stale wake-up (a count taken without waiting) only loops.
            let completed = self.completed.notified();
            if let Some(n) = self.take_copy_rows() {
                return n;
            }
            completed.await;
        }
    }
}

/// A stream whose backend messages come out with CopyData runs joined.
pub struct MergingStream<S> {
    inner: S,
    buf: BytesMut,
    ready: usize,
    merger: FrameMerger,
    stats: Arc<CopyReadStats>,
    wrote: bool,
    eof: bool,
}

impl<S> MergingStream<S> {
    /// Wraps a stream on which no bytes have been exchanged yet.
    pub fn new(inner: S, stats: Arc<CopyReadStats>) -> Self {
        MergingStream {
            inner,
            buf: BytesMut::new(),
            ready: 0,
            merger: FrameMerger::new(),
            stats,
            wrote: false,
            eof: false,
        }
    }

    /// The stream underneath, for the TLS handshake; fails if bytes the
    /// server sent before the handshake would be lost (a server, or a man in
    /// the middle, that sends data after its "S" answer).
    fn into_parts(self) -> io::Result<(S, Arc<CopyReadStats>)> {
        if !self.buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "received unencrypted data after the SSL answer",
            ));
        }
        Ok((self.inner, self.stats))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for MergingStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.ready > 0 {
                let n = this.ready.min(out.remaining());
                out.put_slice(&this.buf[..n]);
                this.buf.advance(n);
                this.ready -= n;
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                // A cut-off message goes on as it is, for tokio-postgres to report.
                this.ready = this.buf.len();
                if this.ready == 0 {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            if this.buf.capacity() - this.buf.len() < READ_SIZE / 2 {
                this.buf.reserve(READ_SIZE);
            }
            let n = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut this.inner),
                cx,
                &mut this.buf
            ))?;
            if n == 0 {
                this.eof = true;
                continue;
            }
            let framed = this.merger.frame(&mut this.buf, this.ready);
            this.buf.truncate(framed.len);
            this.ready = framed.ready;
            this.stats
                .copy_data
                .store(this.merger.copy_data_messages(), Ordering::Relaxed);
            if let Some(n) = this.merger.take_copy_rows() {
                this.stats.copy_rows.store(n, Ordering::Relaxed);
                this.stats.completed.notify_one();
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for MergingStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, data))?;
        if !this.wrote && n > 0 {
            this.wrote = true;
            if data.starts_with(&SSL_REQUEST) {
                this.merger.expect_unframed(1);
            }
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S: TlsStream + Unpin> TlsStream for MergingStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.inner.channel_binding()
    }
}

/// The TLS stream the rustls connector makes over a raw socket.
type RustlsStream = <MakeRustlsConnect as MakeTlsConnect<RawSocket>>::Stream;

/// TLS for a merging connection: unwraps the plain socket, does the handshake
/// with the rustls connector, and merges above the TLS layer.
pub struct MergingTls {
    /// The connector `sslmode` calls for.
    pub make: MakeRustlsConnect,
    /// The server's host name, for SNI and `verify-full`.
    pub host: String,
}

impl TlsConnect<MergingStream<RawSocket>> for MergingTls {
    type Stream = MergingStream<RustlsStream>;
    type Error = Box<dyn std::error::Error + Sync + Send>;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Stream, Self::Error>> + Send>>;

    fn connect(mut self, stream: MergingStream<RawSocket>) -> Self::Future {
        Box::pin(async move {
            let (raw, stats) = stream.into_parts()?;
            let tls = <MakeRustlsConnect as MakeTlsConnect<RawSocket>>::make_tls_connect(
                &mut self.make,
                &self.host,
            )?;
            let stream = tls.connect(raw).await?;
            Ok(MergingStream::new(stream, stats))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        [&[tag][..], &((body.len() + 4) as u32).to_be_bytes(), body].concat()
    }

    /// A server that answers the SSLRequest with "N", then sends a COPY's
    /// messages in small writes; the client reads them through the merger.
    #[tokio::test]
    async fn ssl_answer_then_joined_copy_data_and_counts() {
        let (client, mut server) = tokio::io::duplex(1024);
        let stats = Arc::new(CopyReadStats::default());
        let mut stream = MergingStream::new(client, stats.clone());
        stream.write_all(&SSL_REQUEST).await.unwrap();
        let mut request = [0u8; 8];
        server.read_exact(&mut request).await.unwrap();
        assert_eq!(request, SSL_REQUEST);

        let mut sent = vec![b'N'];
        sent.extend(message(b'H', &[0, 0, 0]));
        for i in 0..300u32 {
            sent.extend(message(b'd', format!("row {i}\n").as_bytes()));
        }
        sent.extend(message(b'c', b""));
        sent.extend(message(b'C', b"COPY 300\0"));
        sent.extend(message(b'Z', b"I"));
        let writer = tokio::spawn(async move {
            for piece in sent.chunks(37) {
                server.write_all(piece).await.unwrap();
            }
            server.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();

        assert_eq!(got[0], b'N');
        let mut rest = &got[1..];
        let mut tags = Vec::new();
        let mut data = Vec::new();
        while !rest.is_empty() {
            let size = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
            if rest[0] == b'd' {
                data.extend_from_slice(&rest[5..1 + size]);
            }
            tags.push(rest[0]);
            rest = &rest[1 + size..];
        }
        let expected: String = (0..300).map(|i| format!("row {i}\n")).collect();
        assert_eq!(String::from_utf8(data).unwrap(), expected);
        // Fewer CopyData messages came out than went in, the rest unchanged.
        let joined = tags.iter().filter(|t| **t == b'd').count();
        assert!((1..300).contains(&joined), "{joined} CopyData messages");
        assert_eq!(tags[0], b'H');
        assert_eq!(&tags[tags.len() - 3..], b"cCZ");
        assert_eq!(stats.messages(), 300);
        assert_eq!(stats.take_copy_rows(), Some(300));
        assert_eq!(stats.take_copy_rows(), None);
    }
}
