-- The objects of kind and name in $2/$3 (kinds as NameKind::as_str)
-- that the schemas $1 hold: (schema, kind, name).
SELECT n.nspname::pg_catalog.text, x.kind, x.name
  FROM (SELECT pronamespace, 'function', proname::pg_catalog.text FROM pg_catalog.pg_proc
        UNION ALL SELECT oprnamespace, 'operator', oprname::pg_catalog.text FROM pg_catalog.pg_operator
        UNION ALL SELECT typnamespace, 'type', typname::pg_catalog.text FROM pg_catalog.pg_type
        UNION ALL SELECT relnamespace, 'table', relname::pg_catalog.text FROM pg_catalog.pg_class
        UNION ALL SELECT collnamespace, 'collation', collname::pg_catalog.text FROM pg_catalog.pg_collation
       ) AS x(ns, kind, name)
  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) x.ns
  JOIN ROWS FROM (pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[]))
       AS w(kind, name)
    ON w.kind OPERATOR(pg_catalog.=) x.kind AND w.name OPERATOR(pg_catalog.=) x.name
 WHERE n.nspname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
