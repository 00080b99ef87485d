//! Reading a server's catalog into the core's model with `sql/catalog.sql`.

use crate::error::{pg_message, PgContext};
use pgcopy_core::catalog::Catalog;
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::sql;
use std::collections::HashMap;
use tokio_postgres::Client;

/// Reads the catalog of the database `client` is connected to.
pub async fn read_catalog(client: &Client, side: &str) -> anyhow::Result<Catalog> {
    let text: String = client
        .query_one(pgcopy_core::CATALOG_SQL, &[])
        .await
        .pg_context(|| format!("reading the {side} catalog"))?
        .try_get(0)?;
    Ok(Catalog::from_json(&text)?)
}

/// Locks `table` for reading and makes sure its name still leads to `oid`,
/// the table the catalog read showed: a view another role put in its place
/// (its code would run with this role's rights) is never read. Inside a
/// transaction.
pub async fn lock_to_read(client: &Client, table: &QualifiedName, oid: u32) -> anyhow::Result<()> {
    let lock = sql::lock_tables([table], "ACCESS SHARE");
    let name = table.to_string();
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&name, &oid];
    let (locked, same) = tokio::join!(
        client.batch_execute(&lock),
        client.query_one(sql::STILL_THE_TABLE, &params)
    );
    locked.pg_context(|| format!("locking {}", table.display_name()))?;
    let same: bool = same
        .pg_context(|| format!("looking up {}", table.display_name()))?
        .try_get(0)?;
    if !same {
        return Err(crate::error::UserError::failure(format!(
            "{} is no longer the table pgcopy read the catalog of (another role dropped it, or put another \
             relation in its place): it was not read; run the command again",
            table.display_name()
        ))
        .into());
    }
    Ok(())
}

/// The server's `block_size`.
pub async fn block_size(client: &Client) -> anyhow::Result<u64> {
    let s: String = client
        .query_one("SELECT pg_catalog.current_setting('block_size')", &[])
        .await
        .pg_context(|| "reading block_size".into())?
        .try_get(0)?;
    Ok(s.parse().unwrap_or(8192))
}

/// Code that inserting into each of the tables `oids` would run, owned by a
/// role that is neither a superuser, this one, nor trusted by `trust`: table oid -> (what, the
/// code's owner), for the tables that have any (`sql/untrusted_code.sql`).
pub async fn untrusted_code(
    client: &Client,
    oids: &[u32],
    trust: &pgcopy_core::trust::TrustedOwners,
) -> anyhow::Result<HashMap<u32, Vec<(String, String)>>> {
    let rows = client
        .query(pgcopy_core::UNTRUSTED_CODE_SQL, &[&oids, &trust.roles()])
        .await
        .pg_context(|| "reading what the destination tables' inserts run".into())?;
    let mut out: HashMap<u32, Vec<(String, String)>> = HashMap::new();
    for r in rows {
        out.entry(r.try_get(0)?)
            .or_default()
            .push((r.try_get(1)?, r.try_get(2)?));
    }
    for v in out.values_mut() {
        v.sort();
    }
    Ok(out)
}

/// A sequence as [`read_sequence`] reads it.
pub(crate) struct SequenceState {
    /// Its OID.
    pub oid: u32,
    /// Its increment.
    pub increment: i64,
    /// `last_value`.
    pub last: i64,
    /// `is_called`.
    pub called: bool,
}

/// The sequence under the name `seq`, read by its OID once the name proved
/// to lead to a sequence (`sql::SEQUENCE_PROBE`, which also locks it); from
/// its catalog when `nextval` was called, else from the sequence itself,
/// by a read that finds nothing unless the name still leads to it
/// (`sql::read_sequence`). Another role that put a view calling its code in
/// the sequence's place gets nothing run.
pub(crate) async fn read_sequence(
    conn: &Client,
    seq: &QualifiedName,
) -> Result<SequenceState, String> {
    let probe = conn
        .query_opt(sql::SEQUENCE_PROBE, &[&seq.to_string()])
        .await
        .map_err(|e| pg_message(&e))?;
    let Some(row) = probe else {
        return Err("it no longer exists".into());
    };
    let col = |e: tokio_postgres::Error| pg_message(&e);
    let (oid, is_sequence, increment, last): (u32, bool, Option<i64>, Option<i64>) = (
        row.try_get(0).map_err(col)?,
        row.try_get(1).map_err(col)?,
        row.try_get(2).map_err(col)?,
        row.try_get(3).map_err(col)?,
    );
    if !is_sequence {
        return Err("the name now leads to something that is not a sequence".into());
    }
    let increment = increment.unwrap_or(1);
    if let Some(last) = last {
        return Ok(SequenceState {
            oid,
            increment,
            last,
            called: true,
        });
    }
    let row = conn
        .query_opt(&sql::read_sequence(seq, oid), &[])
        .await
        .map_err(|e| pg_message(&e))?
        .ok_or_else(|| {
            "the name no longer leads to the sequence it led to a moment before".to_string()
        })?;
    Ok(SequenceState {
        oid,
        increment,
        last: row.try_get(0).map_err(col)?,
        called: row.try_get(1).map_err(col)?,
    })
}
