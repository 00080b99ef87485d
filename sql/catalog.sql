-- The catalog of the current database, as one jsonb document that
-- pgcopy_core::catalog::Catalog deserializes. Read by the CLI on both servers
-- and by the extension through SPI. No parameters.
--
-- Left out: system schemas, temporary tables, foreign tables and relations that
-- belong to an extension (their data is the extension's business).
WITH RECURSIVE rels AS (
    SELECT c.oid, n.oid AS nspoid, n.nspname, c.relname, c.relkind, c.relowner, c.relispartition, c.relam,
           -- The schema's owner: the database's when the schema belongs to
           -- pg_database_owner (public, from PostgreSQL 15 on).
           CASE WHEN n.nspowner = (SELECT ro.oid FROM pg_catalog.pg_roles ro
                                    WHERE ro.rolname = 'pg_database_owner')
                THEN (SELECT d.datdba FROM pg_catalog.pg_database d
                       WHERE d.datname = pg_catalog.current_database())
                ELSE n.nspowner END AS nspowner,
           c.reltuples, c.relispopulated, c.relrowsecurity AND c.relforcerowsecurity AS forced_rls,
           CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END AS partition_bound
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'S', 'm')
       AND c.relpersistence <> 't'
       AND n.nspname <> 'information_schema'
       AND n.nspname !~ '^pg_'
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                        WHERE d.classid = 'pg_catalog.pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
),
-- Binary COPY needs send/receive functions for a column's type and every type
-- inside it (aclitem has none, nor do some extension types): such a table is
-- copied as text. The closure is walked once per type in use, not per column.
type_closure(root, oid, has_io) AS (
    SELECT DISTINCT a.atttypid, a.atttypid, t.typsend::oid <> 0 AND t.typreceive::oid <> 0
      FROM pg_catalog.pg_attribute a
      JOIN rels r ON r.oid = a.attrelid
      JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
     WHERE r.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
    UNION
    SELECT ty.root, inner_t.oid, inner_t.typsend::oid <> 0 AND inner_t.typreceive::oid <> 0
      FROM type_closure ty JOIN pg_catalog.pg_type t ON t.oid = ty.oid
     CROSS JOIN LATERAL (
           SELECT t.typelem WHERE t.typelem <> 0
           UNION ALL SELECT t.typbasetype WHERE t.typbasetype <> 0
           UNION ALL SELECT rg.rngsubtype FROM pg_catalog.pg_range rg
                      WHERE rg.rngtypid = t.oid
           UNION ALL SELECT rg.rngtypid FROM pg_catalog.pg_range rg
                      WHERE rg.rngmultitypid = t.oid
           UNION ALL SELECT ca.atttypid FROM pg_catalog.pg_attribute ca
                      WHERE t.typrelid <> 0 AND ca.attrelid = t.typrelid
                        AND ca.attnum > 0 AND NOT ca.attisdropped) x(oid)
      JOIN pg_catalog.pg_type inner_t ON inner_t.oid = x.oid
)
SELECT jsonb_build_object(
  'tables', coalesce((
    SELECT jsonb_agg(jsonb_build_object(
             'oid', r.oid::bigint,
             'schema', r.nspname,
             'name', r.relname,
             'kind', CASE r.relkind WHEN 'p' THEN 'partitioned' ELSE 'ordinary' END,
             'parent', (SELECT jsonb_build_object('schema', pn.nspname, 'name', pc.relname)
                          FROM pg_catalog.pg_inherits i
                          JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent
                          JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
                         WHERE i.inhrelid = r.oid AND r.relispartition),
             'partition_bound', r.partition_bound,
             'partition_key', CASE WHEN r.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(r.oid) END,
             'bytes', CASE WHEN r.relkind = 'r' THEN pg_catalog.pg_relation_size(r.oid) ELSE 0 END,
             'est_rows', CASE WHEN r.reltuples >= 0 THEN r.reltuples END,
             'owner', pg_catalog.pg_get_userbyid(r.relowner),
             -- Roles other than superusers whose functions (or operators') its
             -- query calls: a refresh runs them as the view's owner.
             'query_roles', coalesce((
                 SELECT jsonb_agg(DISTINCT ro.rolname::text)
                   FROM pg_catalog.pg_rewrite rw
                   JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass
                                              AND d.objid = rw.oid
                   LEFT JOIN pg_catalog.pg_operator o ON d.refclassid = 'pg_catalog.pg_operator'::regclass
                                                     AND o.oid = d.refobjid
                   JOIN pg_catalog.pg_proc p
                     ON p.oid = CASE WHEN d.refclassid = 'pg_catalog.pg_proc'::regclass THEN d.refobjid
                                     ELSE o.oprcode::oid END
                   JOIN pg_catalog.pg_roles ro ON ro.oid = p.proowner
                  WHERE rw.ev_class = r.oid AND NOT ro.rolsuper), '[]'::jsonb),
             'is_owner', pg_catalog.pg_has_role(r.relowner, 'USAGE'),
             -- The heap access method counts inserted rows per transaction
             -- (pg_stat_get_xact_tuples_inserted): a load checks its count
             -- on the server with it.
             'heap', EXISTS (SELECT 1 FROM pg_catalog.pg_am am WHERE am.oid = r.relam AND am.amname = 'heap'),
             'privileges', jsonb_build_object(
                 'select', pg_catalog.has_table_privilege(r.oid, 'SELECT'),
                 'insert', pg_catalog.has_table_privilege(r.oid, 'INSERT'),
                 'truncate', pg_catalog.has_table_privilege(r.oid, 'TRUNCATE'),
                 'schema_usage', pg_catalog.has_schema_privilege(r.nspoid, 'USAGE')),
             'row_security', pg_catalog.row_security_active(r.oid),
             'load_as_owner', pg_catalog.pg_has_role(r.relowner, 'MEMBER')
                              AND pg_catalog.pg_get_userbyid(r.relowner) <> current_user,
             'owner_is_superuser', coalesce((SELECT ro.rolsuper FROM pg_catalog.pg_roles ro
                                              WHERE ro.oid = r.relowner), false),
             'schema_oid', r.nspoid::bigint,
             -- A role neither superuser nor the current one owns the table
             -- (it may add triggers, constraints) or its schema (it may drop
             -- the table and put another in its place).
             'others_may_change', EXISTS (SELECT 1 FROM pg_catalog.pg_roles ro
                                           WHERE ro.oid IN (r.relowner, r.nspowner)
                                             AND NOT ro.rolsuper
                                             AND ro.rolname <> current_user),
             -- Roles other than superusers that own the table, its schema,
             -- or a function the planner may call while planning any query
             -- over it (it folds the IMMUTABLE calls with constant arguments
             -- in the table's index expressions and predicates, CHECK
             -- constraints, statistics objects' expressions, and the
             -- partition keys above it): a query pgcopy plans over the table
             -- (a chunk, a --where, a count) would run such code with the
             -- reading role's rights, and its owners may add more at any time.
             'planner_roles', coalesce((
                 WITH rels(relid) AS (
                     SELECT r.oid
                     UNION SELECT a.relid FROM pg_catalog.pg_partition_ancestors(r.oid) a
                 ),
                 objs(classid, objid) AS (
                     SELECT 'pg_catalog.pg_class'::regclass, x.indexrelid
                       FROM pg_catalog.pg_index x WHERE x.indrelid = r.oid
                     UNION ALL
                     SELECT 'pg_catalog.pg_constraint'::regclass, c.oid
                       FROM pg_catalog.pg_constraint c JOIN rels ON c.conrelid = rels.relid
                      WHERE c.contype IN ('c', 'x')
                     UNION ALL
                     SELECT 'pg_catalog.pg_statistic_ext'::regclass, st.oid
                       FROM pg_catalog.pg_statistic_ext st WHERE st.stxrelid = r.oid
                     UNION ALL
                     SELECT 'pg_catalog.pg_class'::regclass, rels.relid FROM rels
                 ),
                 fns(oid) AS (
                     SELECT CASE WHEN d.refclassid = 'pg_catalog.pg_proc'::regclass THEN d.refobjid
                                 ELSE (SELECT o.oprcode::oid FROM pg_catalog.pg_operator o
                                        WHERE o.oid = d.refobjid) END
                       FROM objs JOIN pg_catalog.pg_depend d
                         ON d.classid = objs.classid AND d.objid = objs.objid
                      WHERE d.refclassid IN ('pg_catalog.pg_proc'::regclass, 'pg_catalog.pg_operator'::regclass)
                 ),
                 who(role) AS (
                     SELECT r.relowner
                     UNION SELECT r.nspowner
                     UNION SELECT p.proowner FROM fns JOIN pg_catalog.pg_proc p ON p.oid = fns.oid
                 )
                 SELECT jsonb_agg(DISTINCT ro.rolname::text)
                   FROM who JOIN pg_catalog.pg_roles ro ON ro.oid = who.role
                  WHERE NOT ro.rolsuper), '[]'::jsonb),
             'forced_rls', r.forced_rls,
             'owner_may_load', pg_catalog.has_table_privilege(r.relowner, r.oid, 'INSERT')
                               AND pg_catalog.has_table_privilege(r.relowner, r.oid, 'TRUNCATE')
                               AND NOT r.forced_rls,
             'triggers', coalesce((
                 SELECT jsonb_agg(jsonb_build_object('name', tg.tgname, 'mode', tg.tgenabled::text)
                                  ORDER BY tg.tgname)
                   FROM pg_catalog.pg_trigger tg
                  -- A partition's clone of its parent's trigger is marked
                  -- internal before PostgreSQL 15, yet fires: it counts; a
                  -- foreign key's clones (internal in every version) do not.
                  WHERE tg.tgrelid = r.oid
                    AND (NOT tg.tgisinternal
                         OR (tg.tgparentid <> 0
                             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint fk
                                              WHERE fk.oid = tg.tgconstraint AND fk.contype = 'f')))), '[]'::jsonb),
             'columns', coalesce((
                 SELECT jsonb_agg(jsonb_build_object(
                          'name', a.attname,
                          'type_name', pg_catalog.format_type(a.atttypid, a.atttypmod),
                          'generated', a.attgenerated <> '',
                          'identity', nullif(a.attidentity, ''),
                          'not_null', a.attnotnull,
                          'builtin_type', a.atttypid < 16384,
                          'binary_io', coalesce((SELECT bool_and(ty.has_io) FROM type_closure ty
                                                  WHERE ty.root = a.atttypid), false),
                          -- PostgreSQL's own types inside it (itself, array
                          -- elements, domain bases, range subtypes, fields):
                          -- some go as text (pgcopy_core::formats).
                          -- What the types of roles inside it are made of:
                          -- a domain's base and modifier, a composite's
                          -- fields, a range's subtype. A type of the same
                          -- name made otherwise on the other side would
                          -- take the values silently changed (a numeric
                          -- rounded to another scale, fields swapped).
                          'type_shape', coalesce((
                              SELECT string_agg(u.shape, '; ' ORDER BY u.shape)
                                FROM (SELECT DISTINCT pg_catalog.format_type(ut.oid, NULL) || ': ' ||
                                        CASE ut.typtype
                                          WHEN 'd' THEN 'domain over ' || pg_catalog.format_type(ut.typbasetype, ut.typtypmod)
                                          WHEN 'c' THEN 'composite (' || coalesce((
                                               SELECT string_agg(pg_catalog.quote_ident(ca.attname) || ' ' ||
                                                                 pg_catalog.format_type(ca.atttypid, ca.atttypmod), ', '
                                                                 ORDER BY ca.attnum)
                                                 FROM pg_catalog.pg_attribute ca
                                                WHERE ca.attrelid = ut.typrelid AND ca.attnum > 0
                                                  AND NOT ca.attisdropped), '') || ')'
                                          WHEN 'r' THEN 'range of ' || (SELECT pg_catalog.format_type(rg.rngsubtype, NULL)
                                                                          FROM pg_catalog.pg_range rg
                                                                         WHERE rg.rngtypid = ut.oid)
                                        END AS shape
                                        FROM type_closure ty
                                        JOIN pg_catalog.pg_type ut ON ut.oid = ty.oid
                                       WHERE ty.root = a.atttypid AND ut.typtype IN ('d', 'c', 'r')
                                         AND ut.typnamespace <> 'pg_catalog'::pg_catalog.regnamespace) u), ''),
                          'builtin_types', coalesce((SELECT jsonb_agg(DISTINCT bt.typname::text)
                                                      FROM type_closure ty
                                                      JOIN pg_catalog.pg_type bt ON bt.oid = ty.oid
                                                     WHERE ty.root = a.atttypid
                                                       AND bt.typnamespace = 'pg_catalog'::pg_catalog.regnamespace), '[]'::jsonb)
                        ) ORDER BY a.attnum)
                   FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]'::jsonb)
           ) ORDER BY r.nspname, r.relname)
      FROM rels r WHERE r.relkind IN ('r', 'p')), '[]'::jsonb),
  'foreign_keys', coalesce((
    SELECT jsonb_agg(jsonb_build_object(
             'name', con.conname,
             'table', jsonb_build_object('schema', cn.nspname, 'name', cc.relname),
             'referenced', jsonb_build_object('schema', fn.nspname, 'name', fc.relname),
             'definition', pg_catalog.pg_get_constraintdef(con.oid),
             'validated', con.convalidated,
             'inherited', con.conparentid <> 0,
             'columns', (SELECT jsonb_agg(a.attname ORDER BY k.n)
                           FROM unnest(con.conkey) WITH ORDINALITY k(attnum, n)
                           JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum),
             'referenced_columns', (SELECT jsonb_agg(a.attname ORDER BY k.n)
                                      FROM unnest(con.confkey) WITH ORDINALITY k(attnum, n)
                                      JOIN pg_catalog.pg_attribute a
                                        ON a.attrelid = con.confrelid AND a.attnum = k.attnum),
             'match_full', con.confmatchtype = 'f',
             -- How each column pair compares (the key's own equality operator,
             -- conpfeqop), for the joins pgcopy writes over it (--where):
             -- whether the operator takes exactly the two columns' types
             -- (domains as their base types), so no cast runs; who other
             -- than superusers owns it, its function or its schema; and who
             -- other than superusers owns the columns' types (such an owner
             -- may add an implicit cast that a parser would pick).
             'equality', (SELECT jsonb_agg(jsonb_build_object(
                                    'schema', opn.nspname,
                                    'name', op.oprname,
                                    'exact', op.oprleft = rb.base AND op.oprright = cb.base,
                                    'owners', (SELECT coalesce(jsonb_agg(DISTINCT r.rolname), '[]'::jsonb)
                                                 FROM pg_catalog.pg_roles r
                                                WHERE r.oid IN (op.oprowner, pr.proowner,
                                                                CASE WHEN opn.nspowner = (SELECT ro.oid FROM pg_catalog.pg_roles ro
                                                                                           WHERE ro.rolname = 'pg_database_owner')
                                                                     THEN (SELECT d.datdba FROM pg_catalog.pg_database d
                                                                            WHERE d.datname = pg_catalog.current_database())
                                                                     ELSE opn.nspowner END)
                                                  AND NOT r.rolsuper),
                                    -- roles that may create in its schema: one
                                    -- could add an operator of the same name
                                    -- that takes the columns' types exactly
                                    'creators', (SELECT coalesce(jsonb_agg(DISTINCT
                                                            CASE WHEN g.grantee = 0 THEN 'PUBLIC'
                                                                 ELSE pg_catalog.pg_get_userbyid(g.grantee)::text END),
                                                            '[]'::jsonb)
                                                   FROM pg_catalog.aclexplode(opn.nspacl) g
                                                   LEFT JOIN pg_catalog.pg_roles r ON r.oid = g.grantee
                                                  WHERE g.privilege_type = 'CREATE'
                                                    AND NOT coalesce(r.rolsuper, false)),
                                    'type_owners', (SELECT coalesce(jsonb_agg(DISTINCT r.rolname), '[]'::jsonb)
                                                      FROM pg_catalog.pg_type ty
                                                      JOIN pg_catalog.pg_roles r ON r.oid = ty.typowner
                                                     WHERE ty.oid IN (ca.atttypid, ra.atttypid, rb.base, cb.base,
                                                                      rb.elem, cb.elem)
                                                       AND NOT r.rolsuper)
                                  ) ORDER BY k.n)
                            FROM unnest(con.conpfeqop, con.conkey, con.confkey) WITH ORDINALITY k(op, ck, rk, n)
                            JOIN pg_catalog.pg_operator op ON op.oid = k.op
                            JOIN pg_catalog.pg_namespace opn ON opn.oid = op.oprnamespace
                            JOIN pg_catalog.pg_proc pr ON pr.oid = op.oprcode
                            JOIN pg_catalog.pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.ck
                            JOIN pg_catalog.pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.rk
                            -- each column's type with its domains peeled off
                            CROSS JOIN LATERAL (
                                WITH RECURSIVE b(oid, next, elem) AS (
                                    SELECT ty.oid, ty.typbasetype, ty.typelem FROM pg_catalog.pg_type ty
                                     WHERE ty.oid = ca.atttypid
                                    UNION ALL
                                    SELECT ty.oid, ty.typbasetype, ty.typelem FROM b
                                      JOIN pg_catalog.pg_type ty ON ty.oid = b.next)
                                SELECT b.oid AS base, b.elem FROM b WHERE b.next = 0) cb
                            CROSS JOIN LATERAL (
                                WITH RECURSIVE b(oid, next, elem) AS (
                                    SELECT ty.oid, ty.typbasetype, ty.typelem FROM pg_catalog.pg_type ty
                                     WHERE ty.oid = ra.atttypid
                                    UNION ALL
                                    SELECT ty.oid, ty.typbasetype, ty.typelem FROM b
                                      JOIN pg_catalog.pg_type ty ON ty.oid = b.next)
                                SELECT b.oid AS base, b.elem FROM b WHERE b.next = 0) rb),
             -- A dropped key comes back as its table's owner, who needs
             -- REFERENCES on the referenced columns (superusers have it).
             'index', (SELECT ix.relname FROM pg_catalog.pg_class ix WHERE ix.oid = con.conindid),
             'owner_may_reference', (SELECT pg_catalog.bool_and(
                                               pg_catalog.has_column_privilege(cc.relowner, con.confrelid,
                                                                               k.attnum, 'REFERENCES'))
                                       FROM unnest(con.confkey) k(attnum)),
             -- The referenced column's collation, where the referencing
             -- column's is another: the pair compares in it.
             'collations', (SELECT jsonb_agg(CASE WHEN ra.attcollation <> 0 AND ca.attcollation <> ra.attcollation
                                                  THEN jsonb_build_object('schema', ns.nspname, 'name', co.collname)
                                             END ORDER BY k.n)
                              FROM unnest(con.conkey, con.confkey) WITH ORDINALITY k(ck, rk, n)
                              JOIN pg_catalog.pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.ck
                              JOIN pg_catalog.pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.rk
                              LEFT JOIN pg_catalog.pg_collation co ON co.oid = ra.attcollation
                              LEFT JOIN pg_catalog.pg_namespace ns ON ns.oid = co.collnamespace)
           ) ORDER BY cn.nspname, cc.relname, con.conname)
      FROM pg_catalog.pg_constraint con
      JOIN pg_catalog.pg_class cc ON cc.oid = con.conrelid
      JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace
      JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid
      JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
     WHERE con.contype = 'f'
       AND cn.nspname <> 'information_schema' AND cn.nspname !~ '^pg_'), '[]'::jsonb),
  -- NOT VALID CHECK constraints: the source may hold rows they reject, so a
  -- load goes without them and they come back NOT VALID, as foreign keys do.
  'not_valid_checks', coalesce((
    SELECT jsonb_agg(jsonb_build_object(
             'name', con.conname,
             'table', jsonb_build_object('schema', r.nspname, 'name', r.relname),
             'referenced', jsonb_build_object('schema', r.nspname, 'name', r.relname),
             'definition', pg_catalog.pg_get_constraintdef(con.oid),
             'validated', false,
             'kind', 'check'
           ) ORDER BY r.nspname, r.relname, con.conname)
      FROM pg_catalog.pg_constraint con
      JOIN rels r ON r.oid = con.conrelid AND r.relkind = 'r'
     WHERE con.contype = 'c' AND NOT con.convalidated AND con.conislocal AND con.coninhcount = 0), '[]'::jsonb),
  'sequences', coalesce((
    SELECT jsonb_agg(jsonb_build_object(
             'schema', r.nspname,
             'name', r.relname,
             'owned_by', (SELECT jsonb_build_object('schema', tn.nspname, 'name', tc.relname)
                            FROM pg_catalog.pg_depend d
                            JOIN pg_catalog.pg_class tc ON tc.oid = d.refobjid
                            JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
                           WHERE d.classid = 'pg_catalog.pg_class'::regclass
                             AND d.objid = r.oid
                             AND d.refclassid = 'pg_catalog.pg_class'::regclass
                             AND d.deptype IN ('a', 'i')
                           LIMIT 1),
             -- Tables whose column defaults call it, owned or not (pagila's
             -- sequences are used this way and owned by no table).
             'used_by', coalesce((
                 SELECT jsonb_agg(DISTINCT jsonb_build_object('schema', tn.nspname, 'name', tc.relname))
                   FROM pg_catalog.pg_depend d
                   JOIN pg_catalog.pg_attrdef ad ON ad.oid = d.objid
                   JOIN pg_catalog.pg_class tc ON tc.oid = ad.adrelid
                   JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
                  WHERE d.classid = 'pg_catalog.pg_attrdef'::regclass
                    AND d.refclassid = 'pg_catalog.pg_class'::regclass
                    AND d.refobjid = r.oid), '[]'::jsonb)
           ) ORDER BY r.nspname, r.relname)
      FROM rels r WHERE r.relkind = 'S'), '[]'::jsonb),
  'indexes', coalesce((
    SELECT jsonb_agg(jsonb_build_object(
             'table', jsonb_build_object('schema', tn.nspname, 'name', t.relname),
             'name', ic.relname,
             'definition', pg_catalog.pg_get_indexdef(i.indexrelid),
             'oid', i.indexrelid::int8,
             'unique', i.indisunique,
             -- (A foreign key may reference a unique index that backs no
             -- constraint: the planner keeps every unique index of a table a
             -- foreign key left in place references.)
             'backs_constraint', EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.conindid = i.indexrelid
                                                                                  AND c.conrelid = i.indrelid
                                                                                  AND c.contype IN ('p', 'u', 'x')),
             'valid', i.indisvalid,
             'is_partition', ic.relispartition,
             'parent', (SELECT jsonb_build_object('schema', pn.nspname, 'name', pc.relname)
                          FROM pg_catalog.pg_inherits h
                          JOIN pg_catalog.pg_class pc ON pc.oid = h.inhparent
                          JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
                         WHERE h.inhrelid = i.indexrelid),
             'has_expressions', i.indexprs IS NOT NULL,
             -- What a foreign key re-created after the load asks of the
             -- index it will use (the oldest that fits).
             'key_columns', coalesce((SELECT jsonb_agg(a.attname ORDER BY k.n)
                                        FROM unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY k(attnum, n)
                                        JOIN pg_catalog.pg_attribute a
                                          ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                                       WHERE k.n <= i.indnkeyatts), '[]'::jsonb),
             'partial', i.indpred IS NOT NULL,
             'immediate', i.indimmediate,
             'replica_identity', i.indisreplident,
             'clustered', i.indisclustered,
             'comment', pg_catalog.obj_description(i.indexrelid, 'pg_class'),
             'statistics', coalesce((
                 SELECT jsonb_agg(jsonb_build_array(a.attnum, a.attstattarget) ORDER BY a.attnum)
                   FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0), '[]'::jsonb),
             'tablespace', (SELECT ts.spcname FROM pg_catalog.pg_tablespace ts WHERE ts.oid = ic.reltablespace),
             -- Roles other than superusers, the table's owner and this one
             -- that could put other objects under the names the index's
             -- definition resolves, once its drop unpins them: owners of what
             -- it depends on (functions, operators, types, collations,
             -- operator classes, and the types of the columns it reads, whose
             -- owners may add casts from them), owners of their schemas, and
             -- roles with CREATE there (PUBLIC as 'PUBLIC'). An index such a
             -- role could rebind is not deferred, unless it is trusted.
             'rebinders', coalesce((
                 WITH RECURSIVE
                 -- every type the index reads or computes: its columns', and
                 -- every type named in its expression and predicate trees
                 -- (a function's result, a constant's, a cast's), with the
                 -- types inside them (domains' base types, elements, ranges'
                 -- subtypes, rows' columns): an owner of any of them may add
                 -- or replace a cast the definition would pick
                 types(oid) AS (
                     SELECT a.atttypid
                       FROM pg_catalog.pg_depend d
                       JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                      WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = i.indexrelid
                        AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjsubid > 0
                     UNION
                     SELECT m.id[1]::oid
                       FROM pg_catalog.regexp_matches(
                                coalesce(i.indexprs::text, '') || ' ' || coalesce(i.indpred::text, ''),
                                ':[a-z_]*typ[a-z_]* (\d+)', 'g') AS m(id)
                     UNION
                     SELECT x.oid FROM types ty JOIN pg_catalog.pg_type t ON t.oid = ty.oid
                      CROSS JOIN LATERAL (
                            SELECT t.typelem WHERE t.typelem <> 0
                            UNION ALL SELECT t.typbasetype WHERE t.typbasetype <> 0
                            UNION ALL SELECT rg.rngsubtype FROM pg_catalog.pg_range rg WHERE rg.rngtypid = t.oid
                            UNION ALL SELECT ca.atttypid FROM pg_catalog.pg_attribute ca
                                       WHERE t.typrelid <> 0 AND ca.attrelid = t.typrelid
                                         AND ca.attnum > 0 AND NOT ca.attisdropped) x(oid)
                 ),
                 deps AS (
                     SELECT d.refclassid AS cls, d.refobjid AS obj FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = i.indexrelid
                        AND d.deptype IN ('n', 'a')
                     UNION
                     SELECT 'pg_catalog.pg_type'::regclass, t.oid
                       FROM types JOIN pg_catalog.pg_type t ON t.oid = types.oid
                 ),
                 objs(owner, nsp) AS (
                     SELECT p.proowner, p.pronamespace FROM deps JOIN pg_catalog.pg_proc p
                         ON deps.cls = 'pg_catalog.pg_proc'::regclass AND p.oid = deps.obj
                     UNION ALL
                     SELECT o.oprowner, o.oprnamespace FROM deps JOIN pg_catalog.pg_operator o
                         ON deps.cls = 'pg_catalog.pg_operator'::regclass AND o.oid = deps.obj
                     UNION ALL
                     SELECT ty.typowner, ty.typnamespace FROM deps JOIN pg_catalog.pg_type ty
                         ON deps.cls = 'pg_catalog.pg_type'::regclass AND ty.oid = deps.obj
                     UNION ALL
                     SELECT co.collowner, co.collnamespace FROM deps JOIN pg_catalog.pg_collation co
                         ON deps.cls = 'pg_catalog.pg_collation'::regclass AND co.oid = deps.obj
                     UNION ALL
                     SELECT oc.opcowner, oc.opcnamespace FROM deps JOIN pg_catalog.pg_opclass oc
                         ON deps.cls = 'pg_catalog.pg_opclass'::regclass AND oc.oid = deps.obj
                 ),
                 who(role) AS (
                     SELECT owner FROM objs
                     UNION
                     SELECT n.nspowner FROM objs JOIN pg_catalog.pg_namespace n ON n.oid = objs.nsp
                     UNION
                     SELECT g.grantee FROM objs JOIN pg_catalog.pg_namespace n ON n.oid = objs.nsp
                      CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) g
                      WHERE g.privilege_type = 'CREATE'
                 ),
                 -- pg_database_owner stands for the database's owner
                 roles(role) AS (
                     SELECT CASE WHEN w.role = (SELECT ro.oid FROM pg_catalog.pg_roles ro
                                                 WHERE ro.rolname = 'pg_database_owner')
                                 THEN (SELECT d.datdba FROM pg_catalog.pg_database d
                                        WHERE d.datname = pg_catalog.current_database())
                                 ELSE w.role END
                       FROM who w
                 )
                 SELECT jsonb_agg(DISTINCT CASE WHEN w.role = 0 THEN 'PUBLIC'
                                                ELSE pg_catalog.pg_get_userbyid(w.role)::text END)
                   FROM roles w LEFT JOIN pg_catalog.pg_roles r ON r.oid = w.role
                  WHERE w.role <> t.relowner
                    AND NOT coalesce(r.rolsuper, false)
                    AND (w.role = 0 OR r.rolname <> current_user)), '[]'::jsonb),
             -- CREATE INDEX asks its runner for CREATE on the schema and the
             -- tablespace: an index this role may not build again stays.
             'creatable', pg_catalog.has_schema_privilege(t.relnamespace, 'CREATE')
                          AND (ic.reltablespace = 0
                               OR pg_catalog.has_tablespace_privilege(ic.reltablespace, 'CREATE')),
             -- A b-tree's PRIMARY KEY or UNIQUE constraint: a load may drop it
             -- with its index and put it back USING INDEX (not a GiST one, as
             -- PostgreSQL 18's WITHOUT OVERLAPS key, which USING INDEX refuses;
             -- nor one of a table in an INHERITS tree: a key put back sets NOT
             -- NULL on the children's columns too).
             'constraint', (SELECT jsonb_build_object(
                                     'kind', CASE c.contype WHEN 'p' THEN 'primary_key' ELSE 'unique' END,
                                     'deferrable', c.condeferrable,
                                     'initially_deferred', c.condeferred,
                                     'comment', pg_catalog.obj_description(c.oid, 'pg_constraint'))
                              FROM pg_catalog.pg_constraint c
                             WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid
                               AND c.contype IN ('p', 'u')
                               AND ic.relam = (SELECT am.oid FROM pg_catalog.pg_am am WHERE am.amname = 'btree')
                               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h
                                                WHERE h.inhparent = i.indrelid OR h.inhrelid = i.indrelid)),
             -- What other than a foreign key depends on the index or its
             -- constraint (the index itself depends on the constraint).
             'others_depend', EXISTS (
                 SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE ((d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = i.indexrelid)
                         OR (d.refclassid = 'pg_catalog.pg_constraint'::regclass
                             AND d.refobjid IN (SELECT c.oid FROM pg_catalog.pg_constraint c
                                                 WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid
                                                   AND c.contype IN ('p', 'u', 'x'))))
                    AND d.deptype = 'n'
                    AND NOT (d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = i.indexrelid)
                    AND NOT (d.classid = 'pg_catalog.pg_constraint'::regclass
                             AND EXISTS (SELECT 1 FROM pg_catalog.pg_constraint f
                                          WHERE f.oid = d.objid AND f.contype = 'f'))),
             -- A partition that is not a table (a foreign table) has no index to
             -- attach: an `ON ONLY` index rebuilt with the others stays invalid.
             'other_partitions', t.relkind = 'p' AND EXISTS (
                 SELECT 1 FROM pg_catalog.pg_partition_tree(t.oid) pt
                   JOIN pg_catalog.pg_class pc ON pc.oid = pt.relid
                  WHERE pc.relkind NOT IN ('r', 'p'))
           ) ORDER BY tn.nspname, t.relname, i.indexrelid)
      FROM pg_catalog.pg_index i
      JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
      JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
     WHERE t.oid IN (SELECT oid FROM rels WHERE relkind IN ('r', 'p'))), '[]'::jsonb),
  'matviews', coalesce((
    SELECT jsonb_agg(jsonb_build_object(
             'schema', r.nspname,
             'name', r.relname,
             'populated', r.relispopulated,
             'owner', pg_catalog.pg_get_userbyid(r.relowner),
             'is_owner', pg_catalog.pg_has_role(r.relowner, 'USAGE'),
             'depends_on', coalesce((
                 SELECT jsonb_agg(DISTINCT jsonb_build_object('schema', dn.nspname, 'name', dc.relname))
                   FROM pg_catalog.pg_rewrite rw
                   JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass
                                              AND d.objid = rw.oid
                                              AND d.refclassid = 'pg_catalog.pg_class'::regclass
                   JOIN pg_catalog.pg_class dc ON dc.oid = d.refobjid AND dc.oid <> r.oid
                   JOIN pg_catalog.pg_namespace dn ON dn.oid = dc.relnamespace
                  WHERE rw.ev_class = r.oid), '[]'::jsonb)
           ) ORDER BY r.nspname, r.relname)
      FROM rels r WHERE r.relkind = 'm'), '[]'::jsonb),
  -- Not copied, but worth a word: oid columns may refer to them.
  'large_objects', (SELECT count(*) FROM pg_catalog.pg_largeobject_metadata),
  'current_user', current_user::text,
  'server_version_num', pg_catalog.current_setting('server_version_num')::integer,
  'superuser', coalesce((SELECT ro.rolsuper FROM pg_catalog.pg_roles ro WHERE ro.rolname = current_user), false)
)::text
