-- A chunk ($1 job, $2 schema, $3 table, $4 chunk) failed with error $5
-- (outside the failed transaction); a chunk done meanwhile stays done.
UPDATE @extschema@.job_chunks SET state = 'failed', attempts = attempts + 1, error = $5
 WHERE job_id = $1 AND table_schema = $2 AND table_name = $3 AND chunk_index = $4
   AND state <> 'done'
