//! The `apachectl` script written beside the configuration by
//! `setup-server`: start, stop, restart and test this one Apache instance.

use crate::quote::shell;
use crate::resolve::Settings;

/// The script text.
pub fn render(s: &Settings) -> String {
    format!(
        "#!/bin/sh\n\
         # Controls the Apache instance configured in this directory.\n\
         # Written by authnz-wsgi-express {version}.\n\
         HTTPD={httpd}\n\
         CONF={conf}\n\
         case \"$1\" in\n\
         \x20 start-foreground) exec \"$HTTPD\" -f \"$CONF\" -DFOREGROUND ;;\n\
         \x20 start|stop|restart|graceful|graceful-stop) exec \"$HTTPD\" -f \"$CONF\" -k \"$1\" ;;\n\
         \x20 configtest) exec \"$HTTPD\" -t -f \"$CONF\" ;;\n\
         \x20 *) echo \"usage: $0 start|start-foreground|stop|restart|graceful|graceful-stop|configtest\" >&2; exit 2 ;;\n\
         esac\n",
        version = env!("CARGO_PKG_VERSION"),
        httpd = shell(&s.options.httpd_executable.to_string_lossy()),
        conf = shell(&s.conf_path().to_string_lossy()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{parse, Invocation};

    #[test]
    fn names_binary_and_conf() {
        let options = match parse(&["setup-server".to_owned()]).unwrap() {
            Invocation::Run(_, o) => *o,
            other => panic!("{other:?}"),
        };
        let s = Settings {
            options,
            server_root: "/tmp/it's".into(),
            module: "/m.so".into(),
            run_as: None,
        };
        let text = render(&s);
        assert!(text.starts_with("#!/bin/sh\n"));
        assert!(text.contains("HTTPD='/usr/sbin/apache2'\n"));
        assert!(text.contains(r"CONF='/tmp/it'\''s/httpd.conf'"));
        assert!(text.contains("configtest) exec \"$HTTPD\" -t -f \"$CONF\""));
    }
}
