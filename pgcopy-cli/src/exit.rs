//! Exit codes, one documented constant each (README and --help list them too).

/// Everything copied and verified.
pub const OK: i32 = 0;
/// The run failed (connection, preflight, a fatal error): see the message.
pub const FAILURE: i32 = 1;
/// The command line is wrong.
pub const USAGE: i32 = 2;
/// The run finished but some tables failed, or a constraint could not be validated.
pub const PARTIAL: i32 = 3;
/// Interrupted by Ctrl-C or SIGTERM (128 + SIGINT).
pub const INTERRUPTED: i32 = 130;
