-- Job $1 ends in state $2 with error $3 (NULL: none); its workers' rows no
-- longer show a table.
WITH workers AS (
     UPDATE @extschema@.job_workers
        SET rows_streamed = 0, bytes_streamed = 0, table_schema = NULL, table_name = NULL,
            chunk_index = NULL
      WHERE job_id = $1)
UPDATE @extschema@.jobs
   SET state = $2, error = $3, finished_at = now(), heartbeat_at = now()
 WHERE job_id = $1
