//! Connection strings the libpq way, without I/O.
//!
//! [`ConnParams::parse`] reads a URI (`postgresql://user@host:5432/db?sslmode=require`)
//! or a `key=value` string; [`ConnParams::resolve`] fills what is missing from the
//! `PG*` environment and a `.pgpass` file's text (both passed in, so this is
//! testable), giving [`ConnSettings`]. A password only ever lives in a [`Secret`],
//! whose `Debug` and `Display` print `********`: [`ConnSettings::redacted`] is the
//! one place that turns a connection into text for logs, errors and state rows.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

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
const KNOWN_PARAMS: &[&str] = &[
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
];

/// libpq parameters pgcopy does not implement, each with what to do instead:
/// refused, never accepted and ignored.
const REFUSED_PARAMS: &[(&str, &str)] = &[
    (
        "service",
        "pgcopy does not read pg_service.conf: write the service's parameters into the connection string",
    ),
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
    ("PGSERVICE", "service"),
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
    /// Password, if one was given or found in the password file.
    pub password: Option<Secret>,
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

impl ConnParams {
    /// Parses a URI or `key=value` connection string.
    pub fn parse(s: &str) -> Result<Self, ConnInfoError> {
        let s = s.trim();
        let params = if s.starts_with("postgresql://") || s.starts_with("postgres://") {
            parse_uri(s)?
        } else {
            parse_keyword_value(s)?
        };
        for k in params.keys() {
            if let Some(e) = refused(k, k) {
                return Err(e);
            }
            if !KNOWN_PARAMS.contains(&k.as_str()) {
                return Err(ConnInfoError::UnknownParam(k.clone()));
            }
        }
        Ok(ConnParams { params })
    }

    /// One parameter as given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    /// Sets a parameter (used for per-connection overrides).
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.params.insert(key.to_string(), value.into());
    }

    /// Fills missing parameters from `env` (a `PG*` variable lookup), then libpq's
    /// defaults, then the password from `pgpass` (the text of the password file,
    /// if one was readable), exactly in libpq's order of precedence.
    pub fn resolve(
        &self,
        env: impl Fn(&str) -> Option<String>,
        defaults: &ConnDefaults,
        pgpass: Option<&str>,
    ) -> Result<ConnSettings, ConnInfoError> {
        let mut p = self.params.clone();
        for (var, key) in ENV_PARAMS {
            if !p.contains_key(*key) {
                if let Some(v) = env(var).filter(|v| !v.is_empty()) {
                    if let Some(e) = refused(key, var) {
                        return Err(e);
                    }
                    p.insert(key.to_string(), v);
                }
            }
        }
        let non_empty = |k: &str| p.get(k).filter(|v| !v.is_empty()).cloned();
        let hosts: Vec<String> = match non_empty("host").or_else(|| non_empty("hostaddr")) {
            Some(h) => h.split(',').map(|s| s.trim().to_string()).collect(),
            None => vec![defaults.host.clone()],
        };
        let ports: Vec<u16> = match non_empty("port") {
            Some(ps) => ps
                .split(',')
                .map(|s| {
                    s.trim()
                        .parse::<u16>()
                        // Not echoed: in a URI whose password holds an
                        // unescaped `/` or `?`, the port is part of it.
                        .map_err(|_| ConnInfoError::BadValue {
                            param: "port".into(),
                            reason:
                                "it must be a number from 1 to 65535 (in a URI, a password's / ? @ \
                                     characters must be percent-encoded)"
                                    .into(),
                        })
                })
                .collect::<Result<_, _>>()?,
            None => vec![5432],
        };
        if ports.len() != 1 && ports.len() != hosts.len() {
            return Err(ConnInfoError::BadValue {
                param: "port".into(),
                reason: format!("{} ports given for {} hosts", ports.len(), hosts.len()),
            });
        }
        let user = non_empty("user").unwrap_or_else(|| defaults.user.clone());
        let dbname = non_empty("dbname").unwrap_or_else(|| user.clone());
        let system_roots = non_empty("sslrootcert").as_deref() == Some("system");
        let sslmode = match non_empty("sslmode") {
            Some(m) => SslMode::parse(&m)?,
            None if non_empty("requiressl").as_deref() == Some("1") => SslMode::Require,
            // libpq: trusting the system's CAs means checking the host name too.
            None if system_roots => SslMode::VerifyFull,
            None => SslMode::Prefer,
        };
        if system_roots && sslmode != SslMode::VerifyFull {
            return Err(bad(
                "sslmode",
                format!(
                    "sslrootcert=system needs sslmode=verify-full (any CA the system trusts could vouch \
                     for a server under a weaker mode), not {}",
                    sslmode.as_str()
                ),
            ));
        }
        let connect_timeout = match non_empty("connect_timeout") {
            Some(t) => Some(t.parse::<u64>().map_err(|_| ConnInfoError::BadValue {
                param: "connect_timeout".into(),
                reason: format!("`{t}` is not a number of seconds"),
            })?),
            None => None,
        };
        if non_empty("sslpassword").is_some() {
            return Err(ConnInfoError::BadValue {
                param: "sslpassword".into(),
                reason:
                    "encrypted client keys are not supported: give an unencrypted copy of the key \
                         (openssl pkey -in KEY -out KEY.plain), readable only by you"
                        .into(),
            });
        }
        let number = |k: &str| -> Result<Option<u64>, ConnInfoError> {
            non_empty(k)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| bad(k, format!("`{v}` is not a whole number")))
                })
                .transpose()
        };
        let flag = |k: &str, default: bool| -> Result<bool, ConnInfoError> {
            match non_empty(k).as_deref() {
                None => Ok(default),
                Some("1") => Ok(true),
                Some("0") => Ok(false),
                Some(v) => Err(bad(k, format!("`{v}` is not 0 or 1"))),
            }
        };
        let hostaddrs: Vec<Option<std::net::IpAddr>> = match non_empty("hostaddr") {
            None => vec![None; hosts.len()],
            Some(list) => {
                let addrs = list
                    .split(',')
                    .map(|a| {
                        let a = a.trim();
                        (!a.is_empty())
                            .then(|| {
                                a.parse::<std::net::IpAddr>().map_err(|_| {
                                    bad("hostaddr", format!("`{a}` is not a numeric IP address"))
                                })
                            })
                            .transpose()
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if non_empty("host").is_some() && addrs.len() != hosts.len() {
                    return Err(bad(
                        "hostaddr",
                        format!("{} addresses given for {} hosts", addrs.len(), hosts.len()),
                    ));
                }
                addrs
            }
        };
        let target_session_attrs = match non_empty("target_session_attrs").as_deref() {
            None | Some("any") => TargetSessionAttrs::Any,
            Some("read-write") => TargetSessionAttrs::ReadWrite,
            Some("read-only") => TargetSessionAttrs::ReadOnly,
            Some("primary") => TargetSessionAttrs::Primary,
            Some("standby") => TargetSessionAttrs::Standby,
            Some("prefer-standby") => TargetSessionAttrs::PreferStandby,
            Some(v) => {
                return Err(bad(
                    "target_session_attrs",
                    format!(
                        "`{v}` is not one of any, read-write, read-only, primary, standby, prefer-standby"
                    ),
                ))
            }
        };
        let channel_binding = match non_empty("channel_binding").as_deref() {
            None | Some("prefer") => ChannelBinding::Prefer,
            Some("disable") => ChannelBinding::Disable,
            Some("require") => ChannelBinding::Require,
            Some(v) => {
                return Err(bad(
                    "channel_binding",
                    format!("`{v}` is not one of disable, prefer, require"),
                ))
            }
        };
        if channel_binding == ChannelBinding::Require && sslmode == SslMode::Disable {
            return Err(bad(
                "channel_binding",
                "require needs TLS, and sslmode=disable turns it off",
            ));
        }
        let load_balance_random = match non_empty("load_balance_hosts").as_deref() {
            None | Some("disable") => false,
            Some("random") => true,
            Some(v) => {
                return Err(bad(
                    "load_balance_hosts",
                    format!("`{v}` is not disable or random"),
                ))
            }
        };
        match non_empty("gssencmode").as_deref() {
            // libpq built without GSSAPI, as pgcopy is, treats prefer as disable.
            None | Some("disable") | Some("prefer") => {}
            Some("require") => return Err(ConnInfoError::Unsupported {
                param: "gssencmode".into(),
                reason:
                    "pgcopy has no GSSAPI encryption: use sslmode=verify-full for an encrypted, \
                             verified connection"
                        .into(),
            }),
            Some(v) => {
                return Err(bad(
                    "gssencmode",
                    format!("`{v}` is not one of disable, prefer, require"),
                ))
            }
        }
        match non_empty("sslnegotiation").as_deref() {
            None | Some("postgres") => {}
            Some("direct") => return Err(ConnInfoError::Unsupported {
                param: "sslnegotiation".into(),
                reason:
                    "pgcopy negotiates TLS the usual way (sslnegotiation=postgres), which every \
                             server accepts: leave it out"
                        .into(),
            }),
            Some(v) => {
                return Err(bad(
                    "sslnegotiation",
                    format!("`{v}` is not postgres or direct"),
                ))
            }
        }
        let no_client_cert =
            match non_empty("sslcertmode").as_deref() {
                None | Some("allow") => false,
                Some("disable") => true,
                Some("require") => return Err(ConnInfoError::Unsupported {
                    param: "sslcertmode".into(),
                    reason:
                        "pgcopy cannot insist that the server asks for a client certificate: use \
                             allow (the default) with sslcert and sslkey"
                            .into(),
                }),
                Some(v) => {
                    return Err(bad(
                        "sslcertmode",
                        format!("`{v}` is not one of disable, allow, require"),
                    ))
                }
            };
        let tls_version = |k: &str| -> Result<Option<TlsVersion>, ConnInfoError> {
            match non_empty(k).as_deref() {
                None => Ok(None),
                Some("TLSv1.2") => Ok(Some(TlsVersion::Tls12)),
                Some("TLSv1.3") => Ok(Some(TlsVersion::Tls13)),
                // Below 1.2 as a lower bound changes nothing: pgcopy's TLS
                // never speaks less than 1.2 (nor does libpq by default).
                Some("TLSv1" | "TLSv1.1") if k == "ssl_min_protocol_version" => Ok(None),
                Some("TLSv1" | "TLSv1.1") => Err(ConnInfoError::Unsupported {
                    param: k.into(),
                    reason: "pgcopy's TLS speaks only TLSv1.2 and TLSv1.3".into(),
                }),
                Some(v) => Err(bad(
                    k,
                    format!("`{v}` is not one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3"),
                )),
            }
        };
        let ssl_min_protocol_version = tls_version("ssl_min_protocol_version")?;
        let ssl_max_protocol_version = tls_version("ssl_max_protocol_version")?;
        if let (Some(lo), Some(hi)) = (ssl_min_protocol_version, ssl_max_protocol_version) {
            if lo > hi {
                return Err(bad(
                    "ssl_max_protocol_version",
                    "it is lower than ssl_min_protocol_version",
                ));
            }
        }
        for k in ["min_protocol_version", "max_protocol_version"] {
            match non_empty(k).as_deref() {
                // pgcopy speaks protocol 3.0, which every server since 7.4 does.
                None | Some("3.0") => {}
                Some("3.2" | "latest") if k == "max_protocol_version" => {}
                Some("3.2" | "latest") => {
                    return Err(ConnInfoError::Unsupported {
                        param: k.into(),
                        reason: "pgcopy speaks protocol 3.0 only".into(),
                    })
                }
                Some(v) => return Err(bad(k, format!("`{v}` is not 3.0, 3.2 or latest"))),
            }
        }
        if let Some(enc) = non_empty("client_encoding") {
            if !matches!(
                enc.to_ascii_uppercase().replace('-', "").as_str(),
                "UTF8" | "UNICODE" | "AUTO"
            ) {
                return Err(ConnInfoError::Unsupported {
                    param: "client_encoding".into(),
                    reason: format!(
                        "pgcopy always talks UTF8 to the server (binary COPY does not depend on it), not `{enc}`: \
                         leave it out"
                    ),
                });
            }
        }
        // sslcompression: libpq asks for it, and OpenSSL builds of this decade
        // never compress, as pgcopy's TLS never does: accepted either way.
        flag("sslcompression", false)?;
        let keepalives = Keepalives {
            enabled: flag("keepalives", true)?,
            idle: number("keepalives_idle")?,
            interval: number("keepalives_interval")?,
            count: number("keepalives_count")?
                .map(|n| u32::try_from(n).map_err(|_| bad("keepalives_count", "too large")))
                .transpose()?,
        };
        let password = match p.get("password") {
            Some(pw) => Some(Secret::new(pw.clone())),
            None => pgpass.and_then(|text| {
                pgpass_lookup(text, &hosts[0], ports[0], &dbname, &user, &defaults.host)
                    .map(Secret::new)
            }),
        };
        Ok(ConnSettings {
            hosts,
            ports,
            dbname,
            user,
            password,
            sslmode,
            sslrootcert: non_empty("sslrootcert"),
            sslcert: non_empty("sslcert"),
            sslkey: non_empty("sslkey"),
            connect_timeout,
            options: non_empty("options"),
            application_name: non_empty("application_name")
                .or_else(|| non_empty("fallback_application_name")),
            hostaddrs,
            keepalives,
            tcp_user_timeout: number("tcp_user_timeout")?,
            target_session_attrs,
            load_balance_random,
            channel_binding,
            sslsni: flag("sslsni", true)?,
            sslcrl: non_empty("sslcrl"),
            sslcrldir: non_empty("sslcrldir"),
            ssl_min_protocol_version,
            ssl_max_protocol_version,
            no_client_cert,
        })
    }

    /// The password file to read: `passfile`, else `PGPASSFILE` (via `env`), else
    /// `home/.pgpass` when a home directory is known.
    pub fn passfile_path(
        &self,
        env: impl Fn(&str) -> Option<String>,
        home: Option<&str>,
    ) -> Option<String> {
        self.get("passfile")
            .map(str::to_string)
            .or_else(|| env("PGPASSFILE"))
            .or_else(|| home.map(|h| format!("{h}/.pgpass")))
    }
}

impl ConnSettings {
    /// The connection as text safe for logs, errors and the state schema: a URI
    /// with every part but the password.
    pub fn redacted(&self) -> String {
        let mut s = format!("postgresql://{}@", pct(&self.user));
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let port = self
                    .ports
                    .get(i)
                    .or(self.ports.first())
                    .copied()
                    .unwrap_or(5432);
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

/// Percent-encodes everything outside the URI-unreserved set.
fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes of one URI part; an error names the part, never its
/// text (it may be a password).
fn pct_decode(part: &str, s: &str) -> Result<String, ConnInfoError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    ConnInfoError::Syntax(format!(
                        "invalid percent-encoding in the URI's {part} (a % must be followed by two hex digits)"
                    ))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| {
        ConnInfoError::Syntax(format!(
            "the URI's {part} is not UTF-8 once percent-decoded"
        ))
    })
}

fn parse_uri(s: &str) -> Result<BTreeMap<String, String>, ConnInfoError> {
    let mut params = BTreeMap::new();
    let rest = s
        .strip_prefix("postgresql://")
        .or_else(|| s.strip_prefix("postgres://"))
        .expect("caller checked the scheme");
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (netloc, path) = match before_query.split_once('/') {
        Some((n, p)) => (n, Some(p)),
        None => (before_query, None),
    };
    let hostspec = match netloc.rsplit_once('@') {
        Some((userinfo, hostspec)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, pw)) => (u, Some(pw)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                params.insert("user".into(), pct_decode("user name", user)?);
            }
            if let Some(pw) = password {
                params.insert("password".into(), pct_decode("password", pw)?);
            }
            hostspec
        }
        None => netloc,
    };
    let mut hosts = Vec::new();
    let mut ports = Vec::new();
    for part in hostspec.split(',').filter(|p| !p.is_empty()) {
        let (host, port) = if let Some(v6) = part.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| {
                ConnInfoError::Syntax(format!("unterminated `[` in host `{part}`"))
            })?;
            (h.to_string(), after.strip_prefix(':').map(str::to_string))
        } else {
            match part.rsplit_once(':') {
                Some((h, p)) => (pct_decode("host", h)?, Some(p.to_string())),
                None => (pct_decode("host", part)?, None),
            }
        };
        hosts.push(host);
        if let Some(p) = port {
            ports.push(p);
        }
    }
    if !hosts.is_empty() && hosts.iter().any(|h| !h.is_empty()) {
        params.insert("host".into(), hosts.join(","));
    }
    if !ports.is_empty() {
        params.insert("port".into(), ports.join(","));
    }
    if let Some(db) = path.filter(|p| !p.is_empty()) {
        params.insert("dbname".into(), pct_decode("database name", db)?);
    }
    if let Some(q) = query {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                ConnInfoError::Syntax(
                    "a URI query parameter has no `=` (write ?name=value&...)".into(),
                )
            })?;
            let k = pct_decode("query parameter name", k)?;
            let v = pct_decode("query parameter value", v)?;
            params.insert(k, v);
        }
    }
    Ok(params)
}

fn parse_keyword_value(s: &str) -> Result<BTreeMap<String, String>, ConnInfoError> {
    let mut params = BTreeMap::new();
    let mut chars = s.chars().peekable();
    // Text right after an unquoted password may be the rest of a password
    // that holds a space: an error about it must not echo it.
    let mut after_password = false;
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let is_param =
            KNOWN_PARAMS.contains(&key.as_str()) || REFUSED_PARAMS.iter().any(|(p, _)| *p == key);
        if after_password && !is_param {
            return Err(ConnInfoError::Syntax(
                "a password is followed by text that is not a parameter: a password that holds spaces \
                 must be quoted (password='...')"
                    .into(),
            ));
        }
        if chars.next() != Some('=') {
            return Err(ConnInfoError::Syntax(format!(
                "missing `=` after `{key}` (expected a URI like postgresql://user@host/db or key=value pairs)"
            )));
        }
        after_password = key == "password" || key == "sslpassword";
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => {
                            return Err(ConnInfoError::Syntax(format!(
                                "unterminated quoted value for `{key}`"
                            )))
                        }
                    },
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(ConnInfoError::Syntax(format!(
                            "unterminated quoted value for `{key}`"
                        )))
                    }
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        if key.is_empty() {
            return Err(ConnInfoError::Syntax("empty parameter name".into()));
        }
        params.insert(key, value);
    }
    Ok(params)
}

/// Finds the password for a connection in `.pgpass` text, as libpq does: the first
/// line whose five fields match (`*` matches anything; `\:` and `\\` escape),
/// with a socket-directory host matching `localhost`.
pub fn pgpass_lookup(
    text: &str,
    host: &str,
    port: u16,
    dbname: &str,
    user: &str,
    default_socket_dir: &str,
) -> Option<String> {
    let host = if host.is_empty() || host.starts_with('/') || host == default_socket_dir {
        "localhost"
    } else {
        host
    };
    let port = port.to_string();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass_line(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = |field: &str, want: &str| field == "*" || field == want;
        if matches(&fields[0], host)
            && matches(&fields[1], &port)
            && matches(&fields[2], dbname)
            && matches(&fields[3], user)
        {
            return Some(fields[4].clone());
        }
    }
    None
}

fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().expect("non-empty").push(n);
                }
            }
            // The password is the rest of the line, colons included.
            ':' if fields.len() < 5 => fields.push(String::new()),
            _ => fields.last_mut().expect("non-empty").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> ConnDefaults {
        ConnDefaults {
            host: "/var/run/postgresql".into(),
            user: "osuser".into(),
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn uri_full() {
        let p = ConnParams::parse(
            "postgresql://al%40ice:p%3Ass@db.example.com:6543/my%20db?sslmode=verify-full&application_name=x",
        )
        .unwrap();
        let s = p.resolve(no_env, &defaults(), None).unwrap();
        assert_eq!(s.user, "al@ice");
        assert_eq!(s.password.as_ref().unwrap().expose(), "p:ss");
        assert_eq!(s.hosts, vec!["db.example.com"]);
        assert_eq!(s.ports, vec![6543]);
        assert_eq!(s.dbname, "my db");
        assert_eq!(s.sslmode, SslMode::VerifyFull);
        assert_eq!(s.application_name.as_deref(), Some("x"));
    }

    #[test]
    fn uri_ipv6_and_socket_host() {
        let p = ConnParams::parse("postgres://[::1]:5433/db").unwrap();
        assert_eq!(p.get("host"), Some("::1"));
        assert_eq!(p.get("port"), Some("5433"));
        let p = ConnParams::parse("postgresql://%2Ftmp%2Fsock/db").unwrap();
        assert_eq!(p.get("host"), Some("/tmp/sock"));
        let p = ConnParams::parse("postgresql:///db?host=/tmp&port=7000").unwrap();
        let s = p.resolve(no_env, &defaults(), None).unwrap();
        assert_eq!(s.hosts, vec!["/tmp"]);
        assert_eq!(s.ports, vec![7000]);
    }

    #[test]
    fn keyword_value() {
        let p = ConnParams::parse(
            r"host=localhost port = 5433 dbname='my db' user=bob password='it\'s \\ secret'",
        )
        .unwrap();
        let s = p.resolve(no_env, &defaults(), None).unwrap();
        assert_eq!(s.dbname, "my db");
        assert_eq!(s.password.unwrap().expose(), r"it's \ secret");
        assert_eq!(s.ports, vec![5433]);
    }

    #[test]
    fn errors_are_clear() {
        assert!(matches!(
            ConnParams::parse("host=x dbnam=y"),
            Err(ConnInfoError::UnknownParam(k)) if k == "dbnam"
        ));
        assert!(matches!(
            ConnParams::parse("just-a-word"),
            Err(ConnInfoError::Syntax(_))
        ));
        assert!(matches!(
            ConnParams::parse("password='unterminated"),
            Err(ConnInfoError::Syntax(_))
        ));
        let p = ConnParams::parse("sslmode=sometimes").unwrap();
        assert!(p.resolve(no_env, &defaults(), None).is_err());
        let p = ConnParams::parse("port=abc").unwrap();
        assert!(p.resolve(no_env, &defaults(), None).is_err());
    }

    #[test]
    fn env_fills_only_missing() {
        let env = |k: &str| match k {
            "PGHOST" => Some("envhost".to_string()),
            "PGUSER" => Some("envuser".to_string()),
            "PGPASSWORD" => Some("envpw".to_string()),
            "PGDATABASE" => Some("envdb".to_string()),
            _ => None,
        };
        let p = ConnParams::parse("postgresql://bob@/x").unwrap();
        let s = p.resolve(env, &defaults(), None).unwrap();
        assert_eq!(s.hosts, vec!["envhost"]);
        assert_eq!(s.user, "bob");
        assert_eq!(s.dbname, "x");
        assert_eq!(s.password.unwrap().expose(), "envpw");
    }

    #[test]
    fn defaults_apply() {
        let s = ConnParams::parse("")
            .unwrap()
            .resolve(no_env, &defaults(), None)
            .unwrap();
        assert_eq!(s.hosts, vec!["/var/run/postgresql"]);
        assert_eq!(s.user, "osuser");
        assert_eq!(s.dbname, "osuser");
        assert_eq!(s.ports, vec![5432]);
        assert_eq!(s.sslmode, SslMode::Prefer);
    }

    #[test]
    fn pgpass_rules() {
        let text = "# comment\n\
                    other:5432:*:bob:wrong\n\
                    db\\:host:*:app:bob:first:with:colons\n\
                    localhost:5432:*:*:socketpw\n\
                    *:*:*:bob:fallback\n";
        assert_eq!(
            pgpass_lookup(text, "db:host", 1, "app", "bob", "/run").as_deref(),
            Some("first:with:colons")
        );
        assert_eq!(
            pgpass_lookup(text, "/tmp/x", 5432, "d", "carol", "/run").as_deref(),
            Some("socketpw")
        );
        assert_eq!(
            pgpass_lookup(text, "zzz", 5432, "d", "bob", "/run").as_deref(),
            Some("fallback")
        );
        assert_eq!(pgpass_lookup(text, "zzz", 5432, "d", "carol", "/run"), None);
        let p = ConnParams::parse("host=zzz user=bob").unwrap();
        let s = p.resolve(no_env, &defaults(), Some(text)).unwrap();
        assert_eq!(s.password.unwrap().expose(), "fallback");
        // An explicit password wins over the file.
        let p = ConnParams::parse("host=zzz user=bob password=given").unwrap();
        let s = p.resolve(no_env, &defaults(), Some(text)).unwrap();
        assert_eq!(s.password.unwrap().expose(), "given");
    }

    #[test]
    fn libpq_parameters_are_implemented_or_refused() {
        let resolve =
            |s: &str| ConnParams::parse(s).and_then(|p| p.resolve(no_env, &defaults(), None));
        let s = resolve(
            "host=db.example.com,db2 hostaddr=10.0.0.1,::1 keepalives_idle=30 keepalives_count=3 \
             tcp_user_timeout=5000 target_session_attrs=read-write channel_binding=require sslsni=0 \
             sslcrl=/c.pem ssl_min_protocol_version=TLSv1.3 load_balance_hosts=random \
             fallback_application_name=fb gssencmode=prefer sslcertmode=disable client_encoding=UTF8",
        )
        .unwrap();
        assert_eq!(s.hosts, ["db.example.com", "db2"]);
        assert_eq!(
            s.hostaddrs,
            [
                Some("10.0.0.1".parse().unwrap()),
                Some("::1".parse().unwrap())
            ]
        );
        assert_eq!(s.keepalives.idle, Some(30));
        assert_eq!(s.keepalives.count, Some(3));
        assert!(s.keepalives.enabled);
        assert_eq!(s.tcp_user_timeout, Some(5000));
        assert_eq!(s.target_session_attrs, TargetSessionAttrs::ReadWrite);
        assert_eq!(s.channel_binding, ChannelBinding::Require);
        assert!(!s.sslsni && s.load_balance_random && s.no_client_cert);
        assert_eq!(s.sslcrl.as_deref(), Some("/c.pem"));
        assert_eq!(s.ssl_min_protocol_version, Some(TlsVersion::Tls13));
        assert_eq!(s.application_name.as_deref(), Some("fb"));
        // Refused, each with one sentence, from the string or the environment.
        for (conninfo, param) in [
            ("service=prod", "service"),
            ("host=h require_auth=scram-sha-256", "require_auth"),
            ("host=h gssencmode=require", "gssencmode"),
            ("host=h sslnegotiation=direct", "sslnegotiation"),
            ("host=h sslcertmode=require", "sslcertmode"),
            (
                "host=h ssl_max_protocol_version=TLSv1.1",
                "ssl_max_protocol_version",
            ),
            ("host=h client_encoding=LATIN1", "client_encoding"),
            ("host=h requirepeer=postgres", "requirepeer"),
            ("host=h replication=database", "replication"),
        ] {
            match resolve(conninfo) {
                Err(ConnInfoError::Unsupported { param: p, reason }) => {
                    assert_eq!(p, param);
                    assert!(!reason.is_empty());
                }
                other => panic!("{conninfo}: {other:?}"),
            }
        }
        let env = |k: &str| (k == "PGSERVICE").then(|| "prod".to_string());
        assert!(matches!(
            ConnParams::parse("host=h").unwrap().resolve(env, &defaults(), None),
            Err(ConnInfoError::Unsupported { param, .. }) if param == "PGSERVICE"
        ));
        for bad in [
            "hostaddr=db.example.com",
            "host=a,b hostaddr=10.0.0.1",
            "target_session_attrs=sometimes",
            "channel_binding=maybe",
            "sslmode=disable channel_binding=require",
            "keepalives=2",
            "keepalives_idle=soon",
            "ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2",
        ] {
            assert!(
                matches!(resolve(bad), Err(ConnInfoError::BadValue { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn redaction_never_shows_password() {
        let p = ConnParams::parse("postgresql://u:hunter2@h:1/d?sslmode=require").unwrap();
        let s = p.resolve(no_env, &defaults(), None).unwrap();
        assert_eq!(s.redacted(), "postgresql://u@h:1/d?sslmode=require");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    proptest::proptest! {
        /// No error about a connection string, in any of its forms, shows any
        /// part of the password in it: the error is the same whatever the
        /// password (of that length) is.
        #[test]
        fn errors_never_echo_a_password(
            pw in "[A-Za-z0-9]{6,12}",
            junk in "[ %=@:/?&'a-z]{0,6}",
            form in 0usize..6,
        ) {
            let conninfo = |pw: &str| match form {
                0 => format!("postgresql://u:{pw}%Z{junk}@h/db"),
                1 => format!("postgresql://u:{pw}{junk}@h/db?sslmode=bogus"),
                2 => format!("host=h password={pw} {pw}{junk}"),
                3 => format!("host=h password='{pw}{junk}"),
                4 => format!("postgresql://u@h/db?password={pw}%G{junk}"),
                _ => format!("host=h password={pw}{junk} port={junk}"),
            };
            let error = |s: String| {
                ConnParams::parse(&s)
                    .and_then(|p| p.resolve(|_| None, &defaults(), None))
                    .err()
                    .map(|e| e.to_string())
            };
            let other = "Q".repeat(pw.len());
            proptest::prop_assert_eq!(error(conninfo(&pw)), error(conninfo(&other)));
        }
    }
}
