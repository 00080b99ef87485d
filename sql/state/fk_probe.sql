-- What the destination has now for a saved constraint: $1 its name, $2 the
-- job, $3 its table, $4 the referenced table (quoted qualified names). One
-- row (none when the table is gone) of its definition, whether it is
-- validated, whether either table is partitioned, then the authority
-- columns (authority_columns.sql).
SELECT pg_catalog.pg_get_constraintdef(c.oid), c.convalidated,
       t.relkind = 'p' OR EXISTS (SELECT 1 FROM pg_catalog.pg_class r
                                   WHERE r.oid = pg_catalog.to_regclass($4) AND r.relkind = 'p'),
       @authority_columns@
  FROM pg_catalog.pg_class t
  LEFT JOIN pg_catalog.pg_constraint c ON c.conrelid = t.oid AND c.conname = $1
  LEFT JOIN @extschema@.jobs j ON j.job_id = $2
 WHERE t.oid = pg_catalog.to_regclass($3)
