-- How a foreign key's validation plans its check. PostgreSQL checks the
-- rows with one anti-join of the referencing table with the referenced one
-- (`RI_Initial_Check`), and plans it by cost, which most often hashes the
-- referenced table's keys: for a large one, every probe is a cache miss.
-- Where both sides can be read in key order from their indexes, a merge
-- reads each once, in order: on a copy's 3M rows referencing 1M, 0.3 s
-- against 0.95 s. So this turns hash joins off for the rest of the
-- validation's transaction (set_config(..., true)) when:
--   * both tables are plain tables, at least 90% all-visible (a load with
--     COPY FREEZE, then indexed or analyzed), so both indexes are read
--     without visiting the heap;
--   * a valid, ready, non-partial btree index of the referencing table has
--     the key's columns as its leading columns, each in an operator family
--     holding the key's equality and in the referenced column's collation,
--     so a merge can read it in key order.
-- Otherwise nothing is set and the planner chooses as it would. The check
-- finds the same rows under any plan: this changes its speed, never its
-- outcome. No row (and nothing set) when the key is not there.
--
-- $1 the referencing table (a quoted qualified name), $2 the constraint's
-- name. Read with search_path = pg_catalog, pg_temp.
SELECT pg_catalog.set_config('enable_hashjoin', 'off', true)
  FROM pg_catalog.pg_constraint k
  JOIN pg_catalog.pg_class fk ON fk.oid OPERATOR(pg_catalog.=) k.conrelid
  JOIN pg_catalog.pg_class pk ON pk.oid OPERATOR(pg_catalog.=) k.confrelid
 WHERE k.conrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1)
   AND k.conname OPERATOR(pg_catalog.=) $2::pg_catalog.text
   AND k.contype OPERATOR(pg_catalog.=) 'f'
   AND fk.relkind OPERATOR(pg_catalog.=) 'r' AND pk.relkind OPERATOR(pg_catalog.=) 'r'
   AND fk.relallvisible::pg_catalog.float8
       OPERATOR(pg_catalog.>=) (0.9 OPERATOR(pg_catalog.*) fk.relpages::pg_catalog.float8)
   AND pk.relallvisible::pg_catalog.float8
       OPERATOR(pg_catalog.>=) (0.9 OPERATOR(pg_catalog.*) pk.relpages::pg_catalog.float8)
   AND EXISTS (
       SELECT FROM pg_catalog.pg_index i
         JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid
         JOIN pg_catalog.pg_am am ON am.oid OPERATOR(pg_catalog.=) ic.relam
        WHERE i.indrelid OPERATOR(pg_catalog.=) k.conrelid
          AND i.indisvalid AND i.indisready AND i.indpred IS NULL
          AND am.amname OPERATOR(pg_catalog.=) 'btree'
          AND i.indnkeyatts OPERATOR(pg_catalog.>=) pg_catalog.cardinality(k.conkey)
          -- every column of the key is one of the index's leading columns
          AND NOT EXISTS (
              SELECT FROM pg_catalog.generate_subscripts(k.conkey, 1) j
               WHERE NOT EXISTS (
                     SELECT FROM pg_catalog.generate_series(0, (pg_catalog.cardinality(k.conkey) OPERATOR(pg_catalog.-) 1)) p
                       JOIN pg_catalog.pg_opclass oc ON oc.oid OPERATOR(pg_catalog.=) i.indclass[p]
                       JOIN pg_catalog.pg_attribute ra ON ra.attrelid OPERATOR(pg_catalog.=) k.confrelid
                                                       AND ra.attnum OPERATOR(pg_catalog.=) k.confkey[j]
                      WHERE i.indkey[p] OPERATOR(pg_catalog.=) k.conkey[j]
                        AND i.indcollation[p] OPERATOR(pg_catalog.=) ra.attcollation
                        AND EXISTS (SELECT FROM pg_catalog.pg_amop o
                                     WHERE o.amopfamily OPERATOR(pg_catalog.=) oc.opcfamily
                                       AND o.amopopr OPERATOR(pg_catalog.=) k.conpfeqop[j]
                                       AND o.amopstrategy OPERATOR(pg_catalog.=) 3::pg_catalog.int2))))
