-- What validating a foreign key would run, or let be added, that a role
-- neither superuser, the one role whose rights the check runs with, nor
-- trusted controls:
--   * the types of its columns, their domains' base types, element, range
--     and composite types (an owner of any of them may add or replace a cast
--     the key's comparison calls, looked up when the check runs);
--   * the functions behind its operators, and the support functions of
--     the operator families the check may compare, sort or hash in (those
--     holding its operators, and those of either table's indexes): only a
--     superuser registers one, but its owner may replace its body;
--   * what planning the check's query over either table (and the partitions
--     above and below them) calls: the IMMUTABLE functions the planner folds
--     in their index expressions and predicates, CHECK constraints,
--     statistics objects and partition keys.
-- The caller has locked both tables (`sql::LOCK_FOR_VALIDATION`) in the
-- transaction that validates, so none of that changes until it ends.
-- All columns of both tables when the constraint is not there yet. One
-- text, empty when nothing.
--
-- $1 the table, $2 the referenced table (quoted qualified names), $3 the
-- constraint's name, $4 the trusted roles (text[]; '*' trusts every role),
-- $5 the role whose rights the check runs with, whose own code may run
-- (NULL: the current user; '': none but superusers).
-- Read with search_path = pg_catalog, pg_temp.
WITH RECURSIVE
trusted AS (
    SELECT r.oid FROM pg_catalog.pg_roles r
     WHERE r.rolsuper OR r.rolname OPERATOR(pg_catalog.=) coalesce($5::pg_catalog.text, current_user)
        OR r.rolname OPERATOR(pg_catalog.=) ANY ($4::pg_catalog.text[])
        OR '*' OPERATOR(pg_catalog.=) ANY ($4::pg_catalog.text[])
),
fk AS (
    SELECT c.* FROM pg_catalog.pg_constraint c
     WHERE c.conrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1)
       AND c.conname OPERATOR(pg_catalog.=) $3 AND c.contype OPERATOR(pg_catalog.=) 'f'
),
key_columns(relid, attname, typid) AS (
    SELECT a.attrelid, a.attname, a.atttypid FROM pg_catalog.pg_attribute a
     WHERE a.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2 AND NOT a.attisdropped
       AND ((NOT EXISTS (SELECT 1 FROM fk)
             AND a.attrelid IN (pg_catalog.to_regclass($1), pg_catalog.to_regclass($2)))
            OR EXISTS (SELECT 1 FROM fk
                        WHERE (a.attrelid OPERATOR(pg_catalog.=) fk.conrelid
                               AND a.attnum OPERATOR(pg_catalog.=) ANY (fk.conkey))
                           OR (a.attrelid OPERATOR(pg_catalog.=) fk.confrelid
                               AND a.attnum OPERATOR(pg_catalog.=) ANY (fk.confkey))))
),
-- each column's type and every type inside it
types(relid, attname, typid) AS (
    SELECT relid, attname, typid FROM key_columns
    UNION
    SELECT ty.relid, ty.attname, x.oid
      FROM types ty JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) ty.typid
     CROSS JOIN LATERAL (
           SELECT t.typelem WHERE t.typelem OPERATOR(pg_catalog.<>) 0::pg_catalog.oid
           UNION ALL SELECT t.typbasetype WHERE t.typbasetype OPERATOR(pg_catalog.<>) 0::pg_catalog.oid
           UNION ALL SELECT rg.rngsubtype FROM pg_catalog.pg_range rg
                      WHERE rg.rngtypid OPERATOR(pg_catalog.=) t.oid
           UNION ALL SELECT ca.atttypid FROM pg_catalog.pg_attribute ca
                      WHERE t.typrelid OPERATOR(pg_catalog.<>) 0::pg_catalog.oid
                        AND ca.attrelid OPERATOR(pg_catalog.=) t.typrelid
                        AND ca.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2 AND NOT ca.attisdropped) x(oid)
),
-- both tables, the partitions above them and the partitions below
tables(relid) AS (
    SELECT x.oid FROM (VALUES (pg_catalog.to_regclass($1)::pg_catalog.oid),
                              (pg_catalog.to_regclass($2)::pg_catalog.oid)) x(oid)
     WHERE x.oid IS NOT NULL
),
rels(relid) AS (
    SELECT relid FROM tables
    UNION SELECT a.relid FROM tables CROSS JOIN LATERAL pg_catalog.pg_partition_ancestors(tables.relid) a
    UNION SELECT p.relid FROM tables CROSS JOIN LATERAL pg_catalog.pg_partition_tree(tables.relid) p
),
families(oid) AS (
    SELECT o.amopfamily
      FROM fk, pg_catalog.unnest(fk.conpfeqop OPERATOR(pg_catalog.||) fk.conppeqop
                                 OPERATOR(pg_catalog.||) fk.conffeqop) op(oid)
      JOIN pg_catalog.pg_amop o ON o.amopopr OPERATOR(pg_catalog.=) op.oid
    UNION
    SELECT oc.opcfamily
      FROM rels JOIN pg_catalog.pg_index x ON x.indrelid OPERATOR(pg_catalog.=) rels.relid
     CROSS JOIN LATERAL pg_catalog.unnest(x.indclass::pg_catalog.oid[]) c(oid)
      JOIN pg_catalog.pg_opclass oc ON oc.oid OPERATOR(pg_catalog.=) c.oid
),
planned(classid, objid) AS (
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, x.indexrelid
      FROM rels JOIN pg_catalog.pg_index x ON x.indrelid OPERATOR(pg_catalog.=) rels.relid
    UNION ALL
    SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass, c.oid
      FROM rels JOIN pg_catalog.pg_constraint c ON c.conrelid OPERATOR(pg_catalog.=) rels.relid
     WHERE c.contype IN ('c', 'x')
    UNION ALL
    SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, st.oid
      FROM rels JOIN pg_catalog.pg_statistic_ext st ON st.stxrelid OPERATOR(pg_catalog.=) rels.relid
    UNION ALL
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, rels.relid FROM rels
)
SELECT coalesce(pg_catalog.string_agg(DISTINCT what, '; '), '') FROM (
  SELECT 'column ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(ty.attname) OPERATOR(pg_catalog.||) ' of '
         OPERATOR(pg_catalog.||) ty.relid::pg_catalog.regclass::pg_catalog.text
         OPERATOR(pg_catalog.||) ' uses type ' OPERATOR(pg_catalog.||) pg_catalog.format_type(t.oid, NULL)
         OPERATOR(pg_catalog.||) ' of role ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_userbyid(t.typowner) AS what
    FROM types ty JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) ty.typid
   WHERE t.typowner NOT IN (SELECT oid FROM trusted)
  UNION ALL
  SELECT 'operator ' OPERATOR(pg_catalog.||) o.oid::pg_catalog.regoperator::pg_catalog.text
         OPERATOR(pg_catalog.||) ' calls ' OPERATOR(pg_catalog.||) p.oid::pg_catalog.regprocedure::pg_catalog.text
         OPERATOR(pg_catalog.||) ' of role ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_userbyid(p.proowner)
    FROM fk, pg_catalog.unnest(fk.conpfeqop OPERATOR(pg_catalog.||) fk.conppeqop
                               OPERATOR(pg_catalog.||) fk.conffeqop) op(oid)
    JOIN pg_catalog.pg_operator o ON o.oid OPERATOR(pg_catalog.=) op.oid
    JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) o.oprcode
   WHERE p.proowner NOT IN (SELECT oid FROM trusted)
  UNION ALL
  SELECT pg_catalog.pg_describe_object('pg_catalog.pg_opfamily'::pg_catalog.regclass, fa.oid, 0)
         OPERATOR(pg_catalog.||) ' calls ' OPERATOR(pg_catalog.||) p.oid::pg_catalog.regprocedure::pg_catalog.text
         OPERATOR(pg_catalog.||) ' of role ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_userbyid(p.proowner)
    FROM families fa
    JOIN pg_catalog.pg_amproc ap ON ap.amprocfamily OPERATOR(pg_catalog.=) fa.oid
    JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) ap.amproc::pg_catalog.oid
   WHERE p.proowner NOT IN (SELECT oid FROM trusted)
  UNION ALL
  SELECT pg_catalog.pg_describe_object(pl.classid, pl.objid, 0) OPERATOR(pg_catalog.||) ' calls '
         OPERATOR(pg_catalog.||) p.oid::pg_catalog.regprocedure::pg_catalog.text
         OPERATOR(pg_catalog.||) ' of role ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_userbyid(p.proowner)
    FROM planned pl
    JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) pl.classid
                               AND d.objid OPERATOR(pg_catalog.=) pl.objid
    LEFT JOIN pg_catalog.pg_operator o ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_operator'::pg_catalog.regclass
                                      AND o.oid OPERATOR(pg_catalog.=) d.refobjid
    JOIN pg_catalog.pg_proc p
      ON p.oid OPERATOR(pg_catalog.=) CASE WHEN d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                                           THEN d.refobjid ELSE o.oprcode::pg_catalog.oid END
   WHERE d.refclassid IN ('pg_catalog.pg_proc'::pg_catalog.regclass, 'pg_catalog.pg_operator'::pg_catalog.regclass)
     AND p.proowner NOT IN (SELECT oid FROM trusted)
) x
