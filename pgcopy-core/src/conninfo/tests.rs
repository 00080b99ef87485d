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

/// A word libpq does not know names the ones it does, in libpq's order.
#[test]
fn a_wrong_word_lists_the_right_ones() {
    for (given, said) in [
        (
            "target_session_attrs=x",
            "`x` is not one of any, read-write, read-only, primary, standby, prefer-standby",
        ),
        (
            "channel_binding=x",
            "`x` is not one of disable, prefer, require",
        ),
        ("load_balance_hosts=x", "`x` is not disable or random"),
        ("gssencmode=x", "`x` is not one of disable, prefer, require"),
        ("sslnegotiation=x", "`x` is not postgres or direct"),
        ("sslcertmode=x", "`x` is not one of disable, allow, require"),
        ("connect_timeout=x", "`x` is not a number of seconds"),
        ("keepalives_idle=x", "`x` is not a whole number"),
        ("sslsni=2", "`2` is not 0 or 1"),
    ] {
        let p = ConnParams::parse(given).unwrap();
        match p.resolve(no_env, &defaults(), None) {
            Err(ConnInfoError::BadValue { reason, .. }) => assert_eq!(reason, said, "{given}"),
            other => panic!("{given}: {other:?}"),
        }
    }
    for refused in [
        "gssencmode=require",
        "sslnegotiation=direct",
        "sslcertmode=require",
    ] {
        let p = ConnParams::parse(refused).unwrap();
        let e = p.resolve(no_env, &defaults(), None);
        assert!(
            matches!(e, Err(ConnInfoError::Unsupported { .. })),
            "{refused}: {e:?}"
        );
    }
}

/// A password's unencoded `/`, `?`, `#` or `,[` cuts a URI short; the
/// error quotes none of it (a red team saw pieces of the password in
/// the host, an unknown parameter and the host list's error).
#[test]
fn a_uri_cut_short_by_a_password_quotes_none_of_it() {
    for (uri, secret) in [
        ("postgresql://postgres:2024/Summer!@127.0.0.1/db", "Summer"),
        ("postgresql://postgres:2024?Summer=1@127.0.0.1/db", "Summer"),
        (
            "postgresql://postgres:pa,[Zq9secret/x@127.0.0.1/db",
            "Zq9secret",
        ),
        ("postgresql://postgres:pa#ss@127.0.0.1/db", "ss@"),
    ] {
        let e = ConnParams::parse(uri).unwrap_err().to_string();
        assert!(e.contains("percent-encode"), "{uri}: {e}");
        assert!(!e.contains(secret) && !e.contains("2024"), "{uri}: {e}");
    }
    // An `@` of a known parameter's value is its own.
    let p = ConnParams::parse("postgresql://h/db?application_name=me@laptop").unwrap();
    let s = p.resolve(no_env, &defaults(), None).unwrap();
    assert_eq!(s.dbname, "db");
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
    assert_eq!(s.password_for(0).unwrap().expose(), "fallback");
    // An explicit password wins over the file.
    let p = ConnParams::parse("host=zzz user=bob password=given").unwrap();
    let s = p.resolve(no_env, &defaults(), Some(text)).unwrap();
    assert_eq!(s.password.unwrap().expose(), "given");
}

#[test]
fn libpq_parameters_are_implemented_or_refused() {
    let resolve = |s: &str| ConnParams::parse(s).and_then(|p| p.resolve(no_env, &defaults(), None));
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
    let env = |k: &str| (k == "PGREQUIREAUTH").then(|| "password".to_string());
    assert!(matches!(
        ConnParams::parse("host=h").unwrap().resolve(env, &defaults(), None),
        Err(ConnInfoError::Unsupported { param, .. }) if param == "PGREQUIREAUTH"
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
