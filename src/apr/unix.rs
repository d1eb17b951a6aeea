//! The process calls the auth daemon processes need (docs/auth-daemons.md),
//! as safe functions: `apr_proc_fork` and APR's "other child" registry
//! (`apr_proc_other_child_register`, which the MPM's main loop consults
//! when a process it did not start dies), and the Unix calls APR has no
//! wrapper for: process name, parent-death signal, signal dispositions and
//! masks, privilege drop, closing inherited descriptors, `poll`, `kill`,
//! `waitpid`, `_exit`. Mirrors what httpd's `modules/generators/mod_cgid.c`
//! does for its daemon.

use std::ffi::{c_int, c_void, CString};
use std::io;
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::apr::Pool;
use crate::ffi;

/// Which side of a fork this is.
pub enum Forked {
    /// The new process.
    Child,
    /// The parent, with the child's process record (in the pool).
    Parent(Process),
}

/// A forked process, as APR knows it (its record lives in a pool).
#[derive(Clone, Copy)]
pub struct Process {
    record: *mut ffi::apr_proc_t,
    pub pid: i32,
}

// SAFETY: a `Process` is a pid and a pointer to its record in the
// configuration pool; the supervisor keeps it only in Apache's parent,
// which runs its hooks and the MPM's callbacks on one thread.
unsafe impl Send for Process {}

/// A pool the supervisor keeps (in Apache's parent, for one configuration
/// generation) to fork and register processes in.
#[derive(Clone, Copy)]
pub struct ParentPool(pub Pool);

// SAFETY: used only on the parent's one thread, while the pool lives (the
// supervisor forgets it in the pool's own cleanup).
unsafe impl Send for ParentPool {}

/// `apr_proc_fork`, the process record allocated in `pool`.
pub fn fork(pool: Pool) -> io::Result<Forked> {
    let record = pool.alloc(ffi::apr_proc_t {
        pid: 0,
        in_: std::ptr::null_mut(),
        out: std::ptr::null_mut(),
        err: std::ptr::null_mut(),
    });
    // SAFETY: `record` is a live apr_proc_t in `pool`, which is live.
    let status = unsafe { ffi::apr_proc_fork(record, pool.as_ptr()) };
    match status as u32 {
        ffi::APR_INCHILD => Ok(Forked::Child),
        ffi::APR_INPARENT => Ok(Forked::Parent(Process {
            record,
            // SAFETY: apr_proc_fork filled the record.
            pid: unsafe { (*record).pid },
        })),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Why APR calls an other child's maintenance function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildEvent {
    /// The process ended (reaped); `status` as the caller reports it.
    Death,
    /// The process is gone and could not be reaped.
    Lost,
    /// httpd is stopping or restarting (not gracefully): stop the process.
    Restart,
    /// A periodic check found it running.
    Running,
}

/// What receives an other child's events; `token` says which process.
pub trait OtherChild {
    fn event(token: usize, event: ChildEvent, status: i32);
}

/// A registration with APR's other-child registry.
#[derive(Clone, Copy)]
pub struct Registration(*mut usize);

unsafe extern "C" fn maintenance<H: OtherChild>(reason: c_int, data: *mut c_void, status: c_int) {
    let event = match reason as u32 {
        ffi::APR_OC_REASON_DEATH => ChildEvent::Death,
        ffi::APR_OC_REASON_LOST => ChildEvent::Lost,
        ffi::APR_OC_REASON_RESTART => ChildEvent::Restart,
        // Sent from inside `apr_proc_other_child_unregister` (and the
        // pool's cleanup): the receiver is busy with that process already.
        ffi::APR_OC_REASON_UNREGISTER => return,
        _ => ChildEvent::Running,
    };
    // SAFETY: `data` is the token `register_other_child` placed in the
    // registration's pool, alive while the registration is.
    let token = unsafe { *data.cast::<usize>() };
    let outcome = catch_unwind(AssertUnwindSafe(|| H::event(token, event, status)));
    if outcome.is_err() {
        let _ = catch_unwind(|| {
            eprintln!("mod_authnz_wsgi: internal error in an auth daemon's supervision")
        });
    }
}

/// Register `process` with APR's other-child registry for the life of
/// `pool` (or until `unregister_other_child`): the MPM calls `H::event`
/// when it reaps the process, and at stops and hard restarts.
pub fn register_other_child<H: OtherChild>(
    pool: Pool,
    process: Process,
    token: usize,
) -> Registration {
    let data = pool.alloc(token);
    // SAFETY: the record and the token live in `pool`, as long as the
    // registration (APR removes it in a cleanup of the same pool).
    unsafe {
        ffi::apr_proc_other_child_register(
            process.record,
            Some(maintenance::<H>),
            data.cast(),
            std::ptr::null_mut(),
            pool.as_ptr(),
        )
    };
    Registration(data)
}

// SAFETY: as for `Process`: kept and used only on the parent's thread.
unsafe impl Send for Registration {}

/// Remove a registration (from its own event, or before its pool ends).
pub fn unregister_other_child(registration: Registration) {
    // SAFETY: APR finds the registration by its data pointer and ignores
    // one it does not know.
    unsafe { ffi::apr_proc_other_child_unregister(registration.0.cast()) };
}

/// Send `signal` to `pid`; whether it was delivered.
pub fn kill(pid: i32, signal: c_int) -> bool {
    // SAFETY: kill has no memory effects.
    pid > 0 && unsafe { libc::kill(pid, signal) } == 0
}

/// Reap `pid` if it has ended (`waitpid` without waiting): its wait
/// status, or `None` while it runs. A pid that is not our child (already
/// reaped) counts as ended.
pub fn try_reap(pid: i32) -> Option<i32> {
    let mut status: c_int = 0;
    // SAFETY: waitpid writes the status we own.
    match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
        0 => None,
        -1 => Some(-1),
        _ => Some(status),
    }
}

/// Wait until `pid` has ended and is reaped, at most until `deadline`;
/// whether it was.
pub fn reap_before(pid: i32, deadline: std::time::Instant) -> bool {
    loop {
        if try_reap(pid).is_some() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// End this process at once, without running exit handlers or pool
/// cleanups (a forked daemon must not run the parent's).
pub fn exit_now(code: c_int) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// Name this process (`/proc/PID/comm`, what `ps` and `top` show).
pub fn set_process_name(name: &str) {
    if let Ok(name) = CString::new(name) {
        // SAFETY: PR_SET_NAME reads a NUL-terminated string (at most 16
        // bytes are used).
        unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) };
    }
}

/// Have the kernel send `signal` to this process when its parent ends, and
/// end now if the parent has already gone (`expected_parent`).
pub fn die_with_parent(signal: c_int, expected_parent: i32) {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) };
    // SAFETY: getppid has no memory effects.
    if unsafe { libc::getppid() } != expected_parent {
        exit_now(0);
    }
}

/// This process's id.
pub fn pid() -> i32 {
    std::process::id() as i32
}

/// The signals that ask a daemon process to end.
const TERMINATION: [c_int; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1];

fn termination_set() -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is valid storage for sigemptyset.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: the set is ours.
    unsafe { libc::sigemptyset(&mut set) };
    for signal in TERMINATION {
        // SAFETY: as above.
        unsafe { libc::sigaddset(&mut set, signal) };
    }
    set
}

/// In a freshly forked daemon: every signal back to its default action
/// (httpd's parent handlers must not run here), `SIGPIPE` ignored (a write
/// to a closed connection is an error, not death), none blocked (a
/// termination signal ends the process at once until
/// `block_termination_signals`).
pub fn reset_signals_for_daemon() {
    for signal in 1..32 {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        let action = if signal == libc::SIGPIPE {
            libc::SIG_IGN
        } else {
            libc::SIG_DFL
        };
        // SAFETY: installing a default or ignore disposition.
        unsafe { libc::signal(signal, action) };
    }
    // SAFETY: a zeroed sigset_t is valid storage for sigemptyset.
    let mut none: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: the sets are ours; a NULL old set is allowed.
    unsafe {
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
}

/// Ignore the termination signals (a process that acts when its parent
/// ends, not when a signal reaches its whole process group).
pub fn ignore_termination_signals() {
    for signal in TERMINATION {
        // SAFETY: installing the ignore disposition.
        unsafe { libc::signal(signal, libc::SIG_IGN) };
    }
}

/// This process's parent's id.
pub fn parent_pid() -> i32 {
    // SAFETY: getppid has no memory effects.
    unsafe { libc::getppid() }
}

/// Start a thread named `name` with every signal blocked (it never runs
/// a signal handler: httpd's may end the process from one).
pub fn spawn_with_signals_blocked(
    name: &str,
    body: impl FnOnce() + Send + 'static,
) -> io::Result<()> {
    // SAFETY: a zeroed sigset_t is valid storage for sigfillset.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a zeroed sigset_t is valid storage for the old mask.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: the sets are ours; the new thread inherits this thread's
    // mask, which is put back at once after the spawn.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    let spawned = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let _ = catch_unwind(AssertUnwindSafe(body));
        })
        .map(drop);
    // SAFETY: as above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    spawned
}

/// Block the termination signals in this thread and every thread it
/// starts, for `wait_termination_signal` to take (before any thread
/// starts).
pub fn block_termination_signals() {
    let set = termination_set();
    // SAFETY: the sets are ours; a NULL old set is allowed.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) };
}

/// Wait until a termination signal arrives (they are blocked, see
/// `block_termination_signals`); returns it.
pub fn wait_termination_signal() -> c_int {
    let set = termination_set();
    let mut signal: c_int = 0;
    loop {
        // SAFETY: sigwait reads the set and writes the signal we own.
        if unsafe { libc::sigwait(&set, &mut signal) } == 0 {
            return signal;
        }
    }
}

/// Close every descriptor of this process except `keep` (and 0, 1, 2):
/// a daemon does not keep Apache's listening sockets, log files, pipes and
/// shared memory it inherited.
pub fn close_descriptors_except(keep: &[RawFd]) {
    let open: Vec<RawFd> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => (3..1024).collect(),
    };
    for fd in open {
        if fd > 2 && !keep.contains(&fd) {
            // SAFETY: closing a descriptor no Rust object of this process
            // owns (the daemon owns only those in `keep`); the directory's
            // own descriptor is already closed (EBADF is harmless).
            unsafe { libc::close(fd) };
        }
    }
}

/// Become `uid`:`gid` for good: supplementary groups from the account
/// database (or just `gid` when the account has no entry), then the group,
/// then the user. Refuses to leave the process as root.
pub fn drop_privileges(uid: u32, gid: u32) -> Result<(), String> {
    // SAFETY: getpwuid returns NULL or a record in static storage, read at
    // once (this process is single-threaded here).
    let entry = unsafe { libc::getpwuid(uid) };
    let groups_set = if entry.is_null() {
        // SAFETY: one gid from our stack.
        unsafe { libc::setgroups(1, &gid) }
    } else {
        // SAFETY: pw_name is a NUL-terminated string of the record above.
        unsafe { libc::initgroups((*entry).pw_name, gid) }
    };
    if groups_set != 0 {
        return Err(format!(
            "setting the groups of gid {gid}: {}",
            io::Error::last_os_error()
        ));
    }
    // SAFETY: setgid/setuid with integer arguments.
    if unsafe { libc::setgid(gid) } != 0 {
        return Err(format!("setgid({gid}): {}", io::Error::last_os_error()));
    }
    // SAFETY: as above.
    if unsafe { libc::setuid(uid) } != 0 {
        return Err(format!("setuid({uid}): {}", io::Error::last_os_error()));
    }
    // SAFETY: getters without memory effects.
    let (ruid, euid) = unsafe { (libc::getuid(), libc::geteuid()) };
    if ruid == 0 || euid == 0 {
        return Err("still root after setuid".to_owned());
    }
    Ok(())
}

/// Whether this process runs as root (and so may change its user).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no memory effects.
    unsafe { libc::geteuid() == 0 }
}

/// This process's real uid and gid.
pub fn ids() -> (u32, u32) {
    // SAFETY: getters without memory effects.
    unsafe { (libc::getuid(), libc::getgid()) }
}

/// Which of `fds` are readable (or closed by the peer, or in error) after
/// waiting at most `timeout_ms` (`poll`).
pub fn poll_readable(fds: &[RawFd], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `polled` is a live array of `len` pollfd records.
    let n = unsafe {
        libc::poll(
            polled.as_mut_ptr(),
            polled.len() as libc::nfds_t,
            timeout_ms,
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(vec![false; fds.len()])
        } else {
            Err(e)
        };
    }
    Ok(polled.iter().map(|p| p.revents != 0).collect())
}

/// The time now as `apr_ctime` writes it (`Thu Dec 03 06:51:44 2026`), for
/// a daemon's own lines on stderr.
pub fn ctime_now() -> String {
    let mut buffer = [0u8; 32];
    // SAFETY: apr_ctime writes at most APR_CTIME_LEN (25) bytes.
    unsafe { ffi::apr_ctime(buffer.as_mut_ptr().cast(), ffi::apr_time_now()) };
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(0);
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// The listening Unix socket on descriptor `fd`, which this process kept
/// open for the purpose (see `httpd::extra_processes::keep_sockets`) and
/// no other object owns.
pub fn kept_listener(fd: RawFd) -> Option<std::os::unix::net::UnixListener> {
    use std::os::fd::FromRawFd;
    // SAFETY: a zeroed stat is valid storage for fstat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if fd < 0 {
        return None;
    }
    // SAFETY: fstat on a descriptor number writes only the struct we own.
    let status = unsafe { libc::fstat(fd, &mut st) };
    if status != 0 || (st.st_mode & libc::S_IFMT) != libc::S_IFSOCK {
        return None;
    }
    // SAFETY: `fd` is an open socket this process kept for exactly this
    // (it was released from its listener with `into_raw_fd`); ownership
    // passes to the returned listener.
    Some(unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) })
}

/// Write `bytes` to standard error with one `write` call, taking no lock
/// (a daemon's watchdog writes while another thread may be stuck anywhere).
pub fn write_stderr(bytes: &[u8]) {
    // SAFETY: write reads `len` bytes of a live slice; fd 2 may be closed
    // (then the write fails harmlessly).
    let _ = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}

/// The uid of the process at the other end of a connected Unix socket
/// (`SO_PEERCRED`, as it was when it connected).
pub fn peer_uid(fd: RawFd) -> Option<u32> {
    // SAFETY: a zeroed ucred is valid storage for getsockopt to fill.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, which we own.
    let status = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (status == 0 && len as usize == std::mem::size_of::<libc::ucred>()).then_some(cred.uid)
}

/// This thread's kernel id (`gettid`).
pub fn thread_id() -> i32 {
    // SAFETY: gettid has no memory effects.
    unsafe { libc::gettid() }
}
