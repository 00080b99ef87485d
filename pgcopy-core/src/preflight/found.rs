//! Preflight decisions over what the CLI reads from the servers (catalog
//! rows, the state schema's jobs, the large objects' owners): the queries
//! stay in the CLI, what they mean is decided here, without a server.

use super::Problem;
use crate::catalog::{Catalog, ForeignKey, Index};
use crate::plan::Plan;
use crate::quote::QualifiedName;
use crate::states::JobState;
use crate::triggers::{self, SavedTrigger};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Why the source's large objects cannot be copied as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LargeObjectProblem {
    /// The source role may not read this many of them.
    Unreadable(i64),
    /// Roles that own or share them and that the destination lacks.
    MissingRoles(Vec<String>),
    /// Owners this role may not give large objects to on the destination.
    NotMember(Vec<String>),
    /// Destination large objects with source OIDs, owned by roles this
    /// role is not a member of: it may not replace them.
    ForeignOids(usize),
    /// Destination large objects with source OIDs and other owners than on
    /// the source: the copy would replace another's object.
    TakenOids(Vec<TakenOid>),
    /// EXECUTE on `lo_from_bytea`, `lo_put` or `lo_unlink` is revoked.
    MayNotCreate,
}

/// A destination large object with a source one's OID and another owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenOid {
    /// The OID.
    pub oid: u32,
    /// Its owner on the destination.
    pub here: String,
    /// Its owner on the source.
    pub source: String,
}

impl fmt::Display for LargeObjectProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SKIP: &str = "leave them out with --skip-large-objects";
        match self {
            LargeObjectProblem::Unreadable(n) => write!(
                f,
                "the source role may not read {n} of the source's large objects: GRANT SELECT ON LARGE OBJECT \
                 to it (or copy as their owners or a superuser), or {SKIP}"
            ),
            LargeObjectProblem::MissingRoles(roles) => write!(
                f,
                "the source's large objects belong to or are shared with roles the destination does not have \
                 ({}): create them there, or leave the large objects out with --skip-large-objects",
                roles.join(", ")
            ),
            LargeObjectProblem::NotMember(roles) => write!(
                f,
                "the source's large objects belong to roles this role may not give them to on the destination \
                 ({}): copy as a member of those roles (or a superuser), or {SKIP}",
                roles.join(", ")
            ),
            LargeObjectProblem::ForeignOids(n) => write!(
                f,
                "{n} large objects on the destination have the OIDs of source ones and belong to roles this \
                 role is not a member of, so it may not replace them: copy as their owners (or a superuser), or \
                 leave the large objects out with --skip-large-objects"
            ),
            LargeObjectProblem::TakenOids(taken) => {
                let shown: Vec<String> = taken
                    .iter()
                    .take(5)
                    .map(|t| format!("{}: {:?} here, {:?} on the source", t.oid, t.here, t.source))
                    .collect();
                write!(
                    f,
                    "{} large objects on the destination have the OIDs of source ones but other owners ({}{}): \
                     the copy would replace them with the source's; remove them on the destination first \
                     (lo_unlink), or leave the large objects out with --skip-large-objects",
                    taken.len(),
                    shown.join("; "),
                    if taken.len() > 5 { "; ..." } else { "" }
                )
            }
            LargeObjectProblem::MayNotCreate => write!(
                f,
                "this role may not create large objects on the destination (EXECUTE on lo_from_bytea, lo_put \
                 and lo_unlink is revoked): grant it, or leave the large objects out with --skip-large-objects"
            ),
        }
    }
}

/// What the CLI reads about large objects on both sides.
#[derive(Debug, Clone, Default)]
pub struct LargeObjectFacts {
    /// The source's large objects, each with its owner.
    pub source_owners: BTreeMap<u32, String>,
    /// How many of them the source role may not read.
    pub unreadable: i64,
    /// The roles they belong to or are shared with, looked up on the
    /// destination: (name, exists, this role is a member).
    pub roles: Vec<(String, bool, bool)>,
    /// Destination large objects with source OIDs: (OID, owner, this role
    /// is a member of the owner).
    pub dest_objects: Vec<(u32, String, bool)>,
    /// This role may create, write and unlink large objects there.
    pub may_create: bool,
}

/// What keeps this role from copying the source's large objects as they are.
pub fn check_large_objects(facts: &LargeObjectFacts) -> Vec<Problem> {
    let mut problems = Vec::new();
    let owners: BTreeSet<&String> = facts.source_owners.values().collect();
    if facts.unreadable > 0 {
        problems.push(LargeObjectProblem::Unreadable(facts.unreadable));
    }
    let mut missing = BTreeSet::new();
    let mut not_member = BTreeSet::new();
    for (name, exists, member) in &facts.roles {
        if !exists {
            missing.insert(name.clone());
        } else if !member && owners.contains(name) {
            not_member.insert(name.clone());
        }
    }
    if !missing.is_empty() {
        problems.push(LargeObjectProblem::MissingRoles(
            missing.into_iter().collect(),
        ));
    }
    if !not_member.is_empty() {
        problems.push(LargeObjectProblem::NotMember(
            not_member.into_iter().collect(),
        ));
    }
    // Every role may create a large object with the OID it likes: the
    // source's owner of one must also own the destination's of that OID for
    // the copy to replace it, so nobody takes another's by picking its OID.
    let mut foreign = 0usize;
    let mut taken = Vec::new();
    for (oid, owner, member) in &facts.dest_objects {
        let source = facts.source_owners.get(oid);
        if !member {
            foreign += 1;
        } else if source != Some(owner) {
            taken.push(TakenOid {
                oid: *oid,
                here: owner.clone(),
                source: source.cloned().unwrap_or_default(),
            });
        }
    }
    if foreign > 0 {
        problems.push(LargeObjectProblem::ForeignOids(foreign));
    }
    if !taken.is_empty() {
        taken.sort_by_key(|t| t.oid);
        problems.push(LargeObjectProblem::TakenOids(taken));
    }
    if !facts.may_create {
        problems.push(LargeObjectProblem::MayNotCreate);
    }
    problems.into_iter().map(Problem::LargeObjects).collect()
}

/// The triggers that would fire during the load on the tables the plan
/// writes: those on tables this role owns are to be disabled (returned);
/// the others are a problem unless `fire_triggers`.
pub fn check_triggers(
    plan: &Plan,
    dest: &Catalog,
    fire_triggers: bool,
) -> (Vec<Problem>, Vec<SavedTrigger>) {
    let mut problems = Vec::new();
    let mut to_disable = Vec::new();
    for name in crate::route::dest_relations(plan, dest) {
        let Some(t) = dest.table(&name) else {
            continue;
        };
        let firing = triggers::firing(t, plan.replica_mode());
        if firing.is_empty() {
            continue;
        }
        if t.is_owner {
            to_disable.extend(firing);
        } else if !fire_triggers {
            problems.push(Problem::FiringTriggers {
                table: t.name.clone(),
                triggers: firing.iter().map(SavedTrigger::display_name).collect(),
                replica: plan.replica_mode(),
            });
        }
    }
    (problems, to_disable)
}

/// `--defer-indexes` drops `indexes`: each on a table this role owns.
pub fn check_defer_index_owners(indexes: &[Index], dest: &Catalog) -> Vec<Problem> {
    indexes
        .iter()
        .filter(|i| !dest.table(&i.table).is_some_and(|t| t.is_owner))
        .map(|i| Problem::DeferIndexNotOwner {
            index: i.name.clone(),
            table: i.table.clone(),
        })
        .collect()
}

/// Where the extension belongs to `ext_owner`, who may drop it (and the
/// state in it) at any time: refused when this copy would keep there what
/// it drops or disables on tables `ext_owner` does not own.
pub fn check_droppable_state(
    ext_owner: &str,
    fks: &[ForeignKey],
    indexes: &[Index],
    triggers: &[SavedTrigger],
    dest: &Catalog,
) -> Option<Problem> {
    let tables: BTreeSet<String> = fks
        .iter()
        .map(|f| &f.table)
        .chain(indexes.iter().map(|i| &i.table))
        .chain(triggers.iter().map(|t| &t.table))
        .filter(|t| dest.table(t).is_some_and(|t| t.owner != ext_owner))
        .map(QualifiedName::display_name)
        .collect();
    (!tables.is_empty()).then(|| Problem::DroppableState {
        ext_owner: ext_owner.to_string(),
        tables: tables.into_iter().collect(),
    })
}

/// What an earlier, unfinished job means for a new copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EarlierJob {
    /// It left nothing to put back: a new copy supersedes it.
    Superseded,
    /// It runs now, or has something to put back: the copy waits for it.
    Blocks(Problem),
}

/// Decides about an unfinished job: `state` as in `jobs.state`, `stale`
/// when its client died, `leftovers` when something it dropped or disabled
/// is still out, `next_step` what the state schema says to do with it.
pub fn earlier_job(
    job_id: i64,
    state: &str,
    stale: bool,
    leftovers: bool,
    next_step: &str,
) -> EarlierJob {
    let running_now = state == JobState::Running.as_str() && !stale;
    match running_now || leftovers {
        true => EarlierJob::Blocks(Problem::BlockingJob {
            job_id,
            running_now,
            state: state.to_string(),
            stale,
            next_step: next_step.to_string(),
        }),
        false => EarlierJob::Superseded,
    }
}

/// The one message a failed preflight ends with: every problem, or `None`
/// when there is none.
pub fn report(problems: &[Problem]) -> Option<String> {
    match problems {
        [] => None,
        [one] => Some(format!("preflight failed, nothing was changed: {one}")),
        many => Some(many.iter().fold(
            format!(
                "preflight found {} problems, nothing was changed:",
                many.len()
            ),
            |mut msg, p| {
                msg.push_str("\n  - ");
                msg.push_str(&p.to_string());
                msg
            },
        )),
    }
}

#[cfg(test)]
mod tests {
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
        let EarlierJob::Blocks(running) = earlier_job(2, "running", false, false, "continue it")
        else {
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
        let EarlierJob::Blocks(failed) = earlier_job(4, "failed", false, true, "continue it")
        else {
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
}
