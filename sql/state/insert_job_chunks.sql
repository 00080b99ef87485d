-- Job $1's chunks, column by column as arrays: $2 schemas, $3 table names,
-- $4 chunk indexes, $5 first pages, $6 end pages (NULL: open).
INSERT INTO @extschema@.job_chunks (job_id, table_schema, table_name, chunk_index, start_page, end_page)
SELECT $1, c.s, c.n, c.i, c.f, c.e
  FROM unnest($2::text[], $3::text[], $4::int[], $5::bigint[], $6::bigint[]) AS c(s, n, i, f, e)
