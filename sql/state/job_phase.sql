-- Job $1 enters phase $2.
UPDATE @extschema@.jobs SET phase = $2 WHERE job_id = $1
