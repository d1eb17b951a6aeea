//! Unix permission arithmetic for the config-time check that Apache's child
//! user (not root, who reads the configuration) can read a script.

/// Read permission.
pub const READ: u32 = 0o4;
/// Execute (search, for directories) permission.
pub const EXECUTE: u32 = 0o1;

/// Whether `mode` (owned by `owner`:`group`) grants `wanted` (a combination
/// of [`READ`] and [`EXECUTE`]) to `uid` with group list `gids`. Like the
/// kernel, only the most specific class (owner, group, other) counts.
pub fn mode_allows(mode: u32, owner: u32, group: u32, uid: u32, gids: &[u32], wanted: u32) -> bool {
    if uid == 0 {
        return true;
    }
    let granted = if owner == uid {
        (mode >> 6) & 0o7
    } else if gids.contains(&group) {
        (mode >> 3) & 0o7
    } else {
        mode & 0o7
    };
    granted & wanted == wanted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_exclusive() {
        // Owner has no read even though "other" has it.
        assert!(!mode_allows(0o044, 33, 1, 33, &[33], READ));
        assert!(mode_allows(0o644, 0, 0, 33, &[33], READ));
        assert!(!mode_allows(0o640, 0, 0, 33, &[33], READ));
        assert!(mode_allows(0o640, 0, 33, 33, &[33], READ));
        assert!(mode_allows(0o711, 0, 0, 33, &[33], EXECUTE));
        assert!(!mode_allows(0o700, 0, 0, 33, &[33], EXECUTE));
        assert!(mode_allows(0o000, 5, 5, 0, &[0], READ));
    }
}
