//! Bare heaps: primary keys and unique constraints go with their indexes for
//! the load and come back exactly (USING INDEX), with their comments,
//! deferrability, replica identity, CLUSTER ON, and the index each foreign
//! key used; nothing is lost when a run is killed with them out or half back.

use crate::common::{pgcopy, scalar, schema_of, Pair};

/// The saved rows of keys (indexes saved with their constraint), sorted.
const SAVED_KEYS: &str =
    "SELECT string_agg(index_name, ',' ORDER BY index_name) FROM pgcopy.saved_indexes \
                           WHERE jsonb_typeof(properties -> 'constraint') = 'object'";

fn owner_pair(db: &str) -> (Pair, String) {
    crate::common::owner_pair(db, &["keys-schema.sql"], &["keys-data.sql"])
}

/// As the owner (drop mode), every key whose table no kept foreign key
/// references goes: all but the exclusion constraint and the key a view
/// depends on.
#[test]
fn keys_go_for_the_load_and_come_back_exactly() {
    let (p, d) = owner_pair("keysback");
    let before = schema_of(&p.dst, &p.db);
    assert!(
        before
            .0
            .contains("FOREIGN KEY (code) REFERENCES parent(code)|t|parent_code_old|"),
        "{}",
        before.0
    );
    let (s, _) = p.urls();
    let run = crate::common::copy(&s, &d, &[]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("(6 behind primary keys or unique constraints, which come back with them)"),
        "{}",
        run.stderr
    );
    assert_eq!(
        scalar(&p.dst, &p.db, SAVED_KEYS),
        "Child Rows_pkey,Self_pkey,booking_pkey,odd \"x\" key,parent_code_key,parent_pkey"
    );
    p.assert_same_data();
    assert_eq!(schema_of(&p.dst, &p.db), before);
}

/// Killed while the heaps are bare, the keys come back from psql (before the
/// foreign keys that need them); killed halfway through their rebuild,
/// `--resume` finishes it. Each time the schema is what it was.
#[test]
fn killed_with_keys_out_or_half_back_nothing_is_lost() {
    let (p, d) = owner_pair("keyskill");
    p.dst
        .try_psql_as(&p.db, "app", "CREATE EXTENSION pgcopy")
        .expect("trusted install");
    // A trigger the load disables: psql's restore_fks() puts it back too.
    for c in [&p.src, &p.dst] {
        c.psql(
            &p.db,
            "CREATE FUNCTION public.keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
             CREATE TRIGGER parent_keep BEFORE INSERT ON parent FOR EACH ROW EXECUTE FUNCTION public.keep();
             ALTER TABLE parent ENABLE ALWAYS TRIGGER parent_keep;",
        );
    }
    let before = schema_of(&p.dst, &p.db);
    assert!(before.2.contains("parent_keep|A"), "{}", before.2);
    let (s, _) = p.urls();

    let point = "phase:load";
    let mut child = crate::common::spawn_copy(&s, &d, &[], &[("PGCOPY_FAILPOINT", point)]);
    crate::common::kill_after(&mut child, &format!("failpoint {point} reached"));
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'parent'::regclass AND contype IN ('p', 'u', 'f')"
        ),
        "0",
        "parent is a bare heap during the load"
    );
    assert_eq!(
        scalar(&p.dst, &p.db, SAVED_KEYS),
        "Child Rows_pkey,Self_pkey,booking_pkey,odd \"x\" key,parent_code_key,parent_pkey"
    );
    let out = p
        .dst
        .try_psql_as(
            &p.db,
            "app",
            "SELECT outcome, count(*) FROM pgcopy.restore_fks() GROUP BY 1 ORDER BY 1",
        )
        .unwrap();
    assert_eq!(out, "index_restored|7\nrestored|3\ntrigger_restored|1");
    assert_eq!(schema_of(&p.dst, &p.db), before);
    pgcopy(&["jobs", "discard", "1", "-d", &d]).expect_code(0);

    // Each index slowed down, so that the run is killed with some keys back
    // and the others still saved.
    let mut child =
        crate::common::spawn_copy(&s, &d, &[], &[("PGCOPY_FAILPOINT", "index-build:400")]);
    let back = "SELECT count(restored_at) FROM pgcopy.saved_indexes WHERE job_id = 2";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while scalar(&p.dst, &p.db, back).parse::<u32>().unwrap() < 2
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let n: u32 = scalar(&p.dst, &p.db, back).parse().unwrap();
    assert!(
        (2..7).contains(&n),
        "killed with some indexes back, not all ({n})"
    );
    crate::common::copy(&s, &d, &["--resume"]).expect_code(0);
    p.assert_same_data();
    assert_eq!(schema_of(&p.dst, &p.db), before);
    assert_eq!(crate::common::pending_fks(&p), "0");
}

/// In replica mode the foreign keys stay, and with them the keys of the
/// tables they reference (and those tables' other unique indexes); a table
/// nobody references loads bare.
#[test]
fn replica_mode_keeps_the_keys_foreign_keys_need() {
    let p = Pair::new("keysreplica");
    p.load(&["keys-schema.sql"], &["keys-data.sql"]);
    let before = schema_of(&p.dst, &p.db);
    let (s, d) = p.urls();
    let run = crate::common::copy(&s, &d, &[]);
    run.expect_code(0);
    assert!(run.stderr.contains("replica mode"), "{}", run.stderr);
    assert_eq!(
        scalar(&p.dst, &p.db, SAVED_KEYS),
        "Child Rows_pkey,booking_pkey,odd \"x\" key"
    );
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FROM pgcopy.saved_indexes WHERE table_name = 'parent'"
        ),
        "0"
    );
    p.assert_same_data();
    assert_eq!(schema_of(&p.dst, &p.db), before);
}

/// A saved key is put back as the table's owner: a row a member of the job's
/// creator wrote, claiming a primary key for a parent whose INHERITS child
/// belongs to another role, fails on that child when a superuser restores it
/// (`must be owner`), instead of making the child's column NOT NULL with the
/// superuser's rights; from psql, the extension refuses it the same way.
#[test]
fn a_tampered_key_reaches_no_other_roles_table() {
    let (p, d) = owner_pair("keystamper");
    // The extension's schema belongs to a superuser: one may restore from it.
    p.dst
        .try_psql_as(&p.db, "app", "CREATE EXTENSION pgcopy")
        .expect("trusted install");
    let (s, su) = p.urls();
    crate::common::copy(&s, &d, &[]).expect_code(0);
    p.dst
        .try_psql_as(&p.db, "app", "CREATE TABLE tp (a int, b int)")
        .unwrap();
    p.dst.psql(
        &p.db,
        "CREATE ROLE victim; CREATE TABLE tc () INHERITS (tp); ALTER TABLE tc OWNER TO victim;
         INSERT INTO tc VALUES (1, 1)",
    );
    // What pgcopy would have recorded of the index it dropped.
    p.dst
        .try_psql_as(
            &p.db,
            "app",
            "CREATE UNIQUE INDEX tp_k ON public.tp USING btree (a)",
        )
        .unwrap();
    let bindings = crate::common::index_bindings(&p.dst, &p.db, "public.tp_k");
    p.dst
        .try_psql_as(
            &p.db,
            "app",
            &format!(
                r#"DROP INDEX public.tp_k;
                   INSERT INTO pgcopy.saved_indexes (job_id, table_schema, table_name, index_name, definition,
                                                    properties, bindings)
                   VALUES (1, 'public', 'tp', 'tp_k', 'CREATE UNIQUE INDEX tp_k ON public.tp USING btree (a)',
                           '{{"constraint": {{"kind": "primary_key"}}, "unique_rank": 0}}', '{bindings}')"#
            ),
        )
        .unwrap();
    let not_null =
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'tc'::regclass AND attname = 'a'";
    let run = pgcopy(&["restore-fks", "-d", &su]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("must be owner of table tc"),
        "{}",
        run.stderr
    );
    assert_eq!(scalar(&p.dst, &p.db, not_null), "f");
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FROM pg_class WHERE relname = 'tp_k'"
        ),
        "0"
    );
    assert!(scalar(
        &p.dst,
        &p.db,
        "SELECT restore_error FROM pgcopy.saved_indexes WHERE index_name = 'tp_k'"
    )
    .contains("must be owner of table tc"));
    // From psql, the extension: the same.
    let out = p.dst.psql(
        &p.db,
        "SELECT outcome, error FROM pgcopy.restore_fks() WHERE constraint_name = 'tp_k'",
    );
    assert!(
        out.starts_with("failed|") && out.contains("must be owner of table tc"),
        "{out}"
    );
    assert_eq!(scalar(&p.dst, &p.db, not_null), "f");
}

/// A table's key and an index it is CLUSTER ON are rebuilt one after the
/// other: side by side, each build held its SHARE lock on the table while
/// waiting for the stronger lock its key (ACCESS EXCLUSIVE) or CLUSTER ON
/// (SHARE UPDATE EXCLUSIVE) needs, and one of them died in a deadlock (a red
/// team saw it in 10 runs of 10). A plain index of the same table still
/// builds alongside.
#[test]
fn a_tables_key_and_its_cluster_index_are_rebuilt_without_a_deadlock() {
    let p = Pair::new("keyslock");
    let schema = "CREATE TABLE t (id int PRIMARY KEY, payload text, n int NOT NULL);
                  CREATE INDEX t_payload_idx ON t (payload);
                  ALTER TABLE t CLUSTER ON t_payload_idx;
                  CREATE INDEX t_n_idx ON t (n);
                  CREATE UNIQUE INDEX t_id_n ON t (id, n);
                  ALTER TABLE t REPLICA IDENTITY USING INDEX t_id_n;";
    p.src.psql(&p.db, schema);
    p.dst.psql(&p.db, schema);
    p.src.psql(
        &p.db,
        "INSERT INTO t SELECT g, md5(g::text), g % 1000 FROM generate_series(1, 200000) g",
    );
    let before = schema_of(&p.dst, &p.db);
    for _ in 0..3 {
        let run = p.copy(&["--defer-indexes"]);
        run.expect_code(0);
        assert!(!run.stderr.contains("deadlock"), "{}", run.stderr);
        assert!(
            run.stderr.contains("saved and dropped 4 indexes"),
            "{}",
            run.stderr
        );
        p.assert_same_data();
        assert_eq!(schema_of(&p.dst, &p.db), before);
    }
}

/// CREATE INDEX asks its runner for CREATE on the table's schema, which a
/// table's owner may lack (PostgreSQL 15 gives no one CREATE on `public`):
/// such a key and its indexes stay in place, and the foreign key that uses
/// the key comes back. Before, the key was dropped, could not be rebuilt,
/// and the foreign key could not come back either.
#[test]
fn keys_in_a_schema_the_role_may_not_create_in_stay_in_place() {
    let p = Pair::new("keysnocreate");
    let schema = "CREATE TABLE t (c int PRIMARY KEY, pad text);
                  CREATE INDEX t_pad ON t (pad);
                  CREATE TABLE r (id int, tc int REFERENCES t (c));";
    p.src.psql(&p.db, schema);
    p.dst.psql(&p.db, schema);
    p.src.psql(
        &p.db,
        "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 100000) g;
         INSERT INTO r SELECT g, g FROM generate_series(1, 1000) g;",
    );
    p.dst
        .psql("postgres", "CREATE ROLE nc_app LOGIN PASSWORD 'nc-pw'");
    p.dst.psql(
        &p.db,
        "GRANT CREATE ON DATABASE keysnocreate TO nc_app;
         ALTER TABLE t OWNER TO nc_app; ALTER TABLE r OWNER TO nc_app;",
    );
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT has_schema_privilege('nc_app', 'public', 'CREATE')"
        ),
        "f"
    );
    let before = schema_of(&p.dst, &p.db);
    let (s, _) = p.urls();
    let d = p.dst.url_for(&p.db, "nc_app", "nc-pw");
    let run = crate::common::copy(&s, &d, &[]);
    run.expect_code(0);
    assert!(!run.stderr.contains("indexes"), "{}", run.stderr);
    p.assert_same_data();
    assert_eq!(schema_of(&p.dst, &p.db), before);
    // Given CREATE, the same role defers them, and they come back as well.
    p.dst.psql(&p.db, "GRANT CREATE ON SCHEMA public TO nc_app");
    let run = crate::common::copy(&s, &d, &[]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("saved and dropped 2 indexes"),
        "{}",
        run.stderr
    );
    p.assert_same_data();
    assert_eq!(schema_of(&p.dst, &p.db), before);
}

/// A foreign key re-created after the load takes the oldest unique index
/// that fits it, so the one each key uses comes back before the others that
/// fit; and where the indexes as they stand would lead a key to another one,
/// they are rebuilt even on a table too small to defer them. Two keys that
/// used a younger index than the oldest that fits (a red team's): one
/// declared with no column list (so on the primary key) while an older
/// unique index fits, one whose index REINDEX CONCURRENTLY made younger.
#[test]
fn each_foreign_key_comes_back_on_the_index_it_used() {
    let p = Pair::new("keysfkindex");
    let schema = "CREATE TABLE t (c int NOT NULL, pad text);
                  CREATE UNIQUE INDEX t_c_u ON t (c);
                  ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY (c);
                  CREATE TABLE r (id int, tc int REFERENCES t);
                  CREATE TABLE u (c int NOT NULL);
                  CREATE UNIQUE INDEX u_x ON u (c);
                  CREATE TABLE ru (id int, uc int REFERENCES u (c));
                  CREATE UNIQUE INDEX u_y ON u (c);
                  REINDEX INDEX CONCURRENTLY u_x;";
    p.src.psql(&p.db, schema);
    p.dst.psql(&p.db, schema);
    p.src.psql(
        &p.db,
        "INSERT INTO t SELECT g, 'x' FROM generate_series(1, 500) g;
         INSERT INTO r SELECT g, g FROM generate_series(1, 500) g;
         INSERT INTO u SELECT generate_series(1, 500);
         INSERT INTO ru SELECT g, g FROM generate_series(1, 500) g;",
    );
    p.dst
        .psql("postgres", "CREATE ROLE fki_app LOGIN PASSWORD 'pw'");
    p.dst.psql(
        &p.db,
        "GRANT CREATE ON DATABASE keysfkindex TO fki_app; GRANT CREATE ON SCHEMA public TO fki_app;
         ALTER TABLE t OWNER TO fki_app; ALTER TABLE r OWNER TO fki_app;
         ALTER TABLE u OWNER TO fki_app; ALTER TABLE ru OWNER TO fki_app;",
    );
    let before = schema_of(&p.dst, &p.db);
    for used in [
        "r|r_tc_fkey|FOREIGN KEY (tc) REFERENCES t(c)|t|t_pkey|",
        "ru|ru_uc_fkey|FOREIGN KEY (uc) REFERENCES u(c)|t|u_x|",
    ] {
        assert!(before.0.contains(used), "{}", before.0);
    }
    let (s, _) = p.urls();
    let d = p.dst.url_for(&p.db, "fki_app", "pw");
    // Every table's indexes deferred (the tests' default), then the default
    // threshold, under which these small tables keep all but what the keys
    // need rebuilt.
    for above in ["0", "1MB"] {
        let run = crate::common::pgcopy_env(
            &["copy", "-s", &s, "-d", &d],
            &[("PGCOPY_DEFER_INDEXES_ABOVE", above)],
        );
        run.expect_code(0);
        p.assert_same_data();
        assert_eq!(
            schema_of(&p.dst, &p.db),
            before,
            "--defer-indexes-above {above}"
        );
    }
}
