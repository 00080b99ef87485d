-- Of the roles $1, those that exist and that this role is a member of
-- (may act as).
SELECT r FROM unnest($1::pg_catalog.text[]) AS r
 WHERE CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles o
                          WHERE o.rolname OPERATOR(pg_catalog.=) r)
            THEN pg_catalog.pg_has_role(r::pg_catalog.name, 'MEMBER') END
