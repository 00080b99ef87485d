-- Whether any of the tables the load truncates first may hold rows: $1 their
-- quoted names, $2 whether each is truncated ONLY (else it is a partitioned
-- table truncated whole, down to its leaves). Read in the transaction that
-- would truncate them.
--
-- A plain table with no pages holds no rows, and truncating it is not free
-- (new files for the table, its TOAST table and every index): a first load
-- into a new schema skips it. Anything else (a foreign table, pages holding
-- only dead rows) counts as holding rows.
SELECT NOT coalesce(bool_and(c.relkind = 'r' AND pg_catalog.pg_relation_size(c.oid) = 0), true)
  FROM unnest($1::text[], $2::bool[]) AS t(name, only_table)
 CROSS JOIN LATERAL (
       SELECT t.name::regclass WHERE t.only_table
       UNION ALL
       -- pg_partition_tree lists nothing for a plain table
       SELECT c.oid FROM pg_catalog.pg_class c
        WHERE c.oid = t.name::regclass AND c.relkind <> 'p' AND NOT t.only_table
       UNION ALL
       SELECT pt.relid FROM pg_catalog.pg_partition_tree(t.name::regclass) pt
        WHERE pt.isleaf AND NOT t.only_table) AS r(relid)
  JOIN pg_catalog.pg_class c ON c.oid = r.relid
