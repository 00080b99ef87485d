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
                    CHECK (state IN ('planned', 'running', 'succeeded', 'failed', 'interrupted')),
    source          text NOT NULL,
    destination     text NOT NULL,
    options         jsonb NOT NULL DEFAULT '{}',
    fk_strategy     text CHECK (fk_strategy IN ('replica', 'drop')),
    snapshot        text,
    client_host     text,
    client_pid      integer,
    client_version  text,
    plan            jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    heartbeat_at    timestamptz,
    error           text
);
COMMENT ON TABLE jobs IS 'One row per pgcopy run against this database.';
COMMENT ON COLUMN jobs.state IS 'planned, running, succeeded, failed or interrupted.';
COMMENT ON COLUMN jobs.source IS 'Source connection, password removed.';
COMMENT ON COLUMN jobs.destination IS 'Destination connection, password removed.';
COMMENT ON COLUMN jobs.options IS 'Command-line options of the run.';
COMMENT ON COLUMN jobs.fk_strategy IS 'replica: FK triggers disabled by session_replication_role; drop: FKs saved, dropped and restored.';
COMMENT ON COLUMN jobs.snapshot IS 'Source snapshot all tables were read from (pg_export_snapshot).';
COMMENT ON COLUMN jobs.plan IS 'The plan the run followed (tables, chunks, FKs), as JSON.';
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

CREATE VIEW progress AS
SELECT j.job_id,
       j.state,
       (j.state = 'running' AND j.heartbeat_at < now() - interval '30 seconds') AS stale,
       t.tables,
       t.tables_done,
       t.est_rows,
       c.rows_copied + coalesce(w.rows_streamed, 0) AS rows_copied,
       c.bytes_copied + coalesce(w.bytes_streamed, 0) AS bytes_copied,
       CASE WHEN t.est_bytes > 0
            THEN round(least(100, 100.0 * (c.bytes_copied + coalesce(w.bytes_streamed, 0)) / t.est_bytes), 1)
       END AS percent,
       round((c.rows_copied + coalesce(w.rows_streamed, 0))
             / greatest(extract(epoch FROM coalesce(j.finished_at, now()) - j.started_at), 0.001)) AS rows_per_second,
       round((c.bytes_copied + coalesce(w.bytes_streamed, 0)) / 1048576.0
             / greatest(extract(epoch FROM coalesce(j.finished_at, now()) - j.started_at), 0.001), 1) AS mb_per_second,
       CASE WHEN j.state = 'running' AND c.bytes_copied + coalesce(w.bytes_streamed, 0) > 0 AND t.est_bytes > 0
            THEN (coalesce(j.finished_at, now()) - j.started_at)
                 * (greatest(t.est_bytes - c.bytes_copied - coalesce(w.bytes_streamed, 0), 0)::float8
                    / (c.bytes_copied + coalesce(w.bytes_streamed, 0)))
       END AS eta,
       j.started_at,
       j.finished_at,
       j.heartbeat_at,
       j.error
  FROM jobs j
  CROSS JOIN LATERAL (
        SELECT count(*) AS tables,
               count(*) FILTER (WHERE jt.state = 'done') AS tables_done,
               coalesce(sum(jt.est_rows), 0) AS est_rows,
               coalesce(sum(jt.est_bytes), 0) AS est_bytes
          FROM job_tables jt WHERE jt.job_id = j.job_id) t
  CROSS JOIN LATERAL (
        SELECT coalesce(sum(jc.rows_copied), 0) AS rows_copied,
               coalesce(sum(jc.bytes_copied), 0) AS bytes_copied
          FROM job_chunks jc WHERE jc.job_id = j.job_id AND jc.state = 'done') c
  LEFT JOIN LATERAL (
        SELECT sum(jw.rows_streamed) AS rows_streamed, sum(jw.bytes_streamed) AS bytes_streamed
          FROM job_workers jw WHERE jw.job_id = j.job_id AND j.state = 'running') w ON true;
COMMENT ON VIEW progress IS 'One row per job: percent done, rows/s, MB/s, ETA; stale when the client stopped sending heartbeats.';

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
