use super::*;
use crate::catalog::{Table, Trigger, TriggerMode};
use crate::plan::{plan, FkStrategy, PlanOptions};

fn qn(n: &str) -> QualifiedName {
    QualifiedName::new("public", n)
}

fn table(name: &str, owner: &str, is_owner: bool) -> Table {
    Table {
        owner: owner.into(),
        is_owner,
        ..Table::sample("public", name)
    }
}

#[test]
fn large_objects_each_fact_is_one_problem() {
    let facts = LargeObjectFacts {
        source_owners: BTreeMap::from([
            (10, "alice".to_string()),
            (11, "bob".to_string()),
            (12, "alice".to_string()),
        ]),
        unreadable: 2,
        roles: vec![
            ("alice".into(), true, true),
            ("bob".into(), true, false),
            ("carol".into(), false, false),
            // A grantee need not be a member: only owners are given.
            ("dave".into(), true, false),
        ],
        dest_objects: vec![
            (10, "alice".into(), true),
            (11, "mallory".into(), true),
            (12, "eve".into(), false),
        ],
        may_create: false,
    };
    let problems = check_large_objects(&facts);
    assert_eq!(
        problems,
        vec![
            LargeObjectProblem::Unreadable(2),
            LargeObjectProblem::MissingRoles(vec!["carol".into()]),
            LargeObjectProblem::NotMember(vec!["bob".into()]),
            LargeObjectProblem::ForeignOids(1),
            LargeObjectProblem::TakenOids(vec![TakenOid {
                oid: 11,
                here: "mallory".into(),
                source: "bob".into()
            }]),
            LargeObjectProblem::MayNotCreate,
        ]
        .into_iter()
        .map(Problem::LargeObjects)
        .collect::<Vec<_>>()
    );
    let text = problems[4].to_string();
    assert!(
        text.contains("11: \"mallory\" here, \"bob\" on the source"),
        "{text}"
    );
    let fine = LargeObjectFacts {
        source_owners: BTreeMap::from([(10, "alice".to_string())]),
        roles: vec![("alice".into(), true, true)],
        dest_objects: vec![(10, "alice".into(), true)],
        may_create: true,
        ..Default::default()
    };
    assert_eq!(check_large_objects(&fine), vec![]);
}

#[test]
fn taken_oids_show_five_then_an_ellipsis() {
    let p = LargeObjectProblem::TakenOids(
        (0..7)
            .map(|oid| TakenOid {
                oid,
                here: "x".into(),
                source: "y".into(),
            })
            .collect(),
    )
    .to_string();
    assert!(p.starts_with("7 large objects"), "{p}");
    assert!(
        p.contains("4: \"x\" here") && !p.contains("5: \"x\""),
        "{p}"
    );
    assert!(p.contains("; ...)"), "{p}");
}

fn with_trigger(mut t: Table, name: &str, mode: TriggerMode) -> Table {
    t.triggers.push(Trigger {
        name: name.into(),
        mode,
    });
    t
}

#[test]
fn triggers_on_owned_tables_are_disabled_and_others_refused() {
    let source = Catalog {
        tables: vec![table("mine", "me", true), table("theirs", "them", false)],
        ..Default::default()
    };
    let dest = Catalog {
        tables: vec![
            with_trigger(table("mine", "me", true), "audit", TriggerMode::Origin),
            with_trigger(table("theirs", "them", false), "stamp", TriggerMode::Origin),
        ],
        ..Default::default()
    };
    let p = plan(&source, &PlanOptions::default()).unwrap();
    let (problems, disabled) = check_triggers(&p, &dest, false);
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0].table, qn("mine"));
    assert_eq!(
        problems,
        vec![Problem::FiringTriggers {
            table: qn("theirs"),
            triggers: vec!["\"stamp\" on public.theirs".into()],
            replica: false,
        }]
    );
    assert!(problems[0].to_string().contains("--fire-triggers"));
    // --fire-triggers lets them fire: no problem, nothing else disabled.
    let (problems, disabled) = check_triggers(&p, &dest, true);
    assert!(problems.is_empty());
    assert_eq!(disabled.len(), 1);
    // In replica mode only ALWAYS and REPLICA triggers fire.
    let replica = plan(
        &source,
        &PlanOptions {
            fk_strategy: FkStrategy::Replica,
            ..Default::default()
        },
    )
    .unwrap();
    let (problems, disabled) = check_triggers(&replica, &dest, false);
    assert!(problems.is_empty() && disabled.is_empty());
    let always = Catalog {
        tables: vec![with_trigger(
            table("theirs", "them", false),
            "stamp",
            TriggerMode::Always,
        )],
        ..Default::default()
    };
    let (problems, _) = check_triggers(&replica, &always, false);
    assert!(
        problems[0].to_string().contains("in replica mode"),
        "{}",
        problems[0]
    );
}

#[test]
fn deferred_indexes_need_owned_tables() {
    let dest = Catalog {
        tables: vec![table("mine", "me", true), table("theirs", "them", false)],
        ..Default::default()
    };
    let index = |t: &str, n: &str| -> Index {
        serde_json::from_value(serde_json::json!({
            "table": qn(t), "name": n, "definition": ""
        }))
        .unwrap()
    };
    let problems = check_defer_index_owners(
        &[
            index("mine", "mine_i"),
            index("theirs", "theirs_i"),
            index("gone", "gone_i"),
        ],
        &dest,
    );
    assert_eq!(
            problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            vec![
                "--defer-indexes needs to drop index \"theirs_i\" on public.theirs: the role must own the \
                 table, or leave out --defer-indexes",
                "--defer-indexes needs to drop index \"gone_i\" on public.gone: the role must own the table, \
                 or leave out --defer-indexes",
            ]
        );
}

#[test]
fn state_the_extension_owner_may_drop_is_refused_for_others_tables() {
    let dest = Catalog {
        tables: vec![
            table("mine", "owner", false),
            table("theirs", "them", false),
        ],
        ..Default::default()
    };
    let fk = |t: &str| ForeignKey {
        name: "fk".into(),
        table: qn(t),
        referenced: qn(t),
        definition: String::new(),
        validated: true,
        inherited: false,
        kind: Default::default(),
        columns: vec![],
        referenced_columns: vec![],
        match_full: false,
        collations: Vec::new(),
        owner_may_reference: true,
        index: None,
        equality: Vec::new(),
    };
    assert_eq!(
        check_droppable_state("owner", &[fk("mine")], &[], &[], &dest),
        None
    );
    let trigger = SavedTrigger {
        table: qn("theirs"),
        trigger: None,
        mode: None,
    };
    assert_eq!(
        check_droppable_state("owner", &[fk("mine"), fk("theirs")], &[], &[trigger], &dest),
        Some(Problem::DroppableState {
            ext_owner: "owner".into(),
            tables: vec!["public.theirs".into()],
        })
    );
}

#[test]
fn earlier_jobs_block_only_while_running_or_holding_something() {
    assert_eq!(
        earlier_job(1, "failed", false, false, "continue it"),
        EarlierJob::Superseded
    );
    assert_eq!(
        earlier_job(1, "running", true, false, "continue it"),
        EarlierJob::Superseded
    );
    let EarlierJob::Blocks(running) = earlier_job(2, "running", false, false, "continue it") else {
        panic!("a running job blocks");
    };
    assert!(running
        .to_string()
        .contains("running on the destination right now"));
    let step = "continue it with `pgcopy copy --resume --job 3`, or give it up with `pgcopy jobs discard 3`";
    let EarlierJob::Blocks(dead) = earlier_job(3, "running", true, true, step) else {
        panic!("a job holding dropped objects blocks");
    };
    let text = dead.to_string();
    assert_eq!(
        text,
        format!("job 3 did not finish (its client died): {step}")
    );
    let EarlierJob::Blocks(failed) = earlier_job(4, "failed", false, true, "continue it") else {
        panic!("blocks");
    };
    assert!(failed.to_string().contains("(failed)"));
}

#[test]
fn report_lists_every_problem_once() {
    assert_eq!(report(&[]), None);
    let one = Problem::PendingFks {
        count: 3,
        state_schema: "Odd State".into(),
    };
    assert_eq!(
            report(std::slice::from_ref(&one)).unwrap(),
            "preflight failed, nothing was changed: 3 foreign key(s) dropped by an earlier job are not \
             restored yet: restore them first (`pgcopy restore-fks`, or SELECT * FROM \"Odd State\".restore_fks())"
        );
    let two = report(&[one, Problem::ReplicaNotAllowed { job_id: 9 }]).unwrap();
    assert!(two.starts_with("preflight found 2 problems, nothing was changed:\n  - 3 foreign"));
    assert!(two.contains("\n  - job 9 used replica mode"), "{two}");
}
