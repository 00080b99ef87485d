-- Extension only, the first thing CREATE EXTENSION pgcopy runs. The extension
-- is trusted: a role with CREATE on the database may install it, and this
-- script then runs as the bootstrap superuser. Rules from PostgreSQL's
-- "Security Considerations for Extensions", and where each is met:
--
--   * Scripts: general-purpose SQL runs with search_path = pg_catalog,
--     pg_temp and names the extension's schema explicitly (this file and
--     extension_grants.sql); every object of state_schema.sql is named
--     @extschema@.name, so none can be captured by a look-alike elsewhere.
--   * The schema must be trusted: with `schema = pgcopy` in the control file,
--     CREATE EXTENSION creates the schema owned by the installing role, or
--     reuses one that exists. Below, the schema is accepted only when nobody
--     but a superuser could have put anything in it (created by this very
--     transaction, or owned by a superuser), it holds nothing, and no other
--     role may create objects in it; it then belongs to the superuser running
--     this script, so the installer cannot add functions, operators or views
--     to it later.
--   * Functions: each has SET search_path = pg_catalog, pg_temp (the SQL ones
--     in state_schema.sql, the Rust ones through #[search_path]) and calls the
--     extension's own functions with arguments of their exact types.
--   * Ownership: tables, functions, views and triggers are created here by the
--     superuser and stay its; the installer gets only SELECT, INSERT and
--     UPDATE on the tables (extension_grants.sql). Nothing is handed to
--     @extowner@ by ownership, so no C function or trigger becomes its.

SET LOCAL search_path = pg_catalog, pg_temp;

DO $bootstrap$
DECLARE
    s record;
BEGIN
    SELECT n.oid, n.nspowner, n.nspacl, n.xmin INTO STRICT s
      FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) '@extschema@';
    -- A schema this transaction created (CREATE EXTENSION's own) or one only
    -- a superuser could have created.
    IF NOT (s.xmin OPERATOR(pg_catalog.=) pg_catalog.pg_current_xact_id()::pg_catalog.xid
            OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) s.nspowner)) THEN
        RAISE EXCEPTION 'schema "@extschema@" already exists and belongs to role %, who could have put objects in it',
            pg_catalog.pg_get_userbyid(s.nspowner)
            USING HINT = 'Drop that schema (or rename it) and run CREATE EXTENSION pgcopy again: the extension creates its schema itself.';
    END IF;
    -- Every object in a schema depends on it; the only one allowed is this
    -- extension itself (the schema is its schema).
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
                  AND d.refobjid OPERATOR(pg_catalog.=) s.oid
                  AND NOT (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
                           AND d.objid OPERATOR(pg_catalog.=) (SELECT e.oid FROM pg_catalog.pg_extension e
                                                                WHERE e.extname OPERATOR(pg_catalog.=) 'pgcopy'))) THEN
        RAISE EXCEPTION 'schema "@extschema@" already exists and holds objects'
            USING HINT = 'Move them out or drop the schema, then run CREATE EXTENSION pgcopy again.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.aclexplode(s.nspacl) a
                WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
                  AND a.grantee OPERATOR(pg_catalog.<>) s.nspowner) THEN
        RAISE EXCEPTION 'schema "@extschema@" already exists and lets other roles create objects in it'
            USING HINT = 'REVOKE CREATE ON SCHEMA @extschema@ from them (or drop the schema), then run CREATE EXTENSION pgcopy again.';
    END IF;
END
$bootstrap$;

ALTER SCHEMA @extschema@ OWNER TO CURRENT_USER;
REVOKE ALL ON SCHEMA @extschema@ FROM PUBLIC;

-- Back to the path CREATE EXTENSION sets, so what follows (state_schema.sql,
-- whose names are all qualified, and pgrx's functions) lands in @extschema@:
-- pg_catalog first (implicitly), the extension's schema, and pg_temp last,
-- written out, so a temporary type of the installer's session (a domain named
-- `text`, say) can never be picked for a column or an argument.
SET LOCAL search_path = @extschema@, pg_temp;
