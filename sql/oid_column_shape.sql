-- On the source: how column $2 of the table of OID $1 holds a reg*
-- type: its type (domains unwrapped) and, for an array, its element's
-- name. A composite or range that holds one is neither (its values are
-- checked by the load itself, which fails loudly).
WITH RECURSIVE d(oid) AS (
    SELECT a.atttypid FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) $1::pg_catalog.oid AND a.attname OPERATOR(pg_catalog.=) $2
    UNION ALL
    SELECT t.typbasetype FROM d JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) d.oid
     WHERE t.typtype OPERATOR(pg_catalog.=) 'd')
SELECT t.typname::pg_catalog.text, coalesce(e.typname::pg_catalog.text, '')
  FROM d JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) d.oid
       AND t.typtype OPERATOR(pg_catalog.<>) 'd'
  LEFT JOIN pg_catalog.pg_type e ON e.oid OPERATOR(pg_catalog.=) t.typelem
       AND t.typcategory OPERATOR(pg_catalog.=) 'A'
