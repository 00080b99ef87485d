#!/usr/bin/env bash
# make demo: a source and a destination cluster, pagila on the source, its
# schema on the destination with the pgcopy extension, then a copy.
set -euo pipefail
dir=$1
cluster=target/release/pgcopy-cluster
pgcopy=target/release/pgcopy
fixtures=tests/fixtures/pagila
pw=pgcopy-test-su

$cluster stop "$dir/source" >/dev/null 2>&1 || true
$cluster stop "$dir/destination" >/dev/null 2>&1 || true
src_port=$($cluster start "$dir/source" source)
dst_port=$($cluster start "$dir/destination" destination)
psql_src() { psql -X -q -h "$dir/source/socket" -p "$src_port" -U postgres "$@"; }
psql_dst() { psql -X -q -h "$dir/destination/socket" -p "$dst_port" -U postgres "$@"; }

echo "== loading pagila into the source (port $src_port), its schema into the destination (port $dst_port)"
psql_src -c "CREATE DATABASE pagila" >/dev/null
psql_dst -c "CREATE DATABASE pagila" >/dev/null
psql_src -d pagila -f $fixtures/pagila-schema.sql >/dev/null 2>&1
psql_src -d pagila -f $fixtures/pagila-data.sql >/dev/null 2>&1
psql_dst -d pagila -f $fixtures/pagila-schema.sql >/dev/null 2>&1
psql_dst -d pagila -c "CREATE EXTENSION pgcopy" >/dev/null

src="postgresql://postgres:$pw@127.0.0.1:$src_port/pagila"
dst="postgresql://postgres:$pw@127.0.0.1:$dst_port/pagila"
echo
echo "== pgcopy list -s $src" | sed "s/:$pw@/@/"
$pgcopy list -s "$src"
echo
echo "== pgcopy copy -s SOURCE -d DEST -p 4"
$pgcopy copy -s "$src" -d "$dst" -p 4
echo
echo "== pgcopy status -d DEST"
$pgcopy status -d "$dst" | head -8
echo
echo "== on the destination, from psql: what a copy would do (pgcopy.plan), and what it did (pgcopy.progress)"
psql_dst -d pagila -c "SELECT load_position, table_name, est_rows, chunks, fk_cycle, drops_fks FROM pgcopy.plan() LIMIT 8"
psql_dst -d pagila -c "SELECT job_id, state, tables, tables_done, rows_copied, percent FROM pgcopy.progress"
psql_dst -d pagila -c "SELECT count(*) AS rentals, max(rental_date) AS latest FROM rental"
cat <<MSG

The clusters keep running. Look around with:
  psql -h $dir/destination/socket -p $dst_port -U postgres pagila
  psql -h $dir/source/socket -p $src_port -U postgres pagila
Stop and remove them with:  make demo-stop
MSG
