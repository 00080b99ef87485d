-- Job $1 saved and dropped its foreign keys (in the transaction that does).
UPDATE @extschema@.jobs SET fks_dropped_at = now() WHERE job_id = $1
