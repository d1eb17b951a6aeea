//! The `environ` dict passed to every script function (docs/python-contract.md#environ): a new
//! dict per call, built only from server-computed values and request
//! headers, never from `subprocess_env` (so `SetEnv` and `.htaccess` cannot
//! inject keys). Credentials headers are never included. Each call's dict
//! is a copy of its thread's previous environ, updated where this request
//! differs (`environ_template`).

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::cpython::objects;
use authnz_core::environ_keys::write_header_environ_key;

use crate::apr::Table;
use crate::httpd::server_state;
use crate::httpd::{Request, Server};
use crate::python::environ_template::{environ_for, Item};
use crate::python::header_keys::HeaderKeys;
use crate::python::request_objects::CallScope;

/// PEP 3333: environ strings carry bytes as Latin-1 code points.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn server_version_tuple(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
    PyTuple::new(py, server_state::revision())
}

fn server_banner() -> String {
    server_state::banner()
}

/// The keys of per-request values, in the order they are set.
const REQUEST_KEYS: [&str; 15] = [
    "REQUEST_METHOD",
    "REQUEST_URI",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "SERVER_PROTOCOL",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_ADDR",
    "SERVER_ADMIN",
    "SERVER_SIGNATURE",
    "DOCUMENT_ROOT",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "REMOTE_HOST",
];

/// What every environ of this process shares, made on first use: the
/// interned keys, and the dict each thread's environ starts from, with
/// the items that never change in a child (server software, versions)
/// and placeholders for the per-call objects.
struct Shared {
    keys: Vec<Py<PyString>>,
    https: Py<PyString>,
    content_type: Py<PyString>,
    content_length: Py<PyString>,
    errors: Py<PyString>,
    application_group: Py<PyString>,
    is_https: Py<PyString>,
    var_lookup: Py<PyString>,
    base: Py<PyDict>,
    /// `HTTP_*` keys of the header names seen so far.
    header_keys: HeaderKeys,
}

static SHARED: PyOnceLock<Shared> = PyOnceLock::new();

fn shared(py: Python<'_>) -> PyResult<&Shared> {
    SHARED.get_or_try_init(py, || {
        let base = PyDict::new(py);
        base.set_item("SERVER_SOFTWARE", server_banner())?;
        base.set_item("apache.version", server_version_tuple(py)?)?;
        base.set_item("mod_wsgi.process_group", "")?;
        base.set_item("authnz_wsgi.version", env!("CARGO_PKG_VERSION"))?;
        let key = |k: &str| PyString::intern(py, k).unbind();
        let shared = Shared {
            keys: REQUEST_KEYS.iter().map(|k| key(k)).collect(),
            https: key("HTTPS"),
            content_type: key("CONTENT_TYPE"),
            content_length: key("CONTENT_LENGTH"),
            errors: key("wsgi.errors"),
            application_group: key("mod_wsgi.application_group"),
            is_https: key("mod_ssl.is_https"),
            var_lookup: key("mod_ssl.var_lookup"),
            base: base.clone().unbind(),
            header_keys: HeaderKeys::new(),
        };
        // The per-call objects are set in every copy: with a placeholder
        // already there, setting one replaces a value instead of growing
        // (and rehashing) the copy's table.
        for key in [&shared.errors, &shared.is_https, &shared.var_lookup] {
            base.set_item(key.bind(py), py.None())?;
        }
        Ok(shared)
    })
}

/// A key of `environ` as [`request_entries`] names it, before it is made
/// a Python `str` (embedded) or text (a call sent to a daemon process).
#[derive(Clone, Copy)]
pub enum EntryKey<'a> {
    /// `REQUEST_KEYS[i]`.
    Request(usize),
    Https,
    ApplicationGroup,
    ContentType,
    ContentLength,
    /// A request header's name: its key is `HTTP_*`, or none when the
    /// header is not exposed (`authnz_core::environ_keys`).
    Header(&'a [u8]),
}

impl EntryKey<'_> {
    /// The key's text (`None`: a header that is not exposed); `scratch`
    /// holds a header's key.
    pub fn text(self, scratch: &mut Vec<u8>) -> Option<&[u8]> {
        let fixed: &'static str = match self {
            EntryKey::Request(i) => REQUEST_KEYS[i],
            EntryKey::Https => "HTTPS",
            EntryKey::ApplicationGroup => "mod_wsgi.application_group",
            EntryKey::ContentType => "CONTENT_TYPE",
            EntryKey::ContentLength => "CONTENT_LENGTH",
            EntryKey::Header(name) => {
                return write_header_environ_key(name, scratch).then_some(scratch.as_slice())
            }
        };
        scratch.clear();
        scratch.extend_from_slice(fixed.as_bytes());
        Some(scratch.as_slice())
    }
}

/// Values [`request_entries`] computes rather than borrows from the request.
#[derive(Default)]
pub struct EntryScratch {
    port: [u8; 5],
    client_port: [u8; 5],
    remote_host: Option<String>,
    server: Option<Server>,
}

/// The string entries of `environ` for request `r` in `application_group`,
/// in order, handed to `push`: the same data feeds the embedded dict and a
/// call sent to an auth daemon process. Repeated headers are joined as a
/// proxy would join them; of repeated Content-Type or Content-Length
/// headers the last counts. Names that differ only in case are one header.
pub fn request_entries<'a>(
    r: &'a Request,
    headers_in: &'a Table,
    application_group: &'a str,
    scratch: &'a mut EntryScratch,
    mut push: impl FnMut(EntryKey<'a>, Cow<'a, [u8]>),
) {
    let EntryScratch {
        port,
        client_port,
        remote_host,
        server,
    } = scratch;
    let uri = r.uri();
    let path_info = r.path_info();
    let script_name = uri.strip_suffix(path_info).unwrap_or(uri);
    *remote_host = r.remote_host_name();
    let server = server.insert(r.server());
    // In the order of REQUEST_KEYS.
    let request_values: [Option<&'a [u8]>; REQUEST_KEYS.len()] = [
        Some(r.method()),
        Some(r.unparsed_uri()),
        Some(script_name),
        Some(path_info),
        Some(r.args()),
        Some(r.protocol()),
        Some(r.server_name()),
        Some(decimal(r.server_port(), port)),
        Some(r.local_ip()),
        Some(server.admin()),
        Some(r.signature()),
        Some(r.document_root()),
        Some(r.useragent_ip()),
        Some(decimal(r.client_port(), client_port)),
        remote_host.as_deref().map(str::as_bytes),
    ];
    for (i, value) in request_values.into_iter().enumerate() {
        if let Some(value) = value {
            push(EntryKey::Request(i), Cow::Borrowed(value));
        }
    }
    if r.is_https() {
        push(EntryKey::Https, Cow::Borrowed(b"on"));
    }
    push(
        EntryKey::ApplicationGroup,
        Cow::Borrowed(application_group.as_bytes()),
    );
    let mut content_type = None;
    let mut content_length = None;
    for (at, (name, value)) in headers_in.iter().enumerate() {
        if name.eq_ignore_ascii_case(b"content-type") {
            content_type = Some(value);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            content_length = Some(value);
        } else if !headers_in
            .iter()
            .take(at)
            .any(|(seen, _)| seen.eq_ignore_ascii_case(name))
        {
            // The first of its name: joined with the later ones.
            let mut joined = Cow::Borrowed(value);
            for (_, more) in headers_in
                .iter()
                .skip(at + 1)
                .filter(|(later, _)| later.eq_ignore_ascii_case(name))
            {
                let joined = joined.to_mut();
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(more);
            }
            push(EntryKey::Header(name), joined);
        }
    }
    if let Some(value) = content_type {
        push(EntryKey::ContentType, Cow::Borrowed(value));
    }
    if let Some(value) = content_length {
        push(EntryKey::ContentLength, Cow::Borrowed(value));
    }
}

/// The string entries of `environ` for `r` as text keys and value bytes,
/// for a call sent to an auth daemon process, appended to `entries` (a
/// list kept from call to call, so its capacity is not allocated again).
pub fn request_entry_list_into(
    r: Request,
    application_group: &str,
    entries: &mut Vec<(String, Vec<u8>)>,
) {
    let headers_in = r.headers_in();
    let mut scratch = EntryScratch::default();
    let mut key = Vec::new();
    request_entries(
        &r,
        &headers_in,
        application_group,
        &mut scratch,
        |k, value| {
            if let Some(text) = k.text(&mut key) {
                // Keys are ASCII (fixed names, or `HTTP_` and letters, digits, `_`).
                entries.push((
                    String::from_utf8_lossy(text).into_owned(),
                    value.into_owned(),
                ));
            }
        },
    );
}

/// Build the environ dict for one call: from the request (embedded), or
/// from the entries an Apache child sent (in an auth daemon process).
pub fn build_environ<'py>(
    py: Python<'py>,
    source: EnvironSource<'_>,
    scope: &CallScope,
) -> PyResult<Bound<'py, PyDict>> {
    let shared = shared(py)?;
    match source {
        EnvironSource::Request(r, application_group) => {
            let headers_in = r.headers_in();
            let mut scratch = EntryScratch::default();
            let mut items: Vec<Item<'_, 'py>> = Vec::with_capacity(REQUEST_KEYS.len() + 16);
            let key = |k: &Py<PyString>| k.bind(py).clone();
            request_entries(
                &r,
                &headers_in,
                application_group,
                &mut scratch,
                |k, bytes| {
                    let key = match k {
                        EntryKey::Request(i) => key(&shared.keys[i]),
                        EntryKey::Https => key(&shared.https),
                        EntryKey::ApplicationGroup => key(&shared.application_group),
                        EntryKey::ContentType => key(&shared.content_type),
                        EntryKey::ContentLength => key(&shared.content_length),
                        EntryKey::Header(name) => match shared.header_keys.key(py, name) {
                            Some(key) => key,
                            None => return,
                        },
                    };
                    items.push(Item { key, bytes });
                },
            );
            finish(py, shared, &items, scope)
        }
        EnvironSource::Entries {
            entries,
            process_group,
        } => {
            let items: Vec<Item<'_, 'py>> = entries
                .iter()
                .map(|(k, v)| Item {
                    key: shared.header_keys.key_for_text(py, k.as_bytes()),
                    bytes: Cow::Borrowed(v.as_slice()),
                })
                .collect();
            let env = finish(py, shared, &items, scope)?;
            // Set in the copy only: the thread's dict keeps the base's "".
            env.set_item("mod_wsgi.process_group", process_group)?;
            Ok(env)
        }
    }
}

/// Where a call's environ comes from.
#[derive(Clone, Copy)]
pub enum EnvironSource<'a> {
    /// The request, in the application group (expanded) named.
    Request(Request, &'a str),
    /// The entries an Apache child sent with a call to a daemon process,
    /// and the name of the daemon group (`mod_wsgi.process_group`).
    Entries {
        entries: &'a [(String, Vec<u8>)],
        process_group: &'a str,
    },
}

fn finish<'py>(
    py: Python<'py>,
    shared: &Shared,
    items: &[Item<'_, 'py>],
    scope: &CallScope,
) -> PyResult<Bound<'py, PyDict>> {
    let env = environ_for(py, shared.base.bind(py), items, |bytes| {
        objects::latin1_str(py, bytes)
    })?;
    env.set_item(shared.errors.bind(py), scope.errors(py))?;
    env.set_item(shared.is_https.bind(py), scope.is_https(py))?;
    env.set_item(shared.var_lookup.bind(py), scope.var_lookup(py))?;
    Ok(env)
}

/// `n` in decimal, written into `digits`.
fn decimal(n: u16, digits: &mut [u8; 5]) -> &[u8] {
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            return &digits[at..];
        }
    }
}
