//! One connection from an Apache child's worker thread to an auth daemon
//! group (docs/auth-daemons.md), reused call after call: each request gets
//! the next sequence number, its reply must echo it, and the whole
//! exchange must end before a deadline. Any error — a mismatched number, a
//! malformed frame, a closed socket, the deadline — consumes the
//! connection, so a late or stale reply can never answer another request:
//! the caller connects anew for its next call. Before the first frame, a
//! daemon process writes one greeting byte ([`GREETING`], the protocol
//! version) on each connection it accepts ([`DaemonConnection::connect_greeted`]).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::daemon_frame::{
    decode_reply, encode_request_into, parse_header, CallReply, CallRequest, FrameError, Kind,
    HEADER_LEN, VERSION,
};

/// The byte a daemon process writes on each connection it accepts.
pub const GREETING: u8 = VERSION;

/// Why an exchange gave no answer. The connection is gone in every case.
#[derive(Debug)]
pub enum ExchangeError {
    /// The deadline passed before the reply was whole.
    TimedOut,
    /// The daemon closed the connection (it crashed, or refused a frame).
    Closed,
    /// The reply answers another request.
    SequenceMismatch {
        sent: u64,
        got: u64,
    },
    /// The reply is not a well-formed reply frame.
    Frame(FrameError),
    Io(io::Error),
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExchangeError::TimedOut => f.write_str("no reply before the deadline"),
            ExchangeError::Closed => f.write_str("the daemon closed the connection"),
            ExchangeError::SequenceMismatch { sent, got } => {
                write!(f, "a reply to request {got} came for request {sent}")
            }
            ExchangeError::Frame(e) => write!(f, "malformed reply: {e}"),
            ExchangeError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// A connection to a daemon group's socket.
#[derive(Debug)]
pub struct DaemonConnection {
    stream: UnixStream,
    next_sequence: u64,
    /// The send and receive timeouts last set on the socket: a call whose
    /// wait is about the same as the last one's sets none.
    timeouts: Option<Duration>,
    /// The last request's frame and reply, kept for their capacity.
    frame: Vec<u8>,
    input: Vec<u8>,
}

/// How much longer than a call's remaining wait the socket's timeouts may
/// be (a tenth of the wait, at most 50 ms): the exchange may end that much
/// after its deadline, and saves two system calls per call.
fn timeout_slack(wait: Duration) -> Duration {
    (wait / 10).min(Duration::from_millis(50))
}

/// The most bytes of a reply read at once before its length is known:
/// replies are usually far smaller, and read in one call.
const FIRST_READ: usize = 4096;
/// The largest reply buffer a connection keeps between calls (a larger
/// reply's buffer is let go).
const KEPT_INPUT: usize = 64 * 1024;

impl DaemonConnection {
    /// Connect to the socket at `path`.
    pub fn connect(path: &Path) -> io::Result<DaemonConnection> {
        UnixStream::connect(path).map(DaemonConnection::over)
    }

    /// Connect to the socket at `path` and wait at most `wait` for the
    /// daemon's greeting (one byte, the protocol [`VERSION`], written by a
    /// daemon process as it accepts a connection). The socket's queue
    /// takes a connection even while no process of the group runs (one
    /// starting, or restarting after a crash): without a greeting the
    /// caller knows within `wait` that nobody took it.
    pub fn connect_greeted(path: &Path, wait: Duration) -> io::Result<DaemonConnection> {
        let mut stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        let mut greeting = [0u8; 1];
        match stream.read(&mut greeting) {
            Ok(1) if greeting[0] == GREETING => Ok(DaemonConnection::over(stream)),
            Ok(1) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the daemon speaks protocol version {}, this child {GREETING}",
                    greeting[0]
                ),
            )),
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the connection was closed before the daemon greeted it",
            )),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no daemon process took the connection within {:.1} s (none is \
                         running: starting, or restarting after it ended)",
                        wait.as_secs_f64()
                    ),
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// A connection over a stream already connected.
    pub fn over(stream: UnixStream) -> DaemonConnection {
        DaemonConnection {
            stream,
            next_sequence: 1,
            timeouts: None,
            frame: Vec::new(),
            input: Vec::new(),
        }
    }

    /// Whether this idle connection can still carry a call: the daemon has
    /// not closed it (a daemon closes idle connections when it ends, e.g.
    /// after a graceful restart) and sent nothing unasked. Checked before a
    /// reused connection is used, so a connection the daemon closed while it
    /// sat idle is replaced by a new one instead of failing a request.
    /// Made with std's calls (four of them); see [`Self::is_usable_by`].
    pub fn is_usable(&self) -> bool {
        self.is_usable_by(|stream| {
            stream.set_nonblocking(true)?;
            // A byte read here is lost, but then the connection is not
            // used again anyway.
            let mut byte = [0u8; 1];
            let read = (&mut &*stream).read(&mut byte);
            stream.set_nonblocking(false)?;
            read
        })
    }

    /// [`Self::is_usable`], with `peek_now` looking at the socket without
    /// waiting (`Ok(0)`: closed; `Ok(n)`: bytes are waiting; `WouldBlock`:
    /// open and silent, nothing consumed), e.g. one `recv` with `MSG_PEEK |
    /// MSG_DONTWAIT`.
    pub fn is_usable_by(&self, peek_now: impl FnOnce(&UnixStream) -> io::Result<usize>) -> bool {
        matches!(peek_now(&self.stream), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Send `request` (its sequence number is set here) and wait until
    /// `deadline` for its reply. The connection comes back only with an
    /// answer; on any error it is dropped (closed).
    pub fn call(
        mut self,
        request: &CallRequest,
        deadline: Instant,
    ) -> Result<(CallReply, DaemonConnection), ExchangeError> {
        let sent = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        // The connection's buffers are reused call after call: a call
        // allocates no frame-sized memory.
        let mut frame = std::mem::take(&mut self.frame);
        encode_request_into(request, sent, &mut frame).map_err(ExchangeError::Frame)?;
        self.prepare_timeouts(deadline)?;
        self.write_before(&frame, deadline)?;
        self.frame = frame;
        let mut input = std::mem::take(&mut self.input);
        let reply = self.read_reply(&mut input, deadline)?;
        if input.len() > KEPT_INPUT {
            input = Vec::new();
        }
        self.input = input;
        if reply.sequence != sent {
            return Err(ExchangeError::SequenceMismatch {
                sent,
                got: reply.sequence,
            });
        }
        Ok((reply, self))
    }

    /// Read one reply frame into `input`: the header and, usually, the
    /// whole payload in one read.
    fn read_reply(
        &mut self,
        input: &mut Vec<u8>,
        deadline: Instant,
    ) -> Result<CallReply, ExchangeError> {
        if input.len() < FIRST_READ {
            input.resize(FIRST_READ, 0);
        }
        let mut got = 0;
        while got < HEADER_LEN {
            got += self.read_some(&mut input[got..FIRST_READ], deadline)?;
        }
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&input[..HEADER_LEN]);
        let (kind, len) = parse_header(&header).map_err(ExchangeError::Frame)?;
        if kind != Kind::Reply {
            return Err(ExchangeError::Frame(FrameError::UnexpectedKind(kind)));
        }
        // `len` is within the frame bound. Bytes beyond the frame were not
        // asked for: the connection is not kept.
        let whole = HEADER_LEN + len;
        if got > whole {
            return Err(ExchangeError::Frame(FrameError::Trailing(got - whole)));
        }
        if input.len() < whole {
            input.resize(whole, 0);
        }
        while got < whole {
            got += self.read_some(&mut input[got..whole], deadline)?;
        }
        decode_reply(&input[HEADER_LEN..whole]).map_err(ExchangeError::Frame)
    }

    fn remaining(deadline: Instant) -> Result<Duration, ExchangeError> {
        match deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(left),
            _ => Err(ExchangeError::TimedOut),
        }
    }

    /// Set the socket's timeouts to what is left before `deadline`, unless
    /// those set last are no shorter and at most a little longer.
    fn prepare_timeouts(&mut self, deadline: Instant) -> Result<(), ExchangeError> {
        let left = Self::remaining(deadline)?;
        let close_enough = self
            .timeouts
            .is_some_and(|set| set >= left && set <= left + timeout_slack(left));
        if !close_enough {
            self.set_timeouts(left)?;
        }
        Ok(())
    }

    fn set_timeouts(&mut self, wait: Duration) -> Result<(), ExchangeError> {
        self.timeouts = None;
        self.stream
            .set_write_timeout(Some(wait))
            .map_err(ExchangeError::Io)?;
        self.stream
            .set_read_timeout(Some(wait))
            .map_err(ExchangeError::Io)?;
        self.timeouts = Some(wait);
        Ok(())
    }

    /// After a socket timeout: `TimedOut` once the deadline has passed,
    /// else the timeouts shortened to what is left, to try again.
    fn timed_out_or_retry(&mut self, deadline: Instant) -> Result<(), ExchangeError> {
        let left = Self::remaining(deadline)?;
        self.set_timeouts(left)
    }

    fn write_before(&mut self, mut bytes: &[u8], deadline: Instant) -> Result<(), ExchangeError> {
        while !bytes.is_empty() {
            match self.stream.write(bytes) {
                Ok(0) => return Err(ExchangeError::Closed),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => match Self::classify(e) {
                    ExchangeError::TimedOut => self.timed_out_or_retry(deadline)?,
                    other => return Err(other),
                },
            }
        }
        Ok(())
    }

    /// Read at least one byte into `buf` before `deadline`.
    fn read_some(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, ExchangeError> {
        loop {
            match self.stream.read(buf) {
                Ok(0) => return Err(ExchangeError::Closed),
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => match Self::classify(e) {
                    ExchangeError::TimedOut => self.timed_out_or_retry(deadline)?,
                    other => return Err(other),
                },
            }
        }
    }

    fn classify(e: io::Error) -> ExchangeError {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ExchangeError::TimedOut,
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => ExchangeError::Closed,
            _ => ExchangeError::Io(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon_frame::{
        decode_request, encode_reply, read_frame, Function, LogLine, Outcome,
    };
    use std::os::unix::net::UnixListener;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::thread;

    /// The answer the reference gives, built without the protocol.
    fn reference(user: &str, password: &str) -> Outcome {
        let n: u32 = user[1..].parse().unwrap();
        match (n % 5, password == format!("pw{n}")) {
            (0, _) => Outcome::NotFound,
            (1, true) => Outcome::GrantedAs(format!("renamed{n}")),
            (_, true) => Outcome::Granted,
            (_, false) => Outcome::Denied,
        }
    }

    fn request(user: &str, password: &str) -> CallRequest {
        CallRequest {
            sequence: 0,
            function: Function::CheckPassword,
            reloading: true,
            timeout_ms: 1000,
            script: "/srv/auth.py".into(),
            application_group: String::new(),
            environ: vec![("REMOTE_USER_HINT".into(), user.as_bytes().to_vec())],
            args: vec![user.into(), password.into()],
        }
    }

    /// A daemon: one thread per connection; a user named `slow...` is
    /// answered after `slow` (too late for the caller's deadline), with the
    /// answer of the request all the same.
    fn daemon(slow: Duration) -> (std::path::PathBuf, Arc<AtomicU64>) {
        let dir = std::env::temp_dir().join(format!(
            "authnz-conn-{}-{}",
            std::process::id(),
            unique_number()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("d.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let served = Arc::new(AtomicU64::new(0));
        let count = served.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let count = count.clone();
                thread::spawn(move || loop {
                    let Ok(Some((_, payload))) = read_frame(&mut stream) else {
                        return;
                    };
                    let req = decode_request(&payload).unwrap();
                    let (user, password) = (&req.args[0], &req.args[1]);
                    let real_user = user.strip_prefix("slow").unwrap_or(user);
                    if user.starts_with("slow") {
                        thread::sleep(slow);
                    }
                    let reply = CallReply {
                        sequence: req.sequence,
                        outcome: reference(real_user, password),
                        timed_out: false,
                        log: vec![LogLine {
                            level: 7,
                            tag: 1,
                            text: format!("asked for {user}"),
                        }],
                    };
                    count.fetch_add(1, Ordering::Relaxed);
                    if stream.write_all(&encode_reply(&reply).unwrap()).is_err() {
                        return;
                    }
                });
            }
        });
        (path, served)
    }

    fn unique_number() -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    #[test]
    fn reused_connections_never_take_another_requests_answer() {
        let (path, _) = daemon(Duration::from_millis(150));
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut connection = None;
        let (mut answered, mut timed_out, mut connects) = (0, 0, 0);
        let (mut slow_calls, mut slow_timed_out) = (0, 0);
        for _ in 0..3000 {
            let n = next() % 40;
            let right = next() % 3 != 0;
            let slow = next() % 50 == 0;
            let user = format!("u{n}");
            let password = if right {
                format!("pw{n}")
            } else {
                "wrong".into()
            };
            slow_calls += usize::from(slow);
            let sent_user = if slow {
                format!("slow{user}")
            } else {
                user.clone()
            };
            let conn = match connection.take() {
                Some(c) => c,
                None => {
                    connects += 1;
                    DaemonConnection::connect(&path).unwrap()
                }
            };
            let deadline = Instant::now() + Duration::from_millis(50);
            match conn.call(&request(&sent_user, &password), deadline) {
                Ok((reply, conn)) => {
                    assert!(!slow, "a slow call answered within its deadline");
                    assert_eq!(reply.outcome, reference(&user, &password), "{user}");
                    assert_eq!(reply.log[0].text, format!("asked for {sent_user}"));
                    answered += 1;
                    connection = Some(conn);
                }
                // A slow call always times out; a fast one only when the
                // machine is too busy to answer it within 50 ms. Either
                // way the connection is gone and the next call connects.
                Err(ExchangeError::TimedOut) => {
                    timed_out += 1;
                    slow_timed_out += usize::from(slow);
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(slow_timed_out, slow_calls);
        assert!(
            answered > 2000 && slow_calls > 10,
            "{answered} {slow_calls}"
        );
        // One connection at the start and one after each timed-out call.
        assert_eq!(connects, timed_out + 1);
    }

    /// A daemon that answers with a stale reply (the previous request's).
    #[test]
    fn a_connection_the_daemon_closed_while_idle_is_not_usable() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let conn = DaemonConnection::over(ours);
        assert!(conn.is_usable());
        assert!(conn.is_usable(), "the check consumes nothing");
        drop(theirs);
        assert!(!conn.is_usable());
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        theirs.write_all(b"x").unwrap();
        assert!(!DaemonConnection::over(ours).is_usable());
    }

    #[test]
    fn a_connection_counts_only_once_a_daemon_greeted_it() {
        let dir = std::env::temp_dir().join(format!(
            "authnz-greet-{}-{}",
            std::process::id(),
            unique_number()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (greeting, expect) in [
            (Some(GREETING), None),
            (Some(9), Some(io::ErrorKind::InvalidData)),
            (None, Some(io::ErrorKind::TimedOut)),
        ] {
            let path = dir.join(format!("g{}.sock", unique_number()));
            let listener = UnixListener::bind(&path).unwrap();
            // `None`: a socket nobody accepts on (its queue takes the
            // connection all the same).
            let (accepting, _unaccepted) = match greeting {
                Some(byte) => (
                    Some(thread::spawn(move || {
                        let (mut stream, _) = listener.accept().unwrap();
                        stream.write_all(&[byte]).unwrap();
                        thread::sleep(Duration::from_millis(300));
                    })),
                    None,
                ),
                None => (None, Some(listener)),
            };
            let started = Instant::now();
            let result = DaemonConnection::connect_greeted(&path, Duration::from_millis(200));
            assert!(started.elapsed() < Duration::from_millis(1000));
            match (result, expect) {
                (Ok(_), None) => {}
                (Err(e), Some(kind)) => assert_eq!(e.kind(), kind, "{e}"),
                (other, _) => panic!("{:?}", other.map(|_| ())),
            }
            if let Some(t) = accepting {
                t.join().unwrap();
            }
        }
    }

    #[test]
    fn a_stale_reply_is_refused_and_closes_the_connection() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let fake = thread::spawn(move || {
            let (_, first) = read_frame(&mut theirs).unwrap().unwrap();
            let seq = u64::from_be_bytes(first[..8].try_into().unwrap());
            let reply = |sequence| CallReply {
                sequence,
                outcome: Outcome::Granted,
                timed_out: false,
                log: Vec::new(),
            };
            theirs
                .write_all(&encode_reply(&reply(seq)).unwrap())
                .unwrap();
            let _ = read_frame(&mut theirs).unwrap().unwrap();
            // The first request's reply again.
            theirs
                .write_all(&encode_reply(&reply(seq)).unwrap())
                .unwrap();
        });
        let conn = DaemonConnection::over(ours);
        let deadline = || Instant::now() + Duration::from_secs(5);
        let (reply, conn) = conn.call(&request("u2", "pw2"), deadline()).unwrap();
        assert_eq!(reply.sequence, 1);
        match conn.call(&request("u2", "pw2"), deadline()) {
            Err(ExchangeError::SequenceMismatch { sent: 2, got: 1 }) => {}
            other => panic!("{other:?}"),
        }
        fake.join().unwrap();
    }

    #[test]
    fn a_daemon_that_closes_or_sends_garbage_gives_an_error_not_a_hang() {
        for garbage in [
            &b""[..],
            b"\x01\x02\x00",
            b"\x09\x02\x00\x00\x00\x00",
            b"\x01\x02\xff\xff\xff\xff",
        ] {
            let (ours, mut theirs) = UnixStream::pair().unwrap();
            let garbage = garbage.to_vec();
            let fake = thread::spawn(move || {
                let _ = read_frame(&mut theirs);
                let _ = theirs.write_all(&garbage);
            });
            let started = Instant::now();
            let result = DaemonConnection::over(ours)
                .call(&request("u1", "x"), Instant::now() + Duration::from_secs(2));
            assert!(result.is_err());
            fake.join().unwrap();
            // A truncated reply from a daemon that keeps the socket open
            // waits at most until the deadline.
            assert!(started.elapsed() < Duration::from_millis(2500));
        }
    }

    #[test]
    fn a_truncated_reply_waits_only_until_the_deadline() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let fake = thread::spawn(move || {
            let _ = read_frame(&mut theirs);
            let _ = theirs.write_all(&[1, 2, 0, 0, 0, 40, 0, 0]);
            thread::sleep(Duration::from_millis(800));
            drop(theirs);
        });
        let started = Instant::now();
        let result = DaemonConnection::over(ours).call(
            &request("u1", "x"),
            Instant::now() + Duration::from_millis(300),
        );
        assert!(matches!(result, Err(ExchangeError::TimedOut)), "{result:?}");
        assert!(started.elapsed() < Duration::from_millis(700));
        fake.join().unwrap();
    }
}
