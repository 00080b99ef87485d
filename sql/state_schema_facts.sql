-- What the destination has under the state schema's name $1, and what
-- this role may do there: whether it is present, the extension's version
-- there, whether it has schema_version(), whether this role may create
-- schemas and use this one, its owner and whether that is a superuser or
-- this role, whether another role may create objects in it, and the
-- extension's owner when neither a superuser nor this role.
SELECT n.oid IS NOT NULL AS present,
       (SELECT e.extversion FROM pg_catalog.pg_extension e
         WHERE e.extname = 'pgcopy' AND e.extnamespace = n.oid) AS ext_version,
       EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
                WHERE p.pronamespace = n.oid AND p.proname = 'schema_version'
                  AND p.pronargs = 0) AS has_version,
       pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE') AS may_create,
       pg_catalog.has_schema_privilege(n.oid, 'USAGE') AS may_use,
       pg_catalog.pg_get_userbyid(n.nspowner) AS owner,
       coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = n.nspowner), false)
           AS owner_is_superuser,
       pg_catalog.pg_get_userbyid(n.nspowner) = current_user AS mine,
       EXISTS (SELECT 1 FROM pg_catalog.aclexplode(n.nspacl) a
                WHERE a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner) AS others_create,
       (SELECT pg_catalog.pg_get_userbyid(e.extowner)::text
          FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_roles r ON r.oid = e.extowner
         WHERE e.extname = 'pgcopy' AND e.extnamespace = n.oid
           AND NOT r.rolsuper AND r.rolname <> current_user) AS droppable_by
  FROM (SELECT $1::text AS name) s
  LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = s.name
