//! PostgreSQL's parser for the CLI: libpg_query (through the `pg_query`
//! crate, the server's own grammar compiled into a library) reads a stored
//! definition into the core's [`Statement`]s, which `pgcopy_core::stored`
//! checks before anything runs. The extension does the same with the
//! server's `raw_parser`.

use pg_query::protobuf::{self, AlterTableType, ConstrType, ObjectType, RangeVar};
use pg_query::NodeEnum;
use pgcopy_core::stored::{AlterCommand, AlterObject, RelationRef, Statement};

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

/// Whether `text` (a `--where` condition or a `--transform` expression) is
/// one SQL expression on its own, as the parser reads it: pgcopy pastes it
/// into subqueries, where text that only balances inside the query it was
/// tried in (`false) OR (true`) would read other rows, and a name of
/// pgcopy's own aliases (`pgcopy_row`) another table's row.
pub fn one_expression(text: &str) -> Result<(), String> {
    if text.to_lowercase().contains(pgcopy_core::subset::ROW_ALIAS) {
        return Err(format!(
            "it names {}, pgcopy's alias of the row: name the columns alone",
            pgcopy_core::subset::ROW_ALIAS
        ));
    }
    let parsed = pg_query::parse(&format!("SELECT {text}"), pg_query::ParserOptions::DEFAULT)
        .map_err(|e| format!("it is not one SQL expression ({e})"))?;
    let one = match parsed.protobuf.stmts.as_slice() {
        [raw] => match raw.stmt.as_ref().and_then(|s| s.node.as_ref()) {
            Some(NodeEnum::SelectStmt(s)) => {
                s.target_list.len() == 1
                    && s.from_clause.is_empty()
                    && s.where_clause.is_none()
                    && s.group_clause.is_empty()
                    && s.having_clause.is_none()
                    && s.window_clause.is_empty()
                    && s.sort_clause.is_empty()
                    && s.limit_count.is_none()
                    && s.limit_offset.is_none()
                    && s.locking_clause.is_empty()
                    && s.into_clause.is_none()
                    && s.with_clause.is_none()
                    && s.larg.is_none()
                    && s.rarg.is_none()
                    && s.distinct_clause.is_empty()
                    && s.values_lists.is_empty()
            }
            _ => false,
        },
        _ => false,
    };
    // In parentheses too: a trailing `;` parses after `SELECT x` but not
    // inside the subquery pgcopy pastes the text into.
    let parenthesized = pg_query::parse(
        &format!("SELECT ({text})"),
        pg_query::ParserOptions::DEFAULT,
    )
    .is_ok_and(|p| p.protobuf.stmts.len() == 1);
    match one && parenthesized {
        true => Ok(()),
        false => Err("it is not one SQL expression".into()),
    }
}

/// The functions `text` (one SQL expression) calls by name, as written
/// (`random`, `pg_catalog.now`), and whether it reads the clock through
/// SQL's own keywords (`CURRENT_TIMESTAMP`, `LOCALTIME`, `CURRENT_DATE`...),
/// which are no function calls to the parser.
pub fn calls(text: &str) -> (Vec<String>, bool) {
    let Ok(parsed) = pg_query::parse(&format!("SELECT {text}"), pg_query::ParserOptions::DEFAULT)
    else {
        return (Vec::new(), false);
    };
    // CURRENT_DATE to LOCALTIMESTAMP(n); the others are names of roles
    // and schemas.
    let clock = parsed.protobuf.nodes().iter().any(|(node, ..)| {
        matches!(node, pg_query::NodeRef::SqlvalueFunction(f) if (1..=9).contains(&f.op))
    });
    let mut names = parsed.functions();
    names.sort();
    (names, clock)
}

/// What kind of object a name in an expression stands for, as the parser
/// resolves it through `search_path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NameKind {
    /// A function (`lower(x)`).
    Function,
    /// An operator (`=`, `~~` for `LIKE`).
    Operator,
    /// A type (`::citext`).
    Type,
    /// A table or view (a subquery's `FROM`).
    Relation,
    /// A collation (`COLLATE "x"`).
    Collation,
}

impl NameKind {
    /// The word for it in a sentence.
    pub fn as_str(self) -> &'static str {
        match self {
            NameKind::Function => "function",
            NameKind::Operator => "operator",
            NameKind::Type => "type",
            NameKind::Relation => "table",
            NameKind::Collation => "collation",
        }
    }
}

/// The names `text` (one SQL expression) leaves to `search_path`: every
/// function, operator, type, relation and collation it names without a
/// schema, with the operators SQL's own syntax stands for (`=` for `IN`,
/// `CASE x WHEN` and `NULLIF`, `~~` for `LIKE`, `>=` and `<=` for
/// `BETWEEN`). A name written with its schema resolves the same anywhere.
pub fn unqualified_names(
    text: &str,
) -> Result<std::collections::BTreeSet<(NameKind, String)>, String> {
    let parsed = pg_query::parse(&format!("SELECT {text}"), pg_query::ParserOptions::DEFAULT)
        .map_err(|e| e.to_string())?;
    let tree = serde_json::to_value(&parsed.protobuf).map_err(|e| e.to_string())?;
    let names_of = |v: Option<&serde_json::Value>| -> Vec<String> {
        v.and_then(|n| n.as_array())
            .map(|n| {
                n.iter()
                    .filter_map(|n| n.pointer("/node/String/sval")?.as_str())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = std::collections::BTreeSet::new();
    let mut one = |kind: NameKind, names: Vec<String>| {
        if let [name] = names.as_slice() {
            out.insert((kind, name.clone()));
        }
    };
    let mut stack = vec![&tree];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(f) = map.get("FuncCall") {
                    one(NameKind::Function, names_of(f.get("funcname")));
                }
                if let Some(e) = map.get("AExpr") {
                    let names = names_of(e.get("name"));
                    match names.as_slice() {
                        [n] if n.eq_ignore_ascii_case("between")
                            || n.eq_ignore_ascii_case("not between")
                            || n.eq_ignore_ascii_case("between symmetric")
                            || n.eq_ignore_ascii_case("not between symmetric") =>
                        {
                            one(NameKind::Operator, vec![">=".into()]);
                            one(NameKind::Operator, vec!["<=".into()]);
                        }
                        _ => one(NameKind::Operator, names),
                    }
                }
                if let Some(l) = map.get("SubLink") {
                    let names = names_of(l.get("oper_name"));
                    let kind = l.get("sub_link_type").and_then(|k| k.as_i64()).unwrap_or(0);
                    let any_or_all = [
                        protobuf::SubLinkType::AnySublink as i64,
                        protobuf::SubLinkType::AllSublink as i64,
                    ];
                    // `x IN (SELECT ...)` leaves its operator out: `=`.
                    match names.is_empty() && any_or_all.contains(&kind) {
                        true => one(NameKind::Operator, vec!["=".into()]),
                        false => one(NameKind::Operator, names),
                    }
                }
                if map.get("CaseExpr").and_then(|c| c.get("arg")).is_some() {
                    one(NameKind::Operator, vec!["=".into()]);
                }
                if let Some(t) = map.get("TypeName") {
                    one(NameKind::Type, names_of(t.get("names")));
                }
                for key in ["type_name", "typeName"] {
                    if let Some(t) = map.get(key).filter(|t| t.get("names").is_some()) {
                        one(NameKind::Type, names_of(t.get("names")));
                    }
                }
                if let Some(r) = map.get("RangeVar") {
                    let schema = r.get("schemaname").and_then(|s| s.as_str()).unwrap_or("");
                    if let (true, Some(rel)) =
                        (schema.is_empty(), r.get("relname").and_then(|s| s.as_str()))
                    {
                        one(NameKind::Relation, vec![rel.to_string()]);
                    }
                }
                if let Some(c) = map.get("CollateClause") {
                    one(NameKind::Collation, names_of(c.get("collname")));
                }
                stack.extend(map.values());
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    Ok(out)
}

/// `text` (one SQL expression, as PostgreSQL prints a view's) without the
/// `alias.` before its column references: pgcopy pastes a condition into
/// subqueries where its table goes by other names. Each reference is found
/// by the parser (nothing inside a string or a quoted name is touched);
/// the caller proves the result reads the same.
pub fn without_alias(text: &str, alias: &str) -> Result<String, String> {
    const PREFIX: &str = "SELECT ";
    let sql = format!("{PREFIX}{text}");
    let parsed =
        pg_query::parse(&sql, pg_query::ParserOptions::DEFAULT).map_err(|e| e.to_string())?;
    let qualified = format!("{alias}.");
    let mut starts: Vec<usize> = parsed
        .protobuf
        .nodes()
        .iter()
        .filter_map(|(node, ..)| match node {
            pg_query::NodeRef::ColumnRef(c) if c.fields.len() > 1 => {
                let first = c.fields.first()?.node.as_ref()?;
                match first {
                    NodeEnum::String(s) if s.sval == alias => usize::try_from(c.location).ok(),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect();
    starts.sort_unstable();
    starts.dedup();
    let mut out = sql.clone();
    for start in starts.into_iter().rev() {
        if out.get(start..start + qualified.len()) != Some(qualified.as_str()) {
            return Err(format!(
                "a reference to {alias} is not written as {qualified}"
            ));
        }
        out.replace_range(start..start + qualified.len(), "");
    }
    Ok(out[PREFIX.len()..].to_string())
}

/// `text` without one pair of parentheses around all of it (PostgreSQL
/// prints a view's conditions so), when there is one: parentheses inside
/// strings and quoted names do not count.
pub fn without_outer_parentheses(text: &str) -> &str {
    let t = text.trim();
    if !(t.starts_with('(') && t.ends_with(')')) {
        return t;
    }
    let (mut depth, mut quote) = (0usize, None::<char>);
    for (i, c) in t.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth = depth.saturating_sub(1);
                if depth == 0 && i + 1 < t.len() {
                    return t;
                }
            }
            _ => {}
        }
    }
    &t[1..t.len() - 1]
}

/// Every `--where` condition and `--transform` expression that is not one
/// SQL expression on its own ([`one_expression`]), as a problem each.
pub fn expressions_alone(
    filters: &[pgcopy_core::subset::RowFilter],
    transforms: &[pgcopy_core::transform::ColumnTransform],
) -> Vec<pgcopy_core::preflight::Problem> {
    let filters = filters
        .iter()
        .map(|f| ("--where", f.table.clone(), &f.condition));
    let transforms = transforms.iter().map(|t| {
        (
            "--transform",
            format!("{}.{}", t.table, t.column),
            &t.expression,
        )
    });
    filters
        .chain(transforms)
        .filter_map(|(option, target, text)| {
            one_expression(text).err().map(|why| {
                pgcopy_core::preflight::Problem::NotOneExpression {
                    option,
                    target,
                    why,
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod alias_tests;

#[cfg(test)]
mod name_tests;

#[cfg(test)]
mod expression_tests;
