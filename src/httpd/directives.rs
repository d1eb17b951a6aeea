//! httpd's directive table (`command_rec`, `http_config.h`) as a module
//! writes it: each entry names a safe Rust handler of the module's
//! per-directory record `T`. Two generic `extern "C"` trampolines serve
//! every entry: the handler travels in `cmd_data`; arguments arrive as
//! `TAKE_ARGV` (a list of words) or `RAW_ARGS` (the argument text whole);
//! an `Err` becomes httpd's "Syntax error on line N of FILE" message.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::{null, null_mut};

use crate::ffi;
use crate::httpd::cmd::Cmd;
use crate::httpd::guard::guard;
use crate::httpd::module_config::DirRecord;

/// A directive handler: the directive's arguments as words.
pub type Handler<T> = fn(Cmd, &mut T, &[String]) -> Result<(), String>;

/// A handler that reads the argument text whole (`RAW_ARGS`).
pub type RawHandler<T> = fn(Cmd, &mut T, &str) -> Result<(), String>;

/// A `command_rec` array made shareable: httpd only reads it.
#[repr(transparent)]
pub struct CommandTable<const N: usize>(pub [ffi::command_rec; N]);

// SAFETY: the table is immutable after construction; the raw pointers in it
// point to static C strings and functions.
unsafe impl<const N: usize> Sync for CommandTable<N> {}

impl<const N: usize> CommandTable<N> {
    /// The table as the module record's `cmds`.
    pub const fn as_ptr(&'static self) -> *const ffi::command_rec {
        self.0.as_ptr()
    }
}

/// A `TAKE_ARGV` entry.
pub const fn entry<T: DirRecord>(
    name: &'static CStr,
    handler: Handler<T>,
    req_override: u32,
    help: &'static CStr,
) -> ffi::command_rec {
    ffi::command_rec {
        name: name.as_ptr(),
        func: ffi::cmd_func {
            take_argv: Some(take_argv_trampoline::<T>),
        },
        cmd_data: handler as *mut c_void,
        req_override: req_override as c_int,
        args_how: ffi::cmd_how_TAKE_ARGV,
        errmsg: help.as_ptr(),
    }
}

/// A `RAW_ARGS` entry: the handler gets the argument text whole.
pub const fn raw_entry<T: DirRecord>(
    name: &'static CStr,
    handler: RawHandler<T>,
    req_override: u32,
    help: &'static CStr,
) -> ffi::command_rec {
    ffi::command_rec {
        name: name.as_ptr(),
        func: ffi::cmd_func {
            raw_args: Some(raw_args_trampoline::<T>),
        },
        cmd_data: handler as *mut c_void,
        req_override: req_override as c_int,
        args_how: ffi::cmd_how_RAW_ARGS,
        errmsg: help.as_ptr(),
    }
}

/// The entry that ends the table.
pub const fn end() -> ffi::command_rec {
    ffi::command_rec {
        name: null(),
        func: ffi::cmd_func { take_argv: None },
        cmd_data: null_mut(),
        req_override: 0,
        args_how: ffi::cmd_how_RAW_ARGS,
        errmsg: null(),
    }
}

/// What both trampolines share: the panic boundary, the record, and an
/// `Err` turned into httpd's error string.
fn run_handler<T: DirRecord>(
    parms: *mut ffi::cmd_parms,
    mconfig: *mut c_void,
    body: impl FnOnce(Cmd, &mut T, *mut c_void) -> Result<(), String>,
) -> *const c_char {
    guard(
        "directive",
        c"internal error while parsing a mod_authnz_wsgi directive".as_ptr(),
        || {
            // SAFETY: httpd passes the live cmd_parms of this directive.
            let Some(cmd) = (unsafe { Cmd::from_raw(parms) }) else {
                return c"mod_authnz_wsgi: no cmd_parms".as_ptr();
            };
            // SAFETY: mconfig is the module's per-directory record of this
            // section, made by create_dir::<T> (the module record's only
            // per-directory constructor).
            let Some(dir) = (unsafe { mconfig.cast::<T>().as_mut() }) else {
                return error(cmd, "mod_authnz_wsgi: no directory configuration");
            };
            // SAFETY: cmd_parms is live; `info` is the entry's cmd_data.
            let info = unsafe { (*parms).info };
            match body(cmd, dir, info) {
                Ok(()) => null(),
                Err(message) => error(cmd, &message),
            }
        },
    )
}

fn error(cmd: Cmd, message: &str) -> *const c_char {
    cmd.pool().strdup(message.as_bytes())
}

unsafe extern "C" fn take_argv_trampoline<T: DirRecord>(
    parms: *mut ffi::cmd_parms,
    mconfig: *mut c_void,
    argc: c_int,
    argv: *const *mut c_char,
) -> *const c_char {
    run_handler::<T>(parms, mconfig, |cmd, dir, info| {
        // SAFETY: `info` is the cmd_data of this entry: a Handler<T> stored
        // there by entry::<T> (the only maker of take_argv_trampoline::<T>
        // entries).
        let handler = unsafe { std::mem::transmute::<*mut c_void, Handler<T>>(info) };
        let count = usize::try_from(argc).unwrap_or(0);
        let mut args = Vec::with_capacity(count);
        for i in 0..count {
            // SAFETY: argv holds argc NUL-terminated strings (TAKE_ARGV).
            let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
            let text = arg.to_str().map_err(|_| {
                format!(
                    "{}: argument {} is not valid UTF-8",
                    cmd.directive_name(),
                    i + 1
                )
            })?;
            args.push(text.to_owned());
        }
        handler(cmd, dir, &args)
    })
}

unsafe extern "C" fn raw_args_trampoline<T: DirRecord>(
    parms: *mut ffi::cmd_parms,
    mconfig: *mut c_void,
    args: *const c_char,
) -> *const c_char {
    run_handler::<T>(parms, mconfig, |cmd, dir, info| {
        // SAFETY: `info` is the cmd_data of this entry: a RawHandler<T>
        // stored there by raw_entry::<T>.
        let handler = unsafe { std::mem::transmute::<*mut c_void, RawHandler<T>>(info) };
        let text = if args.is_null() {
            ""
        } else {
            // SAFETY: httpd passes the rest of the line as a C string.
            unsafe { CStr::from_ptr(args) }.to_str().map_err(|_| {
                format!(
                    "{}: the arguments are not valid UTF-8",
                    cmd.directive_name()
                )
            })?
        };
        handler(cmd, dir, text)
    })
}
