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
    /// A parameter with a value outside its allowed set.
    #[error("invalid value for connection parameter `{param}`: {reason}")]
    BadValue {
        /// The parameter.
        param: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The parameters libpq knows that pgcopy passes on or deliberately accepts.
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
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcrl",
    "sslcompression",
    "sslsni",
    "requiressl",
    "target_session_attrs",
    "channel_binding",
    "gssencmode",
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
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
    ("PGCLIENTENCODING", "client_encoding"),
];

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
    /// `application_name`, when the user set one.
    pub application_name: Option<String>,
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
                        .map_err(|_| ConnInfoError::BadValue {
                            param: "port".into(),
                            reason: format!("`{}` is not a port number", s.trim()),
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
        let sslmode = match non_empty("sslmode") {
            Some(m) => SslMode::parse(&m)?,
            None if non_empty("requiressl").as_deref() == Some("1") => SslMode::Require,
            None => SslMode::Prefer,
        };
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
            application_name: non_empty("application_name"),
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

fn pct_decode(s: &str) -> Result<String, ConnInfoError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    ConnInfoError::Syntax(format!("invalid percent-encoding near `{}`", &s[i..]))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| ConnInfoError::Syntax("percent-encoded text is not UTF-8".into()))
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
                params.insert("user".into(), pct_decode(user)?);
            }
            if let Some(pw) = password {
                params.insert("password".into(), pct_decode(pw)?);
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
                Some((h, p)) => (pct_decode(h)?, Some(p.to_string())),
                None => (pct_decode(part)?, None),
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
        params.insert("dbname".into(), pct_decode(db)?);
    }
    if let Some(q) = query {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                ConnInfoError::Syntax(format!("URI query parameter `{pair}` has no `=`"))
            })?;
            params.insert(pct_decode(k)?, pct_decode(v)?);
        }
    }
    Ok(params)
}

fn parse_keyword_value(s: &str) -> Result<BTreeMap<String, String>, ConnInfoError> {
    let mut params = BTreeMap::new();
    let mut chars = s.chars().peekable();
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
        if chars.next() != Some('=') {
            return Err(ConnInfoError::Syntax(format!(
                "missing `=` after `{key}` (expected a URI like postgresql://user@host/db or key=value pairs)"
            )));
        }
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
    fn redaction_never_shows_password() {
        let p = ConnParams::parse("postgresql://u:hunter2@h:1/d?sslmode=require").unwrap();
        let s = p.resolve(no_env, &defaults(), None).unwrap();
        assert_eq!(s.redacted(), "postgresql://u@h:1/d?sslmode=require");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
