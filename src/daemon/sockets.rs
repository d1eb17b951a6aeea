//! The socket path of each daemon group of this configuration generation,
//! by name: filled by the parent in `post_config` (so every child forked
//! after it inherits it), read by `client.rs` on each call.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

type Table = Arc<HashMap<String, PathBuf>>;

static SOCKETS: Mutex<Option<Table>> = Mutex::new(None);

/// Publish this generation's table (replacing the previous generation's).
pub fn publish(table: HashMap<String, PathBuf>) {
    *SOCKETS.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(table));
}

/// The socket path of group `name`, if this generation defines it.
pub fn path_of(name: &str) -> Option<PathBuf> {
    let table = SOCKETS.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
    table.get(name).cloned()
}
