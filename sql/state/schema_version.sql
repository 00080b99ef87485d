-- The version of the state schema's tables.
SELECT @extschema@.schema_version()
