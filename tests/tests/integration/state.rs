//! The state schema from psql: plan(), status() during and after a copy, a
//! killed run seen as stale and repaired with restore_fks(), with and without
//! the extension.

use crate::common::{copy, pgcopy, scalar, Pair};
use pgcopy_tests::{fixture, Cluster};
use std::time::{Duration, Instant};

/// (table, name, definition, validated) of every FK, sorted.
fn fk_set(c: &Cluster, db: &str) -> String {
    crate::common::constraints_and_triggers(c, db).0
}

/// Destination owned by non-superuser `app`, who installed the extension.
fn with_extension(db: &str) -> (Pair, String) {
    let (p, d) = crate::common::owner_pair(db, &["fks-schema.sql"], &["fks-data.sql"]);
    p.dst
        .try_psql_as(&p.db, "app", "CREATE EXTENSION pgcopy")
        .expect("trusted install");
    (p, d)
}

#[test]
fn plan_from_psql_lists_tables_and_cycles_and_agrees_with_dry_run() {
    let (p, d) = with_extension("planagree");
    // Plan on the source side too: load the data on the destination first.
    p.dst.try_psql_as(&p.db, "app", &std::fs::read_to_string(fixture("fks-data.sql")).unwrap().replace("SET session_replication_role = replica;", "ALTER TABLE item DROP CONSTRAINT item_category_fk;").replace("RESET session_replication_role;", "ALTER TABLE item ADD CONSTRAINT item_category_fk FOREIGN KEY (category_id) REFERENCES category (id) NOT VALID;")).expect("data as app");
    p.dst.psql(&p.db, "ANALYZE");
    let rows = p
        .dst
        .try_psql_as(
            &p.db,
            "app",
            "SELECT table_schema || '.' || table_name, coalesce(fk_cycle::text, '-'), chunks, est_rows, bytes,
                    array_to_string(drops_fks, ',')
               FROM pgcopy.plan(split_larger_than => 8192) ORDER BY 1",
        )
        .unwrap();
    let line = |t: &str| {
        rows.lines()
            .find(|l| l.starts_with(&format!("{t}|")))
            .unwrap_or_else(|| panic!("{t}: {rows}"))
            .to_string()
    };
    let cycle = |t: &str| line(t).split('|').nth(1).unwrap().to_string();
    assert_ne!(cycle("public.author"), "-");
    assert_eq!(cycle("public.author"), cycle("public.book"));
    assert_ne!(cycle("public.employee"), "-");
    assert_ne!(cycle("public.employee"), cycle("public.author"));
    assert_eq!(cycle("public.invoice"), "-");
    assert!(line("public.book").ends_with("|book_author_fk"));

    // The CLI plans the same database (as source and destination) identically.
    let run = copy(
        &d,
        &d,
        &["--dry-run", "--json", "--split-larger-than", "8192"],
    );
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let mut from_cli: Vec<String> = doc["plan"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let table = format!(
                "{}.{}",
                t["table"]["schema"].as_str().unwrap(),
                t["table"]["name"].as_str().unwrap()
            );
            let drops: Vec<String> = doc["plan"]["foreign_keys"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["action"] == "drop_and_restore")
                .filter(|f| {
                    let owner = format!(
                        "{}.{}",
                        f["table"]["schema"].as_str().unwrap(),
                        f["table"]["name"].as_str().unwrap()
                    );
                    let root = t["partition_of"].as_object().map(|p| {
                        format!(
                            "{}.{}",
                            p["schema"].as_str().unwrap(),
                            p["name"].as_str().unwrap()
                        )
                    });
                    owner == table || Some(owner) == root
                })
                .map(|f| f["name"].as_str().unwrap().to_string())
                .collect();
            format!(
                "{table}|{}|{}|{}|{}",
                t["chunks"].as_array().unwrap().len(),
                t["est_rows"],
                t["bytes"],
                drops.join(",")
            )
        })
        .collect();
    from_cli.sort();
    let mut from_sql: Vec<String> = rows
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            format!("{}|{}|{}|{}|{}", f[0], f[2], f[3], f[4], f[5])
        })
        .collect();
    from_sql.sort();
    assert_eq!(from_cli, from_sql);
}

#[test]
fn status_rises_during_a_copy_and_ends_at_the_source_count() {
    let (p, d) = with_extension("statusrise");
    p.src.psql(&p.db, "INSERT INTO measurement SELECT i, DATE '2024-01-01' + i % 300, 1 FROM generate_series(1000, 60000) i");
    let total = scalar(&p.src, &p.db, "SELECT count(*) FROM measurement");
    let (s, _) = p.urls();
    let mut child = crate::common::spawn_copy(
        &s,
        &d,
        &[
            "-p",
            "1",
            "--split-larger-than",
            "64kB",
            "--include-tables",
            "measurement,employee",
        ],
        &[("PGCOPY_FAILPOINT", "before-chunk-commit:300")],
    );
    let mut log = child.stderr.take().unwrap();
    std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
    let mut seen: Vec<i64> = Vec::new();
    let mut states = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        if let Ok(v) = p.dst.try_psql_as(
            &p.db,
            "app",
            "SELECT coalesce(sum(rows_copied), 0) FROM pgcopy.status((SELECT max(job_id) FROM pgcopy.jobs)) WHERE table_name LIKE 'public.measurement%'",
        ) {
            if let Ok(n) = v.trim().parse() {
                seen.push(n);
            }
        }
        if let Ok(v) = p.dst.try_psql_as(
            &p.db,
            "app",
            "SELECT state FROM pgcopy.status((SELECT max(job_id) FROM pgcopy.jobs)) WHERE table_name = 'public.measurement_2024'",
        ) {
            states.insert(v.trim().to_string());
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(child.wait().unwrap().success());
    seen.dedup();
    assert!(
        seen.len() >= 3,
        "status did not move during the copy: {seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "rows went backwards: {seen:?}"
    );
    let end = scalar(
        &p.dst,
        &p.db,
        "SELECT sum(rows_copied) FROM pgcopy.status((SELECT max(job_id) FROM pgcopy.jobs)) WHERE table_name LIKE 'public.measurement%'",
    );
    assert_eq!(end, total);
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT state, percent FROM pgcopy.progress"),
        "succeeded|100.0"
    );
    // While its chunks load, the table is `copying`.
    assert!(states.contains("copying"), "{states:?}");
    // The rate is the load's: each chunk waited 0.3 s before its commit,
    // one at a time, so the table took at least 0.3 s per chunk.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT s.rows_per_second <= s.rows_copied / (0.3 * (SELECT count(*) FROM pgcopy.job_chunks c
                                                                  WHERE c.table_name = 'measurement_2024'))
               FROM pgcopy.status((SELECT max(job_id) FROM pgcopy.jobs)) s
              WHERE s.table_name = 'public.measurement_2024'"
        ),
        "t"
    );
    // The CLI shows the same.
    let run = pgcopy(&["status", "-d", &d, "--json"]);
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["state"], "succeeded");
    assert_eq!(doc["percent"], 100.0);
    let rows: i64 = doc["table_status"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["table"]
                .as_str()
                .unwrap()
                .starts_with("public.measurement")
        })
        .map(|t| t["rows_copied"].as_i64().unwrap())
        .sum();
    assert_eq!(rows.to_string(), total);
}

#[test]
fn killed_after_drops_restore_fks_from_psql_brings_back_every_fk_exactly() {
    let (p, d) = with_extension("killdrops");
    let before = fk_set(&p.dst, &p.db);
    let indexes_before = crate::common::index_set(&p.dst, &p.db);
    let (s, _) = p.urls();
    let mut child =
        crate::common::spawn_copy(&s, &d, &[], &[("PGCOPY_FAILPOINT", "after-drop-fks")]);
    crate::common::kill_after(&mut child, "failpoint after-drop-fks reached");
    assert_eq!(crate::common::pending_fks(&p), "9");
    let out = p
        .dst
        .try_psql_as(
            &p.db,
            "app",
            "SELECT outcome, count(*) FROM pgcopy.restore_fks() GROUP BY 1 ORDER BY 1",
        )
        .unwrap();
    assert_eq!(out, "index_restored|24\nrestored|8\nrestored_not_valid|1");
    assert_eq!(fk_set(&p.dst, &p.db), before);
    // Partitioned tables' index trees too: names, attachments, validity.
    assert_eq!(crate::common::index_set(&p.dst, &p.db), indexes_before);
}

#[test]
fn killed_mid_copy_is_stale_and_no_fk_is_lost() {
    let (p, d) = with_extension("killstale");
    p.src.psql(&p.db, "INSERT INTO measurement SELECT i, DATE '2024-01-01' + i % 300, 1 FROM generate_series(1000, 30000) i");
    let before = fk_set(&p.dst, &p.db);
    let (s, _) = p.urls();
    let mut child = crate::common::spawn_copy(
        &s,
        &d,
        &["-p", "1", "--split-larger-than", "64kB"],
        // Every key after the load: all nine are still saved at the kill.
        &[
            ("PGCOPY_FAILPOINT", "before-chunk-commit:300"),
            ("PGCOPY_EARLY_FOREIGN_KEYS", "off"),
        ],
    );
    // Wait until some table is done, then kill -9 mid-copy.
    crate::common::kill_after(&mut child, "copied public.");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut state = String::new();
    while Instant::now() < deadline {
        state = scalar(&p.dst, &p.db, "SELECT state FROM pgcopy.progress");
        if state == "stale" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(state, "stale");
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT DISTINCT job_state FROM pgcopy.status((SELECT max(job_id) FROM pgcopy.jobs))"
        ),
        "stale"
    );
    // A dead client's job promises nothing: no ETA, no rows in flight (they
    // were never committed), and the one next step, the same in SQL and in
    // `pgcopy status`.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FILTER (WHERE eta IS NOT NULL) || ' ' || count(DISTINCT next_step)
               || ' ' || min(next_step)
               FROM pgcopy.status((SELECT max(job_id) FROM pgcopy.jobs))"
        ),
        "0 1 continue it with `pgcopy copy --resume --job 1` (the same source and destination), \
         or give it up with `pgcopy jobs discard 1`, which puts back what it dropped and disabled"
    );
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT (eta IS NULL)::text || ' ' || (rows_copied = (SELECT sum(rows_copied) FROM pgcopy.job_chunks WHERE state = 'done'))::text
               FROM pgcopy.progress"
        ),
        "true true"
    );
    let status = crate::common::pgcopy(&["status", "-d", &d]);
    status.expect_code(0);
    assert!(
        status
            .stdout
            .contains("next: continue it with `pgcopy copy --resume --job 1`"),
        "{}",
        status.stdout
    );
    assert_eq!(crate::common::pending_fks(&p), "9");
    // Killed mid-copy, some tables are loaded and others not: every FK comes
    // back where the data allows, and the others are reported and stay saved.
    let out = p
        .dst
        .try_psql_as(
            &p.db,
            "app",
            "SELECT constraint_name, outcome, error FROM pgcopy.restore_fks()",
        )
        .unwrap();
    assert_eq!(out.lines().count(), 33, "{out}");
    for l in out.lines() {
        let f: Vec<&str> = l.split('|').collect();
        match f[1] {
            "restored" | "restored_not_valid" | "index_restored" => assert_eq!(f[2], "", "{l}"),
            "validation_failed" | "failed" => {
                assert!(f[2].contains("violates foreign key constraint"), "{l}")
            }
            other => panic!("unexpected outcome {other}: {l}"),
        }
    }
    let unresolved = crate::common::keys_not_back(&p);
    assert_eq!(
        unresolved,
        out.lines()
            .filter(|l| l.contains("|failed|") || l.contains("|validation_failed|"))
            .count()
            .to_string()
    );
    // Once the data is consistent again (here: emptied), a second call brings
    // back every remaining definition exactly.
    p.dst.psql(
        &p.db,
        "TRUNCATE author, book, employee, crm.account, invoice, tenant, doc, category, item, measurement, region, office",
    );
    p.dst
        .try_psql_as(&p.db, "app", "SELECT * FROM pgcopy.restore_fks()")
        .unwrap();
    assert_eq!(fk_set(&p.dst, &p.db), before);
    assert_eq!(crate::common::pending_fks(&p), "0");
}

/// A run stopped at the start of each phase says so in `progress`,
/// `status()` and `pgcopy status`; killed there, `--resume` finishes the job
/// and the destination's constraints and indexes are what they were.
#[test]
fn each_phase_shows_while_it_runs_and_a_kill_there_resumes() {
    let (p, d) = with_extension("phases");
    let (fks, indexes) = (
        fk_set(&p.dst, &p.db),
        crate::common::index_set(&p.dst, &p.db),
    );
    let (s, _) = p.urls();
    for phase in [
        "before-load",
        "load",
        "indexes",
        "sequences",
        "analyze",
        "foreign-keys",
    ] {
        let point = format!("phase:{phase}");
        let mut child = crate::common::spawn_copy(&s, &d, &[], &[("PGCOPY_FAILPOINT", &point)]);
        crate::common::kill_after(&mut child, &format!("failpoint {point} reached"));
        assert_eq!(
            scalar(
                &p.dst,
                &p.db,
                "SELECT phase FROM pgcopy.progress ORDER BY job_id DESC LIMIT 1"
            ),
            phase
        );
        assert_eq!(
            scalar(
                &p.dst,
                &p.db,
                "SELECT DISTINCT job_phase FROM pgcopy.status((SELECT max(job_id) FROM pgcopy.jobs))"
            ),
            phase
        );
        let run = pgcopy(&["status", "-d", &d]);
        run.expect_code(0);
        assert!(
            run.stdout
                .lines()
                .next()
                .unwrap()
                .contains(&format!("({phase})")),
            "{}",
            run.stdout
        );
        crate::common::copy(&s, &d, &["--resume", "--no-progress"]).expect_code(0);
        // Ended: no phase shown, the last one entered kept in the job.
        assert_eq!(
            scalar(
                &p.dst,
                &p.db,
                "SELECT coalesce(phase, 'none') FROM pgcopy.progress ORDER BY job_id DESC LIMIT 1"
            ),
            "none"
        );
        assert_eq!(
            scalar(
                &p.dst,
                &p.db,
                "SELECT phase FROM pgcopy.jobs ORDER BY job_id DESC LIMIT 1"
            ),
            "foreign-keys"
        );
        assert_eq!(fk_set(&p.dst, &p.db), fks, "killed at {phase}");
        assert_eq!(
            crate::common::index_set(&p.dst, &p.db),
            indexes,
            "killed at {phase}"
        );
        p.assert_same_data();
    }
}
