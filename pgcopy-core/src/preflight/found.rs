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
mod tests;
