-- The tables whose user triggers job $1 has disabled: $2 (jsonb; NULL when
-- none), written in the transaction that changes them.
UPDATE @extschema@.jobs SET disabled_triggers = $2 WHERE job_id = $1
