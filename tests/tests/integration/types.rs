//! Every built-in type, by value: the table of each (with its array,
//! domain and composite) comes back exactly, `reg*` values by name (the
//! destination's OIDs differ), and a name the destination lacks is refused
//! before anything changes. The version matrix runs the same between
//! majors (`versions.rs`).

use crate::common::{fingerprint, full_fingerprint, scalar, Pair};
use pgcopy_tests::every_type;

/// A pair with the every-type schema on both sides, the source's OIDs
/// shifted (so an OID copied as a number names something else), and the
/// rows on the source.
pub fn every_type_pair(db: &str) -> Pair {
    let p = Pair::new(db);
    p.src.psql(
        &p.db,
        "CREATE TABLE shift_oids (x int); CREATE TABLE shift_more (x int)",
    );
    p.src.psql(&p.db, &every_type::schema_sql());
    p.dst.psql(&p.db, &every_type::schema_sql());
    p.src.psql(&p.db, &every_type::rows_sql());
    p.src.psql(&p.db, "DROP TABLE shift_oids, shift_more");
    p
}

#[test]
fn every_builtin_type_is_sampled() {
    let p = Pair::new("sampled");
    let types = p.src.psql(&p.db, every_type::UNSAMPLED_SQL);
    assert_eq!(every_type::unsampled(types.lines()), Vec::<String>::new());
}

#[test]
fn every_builtin_type_with_its_arrays_domains_and_composites_comes_back_exactly() {
    let p = every_type_pair("everytype");
    let before = full_fingerprint(&p.dst, &p.db);
    let (s, d) = p.urls();
    let dry = crate::common::copy(&s, &d, &["--dry-run"]);
    dry.expect_code(0);
    assert!(
        dry.stdout.contains("as text:      every.t_regclass (values that go by name: \"v\" (regclass), \"a\" (regclass), \"d\" (regclass), \"c\" (regclass))"),
        "{}",
        dry.stdout
    );
    let run = p.copy(&[]);
    run.expect_code(0);
    assert_eq!(
        fingerprint(&p.src, &p.db).tables,
        fingerprint(&p.dst, &p.db).tables
    );
    let after = full_fingerprint(&p.dst, &p.db);
    assert_eq!(
        (before.fks, before.triggers, before.indexes),
        (after.fks, after.triggers, after.indexes)
    );
    // By name, not by number: the destination's OID of every.t_int4 is
    // not the source's.
    let oid = "SELECT v::oid FROM every.t_regclass WHERE id = 2";
    assert_ne!(scalar(&p.src, &p.db, oid), scalar(&p.dst, &p.db, oid));
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT v = 'every.t_int4'::regclass FROM every.t_regclass WHERE id = 2"
        ),
        "t"
    );
    // The empty tsquery and the rest, text for text.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FROM every.t_tsquery WHERE v = ''::tsquery"
        ),
        "1"
    );
}

#[test]
fn a_name_the_destination_lacks_is_refused_before_any_change() {
    let p = every_type_pair("namemissing");
    p.dst.psql(
        &p.db,
        "DROP TEXT SEARCH CONFIGURATION every.cfg; INSERT INTO every.t_int4 VALUES (99, 1, NULL, NULL, NULL)",
    );
    // An OID that names nothing on the source, but does on the destination.
    let taken = scalar(&p.dst, &p.db, "SELECT 'every.t_int4'::regclass::oid");
    assert_eq!(
        scalar(
            &p.src,
            &p.db,
            &format!("SELECT count(*) FROM pg_class WHERE oid = {taken}")
        ),
        "0"
    );
    p.src.psql(
        &p.db,
        &format!("INSERT INTO every.t_regclass VALUES (50, {taken}, ARRAY[{taken}::regclass], NULL, NULL)"),
    );
    let before = fingerprint(&p.dst, &p.db);
    let run = p.copy(&[]);
    run.expect_code(1);
    let errors = run.stderr;
    assert!(
        errors.contains(
            "column \"v\" of every.t_regconfig holds regconfig values that name nothing on the destination \
             (every.cfg): they go by name, as pg_dump carries them; create them there first, or leave the \
             table out (--exclude-tables every.t_regconfig)"
        ),
        "{errors}"
    );
    assert!(
        errors.contains(&format!(
            "column \"a\" of every.t_regclass holds regclass OIDs that name nothing on the source but would \
             name something on the destination ({taken} would be every.t_int4): set them to NULL on the source"
        )),
        "{errors}"
    );
    assert_eq!(fingerprint(&p.dst, &p.db), before);
}

/// Types of the same name made otherwise on the two sides (a domain over
/// another scale, a composite with its fields the other way round, a range
/// of another subtype) would take values changed without a word: refused
/// before any change, with what differs.
#[test]
fn a_type_of_the_same_name_made_otherwise_is_refused() {
    let p = Pair::new("typeshape");
    p.src.psql(
        &p.db,
        "CREATE DOMAIN amount AS numeric(10,4);
         CREATE TYPE pair AS (a int, b int);
         CREATE TYPE span AS RANGE (subtype = numeric);
         CREATE TABLE t (id int PRIMARY KEY, x amount, p pair, s span, xs amount[]);
         INSERT INTO t VALUES (1, 1.2345, ROW(1, 2), numrange(1.5, 2.5)::text::span, ARRAY[0.0001]);",
    );
    p.dst.psql(
        &p.db,
        "CREATE DOMAIN amount AS numeric(10,2);
         CREATE TYPE pair AS (b int, a int);
         CREATE TYPE span AS RANGE (subtype = float8);
         CREATE TABLE t (id int PRIMARY KEY, x amount, p pair, s span, xs amount[]);",
    );
    let run = p.copy(&[]);
    run.expect_code(1);
    for expected in [
        "column \"x\" of public.t is of type public.amount on both sides, but the types are made otherwise \
         (source: public.amount: domain over numeric(10,4); destination: public.amount: domain over \
         numeric(10,2))",
        "column \"p\" of public.t is of type public.pair on both sides, but the types are made otherwise \
         (source: public.pair: composite (a integer, b integer); destination: public.pair: composite (b \
         integer, a integer))",
        "(source: public.span: range of numeric; destination: public.span: range of double precision)",
        "column \"xs\" of public.t is of type public.amount[] on both sides, but the types are made otherwise \
         (source: public.amount: domain over numeric(10,4); destination",
    ] {
        assert!(run.stderr.contains(expected), "{expected}\n{}", run.stderr);
    }
    assert_eq!(scalar(&p.dst, &p.db, "SELECT count(*) FROM t"), "0");
    // Made alike, it copies exactly.
    p.dst.psql(
        &p.db,
        "DROP TABLE t; DROP DOMAIN amount; DROP TYPE pair; DROP TYPE span;
         CREATE DOMAIN amount AS numeric(10,4);
         CREATE TYPE pair AS (a int, b int);
         CREATE TYPE span AS RANGE (subtype = numeric);
         CREATE TABLE t (id int PRIMARY KEY, x amount, p pair, s span, xs amount[]);",
    );
    p.copy(&[]).expect_code(0);
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT x || ' ' || p::text || ' ' || s::text FROM t"
        ),
        "1.2345 (1,2) [1.5,2.5)"
    );
}
