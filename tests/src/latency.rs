//! A TCP forwarder that delays each direction by a fixed time, keeping byte
//! order: the network between two cloud regions, on one machine. The bench
//! puts one in front of each cluster (`BENCH_LATENCY_MS`).
//!
//! Bytes read from one side are written to the other `delay` later, without
//! waiting for earlier bytes to arrive first: the link adds latency, not a
//! limit on throughput.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A running forwarder; dropping it stops it.
pub struct LatencyProxy {
    port: u16,
    _runtime: tokio::runtime::Runtime,
}

impl LatencyProxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to
    /// `127.0.0.1:target`, each direction delayed by `delay`.
    pub fn start(target: u16, delay: Duration) -> LatencyProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("proxy runtime");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    let _ = (client.set_nodelay(true), server.set_nodelay(true));
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(pipe(cr, sw, delay), pipe(sr, cw, delay));
                });
            }
        });
        LatencyProxy {
            port,
            _runtime: runtime,
        }
    }

    /// The port to connect to instead of the target's.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Copies `from` to `to`, each piece `delay` after it was read.
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = async move {
        while let Some((due, piece)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&piece).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    let reader = async move {
        let mut buf = vec![0u8; 256 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            if tx
                .send((Instant::now() + delay, buf[..n].to_vec()))
                .is_err()
            {
                return;
            }
        }
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// An echo server behind the proxy: a round trip takes twice the delay,
    /// and a megabyte sent in small pieces comes back whole and in order,
    /// in about one round trip more than it takes to send, not one per piece.
    #[test]
    fn delays_each_direction_and_keeps_order() {
        let echo = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = echo.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in echo.incoming() {
                let mut s = s.unwrap();
                let mut r = s.try_clone().unwrap();
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut r, &mut s);
                });
            }
        });
        let proxy = LatencyProxy::start(target, Duration::from_millis(25));
        let mut c = std::net::TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
        c.set_nodelay(true).unwrap();
        let t = std::time::Instant::now();
        c.write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        c.read_exact(&mut one).unwrap();
        let rtt = t.elapsed();
        assert!(rtt >= Duration::from_millis(50), "{rtt:?}");
        assert!(rtt < Duration::from_millis(150), "{rtt:?}");

        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = c.try_clone().unwrap();
        let sent = data.clone();
        let t = std::time::Instant::now();
        let writer = std::thread::spawn(move || {
            for piece in sent.chunks(1000) {
                c.write_all(piece).unwrap();
            }
        });
        let mut back = vec![0u8; data.len()];
        r.read_exact(&mut back).unwrap();
        writer.join().unwrap();
        assert!(back == data, "bytes out of order");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }
}
