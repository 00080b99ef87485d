//! PostgreSQL's parser for the CLI: libpg_query (through the `pg_query`
//! crate, the server's own grammar compiled into a library) reads a stored
//! definition into the core's [`Statement`]s, which `pgcopy_core::stored`
//! checks before anything runs. The extension does the same with the
//! server's `raw_parser`.

use pg_query::protobuf::{self, AlterTableType, ConstrType, ObjectType, RangeVar};
use pg_query::NodeEnum;
use pgcopy_core::stored::{AlterCommand, AlterObject, RelationRef, Statement};

mod expression;

pub use expression::{
    calls, expressions_alone, unqualified_names, without_alias, without_outer_parentheses, NameKind,
};

fn relation(r: &RangeVar) -> RelationRef {
    let part = |s: &str| (!s.is_empty()).then(|| s.to_string());
    RelationRef {
        catalog: part(&r.catalogname),
        schema: part(&r.schemaname),
        name: r.relname.clone(),
    }
}

fn missing() -> RelationRef {
    RelationRef {
        catalog: None,
        schema: None,
        name: String::new(),
    }
}

fn command(cmd: &protobuf::AlterTableCmd) -> AlterCommand {
    let def = cmd.def.as_ref().and_then(|d| d.node.as_ref());
    match (cmd.subtype(), def) {
        (AlterTableType::AtAddConstraint, Some(NodeEnum::Constraint(c)))
            if c.contype() == ConstrType::ConstrForeign =>
        {
            AlterCommand::AddForeignKey {
                name: c.conname.clone(),
                referenced: c.pktable.as_ref().map(relation).unwrap_or_else(missing),
                not_valid: c.skip_validation,
            }
        }
        (AlterTableType::AtAttachPartition, Some(NodeEnum::PartitionCmd(p))) => {
            AlterCommand::AttachPartition {
                partition: p.name.as_ref().map(relation).unwrap_or_else(missing),
            }
        }
        (AlterTableType::AtAddConstraint, Some(NodeEnum::Constraint(c)))
            if c.contype() == ConstrType::ConstrCheck =>
        {
            AlterCommand::AddCheck {
                name: c.conname.clone(),
                not_valid: c.skip_validation,
            }
        }
        (AlterTableType::AtAddConstraint, Some(NodeEnum::Constraint(c))) => AlterCommand::Other {
            kind: format!(
                "ADD CONSTRAINT {}",
                match c.contype() {
                    ConstrType::ConstrCheck => "CHECK".to_string(),
                    ConstrType::ConstrPrimary => "PRIMARY KEY".to_string(),
                    ConstrType::ConstrUnique => "UNIQUE".to_string(),
                    ConstrType::ConstrExclusion => "EXCLUDE".to_string(),
                    ConstrType::ConstrNotnull => "NOT NULL".to_string(),
                    other => format!("{other:?}"),
                }
            ),
        },
        (other, _) => AlterCommand::Other {
            kind: format!("{other:?}"),
        },
    }
}

/// A node's type, for messages: `AlterRoleStmt(...)` gives `AlterRoleStmt`.
fn kind(node: &NodeEnum) -> String {
    let text = format!("{node:?}");
    text.split('(').next().unwrap_or_default().to_string()
}

fn statement(node: Option<&NodeEnum>) -> Statement {
    match node {
        Some(NodeEnum::IndexStmt(i)) => Statement::CreateIndex {
            index: i.idxname.clone(),
            table: i.relation.as_ref().map(relation).unwrap_or_else(missing),
            concurrently: i.concurrent,
            if_not_exists: i.if_not_exists,
        },
        Some(NodeEnum::AlterTableStmt(a)) => Statement::Alter {
            object: match a.objtype() {
                ObjectType::ObjectTable => AlterObject::Table,
                ObjectType::ObjectIndex => AlterObject::Index,
                _ => AlterObject::Other,
            },
            relation: a.relation.as_ref().map(relation).unwrap_or_else(missing),
            commands: a
                .cmds
                .iter()
                .map(|n| match &n.node {
                    Some(NodeEnum::AlterTableCmd(c)) => command(c),
                    other => AlterCommand::Other {
                        kind: other.as_ref().map(kind).unwrap_or_default(),
                    },
                })
                .collect(),
        },
        Some(other) => Statement::Other { kind: kind(other) },
        None => Statement::Other {
            kind: "empty".into(),
        },
    }
}

/// The text of each statement in `sql`, as the parser cuts it (byte offsets;
/// a statement's length 0 means "to the end"). A checked definition is run
/// one statement at a time through the extended protocol, which refuses a
/// text the server would read as several statements: whatever the server's
/// settings, it cannot run more than the parser saw.
pub fn split(sql: &str) -> Result<Vec<String>, String> {
    let parsed =
        pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).map_err(|e| e.to_string())?;
    parsed
        .protobuf
        .stmts
        .iter()
        .map(|raw| {
            let start = usize::try_from(raw.stmt_location).map_err(|e| e.to_string())?;
            let end = match raw.stmt_len {
                0 => sql.len(),
                n => start + usize::try_from(n).map_err(|e| e.to_string())?,
            };
            sql.get(start..end)
                .map(|s| s.trim().to_string())
                .ok_or_else(|| "the parser's statement bounds fall outside the text".to_string())
        })
        .collect()
}

/// The literals in `sql` whose input function the parser would choose from
/// something outside `pg_catalog`, for `stored::check_literals`: a cast to a
/// type outside `pg_catalog` (`public.d[]`), and a string literal without a
/// cast of its own (`'{1}'`), whose type the parser takes from where it
/// stands (a column of a domain's array type, a function's argument). The
/// parser runs that input function, and a domain's CHECK inside it. Every
/// literal `pg_get_indexdef` and `pg_get_constraintdef` print carries its
/// cast (`'a'::text`), and unqualified type names are `pg_catalog`'s:
/// sessions that run stored definitions search nothing else.
pub fn risky_literals(sql: &str) -> Result<Vec<String>, String> {
    let parsed =
        pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).map_err(|e| e.to_string())?;
    // The whole tree, as data: pg_query's own walk skips some node kinds
    // (a constraint's expression among them).
    let tree = serde_json::to_value(&parsed.protobuf).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut stack = vec![&tree];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(cast) = map.get("TypeCast") {
                    let user_type = cast.get("type_name").and_then(qualified_type);
                    let literal = cast.pointer("/arg/node/AConst");
                    if let Some(t) = &user_type {
                        out.push(format!("a cast to {t}"));
                    }
                    // A literal under its own cast is that cast's business
                    // (a pg_catalog type's input function, or flagged above).
                    if literal.is_some() {
                        if let Some(t) = cast.get("type_name") {
                            stack.push(t);
                        }
                        continue;
                    }
                }
                if let Some(text) = map
                    .get("AConst")
                    .and_then(|c| c.pointer("/val/Sval/sval"))
                    .and_then(|s| s.as_str())
                {
                    let shown: String = text.chars().take(20).collect();
                    out.push(format!("'{shown}' with no cast"));
                }
                stack.extend(map.values());
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out.sort();
    Ok(out)
}

/// A serialized `TypeName`'s name when it is schema-qualified outside
/// `pg_catalog`.
fn qualified_type(ty: &serde_json::Value) -> Option<String> {
    let names: Vec<&str> = ty
        .get("names")?
        .as_array()?
        .iter()
        .filter_map(|n| n.pointer("/node/String/sval")?.as_str())
        .collect();
    if names.len() < 2 || names[0] == "pg_catalog" {
        return None;
    }
    let bounds = ty
        .get("array_bounds")
        .and_then(|b| b.as_array())
        .map_or(0, |b| b.len());
    Some(format!("{}{}", names.join("."), "[]".repeat(bounds)))
}

/// The columns `condition` (a boolean expression another server wrote, such
/// as a destination's partition constraints) reads, when it calls nothing
/// and names nothing outside `pg_catalog`: column references by name alone,
/// literals of `pg_catalog`'s types, `pg_catalog`'s operators, `AND`/`OR`/
/// `NOT`, `IS [NOT] NULL`, `COALESCE`; `None` otherwise. Only such a
/// condition is run on the other server, and only over columns of
/// PostgreSQL's own types there (no role's cast applies to them).
pub fn condition_columns(condition: &str) -> Option<std::collections::BTreeSet<String>> {
    let sql = format!("SELECT {condition}");
    let parsed = pg_query::parse(&sql, pg_query::ParserOptions::DEFAULT).ok()?;
    if parsed.protobuf.stmts.len() != 1 {
        return None;
    }
    let tree = serde_json::to_value(&parsed.protobuf).ok()?;
    let mut columns = std::collections::BTreeSet::new();
    let mut stack = vec![&tree];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(map) => {
                for key in [
                    "FuncCall",
                    "SubLink",
                    "RangeVar",
                    "RangeFunction",
                    "ColumnRef",
                ] {
                    if key == "ColumnRef" {
                        // A column, by its own name alone.
                        if let Some(fields) = map
                            .get(key)
                            .and_then(|c| c.get("fields"))
                            .and_then(|f| f.as_array())
                        {
                            match fields.as_slice() {
                                [f] => columns
                                    .insert(f.pointer("/node/String/sval")?.as_str()?.to_string()),
                                _ => return None,
                            };
                        }
                    } else if map.contains_key(key) {
                        return None;
                    }
                }
                if let Some(e) = map.get("AExpr") {
                    let names: Vec<&str> = e
                        .get("name")
                        .and_then(|n| n.as_array())
                        .map(|n| {
                            n.iter()
                                .filter_map(|n| n.pointer("/node/String/sval")?.as_str())
                                .collect()
                        })
                        .unwrap_or_default();
                    if names.len() > 1 && names[0] != "pg_catalog" {
                        return None;
                    }
                }
                if let Some(ty) = map.get("TypeCast").and_then(|c| c.get("type_name")) {
                    if qualified_type(ty).is_some() {
                        return None;
                    }
                }
                stack.extend(map.values());
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    Some(columns)
}

/// Parses `sql` into statements, or the parser's error message.
pub fn parse(sql: &str) -> Result<Vec<Statement>, String> {
    let parsed =
        pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).map_err(|e| e.to_string())?;
    Ok(parsed
        .protobuf
        .stmts
        .iter()
        .map(|raw| statement(raw.stmt.as_ref().and_then(|s| s.node.as_ref())))
        .collect())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod alias_tests;

#[cfg(test)]
mod name_tests;
