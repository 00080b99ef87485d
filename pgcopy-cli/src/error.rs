//! Errors a user sees: one sentence saying what is wrong and what to do, with
//! an exit code. Database errors are rendered from their fields (message,
//! detail, hint), never from Rust's debug output.

use crate::exit;
use std::fmt;

/// An error meant for the user, with its exit code.
#[derive(Debug)]
pub struct UserError {
    /// The message (may span lines for lists of problems).
    pub message: String,
    /// Exit code.
    pub code: i32,
}

impl UserError {
    /// A failure (exit 1).
    pub fn failure(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            code: exit::FAILURE,
        }
    }
    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            code: exit::USAGE,
        }
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// Renders a tokio-postgres error as PostgreSQL users read them:
/// `message (SQLSTATE xxxxx)` plus detail and hint, or the I/O cause.
pub fn pg_message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = db.message().to_string();
        if let Some(d) = db.detail() {
            s.push_str(&format!(" ({d})"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!(" (hint: {h})"));
        }
        if *db.code() == tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE {
            // The server does not say whose lock: the lock watcher's warning
            // (after a second of waiting) does.
            s.push_str(
                ": another session held a lock this run needed for longer than --lock-wait-timeout (or \
                 lock_timeout) allows; a warning above names it when the wait passed a second; retry \
                 once it is done",
            );
        }
        return s;
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    s
}

/// A database error with what was being done: shows as "`what`: `server
/// message`", and keeps the error itself, so a caller can still ask its
/// SQLSTATE (`anyhow::Error::downcast_ref::<PgFailure>()`, then
/// `.error.code()`).
#[derive(Debug)]
pub struct PgFailure {
    /// What was being done.
    pub what: String,
    /// The error.
    pub error: tokio_postgres::Error,
}

impl std::fmt::Display for PgFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, pg_message(&self.error))
    }
}

// Not a `source()`: the message already says what the error says.
impl std::error::Error for PgFailure {}

/// Adds context to a tokio-postgres result: "`what`: `server message`".
pub trait PgContext<T> {
    /// Wraps the error with what was being done ([`PgFailure`]).
    fn pg_context(self, what: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T> PgContext<T> for Result<T, tokio_postgres::Error> {
    fn pg_context(self, what: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|error| {
            PgFailure {
                what: what(),
                error,
            }
            .into()
        })
    }
}
