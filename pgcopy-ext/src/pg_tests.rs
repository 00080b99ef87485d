//! The extension's SQL-level tests (`cargo pgrx test`): each runs in a
//! throwaway server, inside a transaction, as the bootstrap superuser.

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn state_schema_is_installed() {
        let v = Spi::get_one::<i32>("SELECT pgcopy.schema_version()").unwrap();
        assert_eq!(v, Some(pgcopy_core::STATE_SCHEMA_VERSION));
        let n = Spi::get_one::<i64>("SELECT count(*) FROM pgcopy.jobs").unwrap();
        assert_eq!(n, Some(0));
    }

    #[pg_test]
    fn version_matches_cargo() {
        assert_eq!(crate::extension_version(), env!("CARGO_PKG_VERSION"));
    }

    fn fixture() {
        Spi::run(
            "CREATE TABLE a (id int PRIMARY KEY, b_id int);
             CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a);
             ALTER TABLE a ADD CONSTRAINT a_b_fk FOREIGN KEY (b_id) REFERENCES b;
             CREATE TABLE tree (id int PRIMARY KEY, parent int REFERENCES tree);
             CREATE TABLE leaf (id int, a_id int REFERENCES a);
             INSERT INTO tree SELECT g, NULLIF(g - 1, 0) FROM generate_series(1, 5000) g;",
        )
        .unwrap();
    }

    type PlanRow = (String, Option<i32>, Vec<String>, Vec<String>, i32);

    #[pg_test]
    fn plan_lists_tables_cycles_and_outside_references() {
        fixture();
        let rows: Vec<PlanRow> = Spi::connect(|c| {
            c.select(
                "SELECT table_name, fk_cycle, drops_fks, referenced_from_outside, chunks
                   FROM pgcopy.plan(include => ARRAY['a', 'b', 'tree'], split_larger_than => 16384)
                  ORDER BY table_name",
                None,
                &[],
            )?
            .map(|r| {
                Ok((
                    r.get::<String>(1)?.unwrap(),
                    r.get::<i32>(2)?,
                    r.get::<Vec<String>>(3)?.unwrap(),
                    r.get::<Vec<String>>(4)?.unwrap(),
                    r.get::<i32>(5)?.unwrap(),
                ))
            })
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        })
        .unwrap();
        assert_eq!(rows.len(), 3);
        let (a, b, tree) = (&rows[0], &rows[1], &rows[2]);
        assert_eq!(a.0, "a");
        assert!(a.1.is_some() && a.1 == b.1, "a and b form one cycle");
        assert!(
            tree.1.is_some() && tree.1 != a.1,
            "a self-reference is a cycle of its own"
        );
        assert_eq!(a.2, vec!["a_b_fk"]);
        assert_eq!(a.3, vec!["public.leaf"]);
        assert!(tree.4 > 1, "tree is split into chunks");
    }

    #[pg_test(
        error = "pgcopy.plan: this pattern matched no table: `nope` (check the spelling, quote mixed-case names, or pass --allow-empty-match)"
    )]
    fn plan_rejects_patterns_that_match_nothing() {
        Spi::run("SELECT * FROM pgcopy.plan(include => ARRAY['nope'])").unwrap();
    }

    /// Two jobs saved the same key (an earlier one left it behind, already
    /// back): the first row re-creates it and the second finds it there,
    /// both restored. A red team saw the second fail with "already exists":
    /// its probe, read-only in a new subtransaction, looked at the snapshot
    /// the call started with.
    #[pg_test]
    fn restore_fks_counts_a_key_two_jobs_saved_as_restored_once_back() {
        fixture();
        Spi::run(&format!(
            "INSERT INTO pgcopy.jobs (source, destination) VALUES ('s', 'd'), ('s', 'd');
             SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
             INSERT INTO pgcopy.saved_fks (job_id, table_schema, table_name, constraint_name,
                    referenced_schema, referenced_table, definition, was_validated, bindings)
             SELECT j.job_id, n.nspname, c.relname, con.conname, fn.nspname, f.relname,
                    pg_get_constraintdef(con.oid), con.convalidated, {}
               FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_class f ON f.oid = con.confrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace
              CROSS JOIN pgcopy.jobs j
              WHERE con.contype = 'f' AND n.nspname = 'public' AND con.conname = 'b_a_id_fkey';
             SELECT pg_catalog.set_config('search_path', 'public', true);
             ALTER TABLE b DROP CONSTRAINT b_a_id_fkey;",
            constraint_bindings()
        ))
        .unwrap();
        let outcomes: Vec<(i64, String)> = Spi::connect(|c| {
            c.select(
                "SELECT job_id, outcome FROM pgcopy.restore_fks() ORDER BY 1",
                None,
                &[],
            )?
            .map(|r| Ok((r.get::<i64>(1)?.unwrap(), r.get::<String>(2)?.unwrap())))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        })
        .unwrap();
        assert_eq!(
            outcomes.iter().map(|(_, o)| o.as_str()).collect::<Vec<_>>(),
            ["restored", "restored"]
        );
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(*) FROM pgcopy.pending_fks").unwrap(),
            Some(0)
        );
    }

    #[pg_test]
    fn restore_fks_brings_back_saved_constraints_and_reports_failures() {
        fixture();
        // pgcopy saves definitions under search_path = pg_catalog, pg_temp,
        // where pg_get_constraintdef qualifies every table it names.
        Spi::run(&format!(
            "INSERT INTO pgcopy.jobs (source, destination) VALUES ('s', 'd');
             SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
             INSERT INTO pgcopy.saved_fks (job_id, table_schema, table_name, constraint_name,
                    referenced_schema, referenced_table, definition, was_validated, bindings)
             SELECT (SELECT max(job_id) FROM pgcopy.jobs), n.nspname, c.relname, con.conname, fn.nspname, f.relname,
                    pg_get_constraintdef(con.oid), con.convalidated, {}
               FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_class f ON f.oid = con.confrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace
              WHERE con.contype = 'f' AND n.nspname = 'public';
             SELECT pg_catalog.set_config('search_path', 'public', true);
             ALTER TABLE a DROP CONSTRAINT a_b_fk; ALTER TABLE b DROP CONSTRAINT b_a_id_fkey;
             ALTER TABLE tree DROP CONSTRAINT tree_parent_fkey; ALTER TABLE leaf DROP CONSTRAINT leaf_a_id_fkey;
             INSERT INTO leaf VALUES (1, 424242);",
            constraint_bindings()
        ))
        .unwrap();
        let outcomes: Vec<(String, String)> = Spi::connect(|c| {
            c.select(
                "SELECT constraint_name, outcome FROM pgcopy.restore_fks() ORDER BY 1",
                None,
                &[],
            )?
            .map(|r| Ok((r.get::<String>(1)?.unwrap(), r.get::<String>(2)?.unwrap())))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        })
        .unwrap();
        assert_eq!(
            outcomes,
            vec![
                ("a_b_fk".to_string(), "restored".to_string()),
                ("b_a_id_fkey".to_string(), "restored".to_string()),
                (
                    "leaf_a_id_fkey".to_string(),
                    "validation_failed".to_string()
                ),
                ("tree_parent_fkey".to_string(), "restored".to_string()),
            ]
        );
        // The violated one is present, NOT VALID, with the reason saved.
        let valid = Spi::get_one::<bool>(
            "SELECT convalidated FROM pg_constraint WHERE conname = 'leaf_a_id_fkey'",
        )
        .unwrap();
        assert_eq!(valid, Some(false));
        let why = Spi::get_one::<String>(
            "SELECT restore_error FROM pgcopy.saved_fks WHERE constraint_name = 'leaf_a_id_fkey'",
        )
        .unwrap()
        .unwrap();
        assert!(why.contains("violates foreign key constraint"), "{why}");
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(*) FROM pgcopy.pending_fks").unwrap(),
            Some(0)
        );
        // Saved indexes come back through the same function.
        Spi::run(&format!(
            "CREATE INDEX leaf_a_idx ON leaf (a_id);
             INSERT INTO pgcopy.saved_indexes (job_id, table_schema, table_name, index_name, definition, bindings)
             SELECT max(job_id), 'public', 'leaf', 'leaf_a_idx', pg_get_indexdef('leaf_a_idx'::regclass), {}
               FROM pgcopy.jobs;
             DROP INDEX leaf_a_idx;",
            pgcopy_core::bindings::bindings_sql(
                "'pg_catalog.pg_class'::pg_catalog.regclass",
                "'leaf_a_idx'::pg_catalog.regclass::pg_catalog.oid"
            )
        ))
        .unwrap();
        let idx = Spi::get_two::<String, String>(
            "SELECT constraint_name, outcome FROM pgcopy.restore_fks()",
        )
        .unwrap();
        assert_eq!(
            idx,
            (Some("leaf_a_idx".into()), Some("index_restored".into()))
        );
        assert_eq!(
            Spi::get_one::<bool>("SELECT to_regclass('leaf_a_idx') IS NOT NULL").unwrap(),
            Some(true)
        );
        // Idempotent, and validation succeeds once the data is fixed.
        Spi::run("DELETE FROM leaf WHERE a_id = 424242").unwrap();
        let again =
            Spi::get_one::<String>("SELECT string_agg(outcome, ',') FROM pgcopy.restore_fks()")
                .unwrap();
        assert_eq!(again.as_deref(), Some("restored"));
        assert_eq!(
            Spi::get_one::<String>("SELECT string_agg(outcome, ',') FROM pgcopy.restore_fks()")
                .unwrap(),
            None
        );
    }

    /// What pgcopy records of the constraint `con` (a `pg_constraint` row in
    /// the query) when it drops it.
    fn constraint_bindings() -> String {
        pgcopy_core::bindings::bindings_sql(
            "'pg_catalog.pg_constraint'::pg_catalog.regclass",
            "con.oid",
        )
    }

    /// A saved index whose function was dropped and made again under its
    /// name after pgcopy dropped the index is not rebuilt (the name leads
    /// to another function); one that was rebuilt bound to another object
    /// is rolled back.
    #[pg_test]
    fn restore_fks_rebuilds_nothing_whose_names_lead_elsewhere_now() {
        fixture();
        Spi::run(&format!(
            "CREATE FUNCTION public.k(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1';
             CREATE INDEX leaf_k ON leaf (public.k(a_id));
             INSERT INTO pgcopy.jobs (source, destination) VALUES ('s', 'd');
             SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
             INSERT INTO pgcopy.saved_indexes (job_id, table_schema, table_name, index_name, definition, bindings)
             SELECT max(job_id), 'public', 'leaf', 'leaf_k', pg_get_indexdef('public.leaf_k'::regclass), {}
               FROM pgcopy.jobs;
             SELECT pg_catalog.set_config('search_path', 'public', true);
             DROP INDEX leaf_k;
             DROP FUNCTION public.k(int);
             CREATE FUNCTION public.k(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 0';",
            pgcopy_core::bindings::bindings_sql(
                "'pg_catalog.pg_class'::pg_catalog.regclass",
                "'public.leaf_k'::pg_catalog.regclass::pg_catalog.oid"
            )
        ))
        .unwrap();
        let (outcome, error) =
            Spi::get_two::<String, String>("SELECT outcome, error FROM pgcopy.restore_fks()")
                .unwrap();
        assert_eq!(outcome.as_deref(), Some("failed"));
        let error = error.unwrap_or_default();
        assert!(error.contains("public.k(integer)"), "{error}");
        assert!(error.contains("was not re-created"), "{error}");
        assert_eq!(
            Spi::get_one::<bool>("SELECT to_regclass('public.leaf_k') IS NULL").unwrap(),
            Some(true)
        );
        // Saved bound to nothing (a row that says so): built, then rolled
        // back, since it depends on the table's column and the function.
        Spi::run(
            "UPDATE pgcopy.saved_indexes SET bindings = '[]', restore_error = NULL WHERE index_name = 'leaf_k'",
        )
        .unwrap();
        let (outcome, error) =
            Spi::get_two::<String, String>("SELECT outcome, error FROM pgcopy.restore_fks()")
                .unwrap();
        assert_eq!(outcome.as_deref(), Some("failed"));
        let error = error.unwrap_or_default();
        assert!(
            error.contains("rolled back"),
            "the build is undone: {error}"
        );
        assert_eq!(
            Spi::get_one::<bool>("SELECT to_regclass('public.leaf_k') IS NULL").unwrap(),
            Some(true)
        );
    }

    #[pg_test]
    fn the_schema_and_its_objects_belong_to_a_superuser() {
        let foreign = Spi::get_one::<i64>(
            "SELECT (SELECT count(*) FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
                      WHERE n.nspname = 'pgcopy' AND NOT r.rolsuper)
                  + (SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
                      WHERE c.relnamespace = 'pgcopy'::regnamespace AND NOT r.rolsuper)
                  + (SELECT count(*) FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
                      WHERE p.pronamespace = 'pgcopy'::regnamespace AND NOT r.rolsuper)",
        )
        .unwrap();
        assert_eq!(foreign, Some(0));
        // Every function pins its search path.
        let unpinned = Spi::get_one::<i64>(
            "SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'pgcopy'::regnamespace
                AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)",
        )
        .unwrap();
        assert_eq!(unpinned, Some(0));
    }

    #[pg_test]
    fn forged_definitions_are_refused_unrun() {
        fixture();
        Spi::run(
            "CREATE ROLE forger;
             INSERT INTO pgcopy.jobs (source, destination) VALUES ('s', 'd');
             INSERT INTO pgcopy.saved_indexes (job_id, table_schema, table_name, index_name, definition)
             SELECT max(job_id), 'public', 'leaf', 'leaf_x', 'ALTER ROLE forger SUPERUSER' FROM pgcopy.jobs;
             INSERT INTO pgcopy.saved_fks (job_id, table_schema, table_name, constraint_name,
                    referenced_schema, referenced_table, definition, was_validated)
             SELECT max(job_id), 'public', 'leaf', 'leaf_c', 'public', 'a',
                    'CHECK (true); ALTER ROLE forger SUPERUSER; --', true FROM pgcopy.jobs;",
        )
        .unwrap();
        let outcomes: Vec<(String, String)> = Spi::connect(|c| {
            c.select(
                "SELECT outcome, error FROM pgcopy.restore_fks() ORDER BY constraint_name",
                None,
                &[],
            )?
            .map(|r| Ok((r.get::<String>(1)?.unwrap(), r.get::<String>(2)?.unwrap())))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        })
        .unwrap();
        assert_eq!(outcomes.len(), 2);
        assert!(outcomes.iter().all(|(o, _)| o == "failed"));
        assert!(outcomes[0].1.contains("2 statements"), "{}", outcomes[0].1);
        assert!(
            outcomes[1].1.contains("(AlterRoleStmt)"),
            "{}",
            outcomes[1].1
        );
        assert_eq!(
            Spi::get_one::<bool>("SELECT rolsuper FROM pg_roles WHERE rolname = 'forger'").unwrap(),
            Some(false)
        );
        // The reasons are kept with the rows.
        assert_eq!(
            Spi::get_one::<i64>(
                "SELECT count(*) FROM pgcopy.saved_fks WHERE restore_error LIKE '%not run%'"
            )
            .unwrap(),
            Some(1)
        );
    }

    #[pg_test]
    fn only_members_of_a_jobs_creator_may_write_its_rows() {
        // Each write must fail with insufficient_privilege; one that goes
        // through raises 'written', failing the test.
        Spi::run(
            "INSERT INTO pgcopy.jobs (source, destination) VALUES ('s', 'd');
             CREATE ROLE intruder;
             GRANT USAGE ON SCHEMA pgcopy TO intruder;
             GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA pgcopy TO intruder;
             SET LOCAL ROLE intruder;
             DO $$
             DECLARE j bigint := (SELECT max(job_id) FROM pgcopy.jobs);
             BEGIN
                 BEGIN
                     UPDATE pgcopy.jobs SET plan = '{}' WHERE job_id = j;
                     RAISE EXCEPTION 'written: jobs';
                 EXCEPTION WHEN insufficient_privilege THEN NULL;
                 END;
                 BEGIN
                     INSERT INTO pgcopy.saved_fks (job_id, table_schema, table_name, constraint_name,
                            referenced_schema, referenced_table, definition, was_validated)
                     VALUES (j, 'public', 'a', 'x', 'public', 'b', 'FOREIGN KEY (b_id) REFERENCES public.b(id)', true);
                     RAISE EXCEPTION 'written: saved_fks';
                 EXCEPTION WHEN insufficient_privilege THEN NULL;
                 END;
             END $$;
             RESET ROLE;",
        )
        .unwrap();
        // Its own job is its own: created_by is stamped, whatever it says.
        Spi::run(
            "SET LOCAL ROLE intruder;
             INSERT INTO pgcopy.jobs (source, destination, created_by) VALUES ('s', 'd', 10);
             RESET ROLE;",
        )
        .unwrap();
        assert_eq!(
            Spi::get_one::<String>(
                "SELECT pg_get_userbyid(created_by)::text FROM pgcopy.jobs ORDER BY job_id DESC LIMIT 1"
            )
            .unwrap()
            .as_deref(),
            Some("intruder")
        );
    }

    #[pg_test]
    fn status_reports_progress_and_staleness() {
        Spi::run(
            "INSERT INTO pgcopy.jobs (state, source, destination, started_at, heartbeat_at, client_backend_pid)
             VALUES ('running', 's', 'd', now() - interval '10 seconds', now(), pg_backend_pid());
             INSERT INTO pgcopy.job_tables (job_id, table_schema, table_name, est_rows, est_bytes, chunk_count, state, started_at)
             SELECT max(job_id), 'public', 'big', 1000, 80000, 2, 'copying', now() - interval '10 seconds' FROM pgcopy.jobs;
             INSERT INTO pgcopy.job_chunks (job_id, table_schema, table_name, chunk_index, state, rows_copied)
             SELECT max(job_id), 'public', 'big', c, CASE c WHEN 0 THEN 'done' ELSE 'pending' END, 500 - 500 * c
               FROM pgcopy.jobs, generate_series(0, 1) c GROUP BY c;
             INSERT INTO pgcopy.job_workers (job_id, worker, table_schema, table_name, chunk_index, rows_streamed, bytes_streamed)
             SELECT max(job_id), 0, 'public', 'big', 1, 100, 8000 FROM pgcopy.jobs;",
        )
        .unwrap();
        let (state, rows, pct) = Spi::get_three::<String, i64, f64>(
            "SELECT job_state, rows_copied, percent::float8 FROM pgcopy.status()",
        )
        .unwrap();
        assert_eq!(state.as_deref(), Some("running"));
        assert_eq!(rows, Some(600));
        assert_eq!(pct, Some(60.0));
        // A client whose connection is gone makes the job stale.
        Spi::run("UPDATE pgcopy.jobs SET client_backend_pid = -1").unwrap();
        let state = Spi::get_one::<String>("SELECT state FROM pgcopy.progress").unwrap();
        assert_eq!(state.as_deref(), Some("stale"));
    }
}
