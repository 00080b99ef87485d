-- A chunk's progress, in the transaction that loads it: $1 job, $2 schema,
-- $3 table, $4 chunk, $5 rows, $6 bytes, $7 whether the table is done with
-- it (its only chunk).
--
-- now() is the load transaction's start, the chunk's: the table started
-- with its first chunk, and ends at this commit (clock_timestamp()), so the
-- rate status() shows is the load's.
--
-- It fails (division by zero, aborting the load's transaction) when the
-- chunk is done already: an earlier attempt's transaction, whose client
-- lost its connection while the server still had the COMMIT queued, may
-- commit after the retry started. The row lock makes this one wait for that
-- one's end, and then see it done, so a chunk's rows are committed once.
WITH table_done AS (
     UPDATE @extschema@.job_tables
        SET state = 'done', started_at = coalesce(started_at, now()),
            finished_at = pg_catalog.clock_timestamp()
      WHERE $7 AND job_id = $1 AND table_schema = $2 AND table_name = $3),
table_started AS (
     UPDATE @extschema@.job_tables SET started_at = now()
      WHERE NOT $7 AND started_at IS NULL
        AND job_id = $1 AND table_schema = $2 AND table_name = $3),
chunk AS (
     UPDATE @extschema@.job_chunks
        SET state = 'done', rows_copied = $5, bytes_copied = $6,
            attempts = attempts + 1, finished_at = now(), error = NULL
      WHERE job_id = $1 AND table_schema = $2 AND table_name = $3
        AND chunk_index = $4 AND state <> 'done'
  RETURNING 1)
SELECT 1 / count(*)::int FROM chunk
