-- A saved index is rebuilt: $1 job, $2 schema, $3 index name.
UPDATE @extschema@.saved_indexes SET restored_at = now(), restore_error = NULL
 WHERE job_id = $1 AND table_schema = $2 AND index_name = $3
