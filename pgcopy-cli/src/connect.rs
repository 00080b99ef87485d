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
mod session;
pub use peer::{CancelHandle, Peer};
pub use session::Session;

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
