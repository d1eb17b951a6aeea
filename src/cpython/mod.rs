//! The layer over CPython's C API for what pyo3 does not offer: starting
//! the interpreter with an isolated `PyConfig`, each worker thread's
//! persistent thread state and its release, raising an exception in
//! another thread, the vectorcall protocol, Latin-1 decoding in one call
//! and reference counts. Every `unsafe` call into CPython sits here, behind
//! functions whose arguments (a `Python` token, `Bound` objects) carry what
//! the call needs; `python/` above uses them and holds no unsafe code.

pub mod interpreter;
pub mod objects;
pub mod thread_states;
pub mod threads;
