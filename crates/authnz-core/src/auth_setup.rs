//! Sections of the parsed configuration where this module's directives
//! cannot work as written, found before any request:
//!
//! - a section that uses the module for logins (`WSGIAuthUserScript`,
//!   `AuthBasicProvider`/`AuthDigestProvider` naming `wsgi`, or
//!   `Require wsgi-group`) with no `AuthType` in it or around it, or with
//!   `AuthType Basic`/`Digest` and no `AuthBasicProvider`/`AuthDigestProvider`
//!   (httpd then uses its default provider `file` and logs "AuthUserFile not
//!   specified"): a [`Finding`] that is a warning, given only where the
//!   configuration makes it certain: a `<Location>` (`<Directory>`) whose
//!   path covers the section's counts, and any other section that sets
//!   them (a `<Directory>` for a `<Location>`, a regular expression, `<If>`)
//!   leaves the section unjudged, since it may complete it at request time;
//! - a `Require wsgi-group` line whose section certainly gets no
//!   `WSGIAuthGroupScript`: none in it or in the sections around it, none in
//!   a `<Location>` (or `<Directory>`) whose path covers its own, none in a
//!   section whose scope cannot be compared (regular expressions, `<If>`,
//!   `<Files>`, other kinds), and `.htaccess` may not add one
//!   (`WSGIAuthAllowOverride On` nowhere). Every request there would get 500,
//!   so this one is an error (`apache2 -t` fails).
//!
//! Settings inherit through the tree as written (a `<Location>` inside a
//! `<VirtualHost>` sees the virtual host's directives); `.htaccess` files
//! are not part of the tree.

use crate::require_any::{section_args, words, ConfigNode};

/// One finding: where, what, and whether start-up must stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    pub line: u32,
    pub message: String,
    /// The configuration cannot work: `apache2 -t` and start-up fail.
    pub fatal: bool,
}

fn is(directive: &str, name: &str) -> bool {
    directive.eq_ignore_ascii_case(name)
}

fn is_section(node: &ConfigNode) -> bool {
    node.directive.starts_with('<')
}

/// `<Location /private>` as written, for a message.
fn section_name(node: &ConfigNode) -> String {
    format!("{} {}>", node.directive, section_args(&node.args))
}

/// Sections whose directives do not apply to requests as a whole.
fn is_not_a_scope(node: &ConfigNode) -> bool {
    let name = node.directive.trim_start_matches('<');
    name.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("Require"))
        || is(name, "AuthzProviderAlias")
        || is(name, "AuthnProviderAlias")
        || is(name, "Limit")
        || is(name, "LimitExcept")
}

/// What a section gets from itself and the sections around it.
#[derive(Debug, Clone, Default)]
struct Inherited {
    auth_type: Option<String>,
    basic_provider: bool,
    digest_provider: bool,
    group_script: bool,
}

impl Inherited {
    /// `later` merged over `self`, as a later section is merged.
    fn apply(&mut self, later: &Inherited) {
        if later.auth_type.is_some() {
            self.auth_type = later.auth_type.clone();
        }
        self.basic_provider |= later.basic_provider;
        self.digest_provider |= later.digest_provider;
        self.group_script |= later.group_script;
    }
}

/// What a section itself says (its directives, and those of its `<Limit>`s
/// and `<Require...>` containers).
#[derive(Debug, Default)]
struct Own<'a> {
    uses_module: bool,
    user_script: bool,
    group_lines: Vec<&'a ConfigNode>,
}

fn scan<'a>(children: &'a [ConfigNode], inherited: &mut Inherited, own: &mut Own<'a>) {
    for child in children {
        let d = child.directive.as_str();
        let first = words(&child.args).into_iter().next().unwrap_or_default();
        if is(d, "AuthType") {
            inherited.auth_type = Some(first.to_ascii_lowercase());
        } else if is(d, "AuthBasicProvider") {
            inherited.basic_provider = true;
            own.uses_module |= words(&child.args).iter().any(|w| w == "wsgi");
        } else if is(d, "AuthDigestProvider") {
            inherited.digest_provider = true;
            own.uses_module |= words(&child.args).iter().any(|w| w == "wsgi");
        } else if is(d, "WSGIAuthUserScript") {
            own.uses_module = true;
            own.user_script = true;
        } else if is(d, "WSGIAuthGroupScript") {
            inherited.group_script = true;
        } else if is(d, "Require") && first == "wsgi-group" {
            own.uses_module = true;
            own.group_lines.push(child);
        } else if is(d, "<Limit")
            || is(d, "<LimitExcept")
            || is(d, "<RequireAll")
            || is(d, "<RequireAny")
            || is(d, "<RequireNone")
        {
            scan(&child.children, inherited, own);
        }
    }
}

/// A section that holds a `WSGIAuthGroupScript` somewhere inside it.
struct GroupScriptSection {
    kind: String,
    path: Option<String>,
}

fn holds_group_script(node: &ConfigNode) -> bool {
    node.children.iter().any(|c| {
        is(&c.directive, "WSGIAuthGroupScript") || (is_section(c) && holds_group_script(c))
    })
}

/// The literal path of a `<Location>`/`<Directory>` (not `~` or `Match`).
fn literal_path(node: &ConfigNode) -> Option<String> {
    let kind = node.directive.trim_start_matches('<').to_ascii_lowercase();
    if kind != "location" && kind != "directory" {
        return None;
    }
    let args = words(section_args(&node.args));
    match args.as_slice() {
        [path] if path != "~" => Some(path.trim_end_matches('/').to_owned()),
        _ => None,
    }
}

fn group_script_sections(tree: &[ConfigNode], out: &mut Vec<GroupScriptSection>) {
    for node in tree.iter().filter(|n| is_section(n)) {
        if is_not_a_scope(node) || !holds_group_script(node) {
            continue;
        }
        let kind = node.directive.trim_start_matches('<').to_ascii_lowercase();
        if kind == "virtualhost" || kind == "ifmodule" || kind == "ifdefine" {
            // Look at the sections inside; a script directly in it is
            // inherited through the tree.
            group_script_sections(&node.children, out);
            continue;
        }
        out.push(GroupScriptSection {
            kind,
            path: literal_path(node),
        });
    }
}

/// Whether `prefix` covers `path` (segment by segment, as httpd matches a
/// `<Location>` or `<Directory>`).
fn covers(prefix: &str, path: &str) -> bool {
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether a section of `kind` at `path` certainly gets no group script
/// from `others` (the sections holding one, none of them around it).
fn no_script_can_reach(kind: &str, path: Option<&str>, others: &[GroupScriptSection]) -> bool {
    others
        .iter()
        .all(|other| match (path, other.path.as_deref()) {
            (Some(path), Some(other_path)) if other.kind == kind => !covers(other_path, path),
            _ => false,
        })
}

/// A section that sets `AuthType` or a provider itself: another section
/// may get them from it at request time.
struct AuthSource {
    kind: String,
    path: Option<String>,
    settings: Inherited,
}

fn auth_sources(tree: &[ConfigNode], out: &mut Vec<AuthSource>) {
    for node in tree.iter().filter(|n| is_section(n) && !is_not_a_scope(n)) {
        let mut settings = Inherited::default();
        let mut own = Own::default();
        scan(&node.children, &mut settings, &mut own);
        // A <VirtualHost>'s settings reach the sections inside it, which
        // inherit them through the tree.
        let wrapper = section_kind(node) == "virtualhost";
        if !wrapper
            && (settings.auth_type.is_some() || settings.basic_provider || settings.digest_provider)
        {
            out.push(AuthSource {
                kind: section_kind(node),
                path: literal_path(node),
                settings,
            });
        }
        auth_sources(&node.children, out);
    }
}

fn section_kind(node: &ConfigNode) -> String {
    node.directive.trim_start_matches('<').to_ascii_lowercase()
}

struct Walk {
    findings: Vec<Finding>,
    script_sections: Vec<GroupScriptSection>,
    auth_sources: Vec<AuthSource>,
    htaccess_scripts: bool,
}

impl Walk {
    fn section(&mut self, node: &ConfigNode, children: &[ConfigNode], around: &Inherited) {
        let mut inherited = around.clone();
        let mut own = Own::default();
        scan(children, &mut inherited, &mut own);
        if is_section(node) && own.uses_module {
            self.check_auth_type(node, &inherited, &own);
        }
        if is_section(node) && !inherited.group_script && !self.htaccess_scripts {
            let kind = node.directive.trim_start_matches('<').to_ascii_lowercase();
            let path = literal_path(node);
            if no_script_can_reach(&kind, path.as_deref(), &self.script_sections) {
                for line in &own.group_lines {
                    self.findings.push(Finding {
                        file: line.file.clone(),
                        line: line.line,
                        message: format!(
                            "'Require {}' at {}:{} in {} ({}:{}): no WSGIAuthGroupScript applies \
                             there (none in the section, around it, or in a section that \
                             covers it), so every request would get 500; add \
                             WSGIAuthGroupScript to the section",
                            line.args.trim(),
                            line.file,
                            line.line,
                            section_name(node),
                            node.file,
                            node.line
                        ),
                        fatal: true,
                    });
                }
            }
        }
        for child in children
            .iter()
            .filter(|c| is_section(c) && !is_not_a_scope(c))
        {
            self.section(child, &child.children, &inherited);
        }
    }

    /// What `node` gets from `<Location>`s (or `<Directory>`s) whose path
    /// covers its own, shortest first as httpd merges them; `None` when a
    /// section whose reach cannot be compared with it sets any of it.
    fn merged(&self, node: &ConfigNode, inherited: &Inherited) -> Option<Inherited> {
        let kind = section_kind(node);
        let path = literal_path(node);
        let mut covering: Vec<(&str, &Inherited)> = Vec::new();
        for source in &self.auth_sources {
            match (&path, &source.path) {
                (Some(path), Some(source_path)) if source.kind == kind => {
                    if covers(source_path, path) {
                        covering.push((source_path, &source.settings));
                    }
                }
                _ => return None,
            }
        }
        covering.sort_by_key(|(p, _)| p.len());
        let mut merged = Inherited::default();
        for (_, settings) in covering {
            merged.apply(settings);
        }
        merged.apply(inherited);
        Some(merged)
    }

    fn check_auth_type(&mut self, node: &ConfigNode, inherited: &Inherited, own: &Own<'_>) {
        // Another section may complete this one: judge only what is certain.
        let Some(inherited) = self.merged(node, inherited) else {
            return;
        };
        let inherited = &inherited;
        let what = if own.user_script {
            "WSGIAuthUserScript"
        } else if own.group_lines.is_empty() {
            "the wsgi provider"
        } else {
            "Require wsgi-group"
        };
        let problem = match inherited.auth_type.as_deref() {
            None => Some(format!(
                "uses {what} but has no AuthType: Apache asks for no password there, never calls \
                 check_password and answers 500 ('AuthType not set'); add 'AuthType Basic' (or \
                 Digest) and 'AuthBasicProvider wsgi' (or AuthDigestProvider)"
            )),
            Some("basic") if !inherited.basic_provider => Some(format!(
                "uses {what} with AuthType Basic but has no AuthBasicProvider: Apache asks its \
                 default provider 'file' ('AuthUserFile not specified') and never calls \
                 check_password; add 'AuthBasicProvider wsgi'"
            )),
            Some("digest") if !inherited.digest_provider => Some(format!(
                "uses {what} with AuthType Digest but has no AuthDigestProvider: Apache asks its \
                 default provider 'file' ('AuthUserFile not specified') and never calls \
                 get_realm_hash; add 'AuthDigestProvider wsgi'"
            )),
            _ => None,
        };
        if let Some(problem) = problem {
            self.findings.push(Finding {
                file: node.file.clone(),
                line: node.line,
                message: format!(
                    "{} at {}:{} {problem}",
                    section_name(node),
                    node.file,
                    node.line
                ),
                fatal: false,
            });
        }
    }
}

fn allows_htaccess_scripts(tree: &[ConfigNode]) -> bool {
    tree.iter().any(|n| {
        (is(&n.directive, "WSGIAuthAllowOverride")
            && words(&n.args)
                .first()
                .is_some_and(|w| w.eq_ignore_ascii_case("on")))
            || allows_htaccess_scripts(&n.children)
    })
}

/// Every finding in the configuration `tree`, in the order written.
pub fn find_auth_setup_problems(tree: &[ConfigNode]) -> Vec<Finding> {
    let mut script_sections = Vec::new();
    group_script_sections(tree, &mut script_sections);
    let mut sources = Vec::new();
    auth_sources(tree, &mut sources);
    let mut walk = Walk {
        findings: Vec::new(),
        script_sections,
        auth_sources: sources,
        htaccess_scripts: allows_htaccess_scripts(tree),
    };
    let top = ConfigNode::default();
    walk.section(&top, tree, &Inherited::default());
    walk.findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(directive: &str, args: &str, line: u32, children: Vec<ConfigNode>) -> ConfigNode {
        ConfigNode {
            directive: directive.to_owned(),
            args: args.to_owned(),
            file: "/etc/apache2/site.conf".to_owned(),
            line,
            children,
        }
    }

    fn d(directive: &str, args: &str, line: u32) -> ConfigNode {
        node(directive, args, line, Vec::new())
    }

    fn location(path: &str, line: u32, children: Vec<ConfigNode>) -> ConfigNode {
        node("<Location", &format!("{path}>"), line, children)
    }

    #[test]
    fn complete_setup_has_no_finding() {
        let tree = vec![location(
            "/private",
            1,
            vec![
                d("AuthType", "Basic", 2),
                d("AuthName", "x", 3),
                d("AuthBasicProvider", "wsgi", 4),
                d("WSGIAuthUserScript", "/s.py", 5),
                d("WSGIAuthGroupScript", "/s.py", 6),
                d("Require", "wsgi-group staff", 7),
            ],
        )];
        assert_eq!(find_auth_setup_problems(&tree), vec![]);
    }

    #[test]
    fn missing_auth_type_is_a_warning_naming_the_section() {
        let tree = vec![location(
            "/private",
            10,
            vec![
                d("AuthBasicProvider", "wsgi", 11),
                d("WSGIAuthUserScript", "/s.py", 12),
                d("Require", "valid-user", 13),
            ],
        )];
        let found = find_auth_setup_problems(&tree);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(!found[0].fatal);
        assert!(found[0]
            .message
            .starts_with("<Location /private> at /etc/apache2/site.conf:10 uses WSGIAuthUserScript but has no AuthType"));
    }

    #[test]
    fn missing_provider_is_a_warning() {
        let tree = vec![location(
            "/private",
            1,
            vec![
                d("AuthType", "Basic", 2),
                d("WSGIAuthUserScript", "/s.py", 3),
                d("Require", "valid-user", 4),
            ],
        )];
        let found = find_auth_setup_problems(&tree);
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("has no AuthBasicProvider"));
        assert!(found[0].message.contains("'AuthBasicProvider wsgi'"));
    }

    #[test]
    fn auth_type_around_the_section_counts() {
        let tree = vec![node(
            "<VirtualHost",
            "*:80>",
            1,
            vec![
                d("AuthType", "Basic", 2),
                d("AuthBasicProvider", "wsgi", 3),
                location("/p", 4, vec![d("WSGIAuthUserScript", "/s.py", 5)]),
            ],
        )];
        assert_eq!(find_auth_setup_problems(&tree), vec![]);
    }

    #[test]
    fn a_covering_location_completes_the_section() {
        let tree = vec![
            location(
                "/split",
                1,
                vec![
                    d("AuthType", "Basic", 2),
                    d("AuthBasicProvider", "wsgi", 3),
                    d("WSGIAuthUserScript", "/s.py", 4),
                ],
            ),
            location(
                "/split/inner",
                5,
                vec![
                    d("WSGIAuthGroupScript", "/s.py", 6),
                    d("Require", "wsgi-group staff", 7),
                ],
            ),
        ];
        assert_eq!(find_auth_setup_problems(&tree), vec![]);
        // A sibling that does not cover it does not complete it.
        let mut other = tree.clone();
        other[0].args = "/other>".to_owned();
        let found = find_auth_setup_problems(&other);
        assert!(
            found.len() == 1 && found[0].message.contains("no AuthType"),
            "{found:?}"
        );
    }

    #[test]
    fn a_virtual_host_with_auth_type_leaves_other_sections_judged() {
        let tree = vec![
            node(
                "<VirtualHost",
                "*:80>",
                1,
                vec![d("AuthType", "Basic", 2), d("AuthBasicProvider", "wsgi", 3)],
            ),
            location("/p", 4, vec![d("WSGIAuthUserScript", "/s.py", 5)]),
        ];
        let found = find_auth_setup_problems(&tree);
        assert!(
            found.len() == 1 && found[0].message.contains("no AuthType"),
            "{found:?}"
        );
    }

    #[test]
    fn auth_type_in_a_section_of_another_kind_is_not_judged() {
        let tree = vec![
            node(
                "<Directory",
                "/var/www>",
                1,
                vec![d("AuthType", "Basic", 2), d("AuthBasicProvider", "wsgi", 3)],
            ),
            location("/p", 4, vec![d("WSGIAuthUserScript", "/s.py", 5)]),
        ];
        assert_eq!(find_auth_setup_problems(&tree), vec![]);
    }

    #[test]
    fn group_line_without_any_group_script_is_fatal() {
        let tree = vec![location(
            "/team",
            20,
            vec![
                d("AuthType", "Basic", 21),
                d("AuthBasicProvider", "wsgi", 22),
                d("WSGIAuthUserScript", "/s.py", 23),
                d("Require", "wsgi-group staff", 24),
            ],
        )];
        let found = find_auth_setup_problems(&tree);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].fatal);
        assert_eq!(found[0].line, 24);
        assert!(found[0].message.starts_with(
            "'Require wsgi-group staff' at /etc/apache2/site.conf:24 in <Location /team> \
             (/etc/apache2/site.conf:20): no WSGIAuthGroupScript applies"
        ));
    }

    #[test]
    fn group_script_of_a_covering_location_is_not_certain() {
        let auth = || {
            vec![
                d("AuthType", "Basic", 2),
                d("AuthBasicProvider", "wsgi", 3),
                d("WSGIAuthUserScript", "/s.py", 4),
            ]
        };
        let mut team = auth();
        team.push(d("Require", "wsgi-group staff", 9));
        let mut outer = auth();
        outer.push(d("WSGIAuthGroupScript", "/g.py", 5));
        let tree = vec![
            location("/", 1, outer.clone()),
            location("/team", 8, team.clone()),
        ];
        assert_eq!(find_auth_setup_problems(&tree), vec![]);
        // A sibling location elsewhere does not cover /team: certain.
        let tree = vec![
            location("/other", 1, outer.clone()),
            location("/team", 8, team.clone()),
        ];
        let found = find_auth_setup_problems(&tree);
        assert!(found.len() == 1 && found[0].fatal, "{found:?}");
        // /teamwork is not inside /team.
        let tree = vec![
            location("/team", 1, outer.clone()),
            location("/teamwork", 8, team.clone()),
        ];
        assert!(find_auth_setup_problems(&tree)[0].fatal);
        // A <Directory> or regex section with a script: not comparable.
        let tree = vec![
            node("<Directory", "/var/www>", 1, outer),
            location("/team", 8, team),
        ];
        assert_eq!(find_auth_setup_problems(&tree), vec![]);
    }

    #[test]
    fn htaccess_scripts_make_it_uncertain() {
        let tree = vec![
            d("WSGIAuthAllowOverride", "On", 1),
            location(
                "/team",
                2,
                vec![
                    d("AuthType", "Basic", 3),
                    d("AuthBasicProvider", "wsgi", 4),
                    d("WSGIAuthUserScript", "/s.py", 5),
                    d("Require", "wsgi-group staff", 6),
                ],
            ),
        ];
        assert_eq!(find_auth_setup_problems(&tree), vec![]);
    }
}
