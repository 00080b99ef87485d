//! Every built-in type a column can have, with values at its edges: a table
//! per type in schema `every`, holding the value, an array of it (with a
//! NULL), a domain over it and a composite of it. The copy must bring each
//! back exactly (compared as text: `reg*` values by the names they print).
//!
//! [`NO_INPUT`] names the types that take no value from text (statistics
//! and index internals): every other storable base type of the server must
//! be in [`SAMPLES`], which the tests check, so a type a new major adds is
//! not silently left out.

/// (type as written in a column, values as text literals).
pub const SAMPLES: &[(&str, &[&str])] = &[
    ("aclitem", &["postgres=arwdDxt/postgres", "=r/postgres"]),
    ("bit(3)", &["101", "000"]),
    ("bool", &["t", "f"]),
    ("box", &["(1,1),(0,0)", "(-1.5,2),(3,4e10)"]),
    ("bpchar(3)", &["ab", "   ", "é"]),
    ("bytea", &["\\x00ff10", ""]),
    ("\"char\"", &["a", "Z"]),
    ("cid", &["7", "4294967295"]),
    ("cidr", &["10.0.0.0/8", "2001:db8::/32"]),
    ("circle", &["<(0,0),1>", "<(1.5,-2),0.25>"]),
    (
        "date",
        &[
            "infinity",
            "-infinity",
            "4713-01-01 BC",
            "5874897-12-31",
            "2000-02-29",
        ],
    ),
    (
        "datemultirange",
        &["{}", "{[2020-01-01,2020-02-01),[2021-01-01,)}"],
    ),
    (
        "daterange",
        &["empty", "[,2020-01-01)", "[2020-01-01,infinity]"],
    ),
    (
        "float4",
        &[
            "NaN",
            "Infinity",
            "-0",
            "1.1754944e-38",
            "3.4028235e+38",
            "0.1",
        ],
    ),
    (
        "float8",
        &[
            "NaN",
            "-Infinity",
            "2.2250738585072014e-308",
            "1.7976931348623157e+308",
            "0.1",
        ],
    ),
    ("inet", &["::1/128", "192.168.0.1/24", "10.0.0.1"]),
    ("int2", &["-32768", "32767", "0"]),
    ("int2vector", &["1 2 3", ""]),
    ("int4", &["-2147483648", "2147483647"]),
    ("int4multirange", &["{}", "{[1,3),[5,9)}"]),
    ("int4range", &["empty", "[1,5)", "(,)"]),
    ("int8", &["-9223372036854775808", "9223372036854775807"]),
    ("int8multirange", &["{[1,2)}"]),
    ("int8range", &["[-9223372036854775808,9223372036854775807)"]),
    (
        "interval",
        &[
            "178000000 years",
            "-1 days +02:00:00",
            "1 mon -00:00:01",
            "00:00:00.000001",
        ],
    ),
    (
        "json",
        &[
            "{\"a\": [1, \"x\", null], \"b\": 1e400, \"a\": 2}",
            "\"\\u0000\\u00e9\"",
        ],
    ),
    (
        "jsonb",
        &["{\"a\": [1, \"x\", null, 1.0e-5]}", "\"str\"", "null", "{}"],
    ),
    ("jsonpath", &["$.a[*] ? (@ > 1)", "strict $.\"x y\"", "$"]),
    ("line", &["{1,-1,0}", "{0,1,-2.5}"]),
    ("lseg", &["[(0,0),(1,1)]"]),
    ("macaddr", &["08:00:2b:01:02:03", "ff:ff:ff:ff:ff:ff"]),
    ("macaddr8", &["08:00:2b:01:02:03:04:05"]),
    ("money", &["-92233720368547758.08", "12.34", "0"]),
    (
        "name",
        &["a name of sixty-three bytes, the most a name may have in it.."],
    ),
    (
        "numeric",
        &[
            "NaN",
            "Infinity",
            "-Infinity",
            "1.23456789012345678901234567890e-100",
            "0",
            "-0.000",
        ],
    ),
    ("nummultirange", &["{[1.5,2.5]}"]),
    ("numrange", &["[1.5,2.25)", "(,0]"]),
    ("oid", &["0", "4294967295"]),
    ("oidvector", &["1 2 3", ""]),
    ("path", &["[(0,0),(1,1),(2,0)]", "((0,0),(1,1))"]),
    ("pg_lsn", &["0/0", "FFFFFFFF/FFFFFFFF"]),
    ("pg_snapshot", &["10:20:10,14,15", "5:5:"]),
    ("point", &["(1.5,-2)", "(0,0)"]),
    ("polygon", &["((0,0),(1,1),(1,0))"]),
    ("refcursor", &["c1"]),
    ("regclass", &["pg_class", "every.t_int4", "-"]),
    ("regcollation", &["\"C\"", "\"default\""]),
    ("regconfig", &["english", "every.cfg"]),
    ("regdictionary", &["simple", "english_stem"]),
    ("regnamespace", &["every", "public"]),
    ("regoper", &["||/", "every.==="]),
    (
        "regoperator",
        &["+(integer,integer)", "every.===(integer,integer)"],
    ),
    ("regproc", &["now", "every.f"]),
    ("regprocedure", &["abs(integer)", "every.f(integer)"]),
    ("regrole", &["postgres", "pg_monitor"]),
    ("regtype", &["integer", "every.d_int4", "character varying"]),
    (
        "text",
        &["", "tab\there", "new\nline", "back\\slash", "ünïcødé ✓"],
    ),
    ("tid", &["(0,1)", "(4294967295,65535)"]),
    ("time", &["24:00:00", "00:00:00.000001"]),
    (
        "timestamp",
        &[
            "infinity",
            "-infinity",
            "294276-12-31 23:59:59.999999",
            "4713-01-01 00:00:00 BC",
        ],
    ),
    (
        "timestamptz",
        &[
            "infinity",
            "2020-03-29 02:30:00+02",
            "1900-01-01 00:00:00+00:19:32",
        ],
    ),
    ("timetz", &["23:59:59.999999-15:59", "00:00:00+14"]),
    ("tsmultirange", &["{[2020-01-01,2020-01-02)}"]),
    ("tsquery", &["'a' & !'b'", "", "'x':* <-> 'y'"]),
    ("tsrange", &["[2020-01-01,infinity)", "empty"]),
    ("tstzmultirange", &["{[2020-01-01 00:00+00,)}"]),
    ("tstzrange", &["[2020-01-01 00:00+05,2021-01-01 00:00+00)"]),
    ("tsvector", &["'a':1A 'b c':2", ""]),
    ("txid_snapshot", &["10:20:10,14,15"]),
    (
        "uuid",
        &[
            "00000000-0000-0000-0000-000000000000",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        ],
    ),
    ("varbit", &["1010", ""]),
    ("varchar(5)", &["abc", ""]),
    ("xid", &["3", "4294967295"]),
    ("xid8", &["0", "18446744073709551615"]),
    ("xml", &["<a b=\"1\">x</a>", "text only"]),
];

/// Storable base types that take no value from text: statistics and index
/// internals.
pub const NO_INPUT: &[&str] = &[
    "gtsvector",
    "pg_brin_bloom_summary",
    "pg_brin_minmax_multi_summary",
    "pg_dependencies",
    "pg_mcv_list",
    "pg_ndistinct",
    "pg_node_tree",
];

/// The type's name without its typmod and quotes (`bit(3)` is `bit`).
pub fn base_name(ty: &str) -> String {
    ty.split('(')
        .next()
        .unwrap_or(ty)
        .trim_matches('"')
        .to_string()
}

/// A name for the table, domain and composite of `ty` (`t_bit`, ...).
fn suffix(ty: &str) -> String {
    base_name(ty)
}

/// The schema: objects the `reg*` samples name, then a table per type with
/// its array, domain and composite. The same on both sides.
pub fn schema_sql() -> String {
    let mut sql = String::from(
        "CREATE SCHEMA every;
         CREATE FUNCTION every.f(int) RETURNS int LANGUAGE sql AS 'SELECT 1';
         CREATE FUNCTION every.eq(int, int) RETURNS bool LANGUAGE sql AS 'SELECT $1 = $2';
         CREATE OPERATOR every.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = every.eq);
         CREATE TEXT SEARCH CONFIGURATION every.cfg (COPY = english);\n",
    );
    for (ty, _) in SAMPLES {
        let s = suffix(ty);
        sql.push_str(&format!(
            "CREATE DOMAIN every.\"d_{s}\" AS {ty};
             CREATE TYPE every.\"c_{s}\" AS (f {ty});
             CREATE TABLE every.\"t_{s}\" (id int PRIMARY KEY, v {ty}, a {ty}[], d every.\"d_{s}\", c every.\"c_{s}\");\n"
        ));
    }
    sql
}

/// The rows: each value, in each of the four columns, and a row of NULLs.
pub fn rows_sql() -> String {
    let mut sql = String::new();
    for (ty, values) in SAMPLES {
        let s = suffix(ty);
        sql.push_str(&format!(
            "INSERT INTO every.\"t_{s}\" VALUES (0, NULL, NULL, NULL, NULL);\n"
        ));
        for (i, v) in values.iter().enumerate() {
            let lit = format!("$v${v}$v$");
            sql.push_str(&format!(
                "INSERT INTO every.\"t_{s}\" VALUES ({}, {lit}::{ty}, ARRAY[{lit}::{ty}, NULL], {lit}::{ty}, ROW({lit}::{ty}));\n",
                i + 1
            ));
        }
    }
    sql
}

/// On a server: its storable base types (in `pg_catalog`, not arrays or
/// pseudo-types) that neither [`SAMPLES`] nor [`NO_INPUT`] names.
pub const UNSAMPLED_SQL: &str = "SELECT typname FROM pg_type
 WHERE typnamespace = 'pg_catalog'::regnamespace AND typtype IN ('b', 'r', 'm') AND typisdefined
   AND (typcategory <> 'A' OR typname IN ('int2vector', 'oidvector')) AND typname !~ '^_'
 ORDER BY 1";

/// The names in [`UNSAMPLED_SQL`]'s answer that are not sampled.
pub fn unsampled<'a>(types: impl Iterator<Item = &'a str>) -> Vec<String> {
    let sampled: Vec<String> = SAMPLES.iter().map(|(t, _)| base_name(t)).collect();
    types
        .filter(|t| !t.is_empty())
        .filter(|t| !sampled.iter().any(|s| s == t) && !NO_INPUT.contains(t))
        .map(str::to_string)
        .collect()
}
