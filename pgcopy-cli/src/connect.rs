//! Resolving and opening connections: flags, files and environment into libpq
//! settings (via `pgcopy_core::conninfo`), then tokio-postgres clients.

use crate::error::{pg_message, UserError};
use crate::tls::{make_tls, Tls};
use pgcopy_core::conninfo::{ConnDefaults, ConnParams, ConnSettings};
use std::path::Path;
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

    /// Opens a connection; its I/O task runs on the tokio runtime.
    pub async fn connect(&self, purpose: &str) -> Result<Client, UserError> {
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
            cfg.connect_timeout(std::time::Duration::from_secs(t));
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
        let fail = |e: tokio_postgres::Error| {
            UserError::failure(format!(
                "could not connect to the {} ({}): {}",
                self.role,
                self.redacted(),
                pg_message(&e)
            ))
        };
        let client = match &self.tls {
            None => {
                let (client, conn) = cfg.connect(NoTls).await.map_err(fail)?;
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("connection closed: {}", pg_message(&e));
                    }
                });
                client
            }
            Some(tls) => {
                let (client, conn) = cfg.connect(tls.clone()).await.map_err(fail)?;
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("connection closed: {}", pg_message(&e));
                    }
                });
                client
            }
        };
        Ok(client)
    }

    /// Cancels whatever the connection behind `token` is running.
    pub async fn cancel(&self, token: &tokio_postgres::CancelToken) {
        let r = match &self.tls {
            None => token.cancel_query(NoTls).await,
            Some(tls) => token.cancel_query(tls.clone()).await,
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
