-- How many of job $1's saved foreign keys and indexes are not restored yet,
-- and of the triggers it lists as disabled, that its creator may put back
-- (as in pending_fk_count.sql). 0 when there is no such job.
SELECT count(*)
  FROM @extschema@.jobs j
 CROSS JOIN LATERAL (
       SELECT s.table_schema, s.table_name FROM @extschema@.saved_fks s
        WHERE s.job_id = j.job_id AND s.restored_at IS NULL
       UNION ALL
       SELECT s.table_schema, s.table_name FROM @extschema@.saved_indexes s
        WHERE s.job_id = j.job_id AND s.restored_at IS NULL
       UNION ALL
       SELECT e ->> 'schema', e ->> 'name'
         FROM pg_catalog.jsonb_array_elements(coalesce(j.disabled_triggers, '[]')) e
        WHERE pg_catalog.jsonb_typeof(e) = 'object') AS left_behind(table_schema, table_name)
 WHERE j.job_id = $1
   AND EXISTS (SELECT 1 FROM pg_catalog.pg_class t
                WHERE t.oid = pg_catalog.to_regclass(pg_catalog.quote_ident(left_behind.table_schema) || '.' ||
                                                    pg_catalog.quote_ident(left_behind.table_name))
                  AND pg_catalog.pg_has_role(j.created_by, t.relowner, 'MEMBER'))
