//! The state schema's side of a restore: the probes of what the destination
//! has for a saved object, and the statements that record its outcome, each
//! a [`Query`] with its parameters, the same for both executors.

use super::*;
use crate::state_sql;

/// The probe of what the destination has for `saved`
/// ([`state_sql::FK_PROBE`]).
pub fn fk_probe(state_schema: &str, saved: &SavedFk) -> Query {
    Query {
        sql: state_sql::FK_PROBE.render(state_schema),
        params: vec![
            saved.name.as_str().into(),
            Param::Int8(saved.job_id),
            Param::Text(Some(saved.table.to_string())),
            Param::Text(Some(saved.referenced.to_string())),
        ],
    }
}

/// The probe of what the destination has for `saved`
/// ([`state_sql::INDEX_PROBE`]).
pub fn index_probe(state_schema: &str, saved: &SavedIndex) -> Query {
    Query {
        sql: state_sql::INDEX_PROBE.render(state_schema),
        params: vec![
            Param::Int8(saved.job_id),
            saved.table.schema.as_str().into(),
            saved.table.name.as_str().into(),
            saved.name.as_str().into(),
            Param::Text(saved.properties.tablespace.clone()),
        ],
    }
}

/// Records why `saved` could not be restored: [`state_sql::FK_ERROR`] with its keys
/// and `message`.
pub fn fk_error(state_schema: &str, saved: &SavedFk, message: &str) -> Query {
    let mut q = fk_keys(state_sql::FK_ERROR.render(state_schema), saved);
    q.params.push(Param::Text(Some(message.to_string())));
    q
}

/// Records why `saved` could not be rebuilt: [`state_sql::INDEX_ERROR`] with its
/// keys and `message`.
pub fn index_error(state_schema: &str, saved: &SavedIndex, message: &str) -> Query {
    let mut q = index_keys(state_sql::INDEX_ERROR.render(state_schema), saved);
    q.params.push(Param::Text(Some(message.to_string())));
    q
}

fn fk_keys(sql: String, saved: &SavedFk) -> Query {
    Query {
        sql,
        params: vec![
            Param::Int8(saved.job_id),
            saved.table.schema.as_str().into(),
            saved.table.name.as_str().into(),
            saved.name.as_str().into(),
        ],
    }
}

pub(super) fn index_keys(sql: String, saved: &SavedIndex) -> Query {
    Query {
        sql,
        params: vec![
            Param::Int8(saved.job_id),
            saved.table.schema.as_str().into(),
            saved.name.as_str().into(),
        ],
    }
}

/// Marks `saved` restored with `valid` and, when `with_error`, the error
/// appended by [`Unit::failed`] (else NULL).
pub(super) fn fk_mark(state_schema: &str, saved: &SavedFk, valid: bool, with_error: bool) -> Query {
    let mut q = fk_keys(state_sql::MARK_FK.render(state_schema), saved);
    q.params.push(Param::Bool(valid));
    if !with_error {
        q.params.push(Param::Text(None));
    }
    q
}

/// The probe of who owns `table` and who may act as them, for a trigger
/// job `job` disabled ([`state_sql::TABLE_PROBE`]).
pub fn table_probe(state_schema: &str, job: i64, table: &QualifiedName) -> Query {
    Query {
        sql: state_sql::TABLE_PROBE.render(state_schema),
        params: vec![
            Param::Int8(job),
            table.schema.as_str().into(),
            table.name.as_str().into(),
        ],
    }
}

/// Sets the job's list of triggers still disabled to `left` (NULL when
/// none).
pub fn disabled_triggers_update(
    state_schema: &str,
    job: i64,
    left: &[crate::triggers::SavedTrigger],
) -> Query {
    let left = (!left.is_empty())
        .then(|| serde_json::to_value(left).ok())
        .flatten();
    Query {
        sql: state_sql::JOB_DISABLED_TRIGGERS.render(state_schema),
        params: vec![Param::Int8(job), Param::Json(left)],
    }
}
