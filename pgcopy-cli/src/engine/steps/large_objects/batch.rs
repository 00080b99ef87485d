//! One batch of large objects: read from the source in the run's snapshot,
//! and written to the destination with the statements that give each its
//! owner, comment and privileges.

use super::SLICE;
use crate::error::pg_message;
use pgcopy_core::plan::LargeObjectBatch;
use pgcopy_core::quote::{quote_ident, quote_literal};
use std::collections::HashSet;
use tokio_postgres::Client;

/// Of the roles `$1`, those that exist and that this role is a member of
/// (may act as).
const GRANTORS_TO_ACT_AS_SQL: &str = include_str!("../../../../../sql/large_objects_grantors.sql");

/// One large object as read from the source.
pub(super) struct Object {
    pub(super) oid: u32,
    pub(super) owner: String,
    pub(super) comment: Option<String>,
    pub(super) data: Vec<u8>,
}

const READ_SQL: &str = include_str!("../../../../../sql/large_objects_read.sql");
const GRANTS_SQL: &str = include_str!("../../../../../sql/large_objects_grants.sql");

/// One batch as the source has it: the objects (their first slices), their
/// privileges, and which have an ACL at all.
pub(super) struct SourceBatch {
    pub(super) objects: Vec<Object>,
    pub(super) grants: Vec<tokio_postgres::Row>,
    pub(super) with_acl: HashSet<u32>,
}

/// Reads one batch from the source, in the run's snapshot.
pub(super) async fn read_batch(
    src: &Client,
    batch: LargeObjectBatch,
) -> anyhow::Result<SourceBatch> {
    let rows = src
        .query(READ_SQL, &[&batch.first, &batch.last, &SLICE])
        .await
        .map_err(|e| anyhow::anyhow!("reading: {}", pg_message(&e)))?;
    let objects: Vec<Object> = rows
        .iter()
        .map(|r| {
            Ok(Object {
                oid: r.try_get(0)?,
                owner: r.try_get(1)?,
                comment: r.try_get(2)?,
                data: r.try_get(3)?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()?;
    let grants = src
        .query(GRANTS_SQL, &[&batch.first, &batch.last])
        .await
        .map_err(|e| anyhow::anyhow!("reading privileges: {}", pg_message(&e)))?;
    let with_acl: HashSet<u32> = src
        .query(
            "SELECT m.oid FROM pg_catalog.pg_largeobject_metadata m
              WHERE m.oid BETWEEN $1 AND $2 AND m.lomacl IS NOT NULL",
            &[&batch.first, &batch.last],
        )
        .await
        .map_err(|e| anyhow::anyhow!("reading privileges: {}", pg_message(&e)))?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, tokio_postgres::Error>>()?;
    Ok(SourceBatch {
        objects,
        grants,
        with_acl,
    })
}

/// The GRANTs that give the batch's objects the source's privileges. A
/// grant another role made (one holding the grant option) is made as that
/// role, so it stays the grantor, where this role may act as it; in the
/// source's order, which has each grant option before its use.
pub(super) async fn grants_ddl(
    tx: &tokio_postgres::Transaction<'_>,
    grants: &[tokio_postgres::Row],
) -> anyhow::Result<String> {
    let mut ddl = String::new();
    let grantors: Vec<String> = grants
        .iter()
        .map(|g| g.try_get::<_, Option<String>>(4))
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()?
        .into_iter()
        .flatten()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let may_act: HashSet<String> = match grantors.is_empty() {
        true => HashSet::new(),
        false => tx
            .query(GRANTORS_TO_ACT_AS_SQL, &[&grantors])
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, tokio_postgres::Error>>()?,
    };
    for g in grants {
        let (oid, privilege, grantee, grantable): (u32, String, Option<String>, bool) =
            (g.try_get(0)?, g.try_get(1)?, g.try_get(2)?, g.try_get(3)?);
        let grantor = g
            .try_get::<_, Option<String>>(4)?
            .filter(|r| may_act.contains(r));
        let privilege = match privilege.as_str() {
            "SELECT" => "SELECT",
            "UPDATE" => "UPDATE",
            other => {
                anyhow::bail!("large object {oid} has a privilege pgcopy does not know: {other}")
            }
        };
        if let Some(r) = &grantor {
            ddl.push_str(&format!("{};\n", pgcopy_core::sql::set_local_role(r)));
        }
        ddl.push_str(&format!(
            "GRANT {privilege} ON LARGE OBJECT {oid} TO {}{};\n",
            grantee.as_deref().map_or("PUBLIC".to_string(), quote_ident),
            if grantable { " WITH GRANT OPTION" } else { "" }
        ));
        if grantor.is_some() {
            ddl.push_str(&format!("{};\n", pgcopy_core::sql::RESET_ROLE));
        }
    }
    Ok(ddl)
}

/// Writes `o` on the destination (`create` and `put` prepared there):
/// its first slice as read with the batch, the rest read from `src` slice
/// by slice; its size in bytes.
pub(super) async fn write_object(
    tx: &tokio_postgres::Transaction<'_>,
    src: &Client,
    (create, put): (&tokio_postgres::Statement, &tokio_postgres::Statement),
    o: &Object,
) -> anyhow::Result<u64> {
    tx.execute(create, &[&o.oid, &o.data])
        .await
        .map_err(|e| anyhow::anyhow!("creating large object {}: {}", o.oid, pg_message(&e)))?;
    let mut bytes = o.data.len() as u64;
    // A large object longer than a slice comes in slices.
    let mut offset = o.data.len() as i64;
    let mut last = o.data.len();
    while last == SLICE as usize {
        let more: Vec<u8> = src
            .query_one(
                "SELECT pg_catalog.lo_get($1, $2, $3)",
                &[&o.oid, &offset, &SLICE],
            )
            .await
            .map_err(|e| anyhow::anyhow!("reading large object {}: {}", o.oid, pg_message(&e)))?
            .try_get(0)?;
        last = more.len();
        if last > 0 {
            tx.execute(put, &[&o.oid, &offset, &more])
                .await
                .map_err(|e| {
                    anyhow::anyhow!("writing large object {}: {}", o.oid, pg_message(&e))
                })?;
        }
        offset += last as i64;
        bytes += last as u64;
    }
    Ok(bytes)
}

/// What `o` needs beyond its data, by the quoting builder: its owner
/// (unless `current_user`, who created it), its comment, and its own
/// privileges revoked from the owner where it has an ACL (`with_acl`; the
/// grants follow for the batch).
pub(super) fn object_ddl(o: &Object, current_user: &str, with_acl: bool) -> String {
    let mut ddl = String::new();
    if o.owner != current_user {
        ddl.push_str(&format!(
            "ALTER LARGE OBJECT {} OWNER TO {};\n",
            o.oid,
            quote_ident(&o.owner)
        ));
    }
    if let Some(c) = &o.comment {
        ddl.push_str(&format!(
            "COMMENT ON LARGE OBJECT {} IS {};\n",
            o.oid,
            quote_literal(c)
        ));
    }
    if with_acl {
        ddl.push_str(&format!(
            "REVOKE ALL ON LARGE OBJECT {} FROM {};\n",
            o.oid,
            quote_ident(&o.owner)
        ));
    }
    ddl
}
