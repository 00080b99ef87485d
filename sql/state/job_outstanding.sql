-- What job $1 left out: saved keys not back as they were, saved indexes not
-- rebuilt, triggers still disabled.
SELECT (SELECT count(*) FROM @extschema@.saved_fks WHERE job_id = $1
           AND (restored_at IS NULL OR (was_validated AND restored_valid IS NOT TRUE))),
       (SELECT count(*) FROM @extschema@.saved_indexes WHERE job_id = $1 AND restored_at IS NULL),
       (SELECT coalesce(pg_catalog.jsonb_array_length(disabled_triggers), 0)::bigint
          FROM @extschema@.jobs WHERE job_id = $1)
