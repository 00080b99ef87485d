-- The index builds of this run (its builders' sessions are named "pgcopy
-- index builder N"): (table, phase, percent done when known), by table.
SELECT p.relid::pg_catalog.regclass::pg_catalog.text, p.phase,
       CASE WHEN p.blocks_total > 0 THEN 100 * p.blocks_done / p.blocks_total
            WHEN p.tuples_total > 0 THEN 100 * p.tuples_done / p.tuples_total END
  FROM pg_catalog.pg_stat_progress_create_index p
  JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid
 WHERE a.application_name LIKE 'pgcopy index builder %'
 ORDER BY 1
