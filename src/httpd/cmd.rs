//! `cmd_parms` wrapper for directive handlers: pools, the server being
//! configured, context checks, `.htaccess` detection, where a directive
//! is read and ServerRoot-relative paths.

use std::ffi::{CStr, CString};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::apr::Pool;
use crate::ffi;
use crate::httpd::module_config::{DirRecord, ServerRecord};
use crate::httpd::server::module_config_slot;

/// The parameters httpd passes to a directive handler.
#[derive(Clone, Copy)]
pub struct Cmd(NonNull<ffi::cmd_parms>);

impl Cmd {
    /// # Safety
    /// `raw` must be the live `cmd_parms` of the current directive.
    pub unsafe fn from_raw(raw: *mut ffi::cmd_parms) -> Option<Cmd> {
        NonNull::new(raw).map(Cmd)
    }

    pub fn as_ptr(self) -> *mut ffi::cmd_parms {
        self.0.as_ptr()
    }

    fn raw(&self) -> &ffi::cmd_parms {
        // SAFETY: the wrapper's invariant: the parameters are live.
        unsafe { self.0.as_ref() }
    }

    /// The pool configuration records live in.
    pub fn pool(self) -> Pool {
        // SAFETY: cmd->pool is live while the configuration is.
        unsafe { Pool::from_raw(self.raw().pool) }.expect("cmd_parms without a pool")
    }

    /// Our module's record for the virtual host being configured, borrowed
    /// while this directive is handled (configuration is read on one
    /// thread).
    pub fn server_config_mut<T: ServerRecord>(&mut self) -> Option<&mut T> {
        // SAFETY: cmd->server is the live virtual host being configured and
        // module_config its vector; our slot holds a `T` allocated by
        // create_server_config in pconf, which outlives the directive.
        unsafe {
            let server = self.raw().server;
            module_config_slot((*server).module_config, crate::httpd::module_record::get())
                .cast::<T>()
                .as_mut()
        }
    }

    /// Our record in the configuration vector of the section being read
    /// (`cmd->context`), for directives of other modules that configure us
    /// (such as `Require`, via `parse_require_line`). httpd creates a
    /// module's record in a section only when one of its own directives
    /// appears there, so this creates it when missing.
    pub fn section_config_mut<T: DirRecord>(&mut self) -> Option<&mut T> {
        let raw = self.raw();
        if raw.context.is_null() {
            return None;
        }
        // SAFETY: cmd->context is the per-dir vector of the section being
        // read; ap_set_config_vectors returns our slot there, creating it
        // with create_dir_config (a `T`) when absent. Configuration is read
        // on one thread.
        unsafe {
            ffi::ap_set_config_vectors(
                raw.server,
                raw.context,
                raw.path,
                crate::httpd::module_record::get(),
                raw.pool,
            )
            .cast::<T>()
            .as_mut()
        }
    }

    /// The directive's name as written in the configuration.
    pub fn directive_name(self) -> String {
        // SAFETY: cmd->cmd is the live command_rec; its name is a C string literal.
        unsafe {
            self.raw()
                .cmd
                .as_ref()
                .map(|c| CStr::from_ptr(c.name).to_string_lossy().into_owned())
                .unwrap_or_default()
        }
    }

    /// Where the directive being read was written: `file:line` (an
    /// `.htaccess` path, an `Include`d file, or mod_macro's description of
    /// a macro use). A directive httpd gives no file for gets a name no
    /// other directive read by this process has.
    pub fn directive_location(self) -> String {
        // SAFETY: cmd->directive is NULL or the live directive being read;
        // its filename is NULL or a C string in the configuration pool.
        let written = unsafe {
            self.raw()
                .directive
                .as_ref()
                .filter(|d| !d.filename.is_null())
                .map(|d| (CStr::from_ptr(d.filename).to_string_lossy(), d.line_num))
        };
        match written {
            Some((file, line)) => format!("{file}:{line}"),
            None => {
                static UNNAMED: AtomicU64 = AtomicU64::new(0);
                format!("(no file)#{}", UNNAMED.fetch_add(1, Ordering::Relaxed))
            }
        }
    }

    /// The methods the directive applies to (`cmd->limited`: all bits
    /// outside `<Limit>`; the listed methods' bits inside one, the others'
    /// inside `<LimitExcept>`).
    pub fn limited_methods(self) -> i64 {
        self.raw().limited
    }

    /// httpd's own context check (`ap_check_cmd_context`): an error naming
    /// the directive and the section it may not appear in, for the
    /// `NOT_IN_*` bits of `forbidden` (e.g. `ffi::GLOBAL_ONLY`).
    pub fn check_context(self, forbidden: u32) -> Result<(), String> {
        // SAFETY: cmd is live; the result is NULL or a C string in cmd->pool.
        let err = unsafe { ffi::ap_check_cmd_context(self.as_ptr(), forbidden as _) };
        if err.is_null() {
            return Ok(());
        }
        // SAFETY: NULL-checked C string in cmd->pool.
        Err(unsafe { CStr::from_ptr(err) }
            .to_string_lossy()
            .into_owned())
    }

    /// Whether the directive comes from an `.htaccess` file (httpd reads
    /// those with the request's pool as both pool and temp_pool).
    pub fn in_htaccess(self) -> bool {
        self.raw().pool == self.raw().temp_pool
    }

    /// Where the directive is read: outside any section (`cmd->path` is
    /// NULL at the top of the main server or a virtual host), in which
    /// server (its address, an identity for comparisons only), and whether
    /// that is a virtual host.
    pub fn section_place(self) -> (bool, usize, bool) {
        let raw = self.raw();
        // SAFETY: cmd->server is the live server_rec being configured (or
        // NULL, checked by as_ref).
        let virtual_host = unsafe { raw.server.as_ref() }.is_some_and(|s| s.is_virtual != 0);
        (raw.path.is_null(), raw.server as usize, virtual_host)
    }

    /// `path` made absolute against ServerRoot (as httpd does for its own paths).
    pub fn server_root_relative(self, path: &str) -> Option<String> {
        let path = CString::new(path).ok()?;
        // SAFETY: cmd->pool is live; the result is NULL or a C string in it.
        let full = unsafe { ffi::ap_server_root_relative(self.raw().pool, path.as_ptr()) };
        if full.is_null() {
            return None;
        }
        // SAFETY: NULL-checked C string in cmd->pool.
        let full = unsafe { CStr::from_ptr(full) };
        Some(full.to_string_lossy().into_owned())
    }
}
