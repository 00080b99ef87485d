//! The start of a chunk's destination transaction: its COPY statements on
//! both sides, and the statements between BEGIN and the COPY (a guarded
//! table's lock and check, the owner's role, the truncation, the count of
//! rows inserted so far), sent together.

use super::flight::{Flight, FlightError};
use super::*;
use tokio_postgres::SimpleQueryMessage;

/// The statements after BEGIN up to the COPY, sent as one simple query:
/// the owner's role, the truncation of a table loaded with FREEZE, and
/// the count of rows the transaction inserted so far where the server
/// counts them. Each message the server answers is flushed on its own, and
/// wakes the client once more, hence one flight (but for a guard's check,
/// a prepared statement, which must come between BEGIN and the role).
pub(super) fn opening_flight(
    owner: Option<&String>,
    truncate: Option<String>,
    counted: Option<u32>,
) -> Flight {
    let mut opening = Flight::default();
    if let Some(o) = owner {
        opening.push(
            "SET ROLE to the table's owner failed",
            sql::set_local_role(o),
        );
    }
    if let Some(truncate) = truncate {
        opening.push("TRUNCATE failed", truncate);
    }
    if let Some(oid) = counted {
        opening.push(
            "counting the table's inserted rows failed",
            sql::inserted_by_transaction(oid),
        );
    }
    opening
}

/// Begins the load's transaction and runs `opening` in it (the owner's
/// role, the truncation, the count of rows inserted so far); a table others
/// may change is locked and checked first. Returns the server's replies.
pub(super) async fn open_transaction(
    shared: &Shared,
    c: &Conns,
    target: &pgcopy_core::quote::QualifiedName,
    guards: &[(
        &pgcopy_core::quote::QualifiedName,
        &crate::engine::guard::Guard,
    )],
    freeze: bool,
    opening: Flight,
) -> Result<Vec<SimpleQueryMessage>, ChunkError> {
    let tx = &c.dst;
    let failed = |e: FlightError| ChunkError::new(e.what, &e.error);
    if guards.is_empty() {
        let mut all = Flight::default();
        all.push("BEGIN failed", "BEGIN".to_string());
        all.extend(opening);
        return all.run(tx).await.map_err(failed);
    }
    let mode = match freeze {
        true => "ACCESS EXCLUSIVE",
        false => "ROW EXCLUSIVE",
    };
    // A table others may change is locked, then checked, before the role
    // changes and rows go in; all of it goes out in one flight.
    let tables = [target];
    let (began, checked, opened) = tokio::join!(
        tx.batch_execute("BEGIN"),
        crate::engine::guard::lock_and_check(
            tx,
            &c.guard,
            &tables,
            guards,
            mode,
            shared.pin_schemas,
            &shared.scope.trust,
        ),
        async {
            match opening.is_empty() {
                true => Ok(Vec::new()),
                false => opening.run(tx).await,
            }
        }
    );
    began.map_err(|e| ChunkError::new("BEGIN failed", &e))?;
    checked.map_err(|e| match e {
        crate::engine::guard::LockCheckError::Lock(e) => ChunkError::new("LOCK failed", &e),
        _ => ChunkError::fatal(e.message()),
    })?;
    opened.map_err(failed)
}

/// The first value of the first row among a simple query's replies, as a
/// number.
pub(super) fn first_number(replies: &[SimpleQueryMessage]) -> Option<i64> {
    replies.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => r.get(0)?.parse().ok(),
        _ => None,
    })
}

/// A unit's `COPY ... FROM STDIN` on the destination (with `FREEZE` where
/// the table is truncated in its load) and `COPY ... TO STDOUT` on the
/// source.
pub(super) fn copy_statements(shared: &Shared, unit: &Unit) -> (String, String) {
    let spec = &shared.plan.tables[unit.table];
    let cols: Vec<&str> = spec.columns.iter().map(String::as_str).collect();
    (
        sql::copy_in(
            spec.dest_table(),
            &cols,
            spec.truncate_in_load(),
            spec.format,
        ),
        sql::copy_out(
            &spec.table,
            &cols,
            &unit.chunk,
            spec.format,
            &sql::Rows {
                condition: spec.rows_where.as_deref(),
                transforms: Some(&spec.transforms),
            },
        ),
    )
}
