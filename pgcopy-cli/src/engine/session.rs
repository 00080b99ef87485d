//! The source session's transaction in the run's snapshot, as workers and
//! the large-object copy open it.

use super::Shared;
use pgcopy_core::quote::quote_literal;

/// Starts a source transaction in the run's snapshot.
pub(super) fn snapshot_transaction(shared: &Shared) -> String {
    // One savepoint for the transaction's life: a failed COPY rolls back to it
    // and the snapshot transaction goes on. It is never released, so a chunk
    // costs no savepoint round trips.
    format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}; \
         SAVEPOINT pgcopy_unit",
        quote_literal(&shared.snapshot)
    )
}
