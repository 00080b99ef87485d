-- What re-enabling a table's triggers needs: $1 the job, $2 the table's
-- schema, $3 its name. One row (none when the table is gone) of the
-- authority columns (authority_columns.sql).
SELECT @authority_columns@
  FROM pg_catalog.pg_class t
  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
  LEFT JOIN @extschema@.jobs j ON j.job_id = $1
 WHERE n.nspname = $2 AND t.relname = $3 AND t.relkind IN ('r', 'p')
