//! SQL text builders. Every statement with a name in it is built here, from
//! [`QualifiedName`]/[`quote_ident`], so no caller ever formats a name itself.

use crate::chunk::ChunkRange;
use crate::quote::{ident_list, quote_ident, quote_literal, QualifiedName};

mod ddl;

pub use ddl::{
    add_constraint, attach_index, drop_constraint, drop_deferred_index, drop_index,
    index_properties, index_tablespace, rename_constraint, validate_constraint,
};

/// The data format of a COPY.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyFormat {
    /// Binary: no parsing or printing of values, the fast path.
    #[default]
    Binary,
    /// Text, for tables with a type that has no binary I/O; both sessions must
    /// run with [`STABLE_TEXT_SETTINGS`] so values print and parse alike.
    Text,
}

impl CopyFormat {
    fn option(self) -> &'static str {
        match self {
            CopyFormat::Binary => "binary",
            CopyFormat::Text => "text",
        }
    }
}

/// `COPY ... TO STDOUT (FORMAT f)` for one chunk of a table's columns, of
/// the rows `rows_where` takes (a condition over
/// [`crate::subset::ROW_ALIAS`], `None`: all).
///
/// A whole-table unit of every row uses `COPY table (cols)`, which the server
/// runs without a query plan; a chunk needs `COPY (SELECT ...)` for its ctid
/// range, and a subset for its condition.
pub fn copy_out(
    table: &QualifiedName,
    columns: &[&str],
    chunk: &ChunkRange,
    format: CopyFormat,
    rows: &Rows,
) -> String {
    let f = format.option();
    match select_rows(table, columns, chunk, rows) {
        None => format!(
            "COPY {table}{} TO STDOUT (FORMAT {f})",
            column_list(columns)
        ),
        Some(query) => format!("COPY ({query}) TO STDOUT (FORMAT {f})"),
    }
}

/// Which rows of a table are read, and how its columns: the condition of a
/// subset (over [`crate::subset::ROW_ALIAS`]) and the columns read as an
/// expression's value (`--transform`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Rows<'a> {
    /// `None`: every row.
    pub condition: Option<&'a str>,
    /// Column to expression.
    pub transforms: Option<&'a std::collections::BTreeMap<String, String>>,
}

impl Rows<'_> {
    /// The select list of `columns`: each column, or its expression.
    pub fn select_list(&self, columns: &[&str]) -> String {
        columns
            .iter()
            .map(|c| match self.transforms.and_then(|t| t.get(*c)) {
                Some(expression) => format!("({expression})"),
                None => quote_ident(c),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn is_all(&self) -> bool {
        self.condition.is_none() && self.transforms.is_none_or(|t| t.is_empty())
    }
}

/// The query [`copy_out`] reads a chunk's, a subset's or transformed rows
/// with (`None` for every row of a whole table as it is, which needs none).
pub fn select_rows(
    table: &QualifiedName,
    columns: &[&str],
    chunk: &ChunkRange,
    rows: &Rows,
) -> Option<String> {
    let conditions: Vec<String> = chunk
        .where_clause()
        .into_iter()
        .chain(rows.condition.map(str::to_string))
        .collect();
    if conditions.is_empty() && rows.is_all() {
        return None;
    }
    // An empty select list is valid: a table without copyable columns
    // still has rows to count.
    Some(format!(
        "SELECT {} FROM ONLY {table} {}{}",
        rows.select_list(columns),
        crate::subset::ROW_ALIAS,
        match conditions.is_empty() {
            true => String::new(),
            false => format!(" WHERE {}", conditions.join(" AND ")),
        }
    ))
}

/// `COPY table (cols) FROM STDIN (FORMAT f[, FREEZE])`.
pub fn copy_in(
    table: &QualifiedName,
    columns: &[&str],
    freeze: bool,
    format: CopyFormat,
) -> String {
    format!(
        "COPY {table}{} FROM STDIN (FORMAT {}{})",
        column_list(columns),
        format.option(),
        if freeze { ", FREEZE" } else { "" }
    )
}

/// ` (a, "B")`, or nothing for a table without columns to copy (none at all,
/// or only generated ones): `COPY t ()` is a syntax error, while `COPY t`
/// leaves generated columns out by itself.
fn column_list(columns: &[&str]) -> String {
    if columns.is_empty() {
        String::new()
    } else {
        format!(" ({})", ident_list(columns.iter().copied()))
    }
}

/// `TRUNCATE ONLY a, p, ...` in one statement: tables referencing each other can
/// only be truncated together. `ONLY` is per name in PostgreSQL's grammar, so
/// each target says whether it applies: a plain table or leaf partition is
/// truncated `ONLY` (never reaching inheritance children), a partitioned table
/// whole (`ONLY` is an error there). The default `RESTRICT` never cascades to
/// tables that were not selected.
pub fn truncate<'a>(targets: impl IntoIterator<Item = &'a TruncateTarget>) -> String {
    let list: Vec<String> = targets
        .into_iter()
        .map(|t| {
            if t.only {
                format!("ONLY {}", t.table)
            } else {
                t.table.to_string()
            }
        })
        .collect();
    format!("TRUNCATE {}", list.join(", "))
}

/// One name in a TRUNCATE.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TruncateTarget {
    /// The table.
    pub table: QualifiedName,
    /// `ONLY` this table (false for a partitioned table truncated whole).
    pub only: bool,
}

impl TruncateTarget {
    /// `ONLY table`.
    pub fn only(table: &QualifiedName) -> Self {
        TruncateTarget {
            table: table.clone(),
            only: true,
        }
    }
}

/// `SELECT count(*) FROM [ONLY] t`: `only` leaves out its partitions.
pub fn count_rows(table: &QualifiedName, only: bool) -> String {
    format!(
        "SELECT count(*) FROM {}{table}",
        if only { "ONLY " } else { "" }
    )
}

/// Settings that make values print the same on any two servers (and parse back
/// as printed): for text COPY, and for comparing rows by their text. `money`
/// follows `lc_monetary`, hence the C locale.
pub const STABLE_TEXT_SETTINGS: &str = "SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; \
     SET extra_float_digits = 3; SET bytea_output = 'hex'; SET IntervalStyle = 'postgres'; \
     SET lc_monetary = 'C'; SET array_nulls = on";

/// Row count and an order-independent checksum of a table's rows: the sum of
/// the first 64 bits of each row's md5, so equal multisets of rows give equal
/// results whatever their physical order (duplicates count, unlike XOR).
pub fn table_checksum(table: &QualifiedName, columns: &[&str], only: bool) -> String {
    table_checksum_of(table, &ident_list(columns.iter().copied()), only)
}

/// [`table_checksum`] of a select list (columns, or `--transform`
/// expressions in their place: [`Rows::select_list`]).
pub fn table_checksum_of(table: &QualifiedName, select_list: &str, only: bool) -> String {
    format!(
        "SELECT count(*), coalesce(sum(('x' || substr(md5(ROW({select_list})::text), 1, 16))::bit(64)::bigint), 0)::text \
           FROM {}{table}",
        if only { "ONLY " } else { "" }
    )
}

/// Reads what a sequence's catalog row says, with `$1` its qualified name:
/// one row when the name leads to a relation, of its OID, whether it is a
/// sequence, its increment, and its last value when `nextval` has been
/// called (`NULL` otherwise). Nothing runs but the lookup, whatever the name
/// leads to now: a view that replaced the sequence under its name is never
/// read. Reading the value locks the sequence until the transaction ends, so
/// it is renamed or dropped by nobody before [`read_sequence`].
pub const SEQUENCE_PROBE: &str = include_str!("../../sql/sequence_probe.sql");

/// Reads the state of the sequence `oid` (found by [`SEQUENCE_PROBE`] under
/// the name `seq`) by its name, the only way before PostgreSQL 18 to read a
/// sequence on which `nextval` was never called: no row unless the name
/// still leads to `oid`. That condition involves no column, so PostgreSQL
/// checks it once, before reading anything: a relation put under the name
/// since (a view calling another role's code) is never read.
pub fn read_sequence(seq: &QualifiedName, oid: u32) -> String {
    format!(
        "SELECT s.last_value, s.is_called FROM {seq} s \
          WHERE pg_catalog.to_regclass({}) OPERATOR(pg_catalog.=) '{oid}'::pg_catalog.oid",
        quote_literal(&seq.to_string())
    )
}

/// Sets the state of the sequence `oid`.
pub fn set_sequence(oid: u32, last_value: i64, is_called: bool) -> String {
    format!(
        "SELECT pg_catalog.setval('{oid}'::pg_catalog.oid::pg_catalog.regclass, {last_value}, {is_called})"
    )
}

/// Whether a sequence's state `(last, called)` is ahead of `(other_last,
/// other_called)`, by its increment's sign: the next value it gives is
/// beyond the other's.
pub fn sequence_ahead(
    increment: i64,
    last: i64,
    called: bool,
    other_last: i64,
    other_called: bool,
) -> bool {
    let next = |v: i64, c: bool| i128::from(v) + if c { i128::from(increment) } else { 0 };
    i128::from(increment.signum()) * (next(last, called) - next(other_last, other_called)) > 0
}

/// `ANALYZE a, b, ...`.
pub fn analyze<'a>(tables: impl IntoIterator<Item = &'a QualifiedName>) -> String {
    let list: Vec<String> = tables.into_iter().map(|t| t.to_string()).collect();
    format!("ANALYZE {}", list.join(", "))
}

/// `REFRESH MATERIALIZED VIEW ...`.
pub fn refresh_matview(view: &QualifiedName) -> String {
    format!("REFRESH MATERIALIZED VIEW {view}")
}

/// `LOCK TABLE t1, t2 IN <mode> MODE`.
pub fn lock_tables<'a>(tables: impl IntoIterator<Item = &'a QualifiedName>, mode: &str) -> String {
    let list: Vec<String> = tables.into_iter().map(|t| t.to_string()).collect();
    format!("LOCK TABLE {} IN {mode} MODE", list.join(", "))
}

/// Fails (division by zero, SQLSTATE 22012) when one of the tables `$3`
/// (`text[]`, qualified names) no longer has the OID `$1` had for it at
/// preflight (`oid[]`, the same order: its schema's owner dropped it and put
/// another in its place), or other columns than `$4` (`jsonb[]`, each an
/// array of names in order: a column added since has its default computed
/// by the COPY), or, for a partitioned one, other partitions than `$5`
/// (`jsonb[]`, each an array of OIDs ascending, `null` for another table: a
/// partition attached since takes routed rows), or when a row inserted now
/// into one of them would run a user trigger, or code of a role neither
/// superuser, the current user nor trusted by `$2` (`text[]`,
/// [`crate::trust::TrustedOwners::roles`]; [`crate::UNTRUSTED_CODE_SQL`]).
/// Run right after locking the tables by name, before their rows go in, so
/// what other roles changed since preflight cannot run with the loading
/// role's rights. Nothing else in the transaction runs once it fails.
pub fn load_guard() -> String {
    format!(
        "SELECT 1 / CASE WHEN EXISTS (\
             SELECT 1 FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.oid[]), \
                                  pg_catalog.unnest($3::pg_catalog.text[]), \
                                  pg_catalog.unnest($4::pg_catalog.jsonb[]), \
                                  pg_catalog.unnest($5::pg_catalog.jsonb[])) AS g(relid, name, cols, tree) \
              WHERE pg_catalog.to_regclass(g.name)::pg_catalog.oid IS DISTINCT FROM g.relid \
                 OR (SELECT coalesce(pg_catalog.jsonb_agg(a.attname ORDER BY a.attnum), '[]') \
                       FROM pg_catalog.pg_attribute a \
                      WHERE a.attrelid = g.relid AND a.attnum > 0 AND NOT a.attisdropped) \
                    IS DISTINCT FROM g.cols \
                 OR (g.tree <> 'null'::pg_catalog.jsonb \
                     AND (SELECT coalesce(pg_catalog.jsonb_agg(p.relid::pg_catalog.int8 ORDER BY p.relid), '[]') \
                            FROM pg_catalog.pg_partition_tree(g.relid) p WHERE p.relid <> g.relid) \
                         IS DISTINCT FROM g.tree)) \
           OR EXISTS (\
             SELECT 1 FROM pg_catalog.pg_trigger tg \
              WHERE tg.tgrelid = ANY ($1::pg_catalog.oid[]) \
                AND (NOT tg.tgisinternal \
                     OR (tg.tgparentid <> 0 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint fk \
                                                             WHERE fk.oid = tg.tgconstraint AND fk.contype = 'f'))) \
                AND (tg.tgenabled = 'A' \
                     OR (tg.tgenabled = 'O' AND pg_catalog.current_setting('session_replication_role') <> 'replica') \
                     OR (tg.tgenabled = 'R' AND pg_catalog.current_setting('session_replication_role') = 'replica'))) \
           OR EXISTS ({}) THEN 0 ELSE 1 END",
        crate::UNTRUSTED_CODE_SQL
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// Takes a share lock on the catalog rows of the schemas `oids` for the
/// transaction, so nobody renames or drops them until it ends: with the
/// tables in them locked too, their qualified names lead to the tables
/// [`load_guard`] checked until the load commits. Superusers only (it locks
/// rows of `pg_namespace`); sent as simple query text (no parameters), so it
/// runs in the order sent, before the tables are locked and the role changes.
pub fn pin_schemas(oids: &[u32]) -> String {
    let list: Vec<String> = oids.iter().map(u32::to_string).collect();
    format!(
        "SELECT 1 FROM pg_catalog.pg_namespace WHERE oid = ANY ('{{{}}}'::pg_catalog.oid[]) FOR KEY SHARE",
        list.join(",")
    )
}

/// Whether the qualified name `$1` still leads to the relation `$2` (an
/// OID), a table: asked right after the name is locked, before a table read
/// by name, so a view another role put in its place is never read.
pub const STILL_THE_TABLE: &str = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c \
     WHERE c.oid = pg_catalog.to_regclass($1) AND c.oid = $2 AND c.relkind IN ('r', 'p'))";

/// The partition constraints of the partitions `$1` (`oid[]`), ancestors'
/// included, one row each (`NULL` for one that takes every row).
pub const PARTITION_CONSTRAINTS: &str =
    "SELECT pg_catalog.pg_get_partition_constraintdef(c.oid) FROM pg_catalog.pg_class c \
      WHERE c.oid = ANY ($1::pg_catalog.oid[])";

/// `COMMENT ON CONSTRAINT name ON table IS 'comment'`.
pub fn comment_on_constraint(table: &QualifiedName, name: &str, comment: &str) -> String {
    format!(
        "COMMENT ON CONSTRAINT {} ON {table} IS {}",
        quote_ident(name),
        quote_literal(comment)
    )
}

/// Puts a session in replica mode: FK and ordinary user triggers do not
/// fire (`ENABLE ALWAYS` and `ENABLE REPLICA` ones do).
pub const SET_REPLICA_MODE: &str = "SET session_replication_role = replica";

/// `SET LOCAL ROLE owner`: what runs next in the transaction has the owner's
/// rights and no more. Sent as a statement of its own, before the checked
/// statement, and followed by [`RESET_ROLE`].
pub fn set_local_role(owner: &str) -> String {
    format!("SET LOCAL ROLE {}", quote_ident(owner))
}

/// Rows the current transaction inserted into table `oid` so far, plus any
/// its session has not yet reported: a load reads it before its COPY and
/// checks the difference after ([`check_inserted_by_transaction`]). The
/// heap access method counts every row a COPY writes; nothing reports a
/// session's counts inside a transaction.
pub fn inserted_by_transaction(oid: u32) -> String {
    format!("SELECT pg_catalog.pg_stat_get_xact_tuples_inserted({oid})")
}

/// Fails (division by zero, aborting the transaction, so that the COMMIT
/// behind it rolls back) unless table `oid` gained exactly `rows` inserted
/// rows since [`inserted_by_transaction`] read `before`.
pub fn check_inserted_by_transaction(oid: u32, before: i64, rows: i64) -> String {
    format!(
        "SELECT 1 / CASE WHEN pg_catalog.pg_stat_get_xact_tuples_inserted({oid}) - {before} = {rows} \
         THEN 1 ELSE 0 END"
    )
}

/// Back to the session's own role after [`set_local_role`].
pub const RESET_ROLE: &str = "RESET ROLE";

#[cfg(test)]
mod tests;
