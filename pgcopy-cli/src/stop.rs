//! Signals, heard from start to exit in every phase: SIGINT (Ctrl-C),
//! SIGTERM and SIGHUP (a closed terminal).
//!
//! The first asks the run to stop: no new work starts (each phase asks
//! [`requested`] before it begins something, and long waits also wait on
//! [`wait`]), and the server statements registered with [`on_stop`] (loads,
//! index builds, validations) get a cancel request. The job is left as a
//! resumable one, and the run ends with 128 + the signal's number. A second
//! signal ends the process at once: what it leaves is what a `kill -9`
//! would, which the state schema is built to survive (every change is
//! recorded in the transaction that makes it).

use crate::connect::CancelHandle;
use crate::lock::Locked;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use tokio::sync::watch;

/// The signal that asked the run to stop (0: none yet; [`SETTLED`]: the run
/// had decided how it ended before any came).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// [`SIGNAL`] once a copy has decided how it ended with no stop asked
/// ([`settle`]).
const SETTLED: i32 = -1;

/// [`SIGNAL`] once a signal came after [`SETTLED`]: one more ends the
/// process at once, as a second signal always does.
const SETTLED_AND_HEARD: i32 = -2;

struct Stopper {
    /// Tells waiters a stop was asked.
    asked: watch::Sender<bool>,
    /// Connections whose running statement is cancelled on a stop.
    cancels: Mutex<HashMap<u64, CancelHandle>>,
    next: AtomicU64,
}

fn stopper() -> &'static Stopper {
    static STOPPER: OnceLock<Stopper> = OnceLock::new();
    STOPPER.get_or_init(|| Stopper {
        asked: watch::channel(false).0,
        cancels: Mutex::new(HashMap::new()),
        next: AtomicU64::new(0),
    })
}

/// The number and name of a signal pgcopy handles.
fn name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        15 => "SIGTERM",
        _ => "a signal",
    }
}

/// Starts listening, on the current tokio runtime; a signal that cannot be
/// listened to keeps its default action (it ends the process, as a `kill
/// -9` would).
pub fn install() {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        (SignalKind::interrupt(), 2),
        (SignalKind::terminate(), 15),
        (SignalKind::hangup(), 1),
    ];
    for (kind, number) in kinds {
        let Ok(mut stream) = signal(kind) else {
            tracing::debug!("cannot listen to {}", name(number));
            continue;
        };
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                heard(number).await;
            }
        });
    }
}

/// What a signal does, given [`SIGNAL`] when it came.
#[derive(Debug, PartialEq, Eq)]
enum Heard {
    /// The first: the run stops.
    First,
    /// Another: the process ends at once.
    Again,
    /// The first after the run decided how it ended: it goes on recording
    /// that end.
    AfterTheEnd,
}

fn heard_when(current: i32) -> Heard {
    match current {
        0 => Heard::First,
        SETTLED => Heard::AfterTheEnd,
        _ => Heard::Again,
    }
}

async fn heard(number: i32) {
    let before = SIGNAL
        .compare_exchange(0, number, Ordering::SeqCst, Ordering::SeqCst)
        .unwrap_or_else(|current| current);
    let mut heard = heard_when(before);
    // Unless another signal moved it on meanwhile: then this is one more.
    if heard == Heard::AfterTheEnd
        && SIGNAL
            .compare_exchange(
                SETTLED,
                SETTLED_AND_HEARD,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_err()
    {
        heard = Heard::Again;
    }
    match heard {
        Heard::First => {}
        Heard::AfterTheEnd => {
            tracing::warn!(
                "{}: the copy has ended and is recording how; a second signal stops at once",
                name(number)
            );
            return;
        }
        Heard::Again => {
            // At once. stderr may be a closed terminal.
            let _ = writeln!(
                std::io::stderr(),
                "pgcopy: {} again: stopping now; what a run had under way stays recorded in the state schema \
                 (see `pgcopy status`)",
                name(number)
            );
            // The first signal's code; after the run's end, this one's.
            std::process::exit(exit_code_for(if before > 0 { before } else { number }));
        }
    }
    tracing::warn!(
        "{}: stopping: no new work starts, running statements are cancelled, and the job stays resumable \
         (a second signal stops at once)",
        name(number)
    );
    let s = stopper();
    s.asked.send_replace(true);
    let handles: Vec<CancelHandle> = s.cancels.locked().values().cloned().collect();
    for h in handles {
        h.cancel().await;
    }
}

/// Whether a stop was asked.
pub fn requested() -> bool {
    SIGNAL.load(Ordering::SeqCst) > 0
}

/// Called once, when a copy decides how it ended: whether a stop was asked
/// before (the job then ends as stopped, and says how to resume it). With
/// none asked, a first signal that comes after changes nothing: the job's
/// state is recorded as the run came to it, and the exit code says the
/// same; a second still ends the process at once. A
/// signal there had made a finished job exit 143 without a word (found by
/// the chaos test).
pub fn settle() -> bool {
    SIGNAL
        .compare_exchange(0, SETTLED, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
}

/// The exit code for the signal that stopped the run (130 for SIGINT, 143
/// for SIGTERM, 129 for SIGHUP); `None` when none did.
pub fn exit_code() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        n if n > 0 => Some(exit_code_for(n)),
        _ => None,
    }
}

fn exit_code_for(signal: i32) -> i32 {
    128 + signal
}

/// The signal's name, for messages (`None` when none stopped the run).
pub fn signal_name() -> Option<&'static str> {
    match SIGNAL.load(Ordering::SeqCst) {
        n if n > 0 => Some(name(n)),
        _ => None,
    }
}

/// Resolves once a stop is asked (at once if it was).
pub async fn wait() {
    let mut rx = stopper().asked.subscribe();
    let _ = rx.wait_for(|asked| *asked).await;
}

/// Cancels the statement running on `handle`'s connection when a stop is
/// asked, while the returned guard lives (at once, if it was asked).
pub fn on_stop(handle: CancelHandle) -> OnStop {
    let s = stopper();
    let id = s.next.fetch_add(1, Ordering::SeqCst);
    if requested() {
        let h = handle.clone();
        tokio::spawn(async move { h.cancel().await });
    }
    s.cancels.locked().insert(id, handle);
    OnStop(id)
}

/// Keeps a connection registered with [`on_stop`].
pub struct OnStop(u64);

impl Drop for OnStop {
    fn drop(&mut self) {
        stopper().cancels.locked().remove(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(exit_code_for(2), 130);
        assert_eq!(exit_code_for(15), 143);
        assert_eq!(exit_code_for(1), 129);
        assert_eq!(name(1), "SIGHUP");
    }

    #[test]
    fn a_signal_after_the_run_settled_changes_nothing() {
        assert_eq!(heard_when(0), Heard::First);
        assert_eq!(heard_when(15), Heard::Again);
        assert_eq!(heard_when(SETTLED), Heard::AfterTheEnd);
        assert_eq!(heard_when(SETTLED_AND_HEARD), Heard::Again);
    }
}
