/*!
Pure logic of pgcopy, shared by the `pgcopy` CLI and the `pgcopy` extension.

Nothing here touches a socket, a file or a clock: the catalog comes in as a
[`catalog::Catalog`] (read by `sql/catalog.sql`), and out go plans, problems
and SQL text. So the same planning answers `pgcopy copy --dry-run` on a laptop
and `SELECT * FROM pgcopy.plan()` inside the server, and both agree by
construction.

```
use pgcopy_core::{catalog::Catalog, plan::{plan, PlanOptions}};
let catalog = Catalog::from_json(r#"{"tables": []}"#)?;
let p = plan(&catalog, &PlanOptions::default())?;
assert!(p.tables.is_empty());
# Ok::<(), Box<dyn std::error::Error>>(())
```
*/
#![deny(missing_docs)]
// No panic outside tests: a panic leaves a copy worse than a kill -9 would
// (nothing recorded, nothing said); each proven invariant allows it by name.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod bindings;
pub mod catalog;
pub mod chunk;
pub mod conninfo;
pub mod copy_frames;
pub mod filter;
pub mod fkgraph;
pub mod formats;
pub mod maintenance;
pub mod options;
pub mod plan;
pub mod preflight;
pub mod quote;
pub mod restore;
pub mod route;
pub mod rows;
pub mod sql;
pub mod state_sql;
pub mod states;
pub mod steps;
pub mod stored;
pub mod subset;
pub mod transform;
pub mod triggers;
pub mod trust;

/// The state schema's SQL, the one source of truth for schema `pgcopy`; the
/// extension embeds it and the CLI applies it where the extension is absent,
/// through [`state_schema_sql`]. Its own objects are named `@extschema@.name`.
pub const STATE_SCHEMA_SQL: &str = include_str!("../../sql/state_schema.sql");

/// [`STATE_SCHEMA_SQL`] for a state schema named `schema`: `@extschema@`
/// replaced by the quoted name, as PostgreSQL does in an extension script.
pub fn state_schema_sql(schema: &str) -> String {
    state_sql::StateSql::new(STATE_SCHEMA_SQL).render(schema)
}

/// The catalog query: returns one `jsonb` document for [`catalog::Catalog`].
pub const CATALOG_SQL: &str = include_str!("../../sql/catalog.sql");

/// Code a table's inserts run that belongs to a role neither superuser, the
/// current user nor trusted: `$1` the tables' oids (`oid[]`), `$2` the
/// trusted roles (`text[]`, [`trust::TrustedOwners::roles`]); rows of (table
/// oid, what, the code's owner).
pub const UNTRUSTED_CODE_SQL: &str = include_str!("../../sql/untrusted_code.sql");

/// Whether tables to truncate before a load may hold rows: `$1` their quoted
/// names (`text[]`), `$2` whether each is `ONLY` (`bool[]`); one `bool`.
pub const HOLDS_ROWS_SQL: &str = include_str!("../../sql/holds_rows.sql");

/// The state schema version this build reads and writes.
pub const STATE_SCHEMA_VERSION: i32 = 5;
