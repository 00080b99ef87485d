-- Code that runs when rows are inserted into the tables `$1::oid[]`, owned by
-- a role that is neither a superuser, the current user, nor one of the roles
-- `$2::text[]` trusts (`--trust-owner`; '*' trusts every role): functions called
-- (directly or through an operator) by their CHECK and exclusion constraints,
-- index expressions and predicates, generated columns, partition keys and
-- statistics objects (which the ANALYZE after the load computes); the
-- support functions of their indexes' operator families (a B-tree's
-- comparison, a hash's hash function: only a superuser registers one, but
-- its owner may replace its body);
-- domains among their columns' types and the types their expressions use (a
-- domain's owner may add a CHECK at any time), functions their domains and
-- range types call; and, in expressions a role neither superuser nor the
-- current user wrote, built-in functions that may run any SQL or change
-- settings (volatile ones, and those reading tables or casting through user
-- casts: the xml and json families), which pg_depend does not record. A
-- superuser's (or another role's) load into such a table would run that code
-- with the loading role's rights, and `SET ROLE` is no sandbox for it (the code could `RESET
-- ROLE`), so pgcopy refuses such loads (see Problem::UntrustedCode).
--
-- One row per finding: (table oid, what, the role that owns the code).
-- Read with search_path = pg_catalog, pg_temp; every name qualified anyway.
WITH RECURSIVE
trusted AS (
    SELECT r.oid FROM pg_catalog.pg_roles r
     WHERE r.rolsuper OR r.rolname OPERATOR(pg_catalog.=) current_user
        OR r.rolname OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.text[])
        OR '*' OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.text[])
),
untrusted_fn AS (
    SELECT p.oid, p.proowner FROM pg_catalog.pg_proc p
     WHERE p.proowner NOT IN (SELECT oid FROM trusted)
),
tables AS (
    SELECT DISTINCT t.relid FROM pg_catalog.unnest($1::pg_catalog.oid[]) AS t(relid)
),
-- Expressions on the insert path: (table, object, its node tree, the role
-- that wrote it).
exprs(relid, classid, objid, tree, author) AS (
    SELECT t.relid, 'pg_catalog.pg_constraint'::pg_catalog.regclass, c.oid, c.conbin::pg_catalog.text, r.relowner
      FROM tables t JOIN pg_catalog.pg_constraint c ON c.conrelid OPERATOR(pg_catalog.=) t.relid
      JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) t.relid
     WHERE c.contype IN ('c', 'x')
    UNION ALL
    SELECT t.relid, 'pg_catalog.pg_class'::pg_catalog.regclass, i.indexrelid,
           pg_catalog.concat(i.indexprs::pg_catalog.text, ' ', i.indpred::pg_catalog.text), r.relowner
      FROM tables t JOIN pg_catalog.pg_index i ON i.indrelid OPERATOR(pg_catalog.=) t.relid
      JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) t.relid
    UNION ALL
    -- Only a generated column's expression runs in a COPY that lists every
    -- other column; defaults count for what they call all the same.
    SELECT t.relid, 'pg_catalog.pg_attrdef'::pg_catalog.regclass, d.oid,
           CASE WHEN a.attgenerated OPERATOR(pg_catalog.<>) '' THEN d.adbin::pg_catalog.text END, r.relowner
      FROM tables t JOIN pg_catalog.pg_attrdef d ON d.adrelid OPERATOR(pg_catalog.=) t.relid
      JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) d.adrelid
                                    AND a.attnum OPERATOR(pg_catalog.=) d.adnum
      JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) t.relid
    UNION ALL
    -- statistics objects' expressions, which the ANALYZE after the load runs
    SELECT t.relid, 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, st.oid,
           st.stxexprs::pg_catalog.text, r.relowner
      FROM tables t JOIN pg_catalog.pg_statistic_ext st ON st.stxrelid OPERATOR(pg_catalog.=) t.relid
      JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) t.relid
    UNION ALL
    -- the table and its partition ancestors: their partition keys
    SELECT t.relid, 'pg_catalog.pg_class'::pg_catalog.regclass, a.relid,
           pt.partexprs::pg_catalog.text, r.relowner
      FROM tables t CROSS JOIN LATERAL pg_catalog.pg_partition_ancestors(t.relid) AS a(relid)
      JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) a.relid
      LEFT JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid OPERATOR(pg_catalog.=) a.relid
),
-- Types in use: (table, type, where it is used: "column x has", "index i uses").
types(relid, typid, used) AS (
    SELECT t.relid, a.atttypid, 'column ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(a.attname)
                                OPERATOR(pg_catalog.||) ' has'
      FROM tables t JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) t.relid
     WHERE a.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2 AND NOT a.attisdropped
    UNION
    -- casts, literals and row types inside the expressions
    SELECT e.relid, d.refobjid, pg_catalog.pg_describe_object(e.classid, e.objid, 0) OPERATOR(pg_catalog.||) ' uses'
      FROM exprs e
      JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) e.classid
                                 AND d.objid OPERATOR(pg_catalog.=) e.objid
     WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
    UNION
    SELECT ty.relid, x.oid, ty.used
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
-- Functions named in expressions other roles wrote, whoever owns them, that
-- may run any SQL or change settings: pg_depend leaves built-ins out.
SELECT e.relid,
       pg_catalog.pg_describe_object(e.classid, e.objid, 0) || ' calls '
           || pg_catalog.pg_describe_object('pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, 0)
           || ', which may run any SQL or change settings with the loading role''s rights',
       pg_catalog.pg_get_userbyid(e.author)::pg_catalog.text
  FROM exprs e
 CROSS JOIN LATERAL pg_catalog.regexp_matches(e.tree, ':(?:funcid|opfuncid) (\d+)', 'g') AS m(id)
  JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) m.id[1]::pg_catalog.oid
 WHERE e.author NOT IN (SELECT oid FROM trusted)
   AND (p.provolatile OPERATOR(pg_catalog.=) 'v'
        OR (p.provolatile OPERATOR(pg_catalog.=) 's' AND p.proname OPERATOR(pg_catalog.~) '(xml|json)'))
UNION
SELECT t.relid,
       pg_catalog.pg_describe_object('pg_catalog.pg_class'::pg_catalog.regclass, i.indexrelid, 0) || ' calls '
           || pg_catalog.pg_describe_object('pg_catalog.pg_proc'::pg_catalog.regclass, f.oid, 0)
           || ' (a support function of ' || pg_catalog.pg_describe_object('pg_catalog.pg_opfamily'::pg_catalog.regclass, oc.opcfamily, 0) || ')',
       pg_catalog.pg_get_userbyid(f.proowner)::pg_catalog.text
  FROM tables t
  JOIN pg_catalog.pg_index i ON i.indrelid OPERATOR(pg_catalog.=) t.relid
 CROSS JOIN LATERAL pg_catalog.unnest(i.indclass::pg_catalog.oid[]) AS c(oid)
  JOIN pg_catalog.pg_opclass oc ON oc.oid OPERATOR(pg_catalog.=) c.oid
  JOIN pg_catalog.pg_amproc ap ON ap.amprocfamily OPERATOR(pg_catalog.=) oc.opcfamily
  JOIN untrusted_fn f ON f.oid OPERATOR(pg_catalog.=) ap.amproc::pg_catalog.oid
UNION
SELECT ty.relid,
       ty.used || ' domain '
           || pg_catalog.format_type(t.oid, NULL) || ', which its owner may give a CHECK at any time',
       pg_catalog.pg_get_userbyid(t.typowner)::pg_catalog.text
  FROM types ty JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) ty.typid
 WHERE t.typtype OPERATOR(pg_catalog.=) 'd' AND t.typowner NOT IN (SELECT oid FROM trusted)
UNION
SELECT ty.relid,
       ty.used || ' type ' || pg_catalog.format_type(t.oid, NULL)
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
       ty.used || ' range type ' || pg_catalog.format_type(t.oid, NULL)
           || ', which calls ' || pg_catalog.pg_describe_object('pg_catalog.pg_proc'::pg_catalog.regclass, f.oid, 0),
       pg_catalog.pg_get_userbyid(f.proowner)::pg_catalog.text
  FROM types ty
  JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) ty.typid
  JOIN pg_catalog.pg_range rg ON rg.rngtypid OPERATOR(pg_catalog.=) t.oid
  JOIN untrusted_fn f ON f.oid IN (rg.rngsubdiff::pg_catalog.oid, rg.rngcanonical::pg_catalog.oid)
