//! The per-location time limit for Python calls (`WSGIScriptTimeout`).
//!
//! A call registers its Python thread id and deadline; a watchdog thread
//! (started on first use in the child) raises `ScriptTimeout` — a
//! `BaseException` subclass, so `except Exception:` in a script does not
//! swallow it — in a call that overruns, with `PyThreadState_SetAsyncExc`.
//! That interrupts Python code at its next bytecode; it cannot interrupt a
//! blocking C call (`time.sleep`, a socket read without a timeout, a C
//! extension's loop): such a call is stopped as soon as it returns to the
//! interpreter. A call that overran is answered as an error even if it
//! returns a value afterwards.
//!
//! Lock order: the GIL, then the registry lock (the watchdog takes the GIL
//! before the lock when it fires).
//!
//! The watchdog looks every [`TICK`] while calls with a limit run. When
//! none has run for [`IDLE_TICKS`] ticks it parks until the next call with
//! a limit starts, so an idle child does not wake 20 times a second. A
//! call pays one atomic load for this (a read, so worker threads on other
//! cores do not contend for the flag); only the first call after the
//! watchdog parked swaps it and wakes it.

use authnz_core::log_tags as tags;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crate::cpython::threads;
use once_cell::sync::OnceCell;
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::httpd::log::Level;
use crate::slog;

/// How often the watchdog looks at the running calls.
const TICK: Duration = Duration::from_millis(50);
/// Ticks without a running call after which the watchdog parks.
const IDLE_TICKS: u32 = 20;

struct RunningCall {
    thread_id: u64,
    deadline: Instant,
    fired: bool,
    /// Another thread state had the same id when the timeout was raised
    /// (logged once; raised again on the next look).
    collided: bool,
}

/// The running calls with a limit, by id: at most one per worker thread, so
/// a list scanned in full is cheaper than hashing.
static CALLS: Mutex<Vec<(u64, RunningCall)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static EXCEPTION: OnceCell<Py<PyType>> = OnceCell::new();
/// The watchdog thread, once started.
static WATCHDOG: OnceCell<Thread> = OnceCell::new();
/// Set by the watchdog before it parks; a starting call that swaps it back
/// to false wakes it.
static PARKED: AtomicBool = AtomicBool::new(false);

/// A registered call; [`TimedCall::finish`] tells whether it overran.
pub struct TimedCall {
    id: u64,
}

fn exception_type(py: Python<'_>) -> PyResult<&Py<PyType>> {
    EXCEPTION.get_or_try_init(|| {
        let builtins = py.import("builtins")?;
        let base = builtins.getattr("BaseException")?;
        let kind = builtins.getattr("type")?.call1((
            "ScriptTimeout",
            (base,),
            pyo3::types::PyDict::new(py),
        ))?;
        kind.setattr("__module__", "authnz_wsgi")?;
        Ok(kind.cast_into::<PyType>()?.unbind())
    })
}

fn start_watchdog() {
    static START: Once = Once::new();
    START.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("authnz-wsgi-watchdog".into())
            .spawn(watch);
        // Without a watchdog calls simply run unbounded; nothing to unwind.
        if let Ok(handle) = spawned {
            let _ = WATCHDOG.set(handle.thread().clone());
        }
    });
}

fn watch() {
    let mut idle_ticks = 0;
    loop {
        std::thread::sleep(TICK);
        if fire_expired() {
            idle_ticks = 0;
            continue;
        }
        idle_ticks += 1;
        if idle_ticks < IDLE_TICKS {
            continue;
        }
        PARKED.store(true, Ordering::SeqCst);
        // A call registered before the flag was set is seen here; one
        // registered after it swaps the flag and unparks, and park()
        // returns at once when that unpark came before it.
        if no_calls() {
            while PARKED.load(Ordering::SeqCst) {
                std::thread::park();
            }
        } else {
            PARKED.store(false, Ordering::SeqCst);
        }
        idle_ticks = 0;
    }
}

fn no_calls() -> bool {
    CALLS.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
}

/// Wake the watchdog if it parked (a call with a limit was just registered).
fn wake_watchdog() {
    // The load sees `true` whenever the watchdog parked before this call
    // was registered: its store precedes its own look at CALLS, which would
    // otherwise have seen this call.
    if PARKED.load(Ordering::SeqCst) && PARKED.swap(false, Ordering::SeqCst) {
        if let Some(thread) = WATCHDOG.get() {
            thread.unpark();
        }
    }
}

/// Raise the timeout in every call past its deadline; returns whether any
/// call with a limit was running.
fn fire_expired() -> bool {
    let now = Instant::now();
    let (any_running, any_expired) = {
        let calls = CALLS.lock().unwrap_or_else(|e| e.into_inner());
        let expired = calls.iter().any(|(_, c)| !c.fired && c.deadline <= now);
        (!calls.is_empty(), expired)
    };
    if !any_expired {
        return any_running;
    }
    let _ = crate::python::runtime::with_python(|py| {
        let Some(kind) = EXCEPTION.get() else { return };
        let mut calls = CALLS.lock().unwrap_or_else(|e| e.into_inner());
        for (_, call) in calls
            .iter_mut()
            .filter(|(_, c)| !c.fired && c.deadline <= now)
        {
            // The id is a thread that is inside a registered call (entries
            // are removed, under the GIL, before the call's thread runs any
            // other Python code).
            let modified = threads::raise_in(py, call.thread_id, Some(kind.bind(py).as_any()));
            if modified <= 1 {
                call.fired = true;
                continue;
            }
            // CPython's contract: more than one thread state was hit; undo.
            // The other is the state of an ended thread with the same id,
            // about to be deleted (`thread_states`): raise again next time.
            threads::raise_in(py, call.thread_id, None);
            if !call.collided {
                call.collided = true;
                slog!(
                    None,
                    Level::Warning,
                    tags::TIMEOUT_THREAD_COLLISION,
                    "WSGIScriptTimeout: Python thread id {} matched {modified} thread states \
                     (one of an ended thread); the timeout is raised again once it is released",
                    call.thread_id
                );
            }
        }
    });
    true
}

/// Whether `err` is the exception the watchdog raises.
pub fn is_timeout(py: Python<'_>, err: &PyErr) -> bool {
    EXCEPTION
        .get()
        .is_some_and(|kind| err.get_type(py).is(kind.bind(py)))
}

impl TimedCall {
    /// Register the current thread's call with `limit`; `None` = no limit.
    pub fn start(py: Python<'_>, limit: Option<Duration>) -> Option<TimedCall> {
        let limit = limit?;
        exception_type(py).ok()?;
        start_watchdog();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let thread_id = threads::current_ident();
        let call = RunningCall {
            thread_id,
            deadline: Instant::now() + limit,
            fired: false,
            collided: false,
        };
        CALLS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((id, call));
        wake_watchdog();
        Some(TimedCall { id })
    }

    /// Unregister; true when the limit was reached. Any timeout exception
    /// still pending for this thread is withdrawn so it cannot hit a later call.
    pub fn finish(self, py: Python<'_>) -> bool {
        let mut calls = CALLS.lock().unwrap_or_else(|e| e.into_inner());
        let Some(at) = calls.iter().position(|(id, _)| *id == self.id) else {
            return false;
        };
        let (_, call) = calls.swap_remove(at);
        if call.fired {
            // Returns how many thread states had one pending: 0 (already
            // raised) and 1 are both the expected outcome.
            let _withdrawn = threads::raise_in(py, call.thread_id, None);
        }
        call.fired
    }
}
