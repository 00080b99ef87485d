-- Saved foreign keys not restored yet, from any job but those in $1
-- (int8[]), that the job's creator may put back: the table exists and the
-- creator may act as its owner. A row nobody may restore (another role's,
-- on a table it does not own) does not hold up other roles' copies.
SELECT count(*)
  FROM @extschema@.saved_fks s JOIN @extschema@.jobs j ON j.job_id = s.job_id
 WHERE s.restored_at IS NULL AND s.job_id <> ALL ($1::int8[])
   AND EXISTS (SELECT 1 FROM pg_catalog.pg_class t
                WHERE t.oid = pg_catalog.to_regclass(pg_catalog.quote_ident(s.table_schema) || '.' ||
                                                    pg_catalog.quote_ident(s.table_name))
                  AND pg_catalog.pg_has_role(j.created_by, t.relowner, 'MEMBER'))
