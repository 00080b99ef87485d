//! [`Problem`]: one reason a copy cannot start, as one sentence saying what
//! is wrong and what to do.

use crate::plan::AmbiguousPattern;
use crate::quote::QualifiedName;
use crate::route::RouteProblem;

use super::found::LargeObjectProblem;
use super::state_schema::StateSchemaProblem;

mod sentence;

/// One reason the copy cannot start.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The table is not on the destination.
    MissingTable(QualifiedName),
    /// The destination's table has a different kind (e.g. partitioned vs plain).
    WrongKind(QualifiedName),
    /// A source column the destination lacks.
    MissingColumn(QualifiedName, String),
    /// A column whose types differ.
    TypeMismatch {
        /// Table.
        table: QualifiedName,
        /// Column.
        column: String,
        /// Type on the source.
        source: String,
        /// Type on the destination.
        dest: String,
    },
    /// A column's type has the same name on both sides but is made
    /// otherwise (see `Column::type_shape`): its values would arrive
    /// changed, silently.
    TypeMadeOtherwise {
        /// The table.
        table: QualifiedName,
        /// The column.
        column: String,
        /// Its type's name.
        type_name: String,
        /// What it is made of on the source.
        source: String,
        /// And on the destination.
        dest: String,
    },
    /// A destination column the source lacks.
    ExtraColumn(QualifiedName, String),
    /// Generated on one side and not on the other.
    GeneratedMismatch(QualifiedName, String),
    /// The source role may not read the table.
    NoSelect(QualifiedName),
    /// Row-level security policies apply to the role on this side: the source
    /// would hand over only the rows the policies show, and the destination's
    /// COPY FROM refuses such a table. `owner`: the role owns the table, so
    /// the policies apply because of `FORCE ROW LEVEL SECURITY`.
    RowSecurity {
        /// The table.
        table: QualifiedName,
        /// "source" or "destination".
        side: &'static str,
        /// The role owns the table.
        owner: bool,
    },
    /// The role on this side ("source" or "destination") may not use the
    /// schema (reported once per schema and side).
    NoSchemaUsage {
        /// The schema.
        schema: String,
        /// "source" or "destination".
        side: &'static str,
    },
    /// The destination role may not insert into or truncate the table.
    NoWrite(QualifiedName, &'static str),
    /// A foreign key must be dropped, but the role does not own its table.
    NotOwnerForFk {
        /// The referencing table.
        table: QualifiedName,
        /// The constraint.
        constraint: String,
    },
    /// The table is loaded as its owner (see `Table::load_as_owner`), who may
    /// not insert into or truncate it, or has row-level security forced on it.
    OwnerMayNotLoad {
        /// The table.
        table: QualifiedName,
        /// Its owner.
        owner: String,
        /// The loading role is a superuser, which loads as itself where it
        /// trusts the owner (`--trust-owner`).
        superuser: bool,
    },
    /// Loading the table would run code of a role that is neither a
    /// superuser nor the loading role, with the loading role's rights: the
    /// loading role is a superuser, or not the table's owner.
    UntrustedCode {
        /// The table.
        table: QualifiedName,
        /// Its owner.
        owner: String,
        /// The loading role.
        role: String,
        /// What runs, each with the role that owns that code.
        findings: Vec<(String, String)>,
    },
    /// A foreign key must be re-created, but its table's owner lacks REFERENCES.
    NoReferences {
        /// The referencing table.
        table: QualifiedName,
        /// Its owner, as whom the key is re-created.
        owner: String,
        /// The referenced table.
        referenced: QualifiedName,
        /// The constraint.
        constraint: String,
    },
    /// Tables selected on the source cannot be routed into the destination's
    /// (see [`crate::route`]).
    Route(RouteProblem),
    /// A bare `--include-tables` name selects tables in several schemas.
    AmbiguousName(AmbiguousPattern),
    /// Triggers would fire during the load on a table this role does not
    /// own, so it cannot disable them, and `--fire-triggers` was not given.
    FiringTriggers {
        /// The table.
        table: QualifiedName,
        /// The triggers, by name.
        triggers: Vec<String>,
        /// The load runs in replica mode (so ENABLE ALWAYS and ENABLE
        /// REPLICA triggers are the ones that fire).
        replica: bool,
    },
    /// `--defer-indexes` would drop an index on a table this role does not own.
    DeferIndexNotOwner {
        /// The index.
        index: String,
        /// Its table.
        table: QualifiedName,
    },
    /// Rows of a source table that no partition of the destination's
    /// partitioned table takes.
    UnroutableRows {
        /// How many, counted on the source in the snapshot.
        rows: i64,
        /// The source table.
        table: QualifiedName,
        /// The destination's partitioned table.
        target: QualifiedName,
    },
    /// The source's large objects cannot be copied as they are.
    LargeObjects(LargeObjectProblem),
    /// The extension belongs to a role that is neither a superuser nor this
    /// one, who may drop it, and with it what this copy would save there of
    /// tables that role does not own.
    DroppableState {
        /// The extension's owner.
        ext_owner: String,
        /// The other owners' tables, by display name, sorted.
        tables: Vec<String>,
    },
    /// An earlier job did not finish and still has something to put back,
    /// or runs right now.
    BlockingJob {
        /// The job.
        job_id: i64,
        /// Its client is connected and running it.
        running_now: bool,
        /// Its state (`jobs.state`).
        state: String,
        /// Its client died.
        stale: bool,
        /// The one next step the state schema says for it
        /// (`next_step(jobs)`).
        next_step: String,
    },
    /// Foreign keys an earlier job dropped are not restored yet.
    PendingFks {
        /// How many.
        count: i64,
        /// The state schema that holds them.
        state_schema: String,
    },
    /// The state schema cannot be used (or made).
    StateSchema(StateSchemaProblem),
    /// `--resume` refused: the job was started by another role.
    JobNotMine {
        /// The job.
        job_id: i64,
        /// The role that started it.
        created_by: String,
    },
    /// `--resume` refused: the job's stored options or plan cannot be read.
    UnreadableJob {
        /// The job.
        job_id: i64,
        /// "options" or "plan".
        what: &'static str,
        /// Why, where known.
        why: Option<String>,
    },
    /// `--resume` refused: the stored plan names what its options do not
    /// select today.
    PlanBeyondOptions {
        /// The job.
        job_id: i64,
        /// What it names beyond them.
        beyond: Vec<String>,
    },
    /// `--resume` refused: the job ran in replica mode, which this role may
    /// not use.
    ReplicaNotAllowed {
        /// The job.
        job_id: i64,
    },
    /// A table's `--where` selection or `--transform` columns do not run on
    /// the source.
    RowFilterFails {
        /// The table.
        table: QualifiedName,
        /// Filtered by a `--where`, or limited by the foreign keys' closure.
        taken: crate::subset::Taken,
        /// It has `--transform` columns.
        transformed: bool,
        /// What the source said.
        error: String,
    },
    /// A `--where` condition or `--transform` expression does not run on
    /// the source as psql would run it for this role.
    TextDoesNotRun {
        /// `--where condition` or `--transform expression`.
        option: &'static str,
        /// What it applies to.
        target: String,
        /// Why (the server's sentence).
        why: String,
    },
    /// A `--where` condition or `--transform` expression leaves a name to
    /// the search_path that a schema on the role's path also defines, where
    /// a role pgcopy does not trust may create objects: pgcopy runs it
    /// without that schema, so it could mean something else than in psql.
    NameOnUntrustedPath {
        /// `--where condition` or `--transform expression`.
        option: &'static str,
        /// What it applies to.
        target: String,
        /// `operator`, `function`, `type`, `table` or `collation`, when
        /// known.
        kind: Option<&'static str>,
        /// The name, as written, when known.
        name: Option<String>,
        /// The schema that also defines it.
        schema: String,
        /// The roles, not trusted, that may create objects there.
        creators: Vec<String>,
        /// Every role may (`CREATE` granted to `PUBLIC`).
        everyone: bool,
    },
    /// A `reg*` column holds names the destination lacks: its values go by
    /// name (`crate::formats`), and would not load, or would name another
    /// object.
    NamesMissing {
        /// The table.
        table: QualifiedName,
        /// The column.
        column: String,
        /// The `reg*` type.
        type_name: String,
        /// Names that name nothing on the destination (a few).
        missing: Vec<String>,
        /// OIDs that named nothing on the source but name something on the
        /// destination, with what (a few).
        renamed: Vec<(String, String)>,
    },
    /// A `--where` condition calls something whose answer changes from one
    /// transaction (or call) to the next: the rows it takes would differ
    /// between the transactions that read them.
    RowFilterUnsteady {
        /// TABLE, as written.
        table: String,
        /// What it calls (`random()`, `now()`, `CURRENT_TIMESTAMP`).
        calls: String,
    },
    /// A `--where` condition or `--transform` expression is not one SQL
    /// expression on its own.
    NotOneExpression {
        /// `--where` or `--transform`.
        option: &'static str,
        /// What it is for (TABLE, or TABLE.COLUMN), as written.
        target: String,
        /// Why.
        why: String,
    },
    /// `--resume` refused: the job copied a subset, and this command line
    /// does not give the same `--where` filters.
    RowFiltersDiffer {
        /// The job.
        job_id: i64,
        /// The job's filters, as given then.
        stored: Vec<String>,
    },
    /// `--resume` refused: the job was started trusting other roles' code
    /// (`--trust-owner`) than this command line does.
    TrustDiffers {
        /// The job.
        job_id: i64,
        /// The job's `--trust-owner` flags (empty: none).
        stored: String,
    },
}
