-- The progress of job $1, else of the latest job this role ran.
SELECT job_id, state, tables, tables_done, est_rows, rows_copied, percent::float8,
       rows_per_second::float8,
       pg_catalog.date_trunc('second', eta)::text, error, phase, next_step
  FROM @extschema@.progress
 WHERE job_id = coalesce($1, (SELECT max(j.job_id) FROM @extschema@.jobs j
                               WHERE pg_catalog.pg_get_userbyid(j.created_by) = current_user))
