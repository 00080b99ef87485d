//! Foreign keys: replica mode, drop mode (save, drop, restore exactly), kills
//! right after the drops, and validation failures that must not go unnoticed.

use crate::common::{copy, copy_env, pgcopy, pgcopy_env, scalar, Pair};
use pgcopy_tests::Cluster;

/// (table, name, definition, validated) of every FK, sorted.
fn fk_set(c: &Cluster, db: &str) -> String {
    crate::common::constraints_and_triggers(c, db).0
}

fn fk_pair(db: &str) -> Pair {
    let p = Pair::new(db);
    p.load(&["fks-schema.sql"], &["fks-data.sql"]);
    p
}

/// A destination database owned by a non-superuser `app`, schema created by it.
fn owner_pair(db: &str) -> (Pair, String) {
    crate::common::owner_pair(db, &["fks-schema.sql"], &["fks-data.sql"])
}

#[test]
fn replica_mode_keeps_every_foreign_key() {
    let p = fk_pair("fkreplica");
    let before = fk_set(&p.dst, &p.db);
    assert!(before.lines().count() >= 9, "{before}");
    let run = p.copy(&[]);
    run.expect_code(0);
    assert!(run.stderr.contains("replica mode"), "{}", run.stderr);
    p.assert_same_data();
    assert_eq!(fk_set(&p.dst, &p.db), before);
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM pgcopy.saved_fks"),
        "0"
    );
}

#[test]
fn drop_mode_restores_every_foreign_key_exactly() {
    let (p, d) = owner_pair("fkdrop");
    let before = fk_set(&p.dst, &p.db);
    let indexes_before = crate::common::index_set(&p.dst, &p.db);
    let (s, _) = p.urls();
    let run = crate::common::copy(&s, &d, &["-p", "3"]);
    run.expect_code(0);
    assert!(run.stderr.contains("drop mode"), "{}", run.stderr);
    p.assert_same_data();
    assert_eq!(fk_set(&p.dst, &p.db), before);
    // Every dropped FK was saved, and is marked restored with its validity.
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*), count(*) FILTER (WHERE restored_at IS NOT NULL), \
                                count(*) FILTER (WHERE restored_valid = was_validated) FROM pgcopy.saved_fks"),
        "9|9|9"
    );
    assert_eq!(crate::common::pending_fks(&p), "0");
    // Secondary indexes were deferred (drop mode, owner) and rebuilt exactly.
    assert!(
        run.stderr
            .contains("saved and dropped 24 indexes (9 behind primary keys or unique constraints"),
        "{}",
        run.stderr
    );
    assert_eq!(crate::common::index_set(&p.dst, &p.db), indexes_before);
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*), count(restored_at) FROM pgcopy.saved_indexes"
        ),
        "24|24"
    );
    // Every copied table was analyzed by pgcopy (autovacuum counts apart), most
    // of them during the load; employee only after its deferred expression
    // index was rebuilt, since that index has statistics of its own.
    assert_eq!(
        scalar(&p.dst, &p.db, ANALYZE_COUNTS),
        "0|1",
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("tables after the load"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("during it)"), "{}", run.stderr);
    // Drop mode: no FK is left to link tables, so each is truncated in its
    // own load transaction and loaded with COPY FREEZE, FK-linked ones too:
    // every page of author and book (a cycle) and of a partition with an
    // FK is all-frozen in the visibility map, and the summary says so.
    p.dst
        .psql(&p.db, "CREATE EXTENSION IF NOT EXISTS pg_visibility");
    for t in ["author", "book", "employee", "measurement_2024"] {
        assert_eq!(
            scalar(
                &p.dst,
                &p.db,
                &format!(
                    "SELECT all_frozen > 0 AND all_frozen = pg_relation_size('{t}') / current_setting('block_size')::int \
                       FROM pg_visibility_map_summary('{t}')"
                )
            ),
            "t",
            "{t} is not all frozen"
        );
    }
    assert!(
        run.stdout.contains("COPY FREEZE: 19 of 19 tables"),
        "{}",
        run.stdout
    );
}

/// Plain tables never analyzed by a command | statistics rows of the
/// expression index on employee.
const ANALYZE_COUNTS: &str = "SELECT (SELECT count(*) FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
                                      WHERE c.relkind = 'r' AND s.schemaname <> 'pgcopy' AND s.analyze_count = 0) \
                              || '|' || (SELECT count(*) FROM pg_statistic \
                                          WHERE starelid = 'employee_lower_name_idx'::regclass)";

#[test]
fn no_defer_indexes_keeps_them_in_place() {
    let (p, d) = owner_pair("fknodefer");
    let (s, _) = p.urls();
    let run = copy(&s, &d, &["--no-defer-indexes", "--no-analyze"]);
    run.expect_code(0);
    let tables = scalar(
        &p.dst,
        &p.db,
        "SELECT count(*) FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
          WHERE c.relkind = 'r' AND s.schemaname <> 'pgcopy'",
    );
    assert_eq!(
        scalar(&p.dst, &p.db, ANALYZE_COUNTS),
        format!("{tables}|0"),
        "--no-analyze analyzes nothing"
    );
    assert!(
        !run.stderr.contains("each rebuilt once its table is loaded"),
        "{}",
        run.stderr
    );
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM pgcopy.saved_indexes"),
        "0"
    );
    p.assert_same_data();
}

/// Files of the FK-linked tables the load truncates together (TRUNCATE gives
/// a table new ones): `name=relfilenode`, sorted.
fn linked_table_files(c: &Cluster, db: &str) -> String {
    scalar(
        c,
        db,
        "SELECT string_agg(relname || '=' || relfilenode, ',' ORDER BY relname) FROM pg_class \
          WHERE relname IN ('employee', 'book', 'author', 'measurement_2024', 'measurement_rest')",
    )
}

#[test]
fn linked_tables_are_truncated_only_when_one_may_hold_rows() {
    let p = fk_pair("fktruncate");
    let empty = linked_table_files(&p.dst, &p.db);
    // A first load into empty tables leaves their files alone.
    p.copy(&[]).expect_code(0);
    p.assert_same_data();
    assert_eq!(linked_table_files(&p.dst, &p.db), empty);
    // A refresh of full tables truncates them.
    p.copy(&[]).expect_code(0);
    p.assert_same_data();
    assert_ne!(linked_table_files(&p.dst, &p.db), empty);

    let all_linked = "TRUNCATE employee, book, author, measurement, invoice, crm.account, \
                      tenant, doc, category, item, region, office";
    // One stale row in one partition of a partitioned table is found.
    p.dst.psql(
        &p.db,
        &format!(
            "SET session_replication_role = replica; {all_linked}; \
             INSERT INTO measurement VALUES (-1, DATE '2030-01-01', NULL)"
        ),
    );
    p.copy(&[]).expect_code(0);
    p.assert_same_data();
    // So is a table with pages but only dead rows: truncated, not scanned.
    p.dst.psql(
        &p.db,
        &format!(
            "SET session_replication_role = replica; {all_linked}; \
             INSERT INTO employee VALUES (-1, NULL, 'gone'); DELETE FROM employee"
        ),
    );
    let dead = linked_table_files(&p.dst, &p.db);
    p.copy(&[]).expect_code(0);
    p.assert_same_data();
    assert_ne!(linked_table_files(&p.dst, &p.db), dead);
}

#[test]
fn granted_replica_role_is_used_instead_of_dropping() {
    let (p, d) = owner_pair("fkgrant");
    let (s, _) = p.urls();
    let before = fk_set(&p.dst, &p.db);
    // Without the grant the keys go and come back, and the log names the
    // grant that keeps them in place.
    let run = crate::common::copy(&s, &d, &[]);
    run.expect_code(0);
    assert_eq!(fk_set(&p.dst, &p.db), before);
    let grant = run
        .stderr
        .lines()
        .find_map(|l| l.split("a superuser runs ").nth(1))
        .map(|g| g.trim_end_matches(')').to_string())
        .unwrap_or_else(|| panic!("no grant named: {}", run.stderr));
    assert_eq!(
        grant,
        r#"GRANT SET ON PARAMETER session_replication_role TO "app""#
    );
    p.dst.psql(&p.db, &grant);
    let run = crate::common::copy(&s, &d, &[]);
    run.expect_code(0);
    assert!(run.stderr.contains("replica mode"), "{}", run.stderr);
    assert!(!run.stderr.contains("validated again"), "{}", run.stderr);
    p.assert_same_data();
    assert_eq!(fk_set(&p.dst, &p.db), before);
    // Only the first copy's keys were ever saved.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(DISTINCT job_id) FROM pgcopy.saved_fks"
        ),
        "1"
    );
}

#[test]
fn killed_between_adding_and_validating_keeps_every_fk_validity() {
    let (p, d) = owner_pair("fkhalf");
    let before = fk_set(&p.dst, &p.db);
    let (s, _) = p.urls();
    // Every key after the load (none restored while it goes on).
    let late = [
        ("PGCOPY_FAILPOINT", "after-fk-adds"),
        ("PGCOPY_EARLY_FOREIGN_KEYS", "off"),
    ];
    let mut child = crate::common::spawn_copy(&s, &d, &[], &late);
    crate::common::kill_after(&mut child, "failpoint after-fk-adds reached");
    // Every FK is back, the validated ones still NOT VALID for now.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FILTER (WHERE NOT convalidated) > 1 FROM pg_constraint WHERE contype = 'f'"
        ),
        "t"
    );
    // The resumed job re-drops them as they are now, and brings them back as
    // they were before the first run: validated where they were.
    crate::common::copy(&s, &d, &["--resume"]).expect_code(0);
    assert_eq!(fk_set(&p.dst, &p.db), before);
    p.assert_same_data();

    // Same cut, then a new job instead of a resume (the old one discarded
    // first): the validity the old job saved carries over.
    let mut child = crate::common::spawn_copy(&s, &d, &[], &late);
    crate::common::kill_after(&mut child, "failpoint after-fk-adds reached");
    let job = scalar(&p.dst, &p.db, "SELECT max(job_id) FROM pgcopy.jobs");
    p.dst.psql(
        &p.db,
        &format!("UPDATE pgcopy.jobs SET state = 'discarded' WHERE job_id = {job}"),
    );
    crate::common::copy(&s, &d, &[]).expect_code(0);
    assert_eq!(fk_set(&p.dst, &p.db), before);
}

#[test]
fn keys_between_loaded_tables_come_back_during_the_load_and_a_cut_there_resumes() {
    let (p, d) = owner_pair("fkearly");
    let before = fk_set(&p.dst, &p.db);
    let (s, _) = p.urls();
    // The plain tables' keys come back while the load goes on; a
    // partitioned table's (measurement, region) after it.
    let run = pgcopy(&["copy", "--no-progress", "-s", &s, "-d", &d]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("foreign keys while the load went on")
            && run.stderr.contains("INFO restored 2 foreign keys in"),
        "{}",
        run.stderr
    );
    assert_eq!(fk_set(&p.dst, &p.db), before);
    p.assert_same_data();
    // Killed between a key's early add and its validation: it is back NOT
    // VALID, and the resume brings every key back as it was.
    let mut child =
        crate::common::spawn_copy(&s, &d, &[], &[("PGCOPY_FAILPOINT", "after-early-fk-add")]);
    crate::common::kill_after(&mut child, "failpoint after-early-fk-add reached");
    assert_ne!(fk_set(&p.dst, &p.db), before);
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated \
              AND conname <> 'item_category_fk'"
        ),
        "1"
    );
    crate::common::copy(&s, &d, &["--resume"]).expect_code(0);
    assert_eq!(fk_set(&p.dst, &p.db), before);
    p.assert_same_data();
}

#[test]
fn killed_after_drops_everything_is_saved_and_restorable() {
    let (p, d) = owner_pair("fkkill");
    let before = fk_set(&p.dst, &p.db);
    let indexes_before = crate::common::index_set(&p.dst, &p.db);
    let (s, _) = p.urls();
    let mut child =
        crate::common::spawn_copy(&s, &d, &[], &[("PGCOPY_FAILPOINT", "after-drop-fks")]);
    crate::common::kill_after(&mut child, "failpoint after-drop-fks reached");
    // The FKs are gone from the tables, and every one is saved.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' \
                                AND connamespace::regnamespace::text <> 'pgcopy'"
        ),
        "0"
    );
    assert_eq!(crate::common::pending_fks(&p), "9");
    // A new copy refuses to start while they are pending, with the job's
    // one next step.
    let run = crate::common::copy(&s, &d, &[]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "job 1 did not finish (its client died): continue it with `pgcopy copy --resume --job 1`"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FROM pgcopy.saved_indexes WHERE restored_at IS NULL"
        ),
        "24"
    );
    assert_ne!(crate::common::index_set(&p.dst, &p.db), indexes_before);
    // The CLI restores them all, exactly, indexes included.
    let run = pgcopy_env(&["restore-fks"], &[("PGCOPY_DEST", &d)]);
    run.expect_code(0);
    assert_eq!(crate::common::index_set(&p.dst, &p.db), indexes_before);
    // What was rebuilt, one line per key, and the job's one next step.
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 11, "{}", run.stdout);
    assert_eq!(lines[0], "24 indexes rebuilt");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("job 1  ")).count(),
        9,
        "{}",
        run.stdout
    );
    assert!(
        lines[10].starts_with("job 1: next: continue it with `pgcopy copy --resume --job 1`"),
        "{}",
        run.stdout
    );
    assert_eq!(fk_set(&p.dst, &p.db), before);
    assert_eq!(crate::common::pending_fks(&p), "0");
    // Idempotent: a second restore has nothing to do.
    let run = pgcopy(&["restore-fks", "-d", &d]);
    run.expect_code(0);
    assert!(run.stdout.contains("nothing to restore"), "{}", run.stdout);
}

#[test]
fn killed_between_batches_of_fk_drops_every_fk_is_saved_or_present() {
    // 449 FKs: saved and dropped 200 per transaction, so a kill between two
    // batches leaves some dropped (and saved) and the rest in place.
    let p = Pair::new("fkbatches");
    let schema = "CREATE TABLE t1 (id int PRIMARY KEY);
                  SELECT format('CREATE TABLE t%s (id int PRIMARY KEY, p int REFERENCES t%s)', i, i / 2)
                    FROM generate_series(2, 450) i \\gexec";
    p.src.psql(&p.db, schema);
    p.src.psql(
        &p.db,
        "INSERT INTO t1 VALUES (1);
         SELECT format('INSERT INTO t%s VALUES (1, 1)', i) FROM generate_series(2, 450) i \\gexec",
    );
    p.dst.psql(
        "postgres",
        "CREATE ROLE app LOGIN PASSWORD 'app-pw'; ALTER DATABASE fkbatches OWNER TO app;",
    );
    p.dst
        .try_psql_as(&p.db, "app", schema)
        .expect("schema as app");
    let d = p.dst.url_for(&p.db, "app", "app-pw");
    let (s, _) = p.urls();
    let before = fk_set(&p.dst, &p.db);
    let foreign = |set: &str| set.lines().filter(|l| l.contains("FOREIGN KEY")).count();
    assert_eq!(foreign(&before), 449);
    let mut child =
        crate::common::spawn_copy(&s, &d, &[], &[("PGCOPY_FAILPOINT", "after-fk-batch")]);
    crate::common::kill_after(&mut child, "failpoint after-fk-batch reached");
    assert_eq!(crate::common::pending_fks(&p), "200");
    assert_eq!(foreign(&fk_set(&p.dst, &p.db)), 249);
    let run = pgcopy(&["restore-fks", "-d", &d]);
    run.expect_code(0);
    assert_eq!(fk_set(&p.dst, &p.db), before);
    // The job gave up, a new copy goes through and ends identical.
    pgcopy(&["jobs", "discard", "1", "-d", &d]).expect_code(0);
    crate::common::copy(&s, &d, &[]).expect_code(0);
    p.assert_same_data();
    assert_eq!(fk_set(&p.dst, &p.db), before);
}

#[test]
fn violating_source_row_leaves_fk_not_valid_and_fails_the_run() {
    let (p, d) = owner_pair("fkviolate");
    // On the source, a row that violates a validated FK (loaded in replica mode).
    p.src.psql(
        &p.db,
        "SET session_replication_role = replica; INSERT INTO book VALUES (9999, 12345);",
    );
    let before = fk_set(&p.dst, &p.db);
    let (s, _) = p.urls();
    let run = crate::common::copy(&s, &d, &[]);
    run.expect_code(3);
    assert!(run.stderr.contains("book_author_fk"), "{}", run.stderr);
    assert!(run.stderr.contains("NOT VALID"), "{}", run.stderr);
    p.assert_same_data();
    // Present, NOT VALID, with the reason recorded; every other FK as before.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT convalidated FROM pg_constraint WHERE conname = 'book_author_fk'"
        ),
        "f"
    );
    let reason = scalar(
        &p.dst,
        &p.db,
        "SELECT restore_error FROM pgcopy.saved_fks WHERE constraint_name = 'book_author_fk'",
    );
    assert!(reason.contains("validation failed"), "{reason}");
    let after = fk_set(&p.dst, &p.db);
    let differ: Vec<_> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(differ.len(), 1, "{differ:?}");
    assert!(
        differ[0].1.contains("book_author_fk") && differ[0].1.contains(" NOT VALID|f|"),
        "{differ:?}"
    );
    // After fixing the data, restore-fks validates it.
    p.dst.psql(&p.db, "DELETE FROM book WHERE id = 9999");
    pgcopy(&["restore-fks", "-d", &d]).expect_code(0);
    assert_eq!(fk_set(&p.dst, &p.db), before);
}

#[test]
fn drop_mode_without_ownership_is_refused_before_any_change() {
    let p = fk_pair("fknotowner");
    p.dst.psql(
        &p.db,
        "CREATE ROLE loader LOGIN PASSWORD 'pw'; GRANT CREATE ON DATABASE fknotowner TO loader;
         GRANT USAGE ON SCHEMA crm TO loader;
         GRANT SELECT, INSERT, TRUNCATE, REFERENCES ON ALL TABLES IN SCHEMA public, crm TO loader;",
    );
    let before = fk_set(&p.dst, &p.db);
    let (s, _) = p.urls();
    let run = copy(&s, &p.dst.url_for(&p.db, "loader", "pw"), &[]);
    run.expect_code(1);
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert!(run.stderr.contains("permission denied to drop foreign key \"book_author_fk\" on public.book: the role must own public.book"), "{}", run.stderr);
    assert_eq!(fk_set(&p.dst, &p.db), before);
    crate::common::assert_no_state_schema(&p.dst, &p.db);
}

/// A key the load drops comes back as its table's owner, so that owner needs
/// REFERENCES on what it references. Here the role running pgcopy owns the
/// referenced table, and through membership the referencing one, whose owner
/// lacks REFERENCES (a superuser created the key): refused before anything
/// changes, naming the grant. Before, the key was dropped and never came back.
#[test]
fn a_key_its_tables_owner_could_not_re_create_is_refused_before_any_change() {
    let p = Pair::new("fkownerref");
    let schema = "CREATE TABLE parent (id int PRIMARY KEY);
                  CREATE TABLE kid (id int PRIMARY KEY, pid int CONSTRAINT kid_pid_fkey REFERENCES parent);";
    p.src.psql(&p.db, schema);
    p.dst.psql(&p.db, schema);
    p.src.psql(
        &p.db,
        "INSERT INTO parent SELECT generate_series(1, 100); INSERT INTO kid SELECT g, g FROM generate_series(1, 100) g;",
    );
    p.dst.psql(
        "postgres",
        "CREATE ROLE ref_app LOGIN PASSWORD 'pw'; CREATE ROLE ref_other NOLOGIN; GRANT ref_other TO ref_app;",
    );
    p.dst.psql(
        &p.db,
        "GRANT CREATE ON DATABASE fkownerref TO ref_app;
         ALTER TABLE parent OWNER TO ref_app; ALTER TABLE kid OWNER TO ref_other;",
    );
    let before = fk_set(&p.dst, &p.db);
    let (s, _) = p.urls();
    let d = p.dst.url_for(&p.db, "ref_app", "pw");
    let run = crate::common::copy(&s, &d, &[]);
    run.expect_code(1);
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "foreign key \"kid_pid_fkey\" on public.kid could not be re-created after the load: keys come \
             back as their table's owner, and public.kid's owner \"ref_other\" lacks REFERENCES on public.parent; \
             GRANT REFERENCES ON public.parent TO \"ref_other\""
        ),
        "{}",
        run.stderr
    );
    assert_eq!(fk_set(&p.dst, &p.db), before);
    crate::common::assert_no_state_schema(&p.dst, &p.db);
    // Granted, the key goes and comes back.
    p.dst.psql(&p.db, "GRANT REFERENCES ON parent TO ref_other");
    crate::common::copy(&s, &d, &[]).expect_code(0);
    p.assert_same_data();
    assert_eq!(fk_set(&p.dst, &p.db), before);
}

/// By default (`--defer-indexes-above 1MB`) the indexes of small tables stay
/// in place during the load; a threshold one table passes defers only that
/// table's, and every index is as it was afterwards.
#[test]
fn small_tables_keep_their_indexes_by_default() {
    let (p, d) = owner_pair("fksmallidx");
    let indexes = crate::common::index_set(&p.dst, &p.db);
    let (s, _) = p.urls();
    let default = [("PGCOPY_DEFER_INDEXES_ABOVE", "1MB")];
    let run = copy_env(&s, &d, &[], &default);
    run.expect_code(0);
    assert!(
        !run.stderr.contains("each rebuilt once its table is loaded"),
        "{}",
        run.stderr
    );
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM pgcopy.saved_indexes"),
        "0"
    );
    p.assert_same_data();
    assert_eq!(crate::common::index_set(&p.dst, &p.db), indexes);

    // employee grows past 64 kB: its expression index alone is deferred.
    p.src.psql(
        &p.db,
        "INSERT INTO employee SELECT g, NULL, 'employee ' || g FROM generate_series(1000, 4000) g",
    );
    let run = pgcopy_env(
        &["copy", "-s", &s, "-d", &d, "--defer-indexes-above", "64kB"],
        &default,
    );
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("saved and dropped 2 indexes (1 behind primary keys"),
        "{}",
        run.stderr
    );
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT string_agg(index_name, ',' ORDER BY index_name) FROM pgcopy.saved_indexes \
              WHERE job_id = (SELECT max(job_id) FROM pgcopy.jobs)"
        ),
        "employee_lower_name_idx,employee_pkey"
    );
    p.assert_same_data();
    assert_eq!(crate::common::index_set(&p.dst, &p.db), indexes);
}

/// A partitioned table whose key references itself across partitions, as a
/// superuser (replica mode: the key stays): its key references each
/// partition, so the partitions are emptied together, up front; each alone
/// was refused ("cannot truncate a table referenced in a foreign key
/// constraint") after other tables had loaded.
#[test]
fn a_partitioned_table_that_references_itself() {
    let p = Pair::new("partselfref");
    let schema = "CREATE TABLE u (id int, r int, parent_id int, pr int, PRIMARY KEY (id, r),
                    FOREIGN KEY (parent_id, pr) REFERENCES u) PARTITION BY LIST (r);
                  CREATE TABLE u1 PARTITION OF u FOR VALUES IN (1);
                  CREATE TABLE u2 PARTITION OF u FOR VALUES IN (2);
                  CREATE TABLE other (id int PRIMARY KEY);";
    for c in [&p.src, &p.dst] {
        c.psql(&p.db, schema);
    }
    p.src.psql(
        &p.db,
        "INSERT INTO u SELECT g, 1 + g % 2, CASE WHEN g > 1 THEN g - 1 END, CASE WHEN g > 1 THEN 1 + (g - 1) % 2 END
           FROM generate_series(1, 500) g;
         INSERT INTO other SELECT generate_series(1, 10)",
    );
    p.dst
        .psql(&p.db, "INSERT INTO u VALUES (9999, 2, NULL, NULL)");
    let schema_before = crate::common::schema_of(&p.dst, &p.db);
    p.copy(&[]).expect_code(0);
    p.assert_same_data();
    assert_eq!(crate::common::schema_of(&p.dst, &p.db), schema_before);
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'u'::regclass AND conparentid = 0"),
        "1"
    );
}

/// Drop mode puts back the key of a partitioned table that references
/// itself through a partition partitioned again, with the names of the
/// copies PostgreSQL keeps on each partition, one renamed by hand (added
/// again, PostgreSQL names them anew); from psql too.
#[test]
fn partition_copies_of_a_key_keep_their_names() {
    let (p, d) = crate::common::owner_pair(
        "clonenames",
        &["partition-fks.sql"],
        &["partition-fks-data.sql"],
    );
    p.dst
        .try_psql_as(&p.db, "app", "CREATE EXTENSION pgcopy")
        .expect("extension");
    let before = crate::common::full_fingerprint(&p.dst, &p.db);
    let run = copy_env(&p.urls().0, &d, &[], &[]);
    run.expect_code(0);
    assert!(run.stderr.contains("drop mode"), "{}", run.stderr);
    p.assert_same_data();
    let after = crate::common::full_fingerprint(&p.dst, &p.db);
    assert_eq!(before.fks, after.fks);
    assert!(
        after.fks.contains("node's first partition"),
        "{}",
        after.fks
    );
    // Killed once the keys are dropped, the extension's restore_fks()
    // renames them back too.
    let mut child = crate::common::spawn_copy(
        &p.urls().0,
        &d,
        &[],
        &[("PGCOPY_FAILPOINT", "after-drop-fks")],
    );
    crate::common::kill_after(&mut child, "failpoint after-drop-fks reached");
    p.dst
        .try_psql_as(&p.db, "app", "SELECT * FROM pgcopy.restore_fks()")
        .expect("restore_fks");
    assert_eq!(
        crate::common::full_fingerprint(&p.dst, &p.db).fks,
        before.fks
    );
}

#[test]
fn a_validation_merged_over_the_indexes_still_finds_the_violating_row() {
    // A key whose referencing table has an index on its columns is checked
    // by a merge over both indexes (sql/validation_plan.sql), not by
    // hashing the referenced table: the merge must find the row the hash
    // finds. `other` has no such index and is checked as before.
    let p = Pair::new("fkmerge");
    let schema = "CREATE TABLE parent (id bigint PRIMARY KEY, label text);
                  CREATE TABLE child (id int PRIMARY KEY, parent_id bigint NOT NULL REFERENCES parent, n int);
                  CREATE INDEX child_parent ON child (parent_id);
                  CREATE TABLE other (id int PRIMARY KEY, parent_id bigint REFERENCES parent);";
    p.src.psql(&p.db, schema);
    p.src.psql(
        &p.db,
        "INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 20000) g;
         INSERT INTO child SELECT g, 1 + g % 20000, g FROM generate_series(1, 60000) g;
         INSERT INTO other SELECT g, 1 + g % 20000 FROM generate_series(1, 5000) g;
         SET session_replication_role = replica;
         INSERT INTO child VALUES (60001, 999999, 0);",
    );
    let d = p.give_destination_to_app(&[schema]);
    let before = fk_set(&p.dst, &p.db);
    let indexes_before = crate::common::index_set(&p.dst, &p.db);
    let (s, _) = p.urls();
    let run = copy(&s, &d, &[]);
    run.expect_code(3);
    assert!(run.stderr.contains("drop mode"), "{}", run.stderr);
    p.assert_same_data();
    let validity = "SELECT string_agg(conname || ':' || convalidated, ',' ORDER BY conname)
                      FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace";
    assert_eq!(
        scalar(&p.dst, &p.db, validity),
        "child_parent_id_fkey:false,other_parent_id_fkey:true"
    );
    let reason = scalar(
        &p.dst,
        &p.db,
        "SELECT restore_error FROM pgcopy.saved_fks WHERE constraint_name = 'child_parent_id_fkey'",
    );
    assert!(
        reason.contains("validation failed") && reason.contains("999999"),
        "{reason}"
    );
    // The check read the child's index through (a hash reads the table
    // instead; planning either reads a few entries at its ends).
    // A backend's counts reach the statistics as it exits, after pgcopy.
    let read = |at_least: u64| {
        let q = "SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = 'child_parent'";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let n: u64 = scalar(&p.dst, &p.db, q).parse().unwrap();
            if n >= at_least || std::time::Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let first = read(60_000);
    assert!(
        first >= 60_000,
        "the check did not read child_parent: {first}"
    );
    // Once the row is gone, the same merge validates the key.
    p.dst
        .psql(&p.db, "DELETE FROM child WHERE id = 60001; ANALYZE child");
    pgcopy(&["restore-fks", "-d", &d]).expect_code(0);
    assert_eq!(fk_set(&p.dst, &p.db), before);
    assert_eq!(crate::common::index_set(&p.dst, &p.db), indexes_before);
    let second = read(first + 60_000);
    assert!(
        second - first >= 60_000,
        "the second check did not read child_parent: {first}, then {second}"
    );
}

#[test]
fn the_last_tables_indexes_build_side_by_side_and_come_back_exactly() {
    // Once no load is left, a table's index groups build on sessions of
    // their own at once: its key, unique constraint, replica identity,
    // CLUSTER ON and statistics targets on one (they lock the table), a
    // plain partial index with a comment beside it.
    let p = Pair::new("sidebyside");
    let schema = "CREATE TABLE big (id int PRIMARY KEY, code text NOT NULL, a int, b int,
                                    CONSTRAINT big_code UNIQUE (code));
                  CREATE INDEX big_a ON big (a);
                  CREATE INDEX big_b ON big (b) WHERE b > 10;
                  CREATE INDEX big_ab ON big ((a + b));
                  ALTER INDEX big_ab ALTER COLUMN 1 SET STATISTICS 300;
                  ALTER TABLE big REPLICA IDENTITY USING INDEX big_code;
                  ALTER TABLE big CLUSTER ON big_a;
                  COMMENT ON INDEX big_b IS 'partial';";
    p.src.psql(&p.db, schema);
    p.src.psql(
        &p.db,
        "INSERT INTO big SELECT g, 'c' || g, g % 97, g % 13 FROM generate_series(1, 30000) g",
    );
    let d = p.give_destination_to_app(&[schema]);
    let before = crate::common::full_fingerprint(&p.dst, &p.db);
    let (s, _) = p.urls();
    let run = copy(&s, &d, &["-v"]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("rebuilt 5 indexes of public.big on 2 sessions side by side, the load done"),
        "{}",
        run.stderr
    );
    p.assert_same_data();
    let after = crate::common::full_fingerprint(&p.dst, &p.db);
    assert_eq!(
        (&after.fks, &after.indexes, &after.triggers),
        (&before.fks, &before.indexes, &before.triggers)
    );
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*), count(restored_at) FROM pgcopy.saved_indexes"
        ),
        "5|5"
    );
}
