//! Looking at a connected socket without waiting and without consuming
//! anything, in one system call (`recv` with `MSG_PEEK | MSG_DONTWAIT`):
//! how an Apache worker thread checks, before each daemon call, that its
//! idle connection is still open and silent.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

/// `Ok(0)`: the other end closed; `Ok(n)`: `n` bytes are waiting (at most
/// one is looked at); `WouldBlock`: open, nothing waiting.
pub fn peek_now(stream: &UnixStream) -> io::Result<usize> {
    let mut byte = [0u8; 1];
    // SAFETY: recv writes at most one byte into the array we own; the
    // descriptor is the open socket `stream` owns for the call.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            byte.as_mut_ptr().cast(),
            byte.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
