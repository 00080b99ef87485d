//! Lock waits said out loud: a session of this run that waits for a lock for
//! more than a second is logged with the table, and the pid and application
//! of the sessions it waits for; again every ten seconds while it waits. A
//! wait is otherwise silent (a `LOCK` or `TRUNCATE` behind a long
//! transaction looks like a hang). `--lock-wait-timeout` bounds the wait.

use crate::connect::Endpoint;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The waits of this run's sessions (by `application_name`, `$1` a `LIKE`
/// pattern) longer than a second: (waiting pid, relation or what it waits
/// for, seconds, who holds it).
const WAITS_SQL: &str = include_str!("../../sql/lock_waits.sql");

/// Watches `endpoint`'s sessions of this run until dropped.
pub struct LockWatch(tokio::task::JoinHandle<()>);

impl Drop for LockWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts watching the sessions of this run on `endpoint` (on a connection
/// of its own, opened at the first look).
pub fn watch(endpoint: &Endpoint) -> LockWatch {
    let endpoint = endpoint.clone();
    LockWatch(tokio::spawn(async move {
        let Ok(conn) = endpoint.connect("lock watcher").await else {
            return;
        };
        let pattern = endpoint.application_pattern();
        let mut said: HashMap<(i32, String), Instant> = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let rows = match conn.query(WAITS_SQL, &[&pattern]).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::debug!("the lock watcher stops: {e}");
                    return;
                }
            };
            let mut waiting = Vec::new();
            for r in &rows {
                let (Ok(pid), Ok(what), Ok(secs), Ok(holders)) = (
                    r.try_get::<_, i32>(0),
                    r.try_get::<_, String>(1),
                    r.try_get::<_, f64>(2),
                    r.try_get::<_, String>(3),
                ) else {
                    continue;
                };
                let key = (pid, what.clone());
                let due = said
                    .get(&key)
                    .is_none_or(|last| last.elapsed() >= Duration::from_secs(10));
                if due {
                    tracing::warn!(
                        "the {} has waited {secs:.0} s for a lock on {what}{} (--lock-wait-timeout bounds \
                         the wait)",
                        endpoint.role,
                        match holders.is_empty() {
                            true => String::new(),
                            false => format!(", held by session {holders}"),
                        }
                    );
                    said.insert(key.clone(), Instant::now());
                }
                waiting.push(key);
            }
            said.retain(|k, _| waiting.contains(k));
        }
    }))
}
