//! The bindings a saved object had when it was dropped: every OID must
//! still carry its name before it is re-created, and the new object must
//! depend on exactly those OIDs after, or its subtransaction rolls back.

use super::*;

/// Refuses when a name `saved` resolved is gone or leads elsewhere now
/// (`pgcopy_core::bindings::rebound`).
pub(super) fn check_bindings_before(
    saved: &[pgcopy_core::bindings::Binding],
    what: &str,
    table: &pgcopy_core::quote::QualifiedName,
) -> Result<(), String> {
    if saved.is_empty() {
        return Ok(());
    }
    let json = serde_json::to_value(saved).map_err(|e| e.to_string())?;
    let now: Vec<Option<String>> = Spi::connect_mut(|client| {
        client
            .update(
                pgcopy_core::bindings::IDENTITIES_NOW_SQL,
                None,
                &[pgrx::JsonB(json).into()],
            )?
            .map(|r| r.get::<String>(1))
            .collect::<Result<Vec<_>, _>>()
    })
    .map_err(|e| e.to_string())?;
    let rebound = pgcopy_core::bindings::rebound(saved, &now);
    match rebound.is_empty() {
        true => Ok(()),
        false => Err(stored::Refusal::Rebound {
            what: what.to_string(),
            table: table.display_name(),
            rebound,
        }
        .to_string()),
    }
}

/// Refuses (so the caller's subtransaction rolls back) when the object
/// re-created depends on other objects than `saved`: `sql` reads its
/// bindings now with `args`.
pub(super) fn check_bindings_after(
    saved: &[pgcopy_core::bindings::Binding],
    sql: &str,
    args: Vec<pgrx::datum::DatumWithOid>,
    what: &str,
    table: &pgcopy_core::quote::QualifiedName,
) -> Result<(), String> {
    let now = Spi::connect_mut(|client| {
        let mut rows = client.update(&format!("SELECT {sql}"), Some(1), &args)?;
        match rows.next() {
            Some(r) => r.get::<pgrx::JsonB>(1),
            None => Ok(None),
        }
    })
    .map_err(|e| e.to_string())?;
    let now = pgcopy_core::bindings::from_json(now.map(|j| j.0))?.unwrap_or_default();
    match pgcopy_core::bindings::differs(saved, &now) {
        None => Ok(()),
        Some(why) => Err(stored::Refusal::BoundDifferently {
            what: what.to_string(),
            table: table.display_name(),
            why,
        }
        .to_string()),
    }
}

/// Gives the copies PostgreSQL made of the re-added `saved` on partitions
/// the names they had (`restore::clone_renames`), as `owner`, in a
/// subtransaction of its own: where that fails (a name taken since), they
/// keep the names PostgreSQL chose, with a warning; the key itself is back.
pub(super) fn rename_clones(saved: &pgcopy_core::restore::SavedFk, owner: &str) {
    if saved.clone_names.is_empty() {
        return;
    }
    let args: Vec<pgrx::datum::DatumWithOid> =
        vec![saved.table.to_string().into(), saved.name.clone().into()];
    let now = Spi::connect_mut(|client| {
        let mut rows = client.update(&restore::clones_now_sql(), Some(1), &args)?;
        match rows.next() {
            Some(r) => r.get::<pgrx::JsonB>(1),
            None => Ok(None),
        }
    });
    let now = match now.map(|j| restore::clone_names_from_json(j.map(|j| j.0))) {
        Ok(Ok(now)) => now,
        _ => return,
    };
    let renames = restore::clone_renames(&saved.clone_names, &now);
    if renames.is_empty() {
        return;
    }
    let renamed = subxact::run(|| {
        as_owner(owner, || {
            for r in &renames {
                Spi::run(r)?;
            }
            Ok(())
        })
        .map_err(|e| e.to_string())
    });
    if let Err(e) | Ok(Err(e)) = renamed {
        pgrx::warning!(
            "foreign key {} on {} is back, but its copies on partitions keep the names PostgreSQL gave them: {e}",
            pgcopy_core::quote::printable(&saved.name),
            saved.table.display_name()
        );
    }
}
