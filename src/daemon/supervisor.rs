//! The daemon groups of one configuration generation, as Apache's parent
//! runs them: in `post_config` (of the reading the server runs with) each
//! group's socket is made and its processes forked; each process is
//! registered with APR's other-child registry, so the MPM's main loop
//! reports its death and the supervisor starts it again (after a back-off
//! of 0.1 s doubling to 10 s, back to 0.1 s once a process lived 10 s) with
//! one log line. At a stop or a hard restart the MPM asks the registered
//! processes to stop; when the configuration pool is cleared (any restart,
//! the stop) the generation ends: its processes are told to drain
//! (`SIGTERM`), waited for and reaped here — so the MPM never meets a
//! process it does not know — and killed if they outlive the wait.
//!
//! The line that reports a process's end says in plain words whether it
//! exited (with which status) or was killed (by which signal): httpd's
//! MPM passes on one number for both, and a daemon process's own exit
//! statuses are chosen so that none is a signal's number.
//!
//! When httpd runs as one process (`-X`, `-DONE_PROCESS`) the processes
//! are started as usual, but the MPM has no main loop: a thread of the one
//! process reaps and reports those that end, and none is replaced. The one
//! process drops to `User`, after which it can neither signal processes of
//! another account nor remove the socket files: a small cleanup process,
//! forked before that, waits for the one process to end, then stops the
//! daemon processes and removes the socket files.
//!
//! Everything here runs on the parent's one thread.

use std::collections::HashMap;
use std::os::fd::IntoRawFd;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use authnz_core::daemon_options::socket_path;
use authnz_core::daemon_supervision::{next_backoff, ProcessEnd};
use authnz_core::log_tags as tags;

use crate::apr::unix::{self, ChildEvent, Forked, OtherChild, ParentPool, Registration};
use crate::daemon::listener::{self, GroupSocket};
use crate::daemon::process::{self, Spec};
use crate::daemon::server::Serving;
use crate::daemon::sockets;
use crate::daemon::stderr_log;
use crate::httpd::extra_processes::{self, KeptSocket, ParentServer, PoolEnd};
use crate::httpd::log::Level;
use crate::httpd::{server_state, Server};
use crate::python::daemon_side::DaemonPython;
use crate::slog;

/// How long a graceful restart waits for a group's processes to drain
/// when the group has no call time limit of its own.
const DRAIN_WAIT: Duration = Duration::from_secs(30);
/// How long a stop waits before it kills.
const STOP_WAIT: Duration = Duration::from_secs(3);
/// The name of the cleanup process of one-process mode.
pub const CLEANUP_NAME: &str = "authnz-cleanup";

/// A daemon group as the configuration defines it, accounts resolved.
pub struct GroupPlan {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub processes: u32,
    pub threads: u32,
    pub python: DaemonPython,
    /// `call-timeout=` in seconds, when given.
    pub call_timeout: Option<u64>,
}

struct Slot {
    pid: Option<i32>,
    registration: Option<Registration>,
    started: Instant,
    backoff: Duration,
}

struct Group {
    plan: GroupPlan,
    socket: GroupSocket,
    slots: Vec<Slot>,
}

struct Generation {
    parent: i32,
    pool: ParentPool,
    main: ParentServer,
    groups: Vec<Group>,
    /// The MPM asked the processes to stop (a stop or a hard restart).
    stopping: bool,
    /// Apache's `User`, the one account (besides root) that may call.
    caller_uid: Option<u32>,
    /// When httpd runs as one process: the cleanup process that stops the
    /// daemons once it has ended.
    cleanup: Option<i32>,
}

static CURRENT: Mutex<Option<Generation>> = Mutex::new(None);

fn current() -> std::sync::MutexGuard<'static, Option<Generation>> {
    CURRENT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ends the generation when the configuration pool is cleared.
struct GenerationEnd;

impl Drop for GenerationEnd {
    fn drop(&mut self) {
        end_generation();
    }
}

/// Start this generation's daemon groups (the parent's `post_config`):
/// make each socket, publish the table of socket paths the children will
/// use, fork the processes. Groups of an earlier generation have ended
/// already (the pool cleanup ran before this reading).
pub fn start_generation(main: Server, plans: Vec<GroupPlan>) -> Result<(), String> {
    let parent = unix::pid();
    let Some(pool) = main.config_pool() else {
        return Err("no configuration pool".to_owned());
    };
    let prefix = main
        .runtime_dir_relative("authnz-wsgi.")
        .map(|p| format!("{p}{parent}."))
        .ok_or("no runtime directory")?;
    let owner = if unix::is_root() {
        crate::httpd::unixd::apache_user_id()
    } else {
        None
    };
    // The previous generation's sockets, kept open across a graceful
    // restart: a group at the same path takes its socket over, with the
    // connections waiting in its queue.
    let mut kept = extra_processes::take_kept_sockets();
    let mut groups = Vec::new();
    for plan in plans {
        let path = socket_path(&prefix, &plan.name)?;
        let reused = kept
            .iter()
            .position(|k| k.path == path)
            .map(|i| kept.swap_remove(i))
            .and_then(|k| listener::take_over(k.fd, &path, k.inode, owner));
        let socket = match reused.map_or_else(|| listener::bind(&path, owner), Ok) {
            Ok(socket) => socket,
            Err(e) => {
                // Start-up stops: leave no socket file of this attempt.
                for group in &groups {
                    let group: &Group = group;
                    listener::remove_if_ours(&group.socket.path, group.socket.inode);
                }
                return Err(format!(
                    "WSGIAuthDaemonProcess {}: cannot make its socket {path}: {e}",
                    plan.name
                ));
            }
        };
        let slots = (0..plan.processes)
            .map(|_| Slot {
                pid: None,
                registration: None,
                started: Instant::now(),
                backoff: Duration::ZERO,
            })
            .collect();
        groups.push(Group {
            plan,
            socket,
            slots,
        });
    }
    // Kept sockets no group takes over are closed.
    for socket in kept {
        drop(unix::kept_listener(socket.fd));
    }
    let paths: Vec<PathBuf> = groups.iter().map(|g| g.socket.path.clone()).collect();
    listener::remove_stale(&prefix, &paths);
    sockets::publish(
        groups
            .iter()
            .map(|g| (g.plan.name.clone(), g.socket.path.clone()))
            .collect::<HashMap<_, _>>(),
    );
    if groups.is_empty() {
        return Ok(());
    }
    // The guard's cleanup is registered before the processes' other-child
    // registrations, so it runs after APR has removed them.
    pool.alloc(GenerationEnd);
    let mut guard = current();
    let generation = guard.insert(Generation {
        parent,
        pool: ParentPool(pool),
        main: ParentServer(main),
        groups,
        stopping: false,
        caller_uid: owner,
        cleanup: None,
    });
    for g in 0..generation.groups.len() {
        for s in 0..generation.groups[g].slots.len() {
            spawn(generation, g, s, Duration::ZERO);
        }
    }
    if server_state::one_process() {
        generation.cleanup = start_cleanup(generation);
        let main = main_server(generation);
        match generation.cleanup {
            Some(pid) => slog!(
                main,
                Level::Notice,
                tags::DAEMON_ONE_PROCESS,
                "httpd runs as one process (-X): the auth daemon processes are not replaced if \
                 they end; when httpd ends, the cleanup process (pid {pid}, {CLEANUP_NAME}) \
                 stops them and removes their sockets"
            ),
            None => slog!(
                main,
                Level::Error,
                tags::DAEMON_CLEANUP_FAILED,
                "httpd runs as one process (-X) and the cleanup process of the auth daemons \
                 could not be started; httpd stops them itself when it ends, as far as its \
                 account allows"
            ),
        }
    }
    Ok(())
}

/// One-process mode: fork the cleanup process (as root, when httpd was
/// started as root: before the one process drops to `User`); its pid. It closes what it inherited but
/// standard error (the main error log), ignores the termination signals
/// (a Ctrl-C reaches the whole process group; it acts when the one
/// process has ended), and once its parent is gone stops the daemon
/// processes and removes the socket files.
fn start_cleanup(generation: &Generation) -> Option<i32> {
    let pids: Vec<(String, Vec<i32>)> = generation
        .groups
        .iter()
        .map(|g| {
            (
                g.plan.name.clone(),
                g.slots.iter().filter_map(|s| s.pid).collect(),
            )
        })
        .collect();
    let sockets: Vec<(PathBuf, (u64, u64))> = generation
        .groups
        .iter()
        .map(|g| (g.socket.path.clone(), g.socket.inode))
        .collect();
    let parent = generation.parent;
    match unix::fork(generation.pool.0) {
        Ok(Forked::Child) => {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                unix::reset_signals_for_daemon();
                unix::ignore_termination_signals();
                unix::set_process_name(CLEANUP_NAME);
                unix::close_descriptors_except(&[]);
                while unix::parent_pid() == parent {
                    std::thread::sleep(Duration::from_millis(50));
                }
                clean_up(&pids, &sockets);
            }));
            unix::exit_now(0)
        }
        Ok(Forked::Parent(child)) => Some(child.pid),
        Err(_) => None,
    }
}

/// Whether `pid` is a live daemon process (not a zombie, not a process
/// that took its pid since).
fn is_daemon(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let name = stat
            .split_once('(')
            .and_then(|(_, rest)| rest.rsplit_once(')'));
        matches!(name, Some((comm, rest))
            if comm == process::PROCESS_NAME && !rest.trim_start().starts_with('Z'))
    })
}

/// In the cleanup process, once the one process has ended: remove the
/// socket files (no new connection), ask the daemon processes to end,
/// kill those still there after the stop's wait, one line per group.
fn clean_up(groups: &[(String, Vec<i32>)], sockets: &[(PathBuf, (u64, u64))]) {
    let started = Instant::now();
    for (path, inode) in sockets {
        listener::remove_if_ours(path, *inode);
    }
    for &pid in groups.iter().flat_map(|(_, pids)| pids) {
        if is_daemon(pid) {
            unix::kill(pid, libc::SIGTERM);
        }
    }
    let all_gone = |pids: &[i32]| pids.iter().all(|&pid| !is_daemon(pid));
    for (name, pids) in groups {
        while !all_gone(pids) && started.elapsed() < STOP_WAIT {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut killed = 0;
        for &pid in pids {
            if is_daemon(pid) && unix::kill(pid, libc::SIGKILL) {
                killed += 1;
            }
        }
        stderr_log::line(
            "info",
            tags::DAEMON_GROUP_STOPPED,
            &stopped_text(name, pids.len(), true, started.elapsed(), killed),
        );
    }
}

/// The text of the line that says a group's processes were stopped.
fn stopped_text(
    name: &str,
    processes: usize,
    stopping: bool,
    took: Duration,
    killed: usize,
) -> String {
    format!(
        "daemon group {name}: {processes} process(es) stopped for the {} in {:.1} s{}",
        if stopping { "stop" } else { "graceful restart" },
        took.as_secs_f64(),
        if killed > 0 {
            format!(", {killed} killed after the wait")
        } else {
            String::new()
        }
    )
}

fn main_server(generation: &Generation) -> Option<Server> {
    Some(generation.main.0)
}

/// Fork the process of slot `s` of group `g`, starting after `delay`.
fn spawn(generation: &mut Generation, g: usize, s: usize, delay: Duration) {
    let parent = generation.parent;
    let main = main_server(generation);
    let pool = generation.pool.0;
    let caller_uid = generation.caller_uid;
    let group = &mut generation.groups[g];
    match unix::fork(pool) {
        Ok(Forked::Child) => {
            let listener = match group.socket.listener.try_clone() {
                Ok(listener) => listener,
                Err(_) => unix::exit_now(process::EXIT_SETUP_FAILED),
            };
            let spec = Spec {
                serving: Serving {
                    group: group.plan.name.clone(),
                    threads: group.plan.threads as usize,
                    caller_uid,
                },
                uid: group.plan.uid,
                gid: group.plan.gid,
                python: group.plan.python.clone(),
                parent,
                delay,
            };
            // Whatever happens in the daemon, it never returns into the
            // parent's code it was forked from.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                process::run(&spec, listener);
            }));
            unix::exit_now(process::EXIT_SETUP_FAILED)
        }
        Ok(Forked::Parent(child)) => {
            let slot = &mut group.slots[s];
            slot.pid = Some(child.pid);
            slot.started = Instant::now() + delay;
            slot.registration = Some(unix::register_other_child::<Events>(
                pool,
                child,
                token(g, s),
            ));
            slog!(
                main,
                Level::Info,
                tags::DAEMON_STARTED,
                "daemon group {}: process {} of {} started (pid {}, uid {}, gid {}{})",
                group.plan.name,
                s + 1,
                group.slots.len(),
                child.pid,
                group.plan.uid,
                group.plan.gid,
                if delay.is_zero() {
                    String::new()
                } else {
                    format!(", serving after {:.1} s", delay.as_secs_f64())
                }
            );
        }
        Err(e) => {
            group.slots[s].pid = None;
            slog!(
                main,
                Level::Error,
                tags::DAEMON_FORK_FAILED,
                "daemon group {}: cannot start a process: {e}; tried again when another \
                 process of the group ends or at the next restart",
                group.plan.name
            );
        }
    }
}

fn token(g: usize, s: usize) -> usize {
    (g << 16) | s
}

/// What the MPM reports about the registered processes.
struct Events;

impl OtherChild for Events {
    fn event(token: usize, event: ChildEvent, status: i32) {
        let (g, s) = (token >> 16, token & 0xffff);
        let mut guard = current();
        let Some(generation) = guard.as_mut() else {
            return;
        };
        if generation.parent != unix::pid() || g >= generation.groups.len() {
            return;
        }
        if s >= generation.groups[g].slots.len() {
            return;
        }
        match event {
            ChildEvent::Death | ChildEvent::Lost => {
                let main = main_server(generation);
                let stopping = generation.stopping || extra_processes::mpm_stopping();
                let group = &mut generation.groups[g];
                let slot = &mut group.slots[s];
                if let Some(registration) = slot.registration.take() {
                    unix::unregister_other_child(registration);
                }
                let pid = slot.pid.take().unwrap_or(0);
                if stopping {
                    return;
                }
                let lived = slot.started.elapsed();
                slot.backoff = next_backoff(slot.backoff, lived);
                let backoff = slot.backoff;
                // The MPM reaped it and passes on its exit status or the
                // signal's number, without saying which.
                let how = if event == ChildEvent::Lost {
                    "was lost (httpd could not reap it)".to_owned()
                } else {
                    ProcessEnd::from_mpm_report(status).to_string()
                };
                let next = format!("starting another in {:.1} s", backoff.as_secs_f64());
                slog!(
                    main,
                    Level::Error,
                    tags::DAEMON_PROCESS_ENDED,
                    "{}",
                    ended_text(&group.plan.name, pid, lived, &how, &next)
                );
                spawn(generation, g, s, backoff);
            }
            ChildEvent::Restart => {
                generation.stopping = true;
                if let Some(pid) = generation.groups[g].slots[s].pid {
                    unix::kill(pid, libc::SIGTERM);
                }
            }
            ChildEvent::Running => {}
        }
    }
}

/// The text of the line that says a process of group `name` ended
/// (`how`: in plain words) and what comes `next`.
fn ended_text(name: &str, pid: i32, lived: Duration, how: &str, next: &str) -> String {
    format!(
        "daemon group {name}: process pid {pid} ended after {:.1} s: it {how}; {next}",
        lived.as_secs_f64()
    )
}

/// One-process mode, in the one process once it serves: a thread reaps
/// the daemon processes that end (nothing else does: the MPM has no main
/// loop) and says so; they are not replaced (forking from this process,
/// threads running and perhaps Python started, would not be sound). It
/// ends with the generation. It writes its line straight to standard
/// error (the main error log), using nothing of httpd's: it may run while
/// the process ends and httpd's pools are being destroyed.
fn watch_one_process() {
    let watcher = unix::spawn_with_signals_blocked("authnz-watch", || loop {
        std::thread::sleep(Duration::from_millis(100));
        let mut guard = current();
        let Some(generation) = guard.as_mut() else {
            return;
        };
        // Stopping: the processes end with httpd, the cleanup process
        // takes over. (While the generation is here, its pool and httpd's
        // retained data are live: the pool's cleanup takes it out first.)
        if generation.parent != unix::pid() || extra_processes::mpm_stopping() {
            return;
        }
        for group in &mut generation.groups {
            for slot in &mut group.slots {
                let Some(pid) = slot.pid else { continue };
                let Some(status) = unix::try_reap(pid) else {
                    continue;
                };
                // Its registration stays until the pool's cleanup removes
                // it (APR's registry is not this thread's to change).
                slot.pid = None;
                let how = ProcessEnd::from_wait_status(status)
                    .map_or_else(|| "was lost".to_owned(), |end| end.to_string());
                stderr_log::line(
                    "error",
                    tags::DAEMON_PROCESS_ENDED,
                    &ended_text(
                        &group.plan.name,
                        pid,
                        slot.started.elapsed(),
                        &how,
                        "not replaced: httpd runs as one process (-X); start it again",
                    ),
                );
            }
        }
    });
    if let Err(e) = watcher {
        slog!(
            None,
            Level::Error,
            tags::DAEMON_CLEANUP_FAILED,
            "the thread that watches the auth daemon processes in one-process mode could not \
             be started: {e}"
        );
    }
}

/// End the current generation (the configuration pool's cleanup): tell
/// every process to drain, wait for them, kill those that outlive the
/// wait, reap them all; at a graceful restart keep the listening sockets
/// open for the next generation, at a stop remove the socket files.
fn end_generation() {
    let Some(generation) = current().take() else {
        return;
    };
    if generation.parent != unix::pid() {
        // A process forked from the parent (never expected to clear the
        // pool): the processes are not its to stop.
        std::mem::forget(generation);
        return;
    }
    if generation.cleanup.is_some() {
        // One process: its cleanup process stops the daemons once it has
        // ended (this process may have dropped to `User` by now).
        return;
    }
    let end = extra_processes::pool_end();
    let stopping = end != PoolEnd::Restart || generation.stopping;
    let main = main_server(&generation);
    let started = Instant::now();
    for group in &generation.groups {
        if stopping {
            // New connections are refused from now on.
            listener::remove_if_ours(&group.socket.path, group.socket.inode);
        }
        let wait = if stopping {
            STOP_WAIT
        } else {
            group
                .plan
                .call_timeout
                .filter(|&t| t > 0)
                .map_or(DRAIN_WAIT, |t| {
                    Duration::from_secs(t) + Duration::from_secs(2)
                })
        };
        let pids: Vec<i32> = group.slots.iter().filter_map(|s| s.pid).collect();
        for &pid in &pids {
            unix::kill(pid, libc::SIGTERM);
        }
        let mut killed = 0;
        for &pid in &pids {
            if !unix::reap_before(pid, started + wait) {
                unix::kill(pid, libc::SIGKILL);
                killed += 1;
                unix::reap_before(pid, Instant::now() + Duration::from_secs(2));
            }
        }
        slog!(
            main,
            Level::Info,
            tags::DAEMON_GROUP_STOPPED,
            "{}",
            stopped_text(
                &group.plan.name,
                pids.len(),
                stopping,
                started.elapsed(),
                killed
            )
        );
    }
    if !stopping {
        let sockets = generation
            .groups
            .into_iter()
            .map(|group| KeptSocket {
                fd: group.socket.listener.into_raw_fd(),
                path: group.socket.path.to_string_lossy().into_owned(),
                inode: group.socket.inode,
            })
            .collect();
        for left in extra_processes::keep_sockets(sockets) {
            drop(unix::kept_listener(left.fd));
        }
    }
}

/// In an Apache child (`child_init`): close the daemon groups' listening
/// sockets the child inherited from the parent; it never accepts on them.
/// In one-process mode the "child" is the parent itself: it keeps the
/// generation, to end it when it ends.
pub fn close_listeners_in_child() {
    let mut guard = current();
    if guard.as_ref().is_some_and(|g| g.parent == unix::pid()) {
        drop(guard);
        watch_one_process();
        return;
    }
    if let Some(generation) = guard.take() {
        // The processes and the pool are the parent's: only the sockets
        // are closed here (dropping the groups closes them).
        drop(generation.groups);
    }
}
