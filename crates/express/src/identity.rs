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

/// The effective group id of this process.
pub fn effective_gid() -> u32 {
    // SAFETY: getegid has no preconditions and cannot fail.
    unsafe { libc::getegid() }
}

/// A user account: its name, user id and primary group id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
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
    let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
    Some(User {
        name: name.to_owned(),
        uid,
        gid,
    })
}

/// The id of the group called `name` (or `#gid`), if it exists.
pub fn group_id(name: &str) -> Option<u32> {
    if let Some(gid) = name.strip_prefix('#') {
        return gid.parse::<u32>().ok().filter(|&g| group_name(g).is_some());
    }
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let entry = unsafe { libc::getgrnam(c.as_ptr()) };
    if entry.is_null() {
        return None;
    }
    // SAFETY: `entry` is non-NULL and points to libc's static group record,
    // read before any other group call.
    Some(unsafe { (*entry).gr_gid })
}

/// Whether a group called `name` (or `#gid`) exists.
pub fn group_exists(name: &str) -> bool {
    group_id(name).is_some()
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
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(group_id("#0"), Some(0));
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
        assert_eq!(group_id("no-such-group-authnz-wsgi"), None);
        assert_eq!(group_id("a\0b"), None);
    }
}
