//! Where a session's socket goes (TCP with keepalives, or a Unix socket),
//! and how a running query on it is cancelled.

use super::*;

/// Where a connection went.
#[derive(Clone, Debug)]
pub enum Peer {
    /// A TCP host name or address and port.
    Tcp {
        /// As given in the connection string: what TLS verifies.
        host: String,
        /// The numeric address to connect to instead of looking `host` up
        /// (`hostaddr`).
        addr: Option<std::net::IpAddr>,
        /// The port.
        port: u16,
    },
    /// The path of a Unix-domain socket.
    Unix(String),
}

impl Peer {
    pub(super) fn describe(&self) -> String {
        match self {
            // libpq's words, so the message reads as psql's would.
            Peer::Tcp {
                host,
                addr: Some(addr),
                port,
            } => format!("connection to server at \"{host}\" ({addr}), port {port}"),
            Peer::Tcp { host, port, .. } => {
                format!("connection to server at \"{host}\", port {port}")
            }
            Peer::Unix(path) => format!("connection to server on socket \"{path}\""),
        }
    }

    /// Opens a plain socket, as libpq would: no Nagle delay, TCP keepalives
    /// (so a copy through a firewall does not lose an idle session) unless
    /// `keepalives=0`, and `tcp_user_timeout`.
    pub(super) async fn open(&self, settings: &ConnSettings) -> std::io::Result<RawSocket> {
        let connect = async {
            Ok::<RawSocket, std::io::Error>(match self {
                Peer::Tcp { host, addr, port } => {
                    let s = match addr {
                        Some(ip) => tokio::net::TcpStream::connect((*ip, *port)).await?,
                        None => tokio::net::TcpStream::connect((host.as_str(), *port)).await?,
                    };
                    s.set_nodelay(true)?;
                    let sock = socket2::SockRef::from(&s);
                    if let Some(ka) = keepalive(&settings.keepalives) {
                        sock.set_tcp_keepalive(&ka)?;
                    }
                    if let Some(ms) = settings.tcp_user_timeout.filter(|ms| *ms > 0) {
                        sock.set_tcp_user_timeout(Some(Duration::from_millis(ms)))?;
                    }
                    RawSocket::Left(s)
                }
                Peer::Unix(path) => RawSocket::Right(tokio::net::UnixStream::connect(path).await?),
            })
        };
        match settings.connect_timeout.filter(|t| *t > 0) {
            Some(t) => tokio::time::timeout(Duration::from_secs(t), connect)
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "timeout expired")
                })?,
            None => connect.await,
        }
    }
}

/// The socket's keepalive settings, `None` with `keepalives=0`; the idle
/// time defaults to two hours, the kernel's usual default.
pub(super) fn keepalive(k: &Keepalives) -> Option<socket2::TcpKeepalive> {
    if !k.enabled {
        return None;
    }
    let mut ka = socket2::TcpKeepalive::new().with_time(Duration::from_secs(
        k.idle.filter(|s| *s > 0).unwrap_or(7200),
    ));
    if let Some(s) = k.interval.filter(|s| *s > 0) {
        ka = ka.with_interval(Duration::from_secs(s));
    }
    if let Some(n) = k.count.filter(|n| *n > 0) {
        ka = ka.with_retries(n);
    }
    Some(ka)
}

/// Cancels what one connection runs.
#[derive(Clone)]
pub struct CancelHandle {
    /// The endpoint the session was opened to.
    pub(super) endpoint: Endpoint,
    /// tokio-postgres's cancel key for the session.
    pub(super) token: tokio_postgres::CancelToken,
    /// tokio-postgres does not know where a connection it was handed went:
    /// the cancel request goes to the same peer.
    pub(super) peer: Peer,
}

impl CancelHandle {
    /// Asks the server to cancel the connection's current statement; failures
    /// are only logged, since the caller is giving up on it anyway.
    pub async fn cancel(&self) {
        let socket = match self.peer.open(&self.endpoint.settings).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("cancel request failed: {e}");
                return;
            }
        };
        let r = match (&self.peer, &self.endpoint.tls) {
            (Peer::Tcp { host, .. }, Some(make)) => {
                match MakeTlsConnect::<RawSocket>::make_tls_connect(&mut make.clone(), host) {
                    Ok(tls) => self.token.cancel_query_raw(socket, tls).await,
                    Err(e) => {
                        tracing::debug!("cancel request failed: {e}");
                        return;
                    }
                }
            }
            _ => self.token.cancel_query_raw(socket, NoTls).await,
        };
        if let Err(e) = r {
            tracing::debug!("cancel request failed: {}", pg_message(&e));
        }
    }
}
