-- Marks unfinished job $1, which left nothing to undo, discarded, keeping its
-- error.
UPDATE @extschema@.jobs SET state = 'discarded', finished_at = coalesce(finished_at, now())
 WHERE job_id = $1
