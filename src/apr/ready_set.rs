//! A Linux `epoll` set for an auth daemon process's serving threads, as a
//! safe type: each connection is registered one-shot under a token, so a
//! connection with a frame waiting wakes exactly one of the threads that
//! wait on the set, and no other thread sees it until that one re-arms it
//! after answering. An idle connection therefore costs no thread, and a
//! call costs its serving thread one wake-up.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The events a connection is watched for: data, or the other end closing.
const WATCHED: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32;

/// An `epoll` instance of one-shot registrations.
pub struct ReadySet {
    epoll: OwnedFd,
}

impl ReadySet {
    /// A new, empty set (closed on `exec`).
    pub fn new() -> io::Result<ReadySet> {
        // SAFETY: epoll_create1 takes a flag word and returns a new
        // descriptor or -1; it touches no memory of ours.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and nothing else owns it.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(ReadySet { epoll })
    }

    fn control(&self, op: libc::c_int, fd: RawFd, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: WATCHED,
            u64: token,
        };
        // SAFETY: epoll_ctl reads the one event record we own (and ignores
        // it for EPOLL_CTL_DEL); `fd` is a descriptor number the caller
        // keeps open for the call.
        let status = unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) };
        if status == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Watch `fd` (open) once, reporting it as `token`.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        self.control(libc::EPOLL_CTL_ADD, fd, token)
    }

    /// Watch `fd`, already in the set and reported once, again.
    pub fn rearm(&self, fd: RawFd, token: u64) -> io::Result<()> {
        self.control(libc::EPOLL_CTL_MOD, fd, token)
    }

    /// Stop watching `fd`; call before closing it (a duplicate of the
    /// descriptor elsewhere would keep its registration alive).
    pub fn remove(&self, fd: RawFd) {
        let _ = self.control(libc::EPOLL_CTL_DEL, fd, 0);
    }

    /// Wait until one registered descriptor is ready (at most `timeout_ms`,
    /// -1: no limit); its token, or `None` on timeout or a signal.
    pub fn wait_one(&self, timeout_ms: i32) -> io::Result<Option<u64>> {
        let mut event = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: epoll_wait writes at most one event record (maxevents 1)
        // into `event`, which we own.
        let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), &mut event, 1, timeout_ms) };
        match n {
            1 => Ok(Some(event.u64)),
            0 => Ok(None),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }
}
