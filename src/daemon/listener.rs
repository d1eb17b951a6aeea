//! A daemon group's listening Unix socket, made by Apache's parent: bound
//! under a temporary name of the same length, mode 0600, owned by Apache's
//! `User` (so only Apache's children, and root, can connect), then renamed
//! over the group's path in one step. At a graceful restart the parent
//! keeps the socket open and the new generation takes it over, so
//! connections made meanwhile wait in its queue.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use authnz_core::daemon_supervision::temporary_socket_name;

use crate::apr::unix;

/// A bound, listening socket and its file.
pub struct GroupSocket {
    pub listener: UnixListener,
    pub path: PathBuf,
    /// The socket file's (device, inode).
    pub inode: (u64, u64),
}

/// Bind, restrict and publish the socket of a group at `path`; `owner`:
/// the uid to give it (Apache's `User`), when this process may.
pub fn bind(path: &str, owner: Option<u32>) -> io::Result<GroupSocket> {
    let temporary = temporary_socket_name(path);
    match fs::remove_file(&temporary) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(&temporary)?;
    let published = (|| {
        fs::set_permissions(&temporary, fs::Permissions::from_mode(0o600))?;
        if let Some(uid) = owner {
            std::os::unix::fs::chown(&temporary, Some(uid), None)?;
        }
        fs::rename(&temporary, path)
    })();
    if let Err(e) = published {
        let _ = fs::remove_file(&temporary);
        return Err(e);
    }
    let meta = fs::symlink_metadata(path)?;
    Ok(GroupSocket {
        listener,
        path: PathBuf::from(path),
        inode: (meta.dev(), meta.ino()),
    })
}

/// Take over a socket the previous generation kept open (`fd`), if its
/// file at `path` is still the one with `inode`; its owner is set anew
/// (`User` may have changed).
pub fn take_over(
    fd: i32,
    path: &str,
    inode: (u64, u64),
    owner: Option<u32>,
) -> Option<GroupSocket> {
    let listener = unix::kept_listener(fd)?;
    let meta = fs::symlink_metadata(path).ok()?;
    if (meta.dev(), meta.ino()) != inode {
        return None;
    }
    if let Some(uid) = owner {
        std::os::unix::fs::chown(path, Some(uid), None).ok()?;
    }
    Some(GroupSocket {
        listener,
        path: PathBuf::from(path),
        inode,
    })
}

/// Remove `path` if it is still the socket file with `inode`.
pub fn remove_if_ours(path: &Path, inode: (u64, u64)) {
    if let Ok(meta) = fs::symlink_metadata(path) {
        if (meta.dev(), meta.ino()) == inode {
            let _ = fs::remove_file(path);
        }
    }
}

/// Remove the socket files of this parent (`prefix`: `.../authnz-wsgi.PID.`)
/// that belong to no group in `current` (a group a restart removed, a
/// temporary name left by a failed start).
pub fn remove_stale(prefix: &str, current: &[PathBuf]) {
    let prefix = Path::new(prefix);
    let (Some(dir), Some(start)) = (prefix.parent(), prefix.file_name()) else {
        return;
    };
    let Some(start) = start.to_str() else { return };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = name.starts_with(start) && (name.ends_with(".sock") || name.ends_with(".next"));
        if ours && !current.contains(&entry.path()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}
