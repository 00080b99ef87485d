//! The statements over the state schema, one a file under `sql/state/`.
//!
//! The schema may be any name (`--state-schema`; the extension's is
//! `pgcopy`), so a file writes it `@extschema@`, as `state_schema.sql` and
//! PostgreSQL's extension scripts do, and [`StateSql::render`] fills in the
//! quoted name. Its parameters (`$n`) are listed in its header. Statements
//! put together from builders (a saved object's bindings, its clones'
//! names) are built where they are used.

use crate::quote::quote_ident;

/// A statement over the state schema, as its file has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateSql(&'static str);

/// Where a probe's file takes [`AUTHORITY_COLUMNS`].
const AUTHORITY_PLACEHOLDER: &str = "@authority_columns@";

impl StateSql {
    /// A statement over the state schema from its text.
    pub(crate) const fn new(text: &'static str) -> Self {
        StateSql(text)
    }

    /// The text as its file has it (`@extschema@` unfilled).
    pub fn text(self) -> &'static str {
        self.0
    }

    /// The statement for the state schema `schema`, without its file's
    /// header (the comment lines it starts with: they are for readers, and
    /// some statements go to the server once a chunk).
    pub fn render(self, schema: &str) -> String {
        // The quoted name goes in last, so a name holding a placeholder's
        // text stays a name.
        self.statement()
            .replace(AUTHORITY_PLACEHOLDER, AUTHORITY_COLUMNS.statement())
            .replace("@extschema@", &quote_ident(schema))
    }

    /// The text after the header, without its last line break.
    fn statement(self) -> &'static str {
        let mut rest = self.0;
        while rest.starts_with("--") || rest.starts_with('\n') {
            rest = rest.split_once('\n').map_or("", |(_, after)| after);
        }
        rest.trim_end()
    }

    /// [`Self::render`] with each `$n` replaced by `values[n - 1]`, SQL text
    /// the caller built (literals): for a statement sent in one message
    /// with others, where there are no parameters. A `$` in a quoted string
    /// or name, a comment, or in an identifier (`a$1`) is left as it is.
    pub fn render_with(self, schema: &str, values: &[&str]) -> String {
        bind_literals(&self.render(schema), values)
    }
}

macro_rules! statements {
    ($($(#[$doc:meta])* $name:ident = $file:literal;)*) => {
        $(
            $(#[$doc])*
            pub const $name: StateSql =
                StateSql(include_str!(concat!("../../sql/state/", $file)));
        )*
        /// Every statement, with its file's name (for the tests).
        pub const ALL: &[(&str, StateSql)] = &[$(($file, $name)),*];
    };
}

statements! {
    /// Columns the probes return after their own (`sql/state/authority_columns.sql`);
    /// a probe's file writes them `@authority_columns@`.
    AUTHORITY_COLUMNS = "authority_columns.sql";
    /// `sql/state/schema_version.sql`.
    SCHEMA_VERSION = "schema_version.sql";
    /// `sql/state/unfinished_jobs.sql`.
    UNFINISHED_JOBS = "unfinished_jobs.sql";
    /// `sql/state/restart_job.sql`.
    RESTART_JOB = "restart_job.sql";
    /// `sql/state/job_phase.sql`.
    JOB_PHASE = "job_phase.sql";
    /// `sql/state/job_truncated.sql`.
    JOB_TRUNCATED = "job_truncated.sql";
    /// `sql/state/job_fks_dropped.sql`.
    JOB_FKS_DROPPED = "job_fks_dropped.sql";
    /// `sql/state/job_disabled_triggers.sql`.
    JOB_DISABLED_TRIGGERS = "job_disabled_triggers.sql";
    /// `sql/state/pending_fk_count.sql`.
    PENDING_FK_COUNT = "pending_fk_count.sql";
    /// `sql/state/job_leftovers.sql`.
    JOB_LEFTOVERS = "job_leftovers.sql";
    /// `sql/state/job_outstanding.sql`.
    JOB_OUTSTANDING = "job_outstanding.sql";
    /// `sql/state/discard_job.sql`.
    DISCARD_JOB = "discard_job.sql";
    /// `sql/state/insert_job.sql`.
    INSERT_JOB = "insert_job.sql";
    /// `sql/state/insert_job_tables.sql`.
    INSERT_JOB_TABLES = "insert_job_tables.sql";
    /// `sql/state/insert_job_chunks.sql`.
    INSERT_JOB_CHUNKS = "insert_job_chunks.sql";
    /// `sql/state/insert_large_objects.sql`.
    INSERT_LARGE_OBJECTS = "insert_large_objects.sql";
    /// `sql/state/insert_large_object_batches.sql`.
    INSERT_LARGE_OBJECT_BATCHES = "insert_large_object_batches.sql";
    /// `sql/state/finish_job.sql`.
    FINISH_JOB = "finish_job.sql";
    /// `sql/state/done_chunks.sql`.
    DONE_CHUNKS = "done_chunks.sql";
    /// `sql/state/chunk_done.sql`.
    CHUNK_DONE = "chunk_done.sql";
    /// `sql/state/mark_chunk_done.sql`.
    MARK_CHUNK_DONE = "mark_chunk_done.sql";
    /// `sql/state/mark_chunk_failed.sql`.
    MARK_CHUNK_FAILED = "mark_chunk_failed.sql";
    /// `sql/state/table_state.sql`.
    TABLE_STATE = "table_state.sql";
    /// `sql/state/heartbeat.sql`.
    HEARTBEAT = "heartbeat.sql";
    /// `sql/state/job_progress.sql`.
    JOB_PROGRESS = "job_progress.sql";
    /// `sql/state/table_progress.sql`.
    TABLE_PROGRESS = "table_progress.sql";
    /// `sql/state/list_jobs.sql`.
    LIST_JOBS = "list_jobs.sql";
    /// `sql/state/jobs_with_disabled_triggers.sql`.
    JOBS_WITH_DISABLED_TRIGGERS = "jobs_with_disabled_triggers.sql";
    /// `sql/state/pending_fks.sql`.
    PENDING_FKS = "pending_fks.sql";
    /// `sql/state/fk_probe.sql`.
    FK_PROBE = "fk_probe.sql";
    /// `sql/state/mark_fk.sql`.
    MARK_FK = "mark_fk.sql";
    /// `sql/state/fk_error.sql`.
    FK_ERROR = "fk_error.sql";
    /// `sql/state/pending_indexes.sql`.
    PENDING_INDEXES = "pending_indexes.sql";
    /// `sql/state/index_probe.sql`.
    INDEX_PROBE = "index_probe.sql";
    /// `sql/state/mark_index.sql`.
    MARK_INDEX = "mark_index.sql";
    /// `sql/state/index_error.sql`.
    INDEX_ERROR = "index_error.sql";
    /// `sql/state/table_probe.sql`.
    TABLE_PROBE = "table_probe.sql";
}

/// `sql` with each `$n` outside quotes, comments and identifiers replaced
/// by `values[n - 1]` (one left as it is when there is no such value).
///
/// It knows the SQL the files under `sql/state/` are written in, which a
/// test holds them to: no dollar quotes, no `E''` strings, no nested
/// comments.
fn bind_literals(sql: &str, values: &[&str]) -> String {
    #[derive(Clone, Copy, PartialEq)]
    enum In {
        Code,
        String,
        Name,
        LineComment,
        BlockComment,
    }
    let mut out = String::with_capacity(sql.len());
    let mut state = In::Code;
    let mut chars = sql.char_indices().peekable();
    let mut previous: Option<char> = None;
    while let Some((_, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        match state {
            In::Code => match c {
                '\'' => state = In::String,
                '"' => state = In::Name,
                '-' if next == Some('-') => state = In::LineComment,
                '/' if next == Some('*') => state = In::BlockComment,
                '$' if !previous.is_some_and(|p| p.is_alphanumeric() || p == '_' || p == '$') => {
                    let mut digits = String::new();
                    while let Some(&(_, d)) = chars.peek() {
                        if !d.is_ascii_digit() {
                            break;
                        }
                        digits.push(d);
                        chars.next();
                    }
                    let value = digits
                        .parse::<usize>()
                        .ok()
                        .and_then(|n| n.checked_sub(1))
                        .and_then(|i| values.get(i));
                    match value {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push('$');
                            out.push_str(&digits);
                        }
                    }
                    previous = digits.chars().last().or(Some('$'));
                    continue;
                }
                _ => {}
            },
            In::String if c == '\'' => state = In::Code,
            In::Name if c == '"' => state = In::Code,
            In::LineComment if c == '\n' => state = In::Code,
            In::BlockComment if c == '*' && next == Some('/') => {
                out.push(c);
                if let Some((_, slash)) = chars.next() {
                    out.push(slash);
                }
                state = In::Code;
                previous = Some('/');
                continue;
            }
            _ => {}
        }
        out.push(c);
        previous = Some(c);
    }
    out
}

#[cfg(test)]
mod tests;
