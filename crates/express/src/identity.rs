//! Who runs what: the effective user of this process, and the accounts
//! named for Apache's `User`/`Group` (looked up in the system's user
//! database through libc, as httpd's mod_unixd does at start-up).
//!
//! The program is single-threaded, so the non-reentrant `getpw*`/`getgr*`
//! calls are safe to use; each result is copied out before the next call.

use std::ffi::{CStr, CString};

/// Held by the unit tests that look accounts up: the test harness runs
/// tests on several threads, and the lookups share libc's static records.
#[cfg(test)]
pub static TEST_LOOKUPS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The effective user id of this process.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// A user account: its name and primary group id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub gid: u32,
}

/// The account called `name`, or `#uid` as httpd accepts it.
pub fn user(name: &str) -> Option<User> {
    let entry = if let Some(uid) = name.strip_prefix('#') {
        let uid: u32 = uid.parse().ok()?;
        // SAFETY: getpwuid takes a plain integer; the result is checked for
        // NULL and read before any other passwd call.
        unsafe { libc::getpwuid(uid) }
    } else {
        let c = CString::new(name).ok()?;
        // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
        unsafe { libc::getpwnam(c.as_ptr()) }
    };
    if entry.is_null() {
        return None;
    }
    // SAFETY: `entry` is non-NULL and points to libc's static passwd record,
    // valid until the next passwd call (none happens before we return).
    let gid = unsafe { (*entry).pw_gid };
    Some(User {
        name: name.to_owned(),
        gid,
    })
}

/// Whether a group called `name` (or `#gid`) exists.
pub fn group_exists(name: &str) -> bool {
    if let Some(gid) = name.strip_prefix('#') {
        return gid.parse::<u32>().is_ok_and(|g| group_name(g).is_some());
    }
    let Ok(c) = CString::new(name) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    !unsafe { libc::getgrnam(c.as_ptr()) }.is_null()
}

/// The name of group `gid`, if it has one.
pub fn group_name(gid: u32) -> Option<String> {
    // SAFETY: getgrgid takes a plain integer; the result is checked below.
    let entry = unsafe { libc::getgrgid(gid) };
    if entry.is_null() {
        return None;
    }
    // SAFETY: `entry` is non-NULL; `gr_name` is a NUL-terminated string in
    // libc's static group record, copied out before any other group call.
    let name = unsafe { CStr::from_ptr((*entry).gr_name) };
    name.to_str().ok().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_exists_everywhere() {
        let _lookups = TEST_LOOKUPS.lock().unwrap_or_else(|e| e.into_inner());
        let root = user("root").unwrap();
        assert_eq!(root.gid, 0);
        assert_eq!(user("#0").unwrap().gid, 0);
        assert_eq!(group_name(0).as_deref(), Some("root"));
        assert!(group_exists("root"));
        assert!(group_exists("#0"));
    }

    #[test]
    fn unknown_accounts() {
        let _lookups = TEST_LOOKUPS.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(user("no-such-user-authnz-wsgi"), None);
        assert_eq!(user("#x"), None);
        assert!(!group_exists("no-such-group-authnz-wsgi"));
        assert!(!group_exists("a\0b"));
    }
}
