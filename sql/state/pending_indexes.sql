-- Saved indexes still to rebuild, of job $1 (all when NULL): job_id,
-- table_schema, table_name, index_name, definition, properties, level,
-- bindings. level is 0 for an index on a plain table and, for a partitioned
-- table's (whose definition attaches its partitions' indexes), the table's
-- depth in its partition tree. In rebuild order: level 0 first, then the
-- deepest partitioned tables' up to the roots'; a table's unique indexes
-- oldest first (unique_rank).
SELECT *
  FROM (SELECT s.job_id, s.table_schema, s.table_name, s.index_name, s.definition, s.properties,
               CASE WHEN c.relkind = 'p'
                    THEN (SELECT count(*) FROM pg_catalog.pg_partition_ancestors(c.oid))::int
                    ELSE 0 END AS level,
               s.bindings
          FROM @extschema@.saved_indexes s
          LEFT JOIN pg_catalog.pg_class c
            ON c.oid = pg_catalog.to_regclass(pg_catalog.quote_ident(s.table_schema) || '.' ||
                                              pg_catalog.quote_ident(s.table_name))
         WHERE ($1::bigint IS NULL OR s.job_id = $1) AND s.restored_at IS NULL) pending
 ORDER BY job_id, level = 0 DESC, level DESC, table_schema, table_name,
          (properties ->> 'unique_rank')::int NULLS LAST, index_name
