//! Resolving and opening connections: flags, files and environment into libpq
//! settings (via `pgcopy_core::conninfo`), then tokio-postgres clients.

use crate::error::{pg_message, UserError};
use crate::merging::{CopyReadStats, MergingStream, MergingTls, RawSocket};
use crate::tls::{make_tls, Tls};
use pgcopy_core::conninfo::{
    ChannelBinding, ConnDefaults, ConnParams, ConnSettings, Keepalives, ServiceFiles, SslMode,
    TargetSessionAttrs,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, NoTls};

mod peer;
pub use peer::{CancelHandle, Peer};

/// Settings every pgcopy session starts with, after the user's own `options`
/// (see `Endpoint::config`), so they win over those and over any `ALTER
/// ROLE/DATABASE ... SET`: a database's owner may set these for every session
/// in it. `standard_conforming_strings` makes the server read a statement's
/// text as pgcopy's parser (libpg_query) does; `local_preload_libraries`
/// loads nothing the database chose.
///
/// The timeouts are off: a copy's sessions sit idle between steps and run
/// long transactions by design. `xmloption=content`: an `xml` value may be a
/// fragment, which `document` would refuse to load (as `pg_dump` sets too).
/// `array_nulls=on`: with it off, an array's NULL element written by text
/// COPY reads back as the string 'NULL'. `gin_fuzzy_search_limit=0`: a
/// limit would silently cut the rows a GIN index scan returns to a
/// `--where` condition. (The settings that change how values print,
/// `sql::STABLE_TEXT_SETTINGS`, are set by the sessions that move rows.)
pub const SESSION_OPTIONS: &str = "-c search_path=pg_catalog,pg_temp -c statement_timeout=0 \
     -c idle_in_transaction_session_timeout=0 -c idle_session_timeout=0 \
     -c standard_conforming_strings=on -c xmloption=content -c array_nulls=on \
     -c gin_fuzzy_search_limit=0 -c local_preload_libraries=";

/// PostgreSQL 17's `transaction_timeout`, off like the other timeouts. Not in
/// [`SESSION_OPTIONS`]: an older server refuses a setting it does not know
/// at startup, so it is set once the server says its version.
const TRANSACTION_TIMEOUT_OFF: &str = "SET transaction_timeout = 0";

/// Settings every pgcopy session starts with *before* the user's own
/// `options`: they still win over `ALTER DATABASE ... SET` (which the
/// database's owner controls: `SET role` there would run a superuser's
/// session as the owner, who could then `SET ROLE` back), while a `-c role=x`
/// the user gives on purpose still applies. `jit=off`: what pgcopy runs is
/// COPY, catalog reads and DDL, where compiling only costs; a subset's
/// nested selections have estimates large enough to be compiled, which took
/// 3.1 s of a 3.2 s query on pagila (24 ms without).
pub const SESSION_DEFAULTS: &str = "-c role=none -c jit=off";

/// One side of the copy, resolved and ready to connect.
#[derive(Clone)]
pub struct Endpoint {
    /// "source" or "destination", for messages.
    pub role: &'static str,
    /// The resolved settings (password inside a `Secret`).
    pub settings: ConnSettings,
    tls: Tls,
    /// `--lock-wait-timeout`: every session's `lock_timeout` (a value as
    /// `SET lock_timeout` takes it, checked to be a number and a unit).
    lock_timeout: Option<String>,
    /// Sessions start with the settings psql would get (see
    /// [`Endpoint::as_psql_would`]).
    psql_like: bool,
    /// The password typed at the prompt, shared by every session (and clone).
    typed: Arc<TypedPassword>,
}

/// A password asked for on the terminal, as psql asks: once per endpoint,
/// whatever number of sessions open at the same time.
#[derive(Default)]
struct TypedPassword {
    value: std::sync::OnceLock<pgcopy_core::conninfo::Secret>,
    asking: tokio::sync::Mutex<()>,
}

/// What libpq's users do when the server asks for a password none gave.
const PASSWORD_HINT: &str = "the server asks for a password and none was given: set PGPASSWORD, \
     add a line to ~/.pgpass (mode 0600), or put it in the connection string";

fn home() -> Option<String> {
    std::env::var("HOME").ok().filter(|h| !h.is_empty())
}

/// The `PG*` variables that name a server or database: where one is set and
/// no source is given, the source is what psql would connect to.
const LIBPQ_TARGET_VARS: [&str; 6] = [
    "PGSERVICE",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
];

/// Whether libpq's environment names a server or database.
fn libpq_env_names_a_database() -> bool {
    LIBPQ_TARGET_VARS
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|x| !x.is_empty()))
}

/// Reads a connection string from a flag, else a file, else an environment
/// variable; exactly one flag/file may be given. With none, the source
/// (`libpq_env` true) is what psql would connect to where a `PG*` variable
/// names one; a destination never is: it is emptied, so it is always
/// named (`-d ''` takes the `PG*` variables on purpose).
pub fn connection_string(
    role: &str,
    flag_name: &str,
    flag: Option<&str>,
    file_flag_name: &str,
    file: Option<&Path>,
    env_var: &str,
    libpq_env: bool,
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
        (None, None) => match std::env::var(env_var).ok().filter(|v| !v.trim().is_empty()) {
            Some(v) => Ok(v),
            None if libpq_env && libpq_env_names_a_database() => Ok(String::new()),
            None if libpq_env => Err(UserError::usage(format!(
                "no {role} given: pass {flag_name} URL or {file_flag_name} PATH (or set {env_var}, \
                 or PGHOST/PGDATABASE/PGSERVICE as for psql)"
            ))),
            None => Err(UserError::usage(format!(
                "no {role} given: pass {flag_name} URL or {file_flag_name} PATH (or set {env_var}; \
                 {flag_name} '' takes the PG* variables)"
            ))),
        },
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
            true,
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
            false,
        )?;
        Endpoint::resolve("destination", &conninfo)
    }
}

impl Endpoint {
    /// Parses and resolves a connection string the libpq way: its own
    /// parameters, then its service's (`service=` or `PGSERVICE`), then the
    /// `PG*` variables, then the password file.
    pub fn resolve(role: &'static str, conninfo: &str) -> Result<Endpoint, UserError> {
        let env = |k: &str| std::env::var(k).ok();
        let params = ConnParams::parse(conninfo)
            .and_then(|p| p.with_service(env, &service_files()))
            .map_err(|e| UserError::usage(format!("{role} connection: {e}")))?;
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
            lock_timeout: None,
            psql_like: false,
            typed: Arc::default(),
        })
    }

    /// Every session waits at most `timeout` for a lock (`--lock-wait-timeout`,
    /// as pg_dump's): a number of milliseconds, or with a unit (`ms`, `s`,
    /// `min`, `h`); anything else is refused.
    pub fn with_lock_timeout(mut self, timeout: Option<&str>) -> Result<Endpoint, UserError> {
        let Some(t) = timeout.map(str::trim) else {
            return Ok(self);
        };
        let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = &t[digits.len()..];
        if digits.is_empty()
            || !digits.chars().all(|c| c.is_ascii_digit())
            || !matches!(unit, "" | "ms" | "s" | "min" | "h")
        {
            return Err(UserError::usage(format!(
                "--lock-wait-timeout {t:?} is not a duration: give milliseconds (5000) or a number with ms, s, \
                 min or h (10s)"
            )));
        }
        self.lock_timeout = Some(format!("{digits}{unit}"));
        Ok(self)
    }

    /// The same endpoint, whose sessions start with the settings psql would
    /// get (the role's and database's defaults, the user's `options`), not
    /// pgcopy's pinned ones: to read what a `--where` condition means for
    /// this role (`crate::conditions`). Only `role` and
    /// `local_preload_libraries` stay pinned: a database owner's `ALTER
    /// DATABASE ... SET` of either would run the session as another role or
    /// load its code. Nothing but `pg_catalog`-qualified reads runs there.
    pub fn as_psql_would(&self) -> Endpoint {
        Endpoint {
            psql_like: true,
            ..self.clone()
        }
    }

    /// The `application_name` pgcopy's sessions carry, as a `LIKE` pattern:
    /// the user's own, else `pgcopy ...`.
    pub fn application_pattern(&self) -> String {
        match &self.settings.application_name {
            Some(name) => name
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_"),
            None => "pgcopy %".to_string(),
        }
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
        // The password is set host by host (`connect_session`).
        cfg.user(&s.user).dbname(&s.dbname);
        cfg.application_name(
            s.application_name
                .as_deref()
                .unwrap_or(&format!("pgcopy {purpose}")),
        );
        if let Some(t) = s.connect_timeout {
            cfg.connect_timeout(Duration::from_secs(t));
        }
        // Sent in the startup packet, after the user's own options, these win
        // over ALTER ROLE/DATABASE settings, as pg_dump does with its own SETs:
        // a COPY or an index build may run for hours, and the snapshot
        // transaction sits idle for the whole copy. On the source, row-level
        // security that would hide rows raises an error instead of a silent
        // partial copy. And every session resolves unqualified functions,
        // operators and types in pg_catalog only: an operator another role
        // put in `public` (or any schema of its default path) never runs
        // inside pgcopy's queries, and pg_get_constraintdef/pg_get_indexdef
        // qualify every name they print, so a saved definition cannot bind to
        // a look-alike later.
        let mut options = match self.psql_like {
            false => format!(
                "{SESSION_DEFAULTS} {} {SESSION_OPTIONS}",
                s.options.as_deref().unwrap_or_default()
            ),
            true => format!(
                "-c role=none -c local_preload_libraries= {}",
                s.options.as_deref().unwrap_or_default()
            ),
        };
        // Where row-level security would filter a read, the read fails
        // instead: a policy's code never runs with this role's rights, and
        // nothing is copied or compared short of rows.
        options.push_str(" -c row_security=off");
        if let Some(t) = &self.lock_timeout {
            options.push_str(&format!(" -c lock_timeout={t}"));
        }
        cfg.options(options.trim_start());
        cfg.channel_binding(match s.channel_binding {
            ChannelBinding::Disable => tokio_postgres::config::ChannelBinding::Disable,
            ChannelBinding::Prefer => tokio_postgres::config::ChannelBinding::Prefer,
            ChannelBinding::Require => tokio_postgres::config::ChannelBinding::Require,
        });
        cfg.ssl_mode(match s.sslmode {
            pgcopy_core::conninfo::SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            // `allow` tries without TLS first (see connect_session).
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

/// libpq's service files: the user's (`PGSERVICEFILE`, else
/// `~/.pg_service.conf`) and the system's (`PGSYSCONFDIR/pg_service.conf`,
/// else Debian libpq's `/etc/postgresql-common/pg_service.conf`); a file
/// that cannot be read is skipped, as libpq skips it.
fn service_files() -> ServiceFiles {
    let read = |path: String| std::fs::read_to_string(&path).ok().map(|text| (path, text));
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let user = var("PGSERVICEFILE").or_else(|| home().map(|h| format!("{h}/.pg_service.conf")));
    let system = format!(
        "{}/pg_service.conf",
        var("PGSYSCONFDIR").unwrap_or_else(|| "/etc/postgresql-common".into())
    );
    ServiceFiles {
        user: user.and_then(read),
        system: read(system),
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
