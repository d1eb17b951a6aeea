//! The recipe that admits everyone (docs/authorization.md#the-requireany-trap): several `Require` lines
//! directly in one section form an implicit `<RequireAny>`, so mod_wsgi's
//! and Django's documented group recipes — `Require wsgi-group x` (Django:
//! `Require group x`) next to `Require valid-user` — let every valid user
//! in and never consult the group. This finds such sections in the parsed
//! configuration (httpd's tree of directives, given here as
//! [`ConfigNode`]s) and words one warning per section, naming files and
//! lines and the fix.
//!
//! A section is warned about when, among its own `Require` lines (those
//! directly in it, and those in a `<Limit>`/`<LimitExcept>` directly in
//! it, which join the same `<RequireAny>` for their methods):
//! - a group line — `Require wsgi-group`, a `Require` naming an
//!   `<AuthzProviderAlias>` of `wsgi-group`, or a `Require group` where a
//!   `WSGIAuthGroupScript` and no `AuthGroupFile` apply (mod_authz_groupfile's
//!   provider, which never asks `groups_for_user`) — shares methods with
//! - another line that can grant on its own: not negated, not another group
//!   line, not `Require all denied`;
//!
//! or when such a misdirected `Require group` is there at all. Lines inside
//! `<RequireAll>`, `<RequireAny>` or `<RequireNone>` were grouped on purpose
//! and are not looked at; sections are judged one by one, so lines in
//! different sections (combined by `AuthMerging`) never meet.
//! `WSGIWarnRequireAny Off` in a section, a `<VirtualHost>` or the server
//! configuration turns the warning off there and in the sections written
//! inside it (`On` turns it back on). `.htaccess` files are not part of the
//! tree and are not checked.

use std::collections::{BTreeSet, HashSet};

use crate::require_words::getword_conf;

/// One directive of the parsed configuration (httpd's `ap_directive_t`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigNode {
    /// As written: `Require`, `<Location`, `WSGIAuthGroupScript`.
    pub directive: String,
    /// The rest of the line; for a section, up to and including its `>`.
    pub args: String,
    pub file: String,
    pub line: u32,
    /// The directives inside a section.
    pub children: Vec<ConfigNode>,
}

/// One warning: the section's own place, and the whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: String,
    pub line: u32,
    pub message: String,
}

/// The directive that turns the warning off (or on again).
pub const OPT_OUT_DIRECTIVE: &str = "WSGIWarnRequireAny";

/// The most characters of a `Require` line quoted in a message.
const MAX_QUOTED: usize = 120;

/// The words of `text`, with httpd's configuration quoting.
pub(crate) fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text.as_bytes();
    loop {
        let (word, after) = getword_conf(rest);
        if word.is_empty() && after.is_empty() {
            return out;
        }
        out.push(String::from_utf8_lossy(&word).into_owned());
        rest = after;
    }
}

/// A section's arguments without the closing `>`.
pub(crate) fn section_args(args: &str) -> &str {
    let trimmed = args.trim_end();
    trimmed.strip_suffix('>').unwrap_or(trimmed).trim()
}

fn is(directive: &str, name: &str) -> bool {
    directive.eq_ignore_ascii_case(name)
}

/// The methods a `Require` line applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Methods {
    All,
    Only(BTreeSet<String>),
    Except(BTreeSet<String>),
}

impl Methods {
    /// httpd limits GET and HEAD together.
    fn names(args: &str) -> BTreeSet<String> {
        words(section_args(args))
            .into_iter()
            .map(|m| if m == "HEAD" { "GET".to_owned() } else { m })
            .collect()
    }

    fn overlap(&self, other: &Methods) -> bool {
        match (self, other) {
            (Methods::All, m) | (m, Methods::All) => !matches!(m, Methods::Only(s) if s.is_empty()),
            (Methods::Only(a), Methods::Only(b)) => !a.is_disjoint(b),
            (Methods::Only(a), Methods::Except(b)) | (Methods::Except(b), Methods::Only(a)) => {
                !a.is_subset(b)
            }
            // Both leave out finitely many of infinitely many methods.
            (Methods::Except(_), Methods::Except(_)) => true,
        }
    }
}

/// What a `Require` line does inside an implicit `<RequireAny>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Asks `groups_for_user`.
    Group,
    /// `Require group` meant for the script, answered by mod_authz_groupfile.
    MisdirectedGroup,
    /// Can let a request in on its own.
    Grants,
    /// Never grants (`not ...`, `all denied`, no provider).
    Inert,
}

/// Settings that apply to a section from itself and the sections around it.
#[derive(Debug, Clone, Copy)]
struct Context {
    warn: bool,
    group_script: bool,
    group_file: bool,
}

impl Context {
    /// `inherited`, changed by the directives directly in a section.
    fn with(mut self, children: &[ConfigNode]) -> Context {
        for child in children {
            if is(&child.directive, OPT_OUT_DIRECTIVE) {
                if let Some(flag) = words(&child.args).first() {
                    self.warn = !flag.eq_ignore_ascii_case("off");
                }
            } else if is(&child.directive, "WSGIAuthGroupScript") {
                self.group_script = true;
            } else if is(&child.directive, "AuthGroupFile") {
                self.group_file = true;
            }
        }
        self
    }
}

/// A `Require` line of a section.
struct RequireLine<'a> {
    node: &'a ConfigNode,
    methods: Methods,
    kind: Kind,
}

impl RequireLine<'_> {
    fn text(&self) -> String {
        let mut text = format!("Require {}", self.node.args.trim());
        if text.chars().count() > MAX_QUOTED {
            text = text.chars().take(MAX_QUOTED).collect::<String>() + "...";
        }
        text
    }

    /// `'Require valid-user' (file:line)`.
    fn cited(&self) -> String {
        format!("'{}' ({}:{})", self.text(), self.node.file, self.node.line)
    }
}

fn classify(args: &str, aliases: &HashSet<String>, context: Context) -> Kind {
    let words = words(args);
    let Some(provider) = words.first() else {
        return Kind::Inert;
    };
    if provider.eq_ignore_ascii_case("not") {
        return Kind::Inert;
    }
    // Provider names are matched exactly, as ap_lookup_provider does.
    match provider.as_str() {
        "wsgi-group" => Kind::Group,
        p if aliases.contains(p) => Kind::Group,
        "group" if context.group_script && !context.group_file => Kind::MisdirectedGroup,
        "all"
            if words
                .get(1)
                .is_some_and(|w| w.eq_ignore_ascii_case("denied")) =>
        {
            Kind::Inert
        }
        _ => Kind::Grants,
    }
}

/// How a section node takes part in the check.
enum SectionKind {
    /// A per-directory section (`<Location>`, `<Directory>`, `<If>`, ...).
    Section,
    /// `<Limit>`/`<LimitExcept>`: part of the enclosing section.
    Limit { except: bool },
    /// `<RequireAll>`/`<RequireAny>`/`<RequireNone>`, provider aliases:
    /// grouped on purpose, or not a place for `Require` lines.
    Skipped,
}

fn section_kind(directive: &str) -> SectionKind {
    let name = directive.strip_prefix('<').unwrap_or(directive);
    if is(name, "Limit") {
        SectionKind::Limit { except: false }
    } else if is(name, "LimitExcept") {
        SectionKind::Limit { except: true }
    } else if name
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("Require"))
        || is(name, "AuthzProviderAlias")
        || is(name, "AuthnProviderAlias")
    {
        SectionKind::Skipped
    } else {
        SectionKind::Section
    }
}

fn is_section(node: &ConfigNode) -> bool {
    node.directive.starts_with('<')
}

/// Names of `<AuthzProviderAlias>`es whose base provider is `wsgi-group`,
/// directly or through another such alias.
fn group_aliases(tree: &[ConfigNode]) -> HashSet<String> {
    let mut definitions = Vec::new();
    let mut pending: Vec<&ConfigNode> = tree.iter().collect();
    while let Some(node) = pending.pop() {
        if is(&node.directive, "<AuthzProviderAlias") {
            let words = words(section_args(&node.args));
            if let [base, alias, ..] = words.as_slice() {
                definitions.push((base.clone(), alias.clone()));
            }
        }
        pending.extend(node.children.iter());
    }
    let mut aliases = HashSet::new();
    loop {
        let before = aliases.len();
        for (base, alias) in &definitions {
            if base == "wsgi-group" || aliases.contains(base) {
                aliases.insert(alias.clone());
            }
        }
        if aliases.len() == before {
            return aliases;
        }
    }
}

/// The `Require` lines that share `section`'s implicit `<RequireAny>`.
fn require_lines<'a>(
    children: &'a [ConfigNode],
    aliases: &HashSet<String>,
    context: Context,
) -> Vec<RequireLine<'a>> {
    let mut lines = Vec::new();
    for child in children {
        if is(&child.directive, "Require") {
            lines.push(RequireLine {
                node: child,
                methods: Methods::All,
                kind: classify(&child.args, aliases, context),
            });
        } else if let SectionKind::Limit { except } = section_kind(&child.directive) {
            if !is_section(child) {
                continue;
            }
            let names = Methods::names(&child.args);
            let methods = if except {
                Methods::Except(names)
            } else {
                Methods::Only(names)
            };
            for inner in child
                .children
                .iter()
                .filter(|n| is(&n.directive, "Require"))
            {
                lines.push(RequireLine {
                    node: inner,
                    methods: methods.clone(),
                    kind: classify(&inner.args, aliases, context),
                });
            }
        }
    }
    lines
}

fn join(cited: &[String]) -> String {
    match cited {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The warning for one section, if it needs one.
fn judge(section: &ConfigNode, lines: &[RequireLine<'_>]) -> Option<Warning> {
    let is_group = |l: &&RequireLine<'_>| matches!(l.kind, Kind::Group | Kind::MisdirectedGroup);
    let trapped_groups: Vec<&RequireLine<'_>> = lines
        .iter()
        .filter(is_group)
        .filter(|g| {
            lines
                .iter()
                .any(|o| o.kind == Kind::Grants && o.methods.overlap(&g.methods))
        })
        .collect();
    let granting: Vec<&RequireLine<'_>> = lines
        .iter()
        .filter(|o| o.kind == Kind::Grants)
        .filter(|o| trapped_groups.iter().any(|g| g.methods.overlap(&o.methods)))
        .collect();
    let misdirected: Vec<&RequireLine<'_>> = lines
        .iter()
        .filter(|l| l.kind == Kind::MisdirectedGroup)
        .collect();
    if trapped_groups.is_empty() && misdirected.is_empty() {
        return None;
    }
    let args = section_args(&section.args);
    let mut message = format!(
        "<{}{}{args}> ({}:{}): ",
        section.directive.trim_start_matches('<'),
        if args.is_empty() { "" } else { " " },
        section.file,
        section.line
    );
    if !trapped_groups.is_empty() {
        let groups: Vec<String> = trapped_groups.iter().map(|l| l.cited()).collect();
        let others: Vec<String> = granting.iter().map(|l| l.cited()).collect();
        let named: Vec<String> = granting.iter().map(|l| format!("'{}'", l.text())).collect();
        let whoever = match named.as_slice() {
            [one] => format!("whoever {one} admits"),
            _ => format!("whoever any of {} admits", named.join(", ")),
        };
        message.push_str(&format!(
            "{} and {} are in the section's implicit <RequireAny> (several Require lines \
             directly in a section: any one of them lets a request in), so {whoever} gets in \
             without the group check. Put the lines inside <RequireAll>, or remove {} (a \
             Require wsgi-group line alone asks for a login). ",
            join(&groups),
            join(&others),
            named.join(", ")
        ));
    }
    for line in &misdirected {
        let rest = line
            .text()
            .strip_prefix("Require ")
            .and_then(|t| t.strip_prefix("group"))
            .unwrap_or("")
            .trim()
            .to_owned();
        message.push_str(&format!(
            "{} names mod_authz_groupfile's provider 'group', which never asks groups_for_user \
             of WSGIAuthGroupScript: write 'Require wsgi-group {rest}'. ",
            line.cited()
        ));
    }
    message.push_str(&format!(
        "{OPT_OUT_DIRECTIVE} Off in the section turns this warning off."
    ));
    Some(Warning {
        file: section.file.clone(),
        line: section.line,
        message,
    })
}

fn walk(
    section: Option<&ConfigNode>,
    children: &[ConfigNode],
    inherited: Context,
    aliases: &HashSet<String>,
    out: &mut Vec<Warning>,
) {
    let here = inherited.with(children);
    if let Some(section) = section {
        if here.warn {
            let lines = require_lines(children, aliases, here);
            out.extend(judge(section, &lines));
        }
    }
    for child in children.iter().filter(|c| is_section(c)) {
        if let SectionKind::Section = section_kind(&child.directive) {
            walk(Some(child), &child.children, here, aliases, out);
        }
    }
}

/// One warning per section of `tree` (the top level of the configuration)
/// whose `Require` lines let the group check be bypassed, in the order the
/// sections are written.
pub fn find_require_any_traps(tree: &[ConfigNode]) -> Vec<Warning> {
    let aliases = group_aliases(tree);
    let mut out = Vec::new();
    let start = Context {
        warn: true,
        group_script: false,
        group_file: false,
    };
    walk(None, tree, start, &aliases, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree from indented lines: `<X args>` opens a section, `</X>`
    /// closes it; line numbers are the text's own, file `t.conf`.
    fn tree(text: &str) -> Vec<ConfigNode> {
        let mut stack: Vec<ConfigNode> = vec![ConfigNode::default()];
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if line.starts_with("</") {
                let done = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(done);
                continue;
            }
            let (directive, args) = line.split_once(' ').unwrap_or((line, ""));
            let node = ConfigNode {
                directive: directive.to_owned(),
                args: args.to_owned(),
                file: "t.conf".to_owned(),
                line: n as u32 + 1,
                children: Vec::new(),
            };
            if directive.starts_with('<') {
                stack.push(node);
            } else {
                stack.last_mut().unwrap().children.push(node);
            }
        }
        assert_eq!(stack.len(), 1, "unbalanced sections");
        stack.pop().unwrap().children
    }

    fn warnings(text: &str) -> Vec<Warning> {
        find_require_any_traps(&tree(text))
    }

    const MOD_WSGI_RECIPE: &str = r#"
<Directory /usr/local/wsgi/scripts>
AuthType Basic
AuthName "Top Secret"
AuthBasicProvider dbm
AuthDBMUserFile /usr/local/wsgi/accounts.dbm
WSGIAuthGroupScript /usr/local/wsgi/scripts/auth.wsgi
Require wsgi-group secret-agents
Require valid-user
</Directory>
"#;

    #[test]
    fn the_mod_wsgi_recipe_is_one_warning_naming_lines_and_fix() {
        let found = warnings(MOD_WSGI_RECIPE);
        assert_eq!(found.len(), 1, "{found:?}");
        let w = &found[0];
        assert_eq!((w.file.as_str(), w.line), ("t.conf", 2));
        assert!(w
            .message
            .starts_with("<Directory /usr/local/wsgi/scripts> (t.conf:2): "));
        assert!(w.message.contains(
            "'Require wsgi-group secret-agents' (t.conf:8) and 'Require valid-user' (t.conf:9)"
        ));
        assert!(w.message.contains("<RequireAll>"), "{}", w.message);
        assert!(
            w.message.contains("WSGIWarnRequireAny Off"),
            "{}",
            w.message
        );
    }

    #[test]
    fn the_django_recipe_names_the_wrong_provider_too() {
        let found = warnings(
            r#"
<Location "/secret">
    AuthType Basic
    AuthName "Top Secret"
    AuthBasicProvider wsgi
    WSGIAuthUserScript /path/to/mysite.com/mysite/wsgi.py
    WSGIAuthGroupScript /path/to/mysite.com/mysite/wsgi.py
    Require group secret-agents
    Require valid-user
</Location>
"#,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        let m = &found[0].message;
        assert!(m.starts_with(r#"<Location "/secret"> (t.conf:2): "#), "{m}");
        assert!(m.contains(
            "'Require group secret-agents' (t.conf:8) and 'Require valid-user' (t.conf:9)"
        ));
        assert!(
            m.contains("write 'Require wsgi-group secret-agents'"),
            "{m}"
        );
    }

    #[test]
    fn require_group_with_its_own_group_file_is_left_alone() {
        assert!(warnings(
            "<Location /x>\nWSGIAuthGroupScript /g.py\nAuthGroupFile /etc/groups\n\
             Require group staff\n</Location>"
        )
        .is_empty());
        // Without a WSGIAuthGroupScript, `group` is simply another provider.
        assert!(
            warnings("<Location /x>\nRequire group staff\nRequire valid-user\n</Location>")
                .is_empty()
        );
        // A lone misdirected line is still named.
        let found =
            warnings("<Location /x>\nWSGIAuthGroupScript /g.py\nRequire group a b\n</Location>");
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("write 'Require wsgi-group a b'"));
        assert!(!found[0].message.contains("<RequireAny>"));
    }

    #[test]
    fn every_granting_line_counts_but_inert_ones_do_not() {
        for other in [
            "all granted",
            "user alice",
            "ip 10.0.0.0/8",
            "wsgi-host",
            "env X",
        ] {
            let text =
                format!("<Location /x>\nRequire wsgi-group staff\nRequire {other}\n</Location>");
            assert_eq!(warnings(&text).len(), 1, "{other}");
        }
        for other in [
            "all denied",
            "all DENIED",
            "wsgi-group admins",
            "not user mallory",
            "",
        ] {
            let text =
                format!("<Location /x>\nRequire wsgi-group staff\nRequire {other}\n</Location>");
            assert!(warnings(&text).is_empty(), "{other}");
        }
    }

    #[test]
    fn several_lines_are_all_named_in_one_warning() {
        let found = warnings(
            "<Location /x>\nRequire wsgi-group a\nRequire wsgi-group b\nRequire valid-user\n\
             Require ip 10.0.0.1\n</Location>",
        );
        assert_eq!(found.len(), 1);
        let m = &found[0].message;
        assert!(
            m.contains("'Require wsgi-group a' (t.conf:2) and 'Require wsgi-group b' (t.conf:3)")
        );
        assert!(m.contains("'Require valid-user' (t.conf:4) and 'Require ip 10.0.0.1' (t.conf:5)"));
        assert!(m.contains("whoever any of 'Require valid-user', 'Require ip 10.0.0.1' admits"));
    }

    #[test]
    fn grouped_lines_and_separate_sections_are_not_warned_about() {
        assert!(warnings(
            "<Location /x>\n<RequireAll>\nRequire valid-user\nRequire wsgi-group staff\n\
             </RequireAll>\n</Location>"
        )
        .is_empty());
        assert!(warnings(
            "<Location /x>\nRequire valid-user\n</Location>\n\
             <Location /x/staff>\nRequire wsgi-group staff\n</Location>"
        )
        .is_empty());
        assert!(warnings(
            "<Directory /srv>\nRequire valid-user\n</Directory>\n<Directory /srv/staff>\n\
             AuthMerging And\nRequire wsgi-group staff\n</Directory>"
        )
        .is_empty());
        assert!(warnings(
            "<Location /x>\n<RequireAny>\nRequire valid-user\nRequire wsgi-group s\n</RequireAny>\n</Location>"
        )
        .is_empty());
        // A nested section is its own section.
        assert!(warnings(
            "<Location /x>\nRequire valid-user\n<If \"true\">\nRequire wsgi-group s\n</If>\n</Location>"
        )
        .is_empty());
        let nested = warnings(
            "<VirtualHost *:80>\n<Location /x>\nRequire valid-user\nRequire wsgi-group s\n\
             </Location>\n</VirtualHost>",
        );
        assert_eq!(nested.len(), 1);
        assert_eq!(nested[0].line, 2);
    }

    #[test]
    fn aliases_of_wsgi_group_are_group_lines() {
        let text = "<AuthzProviderAlias wsgi-group staff-check staff>\n</AuthzProviderAlias>\n\
                    <AuthzProviderAlias staff-check again other>\n</AuthzProviderAlias>\n\
                    <Location /x>\nRequire again\nRequire valid-user\n</Location>\n\
                    <Location /y>\nRequire staff-check\nRequire valid-user\n</Location>\n\
                    <Location /z>\nRequire staff-check\nRequire again\n</Location>";
        let found = warnings(text);
        assert_eq!(found.iter().map(|w| w.line).collect::<Vec<_>>(), [5, 9]);
    }

    #[test]
    fn limits_join_their_section_for_their_methods() {
        // Readers may GET, but the valid-user line also admits every POST.
        let found = warnings(
            "<Location /x>\nRequire valid-user\n<Limit POST PUT>\nRequire wsgi-group editors\n\
             </Limit>\n</Location>",
        );
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("(t.conf:4)"));
        // Disjoint methods: what the author meant.
        assert!(warnings(
            "<Location /x>\n<LimitExcept POST PUT>\nRequire valid-user\n</LimitExcept>\n\
             <Limit POST PUT>\nRequire wsgi-group editors\n</Limit>\n</Location>"
        )
        .is_empty());
        assert!(warnings(
            "<Location /x>\n<Limit GET>\nRequire valid-user\n</Limit>\n\
             <Limit POST>\nRequire wsgi-group editors\n</Limit>\n</Location>"
        )
        .is_empty());
        assert_eq!(
            warnings(
                "<Location /x>\n<Limit HEAD>\nRequire valid-user\n</Limit>\n\
                 <Limit GET>\nRequire wsgi-group editors\n</Limit>\n</Location>"
            )
            .len(),
            1
        );
    }

    #[test]
    fn the_opt_out_applies_where_it_is_written_and_inside() {
        let body = "<Location /x>\nRequire valid-user\nRequire wsgi-group s\n</Location>";
        assert!(warnings(&format!("WSGIWarnRequireAny Off\n{body}")).is_empty());
        assert!(warnings(&format!("wsgiwarnrequireany off\n{body}")).is_empty());
        assert!(warnings(&format!(
            "<VirtualHost *:80>\nWSGIWarnRequireAny Off\n{body}\n</VirtualHost>"
        ))
        .is_empty());
        assert!(warnings(
            "<Location /x>\nWSGIWarnRequireAny Off\nRequire valid-user\nRequire wsgi-group s\n</Location>"
        )
        .is_empty());
        // Only there: a sibling section is still checked, and On turns it back on.
        assert_eq!(
            warnings(&format!(
                "<VirtualHost *:80>\nWSGIWarnRequireAny Off\n</VirtualHost>\n{body}"
            ))
            .len(),
            1
        );
        assert_eq!(
            warnings(
                "WSGIWarnRequireAny Off\n<Location /x>\nWSGIWarnRequireAny On\n\
                 Require valid-user\nRequire wsgi-group s\n</Location>"
            )
            .len(),
            1
        );
    }

    #[test]
    fn long_lines_are_shortened_in_the_message() {
        let long = "x".repeat(500);
        let found = warnings(&format!(
            "<Location /x>\nRequire wsgi-group {long}\nRequire valid-user\n</Location>"
        ));
        assert!(found[0].message.len() < 1000);
        assert!(found[0].message.contains("..."));
    }
}
