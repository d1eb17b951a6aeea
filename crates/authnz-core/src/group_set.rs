//! The groups `groups_for_user` returned, matched ASCII case-insensitively
//! as mod_wsgi and mod_authz_groupfile do.

use std::collections::HashSet;

/// A user's groups, stored folded to ASCII lowercase.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GroupSet(HashSet<Vec<u8>>);

impl GroupSet {
    pub fn insert(&mut self, group: &[u8]) {
        self.0.insert(group.to_ascii_lowercase());
    }

    pub fn contains(&self, group: &[u8]) -> bool {
        self.0.contains(&group.to_ascii_lowercase())
    }

    /// Whether any of `required` is in the set.
    pub fn any_of<'a>(&self, required: impl IntoIterator<Item = &'a [u8]>) -> bool {
        required.into_iter().any(|g| self.contains(g))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_is_ascii_case_insensitive() {
        let mut set = GroupSet::default();
        set.insert(b"Staff");
        set.insert("Café".as_bytes());
        assert!(set.contains(b"staff") && set.contains(b"STAFF"));
        assert!(set.contains("CAFé".as_bytes()));
        // Only ASCII folds: É is not é.
        assert!(!set.contains("CAFÉ".as_bytes()));
        assert!(set.any_of([b"x".as_slice(), b"staff".as_slice()]));
        assert!(!set.any_of([b"x".as_slice()]));
        assert_eq!(set.len(), 2);
    }
}
