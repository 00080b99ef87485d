-- Which of a foreign key's two tables a validation locks first (SHARE UPDATE
-- EXCLUSIVE, in the transaction that checks and validates): those a role
-- neither superuser, the role the check runs as, nor trusted owns, or whose
-- schema it owns, directly or through a partition above or below. Such a
-- role could otherwise give the table code the check's planning calls
-- (an index predicate, a statistics object) between the check of that code
-- (`fk_untrusted_code.sql`) and the validation; the lock conflicts with
-- CREATE INDEX, CREATE STATISTICS and ALTER TABLE until the transaction
-- ends. Rows of (schema, name), sorted, so two validations lock in one order.
--
-- $1 the table, $2 the referenced table (quoted qualified names), $3 the
-- trusted roles (text[]; '*' trusts every role), $4 the role whose rights
-- the check runs with (NULL: the current user; '': none but superusers).
-- Read with search_path = pg_catalog, pg_temp.
WITH trusted AS (
    SELECT r.oid FROM pg_catalog.pg_roles r
     WHERE r.rolsuper OR r.rolname OPERATOR(pg_catalog.=) coalesce($4::pg_catalog.text, current_user)
        OR r.rolname OPERATOR(pg_catalog.=) ANY ($3::pg_catalog.text[])
        OR '*' OPERATOR(pg_catalog.=) ANY ($3::pg_catalog.text[])
),
db_owner AS (
    SELECT d.datdba FROM pg_catalog.pg_database d
     WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
),
tables(relid) AS (
    SELECT DISTINCT x.oid FROM (VALUES (pg_catalog.to_regclass($1)::pg_catalog.oid),
                                       (pg_catalog.to_regclass($2)::pg_catalog.oid)) x(oid)
     WHERE x.oid IS NOT NULL
)
SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text
  FROM tables t
  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.relid
  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
 WHERE EXISTS (
       SELECT 1
         FROM (SELECT t.relid
               UNION SELECT a.relid FROM pg_catalog.pg_partition_ancestors(t.relid) a
               UNION SELECT p.relid FROM pg_catalog.pg_partition_tree(t.relid) p) rel(relid)
         JOIN pg_catalog.pg_class rc ON rc.oid OPERATOR(pg_catalog.=) rel.relid
         JOIN pg_catalog.pg_namespace rn ON rn.oid OPERATOR(pg_catalog.=) rc.relnamespace
        WHERE rc.relowner NOT IN (SELECT oid FROM trusted)
           OR CASE WHEN rn.nspowner OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r
                                                             WHERE r.rolname OPERATOR(pg_catalog.=) 'pg_database_owner')
                   THEN (SELECT datdba FROM db_owner) ELSE rn.nspowner END NOT IN (SELECT oid FROM trusted))
 ORDER BY 1, 2
