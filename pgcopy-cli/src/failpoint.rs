//! Test failpoints: `PGCOPY_FAILPOINT=<name>` makes the process announce the
//! point on stderr and stop there (sleeping) until it is killed, so tests can
//! SIGKILL it at exactly that step. Unset in normal use: a no-op.

/// Stops here if `PGCOPY_FAILPOINT` names this point.
pub async fn hit(name: &str) {
    if std::env::var("PGCOPY_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name} reached");
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
    }
}
