-- Takes job $1 up again: running, with snapshot $2, from client process $3
-- of pgcopy version $4.
UPDATE @extschema@.jobs
   SET state = 'running', snapshot = $2, error = NULL, finished_at = NULL,
       heartbeat_at = now(), client_pid = $3, client_backend_pid = pg_catalog.pg_backend_pid(),
       client_version = $4, phase = 'setup'
 WHERE job_id = $1
