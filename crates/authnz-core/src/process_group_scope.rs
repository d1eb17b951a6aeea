//! Whether any script may run in Apache's children once
//! `WSGIAuthProcessGroup` is in play (docs/auth-daemons.md): a script
//! directive without `process-group=` runs where the `WSGIAuthProcessGroup`
//! merged into the request's configuration says, which httpd decides per
//! request. Read from where the directives were written, the answer errs
//! towards "embedded": Python is then started in the children for nothing,
//! never left out where a script needs it.
//!
//! A script directive without `process-group=` certainly runs in a daemon
//! group when no `WSGIAuthProcessGroup %{GLOBAL}` is written anywhere
//! (no section can send it back) and a `WSGIAuthProcessGroup NAME` is
//! written in its own section, at the top of its own virtual host, or at
//! the top of the main server (every section inherits from those).

/// Where a directive was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// The identity of the section's configuration record.
    pub section: usize,
    /// The identity of the server (main or virtual host) it belongs to.
    pub server: usize,
    /// Outside any section: at the top of the main server or a virtual host.
    pub top: bool,
    /// In a `<VirtualHost>`.
    pub virtual_host: bool,
}

/// What the configuration being read says about process groups.
#[derive(Debug, Default, Clone)]
pub struct Scope {
    /// Script directives without `process-group=`.
    scripts: Vec<Place>,
    /// `WSGIAuthProcessGroup NAME`.
    named: Vec<Place>,
    /// A `WSGIAuthProcessGroup %{GLOBAL}` somewhere.
    embedded_somewhere: bool,
}

impl Scope {
    pub const fn new() -> Scope {
        Scope {
            scripts: Vec::new(),
            named: Vec::new(),
            embedded_somewhere: false,
        }
    }

    /// A script directive without `process-group=`.
    pub fn note_script(&mut self, at: Place) {
        self.scripts.push(at);
    }

    /// A `WSGIAuthProcessGroup`: a daemon group's name, or `%{GLOBAL}`.
    pub fn note_setting(&mut self, at: Place, embedded: bool) {
        if embedded {
            self.embedded_somewhere = true;
        } else {
            self.named.push(at);
        }
    }

    /// Whether a script directive without `process-group=` is written
    /// and a `WSGIAuthProcessGroup NAME` may send it to a daemon group.
    pub fn may_run_in_daemons(&self) -> bool {
        !self.scripts.is_empty() && !self.named.is_empty()
    }

    /// Whether the script written at `script` certainly runs in a daemon.
    fn covered(&self, script: &Place) -> bool {
        !self.embedded_somewhere
            && self.named.iter().any(|set| {
                set.section == script.section
                    || (set.top && (!set.virtual_host || set.server == script.server))
            })
    }

    /// Whether some script directive without `process-group=` may run in
    /// an Apache child.
    pub fn may_run_embedded(&self) -> bool {
        self.scripts.iter().any(|s| !self.covered(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: usize = 1;
    const VHOST: usize = 2;

    fn top(server: usize) -> Place {
        Place {
            section: server * 100,
            server,
            top: true,
            virtual_host: server != MAIN,
        }
    }

    fn section(server: usize, id: usize) -> Place {
        Place {
            section: server * 100 + id,
            server,
            top: false,
            virtual_host: server != MAIN,
        }
    }

    #[test]
    fn no_setting_leaves_scripts_embedded() {
        let mut scope = Scope::new();
        assert!(!scope.may_run_embedded());
        scope.note_script(section(MAIN, 1));
        assert!(!scope.may_run_in_daemons() && scope.may_run_embedded());
    }

    #[test]
    fn a_setting_in_the_same_section_covers_its_scripts_only() {
        let mut scope = Scope::new();
        scope.note_script(section(MAIN, 1));
        scope.note_setting(section(MAIN, 1), false);
        assert!(scope.may_run_in_daemons() && !scope.may_run_embedded());
        scope.note_script(section(MAIN, 2));
        assert!(scope.may_run_embedded());
    }

    #[test]
    fn the_main_servers_top_covers_everything() {
        let mut scope = Scope::new();
        scope.note_setting(top(MAIN), false);
        scope.note_script(section(MAIN, 1));
        scope.note_script(top(VHOST));
        scope.note_script(section(VHOST, 3));
        assert!(!scope.may_run_embedded());
    }

    #[test]
    fn a_virtual_hosts_top_covers_that_host_only() {
        let mut scope = Scope::new();
        scope.note_setting(top(VHOST), false);
        scope.note_script(section(VHOST, 3));
        assert!(!scope.may_run_embedded());
        scope.note_script(section(MAIN, 1));
        assert!(scope.may_run_embedded());
    }

    #[test]
    fn a_setting_inside_a_section_does_not_cover_the_top() {
        let mut scope = Scope::new();
        scope.note_setting(section(MAIN, 1), false);
        scope.note_script(top(MAIN));
        assert!(scope.may_run_embedded());
    }

    #[test]
    fn global_anywhere_may_send_any_script_back() {
        let mut scope = Scope::new();
        scope.note_setting(top(MAIN), false);
        scope.note_script(section(MAIN, 1));
        scope.note_setting(section(MAIN, 9), true);
        assert!(scope.may_run_embedded());
    }
}
