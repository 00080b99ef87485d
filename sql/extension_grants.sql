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
