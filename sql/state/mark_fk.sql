-- A saved constraint is back: $1 job, $2 schema, $3 table, $4 name,
-- $5 whether it is validated, $6 why not (NULL clears the error).
UPDATE @extschema@.saved_fks
   SET restored_at = coalesce(restored_at, now()), restored_valid = $5, restore_error = $6
 WHERE job_id = $1 AND table_schema = $2 AND table_name = $3 AND constraint_name = $4
