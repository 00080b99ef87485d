-- Job $1's large objects, tracked as a table ($2 schema, $3 name) of
-- $4 objects in $5 batches.
INSERT INTO @extschema@.job_tables (job_id, table_schema, table_name, est_rows, chunk_count)
VALUES ($1, $2, $3, $4, $5)
