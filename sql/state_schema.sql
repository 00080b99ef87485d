-- pgcopy state schema, version 1.
--
-- The one source of truth for the schema pgcopy keeps on the destination: the
-- extension embeds this file, and the CLI runs it (inside
-- `SET LOCAL search_path = <state schema>`) where the extension cannot be
-- installed. Names are therefore left unqualified; functions pin their
-- search_path at creation with `SET search_path FROM CURRENT`.

CREATE TABLE jobs (
    job_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state           text NOT NULL DEFAULT 'planned'
                    CHECK (state IN ('planned', 'running', 'succeeded', 'failed', 'interrupted', 'discarded')),
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
    error           text
);
COMMENT ON TABLE jobs IS 'One row per pgcopy run against this database.';
COMMENT ON COLUMN jobs.state IS 'planned, running, succeeded, failed, interrupted, or discarded (given up with pgcopy jobs discard).';
COMMENT ON COLUMN jobs.truncated_at IS 'When the tables truncated up front were truncated (same transaction): a resumed job never truncates again.';
COMMENT ON COLUMN jobs.fks_dropped_at IS 'When the job saved and dropped its foreign keys (same transaction).';
COMMENT ON COLUMN jobs.disabled_triggers IS 'Triggers the job disabled and has not put back yet, each with its table and the mode it returns to (set in the transaction that disables them).';
COMMENT ON COLUMN jobs.source IS 'Source connection, password removed.';
COMMENT ON COLUMN jobs.destination IS 'Destination connection, password removed.';
COMMENT ON COLUMN jobs.options IS 'Command-line options of the run.';
COMMENT ON COLUMN jobs.fk_strategy IS 'replica: FK triggers disabled by session_replication_role; drop: FKs saved, dropped and restored.';
COMMENT ON COLUMN jobs.snapshot IS 'Source snapshot all tables were read from (pg_export_snapshot).';
COMMENT ON COLUMN jobs.plan IS 'The plan the run followed (tables, chunks, FKs), as JSON.';
COMMENT ON COLUMN jobs.client_backend_pid IS 'Backend pid of the client''s coordinator connection here: when it is gone while the job is running, the client died.';
COMMENT ON COLUMN jobs.heartbeat_at IS 'Updated every few seconds while the client runs; a running job with an old heartbeat is stale (the client died).';

CREATE TABLE job_tables (
    job_id          bigint NOT NULL REFERENCES jobs ON DELETE CASCADE,
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
COMMENT ON TABLE job_tables IS 'Tables of each job, with their estimates and state; rows copied are in job_chunks.';
COMMENT ON COLUMN job_tables.partition_of IS 'The top partitioned table, when this is a partition.';

CREATE TABLE job_chunks (
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
    FOREIGN KEY (job_id, table_schema, table_name) REFERENCES job_tables ON DELETE CASCADE
);
COMMENT ON TABLE job_chunks IS 'Chunks (ctid page ranges) of each table. A chunk is marked done in the same transaction that commits its rows, so done chunks are exactly the rows present.';
COMMENT ON COLUMN job_chunks.start_page IS 'First heap page (NULL: from the start).';
COMMENT ON COLUMN job_chunks.end_page IS 'Page after the last (NULL: to the end).';

CREATE TABLE job_workers (
    job_id          bigint NOT NULL REFERENCES jobs ON DELETE CASCADE,
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
COMMENT ON TABLE job_workers IS 'Live view of each worker: the chunk it streams now and the rows sent so far (not yet committed).';

CREATE TABLE saved_fks (
    job_id          bigint NOT NULL REFERENCES jobs,
    table_schema    text NOT NULL,
    table_name      text NOT NULL,
    constraint_name text NOT NULL,
    referenced_schema text NOT NULL,
    referenced_table text NOT NULL,
    definition      text NOT NULL,
    was_validated   boolean NOT NULL,
    dropped_at      timestamptz NOT NULL DEFAULT now(),
    restored_at     timestamptz,
    restored_valid  boolean,
    restore_error   text,
    PRIMARY KEY (job_id, table_schema, table_name, constraint_name)
);
COMMENT ON TABLE saved_fks IS 'Every foreign key a job dropped, saved in the same transaction as the drop. Restore with pgcopy.restore_fks() or pgcopy restore-fks.';
COMMENT ON COLUMN saved_fks.definition IS 'pg_get_constraintdef() text: ALTER TABLE ... ADD CONSTRAINT name <definition> re-creates it.';
COMMENT ON COLUMN saved_fks.was_validated IS 'Whether it was validated before the drop; a NOT VALID constraint is restored NOT VALID.';
COMMENT ON COLUMN saved_fks.restored_valid IS 'After restore: true when validated, false when left NOT VALID (see restore_error).';

CREATE TABLE saved_indexes (
    job_id          bigint NOT NULL REFERENCES jobs,
    table_schema    text NOT NULL,
    table_name      text NOT NULL,
    index_name      text NOT NULL,
    definition      text NOT NULL,
    constraint_name text,
    constraint_type text,
    dropped_at      timestamptz NOT NULL DEFAULT now(),
    restored_at     timestamptz,
    restore_error   text,
    PRIMARY KEY (job_id, table_schema, index_name)
);
COMMENT ON TABLE saved_indexes IS 'Indexes a job dropped to load faster, saved in the same transaction as the drop (pg_get_indexdef text).';

-- Per table of a job: committed rows plus rows in flight, and progress measured
-- in chunks (a chunk in flight counts by its streamed bytes, at most 99% of its
-- share), so a finished table is exactly 100%.
CREATE FUNCTION table_progress(job bigint)
RETURNS TABLE (table_schema text, table_name text, state text, rows_copied bigint, est_rows bigint,
               est_bytes bigint, fraction float8, started_at timestamptz, finished_at timestamptz, error text)
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
AS $$
SELECT t.table_schema, t.table_name, t.state,
       c.rows_done + coalesce(w.rows_streamed, 0),
       t.est_rows, t.est_bytes,
       CASE WHEN t.state = 'done' THEN 1.0
            ELSE (c.chunks_done
                  + coalesce(least(w.bytes_streamed::float8 / greatest(t.est_bytes / t.chunk_count, 1), 0.99 * w.workers), 0))
                 / greatest(t.chunk_count, 1)
       END,
       t.started_at, t.finished_at, t.error
  FROM job_tables t
  CROSS JOIN LATERAL (
        SELECT coalesce(sum(jc.rows_copied) FILTER (WHERE jc.state = 'done'), 0)::bigint AS rows_done,
               count(*) FILTER (WHERE jc.state = 'done') AS chunks_done
          FROM job_chunks jc
         WHERE jc.job_id = t.job_id AND jc.table_schema = t.table_schema AND jc.table_name = t.table_name) c
  LEFT JOIN LATERAL (
        SELECT sum(jw.rows_streamed)::bigint AS rows_streamed, sum(jw.bytes_streamed) AS bytes_streamed,
               count(*) AS workers
          FROM job_workers jw JOIN jobs jj ON jj.job_id = jw.job_id AND jj.state = 'running'
         WHERE jw.job_id = t.job_id AND jw.table_schema = t.table_schema AND jw.table_name = t.table_name
           -- a chunk committed since the worker's last report is counted once
           AND NOT EXISTS (SELECT 1 FROM job_chunks d
                            WHERE d.job_id = jw.job_id AND d.table_schema = jw.table_schema
                              AND d.table_name = jw.table_name AND d.chunk_index = jw.chunk_index
                              AND d.state = 'done')) w ON true
 WHERE t.job_id = $1
$$;
COMMENT ON FUNCTION table_progress(bigint) IS 'Progress of each table of a job (used by status() and the progress view).';

CREATE FUNCTION job_is_stale(j jobs) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
AS $$
SELECT j.state = 'running'
   AND (j.heartbeat_at < now() - interval '30 seconds'
        OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid = j.client_backend_pid))
$$;
COMMENT ON FUNCTION job_is_stale(jobs) IS 'A running job whose client is gone: its connection closed, or no heartbeat for 30 seconds.';

CREATE VIEW progress AS
SELECT j.job_id,
       CASE WHEN job_is_stale(j) THEN 'stale' ELSE j.state END AS state,
       count(p.*) AS tables,
       count(p.*) FILTER (WHERE p.state = 'done') AS tables_done,
       coalesce(sum(p.est_rows), 0)::bigint AS est_rows,
       coalesce(sum(p.rows_copied), 0)::bigint AS rows_copied,
       round((100 * coalesce(sum(p.fraction * greatest(p.est_bytes, 1)) / nullif(sum(greatest(p.est_bytes, 1)), 0),
                             CASE WHEN j.state = 'succeeded' THEN 1 ELSE 0 END))::numeric, 1) AS percent,
       round(coalesce(sum(p.rows_copied), 0)
             / greatest(extract(epoch FROM coalesce(j.finished_at, now()) - j.started_at), 0.001)) AS rows_per_second,
       CASE WHEN j.state = 'running' AND sum(p.fraction * greatest(p.est_bytes, 1)) > 0
            THEN (now() - j.started_at)
                 * ((sum(greatest(p.est_bytes, 1)) - sum(p.fraction * greatest(p.est_bytes, 1)))
                    / sum(p.fraction * greatest(p.est_bytes, 1)))
       END AS eta,
       j.started_at,
       j.finished_at,
       j.heartbeat_at,
       j.error
  FROM jobs j
  LEFT JOIN LATERAL table_progress(j.job_id) p ON true
 GROUP BY j.job_id;
COMMENT ON VIEW progress IS 'One row per job: percent done, rows/s, ETA; state stale when the client died while running.';

CREATE FUNCTION status(job bigint DEFAULT NULL)
RETURNS TABLE (job_id bigint, job_state text, table_name text, state text, rows_copied bigint,
               est_rows bigint, percent numeric, rows_per_second numeric, eta interval, error text)
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
AS $$
SELECT j.job_id,
       CASE WHEN job_is_stale(j) THEN 'stale' ELSE j.state END,
       p.table_schema || '.' || p.table_name,
       p.state,
       p.rows_copied,
       p.est_rows,
       round((100 * p.fraction)::numeric, 1),
       round(p.rows_copied / greatest(extract(epoch FROM coalesce(p.finished_at, now()) - p.started_at), 0.001)),
       CASE WHEN p.state <> 'done' AND p.fraction > 0 AND j.state = 'running'
            THEN (now() - p.started_at) * ((1 - p.fraction) / p.fraction)
       END,
       p.error
  FROM jobs j
  CROSS JOIN LATERAL table_progress(j.job_id) p
 WHERE j.job_id = coalesce($1, (SELECT max(jj.job_id) FROM jobs jj))
 ORDER BY p.state = 'done', p.table_schema, p.table_name
$$;
COMMENT ON FUNCTION status(bigint) IS 'Per table of a job (the latest when NULL): state, rows copied of estimated, percent, rate, ETA, error. job_state is stale when the client died.';

CREATE VIEW pending_fks AS
SELECT job_id, table_schema, table_name, constraint_name, definition, was_validated,
       dropped_at, restore_error
  FROM saved_fks
 WHERE restored_at IS NULL;
COMMENT ON VIEW pending_fks IS 'Foreign keys dropped by a job and not restored yet: restore with SELECT * FROM pgcopy.restore_fks().';

CREATE FUNCTION schema_version() RETURNS integer
    LANGUAGE sql IMMUTABLE
    AS 'SELECT 1';
COMMENT ON FUNCTION schema_version() IS 'Version of the pgcopy state schema; the CLI refuses a version it does not know.';
