-- Saved foreign keys and checks still to restore (not back, or back and
-- waiting for validation), of job $1 or of all jobs when $1 is NULL.
SELECT job_id, table_schema, table_name, constraint_name, definition, was_validated,
       referenced_schema, referenced_table, constraint_type, comment, bindings, clone_names
  FROM @extschema@.saved_fks
 WHERE ($1::bigint IS NULL OR job_id = $1)
   AND (restored_at IS NULL OR (was_validated AND restored_valid IS NOT TRUE))
 ORDER BY job_id, table_schema, table_name, constraint_name
