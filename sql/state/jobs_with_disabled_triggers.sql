-- Jobs that no client runs any more and that list disabled triggers: $1 one
-- job, or NULL for all.
SELECT j.job_id, j.disabled_triggers
  FROM @extschema@.jobs j
 WHERE j.disabled_triggers IS NOT NULL
   AND j.state NOT IN ('succeeded', 'discarded')
   AND (j.state <> 'running' OR @extschema@.job_is_stale(j))
   AND ($1::bigint IS NULL OR j.job_id = $1)
 ORDER BY j.job_id
