//! The extension installs as a non-superuser (trusted) and its functions answer.

use pgcopy_tests::Cluster;

#[test]
fn create_extension_as_non_superuser_with_only_create_on_database() {
    let c = Cluster::start("destination");
    c.create_db("ext");
    c.psql(
        "ext",
        "CREATE ROLE app LOGIN PASSWORD 'app-pw'; GRANT CREATE ON DATABASE ext TO app;",
    );
    // Without CREATE on the database it is refused.
    c.psql("postgres", "CREATE DATABASE ext2");
    let err = c
        .try_psql_as("ext2", "app", "CREATE EXTENSION pgcopy")
        .unwrap_err();
    assert!(err.contains("permission denied"), "{err}");

    let out = c
        .try_psql_as(
            "ext",
            "app",
            "CREATE EXTENSION pgcopy;
             SELECT pgcopy.extension_version(), pgcopy.schema_version(), rolsuper
               FROM pg_roles WHERE rolname = current_user;",
        )
        .expect("non-superuser CREATE EXTENSION");
    assert_eq!(
        out,
        format!(
            "{}|{}|f",
            env!("CARGO_PKG_VERSION"),
            pgcopy_core::STATE_SCHEMA_VERSION
        )
    );
    // Everything in the schema, the schema too, belongs to the superuser.
    assert_eq!(owners_of_the_schema(&c, "ext"), "postgres");
    // \dn+ and \df+ explain every function and the schema itself.
    assert_eq!(uncommented(&c, "ext"), "none");
    // The installer may use the state tables.
    let out = c
        .try_psql_as(
            "ext",
            "app",
            "INSERT INTO pgcopy.jobs (source, destination) VALUES ('s', 'd') RETURNING job_id, state;",
        )
        .expect("installer writes state");
    assert_eq!(out, "1|planned");
    // The extension belongs to the installer, who may drop it.
    let owner = c.psql(
        "ext",
        "SELECT extowner::regrole FROM pg_extension WHERE extname = 'pgcopy'",
    );
    assert_eq!(owner, "app");
    c.try_psql_as("ext", "app", "DROP EXTENSION pgcopy")
        .expect("owner drops it");
    // The schema it leaves behind is the superuser's and empty: installing
    // again takes it up.
    c.try_psql_as("ext", "app", "CREATE EXTENSION pgcopy")
        .expect("installed again");
}

#[test]
fn the_extensions_errors_carry_a_sqlstate() {
    let c = Cluster::start("destination");
    c.create_db("exterr");
    c.psql("exterr", "CREATE EXTENSION pgcopy; CREATE TABLE t (id int)");
    // A pattern that matches nothing is the caller's mistake: 22023, as for
    // any invalid parameter value.
    let err = c
        .try_psql_as(
            "exterr",
            "postgres",
            "\\set VERBOSITY verbose\nSELECT * FROM pgcopy.plan(include => ARRAY['nosuch'])",
        )
        .unwrap_err();
    assert!(err.contains("ERROR:  22023: pgcopy.plan: "), "{err}");
    assert!(err.contains("nosuch"), "{err}");
}

/// The majors the extension is tested on besides the system's 15:
/// `PGCOPY_EXT_MAJORS` (`make test`: 17; `make test-versions`: 14, 16, 17
/// and 18), else each one whose package `make ext-N` built.
fn extension_majors() -> Vec<u32> {
    match std::env::var("PGCOPY_EXT_MAJORS") {
        Ok(list) => list
            .split([',', ' '])
            .filter(|m| !m.is_empty())
            .map(|m| {
                m.trim()
                    .parse()
                    .expect("PGCOPY_EXT_MAJORS lists majors: 16,17")
            })
            .collect(),
        Err(_) => [14, 16, 17, 18]
            .into_iter()
            .filter(|m| pgcopy_tests::versions::extension_package(*m).is_some())
            .collect(),
    }
}

/// The extension built for another major (`make ext-N`), installed into
/// that major's server, as a copy from the system's 15 into it uses it: a
/// non-superuser installs it, `plan()` plans the schema, a copy killed once
/// its keys are dropped leaves a stale job that `status()` names and
/// `restore_fks()` puts back exactly, and a look-alike schema made before
/// the install is refused.
#[test]
fn the_extension_on_every_major_it_is_built_for() {
    let majors = extension_majors();
    eprintln!("the extension on PostgreSQL {majors:?} (and 15)");
    for major in majors {
        extension_on(major);
    }
}

fn extension_on(major: u32) {
    use crate::common::{full_fingerprint, pgcopy, scalar, Pair};
    use pgcopy_tests::versions::install_extension_for;
    let tag = format!("PostgreSQL {major}");
    let db = format!("extmajor{major}");
    let (src, dst) = std::thread::scope(|s| {
        let a = s.spawn(|| Cluster::start("source"));
        let b = s.spawn(|| Cluster::start_version("destination", major));
        (a.join().expect("source"), b.join().expect("destination"))
    });
    install_extension_for(major);
    src.create_db(&db);
    dst.create_db(&db);
    let p = Pair { src, dst, db };
    let schema = "CREATE TABLE parent (id int PRIMARY KEY, code text UNIQUE NOT NULL);
        CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent, code text);
        CREATE INDEX child_parent ON child (parent_id);
        ALTER TABLE child ADD CONSTRAINT child_code_fk FOREIGN KEY (code) REFERENCES parent (code) NOT VALID;
        CREATE TABLE grandchild (id int PRIMARY KEY, child_id int REFERENCES child ON DELETE CASCADE);";
    p.src.psql(&p.db, schema);
    p.src.psql(
        &p.db,
        "INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 1000) g;
         INSERT INTO child SELECT g, 1 + g % 1000, 'p' || (1 + g % 1000) FROM generate_series(1, 3000) g;
         INSERT INTO grandchild SELECT g, 1 + g % 3000 FROM generate_series(1, 2000) g;",
    );
    let d = p.give_destination_to_app(&[schema]);

    // Installed by the database's owner, not a superuser; everything in the
    // schema is the superuser's, and every function says what it does.
    let as_app = |sql: &str| {
        p.dst
            .try_psql_as(&p.db, "app", sql)
            .unwrap_or_else(|e| panic!("{tag}: {sql}: {e}"))
    };
    let out = as_app(
        "CREATE EXTENSION pgcopy;
         SELECT pgcopy.extension_version(), pgcopy.schema_version(), rolsuper
           FROM pg_roles WHERE rolname = current_user;",
    );
    assert_eq!(
        out,
        format!(
            "{}|{}|f",
            env!("CARGO_PKG_VERSION"),
            pgcopy_core::STATE_SCHEMA_VERSION
        ),
        "{tag}"
    );
    assert_eq!(owners_of_the_schema(&p.dst, &p.db), "postgres", "{tag}");
    assert_eq!(uncommented(&p.dst, &p.db), "none", "{tag}");

    // plan() reads this server's catalog with the core's planner.
    let planned = as_app(
        "SELECT string_agg(table_name || ':' || coalesce(array_length(drops_fks, 1), 0), ',' ORDER BY table_name)
           FROM pgcopy.plan()",
    );
    assert_eq!(planned, "child:2,grandchild:1,parent:0", "{tag}");

    // Killed once its keys and indexes are saved and dropped: status() says
    // the client died, restore_fks() puts back each index and key as it was
    // (the NOT VALID one NOT VALID).
    let before = full_fingerprint(&p.dst, &p.db);
    let mut child = crate::common::spawn_copy(
        &p.src.url(&p.db),
        &d,
        &["--defer-indexes"],
        &[("PGCOPY_FAILPOINT", "after-drop-fks")],
    );
    crate::common::kill_after(&mut child, "failpoint after-drop-fks reached");
    let keys = "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace";
    assert_eq!(scalar(&p.dst, &p.db, keys), "0", "{tag}: keys dropped");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut state = String::new();
    while std::time::Instant::now() < deadline {
        state = as_app("SELECT DISTINCT job_state FROM pgcopy.status()");
        if state == "stale" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(state, "stale", "{tag}");
    // In the call's transaction, the planner is the caller's again after
    // it: the merge the validation of child_parent_id_fkey planned
    // (sql/validation_plan.sql) ended with its unit.
    let restored = as_app(
        "BEGIN;
         SELECT outcome, count(*) FROM pgcopy.restore_fks() GROUP BY 1 ORDER BY 1;
         SHOW enable_hashjoin;
         COMMIT;",
    );
    assert_eq!(
        restored, "index_restored|5\nrestored|2\nrestored_not_valid|1\non",
        "{tag}"
    );
    let after = full_fingerprint(&p.dst, &p.db);
    assert_eq!(
        (&before.fks, &before.indexes, &before.triggers),
        (&after.fks, &after.indexes, &after.triggers),
        "{tag}: the schema is back as it was"
    );

    // The job given up, a whole copy into this major ends identical.
    pgcopy(&["jobs", "discard", "1", "-d", &d]).expect_code(0);
    crate::common::copy(&p.src.url(&p.db), &d, &["--no-progress"]).expect_code(0);
    p.assert_same_data();
    let after = full_fingerprint(&p.dst, &p.db);
    assert_eq!(
        (&before.fks, &before.indexes, &before.triggers),
        (&after.fks, &after.indexes, &after.triggers),
        "{tag}: the schema after the whole copy is as it was"
    );

    // A schema named like the extension's, made by its installer before
    // the install, could hold the installer's objects: refused.
    p.dst.psql(
        "postgres",
        &format!("CREATE DATABASE extlookalike{major} OWNER app"),
    );
    let err = p
        .dst
        .try_psql_as(
            &format!("extlookalike{major}"),
            "app",
            "CREATE SCHEMA pgcopy; CREATE EXTENSION pgcopy",
        )
        .unwrap_err();
    assert!(
        err.contains("already exists and belongs to role app"),
        "{tag}: {err}"
    );
}

/// The roles that own the `pgcopy` schema and what is in it.
fn owners_of_the_schema(c: &Cluster, db: &str) -> String {
    c.psql(
        db,
        "SELECT string_agg(DISTINCT o::regrole::text, ',') FROM (
           SELECT nspowner FROM pg_namespace WHERE nspname = 'pgcopy'
           UNION ALL SELECT relowner FROM pg_class WHERE relnamespace = 'pgcopy'::regnamespace
           UNION ALL SELECT proowner FROM pg_proc WHERE pronamespace = 'pgcopy'::regnamespace) x(o)",
    )
}

/// The `pgcopy` schema and its functions that carry no comment (`none`).
fn uncommented(c: &Cluster, db: &str) -> String {
    c.psql(
        db,
        "SELECT coalesce(string_agg(what, ', ' ORDER BY what), 'none') FROM (
           SELECT 'schema' FROM pg_namespace n
            WHERE nspname = 'pgcopy' AND obj_description(n.oid, 'pg_namespace') IS NULL
           UNION ALL SELECT p.oid::regprocedure::text FROM pg_proc p
            WHERE pronamespace = 'pgcopy'::regnamespace
              AND obj_description(p.oid, 'pg_proc') IS NULL) x(what)",
    )
}
