//! Auth daemon processes (`WSGIAuthDaemonProcess`, docs/auth-daemons.md):
//! the processes Apache's parent starts, supervises and stops for each
//! daemon group (`supervisor.rs`), the Unix socket each group listens on
//! (`listener.rs`), a daemon process's life (`process.rs`: closing what it
//! inherited, dropping privileges, starting Python) and its serving loop
//! (`server.rs`, over the connection registry of `connections.rs`, with
//! the call watchdog of `watchdog.rs`), and the child's side of a call
//! (`client.rs`: per-thread connections, the deadline, the replay of the
//! daemon's log lines, `replay.rs`).
//!
//! The operating-system calls this needs live in `src/apr/unix.rs`,
//! `src/apr/ready_set.rs` and `src/apr/socket_peek.rs`; this layer has no
//! `unsafe` of its own.

#![forbid(unsafe_code)]

pub mod client;
pub mod connections;
pub mod listener;
pub mod process;
pub mod replay;
pub mod server;
pub mod sockets;
pub mod stderr_log;
pub mod supervisor;
pub mod watchdog;
