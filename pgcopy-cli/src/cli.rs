//! The command line, as plain clap structs. Values here are only parsed; they are
//! resolved into connections and plan options by the commands (two stages, as
//! ripgrep does), so parsing never touches the network or the disk.

use clap::{Args, Parser, Subcommand, ValueEnum};
use pgcopy_core::subset::RowFilter;
use pgcopy_core::transform::ColumnTransform;
use std::path::PathBuf;

/// Copy the data of a PostgreSQL database into another with the same schema.
#[derive(Debug, Parser)]
#[command(
    name = "pgcopy",
    version,
    about,
    after_help = "Examples:\n  \
      pgcopy copy -s postgresql://app@prod/app -d postgresql://app@staging/app\n  \
      pgcopy copy -s ... -d ... --include-tables 'public.orders*,sales.*' -p 8\n  \
      pgcopy copy -s ... -d ... --dry-run\n  \
      pgcopy list -s postgresql://app@prod/app\n\n\
      Connections follow libpq: URIs or key=value strings, service files, PG* variables,\n\
      ~/.pgpass. PGCOPY_SOURCE and PGCOPY_DEST may hold the two connection strings.\n\n\
      Exit codes:\n  \
      0    done: everything copied (or listed, verified, restored)\n  \
      1    failed: connection, preflight or a fatal error; the message says what to do\n  \
      2    the command line is wrong\n  \
      3    finished, but not all as before: a table, an index, a key or a view (the summary says what to do)\n  \
      129, 130, 143  stopped by SIGHUP, SIGINT or SIGTERM; the job can be resumed"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy table data from the source database into the destination database.
    Copy(CopyArgs),
    /// List the source's tables with their size and estimated rows.
    List(ListArgs),
    /// Show a job's progress from the destination's state schema.
    Status(StatusArgs),
    /// Re-create the foreign keys a copy dropped, from their saved definitions.
    RestoreFks(RestoreFksArgs),
    /// List the jobs on a destination, or give up an unfinished one.
    Jobs(JobsArgs),
    /// Check that source and destination hold the same rows.
    Verify(VerifyArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (pgcopy.1, pgcopy-copy.1, ...) into a directory.
    #[command(hide = true)]
    Man {
        /// Where (created if missing).
        dir: PathBuf,
    },
    /// Print version, git commit and target.
    Version,
}

/// `pgcopy status`.
#[derive(Debug, Args, Clone)]
pub struct StatusArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub dest: DestArgs,
    /// The job (default: the latest this role ran).
    #[arg(long, value_name = "N")]
    pub job: Option<i64>,
    /// Schema on the destination holding pgcopy's state.
    #[arg(long, default_value = "pgcopy", value_name = "NAME")]
    pub state_schema: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `pgcopy verify`.
#[derive(Debug, Args, Clone)]
pub struct VerifyArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub source: SourceArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub dest: DestArgs,
    /// Only these tables (same syntax as copy).
    #[arg(long, value_name = "LIST")]
    pub include_tables: Option<String>,
    /// Leave these tables out.
    #[arg(long, value_name = "LIST")]
    pub exclude_tables: Option<String>,
    /// Which rows and columns a copy took (`verify` compares against the
    /// same selection given the copy's options).
    #[command(flatten)]
    pub subset: SubsetArgs,
    /// Compare every row (checksums computed on each server) instead of counts.
    #[arg(long)]
    pub exact: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub trust: TrustArgs,
    /// Tables checked at once.
    #[arg(short = 'p', long, default_value_t = 4, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub parallel: u32,
    /// Schema on the destination holding pgcopy's state (never compared).
    #[arg(long, default_value = "pgcopy", value_name = "NAME")]
    pub state_schema: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `pgcopy jobs`.
#[derive(Debug, Args, Clone)]
pub struct JobsArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: JobsAction,
}

/// The destination and state schema, for `pgcopy jobs` subcommands.
#[derive(Debug, Args, Clone)]
pub struct JobsTarget {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub dest: DestArgs,
    /// Schema on the destination holding pgcopy's state.
    #[arg(long, default_value = "pgcopy", value_name = "NAME")]
    pub state_schema: String,
}

/// `pgcopy jobs` subcommands.
#[derive(Debug, Subcommand, Clone)]
pub enum JobsAction {
    /// List the jobs, newest first.
    List {
        #[command(flatten)]
        #[allow(missing_docs)]
        target: JobsTarget,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Give up an unfinished job: restore the foreign keys it dropped, re-enable
    /// the triggers it disabled, and mark it discarded (the rows it copied stay).
    Discard {
        #[command(flatten)]
        #[allow(missing_docs)]
        target: JobsTarget,
        /// The job.
        job: i64,
        #[command(flatten)]
        #[allow(missing_docs)]
        trust: TrustArgs,
    },
}

/// `pgcopy restore-fks`.
#[derive(Debug, Args, Clone)]
pub struct RestoreFksArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub dest: DestArgs,
    /// Only this job's foreign keys (default: every pending one).
    #[arg(long, value_name = "N")]
    pub job: Option<i64>,
    /// Schema on the destination holding pgcopy's state.
    #[arg(long, default_value = "pgcopy", value_name = "NAME")]
    pub state_schema: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub trust: TrustArgs,
}

/// Where the source connection string comes from.
#[derive(Debug, Args, Clone)]
pub struct SourceArgs {
    /// Source connection string (URI or key=value).
    #[arg(short = 's', long = "source", value_name = "URL")]
    pub source: Option<String>,
    /// File holding the source connection string.
    #[arg(long = "source-file", value_name = "PATH")]
    pub source_file: Option<PathBuf>,
}

/// Where the destination connection string comes from.
#[derive(Debug, Args, Clone)]
pub struct DestArgs {
    /// Destination connection string (URI or key=value).
    #[arg(short = 'd', long = "dest", value_name = "URL")]
    pub dest: Option<String>,
    /// File holding the destination connection string.
    #[arg(long = "dest-file", value_name = "PATH")]
    pub dest_file: Option<PathBuf>,
}

/// `pgcopy copy`.
#[derive(Debug, Args, Clone)]
pub struct CopyArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub source: SourceArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub dest: DestArgs,
    /// Concurrent workers, each with one source and one destination connection.
    #[arg(short = 'p', long, default_value_t = 4, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub parallel: u32,
    /// Rows a worker streams between two updates of its live progress (the
    /// counters in pgcopy.job_workers and on screen).
    #[arg(long, default_value_t = 1000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
    /// Only these tables: comma-separated `table` or `schema.table`, globs `*` `?`,
    /// double quotes for exact names.
    #[arg(long, value_name = "LIST")]
    pub include_tables: Option<String>,
    /// Leave these tables out (same syntax as --include-tables).
    #[arg(long, value_name = "LIST")]
    pub exclude_tables: Option<String>,
    /// Accept include/exclude patterns that match no table.
    #[arg(long)]
    pub allow_empty_match: bool,
    /// Which rows and columns are copied.
    #[command(flatten)]
    pub subset: SubsetArgs,
    /// Split tables larger than this into ctid ranges copied in parallel
    /// (bytes, or with kB, MB, GB; 0 never splits) [default: 256MB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub split_larger_than: Option<u64>,
    /// Continue the most recent unfinished job on the destination (its plan and
    /// options), skipping the chunks already committed.
    #[arg(long)]
    pub resume: bool,
    /// With --resume: the job to continue (default: the most recent unfinished).
    #[arg(long, value_name = "N", requires = "resume")]
    pub job: Option<i64>,
    /// Read from this exported snapshot (pg_export_snapshot() in a transaction
    /// you keep open) instead of exporting a new one.
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<String>,
    /// Retries of a chunk after a lost connection, with backoff (0.5 s doubling
    /// to 10 s); errors in the data are not retried.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub retries: u32,
    /// Print the plan and stop: nothing is written anywhere.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress display; a plain progress line every few seconds instead.
    #[arg(long)]
    pub no_progress: bool,
    /// Skip ANALYZE of the copied tables (by default each is analyzed as soon as it is loaded).
    #[arg(long)]
    pub no_analyze: bool,
    /// Let user triggers fire during the load where they cannot be disabled.
    #[arg(long)]
    pub fire_triggers: bool,
    /// Copy the source's large objects also with --include-tables (a copy
    /// without --include-tables copies them anyway).
    #[arg(long, conflicts_with = "skip_large_objects")]
    pub large_objects: bool,
    /// Leave the source's large objects out.
    #[arg(long)]
    pub skip_large_objects: bool,
    /// Schema on the destination holding pgcopy's state.
    #[arg(long, default_value = "pgcopy", value_name = "NAME")]
    pub state_schema: String,
    /// Drop indexes before the load and rebuild them after (default: on when
    /// the role owns every table). PRIMARY KEY and UNIQUE constraints go with
    /// theirs (and come back USING INDEX) where no foreign key left in place
    /// references their table, so the load fills bare heaps.
    #[arg(long, overrides_with = "no_defer_indexes")]
    pub defer_indexes: bool,
    /// Keep indexes in place during the load.
    #[arg(long, overrides_with = "defer_indexes")]
    pub no_defer_indexes: bool,
    /// Without --defer-indexes: defer only the indexes of tables at least
    /// this large (bytes, or with kB, MB, GB; 0: every table's). A small
    /// table's index costs less to keep up during its load than to save,
    /// drop and rebuild [default: 1MB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size,
          env = "PGCOPY_DEFER_INDEXES_ABOVE")]
    pub defer_indexes_above: Option<u64>,
    /// Write a JSON summary of the run to this file when it ends.
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<std::path::PathBuf>,
    /// Copy even though source and destination are the same database.
    #[arg(long)]
    pub yes_i_know: bool,
    /// Fail instead of waiting longer than this for a table lock, on either
    /// side (as pg_dump's): milliseconds, or with ms, s, min or h (10s). A
    /// wait of more than a second is logged, with who holds the lock.
    #[arg(long, value_name = "DURATION")]
    pub lock_wait_timeout: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub trust: TrustArgs,
}

/// `--trust-owner`, for `copy` and `restore-fks`.
#[derive(Debug, Args, Clone, Default)]
pub struct TrustArgs {
    /// Run code that ROLE owns (its domains' CHECKs, the functions its
    /// tables' constraints, indexes and defaults call) with this role's
    /// rights, as pg_restore would; without it, a table whose load or
    /// restore would run code of a role that is neither a superuser nor
    /// this one is refused. Repeatable; '*' trusts every role.
    #[arg(long = "trust-owner", value_name = "ROLE")]
    pub trust_owner: Vec<String>,
}

impl TrustArgs {
    /// The roles trusted.
    pub fn owners(&self) -> pgcopy_core::trust::TrustedOwners {
        pgcopy_core::trust::TrustedOwners::new(self.trust_owner.iter().cloned())
    }
}

/// `pgcopy list`.
#[derive(Debug, Args, Clone)]
pub struct ListArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub source: SourceArgs,
    /// Only tables in this schema.
    #[arg(long, value_name = "NAME")]
    pub schema: Option<String>,
    /// Count rows exactly (reads every table).
    #[arg(long)]
    pub exact: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parses `123`, `64kB`, `256MB`, `1.5GB`, `2TB` (powers of 1024, as PostgreSQL).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (examples: 1000000, 64kB, 256MB, 1GB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1 << 10,
        "mb" | "m" => 1 << 20,
        "gb" | "g" => 1 << 30,
        "tb" | "t" => 1 << 40,
        _ => return Err(format!("`{s}`: unknown unit (use kB, MB, GB or TB)")),
    };
    let bytes = n * mult as f64;
    // An `as` cast would quietly clamp a size past u64 to its maximum.
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("`{s}` is larger than any size pgcopy can use"));
    }
    Ok(bytes as u64)
}

/// psql's connection options, which pgcopy does not take (`-h` is help,
/// `-p` the number of workers, `-d` the destination): one sentence showing
/// the URL they would make, or `None` where `args` (without the program's
/// name) holds none of them.
pub fn psql_style_options(args: &[String]) -> Option<String> {
    let (mut host, mut port, mut user, mut seen) = (None, None, None, false);
    let mut i = 0;
    while i < args.len() {
        let (a, next) = (args[i].as_str(), args.get(i + 1).map(String::as_str));
        let value = next.filter(|n| !n.starts_with('-'));
        match a {
            "-h" | "--host" if value.is_some() => (host, seen, i) = (value, true, i + 1),
            "-U" | "--username" | "--user" => {
                (user, seen) = (value, true);
                i += usize::from(value.is_some());
            }
            "-W" | "--password" | "--host" | "--port" | "--dbname" => seen = true,
            "-p" => {
                port = value.filter(|v| v.parse::<u32>().is_ok_and(|n| n >= 1024));
                i += usize::from(value.is_some());
            }
            _ if a.starts_with("--host=")
                || a.starts_with("--port=")
                || a.starts_with("--username=") =>
            {
                seen = true
            }
            _ if a.len() > 2 && (a.starts_with("-h") || a.starts_with("-U")) => seen = true,
            "--" => break,
            _ => {}
        }
        i += 1;
    }
    if !seen {
        return None;
    }
    let url = format!(
        "postgresql://{}{}{}/DBNAME",
        user.map_or(String::new(), |u| format!("{u}@")),
        host.unwrap_or("HOST"),
        port.map_or(String::new(), |p| format!(":{p}")),
    );
    Some(format!(
        "pgcopy takes connection URLs, not psql's -h/-p/-U (here -h is help, -p the number of workers \
         and -d the destination): write -s '{url}' (the destination likewise with -d), or set PGHOST, \
         PGPORT, PGUSER and PGDATABASE and leave -s out"
    ))
}

#[cfg(test)]
mod tests;

/// `--where`, `--no-follow-fks` and `--transform`, for `copy` and for
/// `verify` (which compares against the same selection).
#[derive(Debug, Args, Clone, Default)]
pub struct SubsetArgs {
    /// Only the rows of TABLE (one table, or a partitioned table) for which
    /// the SQL CONDITION holds, read on the source in the run's snapshot;
    /// repeatable. Other tables' rows follow through the foreign keys so that
    /// every key holds (docs/subsets.md).
    #[arg(long = "where", value_name = "TABLE: CONDITION",
          value_parser = |s: &str| RowFilter::parse(s).map_err(|e| e.to_string()))]
    pub row_filters: Vec<RowFilter>,
    /// With --where: each filtered table's rows as filtered and every other
    /// table whole (foreign keys that no longer hold come back NOT VALID).
    #[arg(long)]
    pub no_follow_fks: bool,
    /// COLUMN of TABLE as the SQL EXPRESSION's value, computed on the source
    /// over the row's columns (masking e-mails, names, phone numbers);
    /// repeatable. Its type must be the column's (docs/subsets.md).
    #[arg(long = "transform", value_name = "TABLE.COLUMN: EXPRESSION",
          value_parser = |s: &str| ColumnTransform::parse(s).map_err(|e| e.to_string()))]
    pub transforms: Vec<ColumnTransform>,
}
