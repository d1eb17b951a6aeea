//! The `environ` dict passed to every script function (SPEC §3.6): a new
//! dict per call, built only from server-computed values and request
//! headers, never from `subprocess_env` (so `SetEnv` and `.htaccess` cannot
//! inject keys). Credentials headers are never included. Values equal to
//! the previous call's on the same thread reuse its strings (`value_reuse`).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::ffi;
use crate::httpd::Request;
use crate::python::header_keys::HeaderKeys;
use crate::python::request_objects::CallScope;
use crate::python::value_reuse::reuse_or_make;

/// PEP 3333: environ strings carry bytes as Latin-1 code points.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn server_version_tuple(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
    let mut version = ffi::ap_version_t {
        major: 0,
        minor: 0,
        patch: 0,
        add_string: std::ptr::null(),
    };
    // SAFETY: ap_get_server_revision fills the struct we own.
    unsafe { ffi::ap_get_server_revision(&mut version) };
    PyTuple::new(py, [version.major, version.minor, version.patch])
}

fn server_banner() -> String {
    // SAFETY: ap_get_server_banner returns a static C string.
    unsafe { crate::httpd::server::c_string(ffi::ap_get_server_banner()) }
}

/// The Latin-1 `str` of `bytes` for environ key `key`, reusing the one this
/// thread made for the same key and bytes in an earlier call.
fn value_str<'py>(
    py: Python<'py>,
    key: &Bound<'py, PyString>,
    bytes: &[u8],
) -> PyResult<Bound<'py, PyString>> {
    reuse_or_make(py, key, bytes, || latin1_str(py, bytes))
}

/// A Python `str` holding `bytes` as Latin-1 code points, made in one C
/// call (no intermediate Rust `String`).
fn latin1_str<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyString>> {
    // SAFETY: pointer and length describe a live byte slice, which
    // PyUnicode_DecodeLatin1 copies; it returns a new reference, or NULL
    // with an exception set, which from_owned_ptr_or_err turns into Err.
    let text = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            pyo3::ffi::PyUnicode_DecodeLatin1(
                bytes.as_ptr().cast(),
                bytes.len() as pyo3::ffi::Py_ssize_t,
                std::ptr::null(),
            ),
        )
    }?;
    Ok(text.cast_into::<PyString>()?)
}

/// The first this many of [`REQUEST_KEYS`] are set in every call; the
/// rest only when the request has a value for them.
const ALWAYS_SET_REQUEST_KEYS: usize = 14;

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
/// interned keys, and a template dict which each call copies (a C-level
/// copy of the hash table) instead of rebuilding. The template holds the
/// items that never change in a child (server software, versions) and,
/// with `None` as a placeholder, every key each call always sets, so the
/// copy is already sized for them and setting one replaces a value
/// instead of growing the table.
struct Shared {
    keys: Vec<Py<PyString>>,
    https: Py<PyString>,
    content_type: Py<PyString>,
    content_length: Py<PyString>,
    errors: Py<PyString>,
    application_group: Py<PyString>,
    is_https: Py<PyString>,
    var_lookup: Py<PyString>,
    template: Py<PyDict>,
    /// `HTTP_*` keys of the header names seen so far.
    header_keys: HeaderKeys,
}

static SHARED: PyOnceLock<Shared> = PyOnceLock::new();

fn shared(py: Python<'_>) -> PyResult<&Shared> {
    SHARED.get_or_try_init(py, || {
        let template = PyDict::new(py);
        template.set_item("SERVER_SOFTWARE", server_banner())?;
        template.set_item("apache.version", server_version_tuple(py)?)?;
        template.set_item("mod_wsgi.process_group", "")?;
        template.set_item("authnz_wsgi.version", env!("CARGO_PKG_VERSION"))?;
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
            template: template.clone().unbind(),
            header_keys: HeaderKeys::new(),
        };
        let always_set = shared.keys[..ALWAYS_SET_REQUEST_KEYS].iter().chain([
            &shared.errors,
            &shared.application_group,
            &shared.is_https,
            &shared.var_lookup,
        ]);
        for placeholder in always_set {
            template.set_item(placeholder.bind(py), py.None())?;
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
    let env = shared.template.bind(py).copy()?;
    let mut keys = shared.keys.iter().map(|k| k.bind(py));
    let mut set = |value: &[u8]| -> PyResult<()> {
        let Some(key) = keys.next() else {
            return Err(PyRuntimeError::new_err(
                "more environ values than REQUEST_KEYS",
            ));
        };
        env.set_item(key, value_str(py, key, value)?)
    };

    let uri = r.uri();
    let path_info = r.path_info();
    let script_name = uri.strip_suffix(path_info).unwrap_or(uri);
    set(r.method())?;
    set(r.unparsed_uri())?;
    set(script_name)?;
    set(path_info)?;
    set(r.args())?;
    set(r.protocol())?;
    set(r.server_name())?;
    set(r.server_port().to_string().as_bytes())?;
    set(r.local_ip())?;
    set(r.server().admin())?;
    set(r.signature())?;
    set(r.document_root())?;
    set(r.useragent_ip())?;
    set(r.client_port().to_string().as_bytes())?;
    if let Some(host) = r.remote_host_name() {
        set(host.as_bytes())?;
    }
    if r.is_https() {
        env.set_item(shared.https.bind(py), "on")?;
    }
    // Repeated headers are joined as a proxy would join them, in Rust,
    // before anything reaches the dict. Names that differ only in case
    // have the same key.
    let mut headers: Vec<(&[u8], Bound<'py, PyString>, Vec<u8>)> = Vec::new();
    for (name, value) in r.headers_in().entries() {
        if name.eq_ignore_ascii_case(b"content-type") {
            let key = shared.content_type.bind(py);
            env.set_item(key, value_str(py, key, value)?)?;
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let key = shared.content_length.bind(py);
            env.set_item(key, value_str(py, key, value)?)?;
        } else if let Some((_, _, joined)) = headers
            .iter_mut()
            .find(|(seen, _, _)| seen.eq_ignore_ascii_case(name))
        {
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(value);
        } else if let Some(key) = shared.header_keys.key(py, name) {
            headers.push((name, key, value.to_vec()));
        }
    }
    for (_, key, value) in headers {
        env.set_item(&key, value_str(py, &key, &value)?)?;
    }
    env.set_item(shared.errors.bind(py), scope.errors(py))?;
    env.set_item(shared.application_group.bind(py), application_group)?;
    env.set_item(shared.is_https.bind(py), scope.is_https(py))?;
    env.set_item(shared.var_lookup.bind(py), scope.var_lookup(py))?;
    Ok(env)
}
