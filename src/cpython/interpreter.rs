//! Starting the interpreter in this process: its version and library before
//! it starts, whether it runs, and `Py_InitializeFromConfig` with a
//! `PyConfig` isolated from the process environment.

use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;

use pyo3::ffi as pyffi;
use pyo3::prelude::*;

/// The full version text of the libpython loaded at run time (safe before
/// the interpreter starts).
pub fn version_text() -> String {
    // SAFETY: Py_GetVersion may be called before initialisation and returns
    // a static C string.
    unsafe { CStr::from_ptr(pyffi::Py_GetVersion()) }
        .to_string_lossy()
        .into_owned()
}

/// The file the running libpython was loaded from.
pub fn library_path() -> String {
    let mut info = MaybeUninit::<libc::Dl_info>::zeroed();
    let symbol = pyffi::Py_IsInitialized as *const libc::c_void;
    // SAFETY: dladdr only reads the loader's tables; info is zeroed and
    // filled on success.
    let found = unsafe { libc::dladdr(symbol, info.as_mut_ptr()) };
    if found == 0 {
        return "(unknown)".to_owned();
    }
    // SAFETY: dladdr succeeded, so dli_fname is NULL or a C string.
    let info = unsafe { info.assume_init() };
    if info.dli_fname.is_null() {
        "(unknown)".to_owned()
    } else {
        // SAFETY: NULL-checked C string owned by the loader.
        unsafe { CStr::from_ptr(info.dli_fname) }
            .to_string_lossy()
            .into_owned()
    }
}

/// Whether an interpreter runs in this process (ours or another module's).
pub fn is_initialized() -> bool {
    // SAFETY: a check without side effects, allowed at any time.
    unsafe { pyffi::Py_IsInitialized() != 0 }
}

/// Where the interpreter finds its standard library.
pub enum Home<'a> {
    /// CPython's own search from the libpython's location.
    Default,
    /// `PyConfig.home`: a Python installation's prefix.
    Prefix(&'a str),
    /// A virtualenv: start as its interpreter `executable`, so the path
    /// calculation reads its `pyvenv.cfg` and finds the base installation.
    Executable(&'a str),
}

fn status_error(status: pyffi::PyStatus) -> Option<String> {
    // SAFETY: PyStatus_Exception only inspects the struct.
    if unsafe { pyffi::PyStatus_Exception(status) } == 0 {
        return None;
    }
    let message = if status.err_msg.is_null() {
        "unknown error".to_owned()
    } else {
        // SAFETY: err_msg is a static C string set by CPython.
        unsafe { CStr::from_ptr(status.err_msg) }
            .to_string_lossy()
            .into_owned()
    };
    Some(message)
}

/// Set one wide-string field of `config` from UTF-8 bytes.
///
/// # Safety
/// `config` must be initialised and `field` must point into it.
unsafe fn set_config_string(
    config: *mut pyffi::PyConfig,
    field: *mut *mut libc::wchar_t,
    value: &str,
) -> Result<(), String> {
    let value = CString::new(value).map_err(|_| "path contains a NUL byte".to_owned())?;
    // SAFETY: per the function contract; CPython copies the string.
    let status = unsafe { pyffi::PyConfig_SetBytesString(config, field, value.as_ptr()) };
    status_error(status).map_or(Ok(()), Err)
}

/// Start the interpreter on this thread, isolated from the process
/// environment (as `python -I`: no `PYTHON*` variable is read, in
/// pre-initialisation either, no user site directory, no current directory
/// on `sys.path`; Python's signal handlers off; the locale and UTF-8 mode
/// as a normal interpreter's), run `then` with the GIL, and release the
/// GIL while this thread keeps its thread state. `Err` when the interpreter
/// runs already or could not start (`what` failed: the message names it).
pub fn initialize<R>(
    home: Home<'_>,
    then: impl for<'py> FnOnce(Python<'py>) -> R,
) -> Result<R, String> {
    if is_initialized() {
        return Err(
            "Python is already initialised in this process (another module embeds it)".into(),
        );
    }
    let mut config = MaybeUninit::<pyffi::PyConfig>::uninit();
    // SAFETY: PyConfig_InitPythonConfig fully initialises the struct; every
    // later access goes through it, and PyConfig_Clear frees it on all paths.
    unsafe {
        pyffi::PyConfig_InitPythonConfig(config.as_mut_ptr());
        let config = config.as_mut_ptr();
        (*config).install_signal_handlers = 0;
        (*config).parse_argv = 0;
        (*config).isolated = 1;
        (*config).use_environment = 0;
        (*config).user_site_directory = 0;
        (*config).safe_path = 1;
        let result = match home {
            Home::Executable(exe) => {
                set_config_string(config, &raw mut (*config).program_name, exe)
                    .and_then(|_| set_config_string(config, &raw mut (*config).executable, exe))
            }
            Home::Prefix(home) => set_config_string(config, &raw mut (*config).home, home),
            Home::Default => Ok(()),
        };
        if let Err(e) = result {
            pyffi::PyConfig_Clear(config);
            return Err(format!("WSGIPythonHome: {e}"));
        }
        let status = pyffi::Py_InitializeFromConfig(config);
        pyffi::PyConfig_Clear(config);
        if let Some(e) = status_error(status) {
            return Err(format!("Python initialisation failed: {e}"));
        }
    }
    // SAFETY: the interpreter was just initialised on this thread, which
    // holds the GIL now.
    let py = unsafe { Python::assume_attached() };
    let result = then(py);
    // SAFETY: release the GIL taken by initialisation; this thread keeps its
    // thread state (`py` does not outlive `then`).
    unsafe { pyffi::PyEval_SaveThread() };
    Ok(result)
}
