-- What a saved index's restore needs: $1 the job, $2 the table's schema,
-- $3 its name, $4 the index's name, $5 the tablespace its saved properties
-- name (NULL: the default). One row (none when the table is gone) of
-- whether the index exists on that table (one of that name on another table
-- is not it), whether a PRIMARY KEY or UNIQUE constraint of the table uses
-- it, whether the table's owner may create objects in that tablespace, then
-- the authority columns (authority_columns.sql).
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class i JOIN pg_catalog.pg_index x ON x.indexrelid = i.oid
                WHERE i.relnamespace = t.relnamespace AND i.relname = $4 AND x.indrelid = t.oid),
       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                 JOIN pg_catalog.pg_class i ON i.oid = c.conindid
                WHERE c.conrelid = t.oid AND c.contype IN ('p', 'u') AND i.relname = $4),
       $5::pg_catalog.text IS NULL
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_tablespace ts
                   WHERE ts.spcname = $5::pg_catalog.text
                     AND pg_catalog.has_tablespace_privilege(t.relowner, ts.oid, 'CREATE')),
       @authority_columns@
  FROM pg_catalog.pg_class t
  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
  LEFT JOIN @extschema@.jobs j ON j.job_id = $1
 WHERE n.nspname = $2 AND t.relname = $3 AND t.relkind IN ('r', 'p')
