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
mod tests {
    use super::*;
    use pgcopy_core::quote::QualifiedName;
    use pgcopy_core::stored::{check_foreign_key, check_index};
    use proptest::prelude::*;

    #[test]
    fn pg_get_indexdef_texts_pass() {
        let t = QualifiedName::new("Sales EU", "order");
        for def in [
            r#"CREATE UNIQUE INDEX "o idx" ON "Sales EU"."order" USING btree (lower(a) public.myops, b DESC NULLS LAST) INCLUDE (c) WITH (fillfactor='50') WHERE (a OPERATOR(public.>) 1)"#,
            "CREATE INDEX \"o idx\" ON ONLY \"Sales EU\".\"order\" USING btree (a);\n\
             ALTER INDEX \"Sales EU\".\"o idx\" ATTACH PARTITION \"Sales EU\".\"order_2024_a_idx\"",
        ] {
            assert_eq!(check_index(&t, "o idx", parse(def)), Ok(()), "{def}");
        }
    }

    #[test]
    fn literals_a_domain_could_check_are_found() {
        let def = "CREATE INDEX i ON public.t USING btree (lower(a), (b::text)) \
                   WHERE (c = ANY ('{0}'::public.dom[])) AND d = '1'::pg_catalog.int4 AND e <> ''::text";
        assert_eq!(risky_literals(def).unwrap(), ["a cast to public.dom[]"]);
        let check =
            "ALTER TABLE public.t ADD CONSTRAINT c CHECK ((x > ('5'::\"S\".\"my dom\"))) NOT VALID";
        assert_eq!(risky_literals(check).unwrap(), ["a cast to S.my dom"]);
        // No cast: the parser picks the type from the column (a domain's
        // array here), and runs its input.
        let bare = "CREATE INDEX ti ON public.t USING btree (a) WHERE (a <> '{1}')";
        assert_eq!(risky_literals(bare).unwrap(), ["'{1}' with no cast"]);
        let bare = "ALTER TABLE public.t ADD CONSTRAINT tc CHECK ((a <> '{1}')) NOT VALID";
        assert_eq!(risky_literals(bare).unwrap(), ["'{1}' with no cast"]);
        let call = "CREATE INDEX i ON public.t (a) WHERE public.f('x') AND g(('y')::text)";
        assert_eq!(risky_literals(call).unwrap(), ["'x' with no cast"]);
        for safe in [
            "CREATE INDEX i ON public.t (a) WHERE (b IS NULL) AND c > 5 AND d",
            "CREATE INDEX i ON public.t (a) WHERE (status = 'active'::text) AND (at > '2020-01-01'::date)",
            "ALTER TABLE public.t ADD CONSTRAINT c CHECK ((name <> ''::text)) NOT VALID",
        ] {
            assert!(risky_literals(safe).unwrap().is_empty(), "{safe}");
        }
    }

    #[test]
    fn only_plain_conditions_are_run_elsewhere() {
        let cols = |c: &str| condition_columns(c).map(|s| s.into_iter().collect::<Vec<_>>());
        assert_eq!(
            cols("((logdate IS NOT NULL) AND (logdate >= '2006-02-01'::date) AND (logdate < '2006-03-01'::date))"),
            Some(vec!["logdate".to_string()])
        );
        assert_eq!(
            cols("coalesce(((a IS NOT NULL) AND (a = ANY (ARRAY[1, 2]))), false) OR coalesce((NOT ((b)::text = 'x'::text)), false)"),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert!(cols("(a OPERATOR(pg_catalog.>=) 5)").is_some());
        for bad in [
            "satisfies_hash_partition('16384'::oid, 4, 0, id)",
            "(lower(name) >= 'a'::text)",
            "(a OPERATOR(public.>=) 5)",
            "(a = '1'::public.dom)",
            "(a IN (SELECT 1))",
            "(t.a = 1)",
            "true); DROP TABLE x; SELECT (true",
        ] {
            assert_eq!(cols(bad), None, "{bad}");
        }
    }

    #[test]
    fn statements_are_cut_where_the_parser_cuts_them() {
        let def = "CREATE INDEX \"a;b\" ON ONLY public.t USING btree (a) WHERE (b = 'x;y');\n\
                   ALTER INDEX public.\"a;b\" ATTACH PARTITION public.c";
        assert_eq!(
            split(def).unwrap(),
            [
                "CREATE INDEX \"a;b\" ON ONLY public.t USING btree (a) WHERE (b = 'x;y')",
                "ALTER INDEX public.\"a;b\" ATTACH PARTITION public.c"
            ]
        );
    }

    #[test]
    fn injected_index_definitions_are_refused() {
        let t = QualifiedName::new("public", "t");
        for def in [
            "ALTER ROLE app SUPERUSER",
            "CREATE INDEX i ON public.t (a); ALTER ROLE app SUPERUSER",
            "CREATE INDEX i ON public.t (a); SELECT 1",
            "CREATE INDEX i ON public.canary (a)",
            "CREATE INDEX i ON t (a)",
            "CREATE INDEX CONCURRENTLY i ON public.t (a)",
            "CREATE INDEX i ON public.t (a); ALTER INDEX public.i OWNER TO app",
            "CREATE INDEX i ON public.t (a); ALTER TABLE public.t ATTACH PARTITION public.x FOR VALUES IN (1)",
            "CREATE INDEX i ON public.t (a)) ; DROP TABLE public.canary; --",
            "",
            "-- nothing",
        ] {
            assert!(check_index(&t, "i", parse(def)).is_err(), "{def}");
        }
    }

    fn fk(def: &str, not_valid: bool) -> String {
        pgcopy_core::sql::add_constraint(
            &QualifiedName::new("public", "b"),
            "b_a_fk",
            def,
            not_valid,
        )
    }

    #[test]
    fn foreign_keys_pass_only_as_themselves() {
        let (t, r) = (
            QualifiedName::new("public", "b"),
            QualifiedName::new("public", "a"),
        );
        let check = |sql: &str, nv| check_foreign_key(&t, "b_a_fk", &r, nv, parse(sql));
        let good = "FOREIGN KEY (a, b) REFERENCES public.a(x, y) MATCH FULL ON DELETE SET NULL (a) DEFERRABLE INITIALLY DEFERRED";
        assert_eq!(check(&fk(good, true), true), Ok(()));
        assert_eq!(check(&fk(good, false), false), Ok(()));
        for bad in [
            "CHECK (true); ALTER ROLE app SUPERUSER; --",
            "CHECK (true)",
            "FOREIGN KEY (a) REFERENCES a(id)",
            "FOREIGN KEY (a) REFERENCES public.canary(id)",
            "FOREIGN KEY (a) REFERENCES public.a(id), OWNER TO app",
            "FOREIGN KEY (a) REFERENCES public.a(id); ALTER ROLE app SUPERUSER",
            "FOREIGN KEY (a) REFERENCES otherdb.public.a(id)",
        ] {
            assert!(check(&fk(bad, true), true).is_err(), "{bad}");
        }
        // A trailing comment would swallow the NOT VALID pgcopy appends.
        assert!(check(
            &fk("FOREIGN KEY (a) REFERENCES public.a(id) --", true),
            true
        )
        .is_err());
    }

    proptest! {
        /// Whatever text follows a genuine definition, the statement either
        /// still is that one FK, or it is refused: no suffix smuggles in a
        /// second statement or another table.
        #[test]
        fn no_suffix_gets_anything_else_through(suffix in "[ -~\n]{0,40}") {
            let (t, r) = (QualifiedName::new("public", "b"), QualifiedName::new("public", "a"));
            let def = format!("FOREIGN KEY (a) REFERENCES public.a(id){suffix}");
            let sql = fk(&def, true);
            if check_foreign_key(&t, "b_a_fk", &r, true, parse(&sql)).is_ok() {
                let parsed = parse(&sql).unwrap();
                prop_assert_eq!(parsed.len(), 1);
            }
            let idx = format!("CREATE INDEX i ON public.b (a){suffix}");
            if check_index(&t, "i", parse(&idx)).is_ok() {
                let parsed = parse(&idx).unwrap();
                let first_is_index = matches!(parsed[0], Statement::CreateIndex { .. });
                prop_assert!(first_is_index, "{:?}", parsed);
                let rest_attach = parsed[1..]
                    .iter()
                    .all(|s| matches!(s, Statement::Alter { object: AlterObject::Index, .. }));
                prop_assert!(rest_attach, "{:?}", parsed);
            }
        }
    }
}

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
mod alias_tests {
    use super::without_alias;

    #[test]
    fn only_column_references_lose_the_alias() {
        assert_eq!(
            without_alias(
                "((pgcopy_row.email)::text = 'pgcopy_row.x'::text) AND (pgcopy_row.\"Col\" > 1)",
                "pgcopy_row"
            )
            .unwrap(),
            "((email)::text = 'pgcopy_row.x'::text) AND (\"Col\" > 1)"
        );
        assert_eq!(without_alias("(a > 1)", "pgcopy_row").unwrap(), "(a > 1)");
    }

    #[test]
    fn one_pair_of_outer_parentheses_goes() {
        use super::without_outer_parentheses as w;
        assert_eq!(w("((a <= 50))"), "(a <= 50)");
        assert_eq!(w("(a > 1) AND (b < 2)"), "(a > 1) AND (b < 2)");
        assert_eq!(w("(x = ')(')"), "x = ')('");
        assert_eq!(w("a > 1"), "a > 1");
    }
}

#[cfg(test)]
mod name_tests {
    use super::{unqualified_names, NameKind};

    fn names(text: &str) -> Vec<(NameKind, String)> {
        unqualified_names(text).unwrap().into_iter().collect()
    }

    #[test]
    fn operators_functions_types_and_relations_left_to_the_path() {
        use NameKind::*;
        assert_eq!(
            names("email = 'A' OR email IN ('b') OR lower(name) LIKE 'x%'::citext"),
            vec![
                (Function, "lower".into()),
                (Operator, "=".into()),
                (Operator, "~~".into()),
                (Type, "citext".into()),
            ]
        );
        assert_eq!(
            names(
                "id BETWEEN 1 AND 2 AND x IN (SELECT y FROM other) AND CASE k WHEN 1 THEN true END"
            ),
            vec![
                (Operator, "<=".into()),
                (Operator, "=".into()),
                (Operator, ">=".into()),
                (Relation, "other".into()),
            ]
        );
        assert_eq!(
            names("n COLLATE \"de\" < 'b'"),
            vec![(Operator, "<".into()), (Collation, "de".into())]
        );
    }

    #[test]
    fn qualified_names_and_builtin_type_keywords_are_not_left_to_the_path() {
        assert_eq!(
            names("a OPERATOR(public.=) public.lower(b)::int AND c::pg_catalog.text IS NOT NULL AND d IN (SELECT 1 FROM s.t)"),
            vec![(NameKind::Operator, "=".into())]
        );
    }
}

#[cfg(test)]
mod expression_tests {
    use super::one_expression;

    #[test]
    fn only_one_expression_on_its_own_passes() {
        for ok in [
            "customer_id <= 50",
            "email LIKE '%:%' AND (a OR b)",
            "EXISTS (SELECT 1 FROM other o WHERE o.id = x)",
            "md5(email) || '@example.invalid'",
            "CASE WHEN a THEN 1 ELSE 2 END",
        ] {
            assert_eq!(one_expression(ok), Ok(()), "{ok}");
        }
        for bad in [
            "false) OR (id <= 10",
            "true; DROP TABLE t",
            "a, b",
            "a FROM t",
            "1 UNION SELECT 2",
            "pgcopy_row.id <= 10",
            "PGCOPY_ROW1.id > 0",
            "x ORDER BY 1",
            "customer_id <= 50;",
        ] {
            assert!(one_expression(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn calls_name_functions_and_the_clock() {
        use super::calls;
        assert_eq!(
            calls("random() < 0.5 AND EXISTS (SELECT 1 FROM o WHERE o.t < pg_catalog.now())"),
            (
                vec!["pg_catalog.now".to_string(), "random".to_string()],
                false
            )
        );
        assert_eq!(calls("d > CURRENT_DATE - 7"), (vec![], true));
        assert_eq!(calls("owner = CURRENT_USER"), (vec![], false));
        assert_eq!(
            calls("lower(name) = 'x'"),
            (vec!["lower".to_string()], false)
        );
    }
}
