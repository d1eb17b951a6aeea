//! Live figures of the auth scripts for mod_status (docs/operations.md):
//! per script and function, the Python calls and their results, timeouts,
//! refusals, calls running now and call times; the caches' hits, misses,
//! shared waits and entries; the entries handed to mod_authn_socache. For
//! the whole server: the counters live in a shared-memory table
//! (`apr/shared_table.rs`) made in `post_config` only when mod_status is
//! loaded, one per configuration cycle (a restart starts from zero).
//! `counting` is what the request path calls, `section` what mod_status
//! shows.

pub mod counting;
mod section;

use std::sync::Mutex;

use authnz_core::live_figures::{COUNTERS_PER_ROW, GLOBALS};
use authnz_core::log_tags as tags;

use crate::apr::shared_table::{self, Shape};
use crate::apr::Pool;
use crate::ffi;
use crate::httpd::hooks::{self, Order};
use crate::httpd::log::Level;
use crate::httpd::status::{mod_status_loaded, register_section};
use crate::httpd::Server;
use crate::slog;

pub use counting::{call_starts, Outcome};

/// Rows kept for scripts first seen at run time (`.htaccess`), besides
/// those of the server configuration; past them, the "other" row counts.
pub const RUN_TIME_ROWS: usize = 16;

/// The distinct script paths of the server configuration, in order.
static CONFIGURED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remember a script the server configuration names (not `.htaccess`).
pub fn note_script(path: &str) {
    let mut configured = CONFIGURED.lock().unwrap_or_else(|e| e.into_inner());
    if !configured.iter().any(|p| p == path) {
        configured.push(path.to_owned());
    }
}

/// Register the hooks and the mod_status section.
pub fn register() {
    hooks::pre_config::<ForgetScripts>(Order::MIDDLE);
    hooks::post_config::<MakeTable>(Order::MIDDLE);
    hooks::child_init::<ChildEnd>(Order::MIDDLE);
    register_section::<section::Section>(Order::MIDDLE);
}

/// `pre_config`: a new reading of the configuration begins.
struct ForgetScripts;

impl hooks::PreConfig for ForgetScripts {
    const NAME: &'static str = "pre_config (live figures)";

    fn run(_pconf: Pool) -> hooks::Status {
        CONFIGURED.lock().unwrap_or_else(|e| e.into_inner()).clear();
        ffi::HOOK_OK
    }
}

/// `post_config`: make this cycle's table when mod_status is loaded, with
/// a row for each script of the configuration (in order), the run-time
/// rows and the "other" row.
struct MakeTable;

impl hooks::PostConfig for MakeTable {
    const NAME: &'static str = "post_config (live figures)";

    fn run(main: Server) -> hooks::Status {
        if !mod_status_loaded() {
            slog!(
                Some(main),
                Level::Debug,
                tags::LIVE_FIGURES_OFF,
                "mod_status is not loaded: no live figures are kept"
            );
            return ffi::HOOK_OK;
        }
        let configured = std::mem::take(&mut *CONFIGURED.lock().unwrap_or_else(|e| e.into_inner()));
        let shape = Shape {
            rows: configured.len() + RUN_TIME_ROWS + 1,
            counters_per_row: COUNTERS_PER_ROW,
            globals: GLOBALS.len(),
        };
        let bytes = shared_table::size_of(shape);
        let made = main
            .config_pool()
            .and_then(|pconf| shared_table::renew(pconf, shape));
        let Some(table) = made else {
            slog!(
                Some(main),
                Level::Warning,
                tags::LIVE_FIGURES_NO_MEMORY,
                "no shared memory for the live figures ({bytes} bytes): mod_status shows no \
                 section for mod_authnz_wsgi"
            );
            return ffi::HOOK_OK;
        };
        for path in &configured {
            table.row_for(path);
        }
        slog!(
            Some(main),
            Level::Debug,
            tags::LIVE_FIGURES_ON,
            "live figures for mod_status: {} scripts of the configuration, {RUN_TIME_ROWS} rows \
             for others, {bytes} bytes of shared memory",
            configured.len()
        );
        ffi::HOOK_OK
    }
}

/// `child_init`: when the child ends, its cache entries leave the gauge.
struct ChildEnd;

/// Dropped with the child's pool.
struct ChildExit;

impl Drop for ChildExit {
    fn drop(&mut self) {
        counting::child_exits();
    }
}

impl hooks::ChildInit for ChildEnd {
    const NAME: &'static str = "child_init (live figures)";

    fn run(pchild: Pool, _main: Server) {
        pchild.alloc(ChildExit);
    }
}
