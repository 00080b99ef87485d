-- Every job, newest first.
SELECT j.job_id, p.state, j.source, j.started_at::text, j.finished_at::text,
       coalesce(p.rows_copied, 0), coalesce(j.error, '')
  FROM @extschema@.jobs j JOIN @extschema@.progress p USING (job_id)
 ORDER BY j.job_id DESC
