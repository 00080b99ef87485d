-- The large objects of one batch on the source, in OID order: $1 the first
-- OID, $2 the last, $3 the bytes of each read with it (the first slice; a
-- longer object is read on in slices of the same size). Each row: OID,
-- owner, comment, first slice.
SELECT m.oid, pg_catalog.pg_get_userbyid(m.lomowner)::text,
       pg_catalog.obj_description(m.oid, 'pg_largeobject'),
       pg_catalog.lo_get(m.oid, 0, $3)
  FROM pg_catalog.pg_largeobject_metadata m
 WHERE m.oid BETWEEN $1 AND $2
 ORDER BY m.oid
