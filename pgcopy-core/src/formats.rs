//! Which COPY format a table's rows take between two servers.
//!
//! Binary COPY moves values as each type's send/receive functions write
//! them, with no parsing: the fast path. It is not always the same value on
//! the other side, and where it is not, the table goes as text, which
//! carries values by what they mean and fails loudly where the destination
//! cannot hold one. The audit of PostgreSQL 14 to 18's built-in types
//! (FIDELITY.md) found these:
//!
//! - `reg*` types are OIDs in binary: `'app.orders'::regclass` would arrive
//!   as a number that names nothing, or something else, on the
//!   destination. As text they go by name, as pg_dump carries them (and
//!   preflight makes sure each name exists there).
//! - `interval` gained infinite values in PostgreSQL 17; an older server
//!   receives their binary form as a huge finite interval. As text, it
//!   refuses `infinity`.
//! - PostgreSQL 14, 17 and 18 refuse an empty `tsquery` in binary, even
//!   their own output, and every major refuses an empty `int2vector` or
//!   `oidvector` (sent as an array of no dimension); as text they load.

use crate::catalog::Table;
use crate::sql::CopyFormat;

/// The `reg*` types: OIDs in binary, names in text.
pub const OID_TYPES: [&str; 11] = [
    "regclass",
    "regtype",
    "regproc",
    "regprocedure",
    "regoper",
    "regoperator",
    "regconfig",
    "regdictionary",
    "regnamespace",
    "regrole",
    "regcollation",
];

/// The major version of a `server_version_num` (15 for 150004).
pub fn major(version_num: u32) -> u32 {
    version_num / 10_000
}

/// Why a table goes as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextBecause {
    /// A type in the column has no binary send/receive functions.
    NoBinary {
        /// The column.
        column: String,
    },
    /// The column holds OIDs that must go by name (`reg*`).
    ByName {
        /// The column.
        column: String,
        /// The `reg*` type.
        type_name: String,
    },
    /// The source may hold values of this type the older destination
    /// cannot: its binary form would arrive as another value.
    OlderDestination {
        /// The column.
        column: String,
        /// The type.
        type_name: String,
    },
    /// The destination refuses some binary values of this type.
    RefusedInBinary {
        /// The column.
        column: String,
        /// The type.
        type_name: String,
    },
}

impl std::fmt::Display for TextBecause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextBecause::NoBinary { column } => {
                write!(f, "column {column:?} has a type with no binary form")
            }
            TextBecause::ByName { column, type_name } => {
                write!(f, "column {column:?} holds {type_name} values, which go by name")
            }
            TextBecause::OlderDestination { column, type_name } => write!(
                f,
                "column {column:?} holds {type_name} values the older destination may not hold (they fail \
                 loudly as text)"
            ),
            TextBecause::RefusedInBinary { column, type_name } => write!(
                f,
                "column {column:?} holds {type_name} values the destination refuses in binary"
            ),
        }
    }
}

/// `why` said in a few words, one entry per kind of reason (for the dry
/// run and the plan): `columns "c", "t": reg* values, which go by name`.
pub fn describe(why: &[TextBecause]) -> Vec<String> {
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    for w in why {
        let (kind, column, type_name) = match w {
            TextBecause::NoBinary { column } => ("no binary form", column, None),
            TextBecause::ByName { column, type_name } => {
                ("values that go by name", column, Some(type_name))
            }
            TextBecause::OlderDestination { column, type_name } => (
                "values the older destination may not hold",
                column,
                Some(type_name),
            ),
            TextBecause::RefusedInBinary { column, type_name } => (
                "values the destination refuses in binary",
                column,
                Some(type_name),
            ),
        };
        let entry = match type_name {
            Some(t) => format!("{column:?} ({t})"),
            None => format!("{column:?}"),
        };
        match groups.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, v)) => v.push(entry),
            None => groups.push((kind, vec![entry])),
        }
    }
    groups
        .into_iter()
        .map(|(kind, columns)| format!("{kind}: {}", columns.join(", ")))
        .collect()
}

/// The format for `table`'s rows from a server of `source_version` into
/// one of `dest_version` (`server_version_num`s; 0 when unknown, taken as
/// the other's), and why it is text when it is.
pub fn choose(
    table: &Table,
    source_version: u32,
    dest_version: u32,
) -> (CopyFormat, Vec<TextBecause>) {
    let (from, to) = match (major(source_version), major(dest_version)) {
        (0, 0) => (0, 0),
        (0, d) => (d, d),
        (s, 0) => (s, s),
        (s, d) => (s, d),
    };
    let mut why = Vec::new();
    for c in table.copied_columns() {
        let has = |t: &str| c.builtin_types.iter().any(|b| b == t);
        if !c.binary_io {
            why.push(TextBecause::NoBinary {
                column: c.name.clone(),
            });
        }
        if let Some(t) = OID_TYPES.iter().find(|t| has(t)) {
            why.push(TextBecause::ByName {
                column: c.name.clone(),
                type_name: (*t).to_string(),
            });
        }
        if from >= 17 && to < 17 && has("interval") {
            why.push(TextBecause::OlderDestination {
                column: c.name.clone(),
                type_name: "interval".into(),
            });
        }
        // Receive functions that refuse what their own send wrote: an
        // empty tsquery (14, 17 and 18 do; 15 and 16 builds accept it), an
        // empty int2vector or oidvector (sent as an array of no dimension)
        // on every major.
        for t in ["tsquery", "int2vector", "oidvector"]
            .iter()
            .filter(|t| has(t))
        {
            why.push(TextBecause::RefusedInBinary {
                column: c.name.clone(),
                type_name: (*t).into(),
            });
        }
    }
    match why.is_empty() {
        true => (CopyFormat::Binary, why),
        false => (CopyFormat::Text, why),
    }
}

/// The catalog whose rows a `reg*` type names.
pub fn catalog_of(type_name: &str) -> Option<&'static str> {
    Some(match type_name {
        "regclass" => "pg_class",
        "regtype" => "pg_type",
        "regproc" | "regprocedure" => "pg_proc",
        "regoper" | "regoperator" => "pg_operator",
        "regconfig" => "pg_ts_config",
        "regdictionary" => "pg_ts_dict",
        "regnamespace" => "pg_namespace",
        // pg_authid is the superuser's; pg_roles shows every role's OID.
        "regrole" => "pg_roles",
        "regcollation" => "pg_collation",
        _ => return None,
    })
}

/// On the source: how column `$2` of the table of OID `$1` holds a `reg*`
/// type: its type (domains unwrapped) and, for an array, its element's
/// name. A composite or range that holds one is neither (its values are
/// checked by the load itself, which fails loudly).
pub const OID_COLUMN_SHAPE_SQL: &str = include_str!("../../sql/oid_column_shape.sql");

/// On the source: the distinct values of `column` of `table` as text (as a
/// text COPY prints them), each element for an array, at most `limit`.
pub fn distinct_names_sql(
    table: &crate::quote::QualifiedName,
    column: &str,
    array: bool,
    limit: u32,
) -> String {
    let c = crate::quote::quote_ident(column);
    let values = match array {
        true => format!("SELECT x FROM ONLY {table} r, pg_catalog.unnest(r.{c}) x"),
        false => format!("SELECT r.{c} AS x FROM ONLY {table} r"),
    };
    format!(
        "SELECT DISTINCT v.x::pg_catalog.text FROM ({values}) v WHERE v.x IS NOT NULL LIMIT {limit}"
    )
}

/// On the destination: of the names `$1` (as the source printed them, with
/// the same pinned `search_path`), those that name nothing here (second
/// column NULL), and the bare OIDs (what an OID that names nothing prints
/// as) that name something here (second column: what). `-` is OID 0.
pub fn unknown_names_sql(type_name: &str) -> Option<String> {
    let catalog = catalog_of(type_name)?;
    Some(format!(
        "(SELECT v, NULL::pg_catalog.text FROM pg_catalog.unnest($1::pg_catalog.text[]) v \
           WHERE v OPERATOR(pg_catalog.!~) '^[0-9]+$' AND v OPERATOR(pg_catalog.<>) '-' \
          EXCEPT \
          SELECT c.oid::pg_catalog.{type_name}::pg_catalog.text, NULL FROM pg_catalog.{catalog} c) \
         UNION ALL \
         SELECT v, c.oid::pg_catalog.{type_name}::pg_catalog.text \
           FROM pg_catalog.unnest($1::pg_catalog.text[]) v \
           JOIN pg_catalog.{catalog} c ON v OPERATOR(pg_catalog.~) '^[0-9]+$' \
                AND c.oid OPERATOR(pg_catalog.=) v::pg_catalog.oid \
          ORDER BY 1 LIMIT 6"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, Table};

    fn table(columns: &[(&str, &[&str], bool)]) -> Table {
        let mut t = Table::sample("public", "t");
        t.columns = columns
            .iter()
            .map(|(name, types, binary)| Column {
                name: name.to_string(),
                type_name: types[0].to_string(),
                binary_io: *binary,
                builtin_types: types.iter().map(|s| s.to_string()).collect(),
                ..Column::default()
            })
            .collect();
        t
    }

    #[test]
    fn plain_types_go_binary_between_any_two_majors() {
        let t = table(&[("a", &["int4"], true), ("b", &["_text", "text"], true)]);
        for s in 14..=18 {
            for d in 14..=18 {
                assert_eq!(choose(&t, s * 10_000, d * 10_000).0, CopyFormat::Binary);
            }
        }
    }

    #[test]
    fn reg_types_go_by_name_everywhere_arrays_and_domains_too() {
        for ty in OID_TYPES {
            let t = table(&[("a", &["int4"], true), ("r", &["_x", ty], true)]);
            let (format, why) = choose(&t, 150000, 150000);
            assert_eq!(format, CopyFormat::Text, "{ty}");
            assert_eq!(
                why,
                vec![TextBecause::ByName {
                    column: "r".into(),
                    type_name: ty.into()
                }]
            );
        }
    }

    #[test]
    fn intervals_go_as_text_only_from_17_into_older() {
        let t = table(&[("i", &["interval"], true)]);
        let f = |s: u32, d: u32| choose(&t, s * 10_000, d * 10_000).0;
        for s in 14..=18 {
            for d in 14..=18 {
                let text = s >= 17 && d < 17;
                assert_eq!(f(s, d) == CopyFormat::Text, text, "{s}->{d}");
            }
        }
    }

    #[test]
    fn tsquery_and_vectors_go_as_text_between_any_two_majors() {
        for ty in ["tsquery", "int2vector", "oidvector"] {
            let t = table(&[("q", &[ty], true)]);
            for s in 14..=18 {
                for d in 14..=18 {
                    assert_eq!(
                        choose(&t, s * 10_000, d * 10_000).0,
                        CopyFormat::Text,
                        "{ty} {s}->{d}"
                    );
                }
            }
        }
    }

    #[test]
    fn reasons_are_grouped_by_kind() {
        let t = table(&[
            ("r", &["regclass"], true),
            ("q", &["tsquery"], true),
            ("s", &["_regtype", "regtype"], true),
        ]);
        let (_, why) = choose(&t, 150000, 150000);
        assert_eq!(
            describe(&why),
            vec![
                "values that go by name: \"r\" (regclass), \"s\" (regtype)".to_string(),
                "values the destination refuses in binary: \"q\" (tsquery)".to_string(),
            ]
        );
    }

    #[test]
    fn every_oid_type_has_its_catalog_and_names_are_quoted() {
        for ty in OID_TYPES {
            assert!(unknown_names_sql(ty).is_some(), "{ty}");
        }
        assert!(unknown_names_sql("int4").is_none());
        let t = crate::quote::QualifiedName::new("a\"b", "t");
        assert_eq!(
            distinct_names_sql(&t, "r\"x", true, 100),
            "SELECT DISTINCT v.x::pg_catalog.text FROM (SELECT x FROM ONLY \"a\"\"b\".\"t\" r, \
             pg_catalog.unnest(r.\"r\"\"x\") x) v WHERE v.x IS NOT NULL LIMIT 100"
        );
    }

    #[test]
    fn no_binary_form_is_text_and_unknown_versions_take_the_others() {
        let t = table(&[("x", &["aclitem"], false)]);
        assert_eq!(choose(&t, 0, 0).0, CopyFormat::Text);
        let t = table(&[("i", &["interval"], true)]);
        assert_eq!(choose(&t, 170000, 0).0, CopyFormat::Binary);
        assert_eq!(choose(&t, 170000, 160000).0, CopyFormat::Text);
    }
}
