//! Test failpoints: `PGCOPY_FAILPOINT=<name>` makes the process announce the
//! point on stderr and stop there (sleeping) until it is killed, so tests can
//! SIGKILL it at exactly that step. Unset in normal use: a no-op.

/// `PGCOPY_FAILPOINT`, read once: some points sit on every chunk's path.
fn setting() -> &'static str {
    static SETTING: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SETTING.get_or_init(|| std::env::var("PGCOPY_FAILPOINT").unwrap_or_default())
}

/// Stops here if `PGCOPY_FAILPOINT` names this point.
pub async fn hit(name: &str) {
    if is(name) {
        errln!("failpoint {name} reached");
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
    }
}

/// Whether `PGCOPY_FAILPOINT` names this point (a test asks for a fault
/// that does not stop the process).
pub fn is(name: &str) -> bool {
    setting() == name
}

/// With `PGCOPY_FAILPOINT=<name>:<ms>` (several joined by commas), waits
/// that many milliseconds here (to make a copy slow enough to watch);
/// otherwise returns at once.
pub async fn delay(name: &str) {
    static DELAYS: std::sync::OnceLock<Vec<(String, u64)>> = std::sync::OnceLock::new();
    let delays = DELAYS.get_or_init(|| {
        setting()
            .split(',')
            .filter_map(|p| {
                let (n, ms) = p.split_once(':')?;
                Some((n.to_string(), ms.parse().ok()?))
            })
            .collect()
    });
    if let Some((_, ms)) = delays.iter().find(|(n, _)| n == name) {
        tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
    }
}
