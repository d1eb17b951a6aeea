//! Which of a daemon process's serving threads wait for frames. Calls are
//! usually short and Python runs one at a time under the GIL, so waking a
//! fresh thread for every frame that arrives while another thread answers
//! costs a context switch (and a GIL hand-over) per call. So one thread
//! waits on the ready set; a thread that has answered becomes that waiter
//! again when there is none, and finds the frames that arrived meanwhile
//! without sleeping. The rest park, one of them on standby: when the calls
//! under way leave no waiter for [`PROMOTE_AFTER`] (a call blocked in I/O,
//! a long one), the standby becomes a waiter too, and another parked
//! thread takes the standby's place. All `threads=` calls can thus run at
//! once, and a call never waits more than about [`PROMOTE_AFTER`] for a
//! thread while one is free.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::apr::wake_timer::WakeTimer;

/// How long the threads that answer may leave new frames without a waiter
/// before the standby thread becomes one.
pub const PROMOTE_AFTER: Duration = Duration::from_millis(1);

#[derive(Default)]
struct State {
    /// Threads waiting on the ready set (or about to).
    waiting: usize,
    /// Whether a thread is on standby (blocked on the timer).
    standby: bool,
    /// Threads parked on the condition variable.
    parked: usize,
}

/// The turn-taking of one process's serving threads.
pub struct Turns {
    state: Mutex<State>,
    parked: Condvar,
    timer: WakeTimer,
}

impl Turns {
    pub fn new() -> std::io::Result<Turns> {
        Ok(Turns {
            state: Mutex::new(State::default()),
            parked: Condvar::new(),
            timer: WakeTimer::new()?,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Return when this thread may wait on the ready set: at once when no
    /// thread waits there, else after parking (on standby, until the timer
    /// expires; or until another thread's standby ends).
    pub fn wait_for_turn(&self) {
        let mut state = self.lock();
        loop {
            if state.waiting == 0 {
                state.waiting = 1;
                self.timer.disarm();
                // A parked thread moves to the empty standby.
                if !state.standby && state.parked > 0 {
                    self.parked.notify_one();
                }
                return;
            }
            if !state.standby {
                state.standby = true;
                drop(state);
                self.timer.wait();
                state = self.lock();
                state.standby = false;
                state.waiting += 1;
                // Another parked thread takes the standby.
                self.parked.notify_one();
                return;
            }
            state.parked += 1;
            state = self.parked.wait(state).unwrap_or_else(|e| e.into_inner());
            state.parked -= 1;
        }
    }

    /// This thread took a frame and stops waiting; if it was the last
    /// waiter and a thread is on standby, the standby comes in unless a
    /// thread waits again within [`PROMOTE_AFTER`].
    pub fn took(&self) {
        let mut state = self.lock();
        state.waiting = state.waiting.saturating_sub(1);
        if state.waiting == 0 && state.standby {
            self.timer.arm(PROMOTE_AFTER);
        }
    }
}
