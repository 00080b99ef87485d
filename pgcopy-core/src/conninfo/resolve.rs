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
        let g = self.with_environment(env)?;
        let (hosts, ports, hostaddrs) = g.addresses(defaults)?;
        let user = g.text("user").unwrap_or_else(|| defaults.user.clone());
        let dbname = g.text("dbname").unwrap_or_else(|| user.clone());
        let tls = g.tls()?;
        let connect_timeout = g.number("connect_timeout", "a number of seconds")?;
        let session = g.session(tls.sslmode)?;
        g.refuse_unsupported()?;
        let keepalives = Keepalives {
            enabled: g.flag("keepalives", true)?,
            idle: g.number("keepalives_idle", WHOLE)?,
            interval: g.number("keepalives_interval", WHOLE)?,
            count: g
                .number("keepalives_count", WHOLE)?
                .map(|n| u32::try_from(n).map_err(|_| bad("keepalives_count", "too large")))
                .transpose()?,
        };
        let password = g.0.get("password").map(|pw| Secret::new(pw.clone()));
        // libpq looks the password file up for each host it tries.
        let host_passwords: Vec<Option<Secret>> = match (&password, pgpass) {
            (Some(_), _) => Vec::new(),
            (None, text) => hosts
                .iter()
                .enumerate()
                .map(|(i, host)| {
                    let port = super::port_for(&ports, i);
                    text.and_then(|text| {
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
            sslmode: tls.sslmode,
            sslrootcert: g.text("sslrootcert"),
            sslcert: g.text("sslcert"),
            sslkey: g.text("sslkey"),
            connect_timeout,
            options: g.text("options"),
            application_name: g
                .text("application_name")
                .or_else(|| g.text("fallback_application_name")),
            hostaddrs,
            keepalives,
            tcp_user_timeout: g.number("tcp_user_timeout", WHOLE)?,
            target_session_attrs: session.target_session_attrs,
            load_balance_random: session.load_balance_random,
            channel_binding: session.channel_binding,
            sslsni: g.flag("sslsni", true)?,
            sslcrl: g.text("sslcrl"),
            sslcrldir: g.text("sslcrldir"),
            ssl_min_protocol_version: tls.min_version,
            ssl_max_protocol_version: tls.max_version,
            no_client_cert: tls.no_client_cert,
        })
    }

    /// The parameters given, and those of the `PG*` variables (through
    /// `env`) that were not.
    fn with_environment(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Given, ConnInfoError> {
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
        Ok(Given(p))
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

/// What a number parameter other than `connect_timeout` must be.
const WHOLE: &str = "a whole number";

/// The parameters given and from the environment, read as libpq reads
/// them: an empty value is no value.
struct Given(BTreeMap<String, String>);

/// What the TLS parameters say.
struct Tls {
    sslmode: SslMode,
    min_version: Option<TlsVersion>,
    max_version: Option<TlsVersion>,
    no_client_cert: bool,
}

/// How a host is picked among several.
struct Session {
    target_session_attrs: TargetSessionAttrs,
    load_balance_random: bool,
    channel_binding: ChannelBinding,
}

impl Given {
    /// `key`'s value, unless absent or empty.
    fn text(&self, key: &str) -> Option<String> {
        self.0.get(key).filter(|v| !v.is_empty()).cloned()
    }

    /// `key` as a whole number, `what` saying which in its error.
    fn number(&self, key: &str, what: &str) -> Result<Option<u64>, ConnInfoError> {
        self.text(key)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| bad(key, format!("`{v}` is not {what}")))
            })
            .transpose()
    }

    /// `key` as libpq's 0 or 1.
    fn flag(&self, key: &str, default: bool) -> Result<bool, ConnInfoError> {
        match self.text(key).as_deref() {
            None => Ok(default),
            Some("1") => Ok(true),
            Some("0") => Ok(false),
            Some(v) => Err(bad(key, format!("`{v}` is not 0 or 1"))),
        }
    }

    /// `key`'s value among `words` (`default` when absent), or why not.
    fn one_of(
        &self,
        key: &str,
        words: &[&'static str],
        default: &'static str,
    ) -> Result<&'static str, ConnInfoError> {
        let Some(v) = self.text(key) else {
            return Ok(default);
        };
        if let Some(w) = words.iter().find(|w| **w == v) {
            return Ok(w);
        }
        let listed = match words {
            [a, b] => format!("{a} or {b}"),
            _ => format!("one of {}", words.join(", ")),
        };
        Err(bad(key, format!("`{v}` is not {listed}")))
    }

    /// The hosts, their ports and their numeric addresses, one each (a
    /// port given once serves every host).
    #[allow(clippy::type_complexity)]
    fn addresses(
        &self,
        defaults: &ConnDefaults,
    ) -> Result<(Vec<String>, Vec<u16>, Vec<Option<std::net::IpAddr>>), ConnInfoError> {
        let hosts: Vec<String> = match self.text("host").or_else(|| self.text("hostaddr")) {
            Some(h) => h.split(',').map(|s| s.trim().to_string()).collect(),
            None => vec![defaults.host.clone()],
        };
        let ports: Vec<u16> = match self.text("port") {
            Some(ps) => ps
                .split(',')
                .map(|s| {
                    s.trim()
                        .parse::<u16>()
                        // Not echoed: in a URI whose password holds an
                        // unescaped `/` or `?`, the port is part of it.
                        .map_err(|_| {
                            bad(
                                "port",
                                "it must be a number from 1 to 65535 (in a URI, a password's / ? @ \
                                 characters must be percent-encoded)",
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
            None => vec![5432],
        };
        if ports.len() != 1 && ports.len() != hosts.len() {
            return Err(bad(
                "port",
                format!("{} ports given for {} hosts", ports.len(), hosts.len()),
            ));
        }
        let hostaddrs = match self.text("hostaddr") {
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
                if self.text("host").is_some() && addrs.len() != hosts.len() {
                    return Err(bad(
                        "hostaddr",
                        format!("{} addresses given for {} hosts", addrs.len(), hosts.len()),
                    ));
                }
                addrs
            }
        };
        Ok((hosts, ports, hostaddrs))
    }

    /// The TLS parameters, and those pgcopy's TLS cannot honour refused.
    fn tls(&self) -> Result<Tls, ConnInfoError> {
        let system_roots = self.text("sslrootcert").as_deref() == Some("system");
        let sslmode = match self.text("sslmode") {
            Some(m) => SslMode::parse(&m)?,
            None if self.text("requiressl").as_deref() == Some("1") => SslMode::Require,
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
        if self.text("sslpassword").is_some() {
            return Err(bad(
                "sslpassword",
                "encrypted client keys are not supported: give an unencrypted copy of the key \
                 (openssl pkey -in KEY -out KEY.plain), readable only by you",
            ));
        }
        if self.one_of("sslnegotiation", &["postgres", "direct"], "postgres")? == "direct" {
            return Err(ConnInfoError::Unsupported {
                param: "sslnegotiation".into(),
                reason:
                    "pgcopy negotiates TLS the usual way (sslnegotiation=postgres), which every \
                         server accepts: leave it out"
                        .into(),
            });
        }
        let no_client_cert =
            match self.one_of("sslcertmode", &["disable", "allow", "require"], "allow")? {
                "require" => {
                    return Err(ConnInfoError::Unsupported {
                        param: "sslcertmode".into(),
                        reason:
                            "pgcopy cannot insist that the server asks for a client certificate: \
                             use allow (the default) with sslcert and sslkey"
                                .into(),
                    })
                }
                mode => mode == "disable",
            };
        let min_version = self.tls_version("ssl_min_protocol_version")?;
        let max_version = self.tls_version("ssl_max_protocol_version")?;
        if let (Some(lo), Some(hi)) = (min_version, max_version) {
            if lo > hi {
                return Err(bad(
                    "ssl_max_protocol_version",
                    "it is lower than ssl_min_protocol_version",
                ));
            }
        }
        // sslcompression: libpq asks for it, and OpenSSL builds of this decade
        // never compress, as pgcopy's TLS never does: accepted either way.
        self.flag("sslcompression", false)?;
        Ok(Tls {
            sslmode,
            min_version,
            max_version,
            no_client_cert,
        })
    }

    /// A TLS protocol version bound.
    fn tls_version(&self, key: &str) -> Result<Option<TlsVersion>, ConnInfoError> {
        match self.text(key).as_deref() {
            None => Ok(None),
            Some("TLSv1.2") => Ok(Some(TlsVersion::Tls12)),
            Some("TLSv1.3") => Ok(Some(TlsVersion::Tls13)),
            // Below 1.2 as a lower bound changes nothing: pgcopy's TLS
            // never speaks less than 1.2 (nor does libpq by default).
            Some("TLSv1" | "TLSv1.1") if key == "ssl_min_protocol_version" => Ok(None),
            Some("TLSv1" | "TLSv1.1") => Err(ConnInfoError::Unsupported {
                param: key.into(),
                reason: "pgcopy's TLS speaks only TLSv1.2 and TLSv1.3".into(),
            }),
            Some(v) => Err(bad(
                key,
                format!("`{v}` is not one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3"),
            )),
        }
    }

    /// Which host a connection settles on, and channel binding.
    fn session(&self, sslmode: SslMode) -> Result<Session, ConnInfoError> {
        let target_session_attrs = match self.one_of(
            "target_session_attrs",
            &[
                "any",
                "read-write",
                "read-only",
                "primary",
                "standby",
                "prefer-standby",
            ],
            "any",
        )? {
            "read-write" => TargetSessionAttrs::ReadWrite,
            "read-only" => TargetSessionAttrs::ReadOnly,
            "primary" => TargetSessionAttrs::Primary,
            "standby" => TargetSessionAttrs::Standby,
            "prefer-standby" => TargetSessionAttrs::PreferStandby,
            _ => TargetSessionAttrs::Any,
        };
        let channel_binding = match self.one_of(
            "channel_binding",
            &["disable", "prefer", "require"],
            "prefer",
        )? {
            "disable" => ChannelBinding::Disable,
            "require" => ChannelBinding::Require,
            _ => ChannelBinding::Prefer,
        };
        if channel_binding == ChannelBinding::Require && sslmode == SslMode::Disable {
            return Err(bad(
                "channel_binding",
                "require needs TLS, and sslmode=disable turns it off",
            ));
        }
        let load_balance_random =
            self.one_of("load_balance_hosts", &["disable", "random"], "disable")? == "random";
        Ok(Session {
            target_session_attrs,
            load_balance_random,
            channel_binding,
        })
    }

    /// Refuses what libpq would do and pgcopy cannot: GSSAPI encryption,
    /// another protocol, another client encoding.
    fn refuse_unsupported(&self) -> Result<(), ConnInfoError> {
        // libpq built without GSSAPI, as pgcopy is, treats prefer as disable.
        if self.one_of("gssencmode", &["disable", "prefer", "require"], "prefer")? == "require" {
            return Err(ConnInfoError::Unsupported {
                param: "gssencmode".into(),
                reason: "pgcopy has no GSSAPI encryption: use sslmode=verify-full for an \
                         encrypted, verified connection"
                    .into(),
            });
        }
        for k in ["min_protocol_version", "max_protocol_version"] {
            match self.text(k).as_deref() {
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
        if let Some(enc) = self.text("client_encoding") {
            if !matches!(
                enc.to_ascii_uppercase().replace('-', "").as_str(),
                "UTF8" | "UNICODE" | "AUTO"
            ) {
                return Err(ConnInfoError::Unsupported {
                    param: "client_encoding".into(),
                    reason: format!(
                        "pgcopy always talks UTF8 to the server (binary COPY does not depend on it), \
                         not `{enc}`: leave it out"
                    ),
                });
            }
        }
        Ok(())
    }
}
