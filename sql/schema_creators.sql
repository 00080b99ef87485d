-- For each schema $1 names (in order): whether it exists, whether every
-- role may create in it (PUBLIC), and the roles other than superusers
-- that may (owners included, through membership too).
SELECT s.name, n.oid IS NOT NULL,
       coalesce((SELECT bool_or(a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid)
                   FROM pg_catalog.aclexplode(n.nspacl) a
                  WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'), false),
       coalesce((SELECT pg_catalog.array_agg(r.rolname::pg_catalog.text ORDER BY r.rolname)
                   FROM pg_catalog.pg_roles r
                  WHERE NOT r.rolsuper AND r.rolname OPERATOR(pg_catalog.<>) 'pg_database_owner'
                    AND pg_catalog.has_schema_privilege(r.oid, n.oid, 'CREATE')), '{}')
  FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS s(name, i)
  LEFT JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) s.name
 ORDER BY s.i
