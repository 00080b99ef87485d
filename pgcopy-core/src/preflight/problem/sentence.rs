//! What each problem says: one sentence naming what is wrong and what to
//! do, the flag or grant that makes a refused copy work.

use super::Problem;
use crate::quote::quote_ident;
use std::fmt;

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::MissingTable(t) => write!(
                f,
                "table {} does not exist on the destination: create the schema there first (pg_dump --schema-only | psql), or exclude it with --exclude-tables",
                t.display_name()
            ),
            Problem::WrongKind(t) => write!(
                f,
                "table {} is partitioned on one side and not on the other: the schemas must match",
                t.display_name()
            ),
            Problem::MissingColumn(t, c) => write!(
                f,
                "column {c:?} of {} is missing on the destination: the schemas must match",
                t.display_name()
            ),
            Problem::TypeMadeOtherwise {
                table,
                column,
                type_name,
                source,
                dest,
            } => write!(
                f,
                "column {column:?} of {} is of type {type_name} on both sides, but the types are made \
                 otherwise (source: {source}; destination: {dest}), and values would arrive changed: make \
                 them the same, or exclude the table",
                table.display_name()
            ),
            Problem::TypeMismatch { table, column, source, dest } => write!(
                f,
                "column {column:?} of {} is {source} on the source but {dest} on the destination: the types must match",
                table.display_name()
            ),
            Problem::ExtraColumn(t, c) => write!(
                f,
                "column {c:?} of {} exists only on the destination: the schemas must match",
                t.display_name()
            ),
            Problem::GeneratedMismatch(t, c) => write!(
                f,
                "column {c:?} of {} is generated on one side only: the schemas must match",
                t.display_name()
            ),
            Problem::NoSelect(t) => write!(
                f,
                "the source role may not read {}: GRANT SELECT on it, or exclude it",
                t.display_name()
            ),
            Problem::OwnerMayNotLoad {
                table,
                owner,
                superuser,
            } => write!(
                f,
                "{} belongs to {owner:?}, and pgcopy loads it as its owner (so that what its inserts run, such as \
                 CHECK constraints and index expressions, has no more than {owner:?}'s rights), but {owner:?} may \
                 not insert into and truncate it, or has row-level security forced on it: {}GRANT INSERT, TRUNCATE \
                 ON it TO {owner:?}, or turn off FORCE ROW LEVEL SECURITY, or exclude it",
                table.display_name(),
                match superuser {
                    true => format!(
                        "if you trust {owner:?}'s code to run with this superuser's rights, add {} (the table is \
                         then loaded as this role, whole, as pg_restore would); else ",
                        crate::trust::TrustedOwners::flags(&[owner])
                    ),
                    false => String::new(),
                }
            ),
            Problem::UntrustedCode {
                table,
                owner,
                role,
                findings,
            } => {
                let roles: std::collections::BTreeSet<&str> =
                    findings.iter().map(|(_, r)| r.as_str()).collect();
                let what: Vec<&str> = findings.iter().map(|(w, _)| w.as_str()).collect();
                let roles: Vec<&str> = roles.into_iter().collect();
                write!(
                    f,
                    "pgcopy will not load {} as {role:?}: its rows would run code that role {} may change at any \
                     time ({}), with {role:?}'s rights; if you trust {} code, add {} (it then runs with {role:?}'s \
                     rights, as pg_restore would run it), or copy it as {owner:?} (options='-c role={owner}' if \
                     this role may act as it), have that code handed to a superuser (ALTER FUNCTION/DOMAIN ... \
                     OWNER TO), or exclude the table",
                    table.display_name(),
                    roles
                        .iter()
                        .map(|r| format!("{r:?}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    what.join("; "),
                    match roles.len() {
                        1 => "that role's",
                        _ => "those roles'",
                    },
                    crate::trust::TrustedOwners::flags(&roles),
                )
            }
            Problem::NotOwnerForFk { table, constraint } => write!(
                f,
                "permission denied to drop foreign key {constraint:?} on {}: the role must own {}, \
                 or run as a role that may SET session_replication_role \
                 (GRANT SET ON PARAMETER session_replication_role TO it)",
                table.display_name(),
                table.display_name()
            ),
            Problem::NoReferences {
                table,
                owner,
                referenced,
                constraint,
            } => write!(
                f,
                "foreign key {constraint:?} on {table_name} could not be re-created after the load: \
                 keys come back as their table's owner, and {table_name}'s owner {owner:?} lacks \
                 REFERENCES on {referenced_name}; GRANT REFERENCES ON {referenced_name} TO {owner_ident}, \
                 or run as a role that may SET session_replication_role (the keys then stay in place)",
                table_name = table.display_name(),
                referenced_name = referenced.display_name(),
                owner_ident = crate::quote::quote_ident(owner),
            ),
            Problem::RowSecurity { table, side, owner } => {
                let what = if *side == "source" {
                    "which would read only the rows they show"
                } else {
                    "and COPY FROM refuses such a table"
                };
                // The owner is subject to its policies only under FORCE.
                let who = if *owner {
                    format!(
                        "the table has FORCE ROW LEVEL SECURITY, so owning it is not enough: as its owner, lift \
                         it for the copy (ALTER TABLE {0} NO FORCE ROW LEVEL SECURITY, then FORCE again), or \
                         copy as a role with BYPASSRLS (a superuser copies such a table whole)",
                        table
                    )
                } else {
                    "copy as the table's owner, a superuser or a role with BYPASSRLS".to_string()
                };
                write!(
                    f,
                    "row-level security policies on {} apply to the {side} role, {what}: {who}",
                    table.display_name()
                )
            }
            Problem::NoSchemaUsage { schema, side } => write!(
                f,
                "the {side} role may not use schema {}: GRANT USAGE ON SCHEMA {} to it, or exclude its tables",
                schema,
                quote_ident(schema)
            ),
            Problem::NoWrite(t, what) => write!(
                f,
                "the destination role lacks {what} on {}: GRANT {what} on it, or exclude it",
                t.display_name()
            ),
            Problem::Route(p) => write!(f, "{p}"),
            Problem::AmbiguousName(a) => f.write_str(&a.message()),
            Problem::FiringTriggers {
                table,
                triggers,
                replica,
            } => write!(
                f,
                "table {} has triggers that would fire during the load ({}){}, and this role cannot \
                 disable them (it must own the table): pass --fire-triggers to let them fire, or run as the owner",
                table.display_name(),
                triggers.join(", "),
                if *replica {
                    ", as ENABLE ALWAYS and ENABLE REPLICA triggers do in replica mode"
                } else {
                    ""
                }
            ),
            Problem::DeferIndexNotOwner { index, table } => write!(
                f,
                "--defer-indexes needs to drop index {index:?} on {}: the role must own the table, or leave out \
                 --defer-indexes",
                table.display_name()
            ),
            Problem::UnroutableRows {
                rows,
                table,
                target,
            } => write!(
                f,
                "{rows} rows of {} fit no partition of {} on the destination: add a partition that takes them \
                 there (or a DEFAULT one), or exclude the table",
                table.display_name(),
                target.display_name()
            ),
            Problem::LargeObjects(p) => write!(f, "{p}"),
            Problem::DroppableState { ext_owner, tables } => write!(
                f,
                "the pgcopy extension here belongs to role {ext_owner:?}, who may DROP EXTENSION pgcopy at any \
                 time, and with it what this copy would save there of tables {ext_owner:?} does not own ({}): \
                 keep this copy's state in a schema of your own (--state-schema NAME), or have a superuser \
                 install the extension (DROP EXTENSION pgcopy, then CREATE EXTENSION pgcopy as a superuser)",
                tables.join(", ")
            ),
            Problem::BlockingJob {
                job_id,
                running_now: true,
                ..
            } => write!(
                f,
                "job {job_id} is running on the destination right now (its client is connected): wait for it"
            ),
            Problem::BlockingJob {
                job_id,
                state,
                stale,
                next_step,
                ..
            } => write!(
                f,
                "job {job_id} did not finish ({}): {next_step}",
                if *stale { "its client died" } else { state }
            ),
            Problem::PendingFks {
                count,
                state_schema,
            } => write!(
                f,
                "{count} foreign key(s) dropped by an earlier job are not restored yet: restore them first \
                 (`pgcopy restore-fks`, or SELECT * FROM {}.restore_fks())",
                quote_ident(state_schema)
            ),
            Problem::StateSchema(p) => write!(f, "{p}"),
            Problem::JobNotMine { job_id, created_by } => write!(
                f,
                "job {job_id} was started by role {created_by:?}, not by this role: resume it as {created_by:?}, \
                 or give it up with `pgcopy jobs discard {job_id}` (which restores what it dropped with no more \
                 than {created_by:?}'s rights)"
            ),
            Problem::UnreadableJob { job_id, what, why } => write!(
                f,
                "job {job_id} has {what} this pgcopy cannot read{}: give it up with `pgcopy jobs discard \
                 {job_id}` and start a new copy",
                why.as_ref().map(|w| format!(" ({w})")).unwrap_or_default()
            ),
            Problem::PlanBeyondOptions { job_id, beyond } => write!(
                f,
                "job {job_id}'s stored plan names what its options do not select today ({}): it was changed, or \
                 the source's tables were; nothing was changed here: give the job up with `pgcopy jobs discard \
                 {job_id}` and start a new copy",
                beyond.join(", ")
            ),
            Problem::RowFilterUnsteady { table, calls } => write!(
                f,
                "the --where condition for {table} calls {calls}, whose answer changes from one \
                 transaction or call to the next: pgcopy reads rows in several transactions (one per \
                 worker and chunk, again on a resume), so a row could be taken in one and left in \
                 another, and keys to it left dangling; give a condition with the same answer each \
                 time (a literal timestamp instead of now(); a function of your own that gives one: \
                 declare it IMMUTABLE or STABLE)"
            ),
            Problem::TextDoesNotRun { option, target, why } => write!(
                f,
                "the {option} of {} does not run on the source as psql would run it for this role: {}",
                crate::quote::printable(target),
                crate::quote::printable(why)
            ),
            Problem::NameOnUntrustedPath {
                option,
                target,
                kind,
                name,
                schema,
                creators,
                everyone,
            } => {
                let shown = crate::quote::display_ident(schema);
                let (what, written) = match (kind, name) {
                    (Some(kind), Some(name)) => (
                        format!("the {kind} {name}"),
                        match *kind {
                            "operator" => format!("OPERATOR({shown}.{name})"),
                            _ => format!("{shown}.{}", crate::quote::display_ident(name)),
                        },
                    ),
                    _ => ("a name".to_string(), format!("{shown}.name")),
                };
                let way = match (everyone, creators.as_slice()) {
                    (true, _) => format!(
                        "every role may create objects there: revoke that (REVOKE CREATE ON SCHEMA {shown} \
                         FROM PUBLIC, as PostgreSQL 15 does)"
                    ),
                    (false, roles) => format!(
                        "{} may create objects there: if you trust {}, add {}",
                        roles.join(", "),
                        if roles.len() == 1 { "that role" } else { "those roles" },
                        crate::trust::TrustedOwners::flags(
                            &roles.iter().map(String::as_str).collect::<Vec<_>>()
                        )
                    ),
                };
                write!(
                    f,
                    "the {option} of {} leaves {what} to the search_path that schema {shown} on this role's \
                     path (as psql gets it) resolves; {way}, or write the schema ({written}): pgcopy runs \
                     conditions without such a schema, and there this one means something else than in psql",
                    crate::quote::printable(target),
                )
            }
            Problem::NamesMissing {
                table,
                column,
                type_name,
                missing,
                renamed,
            } => {
                let mut what = Vec::new();
                if !missing.is_empty() {
                    what.push(format!(
                        "{type_name} values that name nothing on the destination ({}): they go by name, as \
                         pg_dump carries them; create them there first",
                        missing.join(", ")
                    ));
                }
                if !renamed.is_empty() {
                    what.push(format!(
                        "{type_name} OIDs that name nothing on the source but would name something on the \
                         destination ({}): set them to NULL on the source",
                        renamed
                            .iter()
                            .map(|(oid, name)| format!("{oid} would be {name}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                write!(
                    f,
                    "column {column:?} of {} holds {}, or leave the table out (--exclude-tables {})",
                    table.display_name(),
                    crate::quote::printable(&what.join("; and ")),
                    table.display_name()
                )
            }
            Problem::RowFilterFails {
                table,
                taken,
                transformed,
                error,
            } => match (transformed, taken) {
                (true, _) => write!(
                    f,
                    "how {} is read (its --transform columns{}) does not run on the source ({error})",
                    table.display_name(),
                    match taken {
                        crate::subset::Taken::Whole => "",
                        _ => ", and which rows --where takes",
                    }
                ),
                (false, crate::subset::Taken::Filtered) => write!(
                    f,
                    "the --where condition for {} does not run on the source ({error}): check its column names \
                     and syntax",
                    table.display_name()
                ),
                (false, _) => write!(
                    f,
                    "the rows of {} that follow the --where filters cannot be selected on the source ({error}): \
                     check the filters of the tables it references, or pass --no-follow-fks",
                    table.display_name()
                ),
            },
            Problem::NotOneExpression {
                option,
                target,
                why,
            } => write!(
                f,
                "the {option} for {target} is refused: {why} (pgcopy places it in subqueries, where anything \
                 more would read other rows)"
            ),
            Problem::RowFiltersDiffer { job_id, stored } => write!(
                f,
                "job {job_id} was started with {}: resume it with the same --where and --transform options \
                 (and --no-follow-fks if it had it; pgcopy does not run SQL it reads back from the destination), or \
                 discard it (`pgcopy jobs discard {job_id}`) and start a new copy",
                match stored.is_empty() {
                    true => "no --where or --transform".to_string(),
                    false => stored.join(" ")
                }
            ),
            Problem::TrustDiffers { job_id, stored } => write!(
                f,
                "job {job_id} was started with {}: resume it with the same --trust-owner options (a resume runs \
                 only the code its own command line trusts), or discard it (`pgcopy jobs discard {job_id}`) and \
                 start a new copy",
                match stored.is_empty() {
                    true => "no --trust-owner",
                    false => stored,
                }
            ),
            Problem::ReplicaNotAllowed { job_id } => write!(
                f,
                "job {job_id} used replica mode, but this role may not SET session_replication_role: resume it \
                 as the role that started it"
            ),
        }
    }
}
