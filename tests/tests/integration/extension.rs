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
    let owners = c.psql(
        "ext",
        "SELECT string_agg(DISTINCT o::regrole::text, ',') FROM (
           SELECT nspowner FROM pg_namespace WHERE nspname = 'pgcopy'
           UNION ALL SELECT relowner FROM pg_class WHERE relnamespace = 'pgcopy'::regnamespace
           UNION ALL SELECT proowner FROM pg_proc WHERE pronamespace = 'pgcopy'::regnamespace) x(o)",
    );
    assert_eq!(owners, "postgres");
    // \dn+ and \df+ explain every function and the schema itself.
    let uncommented = c.psql(
        "ext",
        "SELECT coalesce(string_agg(what, ', ' ORDER BY what), 'none') FROM (
           SELECT 'schema' FROM pg_namespace n
            WHERE nspname = 'pgcopy' AND obj_description(n.oid, 'pg_namespace') IS NULL
           UNION ALL SELECT p.oid::regprocedure::text FROM pg_proc p
            WHERE pronamespace = 'pgcopy'::regnamespace
              AND obj_description(p.oid, 'pg_proc') IS NULL) x(what)",
    );
    assert_eq!(uncommented, "none");
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
