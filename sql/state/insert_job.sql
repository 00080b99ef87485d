-- A new running job: $1 source (redacted), $2 destination, $3 options
-- (jsonb), $4 FK strategy, $5 snapshot, $6 client host, $7 client pid,
-- $8 pgcopy's version, $9 the plan (jsonb). Returns its id.
INSERT INTO @extschema@.jobs (state, source, destination, options, fk_strategy, snapshot,
                              client_host, client_pid, client_version, plan, started_at,
                              heartbeat_at, client_backend_pid, phase)
VALUES ('running', $1, $2, $3, $4, $5, $6, $7, $8, $9, now(), now(),
        pg_catalog.pg_backend_pid(), 'setup')
RETURNING job_id
