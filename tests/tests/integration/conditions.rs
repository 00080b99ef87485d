//! A `--where` condition means what it means in psql for the role on the
//! source: extension operators in `public` (citext, hstore, ltree), the
//! role's time zone; and where a role pgcopy does not trust could make it
//! mean something else, the copy is refused with the way to go on, and the
//! look-alike never runs.

use crate::common::{copy, pgcopy, scalar, Pair};

const SCHEMA: &str = "CREATE EXTENSION citext; CREATE EXTENSION hstore; CREATE EXTENSION ltree;
    CREATE TABLE account (id int PRIMARY KEY, email citext UNIQUE, tags hstore, path ltree, created timestamptz);
    CREATE TABLE orders (id int PRIMARY KEY, account_id int REFERENCES account, n int);";

const ROWS: &str = "INSERT INTO account VALUES
      (1, 'alice@example.com', 'tier=>gold', 'top.science.physics', '2024-01-01 02:00+00'),
      (2, 'Bob@Example.com', 'tier=>silver', 'top.arts', '2024-01-01 06:00+00'),
      (3, 'carol@example.com', 'tier=>gold', 'top.science', '2023-12-31 12:00+00'),
      (4, 'dave@example.com', NULL, 'top', '2024-02-01 00:00+00');
    INSERT INTO orders SELECT g, 1 + g % 4, g FROM generate_series(1, 40) g;";

fn pair(db: &str) -> Pair {
    let p = Pair::new(db);
    p.src.psql(&p.db, SCHEMA);
    p.dst.psql(&p.db, SCHEMA);
    p.src.psql(&p.db, ROWS);
    p
}

/// What psql on the source takes for `condition` on `account`: (accounts,
/// their orders).
fn psql_takes(p: &Pair, condition: &str) -> (String, String) {
    (
        scalar(&p.src, &p.db, &format!("SELECT count(*) FROM account WHERE {condition}")),
        scalar(
            &p.src,
            &p.db,
            &format!("SELECT count(*) FROM orders WHERE account_id IN (SELECT id FROM account WHERE {condition})"),
        ),
    )
}

/// Copies `account` rows by `condition` (orders follow): what the
/// destination got.
fn copied(p: &Pair, condition: &str, extra: &[&str]) -> (String, String) {
    p.dst.psql(&p.db, "TRUNCATE orders, account");
    let filter = format!("account: {condition}");
    let mut args = vec!["--where", filter.as_str()];
    args.extend(extra);
    p.copy(&args).expect_code(0);
    (
        scalar(&p.dst, &p.db, "SELECT count(*) FROM account"),
        scalar(&p.dst, &p.db, "SELECT count(*) FROM orders"),
    )
}

#[test]
fn conditions_take_the_rows_psql_takes() {
    let p = pair("wherepsql");
    // citext's = and IN (in public), not text's: 2 accounts and their 20
    // orders, where pg_catalog's = took none.
    let citext = "email = 'ALICE@EXAMPLE.COM' OR email IN ('bob@example.com')";
    assert_eq!(psql_takes(&p, citext), ("2".to_string(), "20".to_string()));
    for condition in [
        citext,
        // hstore's -> and ltree's <@, which pg_catalog lacks.
        "tags -> 'tier' = 'gold'",
        "path <@ 'top.science'",
        "lower(email) LIKE '%example.com' AND id BETWEEN 2 AND 3",
    ] {
        assert_eq!(
            copied(&p, condition, &[]),
            psql_takes(&p, condition),
            "{condition}"
        );
    }
    // The role's time zone: New York's midnight, as psql reads the literal.
    p.src.psql(
        "postgres",
        &format!("ALTER DATABASE {} SET TimeZone = 'America/New_York'", p.db),
    );
    // (In UTC, alice's 02:00 would be taken too.)
    let midnight = "created >= '2024-01-01'";
    assert_eq!(psql_takes(&p, midnight).0, "2");
    assert_eq!(copied(&p, midnight, &[]), psql_takes(&p, midnight));
    // Values still arrive exactly, and verify compares the same rows.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT string_agg((created AT TIME ZONE 'UTC')::text, ', ' ORDER BY id) FROM account"
        ),
        "2024-01-01 06:00:00, 2024-02-01 00:00:00"
    );
    let (s, d) = p.urls();
    let filter = format!("account: {midnight}");
    pgcopy(&["verify", "-s", &s, "-d", &d, "--where", &filter, "--exact"]).expect_code(0);
}

#[test]
fn a_condition_a_look_alike_could_change_is_refused_and_the_look_alike_never_runs() {
    let p = pair("wherehostile");
    // mallory may create in public, and adds a better match for lower() on
    // citext there: psql as a superuser would run it, with its rights.
    p.src.psql("postgres", "CREATE ROLE mallory LOGIN; ");
    p.src.psql(
        &p.db,
        "GRANT CREATE ON SCHEMA public TO mallory;
         SET ROLE mallory;
         CREATE FUNCTION public.lower(citext) RETURNS text LANGUAGE plpgsql AS
           $$ BEGIN ALTER ROLE mallory SUPERUSER; RETURN pg_catalog.lower($1::text); END $$;
         RESET ROLE;",
    );
    let (s, d) = p.urls();
    let filter = "account: lower(email) = 'alice@example.com'";
    let run = crate::common::copy(&s, &d, &["--where", filter]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "the --where condition of public.account leaves the function lower to the search_path that schema \
             public on this role's path (as psql gets it) resolves; mallory may create objects there: if you \
             trust that role, add --trust-owner mallory, or write the schema (public.lower)"
        ),
        "{}",
        run.stderr
    );
    // Nor did anything else run it: no copy, no verify.
    let run = pgcopy(&["verify", "-s", &s, "-d", &d, "--where", filter]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("--trust-owner mallory"),
        "{}",
        run.stderr
    );
    assert_eq!(
        scalar(
            &p.src,
            "postgres",
            "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'"
        ),
        "f"
    );
    assert_eq!(scalar(&p.dst, &p.db, "SELECT count(*) FROM account"), "0");
    // A condition that names nothing public holds runs, without public's
    // objects: pg_catalog's lower(text) over citext's cast.
    assert_eq!(
        copied(&p, "id::text IN ('1', '2')", &[]),
        ("2".to_string(), "20".to_string())
    );
    // Written with its schema, it means the same everywhere: runs (the
    // function its writer chose, here pg_catalog's).
    assert_eq!(
        copied(
            &p,
            "pg_catalog.lower(email::text) = 'alice@example.com'",
            &[]
        )
        .0,
        "1"
    );
    assert_eq!(
        scalar(
            &p.src,
            "postgres",
            "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'"
        ),
        "f"
    );
    // Revoked, public is trusted again, and citext's operators are found.
    p.src.psql(
        &p.db,
        "DROP FUNCTION public.lower(citext); REVOKE CREATE ON SCHEMA public FROM mallory",
    );
    assert_eq!(
        copied(&p, "email = 'ALICE@EXAMPLE.COM'", &[]),
        ("1".to_string(), "10".to_string())
    );
}

#[test]
fn every_role_creating_in_public_is_named_with_the_revoke_and_trust_is_the_other_way() {
    let p = pair("wherepublic");
    p.src.psql(&p.db, "GRANT CREATE ON SCHEMA public TO PUBLIC");
    let (s, d) = p.urls();
    let run = copy(&s, &d, &["--where", "account: email = 'ALICE@EXAMPLE.COM'"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "leaves the operator = to the search_path that schema public on this role's path (as psql gets it) \
             resolves; every role may create objects there: revoke that (REVOKE CREATE ON SCHEMA public FROM \
             PUBLIC, as PostgreSQL 15 does), or write the schema (OPERATOR(public.=))"
        ),
        "{}",
        run.stderr
    );
    // The operator written with its schema.
    assert_eq!(
        copied(&p, "email OPERATOR(public.=) 'ALICE@EXAMPLE.COM'", &[]),
        ("1".to_string(), "10".to_string())
    );
    // Or every role trusted.
    assert_eq!(
        copied(&p, "email = 'ALICE@EXAMPLE.COM'", &["--trust-owner", "*"]),
        ("1".to_string(), "10".to_string())
    );
}
