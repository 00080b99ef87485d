//! Reading a server's catalog into the core's model with `sql/catalog.sql`.

use crate::error::PgContext;
use pgcopy_core::catalog::Catalog;
use tokio_postgres::Client;

/// Reads the catalog of the database `client` is connected to.
pub async fn read_catalog(client: &Client, side: &str) -> anyhow::Result<Catalog> {
    let text: String = client
        .query_one(pgcopy_core::CATALOG_SQL, &[])
        .await
        .pg_context(|| format!("reading the {side} catalog"))?
        .get(0);
    Ok(Catalog::from_json(&text)?)
}

/// The server's `block_size`.
pub async fn block_size(client: &Client) -> anyhow::Result<u64> {
    let s: String = client
        .query_one("SELECT pg_catalog.current_setting('block_size')", &[])
        .await
        .pg_context(|| "reading block_size".into())?
        .get(0);
    Ok(s.parse().unwrap_or(8192))
}
