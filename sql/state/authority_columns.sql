-- Columns the probes return after their own, in order: the table's owner,
-- current_user, whether it is a member of the owner, the job's creator,
-- whether the creator is, whether the owner is a superuser or current_user.
-- `t` is the table's pg_class row and `j` the job's row (NULL: no job).
-- A probe's file takes them at their placeholder (pgcopy-core's state_sql.rs).
pg_catalog.pg_get_userbyid(t.relowner)::text, current_user::text,
pg_catalog.pg_has_role(current_user, t.relowner, 'MEMBER'),
pg_catalog.pg_get_userbyid(j.created_by)::text,
coalesce(pg_catalog.pg_has_role(j.created_by, t.relowner, 'MEMBER'), false),
coalesce((SELECT r.rolsuper OR r.rolname = current_user FROM pg_catalog.pg_roles r
           WHERE r.oid = t.relowner), false)
