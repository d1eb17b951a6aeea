//! The embedded CPython: interpreter start-up in each child, per-thread
//! thread states, script loading and reloading, the `environ` dict, the
//! error-log `sys.stdout`/`sys.stderr`, and the mapping of Python results
//! to provider statuses.

pub mod call;
pub mod call_limit;
pub mod environ;
pub mod environ_template;
pub mod errors;
pub mod header_keys;
pub mod request_objects;
pub mod runtime;
pub mod scripts;
pub mod std_streams;
pub mod thread_states;
pub mod watchdog;
