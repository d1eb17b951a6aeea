//! The rules the auth daemons' supervision follows (docs/auth-daemons.md),
//! kept apart from the process calls so they are tested: the restart
//! back-off, the temporary name a socket is bound under, the deadline a
//! child gives a call, the "make it again elsewhere" reply a daemon sends
//! when it ends because another call overran, when a draining daemon may
//! end, who may call, and how a process ended, in plain words.

use std::fmt;
use std::time::Duration;

use crate::daemon_frame::{CallReply, LogLine, Outcome};
use crate::log_tags as tags;

/// The first restart back-off, and the longest.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
pub const LONGEST_BACKOFF: Duration = Duration::from_secs(10);
/// A process that lived this long is restarted after the first back-off.
pub const LIVED_LONG: Duration = Duration::from_secs(10);

/// The back-off before replacing a process that lived `lived`, when the
/// one before waited `previous` (zero: none yet): 0.1 s, doubling with each
/// death in a row up to 10 s, back to 0.1 s after a process lived 10 s.
pub fn next_backoff(previous: Duration, lived: Duration) -> Duration {
    if lived >= LIVED_LONG || previous.is_zero() {
        FIRST_BACKOFF
    } else {
        (previous * 2).clamp(FIRST_BACKOFF, LONGEST_BACKOFF)
    }
}

/// The temporary name a socket at `path` is bound under before it is
/// renamed into place: `.sock` becomes `.next`, so it is no longer than
/// `path` (which fits a socket address) and never another group's socket
/// name (those end in `.sock`).
pub fn temporary_socket_name(path: &str) -> String {
    match path.strip_suffix(".sock") {
        Some(stem) => format!("{stem}.next"),
        None => format!("{path}.next"),
    }
}

/// How much longer than its time limit a child waits for a call's answer:
/// the daemon's watchdog ends a process whose call overran by 0.5 s.
pub const GRACE: Duration = Duration::from_millis(800);
/// The wait for a call without a time limit (`timeout_ms` 0).
pub const UNLIMITED_WAIT: Duration = Duration::from_secs(3600);

/// How long a child waits for a call with time limit `timeout_ms`.
pub fn call_wait(timeout_ms: u32) -> Duration {
    match timeout_ms {
        0 => UNLIMITED_WAIT,
        ms => Duration::from_millis(u64::from(ms)),
    }
    .saturating_add(GRACE)
}

/// The reply that asks the caller to make its call again in another
/// process of the group.
pub fn retry_elsewhere(sequence: u64) -> CallReply {
    CallReply {
        sequence,
        outcome: Outcome::Failed,
        timed_out: false,
        log: vec![LogLine {
            level: 7,
            tag: tags::DAEMON_CALL_MADE_AGAIN,
            text: "this daemon process ends (another call in it overran its time limit); \
                   the call is made again in another process of the group"
                .to_owned(),
        }],
    }
}

/// Whether `reply` asks for the call to be made again elsewhere.
pub fn is_retry_elsewhere(reply: &CallReply) -> bool {
    reply.outcome == Outcome::Failed
        && reply.log.len() == 1
        && reply.log[0].tag == tags::DAEMON_CALL_MADE_AGAIN
}

/// While draining: whether a connection idle since `idle_for` (counted
/// from the later of its last call and the start of the drain) is closed.
pub const DRAIN_IDLE: Duration = Duration::from_secs(1);

/// While draining: whether the process may end now.
pub fn drained(
    busy: usize,
    open_connections: usize,
    draining_for: Duration,
    cap: Duration,
) -> bool {
    (busy == 0 && open_connections == 0) || draining_for > cap
}

/// Whether a connection's peer of uid `peer` (`None`: unknown) may call a
/// daemon: root always; otherwise only `caller`, Apache's `User`, when
/// there is one (`None`: Apache was not started as root, everything runs
/// as one user, the socket's mode is the only check).
pub fn caller_allowed(peer: Option<u32>, caller: Option<u32>) -> bool {
    match (peer, caller) {
        (Some(0), _) => true,
        (Some(uid), Some(caller)) => uid == caller,
        (_, None) => true,
        (None, Some(_)) => false,
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessEnd {
    /// It exited (`_exit`, `exit`) with this status (0 to 255).
    Exited(i32),
    /// A signal killed it.
    Killed { signal: i32, core_dumped: bool },
}

/// The highest signal number (Linux: `SIGRTMAX`).
pub const LAST_SIGNAL: i32 = 64;

impl ProcessEnd {
    /// From a wait status as `waitpid` writes it; `None` for a status that
    /// is no end (a stopped or continued process).
    pub fn from_wait_status(status: i32) -> Option<ProcessEnd> {
        let low = status & 0x7f;
        if low == 0 {
            Some(ProcessEnd::Exited((status >> 8) & 0xff))
        } else if low != 0x7f && status & 0xffff == status {
            Some(ProcessEnd::Killed {
                signal: low,
                core_dumped: status & 0x80 != 0,
            })
        } else {
            None
        }
    }

    /// From what httpd's MPM reports of a process it reaped: the exit
    /// status *or* the number of the signal that killed it — `apr_proc_wait`
    /// tells the two apart, but the MPM passes only the number on to the
    /// other-child registry. A daemon process's own exit statuses (0, and
    /// those above `LAST_SIGNAL`) are no signal's number, so a number a
    /// signal has is read as that signal. (A script that ends its process
    /// itself, `os._exit(3)`, is reported as killed by signal 3: httpd does
    /// not say otherwise.)
    ///
    /// APR's other path (`apr_proc_other_child_refresh`, which httpd runs
    /// while it stops) passes `waitpid`'s raw status instead; a number
    /// above 255 can only be such a status (an exit status is at most 255,
    /// and so is a signal's number) and is decoded as one.
    pub fn from_mpm_report(number: i32) -> ProcessEnd {
        if number > 255 {
            if let Some(end) = ProcessEnd::from_wait_status(number) {
                return end;
            }
        }
        if (1..=LAST_SIGNAL).contains(&number) {
            ProcessEnd::Killed {
                signal: number,
                core_dumped: false,
            }
        } else {
            ProcessEnd::Exited(number)
        }
    }
}

/// The name of a (Linux) signal number.
pub fn signal_name(signal: i32) -> Option<String> {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match signal {
        1..=31 => Some(NAMES[(signal - 1) as usize].to_owned()),
        32..=LAST_SIGNAL => Some(format!("SIGRTMIN+{}", signal - 32)),
        _ => None,
    }
}

impl fmt::Display for ProcessEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ProcessEnd::Exited(status) => write!(f, "exited with status {status}"),
            ProcessEnd::Killed {
                signal,
                core_dumped,
            } => {
                write!(f, "was killed by signal {signal}")?;
                if let Some(name) = signal_name(signal) {
                    write!(f, " ({name})")?;
                }
                if core_dumped {
                    write!(f, ", dumping core")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon_frame::{decode_reply, encode_reply};

    #[test]
    fn backoff_doubles_to_ten_seconds_and_resets_after_a_long_life() {
        let short = Duration::from_millis(50);
        let mut waits = Vec::new();
        let mut backoff = Duration::ZERO;
        for _ in 0..10 {
            backoff = next_backoff(backoff, short);
            waits.push(backoff.as_millis());
        }
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]
        );
        assert_eq!(next_backoff(backoff, LIVED_LONG), FIRST_BACKOFF);
        assert_eq!(
            next_backoff(backoff, LIVED_LONG - Duration::from_millis(1)),
            LONGEST_BACKOFF
        );
    }

    #[test]
    fn the_temporary_name_is_as_long_and_never_a_socket_name() {
        let path = "/run/apache2/authnz-wsgi.123.auth.sock";
        let temporary = temporary_socket_name(path);
        assert_eq!(temporary, "/run/apache2/authnz-wsgi.123.auth.next");
        assert_eq!(temporary.len(), path.len());
        // Another group's socket never has this name.
        for other in ["auth.next", "auth", "a"] {
            assert_ne!(
                format!("/run/apache2/authnz-wsgi.123.{other}.sock"),
                temporary
            );
        }
    }

    #[test]
    fn a_call_waits_its_limit_and_the_grace() {
        assert_eq!(call_wait(2000), Duration::from_millis(2800));
        assert_eq!(call_wait(0), Duration::from_secs(3600) + GRACE);
        assert!(call_wait(u32::MAX) > Duration::from_secs(4_000_000));
    }

    #[test]
    fn the_retry_reply_survives_the_wire_and_is_not_mistaken() {
        let reply = retry_elsewhere(42);
        let frame = encode_reply(&reply).unwrap();
        let decoded = decode_reply(&frame[6..]).unwrap();
        assert!(is_retry_elsewhere(&decoded));
        assert_eq!(decoded.sequence, 42);
        // An ordinary failure, or one with more lines, is not a retry.
        let mut failed = decoded.clone();
        failed.log[0].tag = tags::SCRIPT_RAISED;
        assert!(!is_retry_elsewhere(&failed));
        let mut two = decoded.clone();
        two.log.push(two.log[0].clone());
        assert!(!is_retry_elsewhere(&two));
        let mut granted = decoded;
        granted.outcome = Outcome::Granted;
        assert!(!is_retry_elsewhere(&granted));
    }

    #[test]
    fn only_root_and_apaches_user_may_call() {
        assert!(caller_allowed(Some(0), Some(33)));
        assert!(caller_allowed(Some(33), Some(33)));
        assert!(!caller_allowed(Some(65534), Some(33)));
        assert!(!caller_allowed(None, Some(33)));
        assert!(caller_allowed(Some(1000), None));
    }

    #[test]
    fn a_drain_ends_when_nothing_is_left_or_at_the_cap() {
        let cap = Duration::from_secs(600);
        assert!(drained(0, 0, Duration::ZERO, cap));
        assert!(!drained(1, 0, Duration::from_secs(5), cap));
        assert!(!drained(0, 1, Duration::from_secs(5), cap));
        assert!(drained(3, 2, cap + Duration::from_millis(1), cap));
    }

    #[test]
    fn a_wait_status_is_an_exit_status_or_a_signal() {
        // As waitpid writes them (Linux): exit code in the second byte,
        // the signal in the low seven bits, 0x80 for a core dump.
        assert_eq!(ProcessEnd::from_wait_status(0), Some(ProcessEnd::Exited(0)));
        assert_eq!(
            ProcessEnd::from_wait_status(78 << 8),
            Some(ProcessEnd::Exited(78))
        );
        assert_eq!(
            ProcessEnd::from_wait_status(255 << 8),
            Some(ProcessEnd::Exited(255))
        );
        assert_eq!(
            ProcessEnd::from_wait_status(9),
            Some(ProcessEnd::Killed {
                signal: 9,
                core_dumped: false
            })
        );
        assert_eq!(
            ProcessEnd::from_wait_status(11 | 0x80),
            Some(ProcessEnd::Killed {
                signal: 11,
                core_dumped: true
            })
        );
        // Stopped (0x137f: SIGSTOP), continued (0xffff): no end.
        assert_eq!(ProcessEnd::from_wait_status(0x137f), None);
        assert_eq!(ProcessEnd::from_wait_status(0xffff), None);
        assert_eq!(ProcessEnd::from_wait_status(-1), None);
    }

    #[test]
    fn the_mpms_number_is_a_signal_when_a_signal_has_it() {
        let killed = |signal| ProcessEnd::Killed {
            signal,
            core_dumped: false,
        };
        assert_eq!(ProcessEnd::from_mpm_report(0), ProcessEnd::Exited(0));
        assert_eq!(ProcessEnd::from_mpm_report(9), killed(9));
        assert_eq!(ProcessEnd::from_mpm_report(1), killed(1));
        assert_eq!(ProcessEnd::from_mpm_report(64), killed(64));
        // The daemon's own statuses (the watchdog's 70, a failed start's
        // 78) and any other number no signal has: exit statuses.
        assert_eq!(ProcessEnd::from_mpm_report(65), ProcessEnd::Exited(65));
        assert_eq!(ProcessEnd::from_mpm_report(70), ProcessEnd::Exited(70));
        assert_eq!(ProcessEnd::from_mpm_report(78), ProcessEnd::Exited(78));
        assert_eq!(ProcessEnd::from_mpm_report(255), ProcessEnd::Exited(255));
        // A raw wait status (APR's refresh path): an exit status in the
        // second byte.
        assert_eq!(ProcessEnd::from_mpm_report(78 << 8), ProcessEnd::Exited(78));
        assert_eq!(ProcessEnd::from_mpm_report(1 << 8), ProcessEnd::Exited(1));
    }

    #[test]
    fn a_process_end_reads_as_plain_words() {
        assert_eq!(ProcessEnd::Exited(78).to_string(), "exited with status 78");
        assert_eq!(
            ProcessEnd::from_wait_status(9).unwrap().to_string(),
            "was killed by signal 9 (SIGKILL)"
        );
        assert_eq!(
            ProcessEnd::from_wait_status(11 | 0x80).unwrap().to_string(),
            "was killed by signal 11 (SIGSEGV), dumping core"
        );
        assert_eq!(
            ProcessEnd::from_mpm_report(15).to_string(),
            "was killed by signal 15 (SIGTERM)"
        );
        assert_eq!(signal_name(31).as_deref(), Some("SIGSYS"));
        assert_eq!(signal_name(34).as_deref(), Some("SIGRTMIN+2"));
        assert_eq!(signal_name(0), None);
        assert_eq!(signal_name(65), None);
    }
}
