//! Mutexes that a panic elsewhere cannot make fatal: the state they guard
//! (queues, counters, cancel handles) stays usable when a thread that held
//! the lock panicked, and taking it never panics in turn.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// `lock()` that takes a poisoned mutex as it is.
pub trait Locked<T> {
    /// The guard, poisoned or not.
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
