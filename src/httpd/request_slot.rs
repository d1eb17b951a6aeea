//! A request lent to objects that outlive one call (a script's
//! `wsgi.errors` stream and the SSL helpers kept per worker thread): the
//! slot names the request of the call that is running now and is emptied
//! by its owner when the call ends, before the request can end. Reads of an
//! emptied slot find no request.

use std::sync::atomic::{AtomicPtr, Ordering};

use crate::ffi;
use crate::httpd::Request;

/// A slot holding the request of the running call, or none.
pub struct RequestSlot(AtomicPtr<ffi::request_rec>);

impl RequestSlot {
    /// A slot holding `r` for the call that starts now.
    pub fn new(r: Request) -> Self {
        RequestSlot(AtomicPtr::new(r.as_ptr()))
    }

    /// Lend `r` for the call that starts now.
    pub fn set(&self, r: Request) {
        self.0.store(r.as_ptr(), Ordering::Release);
    }

    /// The request of the running call, if one is lent.
    pub fn get(&self) -> Option<Request> {
        // SAFETY: the pointer is either NULL or the request of the call that
        // is running now: every owner clears the slot when its call ends,
        // before the request does (the module's call scope).
        unsafe { Request::from_raw(self.0.load(Ordering::Acquire)) }
    }

    /// The call has ended: lend nothing.
    pub fn clear(&self) {
        self.0.store(std::ptr::null_mut(), Ordering::Release);
    }
}
