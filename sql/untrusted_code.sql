-- Code that runs when rows are inserted into the tables `$1::oid[]`, owned by
-- a role that is neither a superuser nor the current user: functions called
-- (directly or through an operator) by their CHECK and exclusion constraints,
-- index expressions and predicates, generated columns and partition keys;
-- domains among their columns' types (a domain's owner may add a CHECK at any
-- time), and functions their domains and range types call. A superuser's (or
-- another role's) load into such a table would run that code with the loading
-- role's rights, and `SET ROLE` is no sandbox for it (the code could `RESET
-- ROLE`), so pgcopy refuses such loads (see Problem::UntrustedCode).
--
-- One row per finding: (table oid, what, the role that owns the code).
-- Read with search_path = pg_catalog, pg_temp; every name qualified anyway.
WITH RECURSIVE
trusted AS (
    SELECT r.oid FROM pg_catalog.pg_roles r
     WHERE r.rolsuper OR r.rolname OPERATOR(pg_catalog.=) current_user
),
untrusted_fn AS (
    SELECT p.oid, p.proowner FROM pg_catalog.pg_proc p
     WHERE p.proowner NOT IN (SELECT oid FROM trusted)
),
tables AS (
    SELECT DISTINCT t.relid FROM pg_catalog.unnest($1::pg_catalog.oid[]) AS t(relid)
),
exprs(relid, classid, objid) AS (
    SELECT t.relid, 'pg_catalog.pg_constraint'::pg_catalog.regclass, c.oid
      FROM tables t JOIN pg_catalog.pg_constraint c ON c.conrelid OPERATOR(pg_catalog.=) t.relid
     WHERE c.contype IN ('c', 'x')
    UNION ALL
    SELECT t.relid, 'pg_catalog.pg_class'::pg_catalog.regclass, i.indexrelid
      FROM tables t JOIN pg_catalog.pg_index i ON i.indrelid OPERATOR(pg_catalog.=) t.relid
    UNION ALL
    SELECT t.relid, 'pg_catalog.pg_attrdef'::pg_catalog.regclass, d.oid
      FROM tables t JOIN pg_catalog.pg_attrdef d ON d.adrelid OPERATOR(pg_catalog.=) t.relid
    UNION ALL
    -- the table and its partition ancestors: their partition keys
    SELECT t.relid, 'pg_catalog.pg_class'::pg_catalog.regclass, a.relid
      FROM tables t CROSS JOIN LATERAL pg_catalog.pg_partition_ancestors(t.relid) AS a(relid)
),
types(relid, typid, col) AS (
    SELECT t.relid, a.atttypid, a.attname::pg_catalog.text
      FROM tables t JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) t.relid
     WHERE a.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2 AND NOT a.attisdropped
    UNION
    SELECT ty.relid, x.oid, ty.col
      FROM types ty JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) ty.typid
     CROSS JOIN LATERAL (
           SELECT t.typelem WHERE t.typelem OPERATOR(pg_catalog.<>) 0::pg_catalog.oid
           UNION ALL SELECT t.typbasetype WHERE t.typbasetype OPERATOR(pg_catalog.<>) 0::pg_catalog.oid
           UNION ALL SELECT rg.rngsubtype FROM pg_catalog.pg_range rg
                      WHERE rg.rngtypid OPERATOR(pg_catalog.=) t.oid
           UNION ALL SELECT rg.rngtypid FROM pg_catalog.pg_range rg
                      WHERE rg.rngmultitypid OPERATOR(pg_catalog.=) t.oid
           UNION ALL SELECT ca.atttypid FROM pg_catalog.pg_attribute ca
                      WHERE t.typrelid OPERATOR(pg_catalog.<>) 0::pg_catalog.oid
                        AND ca.attrelid OPERATOR(pg_catalog.=) t.typrelid
                        AND ca.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2 AND NOT ca.attisdropped) x(oid)
)
SELECT e.relid,
       pg_catalog.pg_describe_object(e.classid, e.objid, 0) || ' calls '
           || pg_catalog.pg_describe_object('pg_catalog.pg_proc'::pg_catalog.regclass, f.oid, 0),
       pg_catalog.pg_get_userbyid(f.proowner)::pg_catalog.text
  FROM exprs e
  JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) e.classid
                             AND d.objid OPERATOR(pg_catalog.=) e.objid
  LEFT JOIN pg_catalog.pg_operator o ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_operator'::pg_catalog.regclass
                                    AND o.oid OPERATOR(pg_catalog.=) d.refobjid
  JOIN untrusted_fn f ON f.oid OPERATOR(pg_catalog.=) CASE
         WHEN d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass THEN d.refobjid
         ELSE o.oprcode::pg_catalog.oid END
UNION
SELECT ty.relid,
       'column ' || pg_catalog.quote_ident(ty.col) || ' has domain '
           || pg_catalog.format_type(t.oid, NULL) || ', which its owner may give a CHECK at any time',
       pg_catalog.pg_get_userbyid(t.typowner)::pg_catalog.text
  FROM types ty JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) ty.typid
 WHERE t.typtype OPERATOR(pg_catalog.=) 'd' AND t.typowner NOT IN (SELECT oid FROM trusted)
UNION
SELECT ty.relid,
       'column ' || pg_catalog.quote_ident(ty.col) || ' has type ' || pg_catalog.format_type(t.oid, NULL)
           || ', whose ' || pg_catalog.pg_describe_object(d.classid, d.objid, 0) || ' calls '
           || pg_catalog.pg_describe_object('pg_catalog.pg_proc'::pg_catalog.regclass, f.oid, 0),
       pg_catalog.pg_get_userbyid(f.proowner)::pg_catalog.text
  FROM types ty
  JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) ty.typid
  JOIN pg_catalog.pg_constraint c ON c.contypid OPERATOR(pg_catalog.=) t.oid
  JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_constraint'::pg_catalog.regclass
                             AND d.objid OPERATOR(pg_catalog.=) c.oid
  JOIN untrusted_fn f ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                     AND f.oid OPERATOR(pg_catalog.=) d.refobjid
UNION
SELECT ty.relid,
       'column ' || pg_catalog.quote_ident(ty.col) || ' has range type ' || pg_catalog.format_type(t.oid, NULL)
           || ', which calls ' || pg_catalog.pg_describe_object('pg_catalog.pg_proc'::pg_catalog.regclass, f.oid, 0),
       pg_catalog.pg_get_userbyid(f.proowner)::pg_catalog.text
  FROM types ty
  JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) ty.typid
  JOIN pg_catalog.pg_range rg ON rg.rngtypid OPERATOR(pg_catalog.=) t.oid
  JOIN untrusted_fn f ON f.oid IN (rg.rngsubdiff::pg_catalog.oid, rg.rngcanonical::pg_catalog.oid)
