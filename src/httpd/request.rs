//! `request_rec` wrapper: the request fields the providers and environ need,
//! each read through one audited accessor.

use std::cell::{RefCell, RefMut};
use std::ffi::{c_char, CStr};
use std::ptr::NonNull;

use crate::apr::{Pool, Table};
use crate::ffi;
use crate::httpd::module_config::{DirRecord, RequestRecord};
use crate::httpd::module_record;
use crate::httpd::server::{c_string, module_config_slot};
use crate::httpd::Server;

/// A borrowed request, valid for the duration of one hook call.
#[derive(Clone, Copy)]
pub struct Request(NonNull<ffi::request_rec>);

/// Bytes of a C string field (empty for NULL).
///
/// # Safety
/// `ptr` must be NULL or a NUL-terminated string that outlives the borrow.
unsafe fn bytes<'a>(ptr: *const c_char) -> &'a [u8] {
    if ptr.is_null() {
        b""
    } else {
        // SAFETY: per the contract above.
        unsafe { CStr::from_ptr(ptr) }.to_bytes()
    }
}

impl Request {
    /// # Safety
    /// `raw` must be a live request for the lifetime of the wrapper.
    pub unsafe fn from_raw(raw: *mut ffi::request_rec) -> Option<Request> {
        NonNull::new(raw).map(Request)
    }

    pub fn as_ptr(self) -> *mut ffi::request_rec {
        self.0.as_ptr()
    }

    fn raw(&self) -> &ffi::request_rec {
        // SAFETY: the wrapper's invariant: the request is live.
        unsafe { self.0.as_ref() }
    }

    fn connection(&self) -> &ffi::conn_rec {
        // SAFETY: every live request has a live connection.
        unsafe { &*self.raw().connection }
    }

    pub fn pool(self) -> Pool {
        // SAFETY: r->pool lives as long as the request.
        unsafe { Pool::from_raw(self.raw().pool) }.expect("request without a pool")
    }

    pub fn server(self) -> Server {
        // SAFETY: r->server is the live virtual host of the request.
        unsafe { Server::from_raw(self.raw().server) }.expect("request without a server")
    }

    /// Our merged per-directory configuration.
    pub fn dir_config<T: DirRecord>(&self) -> Option<&T> {
        // SAFETY: per_dir_config is the request's merged vector; our slot
        // holds a `T` allocated by create/merge_dir_config in a pool that
        // outlives the request.
        unsafe {
            module_config_slot(self.raw().per_dir_config, module_record::get())
                .cast::<T>()
                .as_ref()
        }
    }

    /// The module's per-request state (one `T` per request, created on first
    /// use in the request pool and dropped with it), borrowed for as long as
    /// the returned guard lives. A second borrow while one is held panics
    /// (caught at the hook boundary) instead of aliasing.
    pub fn state<T: RequestRecord>(&self) -> RefMut<'_, T> {
        let cell = match self.state_cell::<T>() {
            Some(cell) => cell,
            None => {
                let vector = self.raw().request_config;
                let fresh = self.pool().alloc(RefCell::new(T::default()));
                // SAFETY: request_config is the request's module vector and
                // our slot in it is empty; the cell lives in the request pool.
                unsafe {
                    ffi::authnz_wsgi_set_module_config(vector, module_record::get(), fresh.cast());
                    &*fresh
                }
            }
        };
        cell.borrow_mut()
    }

    /// The module's per-request state if [`Request::state`] created one.
    pub fn existing_state<T: RequestRecord>(&self) -> Option<RefMut<'_, T>> {
        self.state_cell::<T>().map(RefCell::borrow_mut)
    }

    fn state_cell<T: RequestRecord>(&self) -> Option<&RefCell<T>> {
        // SAFETY: request_config is the request's module vector; our slot is
        // either NULL or a `RefCell<T>` that `state` stored (the module uses
        // one state type). A request is handled by one thread at a time, so
        // the cell is never shared across threads.
        unsafe {
            module_config_slot(self.raw().request_config, module_record::get())
                .cast::<RefCell<T>>()
                .as_ref()
        }
    }

    /// The user authentication established (`r->user`), as bytes.
    pub fn user(&self) -> Option<&[u8]> {
        let user = self.raw().user;
        // SAFETY: r->user is NULL or a C string in the request pool.
        (!user.is_null()).then(|| unsafe { bytes(user) })
    }

    pub fn headers_in(self) -> Table {
        // SAFETY: headers_in is a live table of the request.
        unsafe { Table::from_raw(self.raw().headers_in) }.expect("request without headers_in")
    }

    /// Set `r->user` to a pool copy of `name` (validated by the caller: no NUL).
    pub fn set_user(self, name: &[u8]) {
        let copy = self.pool().strdup(name);
        // SAFETY: writing a field of the live request; the value lives in r->pool.
        unsafe { (*self.as_ptr()).user = copy };
    }

    /// httpd's number of the method (`M_GET`, ...; HEAD is `M_GET`).
    pub fn method_number(self) -> i32 {
        self.raw().method_number
    }

    pub fn method(&self) -> &[u8] {
        // SAFETY: C string field of the live request.
        unsafe { bytes(self.raw().method) }
    }

    pub fn unparsed_uri(&self) -> &[u8] {
        // SAFETY: C string field of the live request.
        unsafe { bytes(self.raw().unparsed_uri) }
    }

    pub fn uri(&self) -> &[u8] {
        // SAFETY: C string field of the live request.
        unsafe { bytes(self.raw().uri) }
    }

    /// `r->filename`: a path, or `proxy:URL` for mod_proxy's requests.
    pub fn filename(&self) -> &[u8] {
        // SAFETY: C string field of the live request.
        unsafe { bytes(self.raw().filename) }
    }

    pub fn path_info(&self) -> &[u8] {
        // SAFETY: C string field of the live request.
        unsafe { bytes(self.raw().path_info) }
    }

    pub fn args(&self) -> &[u8] {
        // SAFETY: C string field of the live request.
        unsafe { bytes(self.raw().args) }
    }

    pub fn protocol(&self) -> &[u8] {
        // SAFETY: C string field of the live request.
        unsafe { bytes(self.raw().protocol) }
    }

    /// The client address as httpd sees it (mod_remoteip-aware).
    pub fn useragent_ip(&self) -> &[u8] {
        // SAFETY: C string field of the live request.
        unsafe { bytes(self.raw().useragent_ip) }
    }

    pub fn local_ip(&self) -> &[u8] {
        // SAFETY: C string field of the live connection.
        unsafe { bytes(self.connection().local_ip) }
    }

    /// The TCP port of the connection's peer.
    pub fn client_port(&self) -> u16 {
        let addr = self.connection().client_addr;
        // SAFETY: client_addr is NULL or the live peer sockaddr of the connection.
        unsafe { addr.as_ref() }.map_or(0, |a| a.port)
    }

    /// The port the connection arrived on (one the server listens on,
    /// whatever the `Host` header says).
    pub fn local_port(&self) -> u16 {
        let addr = self.connection().local_addr;
        // SAFETY: local_addr is NULL or the live local sockaddr of the connection.
        unsafe { addr.as_ref() }.map_or(0, |a| a.port)
    }

    /// The host name the client asked for (`r->hostname`), if any.
    pub fn hostname(self) -> Option<String> {
        let name = self.raw().hostname;
        // SAFETY: r->hostname is NULL or a C string in the request pool.
        (!name.is_null()).then(|| unsafe { c_string(name) })
    }

    /// The server name for this request (`UseCanonicalName` applied).
    pub fn server_name(&self) -> &[u8] {
        // SAFETY: ap_get_server_name returns a C string owned by httpd that
        // lives at least as long as the request.
        unsafe { bytes(ffi::ap_get_server_name(self.as_ptr())) }
    }

    pub fn server_port(self) -> u16 {
        // SAFETY: plain query on the live request.
        unsafe { ffi::ap_get_server_port(self.as_ptr()) }
    }

    pub fn document_root(&self) -> &[u8] {
        // SAFETY: ap_document_root returns a C string owned by httpd (the
        // configuration or the request pool).
        unsafe { bytes(ffi::ap_document_root(self.as_ptr())) }
    }

    /// `ServerSignature` text for this request ("" when Off).
    pub fn signature(&self) -> &[u8] {
        // SAFETY: ap_psignature allocates its result in r->pool.
        unsafe { bytes(ffi::ap_psignature(c"".as_ptr(), self.as_ptr())) }
    }

    /// The remote host name when `HostnameLookups` allows one, else `None`.
    pub fn remote_host_name(self) -> Option<String> {
        // SAFETY: REMOTE_HOST asks httpd for a name only when lookups are on;
        // the result is NULL or a C string owned by the connection.
        let name = unsafe {
            ffi::ap_get_useragent_host(self.as_ptr(), ffi::REMOTE_HOST as i32, std::ptr::null_mut())
        };
        // SAFETY: NULL-checked C string.
        (!name.is_null()).then(|| unsafe { c_string(name) })
    }

    /// The client as `allow_access` sees it: the double-reverse-confirmed
    /// host name when `HostnameLookups Double` applies and confirms one,
    /// else the client IP (`r->useragent_ip`, mod_remoteip-aware). A
    /// single-reverse PTR name is never used: the client controls it.
    pub fn access_host(self) -> Vec<u8> {
        // SAFETY: the core module's per-dir config of a live request.
        let core = unsafe { ffi::ap_get_core_module_config(self.raw().per_dir_config) }
            .cast::<ffi::core_dir_config>();
        // SAFETY: NULL-checked pointer to the core's own record.
        let lookups = unsafe { core.as_ref() }.map_or(0, |c| c.hostname_lookups());
        if lookups == ffi::HOSTNAME_LOOKUP_DOUBLE {
            // SAFETY: REMOTE_DOUBLE_REV returns NULL unless the forward
            // lookup of the reverse name gives back the client address.
            let name = unsafe {
                ffi::ap_get_useragent_host(
                    self.as_ptr(),
                    ffi::REMOTE_DOUBLE_REV as i32,
                    std::ptr::null_mut(),
                )
            };
            if !name.is_null() {
                // SAFETY: NULL-checked C string owned by the connection.
                return unsafe { bytes(name) }.to_vec();
            }
        }
        self.useragent_ip().to_vec()
    }

    /// Whether the connection is TLS (mod_ssl or another provider).
    pub fn is_https(self) -> bool {
        // SAFETY: plain query on the live connection.
        unsafe { ffi::ap_ssl_conn_is_ssl(self.raw().connection) != 0 }
    }

    /// `mod_ssl`-style variable lookup (`SSL_PROTOCOL`, ...); `None` if unset.
    pub fn ssl_var(self, name: &str) -> Option<String> {
        let name = std::ffi::CString::new(name).ok()?;
        // SAFETY: all pointers are live; the result is NULL or a C string in r->pool.
        let value = unsafe {
            ffi::ap_ssl_var_lookup(
                self.raw().pool,
                self.raw().server,
                self.raw().connection,
                self.as_ptr(),
                name.as_ptr(),
            )
        };
        // SAFETY: NULL-checked C string.
        (!value.is_null())
            .then(|| unsafe { c_string(value) })
            .filter(|v| !v.is_empty())
    }
}

/// Response headers, the internal-redirect chain and the identity fields
/// identity reflection (docs/identity-reflection.md) reads and writes.
impl Request {
    pub fn headers_out(self) -> Table {
        // SAFETY: headers_out is a live table of the request.
        unsafe { Table::from_raw(self.raw().headers_out) }.expect("request without headers_out")
    }

    pub fn err_headers_out(self) -> Table {
        // SAFETY: err_headers_out is a live table of the request.
        unsafe { Table::from_raw(self.raw().err_headers_out) }
            .expect("request without err_headers_out")
    }

    /// Trailer fields of the response (`r->trailers_out`): mod_proxy_http
    /// copies a backend's chunked trailers there and mod_http2 sends them
    /// as an HTTP/2 trailer block.
    pub fn trailers_out(self) -> Option<Table> {
        // SAFETY: trailers_out is NULL or a live table of the request.
        unsafe { Table::from_raw(self.raw().trailers_out) }
    }

    pub fn subprocess_env(self) -> Table {
        // SAFETY: subprocess_env is a live table of the request.
        unsafe { Table::from_raw(self.raw().subprocess_env) }
            .expect("request without subprocess_env")
    }

    /// Whether this is a subrequest (`r->main` set): its response headers
    /// are never sent to the client.
    pub fn is_subrequest(self) -> bool {
        !self.raw().main.is_null()
    }

    /// The request this one was internally redirected from (`r->prev`).
    pub fn prev(self) -> Option<Request> {
        // SAFETY: r->prev is NULL or a live request of the same connection,
        // kept for the lifetime of the redirect chain.
        unsafe { Request::from_raw(self.raw().prev) }
    }

    /// The request this one was internally redirected to (`r->next`).
    pub fn next(self) -> Option<Request> {
        // SAFETY: r->next is NULL or a live request of the same chain.
        unsafe { Request::from_raw(self.raw().next) }
    }

    /// The internal-redirect chain this request belongs to, from the
    /// original request (the one httpd logs) to the final one (the one that
    /// produced the response).
    pub fn redirect_chain(self) -> Vec<Request> {
        let mut first = self;
        while let Some(prev) = first.prev() {
            first = prev;
        }
        let mut chain = vec![first];
        while let Some(next) = chain[chain.len() - 1].next() {
            chain.push(next);
        }
        chain
    }

    /// Set `r->ap_auth_type` to a pool copy of `name` (validated by the
    /// caller: no NUL).
    pub fn set_auth_type(self, name: &[u8]) {
        let copy = self.pool().strdup(name);
        // SAFETY: writing a field of the live request; the value lives in r->pool.
        unsafe { (*self.as_ptr()).ap_auth_type = copy };
    }

    /// The connection record, for adding filters.
    pub fn connection_ptr(self) -> *mut ffi::conn_rec {
        self.raw().connection
    }
}

/// What identifies the authentication configuration a request runs under
/// (for keys of the in-process cache of granted results).
impl Request {
    /// `AuthName` in effect (`ap_auth_name`), if any.
    pub fn auth_name(&self) -> Option<&[u8]> {
        // SAFETY: ap_auth_name returns NULL or a C string from the
        // configuration, which outlives the request.
        let name = unsafe { ffi::ap_auth_name(self.as_ptr()) };
        // SAFETY: NULL-checked C string, see above.
        (!name.is_null()).then(|| unsafe { bytes(name) })
    }

    /// The value of `key` in `r->notes` (a C string literal with its NUL).
    pub fn note(&self, key: &CStr) -> Option<&[u8]> {
        // SAFETY: r->notes is a live table of the request; apr_table_get
        // returns NULL or a value stored in it for the request's lifetime.
        let value = unsafe { ffi::apr_table_get(self.raw().notes, key.as_ptr()) };
        // SAFETY: NULL-checked C string, see above.
        (!value.is_null()).then(|| unsafe { bytes(value) })
    }

    /// Another module's record in the merged per-directory configuration
    /// (NULL when that module has none here). Reading it requires knowing
    /// the record's layout: see `module::socache`.
    ///
    /// # Safety
    /// `module` must be NULL or the record of a module loaded in this
    /// configuration.
    pub unsafe fn module_dir_config_raw(self, module: *const ffi::module) -> *mut std::ffi::c_void {
        // SAFETY: per_dir_config is the request's merged vector; `module`
        // is per the contract above.
        unsafe { module_config_slot(self.raw().per_dir_config, module) }
    }
}
