-- The identities the bindings $1 (jsonb, as saved) carry now, one row
-- each in their order: for an index, the identity of the index now under
-- that name; for anything else, of the object with that OID (NULL when it
-- is gone).
SELECT CASE WHEN b.rebuilt
            THEN (SELECT (pg_catalog.pg_identify_object('pg_catalog.pg_class'::pg_catalog.regclass, r.oid, 0)).identity
                    FROM pg_catalog.pg_class r WHERE r.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(b.identity))
            ELSE (pg_catalog.pg_identify_object(b.class, b.oid, 0)).identity END
  FROM ROWS FROM (pg_catalog.jsonb_to_recordset($1::pg_catalog.jsonb)
                  AS (class pg_catalog.oid, oid pg_catalog.oid, sub pg_catalog.int4, identity pg_catalog.text,
                      rebuilt pg_catalog.bool)) WITH ORDINALITY AS b(class, oid, sub, identity, rebuilt, n)
 ORDER BY b.n
