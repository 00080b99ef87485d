//! What a plan is asked for: the options, the FK strategy and actions, and
//! why a selection cannot be planned.

use super::*;

/// Default size above which a table is split into chunks: 256 MiB.
pub const DEFAULT_SPLIT_LARGER_THAN: u64 = 256 * 1024 * 1024;

/// How foreign keys are kept from getting in the way of the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FkStrategy {
    /// `session_replication_role = replica`: FK and user triggers do not fire.
    Replica,
    /// FKs are saved in the state schema, dropped, and restored after the load.
    Drop,
}

impl FkStrategy {
    /// The name used in output and in the state schema.
    pub fn as_str(self) -> &'static str {
        match self {
            FkStrategy::Replica => "replica",
            FkStrategy::Drop => "drop",
        }
    }
}

/// What the copy does with one foreign key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FkAction {
    /// Left in place (replica mode: its triggers do not fire during the load).
    Keep,
    /// Saved, dropped before the load, restored after it.
    DropAndRestore,
}

/// Inputs of the planner besides the catalog.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// `--include-tables` patterns (empty: every table).
    pub include: Vec<TablePattern>,
    /// `--exclude-tables` patterns.
    pub exclude: Vec<TablePattern>,
    /// Tables above this many bytes are split into chunks (0: never).
    pub split_larger_than: u64,
    /// The server's `block_size`.
    pub block_size: u64,
    /// FK strategy the plan assumes.
    pub fk_strategy: FkStrategy,
    /// Schemas never copied (pgcopy's own state schema).
    pub skip_schemas: Vec<String>,
    /// Accept patterns that match no table.
    pub allow_empty_match: bool,
    /// Drop secondary indexes before the load and rebuild them after.
    pub defer_indexes: bool,
    /// Only these tables (exact names), on top of the patterns. The
    /// destination's plan of what to drop is limited to the tables the
    /// source's plan copies, so tables only the destination has (another
    /// state schema, leftovers) keep their FKs and indexes.
    pub only: Option<BTreeSet<QualifiedName>>,
    /// `--where` filters.
    pub row_filters: Vec<crate::subset::RowFilter>,
    /// The rows of other tables follow the filters through the foreign keys
    /// (`--no-follow-fks` turns it off).
    pub follow_fks: bool,
    /// `--transform` columns.
    pub transforms: Vec<crate::transform::ColumnTransform>,
    /// `--trust-owner`: roles whose code the SQL pgcopy writes may call
    /// (the operators `--where` follows keys with).
    pub trust: crate::trust::TrustedOwners,
    /// The destination's `server_version_num` (0: the catalog's own), for
    /// the COPY format of each table (`crate::formats`).
    pub dest_version_num: u32,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            include: Vec::new(),
            exclude: Vec::new(),
            split_larger_than: DEFAULT_SPLIT_LARGER_THAN,
            block_size: 8192,
            fk_strategy: FkStrategy::Drop,
            skip_schemas: vec!["pgcopy".into()],
            allow_empty_match: false,
            defer_indexes: false,
            only: None,
            row_filters: Vec::new(),
            follow_fks: true,
            transforms: Vec::new(),
            trust: Default::default(),
            dest_version_num: 0,
        }
    }
}

impl PlanOptions {
    /// Sets include/exclude from comma-separated lists.
    pub fn with_patterns(
        mut self,
        include: Option<&str>,
        exclude: Option<&str>,
    ) -> Result<Self, PatternError> {
        self.include = include.map(parse_patterns).transpose()?.unwrap_or_default();
        self.exclude = exclude.map(parse_patterns).transpose()?.unwrap_or_default();
        Ok(self)
    }
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// Patterns matched no table.
    #[error("{} matched no table: {} (check the spelling, quote mixed-case names, or pass --allow-empty-match)",
        if .0.len() == 1 { "this pattern" } else { "these patterns" }, .0.join(", "))]
    NoMatch(Vec<String>),
    /// The `--where` filters cannot be followed.
    #[error(transparent)]
    Subset(#[from] crate::subset::SubsetError),
    /// A `--transform` cannot be applied.
    #[error(transparent)]
    Transform(#[from] crate::transform::TransformError),
    /// A table read through a query pgcopy plans (its rows filtered or
    /// transformed) whose planning could run code of roles not trusted.
    #[error(
        "{option} reads {table} through a query, and planning any query over it could run code of {} (the \
         IMMUTABLE functions in its index expressions and predicates, CHECK constraints, statistics objects or \
         partition keys, which its owner may add at any time) with this role's rights: if you trust {}, add {} \
         (as pg_restore would run it), or copy the table whole, as its owner, or as a role that owns it",
        roles.iter().map(|r| format!("role {r:?}")).collect::<Vec<_>>().join(", "),
        match roles.len() { 1 => "that role", _ => "those roles" },
        crate::trust::TrustedOwners::flags(&roles.iter().map(String::as_str).collect::<Vec<_>>())
    )]
    Unplannable {
        /// The option that makes pgcopy plan a query over it.
        option: &'static str,
        /// The table, for people.
        table: String,
        /// The roles not trusted.
        roles: Vec<String>,
    },
}

/// An `--include-tables` pattern without a schema that selects tables in
/// several schemas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmbiguousPattern {
    /// The pattern as written.
    pub pattern: String,
    /// A bare name (no glob): its writer likely meant one table.
    pub bare_name: bool,
    /// What it selects (tables, partitioned tables by their root), sorted.
    pub tables: Vec<QualifiedName>,
}

impl AmbiguousPattern {
    /// The sentence a copy refuses or warns with.
    pub fn message(&self) -> String {
        let names: Vec<String> = self.tables.iter().map(|t| t.display_name()).collect();
        let first = &self.tables[0];
        format!(
            "`{}` selects tables in {} schemas ({}): write the schema to copy one ({}), or `*.{}` to copy them all",
            self.pattern,
            self.tables
                .iter()
                .map(|t| &t.schema)
                .collect::<BTreeSet<_>>()
                .len(),
            names.join(", "),
            first.display_name(),
            self.pattern
        )
    }
}
