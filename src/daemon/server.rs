//! A daemon process's serving loop. The `threads` serving threads all wait
//! on the process's ready set, where every idle connection (one per Apache
//! worker thread that called this group) is watched one-shot: a frame
//! arriving wakes one thread, which reads it (bounded in size, and in time
//! once it has begun), makes the call through the Python side, writes the
//! reply and re-arms the connection. An idle connection pins no thread and
//! a call costs one wake-up. The main thread accepts connections. A
//! malformed, oversized or stalled frame closes only its connection.
//!
//! On a termination signal the process drains: it accepts no more (new
//! connections wait in the socket's queue for the next generation),
//! finishes the calls under way, serves the connections that still send
//! calls, closes each one that stays idle for a second, and exits when no
//! call and no connection is left.

use std::io::{self, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use authnz_core::daemon_connection::GREETING;
use authnz_core::daemon_frame::{
    decode_request, encode_reply, read_frame, CallReply, CallRequest, Kind, LogLine, Outcome,
    ReadError,
};
use authnz_core::daemon_supervision::{caller_allowed, drained, retry_elsewhere, DRAIN_IDLE};
use authnz_core::log_tags as tags;

use crate::apr::unix;
use crate::daemon::connections::{Connection, Connections};
use crate::daemon::stderr_log;
use crate::daemon::watchdog::Watchdog;
use crate::python::daemon_side;

/// How long the rest of a frame may take once its first byte arrived.
pub const FRAME_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes of a request read at once (a request is usually
/// smaller, and read in one call).
const REQUEST_READ: usize = 8192;
/// How long writing a reply may take.
const REPLY_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// While draining: the longest the process lives (calls without a time
/// limit are cut off then).
const DRAIN_MAX: Duration = Duration::from_secs(600);

/// The main thread's longest wait for a connection, in milliseconds: a
/// drain or the watchdog's request to stop accepting is seen within it.
const ACCEPT_POLL_MS: i32 = 50;

/// What a daemon process serves.
pub struct Serving {
    pub group: String,
    pub threads: usize,
    /// Besides root, the one account whose processes may call: Apache's
    /// `User` (the socket's owner). `None`: any (Apache runs as one user).
    pub caller_uid: Option<u32>,
}

struct Shared {
    connections: Connections,
    draining: AtomicBool,
    watchdog: Arc<Watchdog>,
    group: String,
}

/// Serve on `listener` until drained; returns when the process should exit.
pub fn serve(listener: UnixListener, serving: &Serving) {
    let threads = serving.threads.max(1);
    let connections = match Connections::new() {
        Ok(connections) => connections,
        Err(e) => {
            stderr_log::line(
                "error",
                tags::DAEMON_SETUP_FAILED,
                &format!("daemon group {}: no epoll set or timer: {e}", serving.group),
            );
            return;
        }
    };
    let _ = listener.set_nonblocking(true);
    let shared = Arc::new(Shared {
        connections,
        draining: AtomicBool::new(false),
        watchdog: Watchdog::start(&serving.group, threads),
        group: serving.group.clone(),
    });
    {
        let shared = shared.clone();
        let _ = thread::Builder::new()
            .name("authnz-signals".into())
            .spawn(move || {
                unix::wait_termination_signal();
                shared.draining.store(true, Ordering::SeqCst);
            });
    }
    for slot in 0..threads {
        let shared = shared.clone();
        let _ = thread::Builder::new()
            .name(format!("authnz-serve-{slot}"))
            .spawn(move || serving_thread(&shared, slot));
    }

    let mut drain_began: Option<Instant> = None;
    loop {
        if shared.watchdog.is_ending() {
            // The watchdog ends the process: accept nothing more, so callers
            // it sends elsewhere reach another process of the group; calls
            // waiting on idle connections go elsewhere too.
            for connection in shared.connections.take_waiting() {
                send_elsewhere(&connection);
            }
            shared.watchdog.acceptor_stopped();
            loop {
                thread::sleep(Duration::from_secs(1));
            }
        }
        if shared.draining.load(Ordering::SeqCst) {
            // New connections wait in the socket's queue for the next
            // generation (or go to no one, at a stop). Connections that
            // stay idle are closed; the process ends once no call is under
            // way and no connection is left.
            let began = *drain_began.get_or_insert_with(Instant::now);
            shared.connections.close_idle(began, DRAIN_IDLE);
            let counts = shared.connections.counts();
            if drained(counts.taken, counts.idle, began.elapsed(), DRAIN_MAX) {
                return;
            }
            thread::sleep(Duration::from_millis(ACCEPT_POLL_MS as u64));
            continue;
        }
        match unix::poll_readable(&[listener.as_raw_fd()], ACCEPT_POLL_MS) {
            Ok(ready) if ready[0] => accept_waiting(&shared, &listener, serving.caller_uid),
            Ok(_) => {}
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Accept every connection waiting on `listener` (non-blocking).
fn accept_waiting(shared: &Shared, listener: &UnixListener, caller_uid: Option<u32>) {
    loop {
        match listener.accept() {
            Ok((connection, _)) => {
                // The socket's mode admits only Apache's User and root; the
                // peer's credentials are checked too, in case the file's
                // mode or owner was changed.
                let peer = unix::peer_uid(connection.as_raw_fd());
                if !caller_allowed(peer, caller_uid) {
                    let _ = refuse(
                        shared,
                        &format!(
                            "a process of uid {} is not Apache's User",
                            peer.map_or_else(|| "?".to_owned(), |u| u.to_string())
                        ),
                    );
                    continue;
                }
                let _ = connection.set_nonblocking(false);
                let _ = connection.set_read_timeout(Some(FRAME_READ_TIMEOUT));
                let _ = connection.set_write_timeout(Some(REPLY_WRITE_TIMEOUT));
                // The greeting tells the child a process took it.
                if (&connection).write_all(&[GREETING]).is_ok() {
                    shared.connections.admit(connection);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn serving_thread(shared: &Shared, slot: usize) {
    shared.watchdog.thread_started(slot);
    loop {
        let (token, connection) = shared.connections.take_ready();
        if shared.watchdog.is_ending() {
            // An overrunning call holds this process: the caller makes its
            // call again in another one.
            send_elsewhere(&connection);
            shared.connections.close(token, connection);
            continue;
        }
        let keep = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            serve_one(shared, slot, &connection)
        }))
        .unwrap_or(false);
        if keep {
            shared.connections.give_back(token, connection);
        } else {
            shared.connections.close(token, connection);
        }
    }
}

/// Read one request from `connection` and answer it; whether the
/// connection can carry another.
fn serve_one(shared: &Shared, slot: usize, connection: &Connection) -> bool {
    // A request usually arrives whole: one read for header and payload.
    let mut reader = BufReader::with_capacity(REQUEST_READ, &**connection);
    let request = match read_frame(&mut reader) {
        Ok(None) => return false,
        Ok(Some((Kind::Request, payload))) => match decode_request(&payload) {
            Ok(request) => request,
            Err(e) => return refuse(shared, &format!("a malformed request: {e}")),
        },
        Ok(Some((kind, _))) => return refuse(shared, &format!("a frame of kind {kind:?}")),
        Err(ReadError::Io(e))
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            return refuse(
                shared,
                &format!(
                    "a frame that stopped half-way for {} s",
                    FRAME_READ_TIMEOUT.as_secs()
                ),
            )
        }
        Err(e) => return refuse(shared, &format!("{e}")),
    };
    let call = format!("{} of {}", request.function.name(), request.script);
    shared.watchdog.begin(
        slot,
        request.timeout_ms,
        call,
        Some(connection.clone()),
        request.sequence,
    );
    let reply = daemon_side::answer(&request);
    shared.watchdog.end(slot);
    let frame = encode_reply(&reply).or_else(|e| encode_reply(&unsendable(&request, &e)));
    matches!(frame, Ok(frame) if (&**connection).write_all(&frame).is_ok())
}

/// Answer the request waiting on `connection` with "make it again in
/// another process" (this process is ending).
fn send_elsewhere(connection: &Connection) {
    let _ = connection.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = connection.set_write_timeout(Some(Duration::from_millis(50)));
    if let Ok(Some((Kind::Request, payload))) = read_frame(&mut &**connection) {
        if let Ok(request) = decode_request(&payload) {
            if let Ok(frame) = encode_reply(&retry_elsewhere(request.sequence)) {
                let _ = (&**connection).write_all(&frame);
            }
        }
    }
}

/// A reply that says the real one could not be encoded.
fn unsendable(request: &CallRequest, why: &dyn std::fmt::Display) -> CallReply {
    CallReply {
        sequence: request.sequence,
        outcome: Outcome::Failed,
        timed_out: false,
        log: vec![LogLine {
            level: 3,
            tag: tags::DAEMON_REPLY_TOO_LARGE,
            text: format!(
                "{} of {}: the daemon's answer cannot be sent back: {why}",
                request.function.name(),
                request.script
            ),
        }],
    }
}

/// Log that a connection is refused; `false`: it is not kept.
fn refuse(shared: &Shared, what: &str) -> bool {
    stderr_log::line(
        "warn",
        tags::DAEMON_FRAME_REFUSED,
        &format!(
            "daemon group {}: a connection was refused ({what}); it is closed, the others \
             are served",
            shared.group
        ),
    );
    false
}
