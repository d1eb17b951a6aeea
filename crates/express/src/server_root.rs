//! Writing the server root: the directory itself (created, or checked to be
//! ours when it exists), `httpd.conf`, `apachectl`, and the example page.
//!
//! The default server root lives in `/tmp`, where anyone can create names.
//! Since this usually runs as root and Apache's parent reads the
//! configuration as root, an existing directory is used only when it is a
//! real directory (not a symbolic link) owned by us and not writable by
//! group or others; otherwise someone else could plant the configuration.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use crate::apachectl;
use crate::config;
use crate::identity;
use crate::options::Content;
use crate::resolve::Settings;

const EXAMPLE_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>authnz-wsgi-express</title></head>\n\
<body><h1>It works</h1><p>Served by Apache with mod_authnz_wsgi, configured by authnz-wsgi-express.</p></body></html>\n";

/// Create `root` (mode 0755) or check that an existing one is safe to use.
pub fn prepare_dir(root: &Path, euid: u32) -> Result<(), String> {
    if let Some(parent) = root.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create '{}': {e}", parent.display()))?;
    }
    match fs::DirBuilder::new().mode(0o755).create(root) {
        Ok(()) => {
            // The umask may have removed bits the children need to reach htdocs.
            fs::set_permissions(root, fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("cannot set the mode of '{}': {e}", root.display()))?;
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(format!(
                "cannot create the server root '{}': {e}",
                root.display()
            ))
        }
    }
    let meta =
        fs::symlink_metadata(root).map_err(|e| format!("server root '{}': {e}", root.display()))?;
    let display = root.display();
    if meta.file_type().is_symlink() {
        return Err(format!(
            "server root '{display}' is a symbolic link; give a real directory"
        ));
    }
    if !meta.is_dir() {
        return Err(format!(
            "server root '{display}' exists and is not a directory"
        ));
    }
    if meta.uid() != euid {
        return Err(format!(
            "server root '{display}' belongs to uid {} (not us, uid {euid}); remove it or choose another --server-root",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "server root '{display}' is writable by group or others; run 'chmod go-w' on it or choose another --server-root"
        ));
    }
    Ok(())
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), String> {
    // Replace rather than write through: an old file may be a link elsewhere.
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot replace '{}': {e}", path.display())),
    }
    fs::write(path, text).map_err(|e| format!("cannot write '{}': {e}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set the mode of '{}': {e}", path.display()))
}

/// Write every file of the server root.
pub fn write_all(s: &Settings) -> Result<(), String> {
    prepare_dir(&s.server_root, identity::effective_uid())?;
    if s.options.content == Content::ExamplePage {
        let htdocs = s.server_root.join("htdocs");
        prepare_dir(&htdocs, identity::effective_uid())?;
        write(&htdocs.join("index.html"), EXAMPLE_PAGE, 0o644)?;
    }
    write(&s.conf_path(), &config::render(s), 0o644)?;
    write(&s.apachectl_path(), &apachectl::render(s), 0o755)
}

/// What was written and where to look, for the terminal.
pub fn summary(s: &Settings) -> String {
    let o = &s.options;
    let (error_log, access_log) = s.log_paths();
    let mut lines = vec![("Server URL", s.url())];
    if let Some(url) = s.https_url() {
        lines.push(("HTTPS URL", url));
    }
    if o.tls.as_ref().is_some_and(|t| t.https_only) {
        lines[0].1.push_str(" (redirects to HTTPS)");
    }
    lines.extend([
        ("Server Root", s.server_root.display().to_string()),
        ("Server Conf", s.conf_path().display().to_string()),
        ("Control Script", s.apachectl_path().display().to_string()),
        ("Error Log", error_log.display().to_string()),
        ("Access Log", access_log.display().to_string()),
        ("Module", s.module.display().to_string()),
        ("MPM", o.mpm.name().to_owned()),
    ]);
    if let Some(w) = o.workers {
        lines.push((
            "Workers",
            format!("{} processes x {} threads", w.processes, w.threads),
        ));
    }
    lines.push(match &o.content {
        Content::ProxyTo(t) => ("Proxy To", t.url.clone()),
        _ => (
            "Document Root",
            s.document_root().unwrap_or_default().display().to_string(),
        ),
    });
    if let Some(auth) = &o.auth {
        lines.push((
            "Authentication",
            format!("{} realm \"{}\"", auth.auth_type.name(), auth.realm),
        ));
        lines.push(("Auth User Script", auth.user_script.display().to_string()));
        if let Some(g) = &auth.group_script {
            lines.push(("Auth Group Script", g.display().to_string()));
            lines.push(("Required Groups", auth.groups.join(", ")));
        }
    }
    if let Some(h) = &o.host_access_script {
        lines.push(("Host Access Script", h.display().to_string()));
    }
    if let Some(d) = &o.auth_daemon {
        let apache = s
            .run_as
            .as_ref()
            .map(|r| (r.user.as_str(), r.group.as_str()));
        lines.push(("Auth Daemons", crate::daemon::summary(d, apache)));
    }
    if let Some(shared) = &o.caching.shared {
        lines.push((
            "Shared Cache",
            format!("{}:{}", shared.store.name(), shared.servers),
        ));
    }
    if o.server_status {
        // Under --https-only the plain port would only redirect.
        let base = match &o.tls {
            Some(t) if t.https_only => s.https_url().unwrap_or_else(|| s.url()),
            _ => s.url(),
        };
        lines.push((
            "Server Status",
            format!("{base}server-status (this machine only)"),
        ));
    }
    if let Some(r) = &s.run_as {
        lines.push(("Run As", format!("{}:{}", r.user, r.group)));
    }
    lines
        .iter()
        .map(|(k, v)| format!("{k:<18}: {v}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "authnz-wsgi-express-root-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn creates_and_reuses_own_directory() {
        let dir = scratch("own");
        let root = dir.join("a/root");
        let euid = identity::effective_uid();
        prepare_dir(&root, euid).unwrap();
        assert_eq!(fs::metadata(&root).unwrap().mode() & 0o777, 0o755);
        prepare_dir(&root, euid).unwrap();
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refuses_unsafe_directories() {
        let dir = scratch("unsafe");
        let euid = identity::effective_uid();
        prepare_dir(&dir, euid).unwrap();
        let root = dir.join("root");
        prepare_dir(&root, euid).unwrap();
        assert!(prepare_dir(&root, euid + 1)
            .unwrap_err()
            .contains("belongs to uid"));
        fs::set_permissions(&root, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(prepare_dir(&root, euid)
            .unwrap_err()
            .contains("writable by group or others"));
        let link = dir.join("link");
        std::os::unix::fs::symlink(&root, &link).unwrap();
        assert!(prepare_dir(&link, euid)
            .unwrap_err()
            .contains("symbolic link"));
        let file = dir.join("file");
        fs::write(&file, "").unwrap();
        assert!(prepare_dir(&file, euid)
            .unwrap_err()
            .contains("not a directory"));
        fs::remove_dir_all(dir).unwrap();
    }
}
