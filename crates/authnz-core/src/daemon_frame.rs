//! The framed protocol between an Apache child and an auth daemon process
//! (`WSGIAuthDaemonProcess`, docs/auth-daemons.md): one request frame per
//! call, one reply frame per request, on a Unix socket.
//!
//! Every frame is a six-byte header — a version byte ([`VERSION`]), a kind
//! byte ([`Kind`]) and the payload's length as a big-endian `u32` — and the
//! payload. Payload fields are fixed-width big-endian integers and
//! length-prefixed byte strings. Every size is bounded ([`MAX_FRAME`] for a
//! payload, and limits per field and per count) and checked before anything
//! is allocated for it; anything malformed (a short or over-long payload,
//! an unknown kind, function or outcome, a count or length over its bound,
//! text that is not UTF-8 where text is required, trailing bytes) is an
//! error, never a panic.
//!
//! A request carries a sequence number its reply echoes: the caller drops
//! the connection on any mismatch, so a stale reply can never answer
//! another request.

use std::fmt;
use std::io::{self, Read};

/// The protocol version this build speaks.
pub const VERSION: u8 = 1;
/// The header's size: version, kind, payload length.
pub const HEADER_LEN: usize = 6;
/// The largest payload accepted: 1 MiB.
pub const MAX_FRAME: usize = 1 << 20;
/// The most environ entries a request may carry.
pub const MAX_ENVIRON_ENTRIES: usize = 4096;
/// The longest environ key.
pub const MAX_KEY_LEN: usize = 1024;
/// The longest short text (script path, application group, argument,
/// renamed user, group name, realm hash).
pub const MAX_TEXT_LEN: usize = 65_535;
/// The most groups a reply may carry.
pub const MAX_GROUPS: usize = 65_535;
/// The most log lines a reply may carry.
pub const MAX_LOG_LINES: usize = 1024;
/// The most arguments after `environ` (user and password or realm).
pub const MAX_ARGS: usize = 2;

/// What a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request = 1,
    Reply = 2,
}

impl Kind {
    fn from_byte(b: u8) -> Result<Kind, FrameError> {
        match b {
            1 => Ok(Kind::Request),
            2 => Ok(Kind::Reply),
            other => Err(FrameError::BadKind(other)),
        }
    }
}

/// The script function a request calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    CheckPassword = 0,
    GetRealmHash = 1,
    GroupsForUser = 2,
    AllowAccess = 3,
}

impl Function {
    fn from_byte(b: u8) -> Result<Function, FrameError> {
        match b {
            0 => Ok(Function::CheckPassword),
            1 => Ok(Function::GetRealmHash),
            2 => Ok(Function::GroupsForUser),
            3 => Ok(Function::AllowAccess),
            other => Err(FrameError::BadField("function", u32::from(other))),
        }
    }

    /// The Python function's name.
    pub fn name(self) -> &'static str {
        match self {
            Function::CheckPassword => "check_password",
            Function::GetRealmHash => "get_realm_hash",
            Function::GroupsForUser => "groups_for_user",
            Function::AllowAccess => "allow_access",
        }
    }

    /// How many arguments follow `environ`.
    pub fn arg_count(self) -> usize {
        match self {
            Function::CheckPassword | Function::GetRealmHash => 2,
            Function::GroupsForUser | Function::AllowAccess => 1,
        }
    }
}

/// One call to make in the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRequest {
    /// Echoed by the reply.
    pub sequence: u64,
    pub function: Function,
    /// `WSGIScriptReloading`.
    pub reloading: bool,
    /// The call's time limit in milliseconds; 0: none.
    pub timeout_ms: u32,
    pub script: String,
    /// The application group, already expanded by the child.
    pub application_group: String,
    /// The request's environ entries: key, value bytes (Latin-1 text).
    pub environ: Vec<(String, Vec<u8>)>,
    /// The arguments after `environ`, as text.
    pub args: Vec<String>,
}

/// How `allow_access` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allow {
    True,
    False,
    None,
}

/// What the daemon made of the call's result (the interpretation runs in
/// the daemon, as it does in the child in embedded mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `check_password` returned True (or the name the client sent).
    Granted,
    /// `check_password` returned another user name.
    GrantedAs(String),
    Denied,
    /// None from `check_password`, `get_realm_hash`.
    NotFound,
    RealmHash(Vec<u8>),
    /// `groups_for_user`'s groups, as returned (the child folds them).
    Groups(Vec<Vec<u8>>),
    AllowAccess(Allow),
    /// The call failed; why is in the log lines.
    Failed,
}

/// A line the daemon logged for the call, replayed by the child with the
/// request's context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// httpd's level number (`APLOG_ERR` = 3 ... `APLOG_DEBUG` = 7).
    pub level: u8,
    /// The line's numbered tag (`log_tags`).
    pub tag: u16,
    pub text: String,
}

/// The daemon's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallReply {
    /// The request's sequence number.
    pub sequence: u64,
    pub outcome: Outcome,
    /// The call reached its time limit.
    pub timed_out: bool,
    pub log: Vec<LogLine>,
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    BadVersion(u8),
    BadKind(u8),
    /// A frame of the other kind than expected.
    UnexpectedKind(Kind),
    /// The header's length is over [`MAX_FRAME`].
    TooLong(u32),
    /// The payload ended inside a field.
    Truncated,
    /// Bytes after the last field.
    Trailing(usize),
    /// A field's value (or count, or length) is out of its bounds.
    BadField(&'static str, u32),
    /// Text that must be UTF-8 is not.
    NotUtf8(&'static str),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::BadVersion(v) => write!(f, "protocol version {v}, not {VERSION}"),
            FrameError::BadKind(k) => write!(f, "unknown frame kind {k}"),
            FrameError::UnexpectedKind(k) => write!(f, "unexpected {k:?} frame"),
            FrameError::TooLong(n) => write!(f, "frame of {n} bytes (at most {MAX_FRAME})"),
            FrameError::Truncated => f.write_str("truncated frame"),
            FrameError::Trailing(n) => write!(f, "{n} bytes after the frame's last field"),
            FrameError::BadField(name, v) => write!(f, "{name} out of bounds ({v})"),
            FrameError::NotUtf8(name) => write!(f, "{name} is not UTF-8"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Why a frame could not be read from a stream.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    Frame(FrameError),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Frame(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

impl From<FrameError> for ReadError {
    fn from(e: FrameError) -> Self {
        ReadError::Frame(e)
    }
}

/// Check a header: the payload's kind and length.
pub fn parse_header(header: &[u8; HEADER_LEN]) -> Result<(Kind, usize), FrameError> {
    if header[0] != VERSION {
        return Err(FrameError::BadVersion(header[0]));
    }
    let kind = Kind::from_byte(header[1])?;
    let len = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
    if len as usize > MAX_FRAME {
        return Err(FrameError::TooLong(len));
    }
    Ok((kind, len as usize))
}

/// Read one frame's header and payload from `stream`. `Ok(None)`: the
/// stream ended cleanly before a header began.
pub fn read_frame(stream: &mut impl Read) -> Result<Option<(Kind, Vec<u8>)>, ReadError> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match stream.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Truncated.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let (kind, len) = parse_header(&header)?;
    // The bound is checked: the allocation is at most MAX_FRAME.
    let mut payload = vec![0u8; len];
    stream
        .read_exact(&mut payload)
        .map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => ReadError::Frame(FrameError::Truncated),
            _ => ReadError::Io(e),
        })?;
    Ok(Some((kind, payload)))
}

/// A frame being written into a buffer (cleared first; its capacity is
/// kept, so a buffer reused call after call is not allocated again).
struct Writer<'a>(&'a mut Vec<u8>);

impl<'a> Writer<'a> {
    fn new(kind: Kind, out: &'a mut Vec<u8>) -> Writer<'a> {
        out.clear();
        out.extend_from_slice(&[VERSION, kind as u8, 0, 0, 0, 0]);
        Writer(out)
    }
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    /// A count, or a length, within `max` (which fits its width).
    fn count16(&mut self, what: &'static str, n: usize, max: usize) -> Result<(), FrameError> {
        match u16::try_from(n) {
            Ok(v) if n <= max => {
                self.u16(v);
                Ok(())
            }
            _ => Err(FrameError::BadField(
                what,
                u32::try_from(n).unwrap_or(u32::MAX),
            )),
        }
    }
    fn bytes16(&mut self, what: &'static str, b: &[u8], max: usize) -> Result<(), FrameError> {
        self.count16(what, b.len(), max)?;
        self.0.extend_from_slice(b);
        Ok(())
    }
    fn bytes32(&mut self, what: &'static str, b: &[u8]) -> Result<(), FrameError> {
        let len = u32::try_from(b.len())
            .ok()
            .filter(|&n| n as usize <= MAX_FRAME)
            .ok_or(FrameError::BadField(what, u32::MAX))?;
        self.u32(len);
        self.0.extend_from_slice(b);
        Ok(())
    }
    fn finish(self) -> Result<(), FrameError> {
        let len = self.0.len() - HEADER_LEN;
        if len > MAX_FRAME {
            return Err(FrameError::TooLong(u32::try_from(len).unwrap_or(u32::MAX)));
        }
        self.0[2..HEADER_LEN].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(())
    }
}

/// A payload being read.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if n > self.0.len() {
            return Err(FrameError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, FrameError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, FrameError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, FrameError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn flag(&mut self, what: &'static str) -> Result<bool, FrameError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(FrameError::BadField(what, u32::from(other))),
        }
    }
    fn count16(&mut self, what: &'static str, max: usize) -> Result<usize, FrameError> {
        let n = self.u16()?;
        if n as usize > max {
            return Err(FrameError::BadField(what, u32::from(n)));
        }
        Ok(n as usize)
    }
    fn bytes16(&mut self, what: &'static str, max: usize) -> Result<&'a [u8], FrameError> {
        let n = self.count16(what, max)?;
        self.take(n)
    }
    fn text16(&mut self, what: &'static str, max: usize) -> Result<String, FrameError> {
        let b = self.bytes16(what, max)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| FrameError::NotUtf8(what))
    }
    fn bytes32(&mut self, what: &'static str) -> Result<&'a [u8], FrameError> {
        let n = self.u32()?;
        // take() refuses what the payload (at most MAX_FRAME) cannot hold.
        self.take(n as usize).map_err(|_| {
            if n as usize > MAX_FRAME {
                FrameError::BadField(what, n)
            } else {
                FrameError::Truncated
            }
        })
    }
    fn end(self) -> Result<(), FrameError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Trailing(self.0.len()))
        }
    }
}

/// A request as a whole frame, header included.
pub fn encode_request(req: &CallRequest) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    encode_request_into(req, req.sequence, &mut out)?;
    Ok(out)
}

/// `req` as a whole frame with sequence number `sequence`, written into
/// `out` (cleared first, its capacity kept for the next call).
pub fn encode_request_into(
    req: &CallRequest,
    sequence: u64,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    let mut w = Writer::new(Kind::Request, out);
    w.u64(sequence);
    w.u8(req.function as u8);
    w.u8(u8::from(req.reloading));
    w.u32(req.timeout_ms);
    w.bytes16("script path", req.script.as_bytes(), MAX_TEXT_LEN)?;
    w.bytes16(
        "application group",
        req.application_group.as_bytes(),
        MAX_TEXT_LEN,
    )?;
    w.count16("environ entries", req.environ.len(), MAX_ENVIRON_ENTRIES)?;
    for (key, value) in &req.environ {
        w.bytes16("environ key", key.as_bytes(), MAX_KEY_LEN)?;
        w.bytes32("environ value", value)?;
    }
    if req.args.len() != req.function.arg_count() {
        return Err(FrameError::BadField(
            "argument count",
            u32::try_from(req.args.len()).unwrap_or(u32::MAX),
        ));
    }
    w.u8(req.args.len() as u8);
    for arg in &req.args {
        w.bytes16("argument", arg.as_bytes(), MAX_TEXT_LEN)?;
    }
    w.finish()
}

/// A request's payload.
pub fn decode_request(payload: &[u8]) -> Result<CallRequest, FrameError> {
    let mut r = Reader(payload);
    let sequence = r.u64()?;
    let function = Function::from_byte(r.u8()?)?;
    let reloading = r.flag("reloading flag")?;
    let timeout_ms = r.u32()?;
    let script = r.text16("script path", MAX_TEXT_LEN)?;
    let application_group = r.text16("application group", MAX_TEXT_LEN)?;
    let entries = r.count16("environ entries", MAX_ENVIRON_ENTRIES)?;
    // Each entry takes at least six bytes: the count is bounded by both.
    let mut environ = Vec::with_capacity(entries.min(r.0.len() / 6));
    for _ in 0..entries {
        let key = r.text16("environ key", MAX_KEY_LEN)?;
        let value = r.bytes32("environ value")?.to_vec();
        environ.push((key, value));
    }
    let argc = r.u8()? as usize;
    if argc != function.arg_count() || argc > MAX_ARGS {
        return Err(FrameError::BadField("argument count", argc as u32));
    }
    let mut args = Vec::with_capacity(argc);
    for _ in 0..argc {
        args.push(r.text16("argument", MAX_TEXT_LEN)?);
    }
    r.end()?;
    Ok(CallRequest {
        sequence,
        function,
        reloading,
        timeout_ms,
        script,
        application_group,
        environ,
        args,
    })
}

/// A reply as a whole frame, header included. Log lines that would not
/// fit are left out (the last kept line says so).
pub fn encode_reply(reply: &CallReply) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(256);
    let mut w = Writer::new(Kind::Reply, &mut out);
    w.u64(reply.sequence);
    w.u8(u8::from(reply.timed_out));
    match &reply.outcome {
        Outcome::Granted => w.u8(0),
        Outcome::GrantedAs(name) => {
            w.u8(1);
            w.bytes16("renamed user", name.as_bytes(), MAX_TEXT_LEN)?;
        }
        Outcome::Denied => w.u8(2),
        Outcome::NotFound => w.u8(3),
        Outcome::RealmHash(hash) => {
            w.u8(4);
            w.bytes16("realm hash", hash, MAX_TEXT_LEN)?;
        }
        Outcome::Groups(groups) => {
            w.u8(5);
            w.count16("group count", groups.len(), MAX_GROUPS)?;
            for g in groups {
                w.bytes16("group", g, MAX_TEXT_LEN)?;
            }
        }
        Outcome::AllowAccess(allow) => {
            w.u8(6);
            w.u8(match allow {
                Allow::True => 1,
                Allow::False => 0,
                Allow::None => 2,
            });
        }
        Outcome::Failed => w.u8(7),
    }
    // Lines fill what room the frame has left.
    let room = MAX_FRAME.saturating_sub(w.0.len() - HEADER_LEN + 2);
    let mut used = 0usize;
    let mut kept = Vec::new();
    for line in reply.log.iter().take(MAX_LOG_LINES) {
        let cost = 1 + 2 + 4 + line.text.len();
        if used + cost > room {
            break;
        }
        used += cost;
        kept.push(line);
    }
    w.u16(kept.len() as u16);
    for line in kept {
        w.u8(line.level);
        w.u16(line.tag);
        w.bytes32("log line", line.text.as_bytes())?;
    }
    w.finish()?;
    Ok(out)
}

/// A reply's payload.
pub fn decode_reply(payload: &[u8]) -> Result<CallReply, FrameError> {
    let mut r = Reader(payload);
    let sequence = r.u64()?;
    let timed_out = r.flag("timed-out flag")?;
    let outcome = match r.u8()? {
        0 => Outcome::Granted,
        1 => Outcome::GrantedAs(r.text16("renamed user", MAX_TEXT_LEN)?),
        2 => Outcome::Denied,
        3 => Outcome::NotFound,
        4 => Outcome::RealmHash(r.bytes16("realm hash", MAX_TEXT_LEN)?.to_vec()),
        5 => {
            let n = r.count16("group count", MAX_GROUPS)?;
            let mut groups = Vec::with_capacity(n.min(r.0.len() / 2));
            for _ in 0..n {
                groups.push(r.bytes16("group", MAX_TEXT_LEN)?.to_vec());
            }
            Outcome::Groups(groups)
        }
        6 => Outcome::AllowAccess(match r.u8()? {
            1 => Allow::True,
            0 => Allow::False,
            2 => Allow::None,
            other => {
                return Err(FrameError::BadField(
                    "allow_access answer",
                    u32::from(other),
                ))
            }
        }),
        7 => Outcome::Failed,
        other => return Err(FrameError::BadField("outcome", u32::from(other))),
    };
    let lines = r.count16("log line count", MAX_LOG_LINES)?;
    let mut log = Vec::with_capacity(lines.min(r.0.len() / 7));
    for _ in 0..lines {
        let level = r.u8()?;
        if level > 7 {
            return Err(FrameError::BadField("log level", u32::from(level)));
        }
        let tag = r.u16()?;
        let text = r.bytes32("log line")?;
        let text = std::str::from_utf8(text)
            .map_err(|_| FrameError::NotUtf8("log line"))?
            .to_owned();
        log.push(LogLine { level, tag, text });
    }
    r.end()?;
    Ok(CallReply {
        sequence,
        outcome,
        timed_out,
        log,
    })
}

/// Split a whole frame (header and payload) held in memory.
pub fn split_frame(frame: &[u8]) -> Result<(Kind, &[u8]), FrameError> {
    let header: &[u8; HEADER_LEN] = frame
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(FrameError::Truncated)?;
    let (kind, len) = parse_header(header)?;
    let payload = &frame[HEADER_LEN..];
    match payload.len().cmp(&len) {
        std::cmp::Ordering::Less => Err(FrameError::Truncated),
        std::cmp::Ordering::Greater => Err(FrameError::Trailing(payload.len() - len)),
        std::cmp::Ordering::Equal => Ok((kind, payload)),
    }
}

/// Decode a whole request frame held in memory.
pub fn request_from_frame(frame: &[u8]) -> Result<CallRequest, FrameError> {
    match split_frame(frame)? {
        (Kind::Request, payload) => decode_request(payload),
        (kind, _) => Err(FrameError::UnexpectedKind(kind)),
    }
}

/// Decode a whole reply frame held in memory.
pub fn reply_from_frame(frame: &[u8]) -> Result<CallReply, FrameError> {
    match split_frame(frame)? {
        (Kind::Reply, payload) => decode_reply(payload),
        (kind, _) => Err(FrameError::UnexpectedKind(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> CallRequest {
        CallRequest {
            sequence: 0x0102_0304_0506_0708,
            function: Function::CheckPassword,
            reloading: true,
            timeout_ms: 30_000,
            script: "/srv/auth.py".into(),
            application_group: "site:8080".into(),
            environ: vec![
                ("REQUEST_METHOD".into(), b"GET".to_vec()),
                ("HTTP_X_B".into(), vec![0xe9, 0, 0xff]),
                ("EMPTY".into(), Vec::new()),
            ],
            args: vec!["alice".into(), "s3cr\u{e9}t".into()],
        }
    }

    fn replies() -> Vec<CallReply> {
        let outcomes = vec![
            Outcome::Granted,
            Outcome::GrantedAs("bob".into()),
            Outcome::Denied,
            Outcome::NotFound,
            Outcome::RealmHash(b"0123456789abcdef0123456789abcdef".to_vec()),
            Outcome::Groups(vec![b"staff".to_vec(), Vec::new(), vec![0xff]]),
            Outcome::Groups(Vec::new()),
            Outcome::AllowAccess(Allow::True),
            Outcome::AllowAccess(Allow::False),
            Outcome::AllowAccess(Allow::None),
            Outcome::Failed,
        ];
        outcomes
            .into_iter()
            .enumerate()
            .map(|(i, outcome)| CallReply {
                sequence: i as u64 * 7919,
                outcome,
                timed_out: i % 3 == 0,
                log: vec![
                    LogLine {
                        level: 3,
                        tag: 42,
                        text: "Traceback (most recent call last):".into(),
                    },
                    LogLine {
                        level: 7,
                        tag: 1,
                        text: String::new(),
                    },
                ],
            })
            .collect()
    }

    #[test]
    fn requests_round_trip() {
        for function in [
            Function::CheckPassword,
            Function::GetRealmHash,
            Function::GroupsForUser,
            Function::AllowAccess,
        ] {
            let mut req = request();
            req.function = function;
            req.args.truncate(function.arg_count());
            let frame = encode_request(&req).unwrap();
            assert_eq!(request_from_frame(&frame).unwrap(), req);
            let mut stream = frame.as_slice();
            let (kind, payload) = read_frame(&mut stream).unwrap().unwrap();
            assert_eq!(kind, Kind::Request);
            assert_eq!(decode_request(&payload).unwrap(), req);
            assert!(read_frame(&mut stream).unwrap().is_none());
        }
    }

    #[test]
    fn replies_round_trip() {
        for reply in replies() {
            let frame = encode_reply(&reply).unwrap();
            assert_eq!(reply_from_frame(&frame).unwrap(), reply);
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        let mut frames = vec![encode_request(&request()).unwrap()];
        frames.extend(replies().iter().map(|r| encode_reply(r).unwrap()));
        for frame in frames {
            for cut in 0..frame.len() {
                let short = &frame[..cut];
                assert!(split_frame(short).is_err(), "cut at {cut}");
                let mut stream = short;
                match read_frame(&mut stream) {
                    Ok(None) => assert_eq!(cut, 0),
                    Ok(Some(_)) => panic!("truncated frame read at {cut}"),
                    Err(_) => {}
                }
                // The payload cut short, with a header that says so.
                if cut >= HEADER_LEN {
                    let payload = &frame[HEADER_LEN..cut];
                    let decoded = match frame[1] {
                        1 => decode_request(payload).map(|_| ()),
                        _ => decode_reply(payload).map(|_| ()),
                    };
                    assert!(decoded.is_err(), "payload cut at {cut}");
                }
            }
        }
    }

    #[test]
    fn oversize_and_bad_headers_are_refused() {
        let mut frame = encode_request(&request()).unwrap();
        frame[0] = 2;
        assert_eq!(split_frame(&frame).unwrap_err(), FrameError::BadVersion(2));
        frame[0] = VERSION;
        frame[1] = 9;
        assert_eq!(request_from_frame(&frame), Err(FrameError::BadKind(9)));
        frame[1] = Kind::Reply as u8;
        assert_eq!(
            request_from_frame(&frame),
            Err(FrameError::UnexpectedKind(Kind::Reply))
        );
        let huge = [VERSION, 1, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(parse_header(&huge), Err(FrameError::TooLong(u32::MAX)));
        let mut stream: &[u8] = &huge;
        assert!(matches!(
            read_frame(&mut stream),
            Err(ReadError::Frame(FrameError::TooLong(_)))
        ));
        let just_over = ((MAX_FRAME + 1) as u32).to_be_bytes();
        let header = [
            VERSION,
            1,
            just_over[0],
            just_over[1],
            just_over[2],
            just_over[3],
        ];
        assert!(parse_header(&header).is_err());
    }

    #[test]
    fn trailing_bytes_and_bad_fields_are_refused() {
        let frame = encode_request(&request()).unwrap();
        let mut payload = frame[HEADER_LEN..].to_vec();
        payload.push(0);
        assert_eq!(decode_request(&payload), Err(FrameError::Trailing(1)));
        // Function byte.
        let mut bad = frame[HEADER_LEN..].to_vec();
        bad[8] = 4;
        assert!(decode_request(&bad).is_err());
        // Reloading flag.
        let mut bad = frame[HEADER_LEN..].to_vec();
        bad[9] = 2;
        assert!(decode_request(&bad).is_err());
        // A claimed environ count far beyond what follows.
        let mut req = request();
        req.environ.clear();
        let frame = encode_request(&req).unwrap();
        let count_at = HEADER_LEN + 8 + 1 + 1 + 4 + 2 + req.script.len() + 2 + 9;
        let mut bad = frame[HEADER_LEN..].to_vec();
        bad[count_at - HEADER_LEN] = 0xff;
        bad[count_at - HEADER_LEN + 1] = 0xff;
        assert!(decode_request(&bad).is_err());
        // Wrong argument count for the function.
        let mut req = request();
        req.args.pop();
        assert!(encode_request(&req).is_err());
        // An environ value claiming 4 GiB.
        let mut req = request();
        req.environ = vec![("K".into(), Vec::new())];
        let frame = encode_request(&req).unwrap();
        let mut bad = frame[HEADER_LEN..].to_vec();
        let value_len_at = 8 + 1 + 1 + 4 + 2 + req.script.len() + 2 + 9 + 2 + 2 + 1;
        bad[value_len_at..value_len_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode_request(&bad).is_err());
        // Non-UTF-8 text.
        let mut req = request();
        req.script = "ab".into();
        let frame = encode_request(&req).unwrap();
        let mut bad = frame[HEADER_LEN..].to_vec();
        bad[8 + 1 + 1 + 4 + 2] = 0xff;
        assert_eq!(
            decode_request(&bad),
            Err(FrameError::NotUtf8("script path"))
        );
    }

    #[test]
    fn over_long_fields_are_refused_when_encoding() {
        let mut req = request();
        req.environ = vec![("K".repeat(MAX_KEY_LEN + 1), Vec::new())];
        assert!(encode_request(&req).is_err());
        let mut req = request();
        req.environ = vec![("K".into(), vec![b'v'; MAX_FRAME])];
        assert!(matches!(encode_request(&req), Err(FrameError::TooLong(_))));
        let mut req = request();
        req.environ = (0..=MAX_ENVIRON_ENTRIES)
            .map(|i| (format!("K{i}"), Vec::new()))
            .collect();
        assert!(encode_request(&req).is_err());
    }

    #[test]
    fn log_lines_beyond_the_frame_are_left_out() {
        let reply = CallReply {
            sequence: 1,
            outcome: Outcome::Failed,
            timed_out: false,
            log: (0..5)
                .map(|i| LogLine {
                    level: 3,
                    tag: i,
                    text: "x".repeat(MAX_FRAME / 3),
                })
                .collect(),
        };
        let frame = encode_reply(&reply).unwrap();
        let decoded = reply_from_frame(&frame).unwrap();
        assert_eq!(decoded.log.len(), 2);
        assert_eq!(decoded.log[..], reply.log[..2]);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic generator: the fuzz target does the rest.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let base = encode_request(&request()).unwrap();
        for _ in 0..20_000 {
            let mut bytes = base.clone();
            let flips = (next() % 4) as usize + 1;
            for _ in 0..flips {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            let _ = request_from_frame(&bytes);
            let _ = reply_from_frame(&bytes);
            let _ = decode_request(&bytes);
            let _ = decode_reply(&bytes);
        }
    }
}
