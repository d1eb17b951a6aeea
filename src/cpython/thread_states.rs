//! The persistent Python thread state of each Apache worker thread
//! (docs/how-it-runs.md), and its release when the thread ends.
//!
//! A worker thread gets one thread state the first time it calls Python and
//! keeps it between requests, so `threading.local` data (Django's database
//! connections) survives. Threads do end before their child does: mod_http2
//! retires idle workers (`H2MaxWorkerIdleSeconds`), and thread ids are then
//! reused. A state left behind would keep its `threading.local` data alive
//! for ever and share its thread id with a later thread, so
//! `PyThreadState_SetAsyncExc` (the `WSGIScriptTimeout` watchdog) would
//! find two states for one id.
//!
//! An ending thread only hands its state over: taking the GIL there could
//! wait on a stuck call, and would run the state's finalizers while the
//! thread's own thread-locals are being torn down. A releaser thread,
//! started with the interpreter, takes the GIL on a thread state of its
//! own, clears and deletes the handed-over states (their `threading.local`
//! data is released then), and deletes its own state again. It never keeps
//! a state between rounds: from Python 3.12 on, deleting another thread's
//! state unbinds the `PyGILState` slot of the thread that deletes it, which
//! is harmless only for a state that is deleted right after.

use std::cell::RefCell;
use std::sync::{Condvar, Mutex};

use pyo3::ffi as pyffi;

/// A thread's own state: handed over for deletion when the thread ends.
struct Owned(*mut pyffi::PyThreadState);

/// Thread states of threads that ended (as addresses), to delete, and
/// whether the releaser has stopped.
static ENDED: Mutex<Ended> = Mutex::new(Ended {
    states: Vec::new(),
    stopped: false,
});
static HANDED_OVER: Condvar = Condvar::new();
/// Held by the releaser while it has the GIL.
static ROUND: Mutex<()> = Mutex::new(());

struct Ended {
    states: Vec<usize>,
    /// The child is exiting: the interpreter may be finalised.
    stopped: bool,
}

impl Drop for Owned {
    fn drop(&mut self) {
        // Runs as the thread ends (its thread-local destructors), without
        // the GIL: only the hand-over happens here.
        ENDED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .states
            .push(self.0 as usize);
        HANDED_OVER.notify_one();
    }
}

/// What this thread holds: nothing yet, the state of the thread that
/// started Python (kept for the child's life), its own, or — where another
/// embedder gave the thread a state in one of its sub-interpreters first —
/// none it may use.
enum Held {
    None,
    Initial,
    Own(#[allow(dead_code)] Owned),
    Foreign,
}

thread_local! {
    static HELD: RefCell<Held> = const { RefCell::new(Held::None) };
}

/// The thread that initialised Python keeps the state it was given; the
/// releaser starts. Called once, without the GIL, right after start-up.
pub fn note_initial() {
    HELD.with(|held| *held.borrow_mut() = Held::Initial);
    // Without a releaser, ended threads' states are only kept, as before.
    let _ = std::thread::Builder::new()
        .name("authnz-wsgi-tstate".into())
        .spawn(release_ended);
}

/// Give this worker thread its persistent thread state the first time it
/// calls Python: `PyGILState_Ensure` creates it, and the count taken here
/// keeps `PyGILState_Release` from deleting it after each call. Returns
/// whether the thread may call Python: its `PyGILState` state must belong
/// to the main interpreter (beside mod_wsgi, a thread whose first state was
/// made in one of mod_wsgi's sub-interpreters may not; `create_request`
/// makes ours first). Must be called without the GIL, once Python is
/// initialised.
pub fn ensure() -> bool {
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        match *held {
            Held::Initial | Held::Own(_) => return true,
            Held::Foreign => return false,
            Held::None => {}
        }
        // SAFETY: the interpreter is initialised (the caller's contract);
        // the thread takes the GIL with its PyGILState thread state (made
        // now, in the main interpreter, unless the thread already has one),
        // then releases the GIL while keeping the state.
        let (state, main) = unsafe {
            pyffi::PyGILState_Ensure();
            let state = pyffi::PyThreadState_Get();
            let main =
                pyffi::PyThreadState_GetInterpreter(state) == pyffi::PyInterpreterState_Main();
            (pyffi::PyEval_SaveThread(), main)
        };
        if !main {
            // Not ours to keep: give back the count taken above.
            // SAFETY: the matching release of the ensure above, without
            // the GIL, which PyGILState_Release takes itself.
            unsafe {
                pyffi::PyEval_RestoreThread(state);
                pyffi::PyGILState_Release(pyffi::PyGILState_STATE::PyGILState_UNLOCKED);
            }
            *held = Held::Foreign;
            return false;
        }
        *held = Held::Own(Owned(state));
        true
    })
}

/// As the child exits: hand-overs are no longer released, and a round in
/// progress is waited for.
pub fn stop_releasing() {
    ENDED.lock().unwrap_or_else(|e| e.into_inner()).stopped = true;
    HANDED_OVER.notify_one();
    drop(ROUND.lock().unwrap_or_else(|e| e.into_inner()));
}

/// The releaser: waits for handed-over states and deletes them.
fn release_ended() {
    loop {
        let (ended, _round) = {
            let mut list = ENDED.lock().unwrap_or_else(|e| e.into_inner());
            while list.states.is_empty() && !list.stopped {
                list = HANDED_OVER.wait(list).unwrap_or_else(|e| e.into_inner());
            }
            if list.stopped {
                return;
            }
            // Taken before the list is let go: `stop_releasing` either sets
            // the flag first, or waits for this round to end.
            let round = ROUND.lock().unwrap_or_else(|e| e.into_inner());
            (std::mem::take(&mut list.states), round)
        };
        // SAFETY: the interpreter was initialised before this thread
        // started, and is not finalised before `stop_releasing` returned
        // (mod_wsgi finalises it only after this module's child cleanup,
        // which waits for this round). This thread takes the GIL on a
        // state made for this round; every handed-over state belonged to a
        // thread that has ended, so it is not current anywhere and runs no
        // code: clearing it (which may run Python finalizers here) and
        // deleting it are allowed with the GIL held. The round's own state
        // is then cleared and deleted as the current one, which releases
        // the GIL.
        unsafe {
            let own = pyffi::PyThreadState_New(pyffi::PyInterpreterState_Main());
            if own.is_null() {
                // Out of memory: keep them for a later round.
                ENDED
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .states
                    .extend(ended);
                std::thread::sleep(std::time::Duration::from_secs(1));
                continue;
            }
            pyffi::PyEval_RestoreThread(own);
            for state in ended {
                let state = state as *mut pyffi::PyThreadState;
                pyffi::PyThreadState_Clear(state);
                pyffi::PyThreadState_Delete(state);
            }
            pyffi::PyThreadState_Clear(own);
            pyffi::PyThreadState_DeleteCurrent();
        }
    }
}
