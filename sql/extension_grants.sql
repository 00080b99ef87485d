-- Extension-only: a trusted extension's objects are created by the bootstrap
-- superuser, so the role that ran CREATE EXTENSION gets the rights it needs to
-- use them. (The CLI's own install of the state schema owns its objects.)
GRANT USAGE ON SCHEMA @extschema@ TO @extowner@;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA @extschema@ TO @extowner@;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA @extschema@ TO @extowner@;
