//! Log output: tracing to stderr, text or JSON, level from -v/-q or RUST_LOG.
//! Connection strings only ever reach a log line through
//! `ConnSettings::redacted`.

use crate::cli::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber.
pub fn init(verbose: u8, quiet: bool, format: LogFormat) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,pgcopy={default}")));
    // A log line that cannot be written (stderr a closed pipe or terminal)
    // is dropped; tracing's own report of it would be written with
    // `eprintln!`, which panics there.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .with_target(false);
    match format {
        LogFormat::Json => builder.json().init(),
        // On a terminal a person watches the lines come; in a file or a
        // pipe (cron, CI, `2> copy.log`), each line says when it happened.
        LogFormat::Text if is_terminal() => builder
            .fmt_fields(printable_fields())
            .without_time()
            .with_ansi(std::env::var_os("NO_COLOR").is_none())
            .init(),
        LogFormat::Text => builder
            .fmt_fields(printable_fields())
            .with_ansi(false)
            .init(),
    }
}

/// Every field of a text log line (the message included) through
/// `pgcopy_core::quote::printable`: names, definitions and errors read from
/// a database reach log lines in many places, and a name holding an escape
/// sequence or a line break must not drive the terminal or forge a line.
fn printable_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let text = format!("{value:?}");
        let text = pgcopy_core::quote::printable(&text);
        match field.name() {
            "message" => write!(w, "{text}"),
            name => write!(w, "{name}={text}"),
        }
    })
    .delimited(" ")
}

/// Whether stderr is a terminal a person reads: no timestamps, and colours
/// unless `NO_COLOR` is set.
fn is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}
