//! The check a load transaction makes of a table other roles may change:
//! locked by name, then proved to be the table preflight saw, with no
//! trigger and no untrusted code on its insert path (`sql::load_guard`).

use crate::error::pg_message;
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::sql;

/// Locks `tables` by name in `mode`, then checks those of them in `guarded`
/// (`sql::load_guard`: still the tables preflight saw, no trigger, no code of
/// an untrusted role), all in one round trip; first, where `pin_schemas`,
/// takes `sql::pin_schemas` on their schemas, so their names lead to the
/// checked tables until the transaction ends. The code of the roles `trust`
/// names counts as trusted.
pub async fn lock_and_check<T>(
    tx: &impl tokio_postgres::GenericClient,
    guard: &T,
    tables: &[&QualifiedName],
    guarded: &[(&QualifiedName, &Guard)],
    mode: &str,
    pin_schemas: bool,
    trust: &pgcopy_core::trust::TrustedOwners,
) -> Result<(), LockCheckError>
where
    T: ?Sized + tokio_postgres::ToStatement + Sync + Send,
{
    let oids: Vec<u32> = guarded.iter().map(|(_, g)| g.oid).collect();
    let names: Vec<String> = guarded.iter().map(|(t, _)| t.to_string()).collect();
    let columns: Vec<serde_json::Value> = guarded
        .iter()
        .map(|(_, g)| serde_json::json!(g.columns))
        .collect();
    let partitions: Vec<serde_json::Value> = guarded
        .iter()
        .map(|(_, g)| serde_json::json!(g.partitions))
        .collect();
    let mut schemas: Vec<u32> = guarded.iter().map(|(_, g)| g.schema_oid).collect();
    schemas.sort_unstable();
    schemas.dedup();
    let lock = sql::lock_tables(tables.iter().copied(), mode);
    // Simple-query texts go out in order, before the check's Bind/Execute
    // (and before whatever the caller pipelines after, `SET ROLE` included).
    let (pinned, locked, checked) = tokio::join!(
        async {
            match pin_schemas && !schemas.is_empty() {
                true => tx.batch_execute(&sql::pin_schemas(&schemas)).await,
                false => Ok(()),
            }
        },
        tx.batch_execute(&lock),
        async {
            match guarded.is_empty() {
                true => Ok(()),
                false => tx
                    .execute(
                        guard,
                        &[&oids, &trust.roles(), &names, &columns, &partitions],
                    )
                    .await
                    .map(|_| ()),
            }
        }
    );
    if let Err(e) = &checked {
        if e.code() == Some(&tokio_postgres::error::SqlState::DIVISION_BY_ZERO) {
            return Err(LockCheckError::Changed);
        }
    }
    pinned.map_err(LockCheckError::Lock)?;
    locked.map_err(LockCheckError::Lock)?;
    checked.map_err(LockCheckError::Check)
}

/// Why [`lock_and_check`] failed.
#[derive(Debug)]
pub enum LockCheckError {
    /// Locking the tables (or pinning their schemas) failed.
    Lock(tokio_postgres::Error),
    /// The check itself failed to run.
    Check(tokio_postgres::Error),
    /// The check found a change: nothing may be written.
    Changed,
}

impl LockCheckError {
    /// One sentence for the user.
    pub fn message(&self) -> String {
        match self {
            LockCheckError::Lock(e) => format!("LOCK failed: {}", pg_message(e)),
            LockCheckError::Check(e) => {
                format!("checking the tables before changing them: {}", pg_message(e))
            }
            LockCheckError::Changed => "a table changed while the copy ran: another role dropped it and put \
                 another in its place, or added a column, a trigger, or a constraint, index or column type \
                 calling code of a role that is neither a superuser nor this one; nothing was written to it, \
                 so that code did not run with this role's rights (check the table, then run the copy again)"
                .to_string(),
        }
    }
}

/// What a load transaction checks of a table once it is locked
/// (`sql::load_guard`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// The table's OID on the destination at preflight: the name must still
    /// lead to it.
    pub oid: u32,
    /// Its schema's OID: a superuser pins the schema's name for the
    /// transaction (`sql::pin_schemas`).
    pub schema_oid: u32,
    /// Its columns at preflight, in order: a column added since would have
    /// its default computed by the COPY, with the loading role's rights.
    pub columns: Vec<String>,
    /// For a partitioned table, the OIDs of the relations below it at
    /// preflight, ascending: a partition attached since would take rows
    /// routed through it, unchecked.
    pub partitions: Option<Vec<u32>>,
}

/// How a table another role owns, or one in a schema another role owns, is
/// loaded.
#[derive(Debug, Clone, Default)]
pub struct LoadAs {
    /// The owner, whose role the load takes (`SET LOCAL ROLE`); `None` when
    /// this role loads it (it owns the table, or may not act as its owner).
    pub owner: Option<String>,
    /// The table and the partitions below it that a role neither superuser
    /// nor this one may change, or drop and replace, while the copy runs
    /// (`Table::others_may_change`): each load transaction locks the table
    /// (and so its partitions) and checks these before rows go in.
    pub guards: Vec<(QualifiedName, Guard)>,
}
