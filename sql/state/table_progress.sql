-- The progress of each of job $1's tables.
SELECT table_name, state, rows_copied, est_rows, percent::float8, rows_per_second::float8,
       pg_catalog.date_trunc('second', eta)::text, error
  FROM @extschema@.status($1)
