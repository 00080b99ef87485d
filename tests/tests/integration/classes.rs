//! The design rules that close whole classes of attack (SECURITY.md,
//! "Classes"), each shown by an attack that fails; and the one trust switch,
//! `--trust-owner`, that lets a superuser's ordinary copy of an
//! application's database through.

use crate::common::{
    assert_no_state_schema, copy, index_bindings, kill_after, pagila_owner_pair, pgcopy, scalar,
    schema_of, spawn_copy, Pair,
};
use crate::security::Hostile;

/// A path for a summary file of this test.
fn temp_file(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("pgcopy-{name}-{}.json", std::process::id()))
}

/// Class: code of a role that is neither a superuser nor the running role
/// runs only when the running role said it trusts that role. pagila's
/// `year` domain belongs to its application's role: the superuser's copy is
/// refused with the one flag that makes it work, which then copies it whole
/// and identical, says so, stores it, and a resume must say it again.
#[test]
fn a_superusers_copy_of_an_apps_database_names_the_flag_and_with_it_ends_identical() {
    let (p, _) = pagila_owner_pair("trustpagila");
    let before = schema_of(&p.dst, &p.db);
    let refused = p.copy(&[]);
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("nothing was changed")
            && refused
                .stderr
                .contains("domain public.year, which its owner may give a CHECK at any time")
            && refused.stderr.contains("add --trust-owner app"),
        "{}",
        refused.stderr
    );
    assert_no_state_schema(&p.dst, &p.db);
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM public.film"),
        "0"
    );

    let dry = p.copy(&["--dry-run", "--trust-owner", "app"]);
    dry.expect_code(0);
    assert!(
        dry.stdout
            .contains("trusted:      code of \"app\" runs with this role's rights (--trust-owner)"),
        "{}",
        dry.stdout
    );

    // Stopped during the load, then resumed: the trust must be said again.
    let (s, d) = p.urls();
    let mut child = spawn_copy(
        &s,
        &d,
        &["--no-progress", "--trust-owner", "app"],
        &[("PGCOPY_FAILPOINT", "phase:load")],
    );
    kill_after(&mut child, "failpoint phase:load reached");
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT options -> 'trust_owner' FROM pgcopy.jobs"
        ),
        "[\"app\"]"
    );
    let without = p.copy(&["--resume"]);
    without.expect_code(1);
    assert!(
        without
            .stderr
            .contains("was started with --trust-owner app: resume it with the same --trust-owner"),
        "{}",
        without.stderr
    );
    let summary = temp_file("trust-summary");
    let run = p.copy(&[
        "--resume",
        "--trust-owner",
        "app",
        "--summary-json",
        summary.to_str().unwrap(),
    ]);
    run.expect_code(0);
    p.assert_same_data();
    assert_eq!(schema_of(&p.dst, &p.db), before);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    std::fs::remove_file(&summary).ok();
    assert_eq!(doc["trust_owner"], serde_json::json!(["app"]));
    assert_eq!(doc["exit_code"], 0);
}

/// A table with row-level security forced on it is loaded whole by a
/// superuser, as pg_restore does (its owner's role would see its policies
/// filter or refuse the rows), still locked and checked in each load
/// transaction.
#[test]
fn a_table_with_row_security_forced_is_copied_whole_by_a_superuser() {
    let p = Pair::new("forcedrls");
    let ddl = "CREATE TABLE notes (id int PRIMARY KEY, author text NOT NULL);";
    p.src.psql(&p.db, ddl);
    p.src.psql(
        &p.db,
        "INSERT INTO notes SELECT g, 'writer' || g % 3 FROM generate_series(1, 90) g",
    );
    let d = p.give_destination_to_app(&[&format!(
        "{ddl} ALTER TABLE notes ENABLE ROW LEVEL SECURITY; ALTER TABLE notes FORCE ROW LEVEL SECURITY;
         CREATE POLICY own ON notes USING (author = current_user) WITH CHECK (author = current_user);"
    )]);
    let before = schema_of(&p.dst, &p.db);
    p.copy(&[]).expect_code(0);
    p.assert_same_data_in(&["public.notes"]);
    assert_eq!(schema_of(&p.dst, &p.db), before);
    // Its owner is refused before any change, with the way in its own
    // hands; which works.
    p.dst.psql(&p.db, "TRUNCATE notes");
    let app_copy = || copy(&p.urls().0, &d, &["--state-schema", "pgcopy_app"]);
    let run = app_copy();
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "the table has FORCE ROW LEVEL SECURITY, so owning it is not enough: as its owner, lift it for \
             the copy (ALTER TABLE \"public\".\"notes\" NO FORCE ROW LEVEL SECURITY, then FORCE again)"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(scalar(&p.dst, &p.db, "SELECT count(*) FROM notes"), "0");
    p.dst
        .try_psql_as(
            &p.db,
            "app",
            "ALTER TABLE notes NO FORCE ROW LEVEL SECURITY",
        )
        .unwrap();
    app_copy().expect_code(0);
    p.dst
        .try_psql_as(&p.db, "app", "ALTER TABLE notes FORCE ROW LEVEL SECURITY")
        .unwrap();
    p.assert_same_data_in(&["public.notes"]);
    assert_eq!(schema_of(&p.dst, &p.db), before);
}

/// Class: a job's rows are written only by its creator's members, and a row
/// whose job the writer cannot see is refused (fail closed). The database's
/// owner races a saved index into the job a superuser is creating: one
/// statement whose first row names the superuser's uncommitted job (its
/// check could not see it) and whose second waits until that job is
/// committed (so the reference to it holds at the statement's end).
#[test]
fn a_row_raced_into_a_job_not_visible_yet_is_refused() {
    let h = Hostile::new("jobrace");
    h.app_sql(
        "CREATE EXTENSION pgcopy;
         INSERT INTO pgcopy.jobs (source, destination, state) VALUES ('s', 'd', 'failed')",
    )
    .unwrap();
    let raced = std::thread::scope(|scope| {
        scope.spawn(|| {
            h.su(
                "BEGIN; INSERT INTO pgcopy.jobs (source, destination) VALUES ('s', 'd');
                 SELECT pg_sleep(3); COMMIT;",
            )
        });
        std::thread::sleep(std::time::Duration::from_millis(1000));
        h.app_sql(
            "INSERT INTO pgcopy.saved_indexes (job_id, table_schema, table_name, index_name, definition)
             SELECT v.job, 'public', 'su_canary', 'su_x' || v.job, 'CREATE INDEX su_x ON public.su_canary (id)'
               FROM (VALUES (2, 0.0), (1, 4.0)) v(job, secs)
              WHERE (SELECT true FROM pg_sleep(v.secs))",
        )
    });
    let err = raced.expect_err("a row of an invisible job must be refused");
    assert!(
        err.contains("job 2 is not visible to this transaction"),
        "{err}"
    );
    assert_eq!(
        h.su("SELECT count(*) FROM pgcopy.saved_indexes"),
        "0",
        "nothing of the statement stays"
    );
    assert_eq!(
        h.su("SELECT pg_get_userbyid(created_by) FROM pgcopy.jobs WHERE job_id = 2"),
        "postgres"
    );
    h.assert_gained_nothing("a row raced into another role's job");
}

/// Class: nothing is re-bound by name. A deferred index comes back only
/// while every name in its definition leads to the object it led to when it
/// was dropped, and an index of its name on another table is not taken for
/// it.
#[test]
fn a_deferred_index_comes_back_only_as_what_it_was() {
    let p = Pair::new("rebind");
    let ddl = "CREATE SCHEMA s;
               CREATE FUNCTION s.f(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 1';
               CREATE TABLE s.t (id int PRIMARY KEY, v int);
               CREATE INDEX t_f ON s.t (s.f(v));
               CREATE TABLE s.other (v int);";
    p.src.psql(&p.db, ddl);
    p.dst.psql(&p.db, ddl);
    p.src.psql(
        &p.db,
        "INSERT INTO s.t SELECT g, g FROM generate_series(1, 500) g",
    );
    let before = schema_of(&p.dst, &p.db);
    let (s, d) = p.urls();
    let stopped = || {
        let mut child = spawn_copy(
            &s,
            &d,
            &[
                "--no-progress",
                "--defer-indexes",
                "--include-tables",
                "s.t",
            ],
            &[("PGCOPY_FAILPOINT", "phase:indexes")],
        );
        kill_after(&mut child, "failpoint phase:indexes reached");
    };
    let pending = "SELECT count(*) FROM pgcopy.saved_indexes WHERE index_name = 't_f' AND restored_at IS NULL";

    // 1. A decoy of its name on another table of the schema: not taken
    // for it (it was marked rebuilt, with s.t left without it).
    stopped();
    p.dst.psql(&p.db, "CREATE INDEX t_f ON s.other (v)");
    let run = pgcopy(&["restore-fks", "-d", &d]);
    run.expect_code(3);
    assert!(
        run.stderr.contains("relation \"t_f\" already exists"),
        "{}",
        run.stderr
    );
    assert_eq!(scalar(&p.dst, &p.db, pending), "1");
    p.dst.psql(&p.db, "DROP INDEX s.t_f");
    pgcopy(&["restore-fks", "-d", &d]).expect_code(0);
    assert_eq!(schema_of(&p.dst, &p.db), before);

    // 2. Its function made again under its name while it was out: the
    // name leads to another function, so it is not re-created.
    stopped();
    p.dst.psql(
        &p.db,
        "DROP FUNCTION s.f(int); CREATE FUNCTION s.f(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 0';",
    );
    let run = pgcopy(&["restore-fks", "-d", &d]);
    run.expect_code(3);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("index t_f on s.t was not re-created: this object was dropped or renamed")
            && all.contains("s.f(integer)"),
        "{all}"
    );
    assert_eq!(scalar(&p.dst, &p.db, pending), "1");
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FROM pg_index WHERE indrelid = 's.t'::regclass AND indexprs IS NOT NULL"
        ),
        "0"
    );
    // The restore's other work went through: the key is back.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FROM pg_constraint WHERE conname = 't_pkey'"
        ),
        "1"
    );
}

/// Class: what another role could re-bind is not deferred. The superuser's
/// table has an index calling a superuser's function that lives in `public`,
/// which the database's owner owns (PostgreSQL 15): once the index were
/// dropped, that owner could put its own function under the name, to run as
/// the superuser when the index is rebuilt. The index stays in place,
/// unless the copy trusts that role.
#[test]
fn an_index_whose_names_another_role_could_rebind_is_never_dropped() {
    let h = Hostile::new("norebind");
    let ddl =
        "CREATE FUNCTION public.sf(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
               CREATE TABLE public.su_t (id int PRIMARY KEY, v int);
               CREATE INDEX su_t_f ON public.su_t (public.sf(v));";
    h.p.src.psql(h.db(), ddl);
    h.p.src.psql(
        h.db(),
        "INSERT INTO public.su_t SELECT g, g FROM generate_series(1, 300) g",
    );
    h.su(ddl);
    let copy = |extra: &[&str]| {
        let mut args = vec![
            "copy",
            "-s",
            &h.src,
            "-d",
            &h.dst,
            "--no-progress",
            "--defer-indexes",
            "--include-tables",
            "public.su_t",
        ];
        args.extend_from_slice(extra);
        pgcopy(&args)
    };
    copy(&[]).expect_code(0);
    h.p.assert_same_data_in(&["public.su_t"]);
    let saved = "SELECT coalesce(string_agg(index_name, ',' ORDER BY index_name), '') FROM pgcopy.saved_indexes
                  WHERE job_id = (SELECT max(job_id) FROM pgcopy.jobs)";
    assert_eq!(h.su(saved), "su_t_pkey", "su_t_f stays in place");
    assert_eq!(
        h.su("SELECT count(*) FROM pg_indexes WHERE indexname = 'su_t_f'"),
        "1"
    );
    // Trusting app (who owns public), it is deferred as any other.
    copy(&["--trust-owner", "app"]).expect_code(0);
    assert_eq!(h.su(saved), "su_t_f,su_t_pkey");
    h.assert_gained_nothing("copies of a table with an index on a function in app's schema");
}

/// Class: generated SQL calls only operators this role may trust. On the
/// source, a role gives its enum type an implicit cast to text through its
/// own function, and a key references a text column from a column of that
/// type (PostgreSQL takes the cast for the key's comparison). The join
/// `--where` writes to follow that key would call the cast with the
/// superuser's rights (it could `COPY ... TO PROGRAM`). Refused with the flag
/// that allows it; with the flag, the subset is copied.
#[test]
fn a_key_compared_through_a_source_roles_cast_is_not_followed_unless_trusted() {
    let p = Pair::new("castjoin");
    let ddl = "CREATE TABLE kinds (k text PRIMARY KEY, note text);
               CREATE TABLE items (id int PRIMARY KEY, k public.kind REFERENCES kinds (k));";
    // What the cast leaves where only a superuser may write (a server file,
    // as `COPY ... TO PROGRAM` would run a program), even in the read-only
    // transaction the source is read in.
    let marker = std::env::temp_dir().join(format!("pgcopy-castjoin-{}", std::process::id()));
    std::fs::remove_file(&marker).ok();
    p.src
        .psql("postgres", "CREATE ROLE app LOGIN PASSWORD 'app-pw'");
    p.src.psql(&p.db, "GRANT CREATE ON SCHEMA public TO app;");
    p.src
        .try_psql_as(
            &p.db,
            "app",
            &format!(
                "CREATE TYPE public.kind AS ENUM ('a', 'b', 'c');
                 CREATE FUNCTION public.kind_text(public.kind) RETURNS text LANGUAGE plpgsql AS $$
                 BEGIN
                     BEGIN EXECUTE 'COPY (SELECT current_user) TO ''{}'''; EXCEPTION WHEN OTHERS THEN NULL; END;
                     RETURN pg_catalog.textin(pg_catalog.enum_out($1));
                 END $$;
                 CREATE CAST (public.kind AS text) WITH FUNCTION public.kind_text(public.kind) AS IMPLICIT;",
                marker.display()
            ),
        )
        .unwrap();
    p.src.psql(&p.db, ddl);
    p.src.psql(
        &p.db,
        "INSERT INTO kinds VALUES ('a', 'x'), ('b', 'y'), ('c', 'z');
         INSERT INTO items SELECT g, (ARRAY['a', 'b', 'c'])[1 + g % 3]::public.kind FROM generate_series(1, 30) g;",
    );
    // (The setup's own inserts ran the cast as the superuser.)
    std::fs::remove_file(&marker).ok();
    p.dst.psql(
        &p.db,
        "CREATE TYPE public.kind AS ENUM ('a', 'b', 'c');
         CREATE FUNCTION public.kind_text(public.kind) RETURNS text LANGUAGE sql IMMUTABLE
             AS 'SELECT pg_catalog.textin(pg_catalog.enum_out($1))';
         CREATE CAST (public.kind AS text) WITH FUNCTION public.kind_text(public.kind) AS IMPLICIT;",
    );
    p.dst.psql(&p.db, ddl);
    let before = schema_of(&p.dst, &p.db);
    let subset = [
        "--where",
        "kinds: note <> 'z'",
        "--include-tables",
        "public.kinds,public.items",
    ];
    let run = p.copy(&subset);
    // A --where that cannot be followed is a usage error, as a cycle is.
    run.expect_code(2);
    assert!(
        run.stderr.contains(
            "foreign key \"items_k_fkey\" on public.items compares its columns with pg_catalog.= and a cast"
        ) && run.stderr.contains("add --trust-owner app"),
        "{}",
        run.stderr
    );
    assert!(!marker.exists(), "the cast ran as the superuser");
    assert_no_state_schema(&p.dst, &p.db);
    // verify --where follows the same keys: refused the same way.
    let (s, d) = p.urls();
    let v = pgcopy(&[
        "verify",
        "-s",
        &s,
        "-d",
        &d,
        "--where",
        "kinds: note <> 'z'",
        "--include-tables",
        "public.kinds,public.items",
    ]);
    assert_ne!(v.code, 0);
    assert!(v.stderr.contains("add --trust-owner app"), "{}", v.stderr);
    assert!(!marker.exists(), "the cast ran as the superuser");
    // Trusted, the subset is copied (the cast runs, as asked), and every
    // key holds.
    let mut trusted = subset.to_vec();
    trusted.extend(["--trust-owner", "app"]);
    p.copy(&trusted).expect_code(0);
    assert_eq!(scalar(&p.dst, &p.db, "SELECT count(*) FROM kinds"), "2");
    assert_eq!(scalar(&p.dst, &p.db, "SELECT count(*) FROM items"), "20");
    assert_eq!(schema_of(&p.dst, &p.db), before);
    assert!(
        marker.exists(),
        "trusted, the key's cast ran, as the superuser"
    );
    std::fs::remove_file(&marker).ok();
}

/// Class: every setting that changes how text COPY writes or reads a value
/// is pinned. A table with a type that has no binary form goes as text; a
/// database owner's `array_nulls = off` would read its arrays' NULL
/// elements back as the string 'NULL'.
#[test]
fn settings_a_database_owner_chooses_change_no_value() {
    let p = Pair::new("textsettings");
    let ddl = "CREATE TABLE perms (id int PRIMARY KEY, acl aclitem, tags text[], price money, t interval);";
    p.src.psql(&p.db, ddl);
    p.dst.psql(&p.db, ddl);
    p.src.psql(
        &p.db,
        "INSERT INTO perms VALUES
           (1, 'postgres=r/postgres', '{a,NULL,b}', 12.34, '1 year 2 mons 3 days 04:05:06.5'),
           (2, 'postgres=arw/postgres', ARRAY[NULL, 'NULL', ''], -0.5, '-3 days')",
    );
    p.dst.psql(
        "postgres",
        &format!(
            "ALTER DATABASE {0} SET array_nulls = off; ALTER DATABASE {0} SET lc_monetary = 'C.UTF-8';
             ALTER DATABASE {0} SET IntervalStyle = 'sql_standard'; ALTER DATABASE {0} SET DateStyle = 'SQL, DMY';
             ALTER DATABASE {0} SET bytea_output = 'escape';",
            p.db
        ),
    );
    p.copy(&[]).expect_code(0);
    // Compared as the source prints them.
    p.dst
        .psql("postgres", &format!("ALTER DATABASE {} RESET ALL", p.db));
    p.assert_same_data_in(&["public.perms"]);
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT tags[2] IS NULL AND tags[1] = 'a' FROM perms WHERE id = 1"
        ),
        "t"
    );
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT tags[1] IS NULL AND tags[2] = 'NULL' FROM perms WHERE id = 2"
        ),
        "t"
    );
}

/// The lesser ones, each by its class. Status shows the caller's own job,
/// not the newest any role wrote; a row nobody may restore (another role's,
/// on a table it does not own) does not hold up a copy; a masking
/// expression is not stored where the state's readers could read it.
#[test]
fn other_roles_rows_neither_pass_for_this_roles_nor_hold_it_up() {
    let h = Hostile::new("lesser");
    h.app_sql("CREATE EXTENSION pgcopy").unwrap();
    let secret = "md5(v || 'pepper-5a1t')";
    let transform = format!("public.parent.v: {secret}");
    let run = crate::common::copy(
        &h.src,
        &h.dst,
        &[
            "--no-progress",
            "--include-tables",
            "public.parent,public.child",
            "--transform",
            &transform,
        ],
    );
    run.expect_code(0);
    assert_eq!(
        h.su("SELECT count(*) FROM pgcopy.jobs WHERE options::text || coalesce(plan::text, '') LIKE '%pepper%'"),
        "0",
        "the expression is stored as its digest"
    );
    // app's forged jobs: a later one that claims success, and one whose
    // saved key is on the superuser's table.
    h.app_sql(
        "INSERT INTO pgcopy.jobs (source, destination, state, error) VALUES ('s', 'd', 'succeeded', NULL);
         INSERT INTO pgcopy.jobs (source, destination, state) VALUES ('s', 'd', 'failed');
         INSERT INTO pgcopy.saved_fks (job_id, table_schema, table_name, constraint_name, referenced_schema,
                                       referenced_table, definition, was_validated)
         SELECT max(job_id), 'public', 'su_canary', 'su_fk', 'public', 'parent',
                'FOREIGN KEY (id) REFERENCES public.parent(id)', true FROM pgcopy.jobs;",
    )
    .unwrap();
    let status = pgcopy(&["status", "-d", &h.dst, "--json"]);
    status.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(doc["job_id"], 1, "{}", status.stdout);
    assert_eq!(
        h.p.dst
            .psql(h.db(), "SELECT DISTINCT job_id FROM pgcopy.status()"),
        "1"
    );
    // The superuser's next copy is not held up by app's pending key, which
    // app could not restore anyway.
    crate::common::copy(
        &h.src,
        &h.dst,
        &[
            "--no-progress",
            "--include-tables",
            "public.parent,public.child",
            "--transform",
            &transform,
        ],
    )
    .expect_code(0);
    h.assert_gained_nothing("forged jobs and pending rows");
}

/// Every name read from a database and printed goes through one
/// `printable()`: a table named with a terminal escape and a line break
/// neither drives the terminal nor forges a line, in the dry run or the logs.
#[test]
fn names_with_control_characters_print_escaped_everywhere() {
    let p = Pair::new("printable");
    let ddl = "CREATE TABLE \"evil\u{1b}]0;pwned\u{7}\r\nINFO copied everything\" (id int PRIMARY KEY, v text);
               CREATE INDEX \"idx\u{1b}[31m\" ON \"evil\u{1b}]0;pwned\u{7}\r\nINFO copied everything\" (v);";
    p.src.psql(&p.db, ddl);
    p.dst.psql(&p.db, ddl);
    for args in [vec!["--dry-run"], vec![], vec!["--dry-run", "--json"]] {
        let run = p.copy(&args);
        run.expect_code(0);
        for (what, out) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !out.contains('\u{1b}')
                    && !out.contains('\r')
                    && !out.contains("\nINFO copied everything"),
                "{args:?} {what}: {out:?}"
            );
        }
    }
}

/// A saved row's tablespace is used only if the table's owner may create
/// objects there: the build runs with the restorer's rights.
#[test]
fn a_saved_tablespace_the_owner_may_not_use_is_refused() {
    let h = Hostile::new("tablespace");
    let dir = std::env::temp_dir().join(format!("pgcopy-ts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::process::Command::new("chown")
        .arg("postgres:postgres")
        .arg(&dir)
        .status()
        .ok();
    h.su(&format!(
        "CREATE TABLESPACE su_only LOCATION '{}'",
        dir.display()
    ));
    h.app_sql("CREATE EXTENSION pgcopy; CREATE INDEX child_w ON public.child (v)")
        .unwrap();
    let bindings = index_bindings(&h.p.dst, h.db(), "public.child_w");
    h.app_sql(&format!(
        "DROP INDEX public.child_w;
         INSERT INTO pgcopy.jobs (source, destination, state) VALUES ('s', 'd', 'failed');
         INSERT INTO pgcopy.saved_indexes (job_id, table_schema, table_name, index_name, definition, properties,
                                           bindings)
         VALUES (1, 'public', 'child', 'child_w', 'CREATE INDEX child_w ON public.child USING btree (v)',
                 '{{\"tablespace\": \"su_only\"}}', '{bindings}');"
    ))
    .unwrap();
    let run = pgcopy(&["restore-fks", "-d", &h.dst]);
    run.expect_code(3);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("was saved in tablespace \"su_only\", where \"app\", who owns its table, may not create objects"),
        "{all}"
    );
    assert_eq!(
        h.su("SELECT count(*) FROM pg_class WHERE relname = 'child_w'"),
        "0"
    );
    h.su("DROP TABLESPACE su_only");
    std::fs::remove_dir_all(&dir).ok();
    h.assert_gained_nothing("a saved row naming a tablespace");
}

/// A role's IMMUTABLE function that, run by a superuser, writes `marker`
/// on the server (as `COPY ... TO PROGRAM` would run a program; allowed in
/// a read-only transaction too), through a volatile helper: `public.k()`.
/// Run as anyone else it does nothing.
fn escalation(marker: &std::path::Path) -> String {
    format!(
        "CREATE FUNCTION public.mark() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
         BEGIN
             BEGIN EXECUTE 'COPY (SELECT current_user) TO ''{}'''; EXCEPTION WHEN OTHERS THEN NULL; END;
             RETURN 0;
         END $$;
         CREATE FUNCTION public.k() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN public.mark(); END $$;",
        marker.display()
    )
}

/// On both clusters of `p`: the role evil, who may create in `public` and
/// runs `evil_sql` there, then the superuser's `ddl`.
fn with_evil_on_both(p: &Pair, evil_sql: &str, ddl: &str) {
    for c in [&p.src, &p.dst] {
        c.psql("postgres", "CREATE ROLE evil LOGIN PASSWORD 'evil-pw'");
        c.psql(&p.db, "GRANT CREATE ON SCHEMA public TO evil");
        c.try_psql_as(&p.db, "evil", evil_sql).unwrap();
        c.psql(&p.db, ddl);
    }
}

/// A marker file of this test, gone.
fn marker(name: &str) -> std::path::PathBuf {
    let m = std::env::temp_dir().join(format!("pgcopy-{name}-{}", std::process::id()));
    std::fs::remove_file(&m).ok();
    m
}

/// Class: a query pgcopy plans runs only over tables whose code it trusts.
/// Planning any query over a table folds the IMMUTABLE calls in its index
/// predicates and expressions (and CHECKs, statistics, partition keys), with
/// the planning role's rights; a role that owns a source table puts its code
/// there. A superuser's copy reads such a table whole (a plain COPY plans
/// nothing) instead of in chunks, refuses to filter it with --where, and
/// verify refuses to count it, each naming the flag; trusted, its code runs.
#[test]
fn no_query_is_planned_over_a_table_whose_owner_is_not_trusted() {
    let p = Pair::new("planned");
    let m = marker("planned");
    p.src
        .psql("postgres", "CREATE ROLE evil LOGIN PASSWORD 'evil-pw'");
    p.src.psql(&p.db, "GRANT CREATE ON SCHEMA public TO evil");
    p.src
        .try_psql_as(
            &p.db,
            "evil",
            &format!(
                "{} CREATE TABLE public.t (id int PRIMARY KEY, a int);
                 INSERT INTO public.t SELECT g, g FROM generate_series(1, 20000) g;
                 CREATE INDEX t_part ON public.t (a) WHERE a > public.k();",
                escalation(&m)
            ),
        )
        .unwrap();
    p.dst
        .psql(&p.db, "CREATE TABLE public.t (id int PRIMARY KEY, a int)");
    let before = schema_of(&p.dst, &p.db);
    // Large enough to split: read whole instead, and said.
    let run = p.copy(&["--split-larger-than", "100kB"]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("public.t is read whole, not in parallel chunks: planning a query over it could run code of \"evil\""),
        "{}",
        run.stderr
    );
    assert!(!m.exists(), "evil's code ran as the superuser");
    // (Comparing the two sides plans queries over the table as a superuser:
    // it runs evil's code. This test's own doing.)
    p.assert_same_data();
    assert_eq!(schema_of(&p.dst, &p.db), before);
    std::fs::remove_file(&m).ok();
    // --where reads it through a query: refused, naming the flag.
    let run = p.copy(&["--where", "public.t: id < 50"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("--where reads public.t through a query")
            && run.stderr.contains("add --trust-owner evil"),
        "{}",
        run.stderr
    );
    assert!(!m.exists(), "evil's code ran as the superuser");
    // verify counts it with a query: refused the same way.
    let (s, d) = p.urls();
    let v = pgcopy(&["verify", "-s", &s, "-d", &d]);
    v.expect_code(1);
    assert!(v.stderr.contains("add --trust-owner evil"), "{}", v.stderr);
    assert!(!m.exists(), "evil's code ran as the superuser");
    // Trusted, it is filtered as asked, and evil's code runs, as said.
    p.copy(&["--where", "public.t: id < 50", "--trust-owner", "evil"])
        .expect_code(0);
    assert_eq!(scalar(&p.dst, &p.db, "SELECT count(*) FROM public.t"), "49");
    assert!(m.exists(), "trusted, the planner ran evil's code");
    std::fs::remove_file(&m).ok();
}

/// Class: a foreign key is validated, and a materialized view refreshed,
/// only where no untrusted role's code runs. On the destination, evil owns
/// a table referencing the superuser's, with a partial index calling its
/// code (the validation's query plans over it), and a table a superuser's
/// materialized view reads; its type's cast is swapped under a key of the
/// superuser's own tables. The superuser's copy leaves the keys NOT VALID
/// and the view unrefreshed, each said (exit 3), and nothing of evil's ran;
/// from psql, pgcopy.restore_fks() refuses the same.
#[test]
fn keys_and_views_whose_checks_would_run_untrusted_code_are_left_and_said() {
    let p = Pair::new("fkplanned");
    let m = marker("fkplanned");
    let shared = "CREATE TABLE public.p (id int PRIMARY KEY);
                  CREATE TABLE public.ch (id int PRIMARY KEY, p_id int REFERENCES public.p);
                  CREATE TABLE public.ev (id int PRIMARY KEY);
                  CREATE MATERIALIZED VIEW public.mv AS
                      SELECT (SELECT count(*) FROM public.p) + (SELECT count(*) FROM public.ev WHERE id > 0) AS n;";
    p.src.psql(&p.db, shared);
    p.src.psql(
        &p.db,
        "INSERT INTO public.p SELECT generate_series(1, 10); INSERT INTO public.ev VALUES (1), (2);
         REFRESH MATERIALIZED VIEW public.mv;",
    );
    p.dst.psql(
        "postgres",
        &format!(
            "CREATE ROLE evil LOGIN PASSWORD 'evil-pw'; ALTER DATABASE {} OWNER TO evil",
            p.db
        ),
    );
    p.dst.psql(&p.db, shared);
    p.dst.psql(
        &p.db,
        "CREATE EXTENSION pgcopy;
         ALTER TABLE public.ch OWNER TO evil; ALTER TABLE public.ev OWNER TO evil;
         GRANT SELECT, REFERENCES ON public.p TO evil;
         INSERT INTO public.p SELECT generate_series(1, 10); INSERT INTO public.ch VALUES (1, 1), (2, 2);",
    );
    p.dst
        .try_psql_as(
            &p.db,
            "evil",
            &format!(
                "{} CREATE INDEX ch_part ON public.ch (id) WHERE id > public.k();
                 CREATE INDEX ev_part ON public.ev (id) WHERE id > public.k();",
                escalation(&m)
            ),
        )
        .unwrap();
    let run = p.copy(&["--include-tables", "public.p"]);
    run.expect_code(3);
    assert!(
        run.stderr
            .contains("validation skipped: checking it would run code of another role")
            && run
                .stderr
                .contains("index public.ch_part calls public.k() of role evil"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("public.mv: not refreshed: its query would run code of \"evil\""),
        "{}",
        run.stderr
    );
    assert!(!m.exists(), "evil's code ran as the superuser");
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT convalidated FROM pg_constraint WHERE conname = 'ch_p_id_fkey'"
        ),
        "f"
    );
    // From psql, the same refusal (the two tables belong to two roles, so
    // only superusers' code may run).
    p.dst.psql(
        &p.db,
        "ALTER TABLE public.ch DROP CONSTRAINT ch_p_id_fkey;
         UPDATE pgcopy.saved_fks SET restored_at = NULL, restored_valid = NULL;",
    );
    let out = p.dst.psql(
        &p.db,
        "SELECT outcome || ': ' || coalesce(error, '') FROM pgcopy.restore_fks()",
    );
    assert!(
        out.starts_with("validation_failed: validation skipped"),
        "{out}"
    );
    assert!(!m.exists(), "evil's code ran as the superuser");
    // Told to trust evil, the CLI validates it.
    let (_, d) = p.urls();
    pgcopy(&["restore-fks", "-d", &d, "--trust-owner", "evil"]).expect_code(0);
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT convalidated FROM pg_constraint WHERE conname = 'ch_p_id_fkey'"
        ),
        "t"
    );
    std::fs::remove_file(&m).ok();
}

/// The same for a key between two of the superuser's own tables: the
/// referencing column's type belongs to evil, who swaps the cast the key
/// compares through; validating it would call evil's cast as the
/// superuser. Left NOT VALID and said.
#[test]
fn a_key_compared_through_a_strangers_cast_is_not_validated() {
    let p = Pair::new("fkcast");
    let m = marker("fkcast");
    with_evil_on_both(
        &p,
        "CREATE TYPE public.tone AS ENUM ('x', 'y', 'z');
             CREATE FUNCTION public.t2i(public.tone) RETURNS int IMMUTABLE LANGUAGE sql
                 AS $$ SELECT array_position(enum_range(NULL::public.tone), $1) $$;
             CREATE CAST (public.tone AS int) WITH FUNCTION public.t2i(public.tone) AS IMPLICIT;",
        "CREATE TABLE public.parent2 (id int PRIMARY KEY);
             CREATE TABLE public.child2 (id int, p public.tone REFERENCES public.parent2 (id));",
    );
    p.src
        .psql(&p.db, "INSERT INTO public.parent2 VALUES (1), (2), (3)");
    p.dst.psql(
        &p.db,
        "INSERT INTO public.parent2 VALUES (1), (2), (3); INSERT INTO public.child2 VALUES (1, 'x'), (2, 'y');",
    );
    p.dst
        .try_psql_as(
            &p.db,
            "evil",
            &format!(
                "{} CREATE FUNCTION public.t2i_evil(public.tone) RETURNS int IMMUTABLE LANGUAGE plpgsql
                     AS $$ BEGIN PERFORM public.mark(); RETURN array_position(enum_range(NULL::public.tone), $1); END $$;
                 DROP CAST (public.tone AS int);
                 CREATE CAST (public.tone AS int) WITH FUNCTION public.t2i_evil(public.tone) AS IMPLICIT;",
                escalation(&m)
            ),
        )
        .unwrap();
    let run = p.copy(&["--include-tables", "public.parent2", "--no-defer-indexes"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains("uses type public.tone of role evil"),
        "{}",
        run.stderr
    );
    assert!(!m.exists(), "evil's cast ran as the superuser");
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT convalidated FROM pg_constraint WHERE conname = 'child2_p_fkey'"
        ),
        "f"
    );
    std::fs::remove_file(&m).ok();
}

/// Class: nothing is re-bound by name, through types too. An index on the
/// superuser's table casts a column whose type reaches evil's enum through
/// two domains, and another casts a function's result of evil's type: evil
/// may replace either cast while the index is dropped. Neither is deferred;
/// a plain index of the same table is.
#[test]
fn an_index_reaching_a_strangers_type_by_any_path_is_never_dropped() {
    let p = Pair::new("deeptypes");
    let ddl = "CREATE SCHEMA app;
               CREATE FUNCTION app.m2i(public.mood) RETURNS int IMMUTABLE LANGUAGE sql
                   AS $$ SELECT array_position(enum_range(NULL::public.mood), $1) $$;
               CREATE CAST (public.mood AS int) WITH FUNCTION app.m2i(public.mood);
               CREATE DOMAIN app.d1 AS public.mood; CREATE DOMAIN app.d2 AS app.d1;
               CREATE TABLE app.t (id int PRIMARY KEY, col app.d2, v int);
               CREATE INDEX t_col_int ON app.t (((col)::int));
               CREATE INDEX t_v ON app.t (v);
               CREATE FUNCTION app.f(int) RETURNS public.mood IMMUTABLE LANGUAGE sql
                   AS $$ SELECT (enum_range(NULL::public.mood))[1 + $1 % 3] $$;
               CREATE TABLE app.t3 (id int, x int);
               CREATE INDEX t3_fx ON app.t3 (((app.f(x))::int));";
    with_evil_on_both(&p, "CREATE TYPE public.mood AS ENUM ('a', 'b', 'c')", ddl);
    p.src.psql(
        &p.db,
        "INSERT INTO app.t SELECT g, 'a', g FROM generate_series(1, 100) g;
         INSERT INTO app.t3 SELECT g, g FROM generate_series(1, 100) g;",
    );
    let dry = p.copy(&["--dry-run", "--json", "--defer-indexes"]);
    dry.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    let deferred: Vec<&str> = doc["destination_indexes_deferred"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert!(deferred.contains(&"t_v"), "{deferred:?}");
    assert!(
        !deferred.contains(&"t_col_int") && !deferred.contains(&"t3_fx"),
        "{deferred:?}"
    );
    let before = schema_of(&p.dst, &p.db);
    p.copy(&["--defer-indexes"]).expect_code(0);
    p.assert_same_data();
    assert_eq!(schema_of(&p.dst, &p.db), before);
}

/// Class: a comparison's code is its owner's, through an operator family
/// too. A superuser registered a function evil owns as the comparison of
/// the operator class of an index on the child, and evil may replace its
/// body at any time. A load into the child would call it (each insert
/// compares), and so could the check of the child's key (a merge over that
/// index compares): the load is refused before anything changes, and the
/// key is left NOT VALID.
#[test]
fn a_strangers_support_function_of_an_operator_family_is_never_called() {
    let p = Pair::new("opfamily");
    let m = marker("opfamily");
    with_evil_on_both(
        &p,
        "CREATE FUNCTION public.cmp4(int, int) RETURNS int IMMUTABLE LANGUAGE sql
                 AS $$ SELECT btint4cmp($1, $2) $$;",
        "CREATE OPERATOR FAMILY public.evil_ops USING btree;
             CREATE OPERATOR CLASS public.evil_int4_ops FOR TYPE int USING btree FAMILY public.evil_ops AS
                 OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
                 FUNCTION 1 public.cmp4(int, int);
             CREATE TABLE public.parent3 (id int PRIMARY KEY);
             CREATE TABLE public.child3 (id int PRIMARY KEY, p int REFERENCES public.parent3 (id));
             CREATE INDEX child3_p ON public.child3 (p public.evil_int4_ops);
             INSERT INTO public.parent3 VALUES (1), (2), (3);
             INSERT INTO public.child3 VALUES (1, 1), (2, 2);",
    );
    p.dst
        .try_psql_as(
            &p.db,
            "evil",
            &format!(
                "{} CREATE OR REPLACE FUNCTION public.cmp4(int, int) RETURNS int IMMUTABLE LANGUAGE plpgsql
                     AS $$ BEGIN PERFORM public.mark(); RETURN btint4cmp($1, $2); END $$;",
                escalation(&m)
            ),
        )
        .unwrap();
    let child = "SELECT string_agg(id || ':' || p, ',' ORDER BY id) FROM public.child3";
    let before = schema_of(&p.dst, &p.db);
    let run = p.copy(&["--include-tables", "public.child3"]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("index public.child3_p calls function public.cmp4(integer,integer)"),
        "{}",
        run.stderr
    );
    assert!(!m.exists(), "evil's comparison ran as the superuser");
    assert_eq!(scalar(&p.dst, &p.db, child), "1:1,2:2");
    assert_eq!(schema_of(&p.dst, &p.db), before);

    // The parent loads; the child's key over it comes back unvalidated.
    let run = p.copy(&["--include-tables", "public.parent3"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains(
            "operator family public.evil_ops for access method btree calls public.cmp4(integer,integer) of role evil"
        ),
        "{}",
        run.stderr
    );
    assert!(!m.exists(), "evil's comparison ran as the superuser");
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT convalidated FROM pg_constraint WHERE conname = 'child3_p_fkey'"
        ),
        "f"
    );
    std::fs::remove_file(&m).ok();
}
