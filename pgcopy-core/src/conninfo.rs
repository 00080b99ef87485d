//! Connection strings the libpq way, without I/O.
//!
//! [`ConnParams::parse`] reads a URI (`postgresql://user@host:5432/db?sslmode=require`)
//! or a `key=value` string; [`ConnParams::resolve`] fills what is missing from the
//! service file ([`ConnParams::with_service`]), the
//! `PG*` environment and a `.pgpass` file's text (both passed in, so this is
//! testable), giving [`ConnSettings`]. A password only ever lives in a [`Secret`],
//! whose `Debug` and `Display` print `********`: [`ConnSettings::redacted`] is the
//! one place that turns a connection into text for logs, errors and state rows.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

mod pgpass;
mod resolve;
mod service;
mod syntax;

pub use pgpass::pgpass_lookup;
pub use service::ServiceFiles;
use syntax::{parse_keyword_value, parse_uri, pct};

/// Why a connection string could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnInfoError {
    /// The text is neither a valid URI nor valid `key=value` pairs.
    #[error("invalid connection string: {0}")]
    Syntax(String),
    /// A parameter name libpq would not accept either.
    #[error(
        "unknown connection parameter `{0}` (check its spelling; see the libpq parameter list)"
    )]
    UnknownParam(String),
    /// A libpq parameter pgcopy does not implement: refused rather than
    /// silently ignored, since a user relies on what it promises.
    #[error("connection parameter `{param}` is not supported by pgcopy: {reason}")]
    Unsupported {
        /// The parameter (or the environment variable that set it).
        param: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A parameter with a value outside its allowed set.
    #[error("invalid value for connection parameter `{param}`: {reason}")]
    BadValue {
        /// The parameter.
        param: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The libpq parameters pgcopy implements as libpq does.
pub(crate) const KNOWN_PARAMS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "sslmode",
    "requiressl",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "sslcompression",
    "sslsni",
    "sslcertmode",
    "sslnegotiation",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "target_session_attrs",
    "channel_binding",
    "gssencmode",
    "load_balance_hosts",
    "min_protocol_version",
    "max_protocol_version",
    // Read by `ConnParams::with_service` before the rest.
    "service",
];

/// libpq parameters pgcopy does not implement, each with what to do instead:
/// refused, never accepted and ignored.
const REFUSED_PARAMS: &[(&str, &str)] = &[
    (
        "require_auth",
        "pgcopy cannot restrict the server's authentication method; use channel_binding=require to insist on \
         SCRAM with channel binding",
    ),
    ("krbsrvname", "pgcopy has no GSSAPI/Kerberos support"),
    ("gsslib", "pgcopy has no GSSAPI/Kerberos support"),
    ("gssdelegation", "pgcopy has no GSSAPI/Kerberos support"),
    ("replication", "pgcopy copies with ordinary sessions, not replication connections"),
    (
        "requirepeer",
        "pgcopy does not check the server process's user over a Unix socket: connect as the socket's owner \
         expects, or over TCP with sslmode=verify-full",
    ),
    ("sslkeylogfile", "pgcopy never writes TLS keys to a file"),
    ("oauth_issuer", "pgcopy has no OAuth support"),
    ("oauth_client_id", "pgcopy has no OAuth support"),
    ("oauth_client_secret", "pgcopy has no OAuth support"),
    ("oauth_scope", "pgcopy has no OAuth support"),
    ("scram_client_key", "pgcopy authenticates with the password itself"),
    ("scram_server_key", "pgcopy authenticates with the password itself"),
];

/// Environment variables and the parameter each one supplies, as in libpq.
const ENV_PARAMS: &[(&str, &str)] = &[
    ("PGHOST", "host"),
    ("PGHOSTADDR", "hostaddr"),
    ("PGPORT", "port"),
    ("PGDATABASE", "dbname"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGPASSFILE", "passfile"),
    ("PGOPTIONS", "options"),
    ("PGAPPNAME", "application_name"),
    ("PGSSLMODE", "sslmode"),
    ("PGREQUIRESSL", "requiressl"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
    ("PGSSLCRL", "sslcrl"),
    ("PGSSLCRLDIR", "sslcrldir"),
    ("PGSSLCOMPRESSION", "sslcompression"),
    ("PGSSLSNI", "sslsni"),
    ("PGSSLCERTMODE", "sslcertmode"),
    ("PGSSLNEGOTIATION", "sslnegotiation"),
    ("PGSSLMINPROTOCOLVERSION", "ssl_min_protocol_version"),
    ("PGSSLMAXPROTOCOLVERSION", "ssl_max_protocol_version"),
    ("PGCHANNELBINDING", "channel_binding"),
    ("PGGSSENCMODE", "gssencmode"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
    ("PGLOADBALANCEHOSTS", "load_balance_hosts"),
    ("PGMINPROTOCOLVERSION", "min_protocol_version"),
    ("PGMAXPROTOCOLVERSION", "max_protocol_version"),
    ("PGCLIENTENCODING", "client_encoding"),
    ("PGREQUIREAUTH", "require_auth"),
    ("PGKRBSRVNAME", "krbsrvname"),
    ("PGGSSLIB", "gsslib"),
    ("PGGSSDELEGATION", "gssdelegation"),
    ("PGREQUIREPEER", "requirepeer"),
];

fn refused(param: &str, via: &str) -> Option<ConnInfoError> {
    REFUSED_PARAMS
        .iter()
        .find(|(p, _)| *p == param)
        .map(|(_, reason)| ConnInfoError::Unsupported {
            param: via.to_string(),
            reason: reason.to_string(),
        })
}

fn bad(param: &str, reason: impl Into<String>) -> ConnInfoError {
    ConnInfoError::BadValue {
        param: param.into(),
        reason: reason.into(),
    }
}

/// libpq's `target_session_attrs`: which server of several hosts will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetSessionAttrs {
    /// The first that accepts the connection.
    #[default]
    Any,
    /// One where transactions may write (not `default_transaction_read_only`, not a standby).
    ReadWrite,
    /// One where they may not.
    ReadOnly,
    /// A server not in recovery.
    Primary,
    /// A server in recovery (a standby).
    Standby,
    /// A standby if any host is one, else any.
    PreferStandby,
}

/// libpq's `channel_binding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelBinding {
    /// Never.
    Disable,
    /// When the server offers SCRAM with it over TLS (the default).
    #[default]
    Prefer,
    /// Always: authentication fails unless the server proves it holds the
    /// TLS certificate's key through SCRAM-SHA-256-PLUS.
    Require,
}

/// A TLS protocol version bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// TCP keepalive settings (libpq's `keepalives*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalives {
    /// `keepalives=0` turns them off.
    pub enabled: bool,
    /// Idle seconds before the first probe (`keepalives_idle`).
    pub idle: Option<u64>,
    /// Seconds between probes (`keepalives_interval`).
    pub interval: Option<u64>,
    /// Probes lost before the connection is dead (`keepalives_count`).
    pub count: Option<u32>,
}

/// Parameters as written by the user, before defaults.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConnParams {
    params: BTreeMap<String, String>,
}

impl fmt::Debug for ConnParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.params {
            if k == "password" || k == "sslpassword" {
                m.entry(k, &"********");
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

/// A value that must never be printed: `Debug` and `Display` hide it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value, for handing to the connection library only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// Plain first, TLS if the server insists (pgcopy treats it as `prefer`).
    Allow,
    /// TLS if the server offers it, without verifying the certificate (default).
    Prefer,
    /// TLS always, certificate not verified.
    Require,
    /// TLS, certificate chain verified against `sslrootcert`, host name not checked.
    VerifyCa,
    /// TLS, certificate chain and host name verified.
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<Self, ConnInfoError> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(ConnInfoError::BadValue {
                    param: "sslmode".into(),
                    reason: format!(
                        "`{other}` is not one of disable, allow, prefer, require, verify-ca, verify-full"
                    ),
                })
            }
        })
    }

    /// The libpq spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Defaults that depend on the machine (passed in so resolution stays pure).
#[derive(Debug, Clone)]
pub struct ConnDefaults {
    /// Host when none is given: libpq's compiled-in socket directory.
    pub host: String,
    /// User when none is given: the operating-system user.
    pub user: String,
}

/// A fully resolved connection: what to connect to and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnSettings {
    /// Host names, IP addresses or socket directories (comma-separated in libpq).
    pub hosts: Vec<String>,
    /// Ports, one per host or one for all.
    pub ports: Vec<u16>,
    /// Database name.
    pub dbname: String,
    /// Role name.
    pub user: String,
    /// The password given (`password`, or `PGPASSWORD`), for every host.
    pub password: Option<Secret>,
    /// Without a password given: the password file's for each host, in
    /// `hosts`' order, as libpq looks it up for each host it tries (see
    /// [`ConnSettings::password_for`]).
    pub host_passwords: Vec<Option<Secret>>,
    /// TLS mode.
    pub sslmode: SslMode,
    /// CA bundle for `verify-ca`/`verify-full`.
    pub sslrootcert: Option<String>,
    /// Client certificate (PEM) for certificate authentication.
    pub sslcert: Option<String>,
    /// The client certificate's private key (PEM, not encrypted).
    pub sslkey: Option<String>,
    /// Connect timeout in seconds.
    pub connect_timeout: Option<u64>,
    /// `options` (command-line options sent to the server).
    pub options: Option<String>,
    /// `application_name`, else `fallback_application_name`, when the user set one.
    pub application_name: Option<String>,
    /// Numeric addresses to connect to, one per host (`hostaddr`); the host
    /// name still serves TLS verification and the password file.
    pub hostaddrs: Vec<Option<std::net::IpAddr>>,
    /// TCP keepalives.
    pub keepalives: Keepalives,
    /// `tcp_user_timeout`, in milliseconds.
    pub tcp_user_timeout: Option<u64>,
    /// Which of several hosts will do.
    pub target_session_attrs: TargetSessionAttrs,
    /// Try hosts in random order (`load_balance_hosts=random`).
    pub load_balance_random: bool,
    /// Channel binding.
    pub channel_binding: ChannelBinding,
    /// Send the host name in the TLS handshake (`sslsni`, default on).
    pub sslsni: bool,
    /// A certificate revocation list file (PEM) to check the server against.
    pub sslcrl: Option<String>,
    /// A directory of certificate revocation lists.
    pub sslcrldir: Option<String>,
    /// Lowest TLS version (`ssl_min_protocol_version`, default TLS 1.2).
    pub ssl_min_protocol_version: Option<TlsVersion>,
    /// Highest TLS version (`ssl_max_protocol_version`).
    pub ssl_max_protocol_version: Option<TlsVersion>,
    /// `sslcertmode=disable`: never send a client certificate.
    pub no_client_cert: bool,
}

/// The port of host `i` of a list, as libpq pairs them: one port for every
/// host, else one each (5432 for a host without).
pub fn port_for(ports: &[u16], i: usize) -> u16 {
    match ports.len() {
        0 => 5432,
        1 => ports[0],
        _ => ports.get(i).copied().unwrap_or(5432),
    }
}

impl ConnSettings {
    /// The password for host `i` of `hosts`: the one given, else the
    /// password file's line for that host; never another host's.
    pub fn password_for(&self, i: usize) -> Option<&Secret> {
        self.password
            .as_ref()
            .or_else(|| self.host_passwords.get(i)?.as_ref())
    }

    /// The connection as text safe for logs, errors and the state schema: a URI
    /// with every part but the password.
    pub fn redacted(&self) -> String {
        let mut s = format!("postgresql://{}@", pct(&self.user));
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let port = port_for(&self.ports, i);
                if h.starts_with('/') {
                    format!("{}:{port}", pct(h))
                } else if h.contains(':') {
                    format!("[{h}]:{port}")
                } else {
                    format!("{h}:{port}")
                }
            })
            .collect();
        s.push_str(&hosts.join(","));
        s.push('/');
        s.push_str(&pct(&self.dbname));
        if self.sslmode != SslMode::Prefer {
            s.push_str("?sslmode=");
            s.push_str(self.sslmode.as_str());
        }
        s
    }
}

#[cfg(test)]
mod tests;
