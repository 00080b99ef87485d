use super::*;

fn rel(schema: &str, name: &str) -> RelationRef {
    RelationRef {
        catalog: None,
        schema: Some(schema.into()),
        name: name.into(),
    }
}

fn create(index: &str, table: RelationRef) -> Statement {
    Statement::CreateIndex {
        index: index.into(),
        table,
        concurrently: false,
        if_not_exists: false,
    }
}

fn attach(schema: &str, index: &str, child: &str) -> Statement {
    Statement::Alter {
        object: AlterObject::Index,
        relation: rel(schema, index),
        commands: vec![AlterCommand::AttachPartition {
            partition: rel(schema, child),
        }],
    }
}

fn add_fk(table: RelationRef, name: &str, referenced: RelationRef) -> Statement {
    Statement::Alter {
        object: AlterObject::Table,
        relation: table,
        commands: vec![AlterCommand::AddForeignKey {
            name: name.into(),
            referenced,
            not_valid: true,
        }],
    }
}

#[test]
fn an_index_on_its_table_passes_with_its_attachments() {
    let t = QualifiedName::new("Sales EU", "orders");
    assert_eq!(
        check_index(
            &t,
            "o_idx",
            Ok(vec![create("o_idx", rel("Sales EU", "orders"))])
        ),
        Ok(())
    );
    assert_eq!(
        check_index(
            &t,
            "o_idx",
            Ok(vec![
                create("o_idx", rel("Sales EU", "orders")),
                attach("Sales EU", "o_idx", "o_2024_idx"),
                attach("Sales EU", "o_idx", "o_2025_idx"),
            ])
        ),
        Ok(())
    );
}

#[test]
fn anything_else_in_an_index_definition_is_refused() {
    let t = QualifiedName::new("public", "t");
    let role = Statement::Other {
        kind: "AlterRoleStmt".into(),
    };
    let refused = |parsed: Vec<Statement>| check_index(&t, "i", Ok(parsed)).unwrap_err();
    // Not an index at all.
    let e = refused(vec![role.clone()]);
    assert!(
        e.to_string()
            .contains("another kind of statement (AlterRoleStmt)"),
        "{e}"
    );
    // A second statement after a genuine one.
    refused(vec![create("i", rel("public", "t")), role]);
    // Another table, another name, no schema, a database name.
    refused(vec![create("i", rel("public", "canary"))]);
    refused(vec![create("j", rel("public", "t"))]);
    refused(vec![create(
        "i",
        RelationRef {
            catalog: None,
            schema: None,
            name: "t".into(),
        },
    )]);
    refused(vec![create(
        "i",
        RelationRef {
            catalog: Some("other".into()),
            schema: Some("public".into()),
            name: "t".into(),
        },
    )]);
    // CONCURRENTLY or IF NOT EXISTS: not pg_get_indexdef's.
    refused(vec![Statement::CreateIndex {
        index: "i".into(),
        table: rel("public", "t"),
        concurrently: true,
        if_not_exists: false,
    }]);
    // An attachment to another index, or another command.
    refused(vec![
        create("i", rel("public", "t")),
        attach("public", "other", "c"),
    ]);
    refused(vec![
        create("i", rel("public", "t")),
        Statement::Alter {
            object: AlterObject::Index,
            relation: rel("public", "i"),
            commands: vec![AlterCommand::Other {
                kind: "OWNER TO".into(),
            }],
        },
    ]);
    refused(vec![]);
    assert_eq!(
        check_index(&t, "i", Err("syntax error at or near \";\"".into())),
        Err(Refusal::Syntax("syntax error at or near \";\"".into()))
    );
}

#[test]
fn a_foreign_key_must_be_one_fk_on_its_table_to_its_referenced_table() {
    let t = QualifiedName::new("public", "b");
    let r = QualifiedName::new("public", "a");
    let ok = add_fk(rel("public", "b"), "b_a_fk", rel("public", "a"));
    assert_eq!(
        check_foreign_key(&t, "b_a_fk", &r, true, Ok(vec![ok.clone()])),
        Ok(())
    );
    // A trailing comment must not swallow the NOT VALID pgcopy appends.
    assert!(check_foreign_key(&t, "b_a_fk", &r, false, Ok(vec![ok.clone()])).is_err());
    let refused =
        |parsed: Vec<Statement>| check_foreign_key(&t, "b_a_fk", &r, true, Ok(parsed)).unwrap_err();
    let e = refused(vec![
        ok.clone(),
        Statement::Other {
            kind: "AlterRoleStmt".into(),
        },
    ]);
    assert!(e.to_string().contains("2 statements"), "{e}");
    refused(vec![add_fk(
        rel("public", "b"),
        "b_a_fk",
        rel("public", "canary"),
    )]);
    refused(vec![add_fk(
        rel("public", "b"),
        "b_a_fk",
        RelationRef {
            catalog: None,
            schema: None,
            name: "a".into(),
        },
    )]);
    refused(vec![add_fk(
        rel("public", "canary"),
        "b_a_fk",
        rel("public", "a"),
    )]);
    refused(vec![add_fk(
        rel("public", "b"),
        "other",
        rel("public", "a"),
    )]);
    refused(vec![Statement::Alter {
        object: AlterObject::Table,
        relation: rel("public", "b"),
        commands: vec![AlterCommand::Other {
            kind: "ADD CONSTRAINT (CHECK)".into(),
        }],
    }]);
    refused(vec![Statement::Alter {
        object: AlterObject::Table,
        relation: rel("public", "b"),
        commands: vec![
            AlterCommand::AddForeignKey {
                name: "b_a_fk".into(),
                referenced: rel("public", "a"),
                not_valid: true,
            },
            AlterCommand::Other {
                kind: "OWNER TO".into(),
            },
        ],
    }]);
}

/// Job 7's authority over `bob`'s table, restored by `postgres`, created
/// by `creator`; everyone a member of `bob`, who is not trusted.
fn bobs(creator: &str) -> Authority {
    Authority {
        job: 7,
        owner: "bob".into(),
        caller: "postgres".into(),
        caller_is_member: true,
        creator: creator.into(),
        creator_is_member: true,
        owner_trusted: false,
    }
}

#[test]
fn literals_of_user_types_are_parsed_only_for_trusted_owners() {
    let t = QualifiedName::new("public", "canary");
    let a = bobs("postgres");
    assert_eq!(check_literals(&t, "index i", &[], &a), Ok(()));
    let casts = vec!["a cast to public.dom[]".to_string()];
    let e = check_literals(&t, "index i", &casts, &a).unwrap_err();
    assert!(
            e.to_string().starts_with(
                "the saved definition of index i on public.canary holds a literal (a cast to public.dom[])"
            ),
            "{e}"
        );
    let trusted = Authority {
        owner_trusted: true,
        ..a
    };
    assert_eq!(check_literals(&t, "index i", &casts, &trusted), Ok(()));
}

#[test]
fn restores_need_both_the_creator_and_the_caller_to_act_as_the_owner() {
    let t = QualifiedName::new("public", "canary");
    let a = bobs("app");
    assert_eq!(authorize(&t, &a), Ok(()));
    let e = authorize(
        &t,
        &Authority {
            creator_is_member: false,
            ..a.clone()
        },
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("job 7 was created by role \"app\", which cannot act as \"bob\""),
        "{e}"
    );
    let e = authorize(
        &t,
        &Authority {
            caller_is_member: false,
            ..a
        },
    )
    .unwrap_err();
    assert!(e
        .to_string()
        .contains("this role (\"postgres\") is not a member"));
}
