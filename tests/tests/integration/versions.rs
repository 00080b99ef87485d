//! The CLI between PostgreSQL majors (an upgrade by copy, a staging server on
//! a newer release, and back). Each pair copies pagila as a superuser (replica
//! mode) and the awkward and foreign-key fixtures as the non-superuser owner of
//! the destination (drop mode, deferred indexes, triggers), and requires the
//! same rows on both sides and the destination's schema unchanged.
//!
//! `make test` runs a few pairs (a newer source into an older destination
//! among them); `make test-versions` runs every pair of 14, 15, 16, 17 and 18
//! (`PGCOPY_VERSION_PAIRS=all`, or a list like `18:14,14:18`). Servers other
//! than the system's PostgreSQL 15 are fetched once into `target/pg-versions`.

use crate::common::{copy, full_fingerprint, pgcopy, scalar};
use pgcopy_tests::{fixture, Cluster, SUPERUSER_PASSWORD, VERSIONS};

/// The (source, destination) majors to test.
fn pairs() -> Vec<(u32, u32)> {
    let majors: Vec<u32> = VERSIONS.iter().map(|(m, _)| *m).collect();
    match std::env::var("PGCOPY_VERSION_PAIRS").ok().as_deref() {
        Some("all") => majors
            .iter()
            .flat_map(|a| majors.iter().map(move |b| (*a, *b)))
            .collect(),
        Some(list) => list
            .split(',')
            .map(|p| {
                let (a, b) = p.split_once(':').expect("pairs look like 18:15");
                (a.trim().parse().unwrap(), b.trim().parse().unwrap())
            })
            .collect(),
        None => Vec::new(),
    }
}

/// Rows of every table and sequence state, of `db` on `c`.
fn data(c: &Cluster, db: &str) -> crate::common::Fingerprint {
    crate::common::fingerprint(c, db)
}

fn copy_pair(src_major: u32, dst_major: u32) {
    let tag = format!("{src_major}->{dst_major}");
    let (src, dst) = std::thread::scope(|s| {
        let a = s.spawn(|| Cluster::start_version("source", src_major));
        let b = s.spawn(|| Cluster::start_version("destination", dst_major));
        (a.join().expect("source"), b.join().expect("destination"))
    });
    // 1. pagila as a superuser: replica mode, partitions, every sequence.
    for c in [&src, &dst] {
        c.create_db("pagila");
        c.psql_file("pagila", &fixture("pagila/pagila-schema.sql"));
    }
    src.psql_file("pagila", &fixture("pagila/pagila-data.sql"));
    let before = full_fingerprint(&dst, "pagila");
    let run = copy(&src.url("pagila"), &dst.url("pagila"), &["--no-progress"]);
    run.expect_code(0);
    let (a, b) = (data(&src, "pagila"), data(&dst, "pagila"));
    assert_eq!(a.tables, b.tables, "{tag}: pagila rows differ");
    assert_eq!(a.sequences, b.sequences, "{tag}: pagila sequences differ");
    let after = full_fingerprint(&dst, "pagila");
    assert_eq!(
        (before.fks, before.triggers, before.indexes),
        (after.fks, after.triggers, after.indexes),
        "{tag}: the destination's schema changed"
    );
    // 2. The awkward and foreign-key fixtures as the destination's owner:
    // drop mode, deferred indexes, triggers disabled and put back.
    let mut schema = vec!["awkward-schema.sql", "partition-fks.sql"];
    let mut rows = vec!["awkward-data.sql", "partition-fks-data.sql"];
    // ON DELETE SET NULL (columns) is PostgreSQL 15's.
    if src_major >= 15 && dst_major >= 15 {
        schema.push("fks-schema.sql");
        rows.push("fks-data.sql");
    }
    src.create_db("owned");
    for f in schema.iter().chain(&rows) {
        src.psql_file("owned", &fixture(f));
    }
    dst.psql(
        "postgres",
        "CREATE ROLE app LOGIN PASSWORD 'app-pw'; CREATE DATABASE owned OWNER app;",
    );
    for f in &schema {
        let sql = std::fs::read_to_string(fixture(f)).unwrap();
        dst.try_psql_as("owned", "app", &sql)
            .unwrap_or_else(|e| panic!("{tag}: {f} as app: {e}"));
    }
    let before = full_fingerprint(&dst, "owned");
    let run = copy(
        &src.url("owned"),
        &dst.url_for("owned", "app", "app-pw"),
        &["--no-progress"],
    );
    run.expect_code(0);
    assert!(run.stderr.contains("drop mode"), "{tag}: {}", run.stderr);
    let (a, b) = (data(&src, "owned"), data(&dst, "owned"));
    assert_eq!(a.tables, b.tables, "{tag}: rows differ");
    assert_eq!(a.sequences, b.sequences, "{tag}: sequences differ");
    let after = full_fingerprint(&dst, "owned");
    assert_eq!(
        (before.fks, before.triggers, before.indexes),
        (after.fks, after.triggers, after.indexes),
        "{tag}: the destination's schema changed"
    );
    assert_eq!(
        scalar(
            &dst,
            "owned",
            "SELECT count(*) FROM pgcopy.saved_fks WHERE restored_at IS NULL"
        ),
        "0",
        "{tag}"
    );
    // 3. Every built-in type, with its array, domain and composite, as a
    // superuser: binary where both majors read it alike, text where not
    // (`pgcopy_core::formats`), `reg*` values by name.
    every_type_between(&src, &dst, &tag);
    eprintln!("{tag}: ok");
}

/// The every-type tables from `src` to `dst`, identical; from PostgreSQL 17
/// or later into an older major, an infinite interval fails its table
/// loudly (exit 3, the server's own sentence) instead of arriving as a
/// huge finite one.
fn every_type_between(src: &Cluster, dst: &Cluster, tag: &str) {
    use pgcopy_tests::every_type;
    for c in [src, dst] {
        c.create_db("every");
    }
    // The source's OIDs shifted: a `reg*` value copied as a number would
    // name another object, or none.
    src.psql("every", "CREATE TABLE shift (x int); DROP TABLE shift;");
    src.psql("every", &every_type::schema_sql());
    dst.psql("every", &every_type::schema_sql());
    src.psql("every", &every_type::rows_sql());
    let copy_every = || copy(&src.url("every"), &dst.url("every"), &["--no-progress"]);
    copy_every().expect_code(0);
    assert_eq!(
        data(src, "every").tables,
        data(dst, "every").tables,
        "{tag}: every-type rows differ"
    );
    let newer_into_older = src.major() >= 17 && dst.major() < 17;
    if newer_into_older {
        src.psql(
            "every",
            "INSERT INTO every.t_interval VALUES (9, 'infinity', NULL, NULL, NULL)",
        );
        let run = copy_every();
        run.expect_code(3);
        assert!(
            run.stderr.contains("every.t_interval")
                && run
                    .stderr
                    .contains("invalid input syntax for type interval: \"infinity\""),
            "{tag}: {}",
            run.stderr
        );
        assert_eq!(
            scalar(
                dst,
                "every",
                "SELECT count(*) FROM every.t_interval WHERE id = 9"
            ),
            "0",
            "{tag}"
        );
    }
}

/// The pairs `PGCOPY_VERSION_PAIRS` names (`all`, or a list like
/// `18:15,14:17`), one after another: `make test-versions`.
#[test]
fn copies_between_postgresql_majors() {
    for (a, b) in pairs() {
        copy_pair(a, b);
    }
}

/// The pairs `make test` copies between (newest into the system's 15,
/// oldest into 17, 16 into newest), each a test of its own so that they
/// share the test threads; left to the test above when it names pairs.
fn default_pair(a: u32, b: u32) {
    if std::env::var("PGCOPY_VERSION_PAIRS").is_err() {
        copy_pair(a, b);
    }
}

#[test]
fn copies_from_18_into_15() {
    default_pair(18, 15);
}

#[test]
fn copies_from_14_into_17() {
    default_pair(14, 17);
}

#[test]
fn copies_from_16_into_18() {
    default_pair(16, 18);
}

/// Settings a database's owner may give every session (`ALTER DATABASE ...
/// SET`) do not cut a copy short: PostgreSQL 17's `transaction_timeout` on
/// both sides (a copy's transactions outlive it by design; an older server
/// does not know the setting, so pgcopy turns it off once the server says
/// its version), and, on any version, `idle_session_timeout` and
/// `xmloption = document` (an `xml` fragment still loads). Found by a red
/// team; each failed the copy before.
#[test]
fn owner_settings_of_timeouts_and_xml_do_not_break_a_copy() {
    let (src, dst) = std::thread::scope(|s| {
        let a = s.spawn(|| Cluster::start_version("source", 17));
        let b = s.spawn(|| Cluster::start_version("destination", 17));
        (a.join().expect("source"), b.join().expect("destination"))
    });
    let schema = "CREATE TABLE doc (id int PRIMARY KEY, x xml);
                  CREATE TABLE t (id int PRIMARY KEY, pad text);";
    // pgcopy runs as a superuser of its own, `copier`, which gets the
    // database's settings; the test's own sessions (postgres) are spared
    // them, so a loaded machine does not cut its setup and checks short.
    for c in [&src, &dst] {
        c.create_db("settings");
        c.psql("settings", schema);
        c.psql(
            "postgres",
            &format!(
                "CREATE ROLE copier SUPERUSER LOGIN PASSWORD '{SUPERUSER_PASSWORD}';
                 ALTER DATABASE settings SET transaction_timeout = '300ms';
                 ALTER DATABASE settings SET idle_session_timeout = '200ms';
                 ALTER DATABASE settings SET xmloption = document;
                 ALTER ROLE postgres IN DATABASE settings SET transaction_timeout = 0;
                 ALTER ROLE postgres IN DATABASE settings SET idle_session_timeout = 0;"
            ),
        );
    }
    let copier = |c: &Cluster| c.url_for("settings", "copier", SUPERUSER_PASSWORD);
    src.psql(
        "settings",
        "INSERT INTO doc VALUES (1, XMLPARSE (CONTENT 'a fragment <b>with</b> text')), (2, '<doc/>');
         INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g;",
    );
    let before = crate::common::schema_of(&dst, "settings");
    // Each load transaction waits 500 ms before its commit, and the source's
    // snapshot transaction lasts the whole copy.
    let run = crate::common::pgcopy_env(
        &[
            "copy",
            "-s",
            &copier(&src),
            "-d",
            &copier(&dst),
            "--no-progress",
        ],
        &[("PGCOPY_FAILPOINT", "before-chunk-commit:500")],
    );
    run.expect_code(0);
    assert_eq!(data(&src, "settings"), data(&dst, "settings"));
    assert_eq!(crate::common::schema_of(&dst, "settings"), before);
    assert_eq!(
        scalar(
            &dst,
            "settings",
            "SELECT XMLSERIALIZE (CONTENT x AS text) FROM doc WHERE id = 1"
        ),
        "a fragment <b>with</b> text"
    );
    // verify reads in one snapshot transaction too.
    pgcopy(&["verify", "-s", &copier(&src), "-d", &copier(&dst)]).expect_code(0);
}
