//! TLS over rustls with libpq's sslmode meanings, against a server that only
//! accepts TLS logins, with certificates made by openssl for the test.

use crate::common::{pgcopy, Pair};
use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is needed for this test");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA: `{name}.crt` and `{name}.key`.
fn ca(dir: &Path, name: &str, cn: &str) {
    let (key, crt) = (format!("{name}.key"), format!("{name}.crt"));
    openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", cn, "-keyout",
            &key, "-out", &crt,
        ],
    );
}

/// A key and a certificate signed by `ca`, with the X.509 v3 extensions in
/// `ext` (as real server and client certificates have): `{name}.crt`, `{name}.key`.
fn signed(dir: &Path, name: &str, cn: &str, ext: &str) {
    let (key, csr, crt, ext_file) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
        format!("{name}.ext"),
    );
    std::fs::write(dir.join(&ext_file), format!("{ext}\n")).unwrap();
    openssl(
        dir,
        &[
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", cn, "-keyout", &key, "-out", &csr,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext_file,
            "-out",
            &crt,
        ],
    );
}

/// A CA, a server certificate for 127.0.0.1 and localhost signed by it, a
/// client certificate for the role `certuser` signed by it, and an unrelated CA.
fn certificates(dir: &Path) {
    ca(dir, "ca", "/CN=pgcopy test CA");
    ca(dir, "other", "/CN=other CA");
    signed(
        dir,
        "server",
        "/CN=127.0.0.1",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
    );
    signed(dir, "client", "/CN=certuser", "extendedKeyUsage=clientAuth");
}

#[test]
fn sslmodes_over_rustls() {
    let p = Pair::new("tlsdb");
    let dir = std::env::temp_dir().join(format!("pgcopy-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    certificates(&dir);
    p.src
        .require_ssl(&dir.join("server.crt"), &dir.join("server.key"));
    let url = |extra: &str| {
        format!(
            "postgresql://postgres:{}@127.0.0.1:{}/tlsdb?{extra}",
            pgcopy_tests::SUPERUSER_PASSWORD,
            p.src.port()
        )
    };
    let ca = dir.join("ca.crt");
    let other = dir.join("other.crt");

    // Without TLS the server refuses us; prefer (the default) and require work.
    let run = pgcopy(&["list", "-s", &url("sslmode=disable")]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("no pg_hba.conf entry"),
        "{}",
        run.stderr
    );
    pgcopy(&["list", "-s", &url("")]).expect_code(0);
    pgcopy(&["list", "-s", &url("sslmode=require")]).expect_code(0);
    // SCRAM bound to the TLS channel (tls-server-end-point), as libpq does:
    // the rustls connector before 0.14 offered no binding, and `require`
    // never connected (a red team's finding).
    let bound = pgcopy(&[
        "list",
        "-s",
        &url("sslmode=require&channel_binding=require"),
    ]);
    bound.expect_code(0);
    // The chain and the name check out against the right CA...
    pgcopy(&[
        "list",
        "-s",
        &url(&format!("sslmode=verify-full&sslrootcert={}", ca.display())),
    ])
    .expect_code(0);
    pgcopy(&[
        "list",
        "-s",
        &url(&format!("sslmode=verify-ca&sslrootcert={}", ca.display())),
    ])
    .expect_code(0);
    // ...and not against another one.
    let run = pgcopy(&[
        "list",
        "-s",
        &url(&format!(
            "sslmode=verify-full&sslrootcert={}",
            other.display()
        )),
    ]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("could not connect to the source"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.to_lowercase().contains("certificate"),
        "{}",
        run.stderr
    );
    // verify-full without a root certificate says what to do.
    let run = crate::common::pgcopy_env(
        &["list", "-s", &url("sslmode=verify-full")],
        &[("HOME", dir.to_str().unwrap())],
    );
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("needs a root certificate: set sslrootcert=PATH")
            || run.stderr.contains("cannot read root certificate"),
        "{}",
        run.stderr
    );
    // Certificate authentication: the role logs in with its client
    // certificate, and without it is refused.
    p.src.trust_client_certs(&ca, "certuser");
    let cert_url = |extra: &str| {
        format!(
            "postgresql://certuser@127.0.0.1:{}/tlsdb?sslmode=verify-full&sslrootcert={}{extra}",
            p.src.port(),
            ca.display()
        )
    };
    pgcopy(&[
        "list",
        "-s",
        &cert_url(&format!(
            "&sslcert={}&sslkey={}",
            dir.join("client.crt").display(),
            dir.join("client.key").display()
        )),
    ])
    .expect_code(0);
    let run = crate::common::pgcopy_env(
        &["list", "-s", &cert_url("")],
        &[("HOME", dir.to_str().unwrap())],
    );
    run.expect_code(1);
    assert!(
        run.stderr.contains("could not connect to the source"),
        "{}",
        run.stderr
    );
    // libpq's default place for them.
    std::fs::create_dir_all(dir.join(".postgresql")).unwrap();
    std::fs::copy(
        dir.join("client.crt"),
        dir.join(".postgresql/postgresql.crt"),
    )
    .unwrap();
    std::fs::copy(
        dir.join("client.key"),
        dir.join(".postgresql/postgresql.key"),
    )
    .unwrap();
    crate::common::pgcopy_env(
        &["list", "-s", &cert_url("")],
        &[("HOME", dir.to_str().unwrap())],
    )
    .expect_code(0);
    // An encrypted key is refused with what to do.
    let run = pgcopy(&["list", "-s", &cert_url("&sslpassword=x")]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("encrypted client keys are not supported"),
        "{}",
        run.stderr
    );

    // A whole copy over TLS.
    let (_, d) = p.urls();
    p.src.psql(
        "tlsdb",
        "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 1000)",
    );
    p.dst.psql("tlsdb", "CREATE TABLE t (id int)");
    let run = pgcopy(&[
        "copy",
        "--no-progress",
        "-s",
        &url(&format!("sslmode=verify-full&sslrootcert={}", ca.display())),
        "-d",
        &d,
    ]);
    run.expect_code(0);
    assert_eq!(
        crate::common::scalar(&p.dst, "tlsdb", "SELECT count(*) FROM t"),
        "1000"
    );

    // Certificates libpq accepts and webpki alone does not (a red team's):
    // a server certificate naming its host in the CN only, no
    // subjectAltName...
    signed(&dir, "cnonly", "/CN=127.0.0.1", "basicConstraints=CA:FALSE");
    p.src
        .require_ssl(&dir.join("cnonly.crt"), &dir.join("cnonly.key"));
    pgcopy(&[
        "list",
        "-s",
        &url(&format!("sslmode=verify-full&sslrootcert={}", ca.display())),
    ])
    .expect_code(0);
    signed(
        &dir,
        "cnother",
        "/CN=db.example.com",
        "basicConstraints=CA:FALSE",
    );
    p.src
        .require_ssl(&dir.join("cnother.crt"), &dir.join("cnother.key"));
    let run = pgcopy(&[
        "list",
        "-s",
        &url(&format!("sslmode=verify-full&sslrootcert={}", ca.display())),
    ]);
    run.expect_code(1);
    // Said as a host name mismatch, with the name the certificate holds.
    assert!(
        run.stderr.contains("not valid for name \"127.0.0.1\"")
            && run.stderr.contains("\"db.example.com\""),
        "{}",
        run.stderr
    );
    pgcopy(&[
        "list",
        "-s",
        &url(&format!("sslmode=verify-ca&sslrootcert={}", ca.display())),
    ])
    .expect_code(0);
    // ...and PostgreSQL's documented self-signed server.crt (a CA
    // certificate), given as its own root.
    self::ca(&dir, "selfsigned", "/CN=127.0.0.1");
    p.src
        .require_ssl(&dir.join("selfsigned.crt"), &dir.join("selfsigned.key"));
    let own = dir.join("selfsigned.crt");
    for mode in ["verify-ca", "verify-full"] {
        pgcopy(&[
            "list",
            "-s",
            &url(&format!("sslmode={mode}&sslrootcert={}", own.display())),
        ])
        .expect_code(0);
    }
    // Trusted as given but reached by another name: a host name mismatch,
    // not a word about CA certificates.
    let run = pgcopy(&[
        "list",
        "-s",
        &url(&format!(
            "sslmode=verify-full&sslrootcert={}",
            own.display()
        ))
        .replace("127.0.0.1", "localhost"),
    ]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("not valid for name \"localhost\"")
            && run.stderr.contains("\"127.0.0.1\"")
            && !run.stderr.contains("CA certificate"),
        "{}",
        run.stderr
    );
    // Not against another root, and the reason reads as a sentence.
    let run = pgcopy(&[
        "list",
        "-s",
        &url(&format!("sslmode=verify-ca&sslrootcert={}", ca.display())),
    ]);
    run.expect_code(1);
    assert!(!run.stderr.contains("OtherError"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}
