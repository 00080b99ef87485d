//! The destination ends as the source says, and keeps what the copy does not
//! own: sequences set by the tables they serve, never rewound under a table
//! the copy leaves alone.

use crate::common::{copy, pgcopy, scalar, Pair};

/// Sequences linked every way PostgreSQL links them: a default that calls one
/// owned by no table (pagila's kind), one shared by two tables' defaults and
/// owned by one of them, and an identity column.
const SEQUENCES: &str = "CREATE SEQUENCE a_seq; CREATE SEQUENCE b_seq; CREATE SEQUENCE shared_seq;
     CREATE TABLE a (id int DEFAULT nextval('a_seq') PRIMARY KEY);
     CREATE TABLE b (id int DEFAULT nextval('b_seq') PRIMARY KEY);
     CREATE TABLE c (id int DEFAULT nextval('shared_seq') PRIMARY KEY);
     CREATE TABLE d (id int DEFAULT nextval('shared_seq') PRIMARY KEY);
     ALTER SEQUENCE shared_seq OWNED BY c.id;
     CREATE TABLE e (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v int);";

fn sequences_pair(db: &str) -> (Pair, String) {
    let p = Pair::new(db);
    p.src.psql(&p.db, SEQUENCES);
    p.src.psql(
        &p.db,
        "INSERT INTO a SELECT FROM generate_series(1, 200);
         INSERT INTO b SELECT FROM generate_series(1, 200);
         INSERT INTO c SELECT FROM generate_series(1, 100);
         INSERT INTO d SELECT FROM generate_series(1, 50);
         INSERT INTO e (v) SELECT generate_series(1, 70);",
    );
    // With one state schema both roles may use.
    let app = p.give_destination_to_app(&[SEQUENCES, "CREATE EXTENSION pgcopy"]);
    (p, app)
}

fn last_values(p: &Pair) -> String {
    scalar(
        &p.dst,
        &p.db,
        "SELECT (SELECT last_value FROM a_seq) || ' ' || (SELECT last_value FROM b_seq) || ' ' ||
                (SELECT last_value FROM shared_seq) || ' ' || (SELECT last_value FROM e_id_seq)",
    )
}

#[test]
fn sequences_follow_their_tables_and_never_rewind_one_left_alone() {
    let (p, app) = sequences_pair("seqlinks");
    let (s, su) = p.urls();
    for d in [su.as_str(), app.as_str()] {
        // The destination's own tables have gone further.
        p.dst.psql(
            &p.db,
            "TRUNCATE a, b, c, d, e; SELECT setval('a_seq', 1, false), setval('b_seq', 9999),
                    setval('shared_seq', 5000), setval('e_id_seq', 1, false);",
        );
        // The dry run says which are set and why.
        let run = copy(&s, d, &["--include-tables", "a,c", "--dry-run"]);
        run.expect_code(0);
        assert!(
            run.stdout
                .contains("sequence:     public.a_seq (default of public.a)\n"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains(
                "sequence:     public.shared_seq (owned by public.c, default of public.d), set only if the \
                 source's value is ahead (a table not copied uses it too)"
            ),
            "{}",
            run.stdout
        );
        // A subset: a_seq (a default, owned by nothing) is set; b_seq, whose
        // table is not copied, is left alone; shared_seq is not rewound
        // under d, which still holds values up to 5000.
        copy(&s, d, &["--include-tables", "a,c", "--no-progress"]).expect_code(0);
        assert_eq!(last_values(&p), "200 9999 5000 1");
        // Ahead of the destination, a shared sequence moves forward.
        p.dst.psql(&p.db, "SELECT setval('shared_seq', 10)");
        copy(&s, d, &["--include-tables", "c", "--no-progress"]).expect_code(0);
        assert_eq!(last_values(&p), "200 9999 150 1");
        // Excluding b leaves b_seq where the destination had it.
        copy(&s, d, &["--exclude-tables", "b", "--no-progress"]).expect_code(0);
        assert_eq!(last_values(&p), "200 9999 150 70");
        // The whole database: every sequence as on the source, and the next
        // insert into each table works.
        crate::common::copy(&s, d, &["--no-progress"]).expect_code(0);
        assert_eq!(last_values(&p), "200 200 150 70");
        p.assert_same_data();
        p.dst.psql(
            &p.db,
            "INSERT INTO a DEFAULT VALUES; INSERT INTO b DEFAULT VALUES; INSERT INTO c DEFAULT VALUES;
             INSERT INTO d DEFAULT VALUES; INSERT INTO e (v) VALUES (0);",
        );
    }
}

#[test]
fn a_materialized_view_that_cannot_be_refreshed_is_a_partial_result_with_what_to_do() {
    let p = Pair::new("matviewfail");
    // The function's body names its table without the schema: refreshes run
    // with search_path = pg_catalog, pg_temp (PostgreSQL 17 does so always).
    let schema = "CREATE TABLE m_src (v int);
                  CREATE FUNCTION m_total() RETURNS bigint LANGUAGE sql AS 'SELECT sum(v) FROM m_src';
                  CREATE MATERIALIZED VIEW m_view AS SELECT m_total() AS total;
                  CREATE MATERIALIZED VIEW m_ok AS SELECT count(*) AS n FROM m_src;";
    p.src.psql(&p.db, schema);
    p.dst.psql(&p.db, schema);
    p.src
        .psql(&p.db, "INSERT INTO m_src SELECT generate_series(1, 10)");
    let summary = std::env::temp_dir().join(format!("pgcopy-mv-{}.json", std::process::id()));
    let run = p.copy(&["--summary-json", summary.to_str().unwrap()]);
    run.expect_code(3);
    assert!(
        run.stderr.contains(
            "could not refresh materialized view public.m_view: relation \"m_src\" does not exist"
        ) && run.stderr.contains("is written without its schema"),
        "{}",
        run.stderr
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    std::fs::remove_file(&summary).ok();
    assert_eq!(doc["exit_code"], 3);
    assert_eq!(
        doc["materialized_views_not_refreshed"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The other view is refreshed, the data is in.
    assert_eq!(scalar(&p.dst, &p.db, "SELECT n FROM m_ok"), "10");
    p.assert_same_data();
    // Done as the hint says, the copy succeeds.
    p.dst
        .psql(&p.db, "ALTER FUNCTION m_total() SET search_path = public");
    p.copy(&[]).expect_code(0);
    assert_eq!(scalar(&p.dst, &p.db, "SELECT total FROM m_view"), "55");
}

/// A NOT VALID CHECK constraint that rows kept from before it reject: on the
/// source and on the destination alike.
const CHECKED: &str = "CREATE TABLE measured (id int PRIMARY KEY, v int);
     CREATE TABLE plain (id int PRIMARY KEY);";

fn checked_pair(db: &str) -> (Pair, String) {
    let p = Pair::new(db);
    p.src.psql(&p.db, CHECKED);
    p.src.psql(
        &p.db,
        "INSERT INTO measured SELECT g, g - 5 FROM generate_series(1, 100) g;
         INSERT INTO plain SELECT generate_series(1, 10);
         ALTER TABLE measured ADD CONSTRAINT measured_v_positive CHECK (v > 0) NOT VALID;",
    );
    let app = p.give_destination_to_app(&[&format!(
        "{CHECKED} ALTER TABLE measured ADD CONSTRAINT measured_v_positive CHECK (v > 0) NOT VALID;
         CREATE EXTENSION pgcopy;"
    )]);
    (p, app)
}

fn check_state(p: &Pair) -> String {
    scalar(
        &p.dst,
        &p.db,
        "SELECT conname || ' ' || pg_get_constraintdef(oid) || ' ' || convalidated FROM pg_constraint
          WHERE conrelid = 'measured'::regclass AND contype = 'c'",
    )
}

#[test]
fn a_not_valid_check_the_source_rows_violate_goes_for_the_load_and_comes_back_not_valid() {
    let (p, app) = checked_pair("notvalidcheck");
    let (s, su) = p.urls();
    let before = check_state(&p);
    assert_eq!(
        before,
        "measured_v_positive CHECK ((v > 0)) NOT VALID false"
    );
    for d in [su.as_str(), app.as_str()] {
        let run = crate::common::copy(&s, d, &["--dry-run"]);
        run.expect_code(0);
        assert!(
            run.stdout.contains("measured_v_positive"),
            "the dry run names it: {}",
            run.stdout
        );
        crate::common::copy(&s, d, &["--no-progress"]).expect_code(0);
        p.assert_same_data();
        assert_eq!(check_state(&p), before);
    }
    // Killed with the constraint dropped: it is saved, and comes back exactly.
    let mut child =
        crate::common::spawn_copy(&s, &app, &[], &[("PGCOPY_FAILPOINT", "after-drop-fks")]);
    crate::common::kill_after(&mut child, "failpoint after-drop-fks reached");
    assert_eq!(check_state(&p), "");
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT constraint_type || ' ' || definition FROM pgcopy.saved_fks WHERE restored_at IS NULL"
        ),
        "c CHECK ((v > 0))"
    );
    let run = pgcopy(&["restore-fks", "-d", &app]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("public.measured  measured_v_positive  restored_not_valid"),
        "{}",
        run.stdout
    );
    assert_eq!(check_state(&p), before);
}

/// The source's tables: `m` plain, `n` partitioned by year, `o` by two wide
/// ranges; `k` referenced by `m`.
const REPARTED_SOURCE: &str = "CREATE TABLE k (id int PRIMARY KEY);
     CREATE TABLE m (id int NOT NULL, d date NOT NULL, v text, k_id int REFERENCES k);
     CREATE TABLE n (id int, d date NOT NULL, v text) PARTITION BY RANGE (d);
     CREATE TABLE n_2023 PARTITION OF n FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
     CREATE TABLE n_2024 PARTITION OF n FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
     CREATE TABLE o (id int, d date NOT NULL, v text) PARTITION BY RANGE (d);
     CREATE TABLE o_old PARTITION OF o FOR VALUES FROM ('2000-01-01') TO ('2024-01-01');
     CREATE TABLE o_new PARTITION OF o FOR VALUES FROM ('2024-01-01') TO ('2030-01-01');
     INSERT INTO k SELECT generate_series(1, 10);
     INSERT INTO m SELECT g, date '2023-01-01' + g % 700, 'm' || g, 1 + g % 10 FROM generate_series(1, 2000) g;
     INSERT INTO n SELECT g, date '2023-01-01' + g % 700, 'n' || g FROM generate_series(1, 2000) g;
     INSERT INTO o SELECT g, date '2023-01-01' + g % 700, 'o' || g FROM generate_series(1, 2000) g;";

/// The destination's: `m` partitioned (half a year, then a default one, with
/// an index and a trigger), `n` plain, `o` by year; each with rows of its own.
const REPARTED_DEST: &str = "CREATE TABLE k (id int PRIMARY KEY);
     CREATE TABLE m (id int NOT NULL, d date NOT NULL, v text, k_id int REFERENCES k) PARTITION BY RANGE (d);
     CREATE TABLE m_h1 PARTITION OF m FOR VALUES FROM ('2023-01-01') TO ('2023-07-01');
     CREATE TABLE m_rest PARTITION OF m DEFAULT;
     CREATE INDEX m_v ON m (v);
     CREATE FUNCTION m_stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.v := 'stamped'; RETURN NEW; END $$;
     CREATE TRIGGER m_stamp BEFORE INSERT ON m FOR EACH ROW EXECUTE FUNCTION m_stamp();
     CREATE TABLE n (id int, d date NOT NULL, v text);
     CREATE TABLE o (id int, d date NOT NULL, v text) PARTITION BY RANGE (d);
     CREATE TABLE o_2023 PARTITION OF o FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
     CREATE TABLE o_2024 PARTITION OF o FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
     INSERT INTO k VALUES (1);
     INSERT INTO m VALUES (-1, '2023-02-02', 'old', 1);
     INSERT INTO n VALUES (-1, '2020-01-01', 'old');
     INSERT INTO o VALUES (-1, '2023-05-05', 'old');";

/// Rows and digest of a table with its partitions, as `(count, md5)`.
fn rows_of(c: &pgcopy_tests::Cluster, db: &str, table: &str) -> String {
    scalar(
        c,
        db,
        &format!(
            "SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {table} t"
        ),
    )
}

#[test]
fn a_destination_partitioned_differently_takes_every_row_through_its_own_partitions() {
    for as_owner in [false, true] {
        let db = if as_owner { "repartowner" } else { "repartsu" };
        let p = Pair::new(db);
        p.src.psql(&p.db, REPARTED_SOURCE);
        let (s, su) = p.urls();
        let d = if as_owner {
            p.give_destination_to_app(&[REPARTED_DEST])
        } else {
            p.dst.psql(&p.db, REPARTED_DEST);
            su.clone()
        };
        let schema = || {
            (
                crate::common::index_set(&p.dst, &p.db),
                crate::common::constraints_and_triggers(&p.dst, &p.db),
            )
        };
        let before = schema();

        let run = crate::common::copy(&s, &d, &["--dry-run"]);
        run.expect_code(0);
        for routed in [
            "public.m -> public.m",
            "public.n_2023 -> public.n",
            "public.o_old -> public.o",
        ] {
            assert!(run.stdout.contains(routed), "{routed}:\n{}", run.stdout);
        }
        assert!(
            run.stdout.contains("loaded without FREEZE"),
            "{}",
            run.stdout
        );

        crate::common::copy(&s, &d, &["--no-progress"]).expect_code(0);
        for t in ["k", "m", "n", "o"] {
            assert_eq!(rows_of(&p.dst, &p.db, t), rows_of(&p.src, &p.db, t), "{t}");
        }
        // Each row went where the destination's bounds say, and the trigger
        // the copy disabled did not stamp them.
        assert_eq!(
            scalar(
                &p.dst,
                &p.db,
                "SELECT count(*) FROM m_h1 WHERE d >= '2023-07-01'"
            ),
            "0"
        );
        assert_eq!(
            scalar(&p.dst, &p.db, "SELECT count(*) FROM o_2024"),
            scalar(
                &p.src,
                &p.db,
                "SELECT count(*) FROM o WHERE d >= '2024-01-01'"
            )
        );
        assert_eq!(
            scalar(&p.dst, &p.db, "SELECT count(*) FROM m WHERE v = 'stamped'"),
            "0"
        );
        assert_eq!(schema(), before, "the destination's schema changed");
        let verify = pgcopy(&["verify", "-s", &s, "-d", &d, "--exact"]);
        verify.expect_code(0);
        assert!(verify.stdout.contains("public.n"), "{}", verify.stdout);

        // A row no partition takes is found before anything changes.
        p.src.psql(
            &p.db,
            "INSERT INTO o VALUES (5000, '2026-01-01', 'late'), (5001, '2027-01-01', 'late')",
        );
        let run = crate::common::copy(&s, &d, &["--no-progress"]);
        run.expect_code(1);
        assert!(
            run.stderr.contains(
                "2 rows of public.o_new fit no partition of public.o on the destination: add a partition"
            ),
            "{}",
            run.stderr
        );
        assert_eq!(scalar(&p.dst, &p.db, "SELECT count(*) FROM o"), "2000");
        p.src.psql(&p.db, "DELETE FROM o WHERE v = 'late'");

        // One partition alone cannot go through a table emptied whole.
        let run = copy(
            &s,
            &d,
            &["--no-progress", "--include-tables", "public.o_old"],
        );
        run.expect_code(1);
        assert!(
            run.stderr.contains(
                "public.o_old is a partition of public.o, which the destination partitions differently"
            ),
            "{}",
            run.stderr
        );
        assert_eq!(schema(), before);
    }
}
