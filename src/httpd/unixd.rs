//! The identity Apache's children run as (`User`/`Group`, from mod_unixd's
//! `ap_unixd_config`) and whether that identity can read a file: root reads
//! the configuration, so a script that only root can read would pass a
//! naive check and fail in every child.

use std::ffi::CStr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use authnz_core::permissions::{mode_allows, EXECUTE, READ};

use crate::ffi;

/// The child identity when Apache is started as root and `User` is set.
pub struct ChildIdentity {
    pub user_name: String,
    pub uid: u32,
    pub gids: Vec<u32>,
}

/// `None` when not running as root (then the check is the kernel's own).
pub fn child_identity() -> Option<ChildIdentity> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    // SAFETY: ap_unixd_config is a plain global written while the
    // configuration is read on this same thread.
    let config = unsafe { &*std::ptr::addr_of!(ffi::ap_unixd_config) };
    if config.user_id == u32::MAX || config.user_id == 0 || config.user_name.is_null() {
        return None;
    }
    // SAFETY: NULL-checked C string owned by the configuration pool.
    let user_name = unsafe { CStr::from_ptr(config.user_name) }
        .to_string_lossy()
        .into_owned();
    let mut gids = vec![config.group_id];
    if let Ok(name) = std::ffi::CString::new(user_name.as_str()) {
        let mut groups = vec![0 as libc::gid_t; 64];
        let mut count = groups.len() as libc::c_int;
        // SAFETY: `groups` has room for `count` entries; getgrouplist writes
        // at most that many and updates `count`.
        let found = unsafe {
            libc::getgrouplist(
                name.as_ptr(),
                config.group_id,
                groups.as_mut_ptr(),
                &mut count,
            )
        };
        if found >= 0 {
            gids.extend(groups.iter().take(count.max(0) as usize));
        }
    }
    Some(ChildIdentity {
        user_name,
        uid: config.user_id,
        gids,
    })
}

/// Whether `identity` can reach and read `path` (mode bits; ACLs ignored).
pub fn can_read(identity: &ChildIdentity, path: &Path) -> bool {
    let allows = |p: &Path, wanted| {
        std::fs::metadata(p)
            .map(|m| {
                mode_allows(
                    m.mode(),
                    m.uid(),
                    m.gid(),
                    identity.uid,
                    &identity.gids,
                    wanted,
                )
            })
            .unwrap_or(false)
    };
    let dirs_ok = path
        .ancestors()
        .skip(1)
        .filter(|d| !d.as_os_str().is_empty())
        .all(|d| allows(d, EXECUTE));
    dirs_ok && allows(path, READ)
}

/// The user Apache's children run as (`User`), by uid; `None` when httpd
/// was not started as root or has no `User` (the children are then this
/// process's user).
pub fn apache_user_id() -> Option<u32> {
    // SAFETY: ap_unixd_config is a plain global written while the
    // configuration is read on this same thread.
    let config = unsafe { &*std::ptr::addr_of!(ffi::ap_unixd_config) };
    (config.user_id != u32::MAX).then_some(config.user_id)
}

/// The group Apache's children run as (`Group`), by gid.
pub fn apache_group_id() -> Option<u32> {
    // SAFETY: as in `apache_user_id`.
    let config = unsafe { &*std::ptr::addr_of!(ffi::ap_unixd_config) };
    (config.group_id != u32::MAX).then_some(config.group_id)
}

/// The uid of a user name, or of `#uid` as httpd's `User` writes one.
pub fn resolve_user(name: &str) -> Option<u32> {
    if let Some(number) = name.strip_prefix('#') {
        return number.parse().ok();
    }
    let c_name = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam reads a NUL-terminated name; the record it returns
    // (static storage) is read at once, on the configuration's one thread.
    let entry = unsafe { libc::getpwnam(c_name.as_ptr()) };
    // SAFETY: NULL-checked record from getpwnam.
    (!entry.is_null()).then(|| unsafe { (*entry).pw_uid })
}

/// The gid of a group name, or of `#gid`.
pub fn resolve_group(name: &str) -> Option<u32> {
    if let Some(number) = name.strip_prefix('#') {
        return number.parse().ok();
    }
    let c_name = std::ffi::CString::new(name).ok()?;
    // SAFETY: as in `resolve_user`, with getgrnam.
    let entry = unsafe { libc::getgrnam(c_name.as_ptr()) };
    // SAFETY: NULL-checked record from getgrnam.
    (!entry.is_null()).then(|| unsafe { (*entry).gr_gid })
}
