//! The two checks that keep a re-created index or constraint bound to what
//! the dropped one was bound to (`pgcopy_core::bindings`): before it runs,
//! every OID it depended on still carries its name; after, in the same
//! transaction, it depends on exactly those OIDs.

use pgcopy_core::bindings::{self, Binding};
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::stored::Refusal;
use tokio_postgres::GenericClient;

/// Refuses, before anything runs, when a name `saved` resolved is gone or
/// leads to another object now.
pub async fn check_before(
    conn: &impl GenericClient,
    saved: &[Binding],
    what: &str,
    table: &QualifiedName,
) -> anyhow::Result<()> {
    if saved.is_empty() {
        return Ok(());
    }
    let json = serde_json::to_value(saved)?;
    let now: Vec<Option<String>> = conn
        .query_typed(
            bindings::IDENTITIES_NOW_SQL,
            &[(&json, tokio_postgres::types::Type::JSONB)],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let rebound = bindings::rebound(saved, &now);
    match rebound.is_empty() {
        true => Ok(()),
        false => Err(Refusal::Rebound {
            what: what.to_string(),
            table: table.display_name(),
            rebound,
        }
        .into()),
    }
}

/// Refuses when the re-created object's bindings (`now`, the `jsonb` that
/// `bindings::bindings_sql` read inside its transaction) differ from the
/// saved ones; the caller then rolls back.
pub fn check_after(
    saved: &[Binding],
    now: Option<serde_json::Value>,
    what: &str,
    table: &QualifiedName,
) -> anyhow::Result<()> {
    let now = bindings::from_json(now)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .unwrap_or_default();
    match bindings::differs(saved, &now) {
        None => Ok(()),
        Some(why) => Err(Refusal::BoundDifferently {
            what: what.to_string(),
            table: table.display_name(),
            why,
        }
        .into()),
    }
}
