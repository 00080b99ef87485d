-- Jobs that did not finish (neither succeeded nor discarded), newest first:
-- $1 one job, or NULL for all.
SELECT job_id, state, @extschema@.job_is_stale(j), source, coalesce(plan, 'null'), options,
       truncated_at IS NOT NULL,
       coalesce(disabled_triggers, '[]'),
       pg_catalog.pg_get_userbyid(created_by)::text,
       pg_catalog.pg_get_userbyid(created_by) = current_user,
       coalesce(@extschema@.next_step(j), '')
  FROM @extschema@.jobs j
 WHERE state NOT IN ('succeeded', 'discarded') AND ($1::bigint IS NULL OR job_id = $1)
 ORDER BY job_id DESC
