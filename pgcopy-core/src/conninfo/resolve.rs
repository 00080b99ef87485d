//! Parsing and resolving connection parameters: flags, the connection
//! string, the service file's (`service.rs`, applied before), `PG*`
//! variables, defaults.

use super::*;

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
        // A service is read before (`with_service`), never ignored.
        if p.contains_key("service") {
            return Err(bad(
                "service",
                "the service file was not read for this connection",
            ));
        }
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
        let password = p.get("password").map(|pw| Secret::new(pw.clone()));
        // libpq looks the password file up for each host it tries.
        let host_passwords: Vec<Option<Secret>> = match password {
            Some(_) => Vec::new(),
            None => hosts
                .iter()
                .enumerate()
                .map(|(i, host)| {
                    let port = super::port_for(&ports, i);
                    pgpass.and_then(|text| {
                        pgpass_lookup(text, host, port, &dbname, &user, &defaults.host)
                            .map(Secret::new)
                    })
                })
                .collect(),
        };
        Ok(ConnSettings {
            hosts,
            ports,
            dbname,
            user,
            password,
            host_passwords,
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
