//! Output filters: registration, insertion with a pool-owned Rust context,
//! and the one generic `extern "C"` trampoline every output filter of the
//! module goes through (panic boundary included). Mirrors how httpd's own
//! modules use `util_filter.h` (e.g. `mod_headers.c`'s FIXUP_HEADERS_OUT).

use std::ffi::CStr;
use std::ptr::NonNull;

use crate::ffi;
use crate::httpd::guard::guard;
use crate::httpd::Request;

/// A brigade handed to an output filter; only passed on, never inspected.
#[derive(Clone, Copy)]
pub struct Brigade(*mut ffi::apr_bucket_brigade);

/// One instance of an output filter in a request's chain.
#[derive(Clone, Copy)]
pub struct OutputFilter(NonNull<ffi::ap_filter_t>);

impl OutputFilter {
    fn raw(&self) -> &ffi::ap_filter_t {
        // SAFETY: the wrapper's invariant: the filter is live for the call.
        unsafe { self.0.as_ref() }
    }

    /// The request the filter was added for (`f->r`).
    pub fn request(self) -> Option<Request> {
        // SAFETY: f->r is NULL or the live request of a request-level filter.
        unsafe { Request::from_raw(self.raw().r) }
    }

    /// Hand the brigade to the next filter.
    pub fn pass(self, brigade: Brigade) -> ffi::apr_status_t {
        // SAFETY: f->next is the rest of the live chain; the brigade is the
        // one httpd gave this filter.
        unsafe { ffi::ap_pass_brigade(self.raw().next, brigade.0) }
    }
}

/// What a filter does with one brigade.
pub trait OutputFilterBody {
    /// Filter name as registered (and shown in httpd's debug logs).
    const NAME: &'static CStr;
    /// The type the filter runs as (`AP_FTYPE_*`).
    const FTYPE: ffi::ap_filter_type;
    /// What [`add_output_filter`] gives each instance, in the request pool.
    type Context: 'static;
    /// Called once per brigade, with the instance's context (`None` for an
    /// instance httpd added by name, without one); passes the brigade on (or
    /// not) and returns the status.
    fn on_brigade(
        filter: OutputFilter,
        context: Option<&Self::Context>,
        brigade: Brigade,
    ) -> ffi::apr_status_t;
}

/// `APR_EGENERAL`: what a filter returns when its body panicked. The brigade
/// is not passed on, so nothing the body failed to check reaches the client.
const FILTER_PANICKED: ffi::apr_status_t = ffi::APR_EGENERAL as ffi::apr_status_t;

unsafe extern "C" fn output_filter_trampoline<F: OutputFilterBody>(
    f: *mut ffi::ap_filter_t,
    bb: *mut ffi::apr_bucket_brigade,
) -> ffi::apr_status_t {
    guard("output filter", FILTER_PANICKED, || match NonNull::new(f) {
        Some(filter) => {
            let filter = OutputFilter(filter);
            // SAFETY: an instance of `F` gets its context only from
            // `add_output_filter::<F>`, an `F::Context` in the pool of the
            // request it filters, which outlives this call (or NULL).
            let context = unsafe { filter.raw().ctx.cast::<F::Context>().as_ref() };
            F::on_brigade(filter, context, Brigade(bb))
        }
        None => FILTER_PANICKED,
    })
}

/// Register `F` as an output filter (in `register_hooks`).
pub fn register_output_filter<F: OutputFilterBody>() {
    // SAFETY: NAME is a static C string; httpd keeps the pointer in its
    // filter registry for the life of the module.
    unsafe {
        ffi::ap_register_output_filter(
            F::NAME.as_ptr(),
            Some(output_filter_trampoline::<F>),
            None,
            F::FTYPE,
        )
    };
}

/// Add an instance of the registered filter `F` to `r`'s output chain, with
/// `context` moved into the request pool (dropped with it).
pub fn add_output_filter<F: OutputFilterBody>(r: Request, context: F::Context) {
    let ctx = r.pool().alloc(context);
    // SAFETY: the filter name is registered; request, connection and the
    // context all live as long as the request.
    unsafe {
        ffi::ap_add_output_filter(F::NAME.as_ptr(), ctx.cast(), r.as_ptr(), r.connection_ptr())
    };
}
