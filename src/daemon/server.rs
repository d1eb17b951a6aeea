//! A daemon process's serving loop. One thread polls the listening socket
//! and every idle connection; a connection with a frame waiting goes to
//! one of the `threads` serving threads, which reads the frame (bounded in
//! size, and in time once it has begun), makes the call through the Python
//! side, writes the reply and hands the connection back. Idle connections
//! (one per Apache worker thread that called this group) therefore pin no
//! serving thread. A malformed, oversized or stalled frame closes only its
//! connection.
//!
//! On a termination signal the process drains: it accepts no more (new
//! connections wait in the socket's queue for the next generation),
//! finishes the calls under way, serves the connections that still send
//! calls, closes each one that stays idle for a second, and exits when no
//! call and no connection is left.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
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
use crate::daemon::stderr_log;
use crate::daemon::watchdog::Watchdog;
use crate::python::daemon_side;

/// How long the rest of a frame may take once its first byte arrived.
pub const FRAME_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long writing a reply may take.
const REPLY_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// While draining: the longest the process lives (calls without a time
/// limit are cut off then).
const DRAIN_MAX: Duration = Duration::from_secs(600);

/// The poller's longest wait, in milliseconds.
const POLL_MS: i32 = 50;

/// What a daemon process serves.
pub struct Serving {
    pub group: String,
    pub threads: usize,
    /// Besides root, the one account whose processes may call: Apache's
    /// `User` (the socket's owner). `None`: any (Apache runs as one user).
    pub caller_uid: Option<u32>,
}

struct Shared {
    work: Mutex<mpsc::Receiver<UnixStream>>,
    back: Mutex<mpsc::Sender<UnixStream>>,
    busy: AtomicUsize,
    draining: AtomicBool,
    wake: UnixStream,
    watchdog: Arc<Watchdog>,
    group: String,
}

impl Shared {
    fn wake_poller(&self) {
        let _ = (&self.wake).write(&[1]);
    }
}

/// Serve on `listener` until drained; returns when the process should exit.
pub fn serve(listener: UnixListener, serving: &Serving) {
    let threads = serving.threads.max(1);
    let (work_tx, work_rx) = mpsc::channel::<UnixStream>();
    let (back_tx, back_rx) = mpsc::channel::<UnixStream>();
    let (wake_read, wake_write) = match UnixStream::pair() {
        Ok(pair) => pair,
        Err(e) => {
            stderr_log::line(
                "error",
                tags::DAEMON_SETUP_FAILED,
                &format!(
                    "daemon group {}: no wake-up socket pair: {e}",
                    serving.group
                ),
            );
            return;
        }
    };
    let _ = wake_read.set_nonblocking(true);
    // A full wake-up buffer already wakes the poller: never block on it.
    let _ = wake_write.set_nonblocking(true);
    let _ = listener.set_nonblocking(true);
    let shared = Arc::new(Shared {
        work: Mutex::new(work_rx),
        back: Mutex::new(back_tx),
        busy: AtomicUsize::new(0),
        draining: AtomicBool::new(false),
        wake: wake_write,
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
                shared.wake_poller();
            });
    }
    for slot in 0..threads {
        let shared = shared.clone();
        let _ = thread::Builder::new()
            .name(format!("authnz-serve-{slot}"))
            .spawn(move || serving_thread(&shared, slot));
    }

    let mut idle: Vec<(UnixStream, Instant)> = Vec::new();
    let mut accepting = true;
    let mut drain_began: Option<Instant> = None;
    loop {
        if shared.watchdog.is_ending() {
            // The watchdog ends the process: accept nothing more, so callers
            // it sends elsewhere reach another process of the group; calls
            // no serving thread has taken yet go elsewhere too.
            if let Ok(work) = shared.work.try_lock() {
                while let Ok(connection) = work.try_recv() {
                    send_elsewhere(connection);
                }
            }
            let fds: Vec<_> = idle.iter().map(|(c, _)| c.as_raw_fd()).collect();
            if let Ok(ready) = unix::poll_readable(&fds, 0) {
                for ((connection, _), ready) in idle.drain(..).zip(ready) {
                    if ready {
                        send_elsewhere(connection);
                    }
                }
            }
            shared.watchdog.poller_stopped();
            loop {
                thread::sleep(Duration::from_secs(1));
            }
        }
        let draining = shared.draining.load(Ordering::SeqCst);
        // Read `busy` before collecting what came back: a connection handed
        // back before its thread counted down is collected here.
        let busy = shared.busy.load(Ordering::SeqCst);
        while let Ok(connection) = back_rx.try_recv() {
            idle.push((connection, Instant::now()));
        }
        if draining {
            let began = *drain_began.get_or_insert_with(Instant::now);
            // New connections wait in the socket's queue for the next
            // generation (or go to no one, at a stop).
            accepting = false;
            // Connections that stay idle are closed; the process ends once
            // no call is under way and no connection is left.
            idle.retain(|(_, since)| since.max(&began).elapsed() < DRAIN_IDLE);
            if drained(busy, idle.len(), began.elapsed(), DRAIN_MAX) {
                return;
            }
        }
        let mut fds = vec![wake_read.as_raw_fd()];
        if accepting {
            fds.push(listener.as_raw_fd());
        }
        fds.extend(idle.iter().map(|(c, _)| c.as_raw_fd()));
        // A short wait: the watchdog's request to stop accepting is seen
        // within it.
        let ready = match unix::poll_readable(&fds, POLL_MS) {
            Ok(ready) => ready,
            Err(_) => {
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if ready[0] {
            let mut sink = [0u8; 64];
            while matches!((&wake_read).read(&mut sink), Ok(n) if n > 0) {}
        }
        let first_idle = if accepting { 2 } else { 1 };
        // Hand ready connections to the serving threads (from the end, so
        // the indices of the others stay valid).
        for index in (0..idle.len()).rev() {
            if ready[first_idle + index] {
                let (connection, _) = idle.swap_remove(index);
                shared.busy.fetch_add(1, Ordering::SeqCst);
                if work_tx.send(connection).is_err() {
                    shared.busy.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
        if accepting && ready[1] {
            loop {
                match listener.accept() {
                    Ok((connection, _)) => {
                        // The socket's mode admits only Apache's User and
                        // root; the peer's credentials are checked too, in
                        // case the file's mode or owner was changed.
                        let peer = unix::peer_uid(connection.as_raw_fd());
                        if !caller_allowed(peer, serving.caller_uid) {
                            refuse(
                                &shared,
                                &format!(
                                    "a process of uid {} is not Apache's User",
                                    peer.map_or_else(|| "?".to_owned(), |u| u.to_string())
                                ),
                            );
                            continue;
                        }
                        let _ = connection.set_nonblocking(false);
                        // The greeting tells the child a process took it.
                        if (&connection).write_all(&[GREETING]).is_ok() {
                            idle.push((connection, Instant::now()));
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
    }
}

fn serving_thread(shared: &Shared, slot: usize) {
    shared.watchdog.thread_started(slot);
    loop {
        let next = match shared.work.lock() {
            Ok(work) => work.recv(),
            Err(_) => return,
        };
        let Ok(connection) = next else { return };
        let kept = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            serve_one(shared, slot, connection)
        }))
        .unwrap_or(None);
        if let Some(connection) = kept {
            if let Ok(back) = shared.back.lock() {
                let _ = back.send(connection);
            }
        }
        shared.busy.fetch_sub(1, Ordering::SeqCst);
        shared.wake_poller();
    }
}

/// Read one request from `connection`, answer it; the connection when it
/// can carry another.
fn serve_one(shared: &Shared, slot: usize, mut connection: UnixStream) -> Option<UnixStream> {
    let _ = connection.set_read_timeout(Some(FRAME_READ_TIMEOUT));
    let _ = connection.set_write_timeout(Some(REPLY_WRITE_TIMEOUT));
    let request = match read_frame(&mut connection) {
        Ok(None) => return None,
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
        connection.try_clone().ok(),
        request.sequence,
    );
    let reply = daemon_side::answer(&request);
    shared.watchdog.end(slot);
    let frame = encode_reply(&reply).or_else(|e| encode_reply(&unsendable(&request, &e)));
    match frame {
        Ok(frame) if connection.write_all(&frame).is_ok() => Some(connection),
        _ => None,
    }
}

/// Answer the request waiting on `connection` with "make it again in
/// another process" (this process is ending).
fn send_elsewhere(mut connection: UnixStream) {
    let _ = connection.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = connection.set_write_timeout(Some(Duration::from_millis(50)));
    if let Ok(Some((Kind::Request, payload))) = read_frame(&mut connection) {
        if let Ok(request) = decode_request(&payload) {
            if let Ok(frame) = encode_reply(&retry_elsewhere(request.sequence)) {
                let _ = connection.write_all(&frame);
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

fn refuse(shared: &Shared, what: &str) -> Option<UnixStream> {
    stderr_log::line(
        "warn",
        tags::DAEMON_FRAME_REFUSED,
        &format!(
            "daemon group {}: a connection was refused ({what}); it is closed, the others \
             are served",
            shared.group
        ),
    );
    None
}
