//! The CLI's executor of the core's restore units
//! (`pgcopy_core::restore::Unit`): each unit in one transaction on one
//! session, owner's statements under `SET LOCAL ROLE`, every statement alone
//! through the extended protocol (the server cannot read more statements
//! into a text than the parser saw). What a unit holds, and in which order,
//! is the core's; here it is only sent, in as few round trips as its checks
//! allow: statements go out together until a check needs an answer.

use crate::error::pg_message;
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::restore::{self, Action, CodeCheck, Failure, Param, Query, Unit};
use pgcopy_core::sql;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

/// A [`Query`] with the types tokio-postgres sends.
fn typed(q: &Query) -> Vec<(&(dyn ToSql + Sync), Type)> {
    q.params
        .iter()
        .map(|p| -> (&(dyn ToSql + Sync), Type) {
            match p {
                Param::Int8(v) => (v, Type::INT8),
                Param::Text(v) => (v, Type::TEXT),
                Param::Bool(v) => (v, Type::BOOL),
                Param::TextArray(v) => (v, Type::TEXT_ARRAY),
                Param::Json(v) => (v, Type::JSONB),
            }
        })
        .collect()
}

fn failed(e: tokio_postgres::Error) -> Failure {
    Failure::Error(pg_message(&e))
}

/// Runs `q` (a probe or a record) on its own.
pub async fn query(conn: &Client, q: &Query) -> Result<Vec<Row>, tokio_postgres::Error> {
    conn.query_typed(&q.sql, &typed(q)).await
}

/// Runs `unit` in a transaction of its own on `conn`; on a failure it is
/// rolled back whole.
pub async fn run(conn: &Client, unit: &Unit) -> Result<(), Failure> {
    let r = run_actions(conn, unit).await;
    if r.is_err() {
        // The session may be the reason: then it ends the transaction too.
        let _ = conn.batch_execute("ROLLBACK").await;
    }
    r
}

/// Records `q` (why a unit failed) in a transaction of its own, best
/// effort: the failure is what is reported either way.
pub async fn record(conn: &Client, q: &Query, what: &str) {
    let written = query(conn, q).await.map(drop).map_err(anyhow::Error::from);
    crate::state::log_failed_write(written, what);
}

fn plain(sql: impl Into<String>) -> Query {
    Query {
        sql: sql.into(),
        params: Vec::new(),
    }
}

/// Statements each alone, as the parser splits them.
fn alone(statements: &[String]) -> Result<Vec<Query>, Failure> {
    let mut out = Vec::new();
    for s in statements {
        out.extend(
            crate::parse::split(s)
                .map_err(Failure::Error)?
                .into_iter()
                .map(plain),
        );
    }
    Ok(out)
}

async fn run_actions(conn: &Client, unit: &Unit) -> Result<(), Failure> {
    let mut flight = vec![plain("BEGIN")];
    for action in &unit.actions {
        match action {
            Action::CheckLiterals(c) => {
                let risky = crate::parse::risky_literals(&c.sql).map_err(Failure::Error)?;
                c.verdict(&risky)?;
            }
            Action::CheckBindingsBefore(c) => {
                if let Some(q) = c.identities_now() {
                    let rows = send(conn, &mut flight, Some(&q)).await?;
                    let now = rows
                        .iter()
                        .map(|r| r.try_get(0))
                        .collect::<Result<Vec<Option<String>>, _>>()
                        .map_err(failed)?;
                    c.before(&now)?;
                }
            }
            Action::CheckForeignCode(c) => {
                send(conn, &mut flight, None).await?;
                foreign_code(conn, c).await?;
            }
            Action::Run(statements) => flight.extend(alone(statements)?),
            Action::RunAsOwner { owner, statements } => {
                flight.push(plain(sql::set_local_role(owner)));
                flight.extend(alone(statements)?);
                flight.push(plain(sql::RESET_ROLE));
            }
            Action::CheckBindingsAfter(c, q) => {
                let rows = send(conn, &mut flight, Some(q)).await?;
                let now = rows.first().map(|r| r.try_get(0)).transpose();
                c.after(now.map_err(failed)?.flatten())?;
            }
            Action::RenameClones(c) => {
                let rows = send(conn, &mut flight, Some(&c.now())).await?;
                let now = rows.first().map(|r| r.try_get(0)).transpose();
                let renames = c
                    .renames(now.map_err(failed)?.flatten())
                    .map_err(Failure::Error)?;
                rename_clones(conn, c, &renames).await?;
            }
            // A plan's set_config(..., true) lasts until the unit's COMMIT
            // or ROLLBACK.
            Action::PlanValidation(q) | Action::Record(q) => flight.push(q.clone()),
        }
    }
    flight.push(plain("COMMIT"));
    send(conn, &mut flight, None).await.map(drop)
}

/// Sends every statement of `flight` and then `then`, together, and
/// empties it: the first error in order, or `then`'s rows.
async fn send(
    conn: &Client,
    flight: &mut Vec<Query>,
    then: Option<&Query>,
) -> Result<Vec<Row>, Failure> {
    let statements = std::mem::take(flight);
    let params: Vec<_> = statements.iter().map(typed).collect();
    let then_params = then.map(typed);
    let (sent, rows) = tokio::join!(
        futures_util::future::join_all(
            statements
                .iter()
                .zip(&params)
                .map(|(q, t)| conn.execute_typed(&q.sql, t))
        ),
        async {
            match (then, &then_params) {
                (Some(q), Some(t)) => conn.query_typed(&q.sql, t).await,
                _ => Ok(Vec::new()),
            }
        }
    );
    for s in sent {
        s.map_err(failed)?;
    }
    rows.map_err(failed)
}

/// Locks the tables of `c` others could give code, then refuses the code
/// its check would run ([`CodeCheck`]), in the unit's transaction.
async fn foreign_code(conn: &Client, c: &CodeCheck) -> Result<(), Failure> {
    let checker = match c.checker_query() {
        // No row (a table gone) leaves no checker: only superusers' code.
        Some(q) => Some(first_text(conn, &q).await?.unwrap_or_default()),
        None => None,
    };
    let locks = query(conn, &c.locks(checker.clone()))
        .await
        .map_err(failed)?
        .iter()
        .map(|r| {
            Ok(QualifiedName::new(
                r.try_get::<_, String>(0)?,
                r.try_get::<_, String>(1)?,
            ))
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(failed)?;
    if let Some(lock) = restore::lock_for_validation(&locks) {
        conn.batch_execute(&lock).await.map_err(failed)?;
    }
    // Fail closed: the query always answers one text.
    let what = first_text(conn, &c.code(checker))
        .await?
        .ok_or_else(|| Failure::Error("reading what the key's check runs gave no answer".into()))?;
    c.verdict(&what)
}

/// The text of the first row of `q`; `None` when no row, or NULL.
async fn first_text(conn: &Client, q: &Query) -> Result<Option<String>, Failure> {
    Ok(query(conn, q)
        .await
        .map_err(failed)?
        .first()
        .map(|r| r.try_get::<_, Option<String>>(0))
        .transpose()
        .map_err(failed)?
        .flatten())
}

/// The renames of the partitions' copies, as the owner, behind a savepoint:
/// where they fail, the copies keep the names PostgreSQL gave them, and a
/// warning says so (the key itself is back).
async fn rename_clones(
    conn: &Client,
    c: &restore::CloneNames,
    renames: &[String],
) -> Result<(), Failure> {
    if renames.is_empty() {
        return Ok(());
    }
    let mut flight = vec![
        plain("SAVEPOINT pgcopy_clone_names"),
        plain(sql::set_local_role(&c.owner)),
    ];
    flight.extend(renames.iter().map(plain));
    flight.push(plain(sql::RESET_ROLE));
    flight.push(plain("RELEASE SAVEPOINT pgcopy_clone_names"));
    if let Err(e) = send(conn, &mut flight, None).await {
        conn.batch_execute(
            "ROLLBACK TO SAVEPOINT pgcopy_clone_names; RELEASE SAVEPOINT pgcopy_clone_names",
        )
        .await
        .map_err(failed)?;
        tracing::warn!("{}", c.warning(&e.to_string()));
    }
    Ok(())
}

/// Who restores in the CLI: its session under `SET ROLE`, with the owners
/// the copy trusts and what it saved itself.
pub fn restorer<'a>(
    store: &'a crate::state::StateStore,
    scope: &'a crate::scope::Scope,
) -> restore::Restorer<'a> {
    restore::Restorer {
        switch: restore::Switch::SetRole,
        trust: &scope.trust,
        own: scope.own.as_deref(),
        state_schema: store.schema(),
    }
}
