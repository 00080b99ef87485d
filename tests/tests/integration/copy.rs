//! Copies that must end with identical data on both sides.

use crate::common::{constraints_and_triggers, copy, pgcopy, scalar, Pair};
use pgcopy_tests::fixture;

/// The run's log names each trigger of `disabled`, and none of `kept`.
fn assert_disabled_triggers(log: &str, disabled: &[&str], kept: &[&str]) {
    for t in disabled {
        let line = format!("disabled trigger \"{t}\" on public.");
        assert!(log.contains(&line), "{t} not disabled: {log}");
    }
    for t in kept {
        assert!(!log.contains(&format!("\"{t}\"")), "{t} disabled: {log}");
    }
}

#[test]
fn pagila_copies_identically_in_replica_mode() {
    let p = Pair::new("pagila");
    p.load(&["pagila/pagila-schema.sql"], &["pagila/pagila-data.sql"]);
    let run = p.copy(&["-p", "3"]);
    run.expect_code(0);
    assert!(run.stderr.contains("replica mode"), "{}", run.stderr);
    assert!(run.stdout.contains("total: 21 tables"), "{}", run.stdout);
    p.assert_same_data();
    // The job is recorded as succeeded with every chunk done.
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT state, (SELECT count(*) FROM pgcopy.job_chunks WHERE state <> 'done') FROM pgcopy.jobs"),
        "succeeded|0"
    );
    // A second run over a full destination gives the same result.
    p.copy(&[]).expect_code(0);
    p.assert_same_data();
}

#[test]
fn awkward_schema_copies_identically() {
    let p = Pair::new("awkward");
    p.load(&["awkward-schema.sql"], &["awkward-data.sql"]);
    p.dst.psql_file(&p.db, &fixture("awkward-dest-stale.sql"));
    let audit_before = scalar(&p.src, &p.db, "SELECT count(*) FROM audit_log");
    let run = p.copy(&[]);
    run.expect_code(0);
    // Replica mode silences ordinary triggers only: the ALWAYS and REPLICA
    // ones are disabled for the load.
    assert_disabled_triggers(
        &run.stderr,
        &["audited_always", "audited_replica", "parted_always"],
        &["audited_audit", "audited_off"],
    );
    p.assert_same_data();
    // No trigger fired during the load: the log is the source's.
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM audit_log"),
        audit_before
    );
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM source_empty"),
        "0"
    );
    // The materialized view is populated and agrees with the source.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT relispopulated FROM pg_class WHERE relname = 'everything_stats'"
        ),
        "t"
    );
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT n, s FROM everything_stats"),
        scalar(&p.src, &p.db, "SELECT n, s FROM everything_stats")
    );
    // Identity continues where the source is.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "INSERT INTO everything (m) VALUES ('ok') RETURNING id"
        ),
        scalar(
            &p.src,
            &p.db,
            "INSERT INTO everything (m) VALUES ('ok') RETURNING id"
        )
    );
    // Every trigger is back in its own mode (enabled, ALWAYS, REPLICA,
    // disabled, partitions' clones), as on the source.
    assert_eq!(
        constraints_and_triggers(&p.dst, &p.db).1,
        constraints_and_triggers(&p.src, &p.db).1
    );
    // The comparison itself can fail: one changed value in one row shows.
    p.dst
        .psql(&p.db, "UPDATE everything SET t = t || '!' WHERE id = 5");
    assert_ne!(
        crate::common::fingerprint(&p.src, &p.db).tables["public.everything"],
        crate::common::fingerprint(&p.dst, &p.db).tables["public.everything"]
    );
}

#[test]
fn a_partitioned_table_with_a_foreign_partition_keeps_its_index_and_gets_statistics() {
    // A foreign partition has no index and cannot be sampled without a user
    // mapping: the partitioned index stays in place (rebuilt from `ON ONLY`
    // it would stay invalid), and the plain partition is analyzed on its own.
    let p = Pair::new("foreignpart");
    let schema = "CREATE EXTENSION postgres_fdw;
        CREATE SERVER elsewhere FOREIGN DATA WRAPPER postgres_fdw;
        CREATE TABLE reading (at int NOT NULL, v int) PARTITION BY RANGE (at);
        CREATE TABLE reading_here PARTITION OF reading FOR VALUES FROM (0) TO (1000);
        CREATE FOREIGN TABLE reading_there PARTITION OF reading FOR VALUES FROM (1000) TO (2000)
            SERVER elsewhere;
        CREATE INDEX reading_v_idx ON reading (v);
        CREATE TABLE plain (id int PRIMARY KEY, v int);
        CREATE INDEX plain_v_idx ON plain (v);";
    p.src.psql(&p.db, schema);
    p.dst.psql(&p.db, schema);
    p.src.psql(
        &p.db,
        "INSERT INTO reading_here SELECT g, g % 7 FROM generate_series(0, 999) g;
         INSERT INTO plain SELECT g, g FROM generate_series(1, 100) g",
    );
    let indexes = crate::common::index_set(&p.dst, &p.db);
    let run = p.copy(&[]);
    run.expect_code(0);
    p.assert_same_data();
    assert!(
        run.stderr
            .contains("saved and dropped 2 indexes (1 behind primary keys"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("could not analyze public.reading through its partitions' root"),
        "{}",
        run.stderr
    );
    assert_eq!(crate::common::index_set(&p.dst, &p.db), indexes);
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT string_agg(relname || '=' || (analyze_count > 0), ',' ORDER BY relname) \
               FROM pg_stat_user_tables WHERE schemaname = 'public'"
        ),
        "plain=true,reading=false,reading_here=true"
    );
}

/// Every large object with its OID, owner, privileges, comment and data.
pub(crate) fn large_objects(c: &pgcopy_tests::Cluster, db: &str) -> String {
    scalar(
        c,
        db,
        "SELECT coalesce(string_agg(m.oid || ' ' || pg_get_userbyid(m.lomowner) || ' '
                                    || coalesce(m.lomacl::text, '-') || ' '
                                    || coalesce(obj_description(m.oid, 'pg_largeobject'), '-') || ' '
                                    || md5(lo_get(m.oid)) || ' ' || length(lo_get(m.oid)), E'\\n' ORDER BY m.oid), '')
           FROM pg_largeobject_metadata m",
    )
}

#[test]
fn large_objects_are_copied_with_their_oids_owners_privileges_and_comments() {
    let p = Pair::new("largeobjects");
    let schema = "CREATE TABLE doc (id int PRIMARY KEY, body oid)";
    p.src.psql(&p.db, schema);
    p.dst.psql(&p.db, schema);
    for c in [&p.src, &p.dst] {
        c.psql(
            "postgres",
            "CREATE ROLE lo_owner; CREATE ROLE lo_reader; CREATE ROLE lo_other",
        );
    }
    // Small ones, one of 3 MB (read and written in slices), one empty; an
    // owner, grants, a comment; more than one batch.
    p.src.psql(
        &p.db,
        "INSERT INTO doc SELECT g, lo_from_bytea(0, convert_to('page ' || g, 'UTF8')) FROM generate_series(1, 600) g;
         INSERT INTO doc VALUES (601, lo_from_bytea(0, decode(repeat(md5('x'), 98304), 'hex')));
         INSERT INTO doc VALUES (602, lo_from_bytea(0, ''));
         SELECT lo_from_bytea(424242, 'orphan');
         ALTER LARGE OBJECT 424242 OWNER TO lo_owner;
         GRANT SELECT ON LARGE OBJECT 424242 TO lo_reader WITH GRANT OPTION;
         SET ROLE lo_reader; GRANT SELECT ON LARGE OBJECT 424242 TO lo_other; RESET ROLE;
         GRANT UPDATE ON LARGE OBJECT 424242 TO PUBLIC;
         COMMENT ON LARGE OBJECT 424242 IS 'kept ''as is''';",
    );
    // The destination has one of the same OID and another owner: not
    // replaced, the copy is refused (anyone may create a large object with
    // the OID of another's).
    p.dst.psql(
        &p.db,
        "SELECT lo_from_bytea(424242, 'old'); SELECT lo_from_bytea(7, 'the destination''s own');",
    );
    let run = p.copy(&[]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "1 large objects on the destination have the OIDs of source ones but other owners \
             (424242: \"postgres\" here, \"lo_owner\" on the source)"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT encode(lo_get(424242), 'escape')"),
        "old"
    );
    // Of the same owner (an earlier copy's), it is replaced; the
    // destination's own are left alone.
    p.dst
        .psql(&p.db, "ALTER LARGE OBJECT 424242 OWNER TO lo_owner");
    let dest_own = scalar(&p.dst, &p.db, "SELECT md5(lo_get(7))");
    let run = p.copy(&["--dry-run"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("large objects: 603 in 3 batches"),
        "{}",
        run.stdout
    );
    let run = p.copy(&["-p", "2"]);
    run.expect_code(0);
    p.assert_same_data();
    assert!(
        run.stdout.contains("large objects: 603 copied"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let src = large_objects(&p.src, &p.db);
    let others = |all: &str| -> Vec<String> {
        all.lines()
            .filter(|l| !l.starts_with("7 "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(others(&large_objects(&p.dst, &p.db)), others(&src));
    assert_eq!(scalar(&p.dst, &p.db, "SELECT md5(lo_get(7))"), dest_own);
    assert!(
        src.contains(
            "424242 lo_owner {lo_owner=rw/lo_owner,lo_reader=r*/lo_owner,lo_other=r/lo_reader,=w/lo_owner} kept 'as is'"
        ),
        "{src}"
    );
    // Tracked in the state schema as batches of pg_catalog.pg_largeobject.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT state || ' ' || (SELECT sum(rows_copied) FROM pgcopy.job_chunks c
                                      WHERE c.job_id = t.job_id AND c.table_name = 'pg_largeobject')
               FROM pgcopy.job_tables t WHERE table_name = 'pg_largeobject'
                AND job_id = (SELECT max(job_id) FROM pgcopy.jobs)"
        ),
        "done 603"
    );

    // Killed after a batch, resumed: every one is there once.
    p.dst.psql(
        &p.db,
        "SELECT lo_unlink(oid) FROM pg_largeobject_metadata WHERE oid <> 7",
    );
    let (s, d) = p.urls();
    let mut child = crate::common::spawn_copy(
        &s,
        &d,
        &["--no-progress", "-p", "1"],
        &[("PGCOPY_FAILPOINT", "after-large-object-batch")],
    );
    crate::common::kill_after(&mut child, "failpoint after-large-object-batch reached");
    let partly: i64 = scalar(
        &p.dst,
        &p.db,
        "SELECT count(*) FROM pg_largeobject_metadata",
    )
    .parse()
    .unwrap();
    assert!(
        partly > 1 && partly < 604,
        "{partly} large objects after the kill"
    );
    let resumed = crate::common::copy(&s, &d, &["--resume", "--no-progress"]);
    resumed.expect_code(0);
    assert_eq!(others(&large_objects(&p.dst, &p.db)), others(&src));
    // The batches count among the chunks done and to do (a red team saw
    // "14 of 1 chunks").
    let said = resumed
        .stderr
        .lines()
        .find(|l| l.contains("resuming job"))
        .unwrap_or_default()
        .to_string();
    let (done, total) = said
        .split_once(": ")
        .and_then(|(_, r)| r.split_once(" chunks"))
        .and_then(|(n, _)| n.split_once(" of "))
        .map(|(a, b)| (a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()))
        .unwrap_or_else(|| panic!("{}", resumed.stderr));
    assert!(done >= 2 && done < total, "{said}");

    // Some tables only: left out, with a word naming the columns that may
    // refer to them, unless asked for.
    let run = p.copy(&["--include-tables", "doc"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains(
            "the source has 603 large objects (pg_largeobject), which this copy leaves out: \
             columns that refer to them (public.doc.body)"
        ),
        "{}",
        run.stderr
    );
    let run = p.copy(&["--include-tables", "doc", "--large-objects", "--dry-run"]);
    assert!(run.stdout.contains("large objects: 603"), "{}", run.stdout);

    // A role that may not give them their owners is refused before any change.
    p.dst.psql(
        "postgres",
        &format!(
            "CREATE ROLE plain_copier LOGIN PASSWORD 'pw'; GRANT CREATE ON DATABASE {} TO plain_copier",
            p.db
        ),
    );
    p.dst.psql(
        &p.db,
        "GRANT ALL ON ALL TABLES IN SCHEMA public TO plain_copier; GRANT ALL ON SCHEMA public TO plain_copier",
    );
    let plain = p.dst.url_for(&p.db, "plain_copier", "pw");
    let before = large_objects(&p.dst, &p.db);
    let run = crate::common::copy(&s, &plain, &["--no-progress"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "the source's large objects belong to roles this role may not give them to on the destination"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(large_objects(&p.dst, &p.db), before);

    // A source without any says nothing.
    p.src
        .psql(&p.db, "SELECT lo_unlink(oid) FROM pg_largeobject_metadata");
    let run = p.copy(&[]);
    run.expect_code(0);
    assert!(!run.stderr.contains("large objects"), "{}", run.stderr);
}

#[test]
fn split_table_copies_identically() {
    let p = Pair::new("split");
    p.load(&["awkward-schema.sql"], &["awkward-data.sql"]);
    let run = p.copy(&["--split-larger-than", "16kB", "-p", "3"]);
    run.expect_code(0);
    p.assert_same_data();
    let chunks: i64 = scalar(
        &p.dst,
        &p.db,
        "SELECT count(*) FROM pgcopy.job_chunks WHERE table_name = 'everything' AND state = 'done'",
    )
    .parse()
    .unwrap();
    assert!(chunks >= 4, "everything was split into {chunks} chunks");
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT sum(rows_copied) FROM pgcopy.job_chunks WHERE table_name = 'everything'"
        ),
        scalar(&p.src, &p.db, "SELECT count(*) FROM everything")
    );
}

#[test]
fn non_superuser_owner_disables_and_restores_triggers() {
    let p = Pair::new("owner");
    p.dst.psql(
        "postgres",
        "CREATE ROLE app LOGIN PASSWORD 'app-pw'; ALTER DATABASE owner OWNER TO app;",
    );
    p.src.psql_file(&p.db, &fixture("awkward-schema.sql"));
    p.src.psql_file(&p.db, &fixture("awkward-data.sql"));
    let schema = std::fs::read_to_string(fixture("awkward-schema.sql")).unwrap();
    p.dst
        .try_psql_as(&p.db, "app", &schema)
        .expect("schema as app");
    let audit_before = scalar(&p.src, &p.db, "SELECT count(*) FROM audit_log");
    let (s, _) = p.urls();
    let d = p.dst.url_for(&p.db, "app", "app-pw");
    let run = crate::common::copy(&s, &d, &[]);
    run.expect_code(0);
    // Without replica mode the ordinary and ALWAYS triggers would fire; the
    // REPLICA one would not, and the disabled one stays so.
    assert_disabled_triggers(
        &run.stderr,
        &["audited_audit", "audited_always", "parted_always"],
        &["audited_replica", "audited_off"],
    );
    p.assert_same_data();
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM audit_log"),
        audit_before
    );
    assert_eq!(
        constraints_and_triggers(&p.dst, &p.db).1,
        constraints_and_triggers(&p.src, &p.db).1
    );
    // The state schema was created by, and belongs to, the non-superuser.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'pgcopy'"
        ),
        "app"
    );
}

#[test]
fn triggers_a_role_cannot_disable_are_refused_before_any_change() {
    let p = Pair::new("trignonowner");
    let schema = "CREATE TABLE a (id int PRIMARY KEY);
                  CREATE TABLE log (id int);
                  CREATE FUNCTION log_fn() RETURNS trigger LANGUAGE plpgsql AS
                    $$ BEGIN INSERT INTO public.log VALUES (NEW.id); RETURN NEW; END $$;
                  CREATE TRIGGER a_log AFTER INSERT ON a FOR EACH ROW EXECUTE FUNCTION log_fn();
                  ALTER TABLE a ENABLE ALWAYS TRIGGER a_log;";
    p.src.psql(&p.db, schema);
    p.dst.psql(&p.db, schema);
    p.src
        .psql(&p.db, "INSERT INTO a SELECT generate_series(1, 10)");
    // A loader that may use replica mode but owns nothing.
    p.dst.psql(
        "postgres",
        "CREATE ROLE loader LOGIN PASSWORD 'loader-pw'; \
         GRANT SET ON PARAMETER session_replication_role TO loader; \
         GRANT CREATE ON DATABASE trignonowner TO loader;",
    );
    p.dst
        .psql(&p.db, "GRANT SELECT, INSERT, TRUNCATE ON a, log TO loader");
    let before = crate::common::full_fingerprint(&p.dst, &p.db);
    let (s, _) = p.urls();
    let d = p.dst.url_for(&p.db, "loader", "loader-pw");
    let run = crate::common::copy(&s, &d, &[]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "table public.a has triggers that would fire during the load (\"a_log\" on public.a), \
             as ENABLE ALWAYS and ENABLE REPLICA triggers do in replica mode, and this role cannot disable them"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--fire-triggers"), "{}", run.stderr);
    assert_eq!(crate::common::full_fingerprint(&p.dst, &p.db), before);
    crate::common::assert_no_state_schema(&p.dst, &p.db);
    // Asked to, it lets the trigger fire: the (not copied) log gets a row per
    // copied row.
    copy(&s, &d, &["--fire-triggers", "--exclude-tables", "log"]).expect_code(0);
    assert_eq!(scalar(&p.dst, &p.db, "SELECT count(*) FROM log"), "10");
    // The owner (here the superuser) disables it and puts it back ALWAYS. The
    // loader's state schema is not the superuser's to trust: refused with
    // what to do, and another schema works.
    let run = p.copy(&[]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("schema \"pgcopy\" on the destination belongs to role \"loader\""),
        "{}",
        run.stderr
    );
    p.copy(&["--state-schema", "pgcopy_admin"]).expect_code(0);
    p.assert_same_data();
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT tgenabled FROM pg_trigger WHERE tgname = 'a_log'"
        ),
        "A"
    );
}

#[test]
fn a_superusers_copy_puts_back_the_triggers_of_tables_other_roles_own() {
    // Replica mode as superuser disables ENABLE ALWAYS triggers for the
    // load and puts each back as its table's owner; the owners may not read
    // the state schema, so every owner is looked up before any role is taken
    // (a red team found the second table's lookup made as the first's owner).
    let p = Pair::new("trigowners");
    let mut schema =
        String::from("CREATE FUNCTION public.keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;");
    for t in ["a", "b", "c"] {
        schema.push_str(&format!(
            "CREATE TABLE {t} (id int PRIMARY KEY);
             CREATE TRIGGER {t}_always BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION public.keep();
             ALTER TABLE {t} ENABLE ALWAYS TRIGGER {t}_always;"
        ));
    }
    p.src.psql(&p.db, &schema);
    p.dst.psql(&p.db, &schema);
    for t in ["a", "b", "c"] {
        p.src.psql(
            &p.db,
            &format!("INSERT INTO {t} SELECT generate_series(1, 100)"),
        );
    }
    p.dst.psql(
        "postgres",
        "CREATE ROLE trig_app LOGIN PASSWORD 'x'; CREATE ROLE trig_other LOGIN PASSWORD 'y';",
    );
    p.dst.psql(
        &p.db,
        "ALTER TABLE a OWNER TO trig_app; ALTER TABLE b OWNER TO trig_app; \
         ALTER TABLE c OWNER TO trig_other;",
    );
    let before = crate::common::schema_of(&p.dst, &p.db);
    let run = p.copy(&[]);
    run.expect_code(0);
    assert!(!run.stderr.contains("ERROR"), "{}", run.stderr);
    p.assert_same_data();
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT string_agg(tgname || ' ' || tgenabled::text, ', ' ORDER BY tgname) FROM pg_trigger \
              WHERE tgname LIKE '%_always'"
        ),
        "a_always A, b_always A, c_always A"
    );
    assert_eq!(crate::common::schema_of(&p.dst, &p.db), before);
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT state || ' ' || (disabled_triggers IS NULL) FROM pgcopy.jobs"
        ),
        "succeeded true"
    );
}

#[test]
fn more_tables_than_the_source_lock_table_holds() {
    // Lock table: max_locks_per_transaction (10) x about 80 backends, some
    // 800 locks nominally, shared by every session (with the spare shared
    // memory, one transaction ran out at 2,685 tables here). A worker's source
    // transaction keeps each table's lock until it ends, so it starts a new
    // one, in the same snapshot, every few hundred chunks.
    let mut p = Pair::new("manytables");
    // One statement per table: creating them all in one transaction would
    // itself need more locks than the default lock table holds.
    let schema =
        "SELECT format('CREATE TABLE t%s (id int)', i) FROM generate_series(1, 3000) i \\gexec";
    p.src.psql(&p.db, schema);
    p.dst.psql(&p.db, schema);
    p.src.psql(
        &p.db,
        "SELECT format('INSERT INTO t%s SELECT generate_series(1, %s)', i, i) \
           FROM generate_series(1, 3000, 7) i \\gexec",
    );
    p.src.psql(
        "postgres",
        "ALTER SYSTEM SET max_locks_per_transaction = 10",
    );
    p.src.stop_with("fast");
    p.src.restart();
    assert_eq!(
        scalar(&p.src, "postgres", "SHOW max_locks_per_transaction"),
        "10"
    );
    let run = p.copy(&["-p", "1", "--no-analyze"]);
    run.expect_code(0);
    p.assert_same_data();
}

#[test]
fn include_and_exclude_select_exactly() {
    let p = Pair::new("filters");
    p.load(&["awkward-schema.sql"], &["awkward-data.sql"]);
    p.dst.psql_file(&p.db, &fixture("awkward-dest-stale.sql"));
    let before = crate::common::fingerprint(&p.dst, &p.db);
    let run = p.copy(&[
        "--include-tables",
        r#"sales.*,parted,"Weird ""Schema"".x"."select",no*"#,
        "--exclude-tables",
        "parted_2025",
    ]);
    run.expect_code(0);
    let src = crate::common::fingerprint(&p.src, &p.db);
    let dst = crate::common::fingerprint(&p.dst, &p.db);
    let copied = [
        "sales.orders",
        "public.parted_2024",
        "public.parted_default",
        "Weird \"Schema\".x.select",
        "public.nokey",
        "public.no_columns",
    ];
    for (name, v) in &dst.tables {
        if copied.contains(&name.as_str()) {
            assert_eq!(Some(v), src.tables.get(name), "{name} should be copied");
        } else {
            assert_eq!(
                Some(v),
                before.tables.get(name),
                "{name} should be untouched"
            );
        }
    }
    // Owned sequences of copied tables follow; standalone ones do not on a subset.
    assert_eq!(
        dst.sequences.get("sales.orders_id_seq"),
        src.sequences.get("sales.orders_id_seq")
    );
    assert_eq!(
        dst.sequences.get("public.standalone_seq"),
        before.sequences.get("public.standalone_seq")
    );
}

#[test]
fn concurrent_writer_does_not_break_consistency() {
    let p = Pair::new("snapshot");
    let schema = "CREATE TABLE filler (id int, pad text);
                  CREATE TABLE orders (id int PRIMARY KEY);
                  CREATE TABLE order_lines (order_id int, line int);";
    p.src.psql(&p.db, schema);
    p.dst.psql(&p.db, schema);
    p.src.psql(
        &p.db,
        "INSERT INTO filler SELECT i, repeat('x', 200) FROM generate_series(1, 300000) i;
         INSERT INTO orders SELECT i FROM generate_series(1, 100) i;
         INSERT INTO order_lines SELECT i, l FROM generate_series(1, 100) i, generate_series(1, 3) l;",
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let sock = p.src.socket_dir();
        let port = p.src.port().to_string();
        let db = p.db.clone();
        std::thread::spawn(move || {
            // Each transaction adds an order and its three lines together.
            let script = "DO $$ DECLARE n int; BEGIN \
                SELECT max(id) + 1 INTO n FROM orders; \
                INSERT INTO orders VALUES (n); \
                INSERT INTO order_lines SELECT n, l FROM generate_series(1, 3) l; END $$;\n";
            let mut commits = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let ok = std::process::Command::new("psql")
                    .args(["-X", "-q", "-h"])
                    .arg(&sock)
                    .args(["-p", &port, "-U", "postgres", "-d", &db, "-c", script])
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                if ok {
                    commits += 1;
                }
            }
            commits
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    let run = p.copy(&["-p", "2", "--split-larger-than", "1MB"]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let commits = writer.join().unwrap();
    run.expect_code(0);
    assert!(commits > 0, "the writer never committed");
    let orders: i64 = scalar(&p.dst, &p.db, "SELECT count(*) FROM orders")
        .parse()
        .unwrap();
    let lines: i64 = scalar(&p.dst, &p.db, "SELECT count(*) FROM order_lines")
        .parse()
        .unwrap();
    assert_eq!(
        lines,
        orders * 3,
        "orders and their lines come from one instant"
    );
    let src_orders: i64 = scalar(&p.src, &p.db, "SELECT count(*) FROM orders")
        .parse()
        .unwrap();
    assert!(
        orders < src_orders,
        "rows committed after the snapshot must not appear ({orders} vs {src_orders})"
    );
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM filler"),
        "300000"
    );
}

#[test]
fn role_timeouts_do_not_cut_the_copy() {
    // Managed servers often set short timeouts per role: the snapshot
    // transaction idles through the whole copy, and each chunk's source
    // transaction idles while the destination commits (slowed here).
    let p = Pair::new("timeouts");
    p.load(&["awkward-schema.sql"], &["awkward-data.sql"]);
    p.src.psql(
        "postgres",
        "CREATE ROLE hurried LOGIN BYPASSRLS PASSWORD 'hurried-pw'; GRANT pg_read_all_data TO hurried;
         ALTER ROLE hurried SET statement_timeout = '100ms';
         ALTER ROLE hurried SET idle_in_transaction_session_timeout = '100ms';",
    );
    let s = p.src.url_for(&p.db, "hurried", "hurried-pw");
    let (_, d) = p.urls();
    let run = crate::common::pgcopy_env(
        &[
            "copy",
            "-s",
            &s,
            "-d",
            &d,
            "--no-progress",
            "-p",
            "2",
            "--retries",
            "0",
        ],
        &[("PGCOPY_FAILPOINT", "before-chunk-commit:300")],
    );
    run.expect_code(0);
    p.assert_same_data();
}

/// The workers read the source over a socket pgcopy opens itself (it joins
/// the server's per-row messages): over a Unix-domain socket, past a dead
/// first host in a host list, with rows larger than one joined message, rows
/// of every size around it, an empty table and a text-format table.
#[test]
fn source_sockets_hosts_and_row_sizes() {
    let p = Pair::new("sockets");
    let schema = "CREATE TABLE sizes (id int PRIMARY KEY, b bytea, t text);
                  CREATE TABLE empty_one (id int);
                  CREATE TABLE acl_text (id int, a aclitem[]);";
    p.src.psql(&p.db, schema);
    p.dst.psql(&p.db, schema);
    p.src.psql(
        &p.db,
        "INSERT INTO sizes SELECT i, CASE WHEN i % 97 = 0 THEN decode(repeat(md5(i::text), 20000 + i), 'hex') END,
                repeat('r', (i * 37) % 5000) FROM generate_series(1, 3000) i;
         INSERT INTO acl_text SELECT i, ARRAY[makeaclitem('postgres'::regrole, 'postgres'::regrole, 'SELECT', false)]
           FROM generate_series(1, 500) i;",
    );
    // The largest row is bigger than a joined message (64 kB).
    assert_eq!(
        scalar(&p.src, &p.db, "SELECT max(length(b)) > 300000 FROM sizes"),
        "t"
    );
    let d = p.dst.url(&p.db);
    let pw = pgcopy_tests::SUPERUSER_PASSWORD;
    let unix = format!(
        "postgresql://postgres:{pw}@/{}?host={}&port={}",
        p.db,
        p.src.socket_dir().display(),
        p.src.port()
    );
    // Port 1 refuses connections: the next host is tried.
    let hosts = format!(
        "postgresql://postgres:{pw}@127.0.0.1:1,127.0.0.1:{}/{}",
        p.src.port(),
        p.db
    );
    for source in [&unix, &hosts] {
        p.dst.psql(
            &p.db,
            "TRUNCATE sizes, empty_one, acl_text; DROP SCHEMA IF EXISTS pgcopy CASCADE",
        );
        let run = pgcopy(&["copy", "--no-progress", "-p", "2", "-s", source, "-d", &d]);
        run.expect_code(0);
        assert!(
            run.stdout.contains("total: 3 tables, 3500 rows"),
            "{}",
            run.stdout
        );
        p.assert_same_data();
    }
}
