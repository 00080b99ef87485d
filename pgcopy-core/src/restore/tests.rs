use super::*;
use crate::stored::{AlterCommand, AlterObject, RelationRef};

fn saved(validated: bool) -> SavedFk {
    SavedFk {
        job_id: 1,
        table: QualifiedName::new("public", "b"),
        name: "b_a_fk".into(),
        definition: if validated {
            "FOREIGN KEY (a) REFERENCES public.a(id)".into()
        } else {
            "FOREIGN KEY (a) REFERENCES public.a(id) NOT VALID".into()
        },
        was_validated: validated,
        referenced: QualifiedName::new("public", "a"),
        kind: crate::catalog::ConstraintKind::Foreign,
        comment: None,
        bindings: Some(Vec::new()),
        clone_names: Vec::new(),
    }
}

fn authority(creator_is_member: bool) -> Authority {
    Authority {
        job: 1,
        owner: "app".into(),
        caller: "postgres".into(),
        caller_is_member: true,
        creator: "app".into(),
        creator_is_member,
        owner_trusted: false,
    }
}

fn absent(partitioned: bool) -> Present {
    Present {
        definition: None,
        validated: None,
        partitioned,
        authority: authority(true),
    }
}

/// Stands in for a parser: what libpg_query reads from `sql`, as far as
/// these statements go (the CLI's tests run the real parser).
fn parse(sql: &str) -> Result<Vec<Statement>, String> {
    let rel = |s: &str, n: &str| RelationRef {
        catalog: None,
        schema: Some(s.into()),
        name: n.into(),
    };
    Ok(vec![Statement::Alter {
        object: AlterObject::Table,
        relation: rel("public", "b"),
        commands: vec![AlterCommand::AddForeignKey {
            name: "b_a_fk".into(),
            referenced: rel("public", "a"),
            not_valid: sql.ends_with("NOT VALID"),
        }],
    }])
}

#[test]
fn absent_validated_fk_is_added_not_valid_then_validated_as_the_owner() {
    let s = steps(&saved(true), &absent(false), parse).unwrap();
    assert_eq!(s.len(), 2);
    assert!(
        matches!(&s[0], Step::Add { sql, valid: false, owner, .. } if sql.ends_with("REFERENCES public.a(id) NOT VALID") && owner == "app")
    );
    assert!(
        matches!(&s[1], Step::Validate { sql, owner } if sql == r#"ALTER TABLE "public"."b" VALIDATE CONSTRAINT "b_a_fk""# && owner == "app")
    );
}

#[test]
fn not_valid_fk_stays_not_valid() {
    let s = steps(&saved(false), &absent(false), parse).unwrap();
    assert_eq!(s.len(), 1);
    assert!(
        matches!(&s[0], Step::Add { sql, valid: false, .. } if sql.matches("NOT VALID").count() == 1)
    );
}

#[test]
fn partitioned_fk_is_added_in_one_step() {
    let s = steps(&saved(true), &absent(true), parse).unwrap();
    assert_eq!(s.len(), 1);
    assert!(matches!(&s[0], Step::Add { sql, valid: true, .. } if !sql.contains("NOT VALID")));
}

#[test]
fn present_fk_is_marked_and_validated_if_needed() {
    let present = Present {
        definition: Some("FOREIGN KEY (a) REFERENCES public.a(id) NOT VALID".into()),
        validated: Some(false),
        partitioned: false,
        authority: authority(true),
    };
    let s = steps(&saved(true), &present, parse).unwrap();
    assert_eq!(s[0], Step::MarkPresent { valid: false });
    assert!(matches!(s[1], Step::Validate { .. }));
    let present = Present {
        validated: Some(true),
        ..present
    };
    assert_eq!(
        steps(&saved(true), &present, parse).unwrap(),
        vec![Step::MarkPresent { valid: true }]
    );
}

#[test]
fn different_constraint_in_the_way_is_a_conflict() {
    let present = Present {
        definition: Some("FOREIGN KEY (x) REFERENCES public.z(id)".into()),
        validated: Some(true),
        partitioned: false,
        authority: authority(true),
    };
    let err = steps(&saved(true), &present, parse).unwrap_err();
    assert!(err
        .to_string()
        .contains("a different constraint named \"b_a_fk\" exists on public.b"));
}

#[test]
fn a_row_its_job_creator_could_not_have_written_is_refused() {
    let present = Present {
        authority: authority(false),
        ..absent(false)
    };
    let err = steps(&saved(true), &present, parse).unwrap_err();
    assert!(matches!(
        err,
        NotRestored::Refused { ref refusal, .. } if matches!(**refusal, Refusal::CreatorNotOwner { .. })
    ));
    // Nor is a present FK validated for it.
    let present = Present {
        definition: Some("FOREIGN KEY (a) REFERENCES public.a(id) NOT VALID".into()),
        validated: Some(false),
        ..present
    };
    assert!(steps(&saved(true), &present, parse).is_err());
}

#[test]
fn a_definition_that_parses_as_something_else_is_refused() {
    let mut s = saved(true);
    s.definition = "CHECK (true); ALTER ROLE app SUPERUSER; --".into();
    let two = |_: &str| {
        Ok(vec![
            Statement::Other {
                kind: "AlterTableStmt".into(),
            },
            Statement::Other {
                kind: "AlterRoleStmt".into(),
            },
        ])
    };
    let err = steps(&s, &absent(false), two).unwrap_err();
    assert!(err.to_string().contains("2 statements"), "{err}");
}

#[test]
fn an_index_is_built_only_when_missing_checked_and_authorized() {
    let t = QualifiedName::new("public", "b");
    let index = |sql: &str| -> Result<Vec<Statement>, String> {
        Ok(vec![Statement::CreateIndex {
            index: "b_idx".into(),
            table: RelationRef {
                catalog: None,
                schema: Some("public".into()),
                name: if sql.contains("canary") {
                    "canary"
                } else {
                    "b"
                }
                .into(),
            },
            concurrently: false,
            if_not_exists: false,
        }])
    };
    let saved = |definition: &str| SavedIndex {
        job_id: 1,
        table: t.clone(),
        name: "b_idx".into(),
        definition: definition.into(),
        properties: crate::catalog::IndexProperties {
            clustered: true,
            ..Default::default()
        },
        bindings: Some(Vec::new()),
    };
    let def = "CREATE INDEX b_idx ON public.b USING btree (a)";
    assert_eq!(
        index_action(&saved(def), there(true, false), &authority(false), index),
        Ok(IndexAction::MarkPresent)
    );
    let build = index_action(&saved(def), there(false, false), &authority(true), index).unwrap();
    assert_eq!(
        build.statements(),
        [
            "SET LOCAL default_tablespace = ''",
            def,
            r#"ALTER TABLE "public"."b" CLUSTER ON "b_idx""#
        ]
    );
    assert!(index_action(&saved(def), there(false, false), &authority(false), index).is_err());
    assert!(index_action(
        &saved("CREATE INDEX b_idx ON public.canary (a)"),
        there(false, false),
        &authority(true),
        index
    )
    .is_err());
}

fn there(index: bool, constraint: bool) -> IndexPresent {
    IndexPresent {
        index,
        constraint,
        tablespace_allowed: true,
    }
}

#[test]
fn an_index_that_backed_a_key_comes_back_with_it() {
    use crate::catalog::{BackedConstraint, IndexProperties, KeyKind};
    let t = QualifiedName::new("public", "Odd T");
    let def = "CREATE UNIQUE INDEX \"k\" ON public.\"Odd T\" USING btree (a)";
    let saved = SavedIndex {
        job_id: 1,
        table: t.clone(),
        name: "k".into(),
        definition: def.into(),
        properties: IndexProperties {
            replica_identity: true,
            comment: Some("the index's".into()),
            constraint: Some(BackedConstraint {
                kind: KeyKind::Unique,
                deferrable: true,
                initially_deferred: true,
                comment: Some("the key's".into()),
            }),
            ..Default::default()
        },
        bindings: Some(Vec::new()),
    };
    let parse = |_: &str| -> Result<Vec<Statement>, String> {
        Ok(vec![Statement::CreateIndex {
            index: "k".into(),
            table: RelationRef {
                catalog: None,
                schema: Some("public".into()),
                name: "Odd T".into(),
            },
            concurrently: false,
            if_not_exists: false,
        }])
    };
    let build = index_action(&saved, there(false, false), &authority(true), parse).unwrap();
    assert_eq!(
        build.statements(),
        [
            "SET LOCAL default_tablespace = ''",
            def,
            r#"ALTER TABLE "public"."Odd T" ADD CONSTRAINT "k" UNIQUE USING INDEX "k" DEFERRABLE INITIALLY DEFERRED"#,
            r#"COMMENT ON CONSTRAINT "k" ON "public"."Odd T" IS 'the key''s'"#,
            r#"ALTER TABLE "public"."Odd T" REPLICA IDENTITY USING INDEX "k""#,
            r#"COMMENT ON INDEX "public"."k" IS 'the index''s'"#,
        ]
    );
    assert_eq!(
        index_action(&saved, there(true, true), &authority(false), parse),
        Ok(IndexAction::MarkPresent)
    );
    // The index alone (someone built it by hand): said, not taken as back.
    let err = index_action(&saved, there(true, false), &authority(true), parse).unwrap_err();
    assert!(
        err.to_string()
            .contains("is there, but not the UNIQUE constraint it backed"),
        "{err}"
    );
}

#[test]
fn states() {
    assert_eq!(
        RestoreState::from_validity(true, true),
        RestoreState::Restored
    );
    assert_eq!(
        RestoreState::from_validity(false, false),
        RestoreState::RestoredNotValid
    );
    assert_eq!(
        RestoreState::from_validity(true, false),
        RestoreState::ValidationFailed
    );
}
#[test]
fn copies_get_their_names_back_through_names_of_their_own() {
    let c = |t: &str, r: &str, n: &str| CloneName {
        table: QualifiedName::new("s", t),
        referenced: QualifiedName::new("s", r),
        name: n.into(),
    };
    let saved = vec![
        c("node", "node_1", "fk_1"),
        c("node", "node_2_a", "fk_2_1"),
        c("node", "node_2_b", "fk_2_2"),
        c("node_1", "node", "fk"),
    ];
    let now = vec![
        c("node", "node_1", "fk_1"),
        c("node", "node_2_a", "fk_3"),
        c("node", "node_2_b", "fk_2_1"),
        c("node_1", "node", "fk"),
    ];
    assert_eq!(
        clone_renames(&saved, &now),
        vec![
            "ALTER TABLE \"s\".\"node\" RENAME CONSTRAINT \"fk_3\" TO \"pgcopy renaming 0\"",
            "ALTER TABLE \"s\".\"node\" RENAME CONSTRAINT \"fk_2_1\" TO \"pgcopy renaming 1\"",
            "ALTER TABLE \"s\".\"node\" RENAME CONSTRAINT \"pgcopy renaming 0\" TO \"fk_2_1\"",
            "ALTER TABLE \"s\".\"node\" RENAME CONSTRAINT \"pgcopy renaming 1\" TO \"fk_2_2\"",
        ]
    );
    // The same names: nothing to do; a pair seen twice is left alone.
    assert!(clone_renames(&saved, &saved).is_empty());
    let twice = vec![c("a", "b", "x"), c("a", "b", "y")];
    assert!(clone_renames(&twice, &[c("a", "b", "z")]).is_empty());
}
