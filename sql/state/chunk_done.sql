-- Whether a chunk ($1 job, $2 schema, $3 table, $4 chunk) is marked done
-- (its transaction committed), with its rows and bytes: read when a
-- COMMIT's answer was lost.
SELECT rows_copied, bytes_copied
  FROM @extschema@.job_chunks
 WHERE job_id = $1 AND table_schema = $2 AND table_name = $3 AND chunk_index = $4
   AND state = 'done'
