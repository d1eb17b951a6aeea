//! Script loading and reloading (docs/how-it-runs.md). One module per (application
//! group, path), named `_authnz_wsgi_<md5>`, loaded on first use, re-loaded
//! when its mtime changes (checked at most once a second). Each script has
//! its own lock, taken with the GIL released, so a slow import blocks only
//! callers of that script. A failed load is logged with its traceback and
//! retried on a later request (again at most once a second); every request
//! the script fails after that gets one short line naming the script and
//! the reason, the traceback again only when the failure changed. A
//! missing function is reported the same way. The first load installs
//! the error-log `sys.stdout`/`sys.stderr` (`std_streams`), so what a
//! script prints at import time is logged too.

use authnz_core::log_tags as tags;
use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use authnz_core::short_bytes::same_bytes;
use md5::{Digest, Md5};
use once_cell::sync::Lazy;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::{PyModule, PyString};

use crate::httpd::log::Level;
use crate::python::errors::{describe, log_exception};
use crate::python::log_sink::LogSink;
use crate::python::std_streams;
use crate::sink_log;

/// How often a script's modification time is looked at.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Clone, PartialEq, Eq, Hash)]
struct ScriptKey {
    application_group: String,
    path: String,
}

struct LoadedScript {
    module: Py<PyModule>,
    mtime: SystemTime,
    /// Functions already reported missing for this load (logged once per load).
    reported_missing: HashSet<&'static str>,
}

#[derive(Default)]
struct ScriptState {
    loaded: Option<LoadedScript>,
    /// When the mtime (or a failed load) was last looked at.
    last_check: Option<Instant>,
    /// The last load attempt failed; its error was logged then.
    failed: bool,
    /// Why it failed (one line), for the line of each request it fails.
    failure: Option<String>,
    /// The script's mtime at that failure (`None`: it could not be read).
    failed_mtime: Option<SystemTime>,
}

impl ScriptState {
    fn fail(&mut self, reason: String, mtime: Option<SystemTime>) {
        self.loaded = None;
        self.failed = true;
        self.failure = Some(reason);
        self.failed_mtime = mtime;
    }

    /// Whether a load that failed with `reason` failed as the last one did,
    /// on the same file: its traceback is logged already.
    fn fails_again(&self, reason: &str, mtime: SystemTime) -> bool {
        self.failed && self.failed_mtime == Some(mtime) && self.failure.as_deref() == Some(reason)
    }
}

/// One script in one application group: its identity and its load state.
struct ScriptEntry {
    key: ScriptKey,
    state: Mutex<ScriptState>,
}

/// Entries by script path, then application group: a lookup borrows the
/// request's strings and allocates nothing.
type Registry = Mutex<HashMap<String, HashMap<String, Arc<ScriptEntry>>>>;
static SCRIPTS: Lazy<Registry> = Lazy::new(|| Mutex::new(HashMap::new()));

/// A script function could not be obtained; the reason is already logged.
#[derive(Debug)]
pub struct ScriptUnavailable;

fn module_name(key: &ScriptKey) -> String {
    let mut hasher = Md5::new();
    hasher.update(key.application_group.as_bytes());
    hasher.update([0u8]);
    hasher.update(key.path.as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("_authnz_wsgi_{hex}")
}

thread_local! {
    /// The entry this thread used last: most calls on a thread are for the
    /// same script. Entries are never removed from [`SCRIPTS`].
    static LAST_ENTRY: std::cell::RefCell<Option<Arc<ScriptEntry>>> =
        const { std::cell::RefCell::new(None) };
}

/// Application groups one script may run in per child. Named groups come
/// from the configuration, but `%{HOST}` under a wildcard `ServerAlias`
/// lets clients choose names: each new one loads another copy of the
/// script, which is never dropped.
pub const MAX_GROUPS_PER_SCRIPT: usize = 64;

/// The script already runs in [`MAX_GROUPS_PER_SCRIPT`] groups.
struct TooManyGroups;

fn entry_for(
    py: Python<'_>,
    path: &str,
    application_group: &str,
) -> Result<Arc<ScriptEntry>, TooManyGroups> {
    let last = LAST_ENTRY.with(|last| {
        last.borrow()
            .as_ref()
            .filter(|e| {
                same_bytes(e.key.path.as_bytes(), path.as_bytes())
                    && same_bytes(
                        e.key.application_group.as_bytes(),
                        application_group.as_bytes(),
                    )
            })
            .cloned()
    });
    if let Some(entry) = last {
        return Ok(entry);
    }
    let entry = registered_entry(py, path, application_group)?;
    LAST_ENTRY.with(|last| *last.borrow_mut() = Some(entry.clone()));
    Ok(entry)
}

fn registered_entry(
    py: Python<'_>,
    path: &str,
    application_group: &str,
) -> Result<Arc<ScriptEntry>, TooManyGroups> {
    let mut scripts = SCRIPTS
        .lock_py_attached(py)
        .unwrap_or_else(|e| e.into_inner());
    if let Some(entry) = scripts
        .get(path)
        .and_then(|groups| groups.get(application_group))
    {
        return Ok(entry.clone());
    }
    if scripts
        .get(path)
        .is_some_and(|groups| groups.len() >= MAX_GROUPS_PER_SCRIPT)
    {
        return Err(TooManyGroups);
    }
    let entry = Arc::new(ScriptEntry {
        key: ScriptKey {
            application_group: application_group.to_owned(),
            path: path.to_owned(),
        },
        state: Mutex::new(ScriptState::default()),
    });
    scripts
        .entry(path.to_owned())
        .or_default()
        .insert(application_group.to_owned(), entry.clone());
    Ok(entry)
}

/// An application group as the configuration writes it: the global
/// group (the empty name inside the module) is `%{GLOBAL}`.
pub fn group_label(group: &str) -> &str {
    if group.is_empty() {
        "%{GLOBAL}"
    } else {
        group
    }
}

/// The callable `function` of the script at `path` in `application_group`.
pub fn function<'py>(
    py: Python<'py>,
    log: LogSink,
    path: &str,
    application_group: &str,
    function: &'static str,
    reloading: bool,
) -> Result<Bound<'py, PyAny>, ScriptUnavailable> {
    let Ok(entry) = entry_for(py, path, application_group) else {
        sink_log!(
            log,
            Level::Error,
            tags::TOO_MANY_APPLICATION_GROUPS,
            "script '{}' already runs in {MAX_GROUPS_PER_SCRIPT} application groups in this \
             child; application group '{}' is refused (with \
             application-group=%{{HOST}}, every host name a wildcard ServerAlias admits is a \
             group of its own)",
            path,
            group_label(application_group)
        );
        return Err(ScriptUnavailable);
    };
    let key = &entry.key;
    let mut state = entry
        .state
        .lock_py_attached(py)
        .unwrap_or_else(|e| e.into_inner());
    refresh(py, log, key, &mut state, reloading)?;
    let Some(loaded) = state.loaded.as_mut() else {
        return Err(ScriptUnavailable);
    };
    let module = loaded.module.bind(py);
    match module.getattr(function_name(py, function)) {
        Ok(callable) if callable.is_callable() => Ok(callable),
        found => {
            let what = if found.is_ok() {
                "is not callable"
            } else {
                "is not defined"
            };
            if loaded.reported_missing.insert(function) {
                sink_log!(
                    log,
                    Level::Error,
                    tags::FUNCTION_MISSING,
                    "script '{}' loaded, but {function} {what} in it",
                    key.path
                );
            } else {
                sink_log!(
                    log,
                    Level::Error,
                    tags::FUNCTION_MISSING,
                    "script '{}' cannot answer: {function} {what} in it",
                    key.path
                );
            }
            Err(ScriptUnavailable)
        }
    }
}

/// The attribute name of a script function, interned once per process for
/// the four functions the module calls.
fn function_name<'py>(py: Python<'py>, function: &'static str) -> Bound<'py, PyString> {
    match function {
        "check_password" => intern!(py, "check_password").clone(),
        "get_realm_hash" => intern!(py, "get_realm_hash").clone(),
        "groups_for_user" => intern!(py, "groups_for_user").clone(),
        "allow_access" => intern!(py, "allow_access").clone(),
        other => PyString::new(py, other),
    }
}

/// Load, re-load or keep the script, according to its mtime and the last check.
fn refresh(
    py: Python<'_>,
    log: LogSink,
    key: &ScriptKey,
    state: &mut ScriptState,
    reloading: bool,
) -> Result<(), ScriptUnavailable> {
    let now = Instant::now();
    let recently_checked = state
        .last_check
        .is_some_and(|t| now.duration_since(t) < CHECK_INTERVAL);
    if state.loaded.is_some() && (!reloading || recently_checked) {
        return Ok(());
    }
    if state.failed && recently_checked {
        sink_log!(
            log,
            Level::Error,
            tags::SCRIPT_STILL_FAILING,
            "script '{}' cannot be used: {} (tried again at most once a second)",
            key.path,
            state.failure.as_deref().unwrap_or("it failed to load")
        );
        return Err(ScriptUnavailable);
    }
    state.last_check = Some(now);
    let mtime = match std::fs::metadata(&key.path).and_then(|m| m.modified()) {
        Ok(mtime) => mtime,
        Err(e) => {
            state.fail(format!("cannot access it: {e}"), None);
            sink_log!(
                log,
                Level::Error,
                tags::SCRIPT_UNREADABLE,
                "cannot access script '{}': {e}",
                key.path
            );
            return Err(ScriptUnavailable);
        }
    };
    if state.loaded.as_ref().is_some_and(|l| l.mtime == mtime) {
        return Ok(());
    }
    let reloading_existing = state.loaded.is_some();
    match load(py, key) {
        Ok(module) => {
            sink_log!(
                log,
                Level::Info,
                tags::SCRIPT_LOADED,
                "{} script '{}' (application group '{}')",
                if reloading_existing {
                    "re-loaded"
                } else {
                    "loaded"
                },
                key.path,
                group_label(&key.application_group)
            );
            state.loaded = Some(LoadedScript {
                module,
                mtime,
                reported_missing: HashSet::new(),
            });
            state.failed = false;
            state.failure = None;
            Ok(())
        }
        Err(LoadError::Python(err)) => {
            let reason = describe(py, &err);
            if state.fails_again(&reason, mtime) {
                // The same failure of the same file: its traceback is in
                // the log already.
                sink_log!(
                    log,
                    Level::Error,
                    tags::SCRIPT_STILL_FAILING,
                    "script '{}' cannot be used: it still fails to load: {reason}",
                    key.path
                );
            } else {
                log_exception(
                    py,
                    log,
                    tags::SCRIPT_LOAD_FAILED,
                    &format!("cannot load script '{}'", key.path),
                    &err,
                );
            }
            state.fail(reason, Some(mtime));
            Err(ScriptUnavailable)
        }
        Err(LoadError::Io(message)) => {
            state.fail(format!("cannot load it: {message}"), Some(mtime));
            sink_log!(
                log,
                Level::Error,
                tags::SCRIPT_LOAD_FAILED,
                "cannot load script '{}': {message}",
                key.path
            );
            Err(ScriptUnavailable)
        }
    }
}

enum LoadError {
    Io(String),
    Python(PyErr),
}

/// Execute the script as a fresh module (a re-load never keeps old globals).
fn load(py: Python<'_>, key: &ScriptKey) -> Result<Py<PyModule>, LoadError> {
    let source = std::fs::read(&key.path).map_err(|e| LoadError::Io(e.to_string()))?;
    let source =
        CString::new(source).map_err(|_| LoadError::Io("the file contains a NUL byte".into()))?;
    let name = module_name(key);
    let file =
        CString::new(key.path.as_str()).map_err(|_| LoadError::Io("path contains NUL".into()))?;
    let cname = CString::new(name.as_str()).expect("hex module name");
    let modules = py
        .import("sys")
        .and_then(|s| s.getattr("modules"))
        .map_err(LoadError::Python)?;
    modules
        .call_method1("pop", (name.as_str(), py.None()))
        .map_err(LoadError::Python)?;
    // What the script prints while it is imported goes to the error log;
    // a last line without a newline is written once the import is over.
    std_streams::install_std_streams(py);
    let module = PyModule::from_code(py, &source, &file, &cname);
    std_streams::flush_outside(py);
    Ok(module.map_err(LoadError::Python)?.unbind())
}
