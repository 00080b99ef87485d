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
        build,
        IndexAction::Build {
            before: vec!["SET LOCAL default_tablespace = ''".into()],
            sql: def.into(),
            after: vec![r#"ALTER TABLE "public"."b" CLUSTER ON "b_idx""#.into()],
        }
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
        build,
        IndexAction::Build {
            before: vec!["SET LOCAL default_tablespace = ''".into()],
            sql: def.into(),
            after: vec![
                r#"ALTER TABLE "public"."Odd T" ADD CONSTRAINT "k" UNIQUE USING INDEX "k" DEFERRABLE INITIALLY DEFERRED"#.into(),
                r#"COMMENT ON CONSTRAINT "k" ON "public"."Odd T" IS 'the key''s'"#.into(),
                r#"ALTER TABLE "public"."Odd T" REPLICA IDENTITY USING INDEX "k""#.into(),
                r#"COMMENT ON INDEX "public"."k" IS 'the index''s'"#.into(),
            ],
        }
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

fn set_role<'a>(trust: &'a crate::trust::TrustedOwners) -> Restorer<'a> {
    Restorer {
        switch: Switch::SetRole,
        trust,
        own: None,
        state_schema: "st",
    }
}

fn restricted<'a>(trust: &'a crate::trust::TrustedOwners) -> Restorer<'a> {
    Restorer {
        switch: Switch::Restricted,
        ..set_role(trust)
    }
}

/// The names of a unit's actions, in order.
fn kinds(unit: &Unit) -> Vec<&'static str> {
    unit.actions
        .iter()
        .map(|a| match a {
            Action::CheckLiterals(_) => "literals",
            Action::CheckBindingsBefore(_) => "bindings before",
            Action::CheckForeignCode(c) if c.validating => "code (validating)",
            Action::CheckForeignCode(_) => "code (adding)",
            Action::Run(_) => "run",
            Action::PlanValidation(_) => "plan",
            Action::RunAsOwner { .. } => "run as owner",
            Action::CheckBindingsAfter(..) => "bindings after",
            Action::RenameClones(_) => "rename clones",
            Action::Record(_) => "record",
        })
        .collect()
}

#[test]
fn under_set_role_an_added_key_checks_literals_and_bindings_and_validates_apart() {
    let trust = crate::trust::TrustedOwners::default();
    let r = fk_restore(&saved(true), absent(false), &set_role(&trust), parse).unwrap();
    assert_eq!(
        kinds(&r.add),
        [
            "literals",
            "bindings before",
            "run as owner",
            "bindings after",
            "record"
        ]
    );
    assert!(!r.valid_after_add);
    assert!(
        matches!(&r.add.actions[2], Action::RunAsOwner { owner, statements }
        if owner == "app" && statements.len() == 1 && statements[0].ends_with("NOT VALID"))
    );
    // Marked restored, not valid yet, with no error.
    assert!(matches!(&r.add.actions[4], Action::Record(q)
        if q.sql.contains("UPDATE \"st\".saved_fks") && q.params[4..] == [Param::Bool(false), Param::Text(None)]));
    let v = r.validate.unwrap();
    assert_eq!(
        kinds(&v),
        ["code (validating)", "plan", "run as owner", "record"]
    );
    assert!(matches!(&v.actions[0], Action::CheckForeignCode(c)
        if c.checker == Checker::CurrentUser && c.owner == "app"));
    // The plan is set with the caller's rights, after the code check's
    // locks, for this key alone, before the owner validates.
    assert!(matches!(&v.actions[1], Action::PlanValidation(q)
        if q.sql == VALIDATION_PLAN_SQL
           && q.params == [Param::from(r#""public"."b""#), Param::from("b_a_fk")]));
    // A failed validation records the key NOT VALID; a failed add leaves
    // its row to the caller.
    assert!(v.failed(Failure::Error("x".into())).1.is_some());
    assert!(r.add.failed(Failure::Error("x".into())).1.is_none());
}

#[test]
fn in_the_restricted_switch_no_literal_check_and_the_checker_is_the_shared_owner() {
    // Trust named for the CLI never reaches the extension's checks.
    let trust = crate::trust::TrustedOwners::new(["app".to_string()]);
    let r = fk_restore(&saved(true), absent(false), &restricted(&trust), parse).unwrap();
    assert_eq!(
        kinds(&r.add),
        [
            "bindings before",
            "run as owner",
            "bindings after",
            "record"
        ]
    );
    let v = r.validate.unwrap();
    assert!(matches!(&v.actions[0], Action::CheckForeignCode(c)
        if c.checker == Checker::SharedOwner && c.trusted.is_empty()
           && c.checker_query().is_some()));
    // Under SET ROLE the trusted owner's literals are not checked, and its
    // code check carries the trusted roles.
    let r = fk_restore(&saved(true), absent(false), &set_role(&trust), parse).unwrap();
    assert_eq!(kinds(&r.add)[0], "bindings before");
    assert!(
        matches!(&r.validate.unwrap().actions[0], Action::CheckForeignCode(c)
        if c.trusted == ["app"] && c.checker_query().is_none())
    );
}

#[test]
fn a_partitioned_key_added_validated_checks_code_first_and_renames_its_copies() {
    let trust = crate::trust::TrustedOwners::default();
    let mut s = saved(true);
    s.clone_names = vec![CloneName {
        table: QualifiedName::new("public", "b_1"),
        referenced: QualifiedName::new("public", "a"),
        name: "b_a_fk_1".into(),
    }];
    let r = fk_restore(&s, absent(true), &restricted(&trust), parse).unwrap();
    assert_eq!(
        kinds(&r.add),
        [
            "bindings before",
            "code (adding)",
            "run as owner",
            "bindings after",
            "rename clones",
            "record"
        ]
    );
    assert!(r.valid_after_add && r.validate.is_none());
}

#[test]
fn a_key_that_is_there_is_only_marked() {
    let trust = crate::trust::TrustedOwners::default();
    let present = Present {
        definition: Some("FOREIGN KEY (a) REFERENCES public.a(id)".into()),
        validated: Some(true),
        ..absent(false)
    };
    let r = fk_restore(&saved(true), present, &set_role(&trust), parse).unwrap();
    assert_eq!(kinds(&r.add), ["record"]);
    assert!(r.valid_after_add && r.validate.is_none());
}

#[test]
fn a_copy_runs_only_what_it_saved_itself() {
    let trust = crate::trust::TrustedOwners::default();
    let own = OwnSaved::default();
    let by = Restorer {
        own: Some(&own),
        ..set_role(&trust)
    };
    let err = fk_restore(&saved(true), absent(false), &by, parse).unwrap_err();
    assert!(matches!(err, NotRestored::Refused { .. }), "{err}");
    let mut own = OwnSaved::default();
    let s = saved(true);
    own.add_constraint(&s.table, &s.name, &s.definition, &s.referenced);
    let by = Restorer {
        own: Some(&own),
        ..set_role(&trust)
    };
    assert!(fk_restore(&s, absent(false), &by, parse).is_ok());
}

#[test]
fn a_failed_validation_is_recorded_not_valid_with_why() {
    let trust = crate::trust::TrustedOwners::default();
    let v = fk_restore(&saved(true), absent(false), &set_role(&trust), parse)
        .unwrap()
        .validate
        .unwrap();
    let (msg, record) = v.failed(Failure::Error("violates foreign key".into()));
    assert_eq!(msg, "validation failed: violates foreign key");
    assert_eq!(
        record.unwrap().params[4..],
        [Param::Bool(false), Param::Text(Some(msg.clone()))]
    );
    // A refusal is its own sentence.
    let (msg, _) = v.failed(Failure::Refused("validation skipped: x".into()));
    assert_eq!(msg, "validation skipped: x");
    let Action::CheckForeignCode(c) = &v.actions[0] else {
        panic!("{:?}", v.actions[0])
    };
    assert_eq!(c.verdict(""), Ok(()));
    assert!(
        matches!(c.verdict("function evil.f()"), Err(Failure::Refused(m))
        if m.starts_with("validation skipped: checking it would run code of another role (function evil.f())")
           && m.contains(r#"ALTER TABLE "public"."b" VALIDATE CONSTRAINT "b_a_fk""#))
    );
    let adding = CodeCheck {
        validating: false,
        ..c.clone()
    };
    assert!(
        matches!(adding.verdict("function evil.f()"), Err(Failure::Refused(m)) if m.starts_with("not added: "))
    );
}

#[test]
fn an_index_build_runs_as_the_caller_or_wholly_as_an_owner_not_trusted() {
    let trust = crate::trust::TrustedOwners::default();
    let index = |_: &str| -> Result<Vec<Statement>, String> {
        Ok(vec![Statement::CreateIndex {
            index: "b_idx".into(),
            table: RelationRef {
                catalog: None,
                schema: Some("public".into()),
                name: "b".into(),
            },
            concurrently: false,
            if_not_exists: false,
        }])
    };
    let s = SavedIndex {
        job_id: 1,
        table: QualifiedName::new("public", "b"),
        name: "b_idx".into(),
        definition: "CREATE INDEX b_idx ON public.b USING btree (a)".into(),
        properties: crate::catalog::IndexProperties {
            clustered: true,
            ..Default::default()
        },
        bindings: Some(Vec::new()),
    };
    let unit = index_restore(
        &s,
        there(false, false),
        authority(true),
        &set_role(&trust),
        index,
    )
    .unwrap();
    assert_eq!(
        kinds(&unit),
        [
            "literals",
            "bindings before",
            "run",
            "run as owner",
            "bindings after",
            "record"
        ]
    );
    assert!(matches!(&unit.actions[2], Action::Run(s) if s.len() == 2));
    assert!(
        matches!(&unit.actions[3], Action::RunAsOwner { statements, .. }
        if statements == &[r#"ALTER TABLE "public"."b" CLUSTER ON "b_idx""#])
    );
    let unit = index_restore(
        &s,
        there(false, false),
        authority(true),
        &restricted(&trust),
        index,
    )
    .unwrap();
    assert_eq!(
        kinds(&unit),
        [
            "bindings before",
            "run as owner",
            "bindings after",
            "record"
        ]
    );
    assert!(
        matches!(&unit.actions[1], Action::RunAsOwner { statements, .. } if statements.len() == 3)
    );
    let trusted = Authority {
        owner_trusted: true,
        ..authority(true)
    };
    let unit = index_restore(&s, there(false, false), trusted, &restricted(&trust), index).unwrap();
    assert!(matches!(&unit.actions[1], Action::Run(s) if s.len() == 3));
    // Trust named for the CLI does not take a build out of the switch.
    let named = crate::trust::TrustedOwners::new(["app".to_string()]);
    let unit = index_restore(
        &s,
        there(false, false),
        authority(true),
        &restricted(&named),
        index,
    )
    .unwrap();
    assert!(matches!(&unit.actions[1], Action::RunAsOwner { .. }));
    let unit = index_restore(
        &s,
        there(false, false),
        authority(true),
        &set_role(&named),
        index,
    )
    .unwrap();
    assert_eq!(kinds(&unit)[0], "bindings before");
    let unit = index_restore(
        &s,
        there(true, false),
        authority(true),
        &restricted(&trust),
        index,
    )
    .unwrap();
    assert_eq!(kinds(&unit), ["record"]);
    let own = OwnSaved::default();
    let by = Restorer {
        own: Some(&own),
        ..set_role(&trust)
    };
    assert!(index_restore(&s, there(false, false), authority(true), &by, index).is_err());
}

#[test]
fn a_trigger_goes_back_as_its_tables_owner_only_where_the_job_could_act_as_it() {
    let t = crate::triggers::SavedTrigger {
        table: QualifiedName::new("public", "b"),
        trigger: Some("b_audit".into()),
        mode: Some(crate::triggers::TriggerMode::Replica),
    };
    assert!(
        matches!(trigger_restore(&t, &authority(true)), Ok(Action::RunAsOwner { owner, statements })
        if owner == "app" && statements == [t.restore_sql()])
    );
    assert!(trigger_restore(&t, &authority(false)).is_err());
    // The list left is written whole, or NULL when nothing is left.
    let q = disabled_triggers_update("st", 7, std::slice::from_ref(&t));
    assert!(q
        .sql
        .starts_with("UPDATE \"st\".jobs SET disabled_triggers = $2"));
    assert!(matches!(&q.params[1], Param::Json(Some(serde_json::Value::Array(a))) if a.len() == 1));
    assert_eq!(
        disabled_triggers_update("st", 7, &[]).params[1],
        Param::Json(None)
    );
    // A failed unit of them records nothing of its own.
    let (msg, record) = Unit::new(Vec::new()).failed(Failure::Error("x".into()));
    assert_eq!((msg.as_str(), record), ("x", None));
}
