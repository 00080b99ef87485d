-- On the source: how many large objects this role may not read (without
-- lo_compat_privileges, neither owner nor granted SELECT, itself or
-- through PUBLIC), and the roles any object grants something to.
SELECT count(*) FILTER (WHERE NOT pg_catalog.current_setting('lo_compat_privileges')::bool
                          AND NOT pg_catalog.pg_has_role(m.lomowner, 'USAGE')
                          AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(m.lomacl) a
                                           WHERE a.privilege_type = 'SELECT'
                                             AND (a.grantee = 0
                                                  OR pg_catalog.pg_has_role(a.grantee, 'USAGE')))),
       coalesce((SELECT pg_catalog.array_agg(DISTINCT pg_catalog.pg_get_userbyid(a.grantee)::text)
                   FROM pg_catalog.pg_largeobject_metadata g, pg_catalog.aclexplode(g.lomacl) a
                  WHERE a.grantee <> 0), '{}')
  FROM pg_catalog.pg_largeobject_metadata m
