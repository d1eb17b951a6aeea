//! The embedded CPython: interpreter start-up in each child, script
//! loading and reloading, the `environ` dict, the error-log
//! `sys.stdout`/`sys.stderr`, call limits and the timeout watchdog, and the
//! mapping of Python results to provider statuses. Everything here goes
//! through pyo3 or the `cpython/` layer (per-thread thread states and the
//! C calls pyo3 lacks), so this layer holds no unsafe code.

#![forbid(unsafe_code)]

pub mod call;
pub mod call_limit;
pub mod daemon_side;
pub mod environ;
pub mod environ_template;
pub mod errors;
pub mod header_keys;
pub mod log_sink;
pub mod request_objects;
pub mod results;
pub mod runtime;
pub mod scripts;
pub mod std_streams;
pub mod watchdog;
