/*!
The `pgcopy` binary: parses the command line, sets up logging and the runtime,
dispatches to a command, and turns errors into one clear message and an exit
code (see `exit`).
*/

// No panic outside tests: a panic leaves a copy worse than a kill -9 would
// (nothing recorded, nothing said); each proven invariant allows it by name.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

/// `println!` that never panics: a reader that went away (a closed pipe, a
/// closed terminal) ends the output, never the run.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` that never panics (see `outln!`).
#[allow(unused_macros)]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that never panics (see `outln!`).
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod cli;
mod conditions;
mod connect;
mod constraints;
mod engine;
mod error;
mod exit;
mod failpoint;
mod format;
mod indexes;
mod introspect;
mod jobs;
mod list;
mod lock;
mod lockwatch;
mod logging;
mod merging;
mod parse;
mod pool;
mod progress;
mod putback;
mod restore_units;
mod rows;
mod scope;
mod state;
mod status;
mod stop;
mod tls;
mod triggers;
mod verify;

use clap::Parser;
use cli::{Cli, Command};
use error::UserError;

fn main() {
    quiet_broken_pipe();
    let cli = parse_or_exit();
    logging::init(cli.verbose, cli.quiet, cli.log_format);
    let quiet = cli.quiet;
    let started = std::time::Instant::now();
    // `copy --summary-json`: written for every outcome, by the engine or,
    // when the run ended before it could, here.
    let summary_path = match &cli.command {
        Command::Copy(a) => a.summary_json.clone(),
        _ => None,
    };
    // A copy's arguments are resolved before the runtime starts, which is
    // sized from them.
    let command = match cli.command {
        Command::Copy(args) => Resolved::Copy(engine::config::CopyConfig::from_args(args, quiet)),
        other => Resolved::Other(other),
    };
    let parallel = match &command {
        Resolved::Copy(Ok(config)) => config.run.parallel,
        Resolved::Other(Command::Verify(a)) => a.parallel as usize,
        _ => 1,
    };
    let runtime = runtime_or_exit(parallel);
    let result = runtime.block_on(async move {
        stop::install();
        match command {
            Resolved::Copy(config) => engine::run(config?).await,
            Resolved::Other(command) => run(command, quiet).await,
        }
    });
    let (code, error_text) = exit_code_and_error(result);
    if let Some(path) = &summary_path {
        let error = error_text.or_else(|| {
            stop::signal_name()
                .map(|s| format!("stopped by {s} before the copy began: nothing was changed"))
        });
        engine::summary::write_if_unwritten(path, code, error.as_deref(), started);
    }
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    std::process::exit(code);
}

/// The command line, or the exit: psql's `-h/-p/-U` refused with the URL
/// they make, clap's errors (and `--help`, `--version`) printed.
fn parse_or_exit() -> Cli {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Some(sentence) = cli::psql_style_options(&args) {
        errln!("error: {sentence}");
        std::process::exit(exit::USAGE);
    }
    match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            std::process::exit(code);
        }
    }
}

/// The runtime for `parallel` sessions, or the exit.
fn runtime_or_exit(parallel: usize) -> tokio::runtime::Runtime {
    let mut builder = match runtime_threads(parallel) {
        // One thread runs everything: the coordinator's future too, which a
        // multi-thread runtime would keep on this thread, apart from the workers.
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    };
    match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            std::process::exit(exit::FAILURE);
        }
    }
}

/// The exit code of a run's `result`, and its error said on stderr (and
/// returned, for the summary): a signal's code wins, whatever the run made
/// of it.
fn exit_code_and_error(result: anyhow::Result<i32>) -> (i32, Option<String>) {
    match result {
        Ok(code) => (stop::exit_code().unwrap_or(code), None),
        Err(e) => {
            let code = stop::exit_code().unwrap_or_else(|| {
                e.downcast_ref::<UserError>()
                    .map(|u| u.code)
                    .unwrap_or(exit::FAILURE)
            });
            // Errors carry names and stored text other roles may have
            // written: no terminal control sequence gets through.
            let text = format!("{e:#}");
            let lines: Vec<String> = text
                .lines()
                .map(|l| pgcopy_core::quote::printable(l).into_owned())
                .collect();
            let error = lines.join("\n");
            errln!("error: {error}");
            (code, Some(error))
        }
    }
}

/// What `main` runs: a copy with its configuration resolved (the runtime is
/// sized from it), or another command. One lives in `main`, once: its
/// size does not matter.
#[allow(clippy::large_enum_variant)]
enum Resolved {
    /// `pgcopy copy`, resolved (or why its arguments cannot be).
    Copy(anyhow::Result<engine::config::CopyConfig>),
    /// Any other command, as parsed.
    Other(Command),
}

/// Runs one command to its exit code.
async fn run(command: Command, quiet: bool) -> anyhow::Result<i32> {
    match command {
        Command::Copy(args) => {
            engine::run(engine::config::CopyConfig::from_args(args, quiet)?).await
        }
        Command::List(args) => list::run(args).await,
        Command::Status(args) => status::run(args).await,
        Command::Jobs(args) => jobs::run(args).await,
        Command::Verify(args) => verify::run(args).await,
        Command::RestoreFks(args) => putback::run_restore_command(args).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            // Into memory first: the generator panics on a failed write,
            // and a reader may go away (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "pgcopy", &mut script);
            use std::io::Write as _;
            let _ = std::io::stdout().write_all(&script);
            Ok(exit::OK)
        }
        Command::Man { dir } => {
            use clap::CommandFactory;
            let written = std::fs::create_dir_all(&dir)
                .and_then(|()| clap_mangen::generate_to(Cli::command(), &dir));
            match written {
                Ok(()) => Ok(exit::OK),
                Err(e) => Err(UserError::usage(format!(
                    "cannot write the man pages into {}: {e}",
                    dir.display()
                ))
                .into()),
            }
        }
        Command::Version => {
            outln!(
                "pgcopy {} (commit {}, {})",
                env!("CARGO_PKG_VERSION"),
                env!("PGCOPY_GIT_COMMIT"),
                env!("PGCOPY_TARGET")
            );
            Ok(exit::OK)
        }
    }
}

/// A reader that stops early (`pgcopy list | head`) closes the pipe: the
/// next `println!` fails with BrokenPipe and panics. That is a normal end,
/// with nothing to say and exit code 0, as for any Unix filter.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(exit::OK);
        }
        default(info);
    }));
}

/// Runtime threads for `parallel` copy workers: one per eight. Forwarding the
/// bytes costs the client a small fraction of what the servers spend on them
/// (about 5%), so one thread keeps up with several workers, and fewer threads
/// mean far fewer wake-ups and context switches (measured on 2 cores, -p 4:
/// 16% less client CPU and 50 times fewer context switches than two threads).
fn runtime_threads(parallel: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    parallel.div_ceil(8).clamp(1, cores)
}
