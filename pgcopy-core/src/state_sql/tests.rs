use super::*;

/// The `$n` of `sql`'s statement (its lines but the comment lines).
fn parameters(sql: &str) -> std::collections::BTreeSet<usize> {
    let body: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = std::collections::BTreeSet::new();
    let mut rest = body.as_str();
    while let Some(at) = rest.find('$') {
        let digits: String = rest[at + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(n) = digits.parse() {
            found.insert(n);
        }
        rest = &rest[at + 1..];
    }
    found
}

#[test]
fn every_file_is_a_statement_and_every_statement_a_file() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/state");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut listed: Vec<String> = ALL.iter().map(|(f, _)| f.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed);
}

#[test]
fn each_file_says_what_its_parameters_are() {
    for (file, sql) in ALL {
        let header: String = sql
            .text()
            .lines()
            .take_while(|l| l.starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!header.is_empty(), "{file} has no header");
        for n in parameters(sql.text()) {
            assert!(
                header.contains(&format!("${n}")),
                "{file}: ${n} is not in its header"
            );
        }
    }
}

#[test]
fn rendered_statements_name_the_quoted_schema_and_nothing_else_is_left() {
    for (file, sql) in ALL {
        let text = sql.render("my \"state\"");
        assert!(!text.contains('@'), "{file} keeps a placeholder: {text}");
        if sql.text().contains("@extschema@") {
            assert!(text.contains(r#""my ""state""""#), "{file}: {text}");
        }
    }
    // A name holding a placeholder's text stays a name.
    let text = FK_PROBE.render("@authority_columns@");
    assert!(
        text.contains(r#"LEFT JOIN "@authority_columns@".jobs"#),
        "{text}"
    );
    assert!(text.contains("pg_catalog.pg_has_role(current_user, t.relowner, 'MEMBER')"));
}

#[test]
fn the_state_schema_script_is_rendered_the_same_way() {
    let script = crate::state_schema_sql("x y");
    assert!(script.contains(r#"CREATE TABLE "x y".jobs"#) || script.contains(r#""x y".jobs"#));
    assert!(!script.contains("@extschema@"));
}

#[test]
fn literals_go_where_the_parameters_are_and_nowhere_else() {
    let sql = "-- $1 the job's id\nSELECT $1, '$1', \"a$1\", a$1, $2 /* $1 */, $10, $1x\n";
    assert_eq!(
        bind_literals(sql, &["7", "'it''s'"]),
        "-- $1 the job's id\nSELECT 7, '$1', \"a$1\", a$1, 'it''s' /* $1 */, $10, 7x\n"
    );
    // A quote in a value does not change what follows: values go in as
    // they are, after the scan has passed them.
    assert_eq!(bind_literals("SELECT $1, $2", &["'", "2"]), "SELECT ', 2");
}

#[test]
fn the_chunk_mark_with_values_keeps_no_parameter() {
    let sql = MARK_CHUNK_DONE.render_with("pgcopy", &["1", "'s'", "'t'", "0", "5", "6", "true"]);
    assert!(parameters(&sql).is_empty(), "{sql}");
    assert!(
        sql.contains("WHERE true AND job_id = 1 AND table_schema = 's' AND table_name = 't'"),
        "{sql}"
    );
}

#[test]
fn the_files_keep_to_the_sql_the_binding_knows() {
    for (file, sql) in ALL {
        let text = sql.render("pgcopy");
        assert!(
            !text.is_empty() && !text.starts_with("--"),
            "{file}: {text}"
        );
        for unknown in ["$$", "/*"] {
            assert!(!text.contains(unknown), "{file} holds {unknown}");
        }
        // An escape string starts with E or e standing alone before a quote.
        let escape_string = text.char_indices().any(|(i, c)| {
            matches!(c, 'E' | 'e')
                && text[i + 1..].starts_with('\'')
                && !text[..i]
                    .chars()
                    .last()
                    .is_some_and(|p| p.is_alphanumeric() || p == '_')
        });
        assert!(!escape_string, "{file} holds an escape string");
    }
}
