//! `--where` conditions and `--transform` expressions as the parser reads
//! them: one expression alone, which names it leaves to the search path,
//! which columns and functions it uses.

use super::*;

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
mod tests;
