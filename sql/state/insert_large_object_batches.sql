-- Job $1's batches of large objects, chunks of the table ($2 schema,
-- $3 name) that stands for them: $4 indexes, $5 first OIDs, $6 OIDs after
-- the last, as arrays.
INSERT INTO @extschema@.job_chunks (job_id, table_schema, table_name, chunk_index, start_page, end_page)
SELECT $1, $2, $3, b.i, b.first, b.after
  FROM unnest($4::int[], $5::bigint[], $6::bigint[]) AS b(i, first, after)
