-- pgcopy state schema, version 5.
--
-- The one source of truth for the schema pgcopy keeps on the destination: the
-- extension embeds this file, and the CLI runs it where the extension cannot be
-- installed. Every name of the schema's own is written `@extschema@.name`:
-- PostgreSQL replaces `@extschema@` in an extension script, and the CLI replaces
-- it with the quoted `--state-schema` name (pgcopy_core::state_schema_sql).
--
-- Hardened as PostgreSQL's "Security Considerations for Extensions" asks
-- (the DBA who reads this schema may be a superuser, and whoever may write its
-- rows may not be):
--   * functions: `SET search_path = pg_catalog, pg_temp`, so every unqualified
--     function, operator and type resolves in pg_catalog and nowhere else
--     (pg_temp is never searched for functions or operators); the schema's own
--     objects are named through @extschema@, called with arguments of exactly
--     their declared types;
--   * no `CASE x WHEN`, `IN (...)` or `= ANY` on values from rows: they pick an
--     operator by search path (with the pinned path that is pg_catalog's, but
--     the rule keeps the bodies safe even if copied elsewhere);
--   * views are created under the same pinned path, so their operators are
--     pg_catalog's, bound at creation;
--   * the rows a role writes carry its rights, not the reader's: every row of
--     a job may be written only by members of the role that created the job
--     (`jobs.created_by`, set by a trigger, never changed), so a restore run
--     by a superuser does only what that role could do (see SECURITY.md). The
--     triggers are ENABLE ALWAYS: replica-mode sessions fire them too.
-- The extension's install script (pgcopy-ext) adds the rest: the schema and
-- every object in it belong to the bootstrap superuser, and the installing
-- role gets SELECT, INSERT and UPDATE on the tables, nothing else.

COMMENT ON SCHEMA @extschema@ IS 'pgcopy state: jobs, their tables and chunks, the foreign keys, indexes and triggers they saved (restored by pgcopy resume, pgcopy restore-fks or, with the extension, pgcopy.restore_fks()), and status() for progress. Written by the pgcopy CLI; rows are never deleted.';

CREATE TABLE @extschema@.jobs (
    job_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state           text NOT NULL DEFAULT 'planned'
                    CHECK (state IN ('planned', 'running', 'succeeded', 'failed', 'interrupted', 'discarded')),
    created_by      oid NOT NULL,
    source          text NOT NULL,
    destination     text NOT NULL,
    options         jsonb NOT NULL DEFAULT '{}',
    fk_strategy     text CHECK (fk_strategy IN ('replica', 'drop')),
    snapshot        text,
    client_host     text,
    client_pid      integer,
    client_version  text,
    client_backend_pid integer,
    plan            jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    heartbeat_at    timestamptz,
    truncated_at    timestamptz,
    fks_dropped_at  timestamptz,
    disabled_triggers jsonb,
    phase           text CHECK (phase IN ('setup', 'before-load', 'load', 'indexes', 'triggers', 'large-objects', 'sequences', 'materialized-views', 'analyze', 'foreign-keys')),
    error           text
);
COMMENT ON TABLE @extschema@.jobs IS 'One row per pgcopy run against this database.';
COMMENT ON COLUMN @extschema@.jobs.state IS 'planned, running, succeeded, failed, interrupted, or discarded (given up with pgcopy jobs discard).';
COMMENT ON COLUMN @extschema@.jobs.created_by IS 'The role that created the job (set by a trigger, never changed): only its members may write the job''s rows, and what the job saved is restored with no more than that role''s rights.';
COMMENT ON COLUMN @extschema@.jobs.truncated_at IS 'When the tables truncated up front were truncated (same transaction): a resumed job never truncates again.';
COMMENT ON COLUMN @extschema@.jobs.fks_dropped_at IS 'When the job saved and dropped its foreign keys (same transaction).';
COMMENT ON COLUMN @extschema@.jobs.disabled_triggers IS 'Triggers the job disabled and has not put back yet, each with its table and the mode it returns to (set in the transaction that disables them).';
COMMENT ON COLUMN @extschema@.jobs.source IS 'Source connection, password removed.';
COMMENT ON COLUMN @extschema@.jobs.destination IS 'Destination connection, password removed.';
COMMENT ON COLUMN @extschema@.jobs.options IS 'Command-line options of the run.';
COMMENT ON COLUMN @extschema@.jobs.fk_strategy IS 'replica: FK triggers disabled by session_replication_role; drop: FKs saved, dropped and restored.';
COMMENT ON COLUMN @extschema@.jobs.snapshot IS 'Source snapshot all tables were read from (pg_export_snapshot).';
COMMENT ON COLUMN @extschema@.jobs.plan IS 'The plan the run followed (tables, chunks, FKs), as JSON.';
COMMENT ON COLUMN @extschema@.jobs.client_backend_pid IS 'Backend pid of the client''s coordinator connection here: when it is gone while the job is running, the client died.';
COMMENT ON COLUMN @extschema@.jobs.phase IS 'Where the run is, in the order of work: setup, before-load, load, indexes, triggers, large-objects, sequences, materialized-views, analyze, foreign-keys (the last one entered, once the job ends).';
COMMENT ON COLUMN @extschema@.jobs.heartbeat_at IS 'Updated every few seconds while the client runs; a running job with an old heartbeat is stale (the client died).';

CREATE TABLE @extschema@.job_tables (
    job_id          bigint NOT NULL REFERENCES @extschema@.jobs ON DELETE CASCADE,
    table_schema    text NOT NULL,
    table_name      text NOT NULL,
    partition_of    text,
    est_rows        bigint NOT NULL DEFAULT 0,
    est_bytes       bigint NOT NULL DEFAULT 0,
    chunk_count     integer NOT NULL DEFAULT 1,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'copying', 'done', 'failed')),
    started_at      timestamptz,
    finished_at     timestamptz,
    error           text,
    PRIMARY KEY (job_id, table_schema, table_name)
);
COMMENT ON TABLE @extschema@.job_tables IS 'Tables of each job, with their estimates and state; rows copied are in job_chunks.';
COMMENT ON COLUMN @extschema@.job_tables.partition_of IS 'The top partitioned table, when this is a partition.';

CREATE TABLE @extschema@.job_chunks (
    job_id          bigint NOT NULL,
    table_schema    text NOT NULL,
    table_name      text NOT NULL,
    chunk_index     integer NOT NULL,
    start_page      bigint,
    end_page        bigint,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'done', 'failed')),
    rows_copied     bigint NOT NULL DEFAULT 0,
    bytes_copied    bigint NOT NULL DEFAULT 0,
    attempts        integer NOT NULL DEFAULT 0,
    finished_at     timestamptz,
    error           text,
    PRIMARY KEY (job_id, table_schema, table_name, chunk_index),
    FOREIGN KEY (job_id, table_schema, table_name) REFERENCES @extschema@.job_tables ON DELETE CASCADE
);
COMMENT ON TABLE @extschema@.job_chunks IS 'Chunks (ctid page ranges) of each table. A chunk is marked done in the same transaction that commits its rows, so done chunks are exactly the rows present.';
COMMENT ON COLUMN @extschema@.job_chunks.start_page IS 'First heap page (NULL: from the start).';
COMMENT ON COLUMN @extschema@.job_chunks.end_page IS 'Page after the last (NULL: to the end).';

CREATE TABLE @extschema@.job_workers (
    job_id          bigint NOT NULL REFERENCES @extschema@.jobs ON DELETE CASCADE,
    worker          integer NOT NULL,
    table_schema    text,
    table_name      text,
    chunk_index     integer,
    rows_streamed   bigint NOT NULL DEFAULT 0,
    bytes_streamed  bigint NOT NULL DEFAULT 0,
    chunk_started_at timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, worker)
);
COMMENT ON TABLE @extschema@.job_workers IS 'Live view of each worker: the chunk it streams now and the rows sent so far (not yet committed).';

CREATE TABLE @extschema@.saved_fks (
    job_id          bigint NOT NULL REFERENCES @extschema@.jobs,
    table_schema    text NOT NULL,
    table_name      text NOT NULL,
    constraint_name text NOT NULL,
    referenced_schema text NOT NULL,
    referenced_table text NOT NULL,
    definition      text NOT NULL,
    constraint_type text NOT NULL DEFAULT 'f' CHECK (constraint_type IN ('f', 'c')),
    comment         text,
    was_validated   boolean NOT NULL,
    dropped_at      timestamptz NOT NULL DEFAULT now(),
    restored_at     timestamptz,
    restored_valid  boolean,
    restore_error   text,
    bindings        jsonb,
    clone_names     jsonb,
    PRIMARY KEY (job_id, table_schema, table_name, constraint_name)
);
COMMENT ON TABLE @extschema@.saved_fks IS 'Every foreign key a job dropped, saved in the same transaction as the drop. Restore with pgcopy.restore_fks() or pgcopy restore-fks.';
COMMENT ON COLUMN @extschema@.saved_fks.definition IS 'pg_get_constraintdef() text: ALTER TABLE ... ADD CONSTRAINT name <definition> re-creates it, once a parser proved the whole statement is that one FOREIGN KEY on that table.';
COMMENT ON COLUMN @extschema@.saved_fks.constraint_type IS 'f: a foreign key; c: a NOT VALID CHECK constraint, which rows the source keeps may violate, put back NOT VALID.';
COMMENT ON COLUMN @extschema@.saved_fks.comment IS 'Its COMMENT ON CONSTRAINT, put back by a statement pgcopy builds.';
COMMENT ON COLUMN @extschema@.saved_fks.was_validated IS 'Whether it was validated before the drop; a NOT VALID constraint is restored NOT VALID.';
COMMENT ON COLUMN @extschema@.saved_fks.bindings IS 'What the constraint depended on when it was dropped (pg_depend: its table''s and the referenced table''s columns, the key''s index, functions and operators, by OID and identity): it is re-created only while those OIDs carry the same names, and must depend on exactly them once re-created.';
COMMENT ON COLUMN @extschema@.saved_fks.clone_names IS 'The names of the copies PostgreSQL made of it on partitions (table, referenced table, name): re-adding it makes them under names PostgreSQL picks, and they are renamed back.';
COMMENT ON COLUMN @extschema@.saved_fks.restored_valid IS 'After restore: true when validated, false when left NOT VALID (see restore_error).';

CREATE TABLE @extschema@.saved_indexes (
    job_id          bigint NOT NULL REFERENCES @extschema@.jobs,
    table_schema    text NOT NULL,
    table_name      text NOT NULL,
    index_name      text NOT NULL,
    definition      text NOT NULL,
    properties      jsonb NOT NULL DEFAULT '{}',
    constraint_name text,
    constraint_type text,
    dropped_at      timestamptz NOT NULL DEFAULT now(),
    restored_at     timestamptz,
    restore_error   text,
    bindings        jsonb,
    PRIMARY KEY (job_id, table_schema, index_name)
);
COMMENT ON COLUMN @extschema@.saved_indexes.bindings IS 'What the index depended on when it was dropped (pg_depend: each object''s catalog, OID and identity), read in the same transaction: it is re-created only while every one of those OIDs carries the same name, and must depend on exactly them once re-created, or its transaction rolls back.';
COMMENT ON COLUMN @extschema@.saved_indexes.properties IS 'What hangs on the index besides its definition (replica identity, CLUSTER ON, comment, statistics targets, tablespace): put back after the rebuild by statements pgcopy builds, never run as text.';
COMMENT ON TABLE @extschema@.saved_indexes IS 'Indexes a job dropped to load faster, saved in the same transaction as the drop (pg_get_indexdef text, run only once a parser proved it is that one index on that table).';

-- Who may write a job's rows: members of the role that created it. On a new
-- job, created_by is the current role whatever the INSERT says; afterwards it
-- never changes. plpgsql, because it must exist where the extension does not.
CREATE FUNCTION @extschema@.guard_job() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        NEW.created_by := (SELECT r.oid FROM pg_catalog.pg_roles r
                            WHERE r.rolname OPERATOR(pg_catalog.=) current_user);
    ELSE
        IF NOT pg_catalog.pg_has_role(current_user, OLD.created_by, 'MEMBER') THEN
            RAISE EXCEPTION 'permission denied: job % belongs to role %, and only its members may change it',
                OLD.job_id, pg_catalog.pg_get_userbyid(OLD.created_by)
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        NEW.created_by := OLD.created_by;
        NEW.job_id := OLD.job_id;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.guard_job() IS 'Trigger: stamps a new job with its creator and lets only members of that role change the job.';

CREATE TRIGGER guard_job BEFORE INSERT OR UPDATE ON @extschema@.jobs
    FOR EACH ROW EXECUTE FUNCTION @extschema@.guard_job();
ALTER TABLE @extschema@.jobs ENABLE ALWAYS TRIGGER guard_job;

CREATE FUNCTION @extschema@.guard_job_row() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    creator oid;
BEGIN
    IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND NEW.job_id OPERATOR(pg_catalog.<>) OLD.job_id THEN
        RAISE EXCEPTION 'a row of job % cannot move to another job', OLD.job_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT j.created_by INTO creator FROM @extschema@.jobs j WHERE j.job_id OPERATOR(pg_catalog.=) NEW.job_id;
    -- Fail closed: a job this transaction cannot see (not committed yet, or
    -- never) belongs to nobody who may be checked, and its rows would later
    -- pass for its creator's.
    IF creator IS NULL THEN
        RAISE EXCEPTION 'permission denied: job % is not visible to this transaction, and only the members of the role that created a job may write its %',
            NEW.job_id, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT pg_catalog.pg_has_role(current_user, creator, 'MEMBER') THEN
        RAISE EXCEPTION 'permission denied: job % belongs to role %, and only its members may write its %',
            NEW.job_id, pg_catalog.pg_get_userbyid(creator), TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.guard_job_row() IS 'Trigger: only members of the role that created a job may write its tables, chunks, workers, saved foreign keys and indexes; a row of a job this transaction cannot see is refused.';

CREATE TRIGGER guard_job_row BEFORE INSERT OR UPDATE ON @extschema@.job_tables
    FOR EACH ROW EXECUTE FUNCTION @extschema@.guard_job_row();
ALTER TABLE @extschema@.job_tables ENABLE ALWAYS TRIGGER guard_job_row;
CREATE TRIGGER guard_job_row BEFORE INSERT OR UPDATE ON @extschema@.job_chunks
    FOR EACH ROW EXECUTE FUNCTION @extschema@.guard_job_row();
ALTER TABLE @extschema@.job_chunks ENABLE ALWAYS TRIGGER guard_job_row;
CREATE TRIGGER guard_job_row BEFORE INSERT OR UPDATE ON @extschema@.job_workers
    FOR EACH ROW EXECUTE FUNCTION @extschema@.guard_job_row();
ALTER TABLE @extschema@.job_workers ENABLE ALWAYS TRIGGER guard_job_row;
CREATE TRIGGER guard_job_row BEFORE INSERT OR UPDATE ON @extschema@.saved_fks
    FOR EACH ROW EXECUTE FUNCTION @extschema@.guard_job_row();
ALTER TABLE @extschema@.saved_fks ENABLE ALWAYS TRIGGER guard_job_row;
CREATE TRIGGER guard_job_row BEFORE INSERT OR UPDATE ON @extschema@.saved_indexes
    FOR EACH ROW EXECUTE FUNCTION @extschema@.guard_job_row();
ALTER TABLE @extschema@.saved_indexes ENABLE ALWAYS TRIGGER guard_job_row;

CREATE FUNCTION @extschema@.job_is_stale(j @extschema@.jobs) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT j.state = 'running'
   AND (j.heartbeat_at < now() - interval '30 seconds'
        OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid = j.client_backend_pid))
$$;
COMMENT ON FUNCTION @extschema@.job_is_stale(@extschema@.jobs) IS 'A running job whose client is gone: its connection closed, or no heartbeat for 30 seconds.';

-- The one next step for a job in its state: the same sentence in status(),
-- the progress view, `pgcopy status`, `pgcopy restore-fks` and a copy that
-- finds the job in its way.
CREATE FUNCTION @extschema@.next_step(j @extschema@.jobs) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT CASE
         WHEN j.state IN ('succeeded', 'discarded') THEN NULL
         WHEN j.state = 'running' AND NOT @extschema@.job_is_stale(j)
           THEN 'wait: its client is running it now'
         ELSE 'continue it with `pgcopy copy --resume --job ' || j.job_id
              || '` (the same source and destination), or give it up with `pgcopy jobs discard '
              || j.job_id || '`, which puts back what it dropped and disabled'
       END
$$;
COMMENT ON FUNCTION @extschema@.next_step(@extschema@.jobs) IS 'The one next step for a job in its state (NULL when none): what every command and view says.';

-- Per table of a job: committed rows plus rows in flight, and progress measured
-- in chunks (a chunk in flight counts by its streamed bytes, at most 99% of its
-- share), so a finished table is exactly 100%.
CREATE FUNCTION @extschema@.table_progress(job bigint)
RETURNS TABLE (table_schema text, table_name text, state text, rows_copied bigint, est_rows bigint,
               est_bytes bigint, fraction float8, started_at timestamptz, finished_at timestamptz, error text)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT t.table_schema, t.table_name,
       CASE WHEN t.state = 'pending' AND (c.chunks_done > 0 OR coalesce(w.workers, 0) > 0) THEN 'copying'
            ELSE t.state END,
       c.rows_done + coalesce(w.rows_streamed, 0::bigint),
       t.est_rows, t.est_bytes,
       CASE WHEN t.state = 'done' THEN 1.0::float8
            ELSE (c.chunks_done::float8
                  + coalesce(least(w.bytes_streamed::float8 / greatest(t.est_bytes::float8 / t.chunk_count::float8, 1.0::float8),
                                   0.99::float8 * w.workers::float8), 0.0::float8))
                 / greatest(t.chunk_count, 1)::float8
       END,
       t.started_at, t.finished_at, t.error
  FROM @extschema@.job_tables t
  CROSS JOIN LATERAL (
        SELECT coalesce(sum(jc.rows_copied) FILTER (WHERE jc.state = 'done'), 0::numeric)::bigint AS rows_done,
               count(*) FILTER (WHERE jc.state = 'done') AS chunks_done
          FROM @extschema@.job_chunks jc
         WHERE jc.job_id = t.job_id AND jc.table_schema = t.table_schema AND jc.table_name = t.table_name) c
  LEFT JOIN LATERAL (
        SELECT sum(jw.rows_streamed)::bigint AS rows_streamed, sum(jw.bytes_streamed) AS bytes_streamed,
               count(*) AS workers
          -- rows in flight only while a client runs the job: a dead one's
          -- were never committed
          FROM @extschema@.job_workers jw JOIN @extschema@.jobs jj ON jj.job_id = jw.job_id AND jj.state = 'running'
                                                              AND NOT @extschema@.job_is_stale(jj)
         WHERE jw.job_id = t.job_id AND jw.table_schema = t.table_schema AND jw.table_name = t.table_name
           -- a chunk committed since the worker's last report is counted once
           AND NOT EXISTS (SELECT 1 FROM @extschema@.job_chunks d
                            WHERE d.job_id = jw.job_id AND d.table_schema = jw.table_schema
                              AND d.table_name = jw.table_name AND d.chunk_index = jw.chunk_index
                              AND d.state = 'done')) w ON true
 WHERE t.job_id = $1
$$;
COMMENT ON FUNCTION @extschema@.table_progress(bigint) IS 'Progress of each table of a job (used by status() and the progress view).';

CREATE VIEW @extschema@.progress AS
SELECT j.job_id,
       CASE WHEN @extschema@.job_is_stale(j) THEN 'stale' ELSE j.state END AS state,
       CASE WHEN j.state = 'running' THEN j.phase END AS phase,
       count(p.*) AS tables,
       count(p.*) FILTER (WHERE p.state = 'done') AS tables_done,
       coalesce(sum(p.est_rows), 0::numeric)::bigint AS est_rows,
       coalesce(sum(p.rows_copied), 0::numeric)::bigint AS rows_copied,
       round((100::float8 * coalesce(sum(p.fraction * greatest(p.est_bytes, 1::bigint)::float8)
                                     / nullif(sum(greatest(p.est_bytes, 1::bigint)::float8), 0::float8),
                                     CASE WHEN j.state = 'succeeded' THEN 1::float8 ELSE 0::float8 END))::numeric, 1) AS percent,
       round(coalesce(sum(p.rows_copied), 0::numeric)
             / nullif(extract(epoch FROM coalesce(j.finished_at, now()) - j.started_at), 0::numeric)) AS rows_per_second,
       CASE WHEN j.state = 'running' AND NOT @extschema@.job_is_stale(j)
                 AND sum(p.fraction * greatest(p.est_bytes, 1::bigint)::float8) > 0::float8
            THEN (now() - j.started_at)
                 * ((sum(greatest(p.est_bytes, 1::bigint)::float8) - sum(p.fraction * greatest(p.est_bytes, 1::bigint)::float8))
                    / sum(p.fraction * greatest(p.est_bytes, 1::bigint)::float8))
       END AS eta,
       j.started_at,
       j.finished_at,
       j.heartbeat_at,
       j.error,
       @extschema@.next_step(j) AS next_step
  FROM @extschema@.jobs j
  LEFT JOIN LATERAL @extschema@.table_progress(j.job_id) p ON true
 GROUP BY j.job_id;
COMMENT ON VIEW @extschema@.progress IS 'One row per job: percent of rows done, rows/s, ETA of the load; state stale when the client died while running; phase, while it runs, says which step of the copy it is in (after the load: indexes, sequences, analyze, foreign keys...).';

CREATE FUNCTION @extschema@.status(job bigint DEFAULT NULL)
RETURNS TABLE (job_id bigint, job_state text, job_phase text, table_name text, state text, rows_copied bigint,
               est_rows bigint, percent numeric, rows_per_second numeric, eta interval, error text,
               next_step text)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT j.job_id,
       CASE WHEN @extschema@.job_is_stale(j) THEN 'stale' ELSE j.state END,
       CASE WHEN j.state = 'running' THEN j.phase END,
       p.table_schema || '.' || p.table_name,
       p.state,
       p.rows_copied,
       p.est_rows,
       round((100::float8 * p.fraction)::numeric, 1),
       round(p.rows_copied::numeric / nullif(extract(epoch FROM coalesce(p.finished_at, now()) - p.started_at), 0::numeric)),
       CASE WHEN p.state <> 'done' AND p.fraction > 0::float8 AND j.state = 'running'
                 AND NOT @extschema@.job_is_stale(j)
            THEN (now() - p.started_at) * ((1::float8 - p.fraction) / p.fraction)
       END,
       p.error,
       @extschema@.next_step(j)
  FROM @extschema@.jobs j
  CROSS JOIN LATERAL @extschema@.table_progress(j.job_id) p
 WHERE j.job_id = coalesce($1, (SELECT max(jj.job_id) FROM @extschema@.jobs jj
                                   WHERE jj.created_by = (SELECT r.oid FROM pg_catalog.pg_roles r
                                                           WHERE r.rolname = current_user)))
 ORDER BY p.state = 'done', p.table_schema, p.table_name
$$;
COMMENT ON FUNCTION @extschema@.status(bigint) IS 'Per table of a job (when NULL, the latest the calling role created itself; another role''s needs its number): state (copying while its chunks load), rows copied of estimated, percent, rate, ETA (none once the client died), error, and the job''s one next step. job_state is stale when the client died; job_phase says which step a running job is in.';

CREATE VIEW @extschema@.pending_fks AS
SELECT job_id, table_schema, table_name, constraint_name, definition, was_validated,
       dropped_at, restore_error
  FROM @extschema@.saved_fks
 WHERE restored_at IS NULL;
COMMENT ON VIEW @extschema@.pending_fks IS 'Foreign keys dropped by a job and not restored yet: restore with SELECT * FROM pgcopy.restore_fks().';

CREATE FUNCTION @extschema@.schema_version() RETURNS integer
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS 'SELECT 5';
COMMENT ON FUNCTION @extschema@.schema_version() IS 'Version of the pgcopy state schema; the CLI refuses a version it does not know.';
