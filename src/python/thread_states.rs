//! The persistent Python thread state of each Apache worker thread
//! (SPEC §4), and its release when the thread ends.
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

/// Thread states of threads that ended (as addresses), to delete.
static ENDED: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static HANDED_OVER: Condvar = Condvar::new();

impl Drop for Owned {
    fn drop(&mut self) {
        // Runs as the thread ends (its thread-local destructors), without
        // the GIL: only the hand-over happens here.
        ENDED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.0 as usize);
        HANDED_OVER.notify_one();
    }
}

/// What this thread holds: nothing yet, the state of the thread that
/// started Python (kept for the child's life), or its own.
enum Held {
    None,
    Initial,
    Own(#[allow(dead_code)] Owned),
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
/// keeps `PyGILState_Release` from deleting it after each call. Must be
/// called without the GIL, once Python is initialised.
pub fn ensure() {
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        if !matches!(*held, Held::None) {
            return;
        }
        // SAFETY: the interpreter is initialised (the caller's contract);
        // the thread takes the GIL with a new thread state, then releases
        // the GIL while keeping the state, whose address is returned.
        let state = unsafe {
            pyffi::PyGILState_Ensure();
            pyffi::PyEval_SaveThread()
        };
        *held = Held::Own(Owned(state));
    });
}

/// The releaser: waits for handed-over states and deletes them.
fn release_ended() {
    loop {
        let ended = {
            let mut list = ENDED.lock().unwrap_or_else(|e| e.into_inner());
            while list.is_empty() {
                list = HANDED_OVER.wait(list).unwrap_or_else(|e| e.into_inner());
            }
            std::mem::take(&mut *list)
        };
        // SAFETY: the interpreter was initialised before this thread
        // started and is never finalised. This thread takes the GIL on a
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
