-- A table's state: $1 job, $2 schema, $3 table, $4 state, $5 error (NULL
-- keeps the one recorded).
UPDATE @extschema@.job_tables
   SET state = $4, error = coalesce($5, error),
       started_at = coalesce(started_at, now()),
       finished_at = CASE WHEN $4 IN ('done', 'failed') THEN now() END
 WHERE job_id = $1 AND table_schema = $2 AND table_name = $3
