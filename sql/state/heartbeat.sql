-- Job $1's heartbeat and each worker's live position, as arrays: $2 worker,
-- $3 table schema, $4 table name, $5 chunk (NULL: idle), $6 rows and $7
-- bytes streamed of the chunk so far, $8 seconds since the chunk started.
WITH beat AS (UPDATE @extschema@.jobs SET heartbeat_at = now() WHERE job_id = $1)
INSERT INTO @extschema@.job_workers (job_id, worker, table_schema, table_name, chunk_index,
                                     rows_streamed, bytes_streamed, chunk_started_at, updated_at)
SELECT $1, x.worker, x.s, x.t, x.c, x.r, x.b, now() - make_interval(secs => x.secs), now()
  FROM unnest($2::int[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::bigint[], $8::float8[])
       AS x(worker, s, t, c, r, b, secs)
    ON CONFLICT (job_id, worker) DO UPDATE SET
       table_schema = EXCLUDED.table_schema, table_name = EXCLUDED.table_name,
       chunk_index = EXCLUDED.chunk_index, rows_streamed = EXCLUDED.rows_streamed,
       bytes_streamed = EXCLUDED.bytes_streamed, chunk_started_at = EXCLUDED.chunk_started_at,
       updated_at = now()
