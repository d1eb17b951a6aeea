//! The cap on concurrent Python calls in one child (`WSGIMaxConcurrentCalls`):
//! beyond it a request is refused at once instead of queueing behind a slow
//! or hung script, so a stuck backend cannot tie up every worker thread.

use std::sync::atomic::{AtomicUsize, Ordering};

static CAP: AtomicUsize = AtomicUsize::new(usize::MAX);
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Set the cap for this child (called once in `child_init`).
pub fn set_cap(cap: usize) {
    CAP.store(cap.max(1), Ordering::Relaxed);
}

pub fn cap() -> usize {
    CAP.load(Ordering::Relaxed)
}

/// A slot for one call; released on drop.
pub struct CallSlot(());

impl CallSlot {
    /// Take a slot, or `None` when `cap()` calls are already running.
    pub fn acquire() -> Option<CallSlot> {
        let cap = cap();
        IN_FLIGHT
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then_some(n + 1)
            })
            .ok()
            .map(|_| CallSlot(()))
    }
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}
