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
use crate::httpd::server_state;
use crate::httpd::Request;
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

/// Build the environ dict for one call.
pub fn build_environ<'py>(
    py: Python<'py>,
    r: Request,
    application_group: &str,
    scope: &CallScope,
) -> PyResult<Bound<'py, PyDict>> {
    let shared = shared(py)?;
    let mut items: Vec<Item<'_, 'py>> = Vec::with_capacity(REQUEST_KEYS.len() + 16);
    let uri = r.uri();
    let path_info = r.path_info();
    let script_name = uri.strip_suffix(path_info).unwrap_or(uri);
    let mut port_digits = [0u8; 5];
    let mut client_port_digits = [0u8; 5];
    let remote_host = r.remote_host_name();
    let server = r.server();
    // In the order of REQUEST_KEYS.
    let request_values: [Option<&[u8]>; REQUEST_KEYS.len()] = [
        Some(r.method()),
        Some(r.unparsed_uri()),
        Some(script_name),
        Some(path_info),
        Some(r.args()),
        Some(r.protocol()),
        Some(r.server_name()),
        Some(decimal(r.server_port(), &mut port_digits)),
        Some(r.local_ip()),
        Some(server.admin()),
        Some(r.signature()),
        Some(r.document_root()),
        Some(r.useragent_ip()),
        Some(decimal(r.client_port(), &mut client_port_digits)),
        remote_host.as_deref().map(str::as_bytes),
    ];
    for (key, value) in shared.keys.iter().zip(request_values) {
        if let Some(value) = value {
            items.push(Item {
                key: key.bind(py).clone(),
                bytes: Cow::Borrowed(value),
            });
        }
    }
    let key = |k: &Py<PyString>| k.bind(py).clone();
    if r.is_https() {
        items.push(Item {
            key: key(&shared.https),
            bytes: Cow::Borrowed(b"on"),
        });
    }
    items.push(Item {
        key: key(&shared.application_group),
        bytes: Cow::Borrowed(application_group.as_bytes()),
    });
    // Repeated headers are joined as a proxy would join them, in Rust,
    // before anything reaches the dict; of repeated Content-Type or
    // Content-Length headers the last counts. Names that differ only in
    // case have the same key.
    let mut content_type = None;
    let mut content_length = None;
    // (header name, its item's index) of the headers taken so far.
    let mut headers: Vec<(&[u8], usize)> = Vec::new();
    let headers_in = r.headers_in();
    for (name, value) in headers_in.iter() {
        if name.eq_ignore_ascii_case(b"content-type") {
            content_type = Some(value);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            content_length = Some(value);
        } else if let Some(&(_, at)) = headers
            .iter()
            .find(|(seen, _)| seen.eq_ignore_ascii_case(name))
        {
            let joined = items[at].bytes.to_mut();
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(value);
        } else if let Some(key) = shared.header_keys.key(py, name) {
            headers.push((name, items.len()));
            items.push(Item {
                key,
                bytes: Cow::Borrowed(value),
            });
        }
    }
    for (k, value) in [
        (&shared.content_type, content_type),
        (&shared.content_length, content_length),
    ] {
        if let Some(value) = value {
            items.push(Item {
                key: key(k),
                bytes: Cow::Borrowed(value),
            });
        }
    }
    let env = environ_for(py, shared.base.bind(py), &items, |bytes| {
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
