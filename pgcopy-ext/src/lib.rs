/*!
The `pgcopy` extension, installed on the destination database.

It creates the state schema (`sql/state_schema.sql`, shared with the CLI) and
adds SQL-callable functions over `pgcopy-core`, so a DBA can inspect and repair
a copy from psql. Functions are thin: SPI calls and datum conversion only.
*/

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!(
    "../../sql/state_schema.sql",
    name = "state_schema",
    bootstrap
);
extension_sql_file!("../../sql/extension_grants.sql", name = "grants", finalize);

/// The version of the installed extension library.
#[pg_extern]
fn extension_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn state_schema_is_installed() {
        let v = Spi::get_one::<i32>("SELECT pgcopy.schema_version()").unwrap();
        assert_eq!(v, Some(pgcopy_core::STATE_SCHEMA_VERSION));
        let n = Spi::get_one::<i64>("SELECT count(*) FROM pgcopy.jobs").unwrap();
        assert_eq!(n, Some(0));
    }

    #[pg_test]
    fn version_matches_cargo() {
        assert_eq!(crate::extension_version(), env!("CARGO_PKG_VERSION"));
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
