//! Bad input gets one clear sentence and leaves the destination unchanged.

use crate::common::{copy, fingerprint, pgcopy, pgcopy_env, scalar, Pair};
use pgcopy_tests::SUPERUSER_PASSWORD;

fn assert_untouched(p: &Pair, before: &crate::common::Fingerprint) {
    assert_eq!(&fingerprint(&p.dst, &p.db), before, "destination changed");
    crate::common::assert_no_state_schema(&p.dst, &p.db);
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
    let run = crate::common::copy(&s, &bad, &[]);
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
    let run = copy(&format!("postgresql://u:pw@127.0.0.1:{port}/x"), &d, &[]);
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
    let run = copy("host=x dbnam=y", &d, &[]);
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
    let run = crate::common::copy(&reader, &d, &[]);
    run.expect_code(1);
    assert_eq!(run.error_lines().len(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "row-level security policies on public.private_note apply to the source role, which would read only"
        ),
        "{}",
        run.stderr
    );

    // Rights on a table are no use without USAGE on its schema: found up
    // front, once per schema.
    p.src.psql(
        &p.db,
        "CREATE ROLE lister LOGIN PASSWORD 'lister-pw'; GRANT SELECT ON ALL TABLES IN SCHEMA sales TO lister",
    );
    let lister = p.src.url_for(&p.db, "lister", "lister-pw");
    let run = copy(&lister, &d, &["--include-tables", "sales.*"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "preflight failed, nothing was changed: the source role may not use schema sales: \
             GRANT USAGE ON SCHEMA \"sales\" to it, or exclude its tables"
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
    // With several hosts, each is looked up in the file for itself, as libpq
    // does: the first (nothing listens on port 1) has no line, the second
    // has (a red team saw only the first looked up).
    let run = crate::common::pgcopy_env(
        &[
            "copy",
            "--no-progress",
            "-s",
            &src,
            "-d",
            &format!(
                "host=localhost,127.0.0.1 port=1,{} user=postgres dbname={}",
                p.dst.port(),
                p.db
            ),
        ],
        &[("HOME", home.to_str().unwrap())],
    );
    run.expect_code(0);
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

#[test]
fn a_state_schema_another_role_owns_is_refused_with_what_to_do() {
    let p = Pair::new("otherstate");
    let schema = "CREATE TABLE t (id int PRIMARY KEY)";
    p.src.psql(&p.db, schema);
    p.dst.psql(&p.db, schema);
    p.src
        .psql(&p.db, "INSERT INTO t SELECT generate_series(1, 5)");
    // The superuser's run creates the state schema, owned by it.
    p.copy(&[]).expect_code(0);
    p.dst.psql(
        &p.db,
        "CREATE ROLE loader LOGIN PASSWORD 'loader-pw'; GRANT INSERT, TRUNCATE, SELECT ON t TO loader",
    );
    let (s, _) = p.urls();
    let d = p.dst.url_for(&p.db, "loader", "loader-pw");
    let run = crate::common::copy(&s, &d, &["--fire-triggers"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "the state schema \"pgcopy\" on the destination belongs to role \"postgres\" and this role \
             may not use it: run as \"postgres\", have it GRANT USAGE ON SCHEMA \"pgcopy\""
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--state-schema"), "{}", run.stderr);
    // With a schema of its own it goes ahead.
    p.dst
        .psql(&p.db, "GRANT CREATE ON DATABASE otherstate TO loader");
    crate::common::copy(&s, &d, &["--state-schema", "loader_state"]).expect_code(0);
    assert_eq!(
        fingerprint(&p.dst, &p.db).tables["public.t"],
        fingerprint(&p.src, &p.db).tables["public.t"]
    );
    // The other role's state schema was left alone: no FK of it dropped.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'pgcopy'::regnamespace"
        ),
        "5"
    );
}

/// libpq's habits: a service file (`PGSERVICE`, `service=`), `PG*`
/// variables naming the source without `-s`, a missing password said as
/// libpq's users expect, psql's `-h/-p/-U` refused with the URL they make;
/// and a destination is never taken from the environment unasked.
#[test]
fn service_files_pg_variables_and_psql_habits_work_as_in_psql() {
    let (p, before) = setup("libpqhabits");
    let dir = tempfile_dir("libpqhabits");
    let services = dir.join("services.conf");
    std::fs::write(
        &services,
        format!(
            "# as libpq reads it\n[other]\nhost=nowhere.invalid\n\n[src]\nhost = 127.0.0.1\nport={}\ndbname={}\nuser=postgres\npassword={SUPERUSER_PASSWORD}\n",
            p.src.port(),
            p.db
        ),
    )
    .unwrap();
    let service_env = [
        ("PGSERVICEFILE", services.to_str().unwrap()),
        ("PGSYSCONFDIR", dir.to_str().unwrap()),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        service_env.iter().chain(extra).copied().collect()
    };
    // PGSERVICE alone names the source.
    let run = pgcopy_env(&["list"], &with(&[("PGSERVICE", "src")]));
    run.expect_code(0);
    assert!(run.stdout.contains("everything"), "{}", run.stdout);
    // service= in the string, its parameters before PG* variables'.
    let run = pgcopy_env(
        &["list", "-s", "service=src"],
        &with(&[("PGHOST", "nowhere.invalid"), ("PGPORT", "1")]),
    );
    run.expect_code(0);
    // A service no file defines: one sentence naming the files.
    let run = pgcopy_env(&["list", "-s", "service=prod"], &with(&[]));
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("definition of service \"prod\" not found")
            && run.stderr.contains("services.conf"),
        "{}",
        run.stderr
    );
    // PG* variables name the source without -s; never the destination.
    let port = p.src.port().to_string();
    let pg_env = [
        ("PGHOST", "127.0.0.1"),
        ("PGPORT", port.as_str()),
        ("PGUSER", "postgres"),
        ("PGPASSWORD", SUPERUSER_PASSWORD),
        ("PGDATABASE", p.db.as_str()),
    ];
    pgcopy_env(&["list"], &pg_env).expect_code(0);
    let (_, d) = p.urls();
    pgcopy_env(&["copy", "--dry-run", "-d", &d], &pg_env).expect_code(0);
    let run = pgcopy_env(&["copy"], &pg_env);
    run.expect_code(2);
    assert!(
        run.stderr.contains("no destination given") && run.stderr.contains("--dest ''"),
        "{}",
        run.stderr
    );
    // No password anywhere and no terminal: what to do.
    let run = pgcopy_env(
        &["list"],
        &[
            ("PGHOST", "127.0.0.1"),
            ("PGPORT", port.as_str()),
            ("PGUSER", "postgres"),
            ("PGPASSFILE", "/nonexistent"),
        ],
    );
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("asks for a password and none was given")
            && run.stderr.contains("PGPASSWORD")
            && run.stderr.contains(".pgpass"),
        "{}",
        run.stderr
    );
    // psql's habits: refused with the URL they make, nothing printed as help.
    let run = pgcopy(&["list", "-h", "127.0.0.1", "-p", &port, "-U", "postgres"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains(&format!(
            "-s 'postgresql://postgres@127.0.0.1:{port}/DBNAME'"
        )) && run.stdout.is_empty(),
        "{}",
        run.stderr
    );
    assert_untouched(&p, &before);
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pgcopy-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
