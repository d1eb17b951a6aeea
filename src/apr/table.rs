//! `apr_table_t` wrapper: iteration over entries as byte slices, lookup,
//! removal and replacement by (case-insensitive) key.

use std::ffi::{CStr, CString};
use std::ptr::NonNull;

use crate::ffi;

/// A borrowed APR table.
#[derive(Clone, Copy)]
pub struct Table(NonNull<ffi::apr_table_t>);

impl Table {
    /// # Safety
    /// `raw` must be a live table for the lifetime of the returned wrapper.
    pub unsafe fn from_raw(raw: *mut ffi::apr_table_t) -> Option<Table> {
        NonNull::new(raw).map(Table)
    }

    pub fn as_ptr(self) -> *mut ffi::apr_table_t {
        self.0.as_ptr()
    }

    /// Every (key, value) entry, in table order, as bytes.
    pub fn entries(&self) -> Vec<(&[u8], &[u8])> {
        self.iter().collect()
    }

    /// The (key, value) entries in table order, as bytes, without
    /// collecting them. The table must not change while this is iterated.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        // SAFETY: the table is live; apr_table_elts returns its entry array,
        // whose `nelts` elements are `apr_table_entry_t`.
        let (elts, count) = unsafe {
            let header = ffi::apr_table_elts(self.as_ptr());
            if header.is_null() {
                (std::ptr::null::<ffi::apr_table_entry_t>(), 0)
            } else {
                (
                    (*header).elts.cast::<ffi::apr_table_entry_t>().cast_const(),
                    usize::try_from((*header).nelts).unwrap_or(0),
                )
            }
        };
        (0..count).filter_map(move |i| {
            // SAFETY: `i` < nelts of the live array; key and value are NULL
            // or C strings owned by the table's pool.
            unsafe {
                let entry = &*elts.add(i);
                if entry.key.is_null() {
                    return None;
                }
                let value: &[u8] = if entry.val.is_null() {
                    b""
                } else {
                    CStr::from_ptr(entry.val).to_bytes()
                };
                Some((CStr::from_ptr(entry.key).to_bytes(), value))
            }
        })
    }
}

impl Table {
    /// The values of every entry named `key` (ASCII case-insensitive, as
    /// APR compares keys), in table order.
    pub fn get_all(&self, key: &[u8]) -> Vec<&[u8]> {
        self.entries()
            .into_iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
            .collect()
    }

    /// Remove every entry named `key` (ASCII case-insensitive). A key with
    /// an interior NUL cannot be in the table and is ignored.
    pub fn unset(self, key: &[u8]) {
        let Ok(key) = CString::new(key) else {
            return;
        };
        // SAFETY: the table is live; apr_table_unset compares keys
        // case-insensitively and copies nothing.
        unsafe { ffi::apr_table_unset(self.as_ptr(), key.as_ptr()) };
    }

    /// Set `key` to `value`, replacing earlier entries; APR copies both into
    /// the table's pool. Interior NULs cannot be stored: such a call is
    /// ignored (callers validate values first).
    pub fn set(self, key: &[u8], value: &[u8]) {
        let (Ok(key), Ok(value)) = (CString::new(key), CString::new(value)) else {
            return;
        };
        // SAFETY: the table is live; apr_table_set copies key and value.
        unsafe { ffi::apr_table_set(self.as_ptr(), key.as_ptr(), value.as_ptr()) };
    }
}
