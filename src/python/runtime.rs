//! Interpreter lifecycle: initialised once per child in `child_init` (never
//! in the parent: forked interpreter state shares PRNG state and held locks),
//! through `PyConfig` with Python's signal handlers off and isolated from
//! the environment (no `PYTHON*` variables, no user site directory), then
//! the GIL is released. Beside mod_wsgi, whose `child_init` runs first and
//! may have started Python in the child, this module attaches to that
//! interpreter's main interpreter instead and changes nothing in it. Each
//! Apache worker thread keeps one persistent thread state (`thread_states`),
//! so `threading.local` data (e.g. Django's DB connections) survives
//! between requests. Every entry attaches with a non-panicking `try_attach`;
//! none does once the child has begun to exit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use authnz_core::python_home::{not_a_home, stdlib_marker, venv_mismatch};

use pyo3::prelude::*;

use crate::cpython::interpreter::{self, Home};
use crate::cpython::thread_states;

/// Settings from `WSGIPythonHome` / `WSGIPythonPath` of the main server.
#[derive(Debug, Default, Clone)]
pub struct PythonSettings {
    pub home: Option<String>,
    pub path: Vec<String>,
}

/// What was started, for the start-up log line.
pub struct StartedPython {
    pub version: String,
    pub prefix: String,
    pub library: String,
    /// mod_wsgi had started it; this module attached.
    pub attached: bool,
}

static READY: AtomicBool = AtomicBool::new(false);
/// The child has begun to exit ([`stop`]).
static STOPPED: AtomicBool = AtomicBool::new(false);

/// `major.minor` this module was built against.
pub const BUILT_PYTHON: &str = env!("AUTHNZ_WSGI_BUILT_PYTHON");

/// `major.minor` of the libpython loaded at run time (safe before init).
pub fn runtime_python_version() -> String {
    let full = interpreter::version_text();
    let number = full.split_whitespace().next().unwrap_or("");
    number.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// Make Python available in this child: attach to the interpreter mod_wsgi
/// started (`beside_mod_wsgi`), or start one. Must run once, in the child,
/// without the GIL.
pub fn start(settings: &PythonSettings, beside_mod_wsgi: bool) -> Result<StartedPython, String> {
    let started = if interpreter::is_initialized() && beside_mod_wsgi {
        attach()
    } else {
        initialize(settings)
    };
    if let Err(reason) = &started {
        *UNAVAILABLE_REASON.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason.clone());
    }
    started
}

/// Why [`start`] failed in this child, for the line of each request that
/// needed Python.
static UNAVAILABLE_REASON: Mutex<Option<String>> = Mutex::new(None);

/// Why Python is not available in this child.
pub fn unavailable_reason() -> String {
    if let Some(reason) = UNAVAILABLE_REASON
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
    {
        return reason.clone();
    }
    if STOPPED.load(Ordering::Acquire) {
        "the child is exiting".to_owned()
    } else if is_ready() {
        "this worker thread could not attach to the interpreter".to_owned()
    } else {
        "it was not started in this child (see the start-up log)".to_owned()
    }
}

/// Why `home` cannot be the home of the Python this module runs, found
/// from its files before CPython is asked (which would print its whole
/// path configuration, then fail).
fn check_home(home: &str) -> Result<(), String> {
    let dir = std::path::Path::new(home);
    match std::fs::read_to_string(dir.join("pyvenv.cfg")) {
        Ok(cfg) => venv_mismatch(home, &cfg, &runtime_python_version()).map_or(Ok(()), Err),
        Err(_) if dir.join(stdlib_marker(BUILT_PYTHON)).is_file() => Ok(()),
        Err(_) => Err(not_a_home(home, BUILT_PYTHON)),
    }
}

/// Use the interpreter mod_wsgi started in this child: its `child_init`
/// ran first and released the GIL. Nothing in it is re-configured
/// (mod_wsgi applied `WSGIPythonHome`/`WSGIPythonPath`, which it read too).
fn attach() -> Result<StartedPython, String> {
    check_runtime_version()?;
    let started = Python::try_attach(|py| {
        preload_import_machinery(py)
            .and_then(|_| describe(py))
            .map_err(|e| e.to_string())
    })
    .ok_or_else(|| "cannot attach to the interpreter mod_wsgi started".to_owned())??;
    // This (the child's main) thread keeps mod_wsgi's thread state.
    thread_states::note_initial();
    READY.store(true, Ordering::Release);
    Ok(StartedPython {
        attached: true,
        ..started
    })
}

/// Refuse a libpython of another minor version than the one built against.
fn check_runtime_version() -> Result<(), String> {
    let runtime = runtime_python_version();
    if runtime != BUILT_PYTHON {
        return Err(format!(
            "the libpython loaded at run time is Python {runtime} ({}), but mod_authnz_wsgi was built \
             against Python {BUILT_PYTHON}; rebuild the module with PYO3_PYTHON pointing at the \
             interpreter Apache loads",
            interpreter::library_path()
        ));
    }
    Ok(())
}

/// Start the interpreter in this process, isolated from the process
/// environment: `WSGIPythonHome`/`WSGIPythonPath` decide instead of any
/// `PYTHON*` variable or user site directory.
fn initialize(settings: &PythonSettings) -> Result<StartedPython, String> {
    check_runtime_version()?;
    if let Some(home) = &settings.home {
        check_home(home)?;
    }
    let venv_executable = settings.home.as_deref().and_then(venv_executable);
    let home = match (&settings.home, &venv_executable) {
        (_, Some(exe)) => Home::Executable(exe),
        (Some(home), None) => Home::Prefix(home),
        (None, None) => Home::Default,
    };
    let started = interpreter::initialize(home, |py| {
        configure_paths(py, &settings.path)
            .and_then(|_| preload_import_machinery(py))
            .and_then(|_| describe(py))
            .map_err(|e| format!("Python start-up failed: {e}"))
    })?;
    thread_states::note_initial();
    let started = started?;
    READY.store(true, Ordering::Release);
    Ok(started)
}

/// The interpreter of a virtualenv at `home` (one with a `pyvenv.cfg`):
/// `bin/pythonX.Y` of the version built against, else `bin/python3`.
fn venv_executable(home: &str) -> Option<String> {
    if !std::path::Path::new(home).join("pyvenv.cfg").is_file() {
        return None;
    }
    let exe = format!("{home}/bin/python{BUILT_PYTHON}");
    Some(if std::path::Path::new(&exe).exists() {
        exe
    } else {
        format!("{home}/bin/python3")
    })
}

/// `WSGIPythonPath`: like `site.addsitedir` (so `.pth` files work), in front.
fn configure_paths(py: Python<'_>, dirs: &[String]) -> PyResult<()> {
    if dirs.is_empty() {
        return Ok(());
    }
    let site = py.import("site")?;
    let sys_path = py.import("sys")?.getattr("path")?;
    let before: Vec<String> = sys_path.extract()?;
    for dir in dirs {
        site.call_method1("addsitedir", (dir,))?;
    }
    let after: Vec<String> = sys_path.extract()?;
    let mut ordered: Vec<String> = after
        .iter()
        .filter(|p| !before.contains(p))
        .cloned()
        .collect();
    ordered.extend(before);
    sys_path.call_method1("__setitem__", (pyo3::types::PySlice::full(py), ordered))?;
    Ok(())
}

/// Import `importlib` and its submodules now, on the child's only thread.
/// Python does not import them at start-up, and CPython (3.11 at least)
/// lets a thread import a submodule such as `importlib.util` while another
/// thread is still running the package's `__init__`: the submodule's
/// `from ._bootstrap import ...` then loads a second, never set-up copy of
/// the frozen `importlib._bootstrap` and binds it as `importlib._bootstrap`,
/// after which every `importlib.import_module` in the interpreter fails
/// with `NameError: name 'sys' is not defined`. Django's first imports on
/// two worker threads at once (two scripts, or a script and mod_wsgi's
/// application) could do exactly that.
fn preload_import_machinery(py: Python<'_>) -> PyResult<()> {
    for name in ["importlib", "importlib.util", "importlib.machinery"] {
        py.import(name)?;
    }
    Ok(())
}

fn describe(py: Python<'_>) -> PyResult<StartedPython> {
    let sys = py.import("sys")?;
    Ok(StartedPython {
        version: sys
            .getattr("version")?
            .extract::<String>()?
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_owned(),
        prefix: sys.getattr("prefix")?.extract()?,
        library: interpreter::library_path(),
        attached: false,
    })
}

/// Whether Python is available in this child.
pub fn is_ready() -> bool {
    READY.load(Ordering::Acquire)
}

/// As the child exits: no Python call starts any more, and the thread-state
/// releaser stops (mod_wsgi may finalise the interpreter next).
pub fn stop() {
    READY.store(false, Ordering::Release);
    STOPPED.store(true, Ordering::Release);
    thread_states::stop_releasing();
}

/// Run `f` with the GIL on this thread's persistent thread state; `None`
/// when Python is not available in this child.
pub fn with_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    if !is_ready() {
        return None;
    }
    if !thread_states::ensure() {
        return None;
    }
    Python::try_attach(f)
}

/// Give this worker thread its persistent thread state now (see
/// `cpython::thread_states::ensure`); false where it may not call Python.
pub fn prepare_thread() -> bool {
    thread_states::ensure()
}
