-- Job $1 truncated its tables (in the transaction that does).
UPDATE @extschema@.jobs SET truncated_at = now() WHERE job_id = $1
