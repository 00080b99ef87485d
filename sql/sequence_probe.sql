-- Reads what a sequence's catalog row says, with $1 its qualified name:
-- one row when the name leads to a relation, of its OID, whether it is a
-- sequence, its increment, and its last value when nextval has been
-- called (NULL otherwise). Nothing runs but the lookup, whatever the name
-- leads to now: a view that replaced the sequence under its name is never
-- read. Reading the value locks the sequence until the transaction ends, so
-- it is renamed or dropped by nobody before read_sequence.
SELECT c.oid, c.relkind = 'S',
       (SELECT s.seqincrement FROM pg_catalog.pg_sequence s WHERE s.seqrelid = c.oid),
       CASE WHEN c.relkind = 'S' THEN pg_catalog.pg_sequence_last_value(c.oid) END
  FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)
