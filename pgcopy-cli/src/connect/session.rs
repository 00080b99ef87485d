//! Opening sessions: libpq's host list and target_session_attrs, the
//! password prompt, and the I/O task each connection runs on.

use super::*;

impl Endpoint {
    /// Opens a connection; its I/O task runs on the tokio runtime.
    pub async fn connect(&self, purpose: &str) -> Result<Client, UserError> {
        Ok(self.connect_session(purpose).await?.client)
    }

    /// Opens a connection and keeps what cancels it and what it read.
    ///
    /// pgcopy opens the sockets itself, over a stream that joins the server's
    /// per-row COPY messages (see `merging`), and hands them to tokio-postgres.
    /// Hosts are tried in order (or shuffled, with `load_balance_hosts=random`)
    /// until one accepts and has the `target_session_attrs` asked for, and
    /// Unix-domain sockets go without TLS, as libpq does.
    pub async fn connect_session(&self, purpose: &str) -> Result<Session, UserError> {
        let base = self.config(purpose);
        let mut last = String::from("no host to connect to");
        let attrs = self.settings.target_session_attrs;
        // prefer-standby: a standby first, and any server on a second pass.
        let passes: &[TargetSessionAttrs] = match attrs {
            TargetSessionAttrs::PreferStandby => {
                &[TargetSessionAttrs::Standby, TargetSessionAttrs::Any]
            }
            _ => std::slice::from_ref(&attrs),
        };
        let peers = self.peers();
        for want in passes {
            for (host, peer) in &peers {
                let mut base = base.clone();
                let given = self
                    .settings
                    .password_for(*host)
                    .or_else(|| self.typed.value.get());
                if let Some(pw) = given {
                    base.password(pw.expose());
                }
                // connect_timeout bounds the whole attempt on a host, as
                // libpq's does: TCP, TLS, startup, authentication and the
                // session check (a server that accepts and never answers
                // does not hang the run).
                let attempt = async {
                    let session = self.connect_peer(&base, peer).await?;
                    match session_fits(&session.client, *want).await {
                        Ok(()) => Ok(session),
                        Err(why) => Err(format!("{}: {why}", peer.describe())),
                    }
                };
                let result = match self.settings.connect_timeout.filter(|t| *t > 0) {
                    Some(t) => tokio::time::timeout(Duration::from_secs(t.max(2)), attempt)
                        .await
                        .unwrap_or_else(|_| {
                            Err(format!(
                                "{}: no answer within connect_timeout ({}s)",
                                peer.describe(),
                                t.max(2)
                            ))
                        }),
                    None => attempt.await,
                };
                match result {
                    Ok(session) => return Ok(session),
                    Err(e) if given.is_none() && e.contains("password missing") => {
                        // As psql: ask on the terminal, once, then try again.
                        if self.ask_password().await {
                            return Box::pin(self.connect_session(purpose)).await;
                        }
                        last = format!("{}: {PASSWORD_HINT}", peer.describe());
                    }
                    Err(e) => last = e,
                }
            }
        }
        Err(self.connect_failed(&last))
    }

    /// Asks for the password on the terminal (stdin and stderr both
    /// terminals, as psql needs), once for every session; false where there
    /// is no terminal or nothing was typed.
    async fn ask_password(&self) -> bool {
        use std::io::IsTerminal;
        let _asking = self.typed.asking.lock().await;
        if self.typed.value.get().is_some() {
            return true;
        }
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            return false;
        }
        let question = format!(
            "Password for user {} on the {}: ",
            self.settings.user, self.role
        );
        let typed = tokio::task::spawn_blocking(move || {
            let term = console::Term::stderr();
            term.write_str(&question).ok()?;
            term.read_secure_line().ok()
        })
        .await
        .ok()
        .flatten()
        .filter(|p| !p.is_empty());
        match typed {
            Some(p) => self
                .typed
                .value
                .set(pgcopy_core::conninfo::Secret::new(p))
                .is_ok(),
            None => false,
        }
    }

    /// One connection attempt to one peer; `sslmode=allow` tries without TLS
    /// first and with it second, as libpq does.
    async fn connect_peer(
        &self,
        base: &tokio_postgres::Config,
        peer: &Peer,
    ) -> Result<Session, String> {
        let tls_first = self.settings.sslmode != SslMode::Allow;
        let attempts: &[bool] = if tls_first { &[true] } else { &[false, true] };
        let mut last = String::new();
        for &with_tls in attempts {
            let mut cfg = base.clone();
            if matches!(peer, Peer::Unix(_)) || !with_tls {
                cfg.ssl_mode(tokio_postgres::config::SslMode::Disable);
            }
            let socket = match peer.open(&self.settings).await {
                Ok(s) => s,
                Err(e) => return Err(format!("{} failed: {e}", peer.describe())),
            };
            let stats = Arc::new(CopyReadStats::default());
            let stream = MergingStream::new(socket, stats.clone());
            let result = match (&self.tls, peer) {
                (Some(make), Peer::Tcp { host, .. }) if with_tls => {
                    let tls = MergingTls {
                        make: make.clone(),
                        host: host.clone(),
                    };
                    cfg.connect_raw(stream, tls).await.map(spawn_connection)
                }
                // No TLS configured (sslmode=disable), or a Unix-domain socket.
                _ => cfg.connect_raw(stream, NoTls).await.map(spawn_connection),
            };
            let result = match result {
                Ok((client, major)) if major >= 17 => client
                    .batch_execute(TRANSACTION_TIMEOUT_OFF)
                    .await
                    .map(|()| client),
                Ok((client, _)) => Ok(client),
                Err(e) => Err(e),
            };
            match result {
                Ok(client) => {
                    let cancel = CancelHandle {
                        endpoint: self.clone(),
                        token: client.cancel_token(),
                        peer: peer.clone(),
                    };
                    return Ok(Session {
                        client,
                        cancel,
                        stats,
                    });
                }
                Err(e) => {
                    last = format!(
                        "{} failed: {}",
                        peer.describe(),
                        crate::tls::readable(pg_message(&e))
                    )
                }
            }
        }
        Err(last)
    }

    /// The hosts to try (each with its place in `hosts`), with its port and
    /// address, in the order given (or shuffled with
    /// `load_balance_hosts=random`).
    fn peers(&self) -> Vec<(usize, Peer)> {
        let s = &self.settings;
        let mut peers: Vec<(usize, Peer)> = s
            .hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let port = pgcopy_core::conninfo::port_for(&s.ports, i);
                let addr = s.hostaddrs.get(i).copied().flatten();
                let peer = if host.starts_with('/') && addr.is_none() {
                    Peer::Unix(format!("{host}/.s.PGSQL.{port}"))
                } else {
                    Peer::Tcp {
                        host: host.clone(),
                        addr,
                        port,
                    }
                };
                (i, peer)
            })
            .collect();
        if s.load_balance_random {
            // A Fisher-Yates shuffle; RandomState is seeded from the OS.
            use std::hash::{BuildHasher, Hasher};
            for i in (1..peers.len()).rev() {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_usize(i);
                peers.swap(i, (h.finish() % (i as u64 + 1)) as usize);
            }
        }
        peers
    }
}

/// Whether a new session has the `target_session_attrs` asked for, as libpq
/// decides it: from `transaction_read_only` and `pg_is_in_recovery()`.
async fn session_fits(client: &Client, want: TargetSessionAttrs) -> Result<(), String> {
    if want == TargetSessionAttrs::Any {
        return Ok(());
    }
    let row = client
        .query_one(
            "SELECT pg_catalog.current_setting('transaction_read_only') OPERATOR(pg_catalog.=) 'on', \
             pg_catalog.pg_is_in_recovery()",
            &[],
        )
        .await
        .map_err(|e| pg_message(&e))?;
    let (read_only, standby): (bool, bool) = (
        row.try_get(0).map_err(|e| pg_message(&e))?,
        row.try_get(1).map_err(|e| pg_message(&e))?,
    );
    let (fits, what) = match want {
        TargetSessionAttrs::Any | TargetSessionAttrs::PreferStandby => (true, ""),
        TargetSessionAttrs::ReadWrite => (!read_only, "read-write"),
        TargetSessionAttrs::ReadOnly => (read_only, "read-only"),
        TargetSessionAttrs::Primary => (!standby, "primary"),
        TargetSessionAttrs::Standby => (standby, "standby"),
    };
    if fits {
        Ok(())
    } else {
        Err(format!(
            "session is not {what} (target_session_attrs={what})"
        ))
    }
}

/// Runs a new connection's I/O task on the tokio runtime; returns its client.
/// Also returns the server's major version (0 if it did not say).
fn spawn_connection<S, T>(
    (client, conn): (Client, tokio_postgres::Connection<S, T>),
) -> (Client, u32)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let major = conn
        .parameter("server_version")
        .and_then(|v| {
            let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .unwrap_or(0);
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("connection closed: {}", pg_message(&e));
        }
    });
    (client, major)
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
