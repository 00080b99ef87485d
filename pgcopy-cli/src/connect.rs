//! Resolving and opening connections: flags, files and environment into libpq
//! settings (via `pgcopy_core::conninfo`), then tokio-postgres clients.

use crate::error::{pg_message, UserError};
use crate::merging::{CopyReadStats, MergingStream, MergingTls, RawSocket};
use crate::tls::{make_tls, Tls};
use pgcopy_core::conninfo::{ConnDefaults, ConnParams, ConnSettings};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, NoTls};

/// One side of the copy, resolved and ready to connect.
#[derive(Clone)]
pub struct Endpoint {
    /// "source" or "destination", for messages.
    pub role: &'static str,
    /// The resolved settings (password inside a `Secret`).
    pub settings: ConnSettings,
    tls: Tls,
}

fn home() -> Option<String> {
    std::env::var("HOME").ok().filter(|h| !h.is_empty())
}

/// Reads a connection string from a flag, else a file, else an environment
/// variable; exactly one flag/file may be given.
pub fn connection_string(
    role: &str,
    flag_name: &str,
    flag: Option<&str>,
    file_flag_name: &str,
    file: Option<&Path>,
    env_var: &str,
) -> Result<String, UserError> {
    match (flag, file) {
        (Some(_), Some(_)) => Err(UserError::usage(format!(
            "give the {role} once: {flag_name} or {file_flag_name}, not both"
        ))),
        (Some(s), None) => Ok(s.to_string()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                UserError::usage(format!(
                    "cannot read {file_flag_name} {}: {e}",
                    path.display()
                ))
            })?;
            let text = text.trim();
            if text.is_empty() {
                return Err(UserError::usage(format!(
                    "{file_flag_name} {} is empty: it must hold a connection string",
                    path.display()
                )));
            }
            Ok(text.to_string())
        }
        (None, None) => std::env::var(env_var)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| {
                UserError::usage(format!(
                "no {role} given: pass {flag_name} URL or {file_flag_name} PATH (or set {env_var})"
            ))
            }),
    }
}

impl crate::cli::SourceArgs {
    /// The source: `--source`, else `--source-file`, else `PGCOPY_SOURCE`.
    pub fn endpoint(&self) -> Result<Endpoint, UserError> {
        let conninfo = connection_string(
            "source",
            "--source",
            self.source.as_deref(),
            "--source-file",
            self.source_file.as_deref(),
            "PGCOPY_SOURCE",
        )?;
        Endpoint::resolve("source", &conninfo)
    }
}

impl crate::cli::DestArgs {
    /// The destination: `--dest`, else `--dest-file`, else `PGCOPY_DEST`.
    pub fn endpoint(&self) -> Result<Endpoint, UserError> {
        let conninfo = connection_string(
            "destination",
            "--dest",
            self.dest.as_deref(),
            "--dest-file",
            self.dest_file.as_deref(),
            "PGCOPY_DEST",
        )?;
        Endpoint::resolve("destination", &conninfo)
    }
}

impl Endpoint {
    /// Parses and resolves a connection string the libpq way.
    pub fn resolve(role: &'static str, conninfo: &str) -> Result<Endpoint, UserError> {
        let params = ConnParams::parse(conninfo)
            .map_err(|e| UserError::usage(format!("{role} connection: {e}")))?;
        let env = |k: &str| std::env::var(k).ok();
        let defaults = ConnDefaults {
            host: "/var/run/postgresql".into(),
            user: std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_else(|_| "postgres".into()),
        };
        let home = home();
        let pgpass = params
            .passfile_path(env, home.as_deref())
            .and_then(|p| read_passfile(Path::new(&p)));
        let settings = params
            .resolve(env, &defaults, pgpass.as_deref())
            .map_err(|e| UserError::usage(format!("{role} connection: {e}")))?;
        let tls = make_tls(&settings, home.as_deref())?;
        Ok(Endpoint {
            role,
            settings,
            tls,
        })
    }

    /// The connection as safe text (no password).
    pub fn redacted(&self) -> String {
        self.settings.redacted()
    }

    /// The tokio-postgres settings for one connection.
    fn config(&self, purpose: &str) -> tokio_postgres::Config {
        let s = &self.settings;
        let mut cfg = tokio_postgres::Config::new();
        for h in &s.hosts {
            cfg.host(h);
        }
        for p in &s.ports {
            cfg.port(*p);
        }
        cfg.user(&s.user).dbname(&s.dbname);
        if let Some(pw) = &s.password {
            cfg.password(pw.expose());
        }
        cfg.application_name(
            s.application_name
                .as_deref()
                .unwrap_or(&format!("pgcopy {purpose}")),
        );
        if let Some(t) = s.connect_timeout {
            cfg.connect_timeout(Duration::from_secs(t));
        }
        // Sent in the startup packet, these win over ALTER ROLE/DATABASE
        // settings, as pg_dump does with its own SETs: a COPY or an index
        // build may run for hours, and the snapshot transaction sits idle for
        // the whole copy. On the source, row-level security that would hide
        // rows raises an error instead of a silent partial copy.
        let mut options = s.options.clone().unwrap_or_default();
        options.push_str(" -c statement_timeout=0 -c idle_in_transaction_session_timeout=0");
        if self.role == "source" {
            options.push_str(" -c row_security=off");
        }
        cfg.options(options.trim_start());
        cfg.ssl_mode(match s.sslmode {
            pgcopy_core::conninfo::SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            pgcopy_core::conninfo::SslMode::Allow | pgcopy_core::conninfo::SslMode::Prefer => {
                tokio_postgres::config::SslMode::Prefer
            }
            _ => tokio_postgres::config::SslMode::Require,
        });
        cfg
    }

    fn connect_failed(&self, detail: &str) -> UserError {
        UserError::failure(format!(
            "could not connect to the {} ({}): {detail}",
            self.role,
            self.redacted()
        ))
    }

    /// Opens a connection; its I/O task runs on the tokio runtime.
    pub async fn connect(&self, purpose: &str) -> Result<Client, UserError> {
        Ok(self.connect_session(purpose).await?.client)
    }

    /// Opens a connection and keeps what cancels it and what it read.
    ///
    /// pgcopy opens the sockets itself, over a stream that joins the server's
    /// per-row COPY messages (see `merging`), and hands them to tokio-postgres.
    /// Hosts are tried in order and Unix-domain sockets go without TLS, as
    /// libpq does.
    pub async fn connect_session(&self, purpose: &str) -> Result<Session, UserError> {
        let base = self.config(purpose);
        let mut last = String::from("no host to connect to");
        for peer in self.peers() {
            let mut cfg = base.clone();
            if let Peer::Unix(_) = peer {
                cfg.ssl_mode(tokio_postgres::config::SslMode::Disable);
            }
            let socket = match peer.open(self.settings.connect_timeout).await {
                Ok(s) => s,
                Err(e) => {
                    last = format!("{} failed: {e}", peer.describe());
                    continue;
                }
            };
            let stats = Arc::new(CopyReadStats::default());
            let stream = MergingStream::new(socket, stats.clone());
            let result = match (&self.tls, &peer) {
                (Some(make), Peer::Tcp { host, .. }) => {
                    let tls = MergingTls {
                        make: make.clone(),
                        host: host.clone(),
                    };
                    cfg.connect_raw(stream, tls).await.map(spawn_connection)
                }
                // No TLS configured (sslmode=disable), or a Unix-domain socket.
                _ => cfg.connect_raw(stream, NoTls).await.map(spawn_connection),
            };
            match result {
                Ok(client) => {
                    let cancel = CancelHandle {
                        endpoint: self.clone(),
                        token: client.cancel_token(),
                        peer,
                    };
                    return Ok(Session {
                        client,
                        cancel,
                        stats,
                    });
                }
                Err(e) => last = format!("{} failed: {}", peer.describe(), pg_message(&e)),
            }
        }
        Err(self.connect_failed(&last))
    }

    /// The hosts to try, each with its port, in the order given.
    fn peers(&self) -> Vec<Peer> {
        let s = &self.settings;
        s.hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let port = match s.ports.len() {
                    0 => 5432,
                    1 => s.ports[0],
                    _ => s.ports.get(i).copied().unwrap_or(5432),
                };
                if host.starts_with('/') {
                    Peer::Unix(format!("{host}/.s.PGSQL.{port}"))
                } else {
                    Peer::Tcp {
                        host: host.clone(),
                        port,
                    }
                }
            })
            .collect()
    }
}

/// Runs a new connection's I/O task on the tokio runtime; returns its client.
fn spawn_connection<S, T>((client, conn): (Client, tokio_postgres::Connection<S, T>)) -> Client
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("connection closed: {}", pg_message(&e));
        }
    });
    client
}

/// A connection with what cancels it and what it read, from
/// [`Endpoint::connect_session`].
pub struct Session {
    /// The session.
    pub client: Client,
    /// Cancels what it runs.
    pub cancel: CancelHandle,
    /// Counts of the COPY data it read.
    pub stats: Arc<CopyReadStats>,
}

/// Where a connection went.
#[derive(Clone, Debug)]
pub enum Peer {
    /// A TCP host name or address and port.
    Tcp {
        /// As given in the connection string.
        host: String,
        /// The port.
        port: u16,
    },
    /// The path of a Unix-domain socket.
    Unix(String),
}

impl Peer {
    fn describe(&self) -> String {
        match self {
            // libpq's words, so the message reads as psql's would.
            Peer::Tcp { host, port } => format!("connection to server at \"{host}\", port {port}"),
            Peer::Unix(path) => format!("connection to server on socket \"{path}\""),
        }
    }

    /// Opens a plain socket, as tokio-postgres would: no Nagle delay, and TCP
    /// keepalives so a copy through a firewall does not lose an idle session.
    async fn open(&self, timeout: Option<u64>) -> std::io::Result<RawSocket> {
        let connect = async {
            Ok::<RawSocket, std::io::Error>(match self {
                Peer::Tcp { host, port } => {
                    let s = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                    s.set_nodelay(true)?;
                    socket2::SockRef::from(&s).set_tcp_keepalive(
                        &socket2::TcpKeepalive::new().with_time(Duration::from_secs(7200)),
                    )?;
                    RawSocket::Left(s)
                }
                Peer::Unix(path) => RawSocket::Right(tokio::net::UnixStream::connect(path).await?),
            })
        };
        match timeout.filter(|t| *t > 0) {
            Some(t) => tokio::time::timeout(Duration::from_secs(t), connect)
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "timeout expired")
                })?,
            None => connect.await,
        }
    }
}

/// Cancels what one connection runs.
#[derive(Clone)]
pub struct CancelHandle {
    endpoint: Endpoint,
    token: tokio_postgres::CancelToken,
    /// tokio-postgres does not know where a connection it was handed went:
    /// the cancel request goes to the same peer.
    peer: Peer,
}

impl CancelHandle {
    /// Asks the server to cancel the connection's current statement; failures
    /// are only logged, since the caller is giving up on it anyway.
    pub async fn cancel(&self) {
        let socket = match self.peer.open(self.endpoint.settings.connect_timeout).await {
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

/// Reads a password file, ignoring it (as libpq does) when others may read it.
fn read_passfile(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            "password file {} has group or world access; permissions should be u=rw (0600) or less: ignoring it",
            path.display()
        );
        return None;
    }
    std::fs::read_to_string(path).ok()
}
