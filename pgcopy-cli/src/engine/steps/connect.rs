//! Before anything changes: the copy refuses to run a database onto
//! itself unless it can prove the two sessions reach different databases.

use crate::error::{pg_message, UserError};
use pgcopy_core::quote::quote_literal;
use tokio_postgres::Client;

/// Refuses to copy a database onto itself: the truncation would destroy the
/// source. It fails closed: the copy goes ahead only when one of two checks
/// proves the two sessions reach different databases, and neither says they
/// reach the same one.
///
/// 1. Server identity: same system identifier, postmaster start time *and*
///    port, and same database name. Clusters cloned from one base backup (a
///    staging copy of production) share the identifier, and two clones started
///    together on one host can share the start time where the clock is coarse
///    (seen in tests), but not the port. Needs `pg_control_system()`, which
///    managed services often revoke.
/// 2. Needs no privilege: the destination session takes a random
///    `application_name`, and the source looks for it in its own
///    `pg_stat_activity` (every role sees every session's database and
///    application name there).
pub async fn guard_same_database(src: &Client, dst: &Client) -> anyhow::Result<()> {
    let q = "SELECT system_identifier::text || '/' || pg_catalog.pg_postmaster_start_time()::text || '/' \
                    || pg_catalog.current_setting('port') || '/' || pg_catalog.current_database() \
               FROM pg_catalog.pg_control_system()";
    let (a, b) = tokio::join!(src.query_one(q, &[]), dst.query_one(q, &[]));
    let by_identity = match (a, b) {
        (Ok(a), Ok(b)) => Some(a.try_get::<_, String>(0)? == b.try_get::<_, String>(0)?),
        _ => None,
    };
    let by_session = session_seen_from(src, dst).await;
    let same = by_identity == Some(true) || by_session == Ok(true);
    let different = by_identity == Some(false) || by_session == Ok(false);
    if same {
        return Err(UserError::usage(
            "source and destination are the same database: copying would empty it; check --dest, \
             or pass --yes-i-know if this is really meant",
        )
        .into());
    }
    if !different {
        return Err(UserError::failure(format!(
            "cannot tell whether source and destination are different databases (pg_control_system() is not \
             allowed to this role, and the source's pg_stat_activity could not be read: {}), and copying a \
             database onto itself would empty it: check --dest, and pass --yes-i-know if they are different",
            by_session.err().unwrap_or_default()
        ))
        .into());
    }
    Ok(())
}

/// Whether the source's database shows the destination's session: the
/// destination takes a random `application_name` for the check.
async fn session_seen_from(src: &Client, dst: &Client) -> Result<bool, String> {
    use std::hash::{BuildHasher, Hasher};
    let mut token = String::from("pgcopy-same-database-check-");
    for i in 0..2u64 {
        // RandomState is seeded from the operating system's randomness.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i ^ u64::from(std::process::id()));
        token.push_str(&format!("{:016x}", h.finish()));
    }
    dst.batch_execute(&format!("SET application_name = {}", quote_literal(&token)))
        .await
        .map_err(|e| pg_message(&e))?;
    let seen = src
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a \
                             WHERE a.application_name = $1 AND a.datname = pg_catalog.current_database())",
            &[&token],
        )
        .await
        .and_then(|r| r.try_get::<_, bool>(0))
        .map_err(|e| pg_message(&e));
    dst.batch_execute("RESET application_name")
        .await
        .map_err(|e| pg_message(&e))?;
    seen
}
