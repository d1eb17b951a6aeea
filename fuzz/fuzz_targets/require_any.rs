//! `find_require_any_traps` on arbitrary configuration trees, built from a
//! vocabulary of the directives it looks at (sections, `Require` lines,
//! aliases, limits, the opt-out) with arbitrary arguments mixed in.
//! Checked, whatever the tree:
//! - it never panics;
//! - there are no more warnings than sections, each is placed at a section
//!   of the tree, and its message names that place and the opt-out;
//! - `WSGIWarnRequireAny Off` at the top level, with no `On` anywhere,
//!   silences everything;
//! - a tree without any group line (no `Require` whose first word is
//!   `wsgi-group` or `group`, no provider alias) gives no warning;
//! - the answer does not depend on anything but the tree (two runs agree).
#![no_main]

use arbitrary::Arbitrary;
use authnz_core::require_any::{find_require_any_traps, ConfigNode};
use libfuzzer_sys::fuzz_target;

const DIRECTIVES: [&str; 16] = [
    "Require",
    "<Location",
    "<Directory",
    "<RequireAll",
    "<RequireAny",
    "<Limit",
    "<LimitExcept",
    "<AuthzProviderAlias",
    "WSGIWarnRequireAny",
    "WSGIAuthGroupScript",
    "AuthGroupFile",
    "<If",
    "<VirtualHost",
    "AuthMerging",
    "require",
    "<LOCATION",
];

const ARGS: [&str; 14] = [
    "wsgi-group staff",
    "valid-user",
    "all granted",
    "all denied",
    "not user mallory",
    "group staff",
    "staff-check",
    "wsgi-group staff-check staff>",
    "staff-check again x>",
    "GET POST>",
    "Off",
    "On",
    "/x>",
    "\"two words\" 'g 2'",
];

/// How deep the tree may nest (httpd configurations nest a few levels).
const MAX_DEPTH: usize = 12;

#[derive(Arbitrary, Debug)]
enum Args {
    Known(u8),
    Free(String),
}

#[derive(Arbitrary, Debug)]
struct Node {
    directive: u8,
    args: Args,
    file: u8,
    line: u16,
    children: Vec<Node>,
}

fn build(nodes: &[Node], depth: usize) -> Vec<ConfigNode> {
    nodes
        .iter()
        .map(|n| ConfigNode {
            directive: DIRECTIVES[n.directive as usize % DIRECTIVES.len()].to_owned(),
            args: match &n.args {
                Args::Known(i) => ARGS[*i as usize % ARGS.len()].to_owned(),
                Args::Free(s) => s.clone(),
            },
            file: format!("f{}.conf", n.file % 3),
            line: u32::from(n.line),
            children: if depth < MAX_DEPTH {
                build(&n.children, depth + 1)
            } else {
                Vec::new()
            },
        })
        .collect()
}

fn all_nodes(tree: &[ConfigNode]) -> Vec<&ConfigNode> {
    let mut out = Vec::new();
    let mut pending: Vec<&ConfigNode> = tree.iter().collect();
    while let Some(node) = pending.pop() {
        out.push(node);
        pending.extend(node.children.iter());
    }
    out
}

fn first_word(args: &str) -> &str {
    args.split_whitespace().next().unwrap_or("")
}

fuzz_target!(|nodes: Vec<Node>| {
    let tree = build(&nodes, 0);
    let warnings = find_require_any_traps(&tree);
    assert_eq!(warnings, find_require_any_traps(&tree));

    let nodes = all_nodes(&tree);
    let sections: Vec<&ConfigNode> = nodes
        .iter()
        .copied()
        .filter(|n| n.directive.starts_with('<'))
        .collect();
    assert!(warnings.len() <= sections.len());
    for w in &warnings {
        assert!(
            sections.iter().any(|s| s.file == w.file && s.line == w.line),
            "{w:?} is not at a section"
        );
        assert!(w.message.contains(&format!("({}:{})", w.file, w.line)));
        assert!(w.message.contains("WSGIWarnRequireAny Off"));
    }

    let opt_out = |n: &ConfigNode| n.directive.eq_ignore_ascii_case("WSGIWarnRequireAny");
    let top_off = tree
        .iter()
        .filter(|n| opt_out(n))
        .last()
        .is_some_and(|n| first_word(&n.args).eq_ignore_ascii_case("off"));
    let on_anywhere = nodes
        .iter()
        .any(|n| opt_out(n) && !first_word(&n.args).eq_ignore_ascii_case("off"));
    if top_off && !on_anywhere {
        assert!(warnings.is_empty(), "opted out, yet {warnings:?}");
    }

    let group_line = nodes.iter().any(|n| {
        n.directive.eq_ignore_ascii_case("Require") && {
            let args = n.args.trim_start();
            args.starts_with("wsgi-group")
                || args.starts_with("group")
                || args.starts_with(['"', '\''])
        }
    });
    let aliases = nodes
        .iter()
        .any(|n| n.directive.eq_ignore_ascii_case("<AuthzProviderAlias"));
    if !group_line && !aliases {
        assert!(warnings.is_empty(), "no group line, yet {warnings:?}");
    }
});
