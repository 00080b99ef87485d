-- Job $1's tables, column by column as arrays: $2 schemas, $3 names,
-- $4 partitioned roots (NULL: none), $5 estimated rows, $6 bytes,
-- $7 chunk counts.
INSERT INTO @extschema@.job_tables (job_id, table_schema, table_name, partition_of, est_rows,
                                    est_bytes, chunk_count)
SELECT $1, t.s, t.n, t.p, t.r, t.b, t.c
  FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::int[])
       AS t(s, n, p, r, b, c)
