//! A hostile database owner gains nothing. On the destination, role `app`
//! owns the database (and so its `public` schema) and plants what it can:
//! code that records when it runs and tries to make `app` a superuser,
//! operators and functions shadowing `pg_catalog`'s, look-alike schemas and
//! views, forged rows in the state schema, tampered plans. Then a superuser
//! runs every CLI command and SQL function pgcopy offers. Every case checks
//! that `app` gained nothing (no attribute, no membership, no right, no row
//! of `bob`'s canary or the superuser's changed, and none of its code ran in
//! another role's session), and that the legitimate work still completes or
//! is refused with one sentence.

use crate::common::{copy, pgcopy, pgcopy_env, scalar, Pair};
use pgcopy_tests::Cluster;

/// The copied schema, owned by `app` on the destination.
const SCHEMA: &str = "CREATE TABLE parent (id int PRIMARY KEY, v text);
     CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id), v text);
     CREATE INDEX child_v ON child (v);";

const DATA: &str = "INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 100) g;
     INSERT INTO child SELECT g, 1 + g % 100, 'c' || g FROM generate_series(1, 300) g;";

/// What `app` plants as the database's owner: `public.pwn()` records the role
/// it runs as and tries to escalate; it is reached through operators with no
/// exact `pg_catalog` match, exact duplicates of `pg_catalog`'s (which win
/// once the database's `search_path` puts `public` first), and functions.
const PLANTS: &str = r#"
CREATE TABLE public.pwned (who text, what text);
GRANT SELECT, INSERT ON public.pwned TO PUBLIC;
CREATE FUNCTION public.pwn(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.pwned VALUES (current_user, what);
    BEGIN EXECUTE 'ALTER ROLE app SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN EXECUTE 'GRANT bob TO app'; EXCEPTION WHEN OTHERS THEN NULL; END;
    BEGIN EXECUTE 'DELETE FROM public.canary'; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN true;
END $$;
CREATE FUNCTION public.ge_real_int(real, integer) RETURNS boolean LANGUAGE sql
    AS $$ SELECT public.pwn('real >= integer') AND $1::float8 OPERATOR(pg_catalog.>=) $2::float8 $$;
CREATE OPERATOR public.>= (LEFTARG = real, RIGHTARG = integer, FUNCTION = public.ge_real_int);
CREATE FUNCTION public.mul_int_f8(integer, double precision) RETURNS double precision LANGUAGE sql
    AS $$ SELECT CASE WHEN public.pwn('integer * float8') THEN $1::float8 OPERATOR(pg_catalog.*) $2 END $$;
CREATE OPERATOR public.* (LEFTARG = integer, RIGHTARG = double precision, FUNCTION = public.mul_int_f8);
CREATE FUNCTION public.eq_text(text, text) RETURNS boolean LANGUAGE sql
    AS $$ SELECT public.pwn('text = text') AND $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.eq_text);
CREATE FUNCTION public.pg_get_userbyid(oid) RETURNS name LANGUAGE sql
    AS $$ SELECT CASE WHEN public.pwn('pg_get_userbyid') THEN pg_catalog.pg_get_userbyid($1) END $$;
CREATE FUNCTION public.current_setting(text) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN public.pwn('current_setting') THEN pg_catalog.current_setting($1) END $$;
CREATE FUNCTION public.quote_ident(text) RETURNS text LANGUAGE sql
    AS $$ SELECT CASE WHEN public.pwn('quote_ident') THEN pg_catalog.quote_ident($1) END $$;
-- Look-alikes of the state tables, earlier on any path that has public.
CREATE VIEW public.jobs AS SELECT 1::bigint AS job_id WHERE public.pwn('view jobs');
CREATE VIEW public.saved_fks AS SELECT 1::bigint AS job_id WHERE public.pwn('view saved_fks');
"#;

/// A destination whose database `app` owns, with `bob`'s canary table (an
/// index, a check, a trigger and rows) and one of the superuser's, and a source
/// with the schema and data.
pub(crate) struct Hostile {
    pub(crate) p: Pair,
    /// `app`'s destination URL.
    pub(crate) app: String,
    /// Superuser URLs.
    pub(crate) src: String,
    pub(crate) dst: String,
    /// The canaries' state when the test began.
    canaries: String,
}

impl Hostile {
    pub(crate) fn new(db: &str) -> Hostile {
        let p = Pair::new(db);
        p.src.psql(db, SCHEMA);
        p.src.psql(db, DATA);
        p.dst.psql(
            "postgres",
            &format!(
                "CREATE ROLE app LOGIN PASSWORD 'app-pw'; CREATE ROLE bob;
                 ALTER DATABASE {db} OWNER TO app;"
            ),
        );
        p.dst.try_psql_as(db, "app", SCHEMA).expect("schema as app");
        p.dst.psql(
            db,
            "CREATE TABLE public.canary (id int PRIMARY KEY, note text CHECK (note <> ''));
             CREATE INDEX canary_note ON public.canary (note);
             CREATE FUNCTION public.canary_touch() RETURNS trigger LANGUAGE plpgsql
                 AS $$ BEGIN RETURN NEW; END $$;
             CREATE TRIGGER canary_trg BEFORE UPDATE ON public.canary
                 FOR EACH ROW EXECUTE FUNCTION public.canary_touch();
             INSERT INTO public.canary SELECT g, 'keep ' || g FROM generate_series(1, 50) g;
             ALTER TABLE public.canary OWNER TO bob;
             CREATE TABLE public.su_canary (id int PRIMARY KEY);
             INSERT INTO public.su_canary SELECT generate_series(1, 20);",
        );
        p.dst.try_psql_as(db, "app", PLANTS).expect("plants as app");
        let (src, dst) = p.urls();
        let app = p.dst.url_for(db, "app", "app-pw");
        let mut h = Hostile {
            p,
            app,
            src,
            dst,
            canaries: String::new(),
        };
        h.canaries = h.canary_state();
        h
    }

    pub(crate) fn db(&self) -> &str {
        &self.p.db
    }

    /// SQL as the superuser with a safe path (the database's may be hostile).
    pub(crate) fn su(&self, sql: &str) -> String {
        self.p.dst.psql(
            self.db(),
            &format!("SET ROLE NONE; SET search_path = pg_catalog, pg_temp;\n{sql}"),
        )
    }

    /// SQL as `app`.
    pub(crate) fn app_sql(&self, sql: &str) -> Result<String, String> {
        self.p.dst.try_psql_as(self.db(), "app", sql)
    }

    /// Everything about the canaries and `app`'s rights that must not change.
    fn canary_state(&self) -> String {
        self.su(
            "SELECT (SELECT count(*) || ':' || md5(string_agg(id || note, ',' ORDER BY id)) FROM public.canary),
                    (SELECT string_agg(pg_get_indexdef(indexrelid), ';' ORDER BY 1) FROM pg_index
                      WHERE indrelid = 'public.canary'::regclass),
                    (SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid) || convalidated, ';' ORDER BY 1)
                       FROM pg_constraint WHERE conrelid = 'public.canary'::regclass),
                    (SELECT string_agg(tgname || tgenabled::text, ';' ORDER BY 1) FROM pg_trigger
                      WHERE tgrelid = 'public.canary'::regclass),
                    (SELECT relacl::text FROM pg_class WHERE oid = 'public.canary'::regclass),
                    (SELECT count(*) FROM public.su_canary),
                    (SELECT count(*) FROM pg_index WHERE indrelid = 'public.su_canary'::regclass)",
        )
    }

    /// A superuser's copy that stops after preflight (before it truncates
    /// anything) while `app` runs `change`: it must fail, saying a table
    /// changed. Returns its stderr.
    fn change_during_copy(&self, change: &str) -> String {
        let child = crate::common::spawn_copy(
            &self.src,
            &self.dst,
            &["--no-progress"],
            &[("PGCOPY_FAILPOINT", "before-truncate:4000")],
        );
        // Preflight has passed when the job is recorded.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.su("SELECT count(*) FROM pg_namespace WHERE nspname = 'pgcopy'") == "0"
            || self.su("SELECT count(*) FROM pgcopy.jobs WHERE state = 'running'") == "0"
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the copy did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        self.app_sql(change).unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_ne!(out.status.code(), Some(0), "{change}:\n{stderr}");
        assert!(
            stderr.contains("a table changed while the copy ran"),
            "{change}:\n{stderr}"
        );
        stderr
    }

    /// `app` gained nothing: no role attribute, membership or right, none of
    /// its code ran as another role, and the canaries are as they were.
    pub(crate) fn assert_gained_nothing(&self, after: &str) {
        let rights = self.su(
            "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication,
                    (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid),
                    has_table_privilege('app', 'public.canary', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
                    (SELECT string_agg(who || ': ' || what, ', ') FROM public.pwned WHERE who <> 'app')
               FROM pg_roles r WHERE rolname = 'app'",
        );
        assert_eq!(rights, "f|0|f|", "app gained something after {after}");
        assert_eq!(
            self.canary_state(),
            self.canaries,
            "a canary changed after {after}"
        );
    }
}

/// Rows of `public.pwned` written by anyone.
pub(crate) fn pwned(h: &Hostile) -> String {
    h.su("SELECT count(*) FROM public.pwned")
}

#[test]
fn the_extensions_schema_cannot_be_taken_over() {
    let c = Cluster::start("destination");
    c.create_db("ext");
    c.psql(
        "postgres",
        "CREATE ROLE app LOGIN; ALTER DATABASE ext OWNER TO app;",
    );
    let app = |sql: &str| c.try_psql_as("ext", "app", sql);
    // 1. A schema pgcopy that app made beforehand, with something in it.
    app("CREATE SCHEMA pgcopy; CREATE FUNCTION pgcopy.schema_version() RETURNS int LANGUAGE sql AS 'SELECT 2';")
        .unwrap();
    let err = app("CREATE EXTENSION pgcopy").unwrap_err();
    assert!(
        err.contains("schema \"pgcopy\" already exists and belongs to role app"),
        "{err}"
    );
    // 2. The same, created in the installing transaction: its objects show.
    app("DROP SCHEMA pgcopy CASCADE").unwrap();
    let err = app(
        "BEGIN; CREATE SCHEMA pgcopy; CREATE FUNCTION pgcopy.f() RETURNS int LANGUAGE sql AS 'SELECT 1';
         CREATE EXTENSION pgcopy; COMMIT;",
    )
    .unwrap_err();
    assert!(err.contains("already exists and holds objects"), "{err}");
    // 3. ... or lets another role create objects in it.
    let err = app(
        "BEGIN; CREATE SCHEMA pgcopy; GRANT CREATE ON SCHEMA pgcopy TO PUBLIC; CREATE EXTENSION pgcopy; COMMIT;",
    )
    .unwrap_err();
    assert!(
        err.contains("lets other roles create objects in it"),
        "{err}"
    );
    // A clean install: everything is the superuser's.
    app("CREATE EXTENSION pgcopy").unwrap();
    assert_eq!(
        c.psql(
            "ext",
            "SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'pgcopy'"
        ),
        "postgres"
    );
    // 4. What the installer may not do to it, each refused by PostgreSQL.
    for (attempt, sql) in [
        (
            "add an operator",
            "CREATE FUNCTION public.m(int, float8) RETURNS float8 LANGUAGE sql AS 'SELECT 0::float8';
             CREATE OPERATOR pgcopy.* (LEFTARG = int, RIGHTARG = float8, FUNCTION = public.m)",
        ),
        (
            "add a function",
            "CREATE FUNCTION pgcopy.job_is_stale(int) RETURNS bool LANGUAGE sql AS 'SELECT true'",
        ),
        (
            "add a view",
            "CREATE VIEW pgcopy.jobs2 AS SELECT 1",
        ),
        (
            "add a trigger to a state table",
            "CREATE FUNCTION public.t() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
             CREATE TRIGGER t BEFORE INSERT ON pgcopy.jobs FOR EACH ROW EXECUTE FUNCTION public.t()",
        ),
        (
            "add a rule to a state table",
            "CREATE RULE r AS ON INSERT TO pgcopy.saved_fks DO ALSO SELECT 1",
        ),
        (
            "disable the guard",
            "ALTER TABLE pgcopy.jobs DISABLE TRIGGER guard_job",
        ),
        (
            "replace a function",
            "CREATE OR REPLACE FUNCTION pgcopy.schema_version() RETURNS integer LANGUAGE sql AS 'SELECT 2'",
        ),
        ("delete saved definitions", "DELETE FROM pgcopy.saved_fks"),
        ("truncate state", "TRUNCATE pgcopy.jobs CASCADE"),
        (
            "take a table out of the extension",
            "ALTER EXTENSION pgcopy DROP TABLE pgcopy.saved_fks",
        ),
        ("take the schema", "ALTER SCHEMA pgcopy OWNER TO app"),
        ("rename the schema", "ALTER SCHEMA pgcopy RENAME TO other"),
    ] {
        let err = app(sql).expect_err(attempt);
        assert!(
            err.contains("permission denied") || err.contains("must be owner"),
            "{attempt}: {err}"
        );
    }
    assert_eq!(
        c.psql("ext", "SELECT rolsuper FROM pg_roles WHERE rolname = 'app'"),
        "f"
    );
}

#[test]
fn forged_state_rows_run_nothing_with_the_restorers_rights() {
    let h = Hostile::new("forged");
    h.app_sql("CREATE EXTENSION pgcopy").unwrap();
    // A genuine saved index of app's own table: the legitimate work (with
    // the bindings pgcopy records when it drops one).
    let child_v = crate::common::index_bindings(&h.p.dst, h.db(), "public.child_v");
    h.su("DROP INDEX public.child_v");
    let forged = h.app_sql(&format!(
        "INSERT INTO pgcopy.jobs (source, destination, state) VALUES ('s', 'd', 'failed');
         INSERT INTO pgcopy.saved_indexes (job_id, table_schema, table_name, index_name, definition, bindings)
         VALUES (1, 'public', 'child', 'child_v', 'CREATE INDEX child_v ON public.child USING btree (v)',
                 '{child_v}');
         INSERT INTO pgcopy.saved_indexes (job_id, table_schema, table_name, index_name, definition) VALUES
           (1, 'public', 'parent', 'p_role', 'ALTER ROLE app SUPERUSER'),
           (1, 'public', 'parent', 'p_two', 'CREATE INDEX p_two ON public.parent (v); ALTER ROLE app SUPERUSER'),
           (1, 'public', 'su_canary', 'su_expr', 'CREATE INDEX su_expr ON public.su_canary ((public.pwn(id::text)))'),
           (1, 'public', 'canary', 'canary_expr', 'CREATE INDEX canary_expr ON public.canary ((public.pwn(note)))');
         INSERT INTO pgcopy.saved_fks (job_id, table_schema, table_name, constraint_name, referenced_schema,
                                       referenced_table, definition, was_validated) VALUES
           (1, 'public', 'child', 'c_check', 'public', 'parent', 'CHECK (true); ALTER ROLE app SUPERUSER; --', true),
           (1, 'public', 'child', 'c_lookalike', 'public', 'parent', 'FOREIGN KEY (parent_id) REFERENCES parent(id)', true),
           (1, 'public', 'canary', 'canary_cascade', 'public', 'parent',
            'FOREIGN KEY (id) REFERENCES public.parent(id) ON DELETE CASCADE', true);
         UPDATE pgcopy.jobs SET disabled_triggers =
           '[{{\"schema\": \"public\", \"name\": \"canary\", \"trigger\": \"canary_trg\", \"mode\": \"D\"}}]'
          WHERE job_id = 1;",
    ));
    forged.expect("app writes rows of its own job");

    // The superuser's own job: app may not write any of its rows.
    h.su("INSERT INTO pgcopy.jobs (source, destination) VALUES ('s', 'd')");
    for sql in [
        "UPDATE pgcopy.jobs SET plan = '{}' WHERE job_id = 2",
        "UPDATE pgcopy.jobs SET created_by = 'app'::regrole WHERE job_id = 2",
        "INSERT INTO pgcopy.saved_indexes (job_id, table_schema, table_name, index_name, definition)
         VALUES (2, 'public', 'parent', 'x', 'CREATE INDEX x ON public.parent (v)')",
        "UPDATE pgcopy.saved_fks SET job_id = 2",
    ] {
        let err = h.app_sql(sql).expect_err(sql);
        assert!(
            err.contains("permission denied") || err.contains("cannot move to another job"),
            "{sql}: {err}"
        );
    }

    // 1. From psql, as a DBA would.
    let out = h.p.dst.psql(
        h.db(),
        "SELECT constraint_name || ' ' || outcome FROM pgcopy.restore_fks()",
    );
    let mut outcomes: Vec<&str> = out.lines().collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            "c_check failed",
            "c_lookalike failed",
            "canary_cascade failed",
            "canary_expr failed",
            "canary_trg failed",
            "child_v index_restored",
            "p_role failed",
            "p_two failed",
            "su_expr failed"
        ]
    );
    h.assert_gained_nothing("SELECT * FROM pgcopy.restore_fks()");
    // The listed trigger of a table app cannot act for stays listed, and
    // the row says why.
    let why_trigger = h.p.dst.psql(
        h.db(),
        "SELECT error FROM pgcopy.restore_fks() WHERE constraint_name = 'canary_trg'",
    );
    assert!(
        why_trigger.contains("job 1 was created by role \"app\", which cannot act as \"bob\""),
        "{why_trigger}"
    );
    // The genuine index is back, as its owner's.
    assert_eq!(
        h.su("SELECT pg_get_indexdef('public.child_v'::regclass)"),
        "CREATE INDEX child_v ON public.child USING btree (v)"
    );
    // Each refusal says why, in the row.
    let why = h.su(
        "SELECT index_name || ': ' || restore_error FROM pgcopy.saved_indexes WHERE restore_error IS NOT NULL
          UNION ALL
         SELECT constraint_name || ': ' || restore_error FROM pgcopy.saved_fks WHERE restore_error IS NOT NULL
          ORDER BY 1",
    );
    for expected in [
        "canary_cascade: foreign key \"canary_cascade\" on public.canary: job 1 was created by role \"app\", which cannot act as \"bob\"",
        "canary_expr: index canary_expr on public.canary could not be rebuilt: job 1 was created by role \"app\", which cannot act as \"bob\"",
        "c_check: foreign key \"c_check\" on public.child: its saved definition is not one FOREIGN KEY",
        "c_lookalike: foreign key \"c_lookalike\" on public.child: its saved definition is not one FOREIGN KEY c_lookalike on public.child referencing public.parent",
        "p_role: index p_role on public.parent could not be rebuilt: its saved definition is not one CREATE INDEX p_role ON public.parent",
        "p_two: index p_two on public.parent could not be rebuilt: its saved definition is not one CREATE INDEX p_two ON public.parent",
        "su_expr: index su_expr on public.su_canary could not be rebuilt: job 1 was created by role \"app\", which cannot act as \"postgres\"",
    ] {
        assert!(why.contains(expected), "missing `{expected}` in:\n{why}");
    }

    // 2. The CLI's restore-fks, and 3. jobs discard (which also puts back the
    // triggers the job lists): each refuses the same rows.
    let run = pgcopy(&["restore-fks", "-d", &h.dst]);
    run.expect_code(3);
    assert!(
        run.stdout.contains("job 1  public.canary  canary_cascade  failed: foreign key \"canary_cascade\" on public.canary: job 1 was created by role \"app\""),
        "{}",
        run.stdout
    );
    h.assert_gained_nothing("pgcopy restore-fks");
    let run = pgcopy(&["jobs", "discard", "1", "-d", &h.dst]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    h.assert_gained_nothing("pgcopy jobs discard");
    // 4. app itself gets no further: the rows carry its rights, and it does
    // not own the canaries.
    let app_run = pgcopy(&["restore-fks", "-d", &h.app]);
    app_run.expect_code(3);
    h.assert_gained_nothing("pgcopy restore-fks as app");
    assert_eq!(pwned(&h), "0");
}

#[test]
fn planted_operators_and_lookalike_schemas_never_run_in_a_superusers_session() {
    let h = Hostile::new("shadows");
    // The plants work: app's own unpinned session picks them.
    h.app_sql("SELECT count(*) FROM pg_class WHERE reltuples >= 0")
        .unwrap();
    assert_ne!(pwned(&h), "0", "the planted operator is not picked at all");
    h.app_sql("DELETE FROM public.pwned").unwrap();
    // A look-alike state schema in a database without the extension, and
    // public put before pg_catalog on the database's path.
    h.app_sql(
        "CREATE SCHEMA pgcopy;
         CREATE FUNCTION pgcopy.schema_version() RETURNS integer LANGUAGE sql
             AS $$ SELECT CASE WHEN public.pwn('schema_version') THEN 2 END $$;
         CREATE TABLE pgcopy.jobs (job_id bigint);",
    )
    .unwrap();
    // As the database's owner, app may also make every session in it start
    // as app (a superuser's session could then SET ROLE back), and read
    // backslashes in strings the old way.
    h.su(&format!(
        "ALTER DATABASE {0} SET search_path = public, pg_catalog; ALTER DATABASE {0} SET role = 'app';
         ALTER DATABASE {0} SET standard_conforming_strings = off",
        h.db()
    ));
    let refusal = "schema \"pgcopy\" on the destination belongs to role \"app\", neither this role nor a superuser";
    for args in [
        vec!["status", "-d", &h.dst],
        vec!["restore-fks", "-d", &h.dst],
        vec!["jobs", "list", "-d", &h.dst],
        vec!["jobs", "discard", "1", "-d", &h.dst],
        vec!["copy", "-s", &h.src, "-d", &h.dst, "--no-progress"],
        vec![
            "copy",
            "-s",
            &h.src,
            "-d",
            &h.dst,
            "--resume",
            "--no-progress",
        ],
    ] {
        let run = pgcopy(&args);
        run.expect_code(1);
        assert!(run.stderr.contains(refusal), "{args:?}: {}", run.stderr);
        assert_eq!(pwned(&h), "0", "{args:?}");
    }
    // The work gets done with a state schema of the superuser's own, in drop
    // mode too (sessions that may not use replica mode), and every read,
    // plan, dry run and verification leaves the plants unrun.
    for args in [
        vec!["list", "-s", &h.dst],
        vec![
            "copy",
            "-s",
            &h.src,
            "-d",
            &h.dst,
            "--state-schema",
            "su_state",
            "--dry-run",
        ],
        vec![
            "copy",
            "-s",
            &h.src,
            "-d",
            &h.dst,
            "--state-schema",
            "su_state",
            "--no-progress",
        ],
        vec!["status", "-d", &h.dst, "--state-schema", "su_state"],
        vec!["jobs", "list", "-d", &h.dst, "--state-schema", "su_state"],
        vec!["restore-fks", "-d", &h.dst, "--state-schema", "su_state"],
        // Counting app's tables plans queries over them: said to trust app
        // (whose plants still resolve nowhere under the pinned path).
        vec![
            "verify",
            "-s",
            &h.src,
            "-d",
            &h.dst,
            "--exact",
            "--trust-owner",
            "app",
        ],
    ] {
        pgcopy(&args).expect_code(0);
        assert_eq!(pwned(&h), "0", "{args:?}");
    }
    let untrusted = pgcopy(&["verify", "-s", &h.src, "-d", &h.dst]);
    untrusted.expect_code(1);
    assert!(
        untrusted.stderr.contains("add --trust-owner app"),
        "{}",
        untrusted.stderr
    );
    h.p.dst.psql(
        "postgres",
        "CREATE ROLE loader LOGIN PASSWORD 'loader-pw' IN ROLE app",
    );
    let loader = h.p.dst.url_for(h.db(), "loader", "loader-pw");
    h.su("GRANT CREATE ON DATABASE shadows TO loader");
    copy(
        &h.src,
        &loader,
        &["--state-schema", "loader_state", "--no-progress"],
    )
    .expect_code(0);
    // Drop mode saved every definition with its referenced table qualified.
    assert_eq!(
        h.su("SELECT definition FROM loader_state.saved_fks"),
        "FOREIGN KEY (parent_id) REFERENCES public.parent(id)"
    );
    h.assert_gained_nothing("copies, dry runs, status and verify");
    let rows = h.su(
        "SELECT (SELECT count(*) FROM public.parent) || '/' || (SELECT count(*) FROM public.child)",
    );
    assert_eq!(rows, "100/300");

    // The extension's functions, called by a superuser whose session has the
    // hostile path: none reaches a plant.
    h.su(&format!(
        "ALTER DATABASE {0} RESET search_path; ALTER DATABASE {0} RESET role",
        h.db()
    ));
    h.app_sql("DROP SCHEMA pgcopy CASCADE").unwrap();
    h.app_sql("CREATE EXTENSION pgcopy").unwrap();
    h.su(&format!(
        "ALTER DATABASE {} SET search_path = public, pg_catalog",
        h.db()
    ));
    crate::common::copy(&h.src, &h.app, &["--no-progress"]).expect_code(0);
    for sql in [
        "SELECT * FROM pgcopy.status()",
        "SELECT * FROM pgcopy.status(1)",
        "SELECT * FROM pgcopy.progress",
        "SELECT * FROM pgcopy.pending_fks",
        "SELECT * FROM pgcopy.plan()",
        "SELECT * FROM pgcopy.restore_fks()",
        "SELECT pgcopy.schema_version(), pgcopy.extension_version()",
    ] {
        h.p.dst.psql(h.db(), sql);
        assert_eq!(pwned(&h), "0", "{sql}");
    }
    h.assert_gained_nothing("the extension's functions");
}

/// Code that escapes `SET ROLE`: under a superuser's session, `RESET ROLE`
/// brings the superuser back.
pub(crate) const ESCAPE: &str =
    "CREATE FUNCTION public.esc(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    BEGIN RESET ROLE; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN public.pwn(what);
END $$;";

#[test]
fn a_superuser_copy_never_runs_code_of_the_tables_owner() {
    let h = Hostile::new("ownercode");
    // What a load runs on the destination: a CHECK constraint, a domain check
    // and an index expression calling app's code, which escapes SET ROLE.
    h.app_sql(ESCAPE).unwrap();
    h.app_sql(
        "CREATE DOMAIN public.checked_text AS text CHECK (public.esc('domain check'));
         ALTER TABLE public.parent ADD CONSTRAINT parent_trap CHECK (public.esc('check'));
         CREATE FUNCTION public.ipwn(text) RETURNS text LANGUAGE sql IMMUTABLE
             AS $$ SELECT CASE WHEN public.esc('index expression') THEN $1 END $$;
         CREATE INDEX child_trap ON public.child (public.ipwn(v));
         ALTER TABLE public.parent ALTER COLUMN v TYPE public.checked_text;",
    )
    .unwrap();
    h.p.src.psql(
        h.db(),
        "CREATE FUNCTION public.esc(text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
         CREATE FUNCTION public.ipwn(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT $1';
         CREATE DOMAIN public.checked_text AS text CHECK (public.esc('domain check'));
         ALTER TABLE public.parent ADD CONSTRAINT parent_trap CHECK (public.esc('check'));
         CREATE INDEX child_trap ON public.child (public.ipwn(v));
         ALTER TABLE public.parent ALTER COLUMN v TYPE public.checked_text;",
    );
    // A superuser's copy refuses both tables, saying what would run, before
    // anything changes; so does a member of app who is not app.
    let run = crate::common::copy(&h.src, &h.dst, &["--no-progress"]);
    run.expect_code(1);
    for expected in [
        "pgcopy will not load public.parent as \"postgres\": its rows would run code that role \"app\" may change",
        "constraint parent_trap on table public.parent calls function public.esc(text)",
        "column v has domain public.checked_text",
        "pgcopy will not load public.child as \"postgres\"",
        "index public.child_trap calls function public.ipwn(text)",
    ] {
        assert!(run.stderr.contains(expected), "missing `{expected}`:\n{}", run.stderr);
    }
    h.assert_gained_nothing("a superuser's copy into tables running app's code");
    assert_eq!(h.su("SELECT count(*) FROM public.parent"), "0");
    h.p.dst.psql(
        "postgres",
        "CREATE ROLE loader LOGIN PASSWORD 'loader-pw' IN ROLE app",
    );
    h.su("GRANT CREATE ON DATABASE ownercode TO loader");
    let loader = h.p.dst.url_for(h.db(), "loader", "loader-pw");
    let run = crate::common::copy(&h.src, &loader, &["--no-progress"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("pgcopy will not load public.parent as \"loader\""),
        "{}",
        run.stderr
    );
    // As the owner it is app's own code on app's own tables: copied.
    crate::common::copy(&h.src, &h.app, &["--no-progress"]).expect_code(0);
    assert_eq!(
        h.su("SELECT string_agg(DISTINCT who, ',') FROM public.pwned"),
        "app"
    );
    h.p.assert_same_data_in(&["public.parent", "public.child"]);
    h.assert_gained_nothing("app's own copy");
}

#[test]
fn a_trigger_the_owner_adds_while_a_superuser_copies_never_fires() {
    let h = Hostile::new("ownerrace");
    h.app_sql(ESCAPE).unwrap();
    // The destination holds rows, so the FK-linked tables are truncated up
    // front; a table no FK links is truncated in its own load transaction.
    h.su("INSERT INTO public.parent VALUES (1, 'old'); INSERT INTO public.child VALUES (1, 1, 'old')");
    h.p.src.psql(
        h.db(),
        "CREATE TABLE public.solo (id int); INSERT INTO public.solo SELECT generate_series(1, 5)",
    );
    h.app_sql("CREATE TABLE public.solo (id int)").unwrap();
    for (trigger, table) in [
        (
            "CREATE TRIGGER zz BEFORE TRUNCATE ON public.child FOR EACH STATEMENT EXECUTE FUNCTION public.fire();
             ALTER TABLE public.child ENABLE ALWAYS TRIGGER zz;",
            "public.child",
        ),
        (
            "CREATE TRIGGER zz BEFORE INSERT ON public.parent FOR EACH ROW EXECUTE FUNCTION public.fire();
             ALTER TABLE public.parent ENABLE ALWAYS TRIGGER zz;",
            "public.parent",
        ),
        (
            "CREATE TRIGGER zz BEFORE INSERT ON public.solo FOR EACH ROW EXECUTE FUNCTION public.fire();
             ALTER TABLE public.solo ENABLE ALWAYS TRIGGER zz;",
            "public.solo",
        ),
    ] {
        h.app_sql(
            "CREATE OR REPLACE FUNCTION public.fire() RETURNS trigger LANGUAGE plpgsql
                 AS $$ BEGIN PERFORM public.esc('trigger'); RETURN NEW; END $$;",
        )
        .unwrap();
        h.change_during_copy(trigger);
        assert_eq!(pwned(&h), "0", "{table}");
        h.assert_gained_nothing(table);
        for t in ["child", "parent", "solo"] {
            h.app_sql(&format!("DROP TRIGGER IF EXISTS zz ON public.{t}"))
                .unwrap();
        }
        // What the run left to undo is undone, and the next copy succeeds.
        pgcopy(&["jobs", "discard", &h.su("SELECT max(job_id) FROM pgcopy.jobs"), "-d", &h.dst]);
    }
    crate::common::copy(&h.src, &h.dst, &["--no-progress"]).expect_code(0);
    h.p.assert_same_data_in(&["public.parent", "public.child", "public.solo"]);
}

#[test]
fn built_ins_and_literals_in_the_owners_definitions_never_run_as_the_superuser() {
    let h = Hostile::new("literals");
    h.app_sql(ESCAPE).unwrap();
    // pg_depend records no built-in: query_to_xml and set_config are found in
    // the expressions themselves; a domain reached only by a cast, or by a
    // literal in an index predicate, through the types the expressions use.
    h.app_sql(
        "CREATE DOMAIN public.pint AS int CHECK (public.esc('domain literal'));
         ALTER TABLE public.parent ADD CONSTRAINT parent_xml
             CHECK (query_to_xml('SELECT public.esc(''query_to_xml'')', true, true, '') IS NOT NULL);
         ALTER TABLE public.parent ADD CONSTRAINT parent_role
             CHECK (set_config('role', 'postgres', true) IS NOT NULL);
         ALTER TABLE public.child ADD CONSTRAINT child_cast CHECK ((id::public.pint) IS NOT NULL);
         CREATE INDEX child_pred ON public.child (v) WHERE id <> ALL ('{0}'::public.pint[]);",
    )
    .unwrap();
    let run = crate::common::copy(&h.src, &h.dst, &["--no-progress"]);
    run.expect_code(1);
    for expected in [
        "constraint parent_xml on table public.parent calls function query_to_xml(text,boolean,boolean,text), \
         which may run any SQL or change settings",
        "constraint parent_role on table public.parent calls function set_config(text,text,boolean)",
        "constraint child_cast on table public.child uses domain public.pint",
        "index public.child_pred uses domain public.pint",
    ] {
        assert!(run.stderr.contains(expected), "missing `{expected}`:\n{}", run.stderr);
    }
    h.assert_gained_nothing("a superuser's copy into tables whose expressions call built-ins");
    assert_eq!(h.su("SELECT count(*) FROM public.parent"), "0");

    // Without the traps the copy goes through (defaults calling volatile
    // built-ins, and CHECKs calling stable ones, run nothing of app's).
    h.app_sql(
        "ALTER TABLE public.parent DROP CONSTRAINT parent_xml, DROP CONSTRAINT parent_role,
             ADD CONSTRAINT parent_now CHECK (pg_catalog.now() > '2000-01-01'),
             ALTER COLUMN v SET DEFAULT pg_catalog.gen_random_uuid()::text;
         ALTER TABLE public.child DROP CONSTRAINT child_cast; DROP INDEX public.child_pred;",
    )
    .unwrap();
    crate::common::copy(&h.src, &h.dst, &["--no-progress"]).expect_code(0);
    h.p.assert_same_data_in(&["public.parent", "public.child"]);
    // Had app put the predicate back between preflight and the drop, the
    // saved definition would hold the literal: rebuilding it would parse the
    // literal, running the domain's CHECK as the superuser. It is refused.
    let job = h.su("SELECT max(job_id) FROM pgcopy.jobs");
    h.app_sql("CREATE INDEX child_pred ON public.child (v) WHERE id <> ALL ('{0}'::public.pint[])")
        .unwrap();
    let bindings = crate::common::index_bindings(&h.p.dst, h.db(), "public.child_pred");
    h.app_sql("DROP INDEX public.child_pred").unwrap();
    h.su(&format!(
        "INSERT INTO pgcopy.saved_indexes (job_id, table_schema, table_name, index_name, definition, bindings)
         VALUES ({job}, 'public', 'child', 'child_pred',
                 'CREATE INDEX child_pred ON public.child USING btree (v) WHERE (id <> ALL (''{{0}}''::public.pint[]))',
                 '{bindings}')"
    ));
    let run = pgcopy(&["restore-fks", "-d", &h.dst]);
    assert_ne!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains(
            "holds a literal (a cast to public.pint[]) whose input function (a domain's CHECK) would run"
        ),
        "{all}"
    );
    assert_eq!(
        h.su("SELECT count(*) FROM pg_indexes WHERE indexname = 'child_pred'"),
        "0"
    );
    h.assert_gained_nothing("pgcopy restore-fks of a definition with a domain literal");
}

#[test]
fn literals_without_a_cast_in_saved_definitions_never_run_a_domains_check_as_the_restorer() {
    let h = Hostile::new("barelit");
    h.app_sql(ESCAPE).unwrap();
    // A column of an array of app's domain: a literal compared with it is
    // read by the domain's input, which runs its CHECK, when the statement is
    // parsed. The literal carries no cast a text check could see.
    h.app_sql(
        "CREATE DOMAIN public.pint AS int CHECK (public.esc('domain literal'));
         CREATE TABLE public.arr (a public.pint[]);
         CREATE EXTENSION pgcopy;
         CREATE INDEX arr_bare ON public.arr USING btree (a) WHERE (a <> '{1}');
         ALTER TABLE public.arr ADD CONSTRAINT arr_bare_check CHECK ((a <> '{1}')) NOT VALID;",
    )
    .unwrap();
    // The rows as pgcopy would have saved them, bindings included.
    let index = crate::common::index_bindings(&h.p.dst, h.db(), "public.arr_bare");
    let check =
        crate::common::constraint_bindings(&h.p.dst, h.db(), "public.arr", "arr_bare_check");
    h.app_sql(&format!(
        "DROP INDEX public.arr_bare;
         ALTER TABLE public.arr DROP CONSTRAINT arr_bare_check;
         INSERT INTO pgcopy.jobs (source, destination, state) VALUES ('s', 'd', 'failed');
         INSERT INTO pgcopy.saved_indexes (job_id, table_schema, table_name, index_name, definition, bindings)
         VALUES (1, 'public', 'arr', 'arr_bare', $$CREATE INDEX arr_bare ON public.arr USING btree (a) WHERE (a <> '{{1}}')$$,
                 '{index}');
         INSERT INTO pgcopy.saved_fks (job_id, table_schema, table_name, constraint_name, referenced_schema,
                                       referenced_table, definition, constraint_type, was_validated, bindings)
         VALUES (1, 'public', 'arr', 'arr_bare_check', 'public', 'arr', $$CHECK ((a <> '{{1}}'))$$, 'c', false,
                 '{check}');",
    ))
    .unwrap();
    h.app_sql("DELETE FROM public.pwned").unwrap();
    // The superuser's CLI: both refused, nothing parsed.
    let run = pgcopy(&["restore-fks", "-d", &h.dst]);
    assert_ne!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("holds a literal ('{1}' with no cast)"),
        "{all}"
    );
    h.assert_gained_nothing("pgcopy restore-fks of definitions with literals and no cast");
    assert_eq!(pwned(&h), "0");
    // The superuser's psql: the extension parses and runs them inside the
    // restricted switch to app, where the check runs as app and cannot
    // RESET ROLE.
    h.p.dst
        .psql(h.db(), "SELECT count(*) FROM pgcopy.restore_fks()");
    h.assert_gained_nothing("SELECT * FROM pgcopy.restore_fks()");
    assert_eq!(
        h.su("SELECT coalesce(string_agg(DISTINCT who, ','), '') FROM public.pwned"),
        "app",
        "the domain's check ran, as app only"
    );
}

#[test]
fn a_sequence_swapped_for_a_view_during_a_copy_is_never_read() {
    let h = Hostile::new("seqswap");
    h.app_sql(ESCAPE).unwrap();
    let seq = "CREATE SEQUENCE public.s; CREATE TABLE public.t (id bigint DEFAULT nextval('public.s'), v text);";
    h.p.src.psql(h.db(), seq);
    h.p.src.psql(
        h.db(),
        "INSERT INTO public.t (v) SELECT 'x' FROM generate_series(1, 5)",
    );
    h.app_sql(seq).unwrap();
    // app holds its sequence while the copy reaches it, then swaps in a view
    // whose column calls its code: the copy's read of the sequence waits for
    // the lock and wakes up facing a renamed, never-called sequence.
    let mut swap = std::process::Command::new(pgcopy_tests::bindir().join("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
        .arg(h.p.dst.socket_dir())
        .args(["-p", &h.p.dst.port().to_string(), "-U", "app", "-d", h.db()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = swap.stdin.as_mut().unwrap();
        writeln!(
            stdin,
            "BEGIN; ALTER SEQUENCE public.s RESTART; ALTER SEQUENCE public.s RENAME TO s_old;
             CREATE VIEW public.s AS SELECT 1::bigint AS last_value, public.esc('sequence view') AS is_called;"
        )
        .unwrap();
        stdin.flush().unwrap();
    }
    let child = crate::common::spawn_copy(&h.src, &h.dst, &["--no-progress"], &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while h.su(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
          WHERE c.relname IN ('s', 's_old') AND NOT l.granted",
    ) == "0"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the copy never waited for the sequence"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    {
        use std::io::Write;
        let stdin = swap.stdin.as_mut().unwrap();
        writeln!(stdin, "COMMIT;").unwrap();
    }
    drop(swap.stdin.take());
    swap.wait().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("the name no longer leads to the sequence it led to a moment before"),
        "{stderr}"
    );
    assert_eq!(pwned(&h), "0");
    h.assert_gained_nothing("a sequence swapped for a view");
}

#[test]
fn a_column_the_owner_adds_during_a_copy_never_gets_its_default_computed() {
    let h = Hostile::new("newcolumn");
    h.app_sql(ESCAPE).unwrap();
    h.su("INSERT INTO public.parent VALUES (1, 'old'); INSERT INTO public.child VALUES (1, 1, 'old')");
    // A default calling a built-in that runs SQL: pg_depend records nothing.
    h.change_during_copy(
        "ALTER TABLE public.parent ADD COLUMN extra xml
             DEFAULT pg_catalog.query_to_xml('SELECT public.esc(''column default'')', true, true, '')",
    );
    // (app's ALTER computed the default for the row already there, as app.)
    h.assert_gained_nothing("a column added during the copy");
}

#[test]
fn a_partition_attached_during_a_copy_never_takes_routed_rows() {
    let h = Hostile::new("attached");
    h.app_sql(ESCAPE).unwrap();
    h.p.src.psql(
        h.db(),
        "CREATE TABLE public.m (a int, b text); INSERT INTO public.m SELECT g, 'r' FROM generate_series(0, 49) g",
    );
    // Partitioned on the destination only: rows go through app's public.m.
    h.app_sql(
        "CREATE TABLE public.m (a int, b text) PARTITION BY RANGE (a);
         CREATE TABLE public.m_1 PARTITION OF public.m FOR VALUES FROM (0) TO (100);",
    )
    .unwrap();
    // After preflight, app swaps the partition for one with a trigger.
    h.change_during_copy(
        "CREATE TABLE public.m_evil (a int, b text);
         CREATE FUNCTION public.fire() RETURNS trigger LANGUAGE plpgsql
             AS $$ BEGIN PERFORM public.esc('attached partition'); RETURN NEW; END $$;
         CREATE TRIGGER zz BEFORE INSERT ON public.m_evil FOR EACH ROW EXECUTE FUNCTION public.fire();
         ALTER TABLE public.m_evil ENABLE ALWAYS TRIGGER zz;
         ALTER TABLE public.m DETACH PARTITION public.m_1;
         ALTER TABLE public.m ATTACH PARTITION public.m_evil FOR VALUES FROM (0) TO (100);",
    );
    assert_eq!(pwned(&h), "0");
    assert_eq!(h.su("SELECT count(*) FROM public.m"), "0");
    h.assert_gained_nothing("a partition attached during the copy");
}

#[test]
fn a_source_roles_cast_never_runs_in_the_superusers_preflight() {
    let h = Hostile::new("srccast");
    // On the source, app owns a type with an implicit cast to integer that
    // records who runs it; the superuser's table uses the type.
    h.p.src.psql(
        "postgres",
        &format!(
            "CREATE ROLE app LOGIN PASSWORD 'app-pw'; ALTER DATABASE {} OWNER TO app",
            h.db()
        ),
    );
    h.p.src
        .try_psql_as(
            h.db(),
            "app",
            "CREATE TABLE public.cast_log (who text); GRANT INSERT ON public.cast_log TO PUBLIC;
             CREATE TYPE public.e AS ENUM ('x', 'y');
             CREATE FUNCTION public.e2i(public.e) RETURNS int LANGUAGE plpgsql AS $$
             BEGIN INSERT INTO public.cast_log VALUES (current_user); RETURN 1; END $$;
             CREATE CAST (public.e AS int) WITH FUNCTION public.e2i(public.e) AS IMPLICIT;",
        )
        .expect("the source's plants");
    h.p.src.psql(
        h.db(),
        "CREATE TABLE public.m (a public.e, b text); INSERT INTO public.m VALUES ('x', 'hello');",
    );
    // Partitioned by an integer on the destination.
    h.su(
        "CREATE TABLE public.m (a int, b text) PARTITION BY RANGE (a);
          CREATE TABLE public.m_1 PARTITION OF public.m FOR VALUES FROM (0) TO (100);",
    );
    for extra in [vec!["--dry-run"], vec!["--no-progress"]] {
        let mut args = vec!["copy", "-s", &h.src, "-d", &h.dst];
        args.extend(extra);
        let run = pgcopy(&args);
        run.expect_code(1);
        assert!(
            run.stderr.contains(
                "column \"a\" of public.m is public.e on the source but integer on the destination"
            ),
            "{}",
            run.stderr
        );
    }
    assert_eq!(
        scalar(&h.p.src, h.db(), "SELECT count(*) FROM public.cast_log"),
        "0",
        "the source's cast ran"
    );
}

#[test]
fn a_table_the_schemas_owner_replaces_during_a_copy_is_never_loaded() {
    let h = Hostile::new("replaced");
    h.app_sql(ESCAPE).unwrap();
    // The superuser's table, in the schema app owns (as the database's
    // owner): app may drop it, and put a table of its own in its place.
    h.p.src.psql(
        h.db(),
        "CREATE TABLE public.su_t (id int); INSERT INTO public.su_t SELECT generate_series(1, 5)",
    );
    h.su("CREATE TABLE public.su_t (id int)");
    // 1. While a load transaction holds the table, its schema keeps its name:
    // app's rename waits for the copy's transaction.
    let child = crate::common::spawn_copy(
        &h.src,
        &h.dst,
        &["--no-progress"],
        &[("PGCOPY_FAILPOINT", "before-chunk-commit:3000")],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while h.su(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
          WHERE c.relname = 'su_t' AND l.granted AND l.pid <> pg_backend_pid()",
    ) == "0"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the load did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let err = h
        .app_sql("SET lock_timeout = '1s'; ALTER SCHEMA public RENAME TO elsewhere")
        .expect_err("the schema's name is pinned during the load");
    assert!(err.contains("lock timeout"), "{err}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    h.p.assert_same_data_in(&["public.su_t"]);

    // 2. Dropped and replaced after preflight by a table of app's (no
    // trigger: the rows themselves are what app is after): the load finds
    // another table under the name and writes nothing.
    h.change_during_copy(
        "DROP TABLE public.su_t;
         CREATE TABLE public.su_t (id int);",
    );
    assert_eq!(pwned(&h), "0");
    assert_eq!(h.su("SELECT count(*) FROM public.su_t"), "0");
    h.assert_gained_nothing("a replaced table");
}

#[test]
fn fk_validation_never_runs_code_of_another_role_with_the_restorers_rights() {
    let h = Hostile::new("fkcode");
    h.app_sql(ESCAPE).unwrap();
    // A foreign key whose check casts app's enum through app's function,
    // which escapes SET ROLE and leaves a deferred trigger behind.
    h.app_sql(
        "CREATE TABLE public.bomb (x int);
         CREATE FUNCTION public.bomb_fire() RETURNS trigger LANGUAGE plpgsql
             AS $$ BEGIN PERFORM public.pwn('deferred trigger'); RETURN NEW; END $$;
         CREATE CONSTRAINT TRIGGER bomb_t AFTER INSERT ON public.bomb DEFERRABLE INITIALLY DEFERRED
             FOR EACH ROW EXECUTE FUNCTION public.bomb_fire();
         CREATE TYPE public.e AS ENUM ('1', '2', '3');
         CREATE FUNCTION public.e2int(public.e) RETURNS int LANGUAGE plpgsql AS $$
         BEGIN
             PERFORM public.esc('cast');
             BEGIN INSERT INTO public.bomb VALUES (1); EXCEPTION WHEN OTHERS THEN NULL; END;
             RETURN $1::text::int;
         END $$;
         CREATE CAST (public.e AS int) WITH FUNCTION public.e2int(public.e) AS IMPLICIT;
         CREATE TABLE public.enum_child (id int PRIMARY KEY, p public.e);
         INSERT INTO public.parent VALUES (1, 'a'), (2, 'b'), (3, 'c');
         INSERT INTO public.enum_child VALUES (1, '1');
         ALTER TABLE public.enum_child ADD CONSTRAINT enum_child_p_fk FOREIGN KEY (p) REFERENCES public.parent (id);
         CREATE EXTENSION pgcopy;",
    )
    .unwrap();
    let bindings = crate::common::constraint_bindings(
        &h.p.dst,
        h.db(),
        "public.enum_child",
        "enum_child_p_fk",
    );
    h.app_sql(&format!(
        "SET search_path = pg_catalog, pg_temp;
         INSERT INTO pgcopy.jobs (source, destination, state) VALUES ('s', 'd', 'failed');
         INSERT INTO pgcopy.saved_fks (job_id, table_schema, table_name, constraint_name, referenced_schema,
                                       referenced_table, definition, was_validated, bindings)
         SELECT 1, 'public', 'enum_child', 'enum_child_p_fk', 'public', 'parent', pg_get_constraintdef(oid), true,
                '{bindings}'
           FROM pg_constraint WHERE conname = 'enum_child_p_fk';
         ALTER TABLE public.enum_child DROP CONSTRAINT enum_child_p_fk;"
    ))
    .unwrap();
    h.app_sql("DELETE FROM public.pwned").unwrap();
    // The CLI, as a superuser: added NOT VALID (no code runs), not validated.
    let run = pgcopy(&["restore-fks", "-d", &h.dst]);
    run.expect_code(3);
    assert!(
        run.stdout
            .contains("validation skipped: checking it would run code of another role"),
        "{}",
        run.stdout
    );
    h.assert_gained_nothing("pgcopy restore-fks");
    assert_eq!(pwned(&h), "0");
    // The extension, as a superuser: the check runs as app, in a restricted
    // operation, where RESET ROLE and deferred triggers are refused: app's
    // code runs with app's rights only, and the key is validated.
    let out = h.p.dst.psql(
        h.db(),
        "SELECT outcome || ': ' || coalesce(error, '') FROM pgcopy.restore_fks()",
    );
    assert_eq!(out, "restored:");
    h.assert_gained_nothing("SELECT * FROM pgcopy.restore_fks()");
    assert_eq!(
        h.su("SELECT string_agg(DISTINCT who, ',') FROM public.pwned"),
        "app",
        "the cast ran, as app"
    );
    assert_eq!(
        h.su("SELECT convalidated FROM pg_constraint WHERE conname = 'enum_child_p_fk'"),
        "t"
    );
}

#[test]
fn a_resume_follows_only_a_plan_its_own_role_wrote() {
    let h = Hostile::new("tamper");
    h.app_sql("CREATE EXTENSION pgcopy").unwrap();
    let mut child = crate::common::spawn_copy(
        &h.src,
        &h.app,
        &["--no-progress"],
        &[("PGCOPY_FAILPOINT", "after-drop-fks")],
    );
    crate::common::kill_after(&mut child, "failpoint after-drop-fks reached");
    let genuine = h.su("SELECT plan FROM pgcopy.jobs WHERE job_id = 1");
    // app makes its job's plan truncate the canary.
    h.app_sql(
        "UPDATE pgcopy.jobs SET plan = jsonb_set(plan, '{truncate_together}',
             (plan->'truncate_together') || '[{\"table\": {\"schema\": \"public\", \"name\": \"canary\"}, \"only\": true}]')
          WHERE job_id = 1",
    )
    .unwrap();
    // A superuser's resume does not take app's job for its own, and
    // refuses it outright when named.
    let resume = |extra: &[&str]| {
        let mut args = vec![
            "copy",
            "-s",
            &h.src,
            "-d",
            &h.dst,
            "--resume",
            "--no-progress",
        ];
        args.extend_from_slice(extra);
        pgcopy(&args)
    };
    let run = resume(&[]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "nothing to resume: every job this role started on this destination finished"
        ),
        "{}",
        run.stderr
    );
    let run = resume(&["--job", "1"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("job 1 was started by role \"app\", not by this role: resume it as \"app\""),
        "{}",
        run.stderr
    );
    h.assert_gained_nothing("a superuser's --resume of app's job");
    // app's own resume checks the stored plan against today's catalogs.
    let run = copy(&h.src, &h.app, &["--resume", "--no-progress"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "job 1's stored plan names what its options do not select today (table public.canary)"
        ),
        "{}",
        run.stderr
    );
    h.assert_gained_nothing("app's --resume of a tampered plan");
    // Put back, the job resumes and ends as an uninterrupted copy would.
    h.app_sql(&format!(
        "UPDATE pgcopy.jobs SET plan = '{}' WHERE job_id = 1",
        genuine.replace('\'', "''")
    ))
    .unwrap();
    copy(&h.src, &h.app, &["--resume", "--no-progress"]).expect_code(0);
    h.p.assert_same_data_in(&["public.parent", "public.child"]);
    assert_eq!(
        h.su("SELECT count(*) FROM pg_constraint WHERE conname = 'child_parent_id_fkey' AND convalidated"),
        "1"
    );
    h.assert_gained_nothing("the genuine resume");
}

#[test]
fn the_same_database_guard_fails_closed_without_privileges() {
    let c = Cluster::start("destination");
    c.create_db("same");
    c.create_db("other");
    c.psql(
        "postgres",
        "CREATE ROLE app LOGIN PASSWORD 'app-pw';
         ALTER DATABASE same OWNER TO app; ALTER DATABASE other OWNER TO app;",
    );
    for db in ["same", "other"] {
        // As managed services do (pg_catalog is per database).
        c.psql(
            db,
            "REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC",
        );
        c.try_psql_as(
            db,
            "app",
            "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100);",
        )
        .unwrap();
    }
    let url = c.url_for("same", "app", "app-pw");
    let other = c.url_for("other", "app", "app-pw");
    // pg_control_system() is not allowed: the second check, which needs no
    // privilege, finds the destination's own session in the source.
    let run = crate::common::copy(&url, &url, &["--no-progress"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("source and destination are the same database: copying would empty it"),
        "{}",
        run.stderr
    );
    assert_eq!(c.psql("same", "SELECT count(*) FROM t"), "100");
    // Two databases of one server are told apart, and the copy goes ahead.
    crate::common::copy(&other, &url, &["--no-progress"]).expect_code(0);
    // With neither check possible, it refuses rather than guess.
    c.psql(
        "same",
        "REVOKE SELECT ON pg_catalog.pg_stat_activity FROM PUBLIC;",
    );
    let run = crate::common::copy(&url, &url, &["--no-progress"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("cannot tell whether source and destination are different databases"),
        "{}",
        run.stderr
    );
    assert_eq!(c.psql("same", "SELECT count(*) FROM t"), "100");
}

#[test]
fn a_bare_name_in_several_schemas_is_refused_before_anything_is_truncated() {
    let p = Pair::new("barename");
    let schema = "CREATE SCHEMA tenant_b;
                  CREATE TABLE public.users (id int PRIMARY KEY);
                  CREATE TABLE tenant_b.users (id int PRIMARY KEY);";
    p.src.psql(&p.db, schema);
    p.dst.psql(&p.db, schema);
    p.src.psql(
        &p.db,
        "INSERT INTO public.users SELECT generate_series(1, 10); INSERT INTO tenant_b.users VALUES (1);",
    );
    p.dst.psql(
        &p.db,
        "INSERT INTO tenant_b.users SELECT generate_series(1, 30)",
    );
    let run = p.copy(&["--include-tables", "users"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "`users` selects tables in 2 schemas (public.users, tenant_b.users): write the schema to copy \
             one (public.users), or `*.users` to copy them all"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM tenant_b.users"),
        "30"
    );
    let run = p.copy(&["--include-tables", "users", "--dry-run"]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("NEEDS A SCHEMA (a copy refuses it): `users` selects tables in 2 schemas"),
        "{}",
        run.stdout
    );
    p.copy(&["--include-tables", "public.users"]).expect_code(0);
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM public.users"),
        "10"
    );
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM tenant_b.users"),
        "30"
    );
}

#[test]
fn connection_parameters_are_honoured_or_refused_and_never_show_a_password() {
    let p = Pair::new("conninfo");
    p.load(&["fks-schema.sql"], &["fks-data.sql"]);
    let (s, d) = p.urls();
    let port = p.dst.port();
    let sock = p.dst.socket_dir().display().to_string();
    // Refused with one sentence, before anything is changed.
    for (conninfo, expected) in [
        (
            format!("{d}?gssencmode=require"),
            "connection parameter `gssencmode` is not supported",
        ),
        (
            format!("{d}?require_auth=scram-sha-256"),
            "connection parameter `require_auth` is not supported",
        ),
        (
            format!("{d}?sslmode=disable&channel_binding=require"),
            "require needs TLS",
        ),
    ] {
        let run = crate::common::copy(&s, &conninfo, &[]);
        run.expect_code(2);
        assert!(run.stderr.contains(expected), "{conninfo}: {}", run.stderr);
    }
    let run = pgcopy_env(
        &["copy", "-s", &s, "-d", &d],
        &[("PGREQUIREAUTH", "password")],
    );
    run.expect_code(2);
    assert!(run.stderr.contains("`PGREQUIREAUTH`"), "{}", run.stderr);
    // channel_binding=require: the test servers speak no TLS, so the server
    // cannot prove itself, and the connection is refused.
    let run = pgcopy(&["list", "-s", &format!("{d}?channel_binding=require")]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("server did not use channel binding"),
        "{}",
        run.stderr
    );
    // target_session_attrs: a primary is not a standby.
    let run = pgcopy(&["list", "-s", &format!("{d}?target_session_attrs=standby")]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("session is not standby"),
        "{}",
        run.stderr
    );
    pgcopy(&[
        "list",
        "-s",
        &format!("{d}?target_session_attrs=read-write"),
    ])
    .expect_code(0);
    // hostaddr: connect there, keep the name for messages and the password file.
    let by_addr = format!(
        "host=db.invalid hostaddr=127.0.0.1 port={port} dbname={} user=postgres password={} \
         keepalives_idle=30 tcp_user_timeout=10000",
        p.db,
        pgcopy_tests::SUPERUSER_PASSWORD
    );
    pgcopy(&["list", "-s", &by_addr]).expect_code(0);
    // A socket directory with prefer-standby: no standby, so any server does.
    pgcopy(&[
        "list",
        "-s",
        &format!(
            "host={sock} port={port} dbname={} user=postgres target_session_attrs=prefer-standby",
            p.db
        ),
    ])
    .expect_code(0);
    // No error shows any part of a password, even a malformed one.
    for conninfo in [
        format!(
            "postgresql://postgres:Sw0rdf1shZZ%zz@127.0.0.1:{port}/{}",
            p.db
        ),
        format!(
            "postgresql://postgres:Sw0rdf1sh/ZZ@127.0.0.1:{port}/{}",
            p.db
        ),
        format!("host=127.0.0.1 port={port} password=Sw0rdf1sh ZZtail"),
        format!(
            "host=127.0.0.1 port={port} dbname={} user=postgres password=Sw0rdf1shZZ",
            p.db
        ),
    ] {
        let run = pgcopy(&["list", "-s", &conninfo]);
        assert_ne!(run.code, 0);
        for part in ["Sw0rd", "rdf1s", "f1sh", "ZZtail", "shZZ"] {
            assert!(
                !run.stderr.contains(part) && !run.stdout.contains(part),
                "{conninfo}: {}",
                run.stderr
            );
        }
    }
}

#[test]
fn installer_and_database_owner_tricks_gain_nothing() {
    let h = Hostile::new("tricks");
    // 1. A temporary type named like a built-in, in the installing session:
    // the extension's columns still get pg_catalog's types.
    h.app_sql(
        "CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (public.pwn(VALUE));
         CREATE DOMAIN pg_temp.jsonb AS pg_catalog.jsonb CHECK (public.pwn(VALUE::pg_catalog.text));
         CREATE EXTENSION pgcopy;",
    )
    .unwrap();
    assert_eq!(
        h.su(
            "SELECT count(*) FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
              WHERE a.attrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'pgcopy'::regnamespace)
                AND t.typnamespace <> 'pg_catalog'::regnamespace AND a.attnum > 0"
        ),
        "0"
    );
    // 2. Strings read the old way by every session in the database, and a
    // saved index whose text another reading of backslashes would cut in
    // three statements.
    h.app_sql(&format!(
        "ALTER DATABASE {} SET standard_conforming_strings = off;
         INSERT INTO pgcopy.jobs (source, destination, state) VALUES ('s', 'd', 'failed');
         INSERT INTO pgcopy.saved_indexes (job_id, table_schema, table_name, index_name, definition)
         VALUES (1, 'public', 'parent', 'evil_ix',
                 $d$CREATE INDEX evil_ix ON public.parent (id) WHERE 'A\\' = ' IS NOT NULL;RESET ROLE;ALTER ROLE app SUPERUSER;--' IS NOT NULL$d$);",
        h.db()
    ))
    .unwrap();
    let run = pgcopy(&["restore-fks", "-d", &h.dst]);
    h.assert_gained_nothing("a definition read another way");
    assert!(run.code == 0 || run.code == 3, "{}", run.stderr);
    // 3. Text written to the state to forge a terminal's output.
    h.app_sql(
        "UPDATE pgcopy.jobs SET error = E'boom\\x1b]0;TITLE\\x07\\r\\nfake line: all good' WHERE job_id = 1",
    )
    .unwrap();
    for args in [
        vec!["status", "-d", &h.dst, "--job", "1"],
        vec!["jobs", "list", "-d", &h.dst],
    ] {
        let run = pgcopy(&args);
        run.expect_code(0);
        assert!(
            !run.stdout.contains('\u{1b}') && !run.stdout.contains("\nfake line"),
            "{args:?}: {:?}",
            run.stdout
        );
    }
    assert_eq!(pwned(&h), "0");
}

#[test]
fn an_extension_the_database_owner_may_drop_keeps_no_state_of_other_roles() {
    let h = Hostile::new("dropext");
    let bob_table = "CREATE TABLE public.bobtab (id int PRIMARY KEY, note text);
                     CREATE INDEX bobtab_note ON public.bobtab (note);";
    h.p.src.psql(h.db(), bob_table);
    h.p.src.psql(
        h.db(),
        "INSERT INTO public.bobtab SELECT g, 'n' || g FROM generate_series(1, 10) g",
    );
    h.su(bob_table);
    h.su("ALTER TABLE public.bobtab OWNER TO bob");
    h.app_sql("CREATE EXTENSION pgcopy").unwrap();
    // A superuser's copy would drop bob's index and keep its definition in a
    // schema app may drop with the extension: refused, with what to do.
    let run = copy(&h.src, &h.dst, &["--no-progress", "--defer-indexes"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "the pgcopy extension here belongs to role \"app\", who may DROP EXTENSION pgcopy at any time, \
             and with it what this copy would save there of tables \"app\" does not own (public.bobtab)"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        h.su("SELECT count(*) FROM pg_indexes WHERE indexname = 'bobtab_note'"),
        "1"
    );
    // With a state schema of its own, the copy goes ahead.
    copy(
        &h.src,
        &h.dst,
        &[
            "--state-schema",
            "su_state",
            "--no-progress",
            "--defer-indexes",
        ],
    )
    .expect_code(0);
    h.p.assert_same_data_in(&["public.parent", "public.child", "public.bobtab"]);
    assert_eq!(
        h.su("SELECT pg_get_indexdef('public.bobtab_note'::regclass)"),
        "CREATE INDEX bobtab_note ON public.bobtab USING btree (note)"
    );
    h.assert_gained_nothing("copies next to an extension app may drop");
}

/// A load's statements travel as one simple query, with the table's schema
/// and name written into its progress row as literals: names made of
/// quotes, backslashes, semicolons, dollar quotes and an injection attempt
/// land as themselves, and nothing in them runs. One table belongs to a
/// role that is not a superuser, so its load also takes and resets that
/// role around the COPY and is locked and checked first.
#[test]
fn names_written_into_a_loads_statements_stay_names() {
    let p = Pair::new("names_as_literals");
    let schema = r#"
        CREATE SCHEMA "it's \ here";
        CREATE TABLE "it's \ here"."a'); DROP TABLE public.victim; --" (id int PRIMARY KEY, v text);
        CREATE TABLE public."E'\\' $$ ;" (id int, v text);
        CREATE TABLE public."back\slash'" (id int, v text);
        CREATE TABLE public."owned ''by"" literal_owner" (id int, v text);
        CREATE TABLE public.victim (id int);
    "#;
    let data = r#"
        INSERT INTO "it's \ here"."a'); DROP TABLE public.victim; --" SELECT g, 'a' || g FROM generate_series(1, 30) g;
        INSERT INTO public."E'\\' $$ ;" SELECT g, 'b\' || g FROM generate_series(1, 20) g;
        INSERT INTO public."back\slash'" SELECT g, '''' || g FROM generate_series(1, 10) g;
        INSERT INTO public."owned ''by"" literal_owner" SELECT g, 'o' || g FROM generate_series(1, 5) g;
        INSERT INTO public.victim VALUES (1), (2);
    "#;
    for c in [&p.src, &p.dst] {
        c.psql("postgres", "CREATE ROLE literal_owner");
        c.psql(&p.db, schema);
        c.psql(
            &p.db,
            r#"ALTER TABLE public."owned ''by"" literal_owner" OWNER TO literal_owner"#,
        );
    }
    p.src.psql(&p.db, data);
    let before = crate::common::full_fingerprint(&p.dst, &p.db);
    let run = p.copy(&["-p", "2"]);
    run.expect_code(0);
    p.assert_same_data();
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM public.victim"),
        "2"
    );
    // Each table's chunk is recorded done under its exact name.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                WHERE n.nspname = j.table_schema AND c.relname = j.table_name)) || '/' || count(*) \
               FROM pgcopy.job_chunks j WHERE j.state = 'done'"
        ),
        "5/5"
    );
    let after = crate::common::full_fingerprint(&p.dst, &p.db);
    assert_eq!(
        (before.fks, before.triggers, before.indexes),
        (after.fks, after.triggers, after.indexes)
    );
    // A second run reloads the full tables (each truncated in its load).
    p.copy(&["-p", "2"]).expect_code(0);
    p.assert_same_data();
}
