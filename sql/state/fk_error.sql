-- Why a saved constraint could not be restored: $1 job, $2 schema, $3 table,
-- $4 name (the keys of mark_fk.sql), $5 the error.
UPDATE @extschema@.saved_fks SET restore_error = $5
 WHERE job_id = $1 AND table_schema = $2 AND table_name = $3 AND constraint_name = $4
