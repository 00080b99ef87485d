-- Read on a session with psql's settings: the role's effective path
-- (implicit pg_catalog included, "$user" resolved), time zone, date
-- style and interval style. Every call is pg_catalog's, by name: that
-- session's path is the role's, which another role may have shaped.
SELECT pg_catalog.current_schemas(true)::pg_catalog.text[],
       pg_catalog.current_setting('TimeZone'), pg_catalog.current_setting('DateStyle'),
       pg_catalog.current_setting('IntervalStyle')
