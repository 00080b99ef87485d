//! Bad input gets one clear sentence and leaves the destination unchanged.

use crate::common::{fingerprint, pgcopy, scalar, Pair};
use pgcopy_tests::SUPERUSER_PASSWORD;

fn assert_untouched(p: &Pair, before: &crate::common::Fingerprint) {
    assert_eq!(&fingerprint(&p.dst, &p.db), before, "destination changed");
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgcopy'"
        ),
        "0"
    );
}

fn setup(db: &str) -> (Pair, crate::common::Fingerprint) {
    let p = Pair::new(db);
    p.load(&["awkward-schema.sql"], &["awkward-data.sql"]);
    p.dst
        .psql_file(&p.db, &pgcopy_tests::fixture("awkward-dest-stale.sql"));
    let before = fingerprint(&p.dst, &p.db);
    (p, before)
}

#[test]
fn bad_inputs_fail_cleanly_before_touching_the_destination() {
    let (p, before) = setup("badinput");
    let (s, d) = p.urls();

    // A pattern that matches nothing.
    let run = p.copy(&["--include-tables", "evrything"]);
    run.expect_code(2);
    assert_eq!(run.error_lines().len(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("`evrything`") && run.stderr.contains("matched no table"),
        "{}",
        run.stderr
    );

    // A malformed pattern.
    let run = p.copy(&["--include-tables", "a.b.c"]);
    run.expect_code(2);
    assert!(run.stderr.contains("too many dots"), "{}", run.stderr);

    // A wrong password, on either side; the password never shows.
    let bad = p.dst.url_for(&p.db, "postgres", "wrong-secret-pw");
    let run = pgcopy(&["copy", "-s", &s, "-d", &bad]);
    run.expect_code(1);
    assert_eq!(run.error_lines().len(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("could not connect to the destination"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("password authentication failed"),
        "{}",
        run.stderr
    );
    for secret in ["wrong-secret-pw", SUPERUSER_PASSWORD] {
        assert!(
            !run.stderr.contains(secret) && !run.stdout.contains(secret),
            "password leaked: {}",
            run.stderr
        );
    }

    // An unreachable host.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = pgcopy(&[
        "copy",
        "-s",
        &format!("postgresql://u:pw@127.0.0.1:{port}/x"),
        "-d",
        &d,
    ]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("could not connect to the source"),
        "{}",
        run.stderr
    );
    assert_eq!(run.error_lines().len(), 1, "{}", run.stderr);

    // Missing or doubled connection arguments are usage errors.
    let run = pgcopy(&["copy", "-d", &d]);
    run.expect_code(2);
    assert!(run.stderr.contains("no source given"), "{}", run.stderr);
    let run = pgcopy(&["copy", "-s", &s, "--source-file", "/nonexistent", "-d", &d]);
    run.expect_code(2);
    let empty = std::env::temp_dir().join(format!("pgcopy-empty-{}", std::process::id()));
    std::fs::write(&empty, "  \n").unwrap();
    let run = pgcopy(&["copy", "--source-file", empty.to_str().unwrap(), "-d", &d]);
    run.expect_code(2);
    assert!(run.stderr.contains("is empty"), "{}", run.stderr);
    std::fs::remove_file(&empty).unwrap();
    let run = pgcopy(&["copy", "-s", "host=x dbnam=y", "-d", &d]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("unknown connection parameter `dbnam`"),
        "{}",
        run.stderr
    );

    // A source role subject to row-level security would read only some rows:
    // refused up front (pg_read_all_data reads every table, policies still apply).
    p.src.psql(
        &p.db,
        "CREATE ROLE reader LOGIN PASSWORD 'reader-pw'; GRANT pg_read_all_data TO reader",
    );
    let reader = p.src.url_for(&p.db, "reader", "reader-pw");
    let run = pgcopy(&["copy", "-s", &reader, "-d", &d]);
    run.expect_code(1);
    assert_eq!(run.error_lines().len(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "row-level security policies on public.private_note apply to the source role, which would read only"
        ),
        "{}",
        run.stderr
    );

    assert_untouched(&p, &before);
}

#[test]
fn schema_mismatches_are_all_reported_and_nothing_changes() {
    let (p, _) = setup("mismatch");
    p.dst.psql(
        &p.db,
        "DROP TABLE zero_estimate; ALTER TABLE nokey ALTER COLUMN a TYPE bigint; ALTER TABLE sales.orders ADD COLUMN extra int;",
    );
    let before = fingerprint(&p.dst, &p.db);
    let run = p.copy(&[]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("preflight found 3 problems, nothing was changed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("table public.zero_estimate does not exist on the destination"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "\"a\" of public.nokey is integer on the source but bigint on the destination"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("\"extra\" of sales.orders exists only on the destination"),
        "{}",
        run.stderr
    );
    assert_untouched(&p, &before);
}

#[test]
fn env_and_pgpass_supply_connections() {
    let p = Pair::new("envpass");
    p.load(&["awkward-schema.sql"], &["awkward-data.sql"]);
    let home = std::env::temp_dir().join(format!("pgcopy-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let pgpass = home.join(".pgpass");
    std::fs::write(
        &pgpass,
        format!("127.0.0.1:*:*:postgres:{SUPERUSER_PASSWORD}\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let src = format!("postgresql://postgres@127.0.0.1:{}/{}", p.src.port(), p.db);
    let run = crate::common::pgcopy_env(
        &["copy", "--no-progress"],
        &[
            ("HOME", home.to_str().unwrap()),
            ("PGCOPY_SOURCE", &src),
            (
                "PGCOPY_DEST",
                &format!("host=127.0.0.1 port={} dbname={}", p.dst.port(), p.db),
            ),
            ("PGUSER", "postgres"),
        ],
    );
    run.expect_code(0);
    p.assert_same_data();
    // A world-readable password file is ignored, as libpq does.
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = crate::common::pgcopy_env(
        &["copy", "-s", &src, "-d", &src],
        &[("HOME", home.to_str().unwrap())],
    );
    run.expect_code(1);
    assert!(
        run.stderr.contains("permissions should be u=rw"),
        "{}",
        run.stderr
    );
    std::fs::remove_dir_all(&home).unwrap();
}
