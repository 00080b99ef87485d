//! tokio-postgres rows as `pgcopy_core::rows::Columns`, so the CLI decodes
//! the restore queries' rows with the same code as the extension.

use pgcopy_core::rows::Columns;

/// A row of tokio-postgres, read by position from 0.
pub struct PgRow<'a>(pub &'a tokio_postgres::Row);

impl Columns for PgRow<'_> {
    type Error = anyhow::Error;
    fn text(&self, i: usize) -> anyhow::Result<Option<String>> {
        Ok(self.0.try_get(i)?)
    }
    fn int8(&self, i: usize) -> anyhow::Result<Option<i64>> {
        Ok(self.0.try_get(i)?)
    }
    fn int4(&self, i: usize) -> anyhow::Result<Option<i32>> {
        Ok(self.0.try_get(i)?)
    }
    fn boolean(&self, i: usize) -> anyhow::Result<Option<bool>> {
        Ok(self.0.try_get(i)?)
    }
    fn json(&self, i: usize) -> anyhow::Result<Option<serde_json::Value>> {
        Ok(self.0.try_get(i)?)
    }
    fn invalid(&self, what: String) -> anyhow::Error {
        anyhow::anyhow!("{what}")
    }
}
