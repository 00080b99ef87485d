-- The waits of this run's sessions (by application_name, $1 a LIKE
-- pattern) longer than a second: (waiting pid, relation or what it waits
-- for, seconds, who holds it).
SELECT l.pid, coalesce(l.relation::pg_catalog.regclass::pg_catalog.text, l.locktype),
       pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) l.waitstart),
       coalesce((SELECT pg_catalog.string_agg(b.pid::pg_catalog.text OPERATOR(pg_catalog.||) ' ('
                        OPERATOR(pg_catalog.||) coalesce(nullif(a.application_name, ''), a.usename::pg_catalog.text, 'unknown')
                        OPERATOR(pg_catalog.||) ')', ', ')
                   FROM pg_catalog.unnest(pg_catalog.pg_blocking_pids(l.pid)) AS b(pid)
                   LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) b.pid), '')
  FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity s ON s.pid OPERATOR(pg_catalog.=) l.pid
 WHERE NOT l.granted AND s.application_name LIKE $1
   AND s.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
   AND l.waitstart OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 second')
