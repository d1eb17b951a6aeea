//! The connections a daemon process has open, each either idle (watched
//! one-shot in the process's ready set) or taken by the serving thread
//! answering the frame that arrived on it. Ownership moves only under the
//! one lock, and a connection is re-armed or unregistered under that lock
//! before it is closed, so a descriptor number the kernel hands out again
//! can never be confused with an old connection: tokens are never reused.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::apr::ready_set::ReadySet;
use crate::apr::unix;

/// A connection, shared with the watchdog while a call is made on it (so
/// it can send the caller elsewhere without duplicating the descriptor).
pub type Connection = Arc<UnixStream>;

struct Open {
    /// `None` while a serving thread has it.
    idle: Option<Connection>,
    fd: RawFd,
    /// When it was admitted or last answered.
    since: Instant,
}

/// The open connections and the set that watches the idle ones.
pub struct Connections {
    ready: ReadySet,
    open: Mutex<HashMap<u64, Open>>,
    next_token: AtomicU64,
}

/// How many connections are taken (a call under way on each) and idle.
pub struct Counts {
    pub taken: usize,
    pub idle: usize,
}

impl Connections {
    pub fn new() -> io::Result<Connections> {
        Ok(Connections {
            ready: ReadySet::new()?,
            open: Mutex::new(HashMap::new()),
            next_token: AtomicU64::new(1),
        })
    }

    /// Keep `connection`, idle, until a frame arrives on it.
    pub fn admit(&self, connection: UnixStream) {
        let connection = Arc::new(connection);
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let fd = connection.as_raw_fd();
        let Ok(mut open) = self.open.lock() else {
            return;
        };
        open.insert(
            token,
            Open {
                idle: Some(connection),
                fd,
                since: Instant::now(),
            },
        );
        if self.ready.add(fd, token).is_err() {
            open.remove(&token);
        }
    }

    /// Wait (without limit) for an idle connection with something to read
    /// and take it; the serving thread then gives it back or closes it.
    pub fn take_ready(&self) -> (u64, Connection) {
        loop {
            let token = match self.ready.wait_one(-1) {
                Ok(Some(token)) => token,
                Ok(None) => continue,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            let Ok(mut open) = self.open.lock() else {
                continue;
            };
            // Gone: closed while its readiness was on its way.
            if let Some(connection) = open.get_mut(&token).and_then(|o| o.idle.take()) {
                return (token, connection);
            }
        }
    }

    /// A connection taken with `token` is idle again: watch it once more.
    pub fn give_back(&self, token: u64, connection: Connection) {
        let Ok(mut open) = self.open.lock() else {
            return;
        };
        let fd = connection.as_raw_fd();
        let Some(entry) = open.get_mut(&token) else {
            self.ready.remove(fd);
            return;
        };
        entry.idle = Some(connection);
        entry.since = Instant::now();
        if self.ready.rearm(fd, token).is_err() {
            self.ready.remove(fd);
            open.remove(&token);
        }
    }

    /// A connection taken with `token` ends.
    pub fn close(&self, token: u64, connection: Connection) {
        if let Ok(mut open) = self.open.lock() {
            self.ready.remove(connection.as_raw_fd());
            open.remove(&token);
        }
        drop(connection);
    }

    pub fn counts(&self) -> Counts {
        let Ok(open) = self.open.lock() else {
            return Counts { taken: 0, idle: 0 };
        };
        let idle = open.values().filter(|o| o.idle.is_some()).count();
        Counts {
            taken: open.len() - idle,
            idle,
        }
    }

    /// Close the idle connections that have been idle for `limit` since
    /// `since` or since their last answer, whichever is later.
    pub fn close_idle(&self, since: Instant, limit: Duration) {
        let Ok(mut open) = self.open.lock() else {
            return;
        };
        open.retain(|_, o| {
            let idle_too_long = o.idle.is_some() && o.since.max(since).elapsed() >= limit;
            if idle_too_long {
                self.ready.remove(o.fd);
            }
            !idle_too_long
        });
    }

    /// Take every idle connection that has a frame waiting (this process
    /// is ending: its callers are told to go elsewhere).
    pub fn take_waiting(&self) -> Vec<Connection> {
        let Ok(mut open) = self.open.lock() else {
            return Vec::new();
        };
        let idle: Vec<(u64, RawFd)> = open
            .iter()
            .filter(|(_, o)| o.idle.is_some())
            .map(|(&token, o)| (token, o.fd))
            .collect();
        let fds: Vec<RawFd> = idle.iter().map(|&(_, fd)| fd).collect();
        let Ok(ready) = unix::poll_readable(&fds, 0) else {
            return Vec::new();
        };
        let mut waiting = Vec::new();
        for ((token, fd), ready) in idle.into_iter().zip(ready) {
            if ready {
                self.ready.remove(fd);
                if let Some(connection) = open.remove(&token).and_then(|o| o.idle) {
                    waiting.push(connection);
                }
            }
        }
        waiting
    }
}
