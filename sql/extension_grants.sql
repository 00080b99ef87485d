-- Extension only, the last thing CREATE EXTENSION pgcopy runs. Every object
-- above belongs to the superuser that ran the script; the installing role
-- (@extowner@, who runs the CLI) gets exactly what the CLI does with them:
-- it reads and writes the state rows. No DELETE or TRUNCATE (pgcopy never
-- deletes a saved definition), no TRIGGER, REFERENCES or ownership (which
-- would let it attach code to the tables), and no CREATE on the schema.
-- Which job rows it may write is further limited by the guard triggers.
SET LOCAL search_path = pg_catalog, pg_temp;
GRANT USAGE ON SCHEMA @extschema@ TO @extowner@;
GRANT SELECT, INSERT, UPDATE ON @extschema@.jobs, @extschema@.job_tables, @extschema@.job_chunks,
      @extschema@.job_workers, @extschema@.saved_fks, @extschema@.saved_indexes TO @extowner@;
GRANT SELECT ON @extschema@.progress, @extschema@.pending_fks TO @extowner@;

-- What \df+ and \dx+ show a DBA (the SQL functions of state_schema.sql carry
-- theirs there; these are the library's, defined by pgrx before this file).
COMMENT ON FUNCTION @extschema@.extension_version() IS 'Version of the installed pgcopy library (the CLI that writes these tables says its own in jobs.client_version).';
COMMENT ON FUNCTION @extschema@.plan(text[], text[], bigint, text[], boolean, text[], text[]) IS 'What a copy into this database would do, planned from its own catalog by the code of pgcopy copy --dry-run (drop mode): one row per table in load order, with chunks, bare-heap choice, rows taken under row_filters (--where), transformed columns (--transform). Shows, never runs.';
COMMENT ON FUNCTION @extschema@.restore_fks(bigint, boolean) IS 'Puts back what jobs no client runs any more saved and dropped: indexes and constraints of bare heaps, then foreign keys (validated unless validate is false), then disabled triggers; each as its table''s owner, checked against the saved definition, in its own subtransaction; idempotent. job NULL: every such job the caller may act for.';
