//! The child's side of a call to an auth daemon group: one connection per
//! worker thread and group, reused call after call (reconnected when there
//! is none or the daemon closed it while it sat idle), a deadline for the
//! whole exchange, one log line with the request's context on any failure,
//! and the daemon's log lines replayed with the request's context.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use authnz_core::daemon_connection::{DaemonConnection, ExchangeError};
use authnz_core::daemon_frame::{CallReply, CallRequest};
use authnz_core::daemon_supervision::{call_wait, is_retry_elsewhere, GRACE};
use authnz_core::log_tags as tags;

use crate::apr::socket_peek;
use crate::daemon::{replay, sockets};
use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::rlog;

/// The deadline of a call made now with time limit `timeout_ms` (0: none):
/// the limit and a grace of 0.8 s (an hour and the grace without a limit).
pub fn deadline_for(timeout_ms: u32) -> Instant {
    Instant::now() + call_wait(timeout_ms)
}

/// How long a new connection waits for a daemon process to take it (its
/// greeting): longer than most restart back-offs, far shorter than a call's
/// default limit.
const ACCEPT_WAIT: Duration = Duration::from_secs(5);

thread_local! {
    /// This worker thread's connection to each group it called.
    static CONNECTIONS: RefCell<HashMap<String, Option<DaemonConnection>>> =
        RefCell::new(HashMap::new());
}

/// Make `request` in daemon group `group` (its socket), from a worker
/// thread of an Apache child: reuses this thread's connection to that group
/// (reconnects when there is none), waits at most until `deadline`; on any
/// failure logs one line with the request's context and returns `Err(())`.
/// On success it replays `reply.log` with the request's context and
/// returns the reply. `limit_setting` names the setting the call's time
/// limit came from, for the lines about it.
#[allow(clippy::result_unit_err)]
pub fn call(
    r: Request,
    group: &str,
    request: &CallRequest,
    deadline: Instant,
    limit_setting: &str,
) -> Result<CallReply, ()> {
    let function = request.function.name();
    let script = &request.script;
    let Some(path) = sockets::path_of(group) else {
        rlog!(
            &r,
            Level::Error,
            tags::DAEMON_UNREACHABLE,
            "{function} of {script}: daemon group {group} is not running in this generation"
        );
        return Err(());
    };
    let started = Instant::now();
    let mut outcome = exchange(group, &path, request, deadline);
    if let Ok(reply) = &outcome {
        if is_retry_elsewhere(reply) {
            rlog!(
                &r,
                Level::Debug,
                tags::DAEMON_CALL_MADE_AGAIN,
                "{function} of {script}: daemon group {group}: the process ended while the \
                 call waited (another call overran); made again"
            );
            forget_connection(group);
            outcome = exchange(group, &path, request, deadline);
            // Once only: a second process ending the same way is a loss.
            if matches!(&outcome, Ok(reply) if is_retry_elsewhere(reply)) {
                forget_connection(group);
                outcome = Err(Failure::Exchange(ExchangeError::Closed));
            }
        }
    }
    match outcome {
        Ok(reply) => {
            replay::replay(r, &reply.log, limit_setting);
            Ok(reply)
        }
        Err(Failure::Connect(e)) => {
            rlog!(
                &r,
                Level::Error,
                tags::DAEMON_UNREACHABLE,
                "{function} of {script}: cannot reach daemon group {group} at {}: {e}",
                path.display()
            );
            Err(())
        }
        Err(Failure::Exchange(ExchangeError::TimedOut)) => {
            rlog!(
                &r,
                Level::Error,
                tags::DAEMON_NO_ANSWER,
                "{function} of {script}: daemon group {group} gave no answer within {:.1} s \
                 (the call's time limit, from {limit_setting}, and {:.1} s)",
                started.elapsed().as_secs_f64(),
                GRACE.as_secs_f64()
            );
            Err(())
        }
        Err(Failure::Exchange(ExchangeError::Closed)) => {
            rlog!(
                &r,
                Level::Error,
                tags::DAEMON_CONNECTION_LOST,
                "{function} of {script}: daemon group {group} closed the connection before it \
                 answered (the daemon process died during the call) after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Err(())
        }
        Err(Failure::Exchange(e)) => {
            rlog!(
                &r,
                Level::Error,
                tags::DAEMON_REPLY_REFUSED,
                "{function} of {script}: daemon group {group}: {e}"
            );
            Err(())
        }
    }
}

enum Failure {
    Connect(std::io::Error),
    Exchange(ExchangeError),
}

/// One exchange on this thread's connection to `group` (a new one when
/// there is none or the daemon closed it while it sat idle); the
/// connection is kept only after an answer.
fn exchange(
    group: &str,
    path: &std::path::Path,
    request: &CallRequest,
    deadline: Instant,
) -> Result<CallReply, Failure> {
    let reused = forget_connection(group);
    let connection = match reused.filter(|c| c.is_usable_by(socket_peek::peek_now)) {
        Some(connection) => connection,
        None => {
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .min(ACCEPT_WAIT);
            DaemonConnection::connect_greeted(path, wait).map_err(Failure::Connect)?
        }
    };
    let (reply, connection) = connection
        .call(request, deadline)
        .map_err(Failure::Exchange)?;
    keep_connection(group, connection);
    Ok(reply)
}

/// Take this thread's connection to `group` out of its map (none is left).
fn forget_connection(group: &str) -> Option<DaemonConnection> {
    CONNECTIONS.with(|c| c.borrow_mut().get_mut(group).and_then(Option::take))
}

/// Keep `connection` as this thread's connection to `group` (the group's
/// entry is made once per thread).
fn keep_connection(group: &str, connection: DaemonConnection) {
    CONNECTIONS.with(|c| {
        let mut connections = c.borrow_mut();
        match connections.get_mut(group) {
            Some(slot) => *slot = Some(connection),
            None => {
                connections.insert(group.to_owned(), Some(connection));
            }
        }
    });
}
