//! A one-shot Linux `timerfd`, as a safe type: one thread blocks in
//! [`WakeTimer::wait`] until the timer, armed by another thread with a
//! syscall that wakes nobody, expires. An auth daemon process uses it to
//! bring a standby serving thread in only when the calls under way have
//! left no thread waiting for new frames for a while.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// A monotonic one-shot timer.
pub struct WakeTimer {
    timer: OwnedFd,
}

impl WakeTimer {
    /// A new, disarmed timer (closed on `exec`).
    pub fn new() -> io::Result<WakeTimer> {
        // SAFETY: timerfd_create takes a clock id and flags and returns a
        // new descriptor or -1; it touches no memory of ours.
        let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and nothing else owns it.
        let timer = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(WakeTimer { timer })
    }

    fn set(&self, after: Duration) {
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs() as libc::time_t,
                tv_nsec: after.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: timerfd_settime reads the one itimerspec we own; the old
        // value is not asked for (null).
        let _ = unsafe {
            libc::timerfd_settime(self.timer.as_raw_fd(), 0, &spec, std::ptr::null_mut())
        };
    }

    /// Expire once, `after` from now (not zero: zero would disarm).
    pub fn arm(&self, after: Duration) {
        self.set(after.max(Duration::from_nanos(1)));
    }

    /// Do not expire (until armed again).
    pub fn disarm(&self) {
        self.set(Duration::ZERO);
    }

    /// Block until the timer expires.
    pub fn wait(&self) {
        let mut expirations = [0u8; 8];
        loop {
            // SAFETY: read writes at most 8 bytes into the array we own.
            let n = unsafe {
                libc::read(
                    self.timer.as_raw_fd(),
                    expirations.as_mut_ptr().cast(),
                    expirations.len(),
                )
            };
            if n == 8 {
                return;
            }
            if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                std::thread::sleep(Duration::from_millis(1));
                return;
            }
        }
    }
}
