-- Of the function names $1 (bare, or qualified as written), those that
-- name a volatile function visible on the path, or qualified; sorted.
SELECT n.name FROM unnest($1::pg_catalog.text[]) AS n(name)
 WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
                 JOIN pg_catalog.pg_namespace s ON s.oid OPERATOR(pg_catalog.=) p.pronamespace
                WHERE p.provolatile OPERATOR(pg_catalog.=) 'v'
                  AND CASE WHEN pg_catalog.strpos(n.name, '.') OPERATOR(pg_catalog.>) 0
                           THEN (s.nspname OPERATOR(pg_catalog.||) '.'
                                 OPERATOR(pg_catalog.||) p.proname) OPERATOR(pg_catalog.=) n.name
                           ELSE p.proname OPERATOR(pg_catalog.=) n.name
                                AND pg_catalog.pg_function_is_visible(p.oid) END)
 ORDER BY 1
