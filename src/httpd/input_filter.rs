//! Input filters: registration, insertion with a pool-owned Rust context,
//! the one generic `extern "C"` trampoline every input filter of the module
//! goes through (panic boundary included), and the few brigade operations a
//! filter that reads lines needs. Mirrors `util_filter.h`'s
//! `ap_in_filter_func` contract as httpd's own protocol filters follow it
//! (e.g. `ap_http_filter` in `modules/http/http_filters.c`).

use std::ffi::CStr;
use std::ptr::NonNull;

use crate::ffi;
use crate::httpd::guard::guard;
use crate::httpd::Request;

/// The brigade an input filter fills for its caller.
#[derive(Clone, Copy)]
pub struct InputBrigade(NonNull<ffi::apr_bucket_brigade>);

impl InputBrigade {
    /// A copy of the bytes the brigade holds. Only for brigades of data
    /// already read (a `GETLINE` answer): nothing here blocks.
    pub fn to_vec(self) -> Result<Vec<u8>, ffi::apr_status_t> {
        let mut length: ffi::apr_off_t = 0;
        // SAFETY: the brigade is live for the filter call; read_all=1 makes
        // APR read (not block on) the data buckets a GETLINE answer holds.
        let status = unsafe { ffi::apr_brigade_length(self.0.as_ptr(), 1, &mut length) };
        if status != 0 {
            return Err(status);
        }
        let mut bytes = vec![0u8; usize::try_from(length).unwrap_or(0)];
        let mut filled = bytes.len() as ffi::apr_size_t;
        // SAFETY: `bytes` has room for `filled` bytes; apr_brigade_flatten
        // copies at most that many and reports how many it copied.
        let status = unsafe {
            ffi::apr_brigade_flatten(self.0.as_ptr(), bytes.as_mut_ptr().cast(), &mut filled)
        };
        if status != 0 {
            return Err(status);
        }
        bytes.truncate(filled as usize);
        Ok(bytes)
    }

    /// Drop every bucket (the data is not handed up).
    pub fn clear(self) {
        // SAFETY: apr_brigade_cleanup empties a live brigade.
        unsafe { ffi::apr_brigade_cleanup(self.0.as_ptr().cast()) };
    }

    /// Append a copy of `bytes`.
    pub fn append(self, bytes: &[u8]) -> ffi::apr_status_t {
        // SAFETY: with no flush function apr_brigade_write copies `bytes`
        // into heap buckets owned by the brigade.
        unsafe {
            ffi::apr_brigade_write(
                self.0.as_ptr(),
                None,
                std::ptr::null_mut(),
                bytes.as_ptr().cast(),
                bytes.len() as ffi::apr_size_t,
            )
        }
    }
}

/// How the caller wants to read (`ap_input_mode_t` and friends), passed on
/// unchanged to the filters below.
#[derive(Clone, Copy)]
pub struct ReadRequest {
    pub mode: ffi::ap_input_mode_t,
    pub block: ffi::apr_read_type_e,
    pub readbytes: ffi::apr_off_t,
}

impl ReadRequest {
    /// Whether the caller reads one line (`AP_MODE_GETLINE`).
    pub fn is_getline(self) -> bool {
        self.mode == ffi::ap_input_mode_t_AP_MODE_GETLINE
    }
}

/// One instance of an input filter in a request's chain.
#[derive(Clone, Copy)]
pub struct InputFilter(NonNull<ffi::ap_filter_t>);

impl InputFilter {
    fn raw(&self) -> &ffi::ap_filter_t {
        // SAFETY: the wrapper's invariant: the filter is live for the call.
        unsafe { self.0.as_ref() }
    }

    /// Read from the filters below into `brigade` (appending to it).
    pub fn read_below(self, brigade: InputBrigade, how: ReadRequest) -> ffi::apr_status_t {
        // SAFETY: f->next is the rest of the live chain; the brigade is the
        // caller's.
        unsafe {
            ffi::ap_get_brigade(
                self.raw().next,
                brigade.0.as_ptr(),
                how.mode,
                how.block,
                how.readbytes,
            )
        }
    }

    /// Take this filter out of the chain (it is not called again).
    pub fn remove(self) {
        // SAFETY: the filter is live and in its request's input chain.
        unsafe { ffi::ap_remove_input_filter(self.0.as_ptr()) };
    }
}

/// What an input filter does with one read.
pub trait InputFilterBody {
    /// Filter name as registered (and shown in httpd's debug logs).
    const NAME: &'static CStr;
    /// The type the filter runs as (`AP_FTYPE_*`).
    const FTYPE: ffi::ap_filter_type;
    /// What [`add_input_filter`] gives each instance, in the request pool.
    type Context: 'static;
    /// Called once per `ap_get_brigade` on the filter, with the instance's
    /// context (`None` for an instance added by name, without one); fills
    /// `brigade`. A filter instance is called by one thread at a time.
    fn on_read(
        filter: InputFilter,
        context: Option<&mut Self::Context>,
        brigade: InputBrigade,
        how: ReadRequest,
    ) -> ffi::apr_status_t;
}

/// `APR_EGENERAL`: what a filter returns when its body panicked (the read
/// fails, so nothing half-filtered is handed up).
const FILTER_PANICKED: ffi::apr_status_t = ffi::APR_EGENERAL as ffi::apr_status_t;

unsafe extern "C" fn input_filter_trampoline<F: InputFilterBody>(
    f: *mut ffi::ap_filter_t,
    bb: *mut ffi::apr_bucket_brigade,
    mode: ffi::ap_input_mode_t,
    block: ffi::apr_read_type_e,
    readbytes: ffi::apr_off_t,
) -> ffi::apr_status_t {
    guard("input filter", FILTER_PANICKED, || {
        match (NonNull::new(f), NonNull::new(bb)) {
            (Some(filter), Some(brigade)) => F::on_read(
                InputFilter(filter),
                // SAFETY: an instance of `F` gets its context only from
                // `add_input_filter::<F>`, an `F::Context` in the pool of the
                // request it filters, which outlives this call (or NULL);
                // httpd calls one instance on one thread at a time, and this
                // is the only reference made to it during the call.
                unsafe { (*f).ctx.cast::<F::Context>().as_mut() },
                InputBrigade(brigade),
                ReadRequest {
                    mode,
                    block,
                    readbytes,
                },
            ),
            _ => FILTER_PANICKED,
        }
    })
}

/// Register `F` as an input filter (in `register_hooks`).
pub fn register_input_filter<F: InputFilterBody>() {
    // SAFETY: NAME is a static C string; httpd keeps the pointer in its
    // filter registry for the life of the module.
    unsafe {
        ffi::ap_register_input_filter(
            F::NAME.as_ptr(),
            Some(input_filter_trampoline::<F>),
            None,
            F::FTYPE,
        )
    };
}

/// Add an instance of the registered filter `F` to `r`'s input chain, with
/// `context` moved into `r`'s pool (dropped with it).
pub fn add_input_filter<F: InputFilterBody>(r: Request, context: F::Context) {
    let ctx = r.pool().alloc(context);
    // SAFETY: the filter name is registered; request, connection and the
    // context all live as long as the request.
    unsafe {
        ffi::ap_add_input_filter(F::NAME.as_ptr(), ctx.cast(), r.as_ptr(), r.connection_ptr())
    };
}
