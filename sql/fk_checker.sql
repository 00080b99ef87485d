-- The role a foreign key's check runs with inside the extension's
-- security-restricted switch to the table's owner: PostgreSQL may run the
-- check, or its fallback, as the referenced table's owner, so only where
-- both tables have one owner may that role's own code run; else ('') only
-- superusers'. No row when a table is gone.
--
-- $1 the table, $2 the referenced table (quoted qualified names).
-- Read with search_path = pg_catalog, pg_temp.
SELECT CASE WHEN t.relowner OPERATOR(pg_catalog.=) r.relowner
            THEN pg_catalog.pg_get_userbyid(t.relowner)::pg_catalog.text ELSE '' END
  FROM pg_catalog.pg_class t, pg_catalog.pg_class r
 WHERE t.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1)
   AND r.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($2)
