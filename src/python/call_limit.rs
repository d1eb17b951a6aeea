//! The cap on concurrent Python calls in one child (`WSGIMaxConcurrentCalls`).
//! A call beyond the cap waits a short, bounded time for a running call to
//! finish; when none does, the request is refused instead of queueing behind
//! a slow or hung script, so a stuck backend cannot tie up every worker
//! thread. Healthy calls finish in far less than the wait, so a busy child
//! whose threads merely take turns on the GIL is never refused.

use std::cell::Cell;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long a call beyond the cap waits for a slot unless configured.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(1);

struct Limit {
    cap: usize,
    wait: Duration,
    in_flight: usize,
    /// Calls blocked in `acquire`: a release wakes one only when there is
    /// one (a condition-variable notification is a system call even when
    /// nobody waits, and releases happen on every call).
    waiting: usize,
}

static LIMIT: Mutex<Limit> = Mutex::new(Limit {
    cap: usize::MAX,
    wait: DEFAULT_WAIT,
    in_flight: 0,
    waiting: 0,
});
static SLOT_FREED: Condvar = Condvar::new();

fn lock() -> MutexGuard<'static, Limit> {
    // The counter stays consistent even if a holder panicked: every update
    // is a single assignment.
    LIMIT.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Set the cap and the wait for this child (called once in `child_init`).
pub fn configure(cap: usize, wait: Duration) {
    let mut limit = lock();
    limit.cap = cap.max(1);
    limit.wait = wait;
}

pub fn cap() -> usize {
    lock().cap
}

pub fn wait() -> Duration {
    lock().wait
}

/// A slot for one call; released on drop. It also notes whether the call
/// made under it ran out of `WSGIScriptTimeout` (for the live figures).
pub struct CallSlot {
    timed_out: Cell<bool>,
}

impl CallSlot {
    /// Take a slot, waiting up to the configured time for one to be freed;
    /// `None` when `cap()` calls are still running after that. Must be
    /// called without the GIL held, so the running calls can finish.
    pub fn acquire() -> Option<CallSlot> {
        let mut limit = lock();
        let mut deadline = None;
        while limit.in_flight >= limit.cap {
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + limit.wait);
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            limit.waiting += 1;
            limit = SLOT_FREED
                .wait_timeout(limit, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            limit.waiting -= 1;
        }
        limit.in_flight += 1;
        Some(CallSlot {
            timed_out: Cell::new(false),
        })
    }

    /// The call made under this slot reached `WSGIScriptTimeout`.
    pub fn note_timeout(&self) {
        self.timed_out.set(true);
    }

    /// Whether a call made under this slot reached `WSGIScriptTimeout`.
    pub fn timed_out(&self) -> bool {
        self.timed_out.get()
    }
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        let mut limit = lock();
        limit.in_flight -= 1;
        let someone_waits = limit.waiting > 0;
        drop(limit);
        if someone_waits {
            SLOT_FREED.notify_one();
        }
    }
}
