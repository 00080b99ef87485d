-- The privileges of one batch's large objects on the source ($1 the first
-- OID, $2 the last), as the source lists them, the owner's own included (an
-- owner may have revoked some of its own): OID, privilege, grantee (NULL:
-- PUBLIC), grantable, and the grantor where it is not the owner.
SELECT m.oid, a.privilege_type,
       CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END,
       a.is_grantable,
       CASE WHEN a.grantor OPERATOR(pg_catalog.<>) m.lomowner
            THEN pg_catalog.pg_get_userbyid(a.grantor)::text END
  FROM pg_catalog.pg_largeobject_metadata m, pg_catalog.aclexplode(m.lomacl) a
 WHERE m.oid BETWEEN $1 AND $2
