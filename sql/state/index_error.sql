-- Why a saved index could not be rebuilt: $1 job, $2 schema, $3 index name,
-- $4 the error.
UPDATE @extschema@.saved_indexes SET restore_error = $4
 WHERE job_id = $1 AND table_schema = $2 AND index_name = $3
