-- Chunks of job $1 already committed, with their rows and bytes.
SELECT table_schema, table_name, chunk_index, rows_copied, bytes_copied
  FROM @extschema@.job_chunks
 WHERE job_id = $1 AND state = 'done'
