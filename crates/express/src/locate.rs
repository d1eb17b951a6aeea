//! Finding `mod_authnz_wsgi.so` when `--module` is not given: first the
//! cargo build beside this program (`target/release/libmod_authnz_wsgi.so`
//! next to `target/release/authnz-wsgi-express`), then the installed module
//! in `apxs -q LIBEXECDIR`, then Debian's module directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The cargo artifact name of the module.
const BUILD_NAME: &str = "libmod_authnz_wsgi.so";
/// The installed module name.
const INSTALLED_NAME: &str = "mod_authnz_wsgi.so";
/// Debian's httpd module directory.
pub const DEBIAN_MODULES: &str = "/usr/lib/apache2/modules";

/// The places searched, in order, for a program at `exe`.
pub fn candidates(exe: Option<&Path>, libexecdir: Option<&Path>) -> Vec<PathBuf> {
    let mut list = Vec::new();
    if let Some(dir) = exe.and_then(Path::parent) {
        list.push(dir.join(BUILD_NAME));
        // A debug build of the launcher next to a release build of the module.
        if dir.file_name().is_some_and(|n| n == "debug") {
            if let Some(target) = dir.parent() {
                list.push(target.join("release").join(BUILD_NAME));
            }
        }
    }
    if let Some(dir) = libexecdir {
        list.push(dir.join(INSTALLED_NAME));
    }
    list.push(Path::new(DEBIAN_MODULES).join(INSTALLED_NAME));
    // apxs on Debian answers with the same directory.
    list.dedup();
    list
}

/// `apxs -q LIBEXECDIR`, if apxs is installed and answers.
fn apxs_libexecdir() -> Option<PathBuf> {
    let out = Command::new("apxs")
        .args(["-q", "LIBEXECDIR"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let dir = dir.trim();
    (out.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

/// The first candidate that is a file, or an error listing where we looked.
pub fn find_module() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().ok();
    let list = candidates(exe.as_deref(), apxs_libexecdir().as_deref());
    if let Some(found) = list.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let tried: Vec<String> = list.iter().map(|p| p.display().to_string()).collect();
    Err(format!(
        "cannot find mod_authnz_wsgi.so (looked at {}); build it with scripts/build.sh or pass --module PATH",
        tried.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_order() {
        let list = candidates(
            Some(Path::new("/src/target/release/authnz-wsgi-express")),
            Some(Path::new("/usr/lib/apache2/modules")),
        );
        assert_eq!(
            list,
            [
                PathBuf::from("/src/target/release/libmod_authnz_wsgi.so"),
                "/usr/lib/apache2/modules/mod_authnz_wsgi.so".into(),
            ]
        );
    }

    #[test]
    fn debug_launcher_finds_release_module() {
        let list = candidates(
            Some(Path::new("/src/target/debug/authnz-wsgi-express")),
            None,
        );
        assert_eq!(
            list[0],
            PathBuf::from("/src/target/debug/libmod_authnz_wsgi.so")
        );
        assert_eq!(
            list[1],
            PathBuf::from("/src/target/release/libmod_authnz_wsgi.so")
        );
        assert_eq!(
            list[2],
            PathBuf::from("/usr/lib/apache2/modules/mod_authnz_wsgi.so")
        );
    }
}
