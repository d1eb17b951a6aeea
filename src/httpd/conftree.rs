//! The parsed configuration as httpd keeps it (`ap_conftree`, a tree of
//! `ap_directive_t` built by `ap_build_config` in server/config.c), copied
//! into plain [`ConfigNode`]s for checks that look at how directives are
//! written and grouped. `Include`d files, `<IfModule>`/`<IfDefine>` that
//! held and mod_macro's `Use` are already expanded in it; `.htaccess` files
//! are never part of it.

use authnz_core::require_any::ConfigNode;

use crate::ffi;
use crate::httpd::server::c_string;

/// The configuration httpd has just read, top level first.
///
/// Call only while that configuration is current: from `check_config`,
/// `test_config`, `post_config` or `optional_fn_retrieve`, on the parent's
/// only thread.
pub fn parsed_configuration() -> Vec<ConfigNode> {
    // SAFETY: ap_conftree is the tree of the configuration read in this
    // cycle, allocated in pconf, which outlives the hooks named above; it
    // is only read, on the one thread that reads configuration.
    let root = unsafe { *std::ptr::addr_of!(ffi::ap_conftree) };
    // SAFETY: as above: NULL or the first node of a live tree.
    unsafe { siblings(root) }
}

/// `first` and the nodes after it, each with its children.
///
/// # Safety
/// `first` must be NULL or a node of a live `ap_directive_t` tree.
unsafe fn siblings(first: *const ffi::ap_directive_t) -> Vec<ConfigNode> {
    let mut nodes = Vec::new();
    let mut current = first;
    // SAFETY: every `next` and `first_child` of a live tree is NULL or
    // another live node (the contract passed on).
    while let Some(node) = unsafe { current.as_ref() } {
        nodes.push(ConfigNode {
            // SAFETY: directive, args and filename are NULL or C strings
            // in pconf.
            directive: unsafe { c_string(node.directive) },
            // SAFETY: as above.
            args: unsafe { c_string(node.args) },
            // SAFETY: as above.
            file: unsafe { c_string(node.filename) },
            line: u32::try_from(node.line_num).unwrap_or(0),
            // SAFETY: a child of a live node (the contract passed on).
            children: unsafe { siblings(node.first_child) },
        });
        current = node.next;
    }
    nodes
}
