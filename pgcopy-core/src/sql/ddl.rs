//! The DDL a copy runs on constraints and indexes: drop, add, attach,
//! validate, rename, and the properties an index carries back.

use super::*;

/// `ALTER TABLE t RENAME CONSTRAINT a TO b` (a partition's copy of a key,
/// given back its name: `crate::restore::clone_renames`).
pub fn rename_constraint(table: &QualifiedName, from: &str, to: &str) -> String {
    format!(
        "ALTER TABLE {table} RENAME CONSTRAINT {} TO {}",
        quote_ident(from),
        quote_ident(to)
    )
}

/// `ALTER TABLE t DROP CONSTRAINT c`.
pub fn drop_constraint(table: &QualifiedName, constraint: &str) -> String {
    format!(
        "ALTER TABLE {table} DROP CONSTRAINT {}",
        quote_ident(constraint)
    )
}

/// `ALTER TABLE t ADD CONSTRAINT c <definition>`, optionally `NOT VALID`.
///
/// `definition` is `pg_get_constraintdef` output, which is already valid SQL;
/// its own trailing `NOT VALID` is respected.
pub fn add_constraint(
    table: &QualifiedName,
    constraint: &str,
    definition: &str,
    not_valid: bool,
) -> String {
    let def = definition.trim();
    let already = def.ends_with("NOT VALID");
    format!(
        "ALTER TABLE {table} ADD CONSTRAINT {} {def}{}",
        quote_ident(constraint),
        if not_valid && !already {
            " NOT VALID"
        } else {
            ""
        }
    )
}

/// `DROP INDEX schema.index`.
pub fn drop_index(schema: &str, index: &str) -> String {
    format!("DROP INDEX {}.{}", quote_ident(schema), quote_ident(index))
}

/// Drops a deferred index: `DROP INDEX`, or for one that backs a PRIMARY KEY
/// or UNIQUE constraint, `ALTER TABLE ... DROP CONSTRAINT`, which drops both.
pub fn drop_deferred_index(index: &crate::catalog::Index) -> String {
    match index.properties.constraint {
        Some(_) => drop_constraint(&index.table, &index.name),
        None => drop_index(&index.table.schema, &index.name),
    }
}

/// `ALTER INDEX parent ATTACH PARTITION child`: puts a partition's index back
/// under its partitioned table's index.
pub fn attach_index(parent: &QualifiedName, child: &QualifiedName) -> String {
    format!("ALTER INDEX {parent} ATTACH PARTITION {child}")
}

/// `ALTER TABLE t VALIDATE CONSTRAINT c`.
pub fn validate_constraint(table: &QualifiedName, constraint: &str) -> String {
    format!(
        "ALTER TABLE {table} VALIDATE CONSTRAINT {}",
        quote_ident(constraint)
    )
}

/// Before a deferred index is rebuilt: the tablespace it was in
/// (`pg_get_indexdef` does not say), the database's default when `None`.
pub fn index_tablespace(props: &crate::catalog::IndexProperties) -> String {
    match &props.tablespace {
        Some(ts) => format!("SET LOCAL default_tablespace = {}", quote_ident(ts)),
        None => "SET LOCAL default_tablespace = ''".to_string(),
    }
}

/// After a deferred index `index` (in its table's schema) is rebuilt on
/// `table`: what hung on it, put back (replica identity, CLUSTER ON, its
/// comment, per-column statistics targets).
pub fn index_properties(
    table: &QualifiedName,
    index: &str,
    props: &crate::catalog::IndexProperties,
) -> Vec<String> {
    let i = QualifiedName::new(&table.schema, index);
    let mut out = Vec::new();
    // The constraint first: the index becomes its, and keeps its name.
    if let Some(c) = &props.constraint {
        out.push(format!(
            "ALTER TABLE {table} ADD CONSTRAINT {name} {} USING INDEX {name}{}",
            c.kind.sql(),
            match (c.deferrable, c.initially_deferred) {
                (false, _) => "",
                (true, false) => " DEFERRABLE",
                (true, true) => " DEFERRABLE INITIALLY DEFERRED",
            },
            name = quote_ident(index)
        ));
        if let Some(comment) = &c.comment {
            out.push(comment_on_constraint(table, index, comment));
        }
    }
    if props.replica_identity {
        out.push(format!(
            "ALTER TABLE {table} REPLICA IDENTITY USING INDEX {}",
            quote_ident(index)
        ));
    }
    if props.clustered {
        out.push(format!(
            "ALTER TABLE {table} CLUSTER ON {}",
            quote_ident(index)
        ));
    }
    if let Some(c) = &props.comment {
        out.push(format!("COMMENT ON INDEX {i} IS {}", quote_literal(c)));
    }
    for (column, target) in &props.statistics {
        out.push(format!(
            "ALTER INDEX {i} ALTER COLUMN {column} SET STATISTICS {target}"
        ));
    }
    out
}
