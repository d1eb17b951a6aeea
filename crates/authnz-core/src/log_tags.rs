//! Every numbered tag the module's log lines carry (`AUTHNZ_WSGI0012:`), in
//! one registry, as httpd numbers its own messages: each tag is written at
//! one place in the code, except the deliberate repeats whose `sites` says
//! how many places write it (the same condition met on two paths, such as
//! a Basic and a Digest answer). `tests/test_log_tags.py` counts the places
//! and checks `docs/messages.md` against this list.

/// One tag: its number, the name the code uses, where it is written, what
/// it means and what to do about it.
#[derive(Debug, Clone, Copy)]
pub struct Tag {
    pub number: u16,
    pub name: &'static str,
    /// How many places in the code write it (1 unless a deliberate repeat).
    pub sites: u8,
    pub means: &'static str,
    pub action: &'static str,
}

macro_rules! registry {
    ($($name:ident = $number:literal, $sites:literal, $means:literal, $action:literal;)*) => {
        $(pub const $name: u16 = $number;)*
        /// Every tag, by number.
        pub const ALL: &[Tag] = &[$(Tag {
            number: $number,
            name: stringify!($name),
            sites: $sites,
            means: $means,
            action: $action,
        }),*];
    };
}

registry! {
    INTERNAL_ERROR = 1, 1,
        "A Rust panic was caught at an entry point; the request (or start-up step) was refused.",
        "A bug: report it with the line (it names the entry point and the code location).";
    MOD_PYTHON_LOADED = 2, 1,
        "mod_python is loaded too; only one CPython can live in an httpd process.",
        "Remove the LoadModule line of one of the two modules.";
    PYTHON_STARTED = 3, 1,
        "Python started in (or, beside mod_wsgi, was attached to in) a child: version, sys.prefix, libpython (notice in the first child of each start or restart, so every LogLevel shows it; info in the others).",
        "None; check that sys.prefix is the virtualenv you meant.";
    PYTHON_UNAVAILABLE = 4, 1,
        "Python could not be started in a child; every request that needs a script gets an error.",
        "Read the reason in the line: a WSGIPythonHome that is no Python home or a virtualenv of another version, a libpython of another version than the module was built for.";
    NO_USER_SCRIPT = 10, 1,
        "AuthBasicProvider/AuthDigestProvider wsgi is used where no WSGIAuthUserScript applies.",
        "Add WSGIAuthUserScript to the section (or to the AuthnProviderAlias).";
    BAD_CHECK_PASSWORD_RESULT = 11, 3,
        "check_password returned something other than True, False, None or a usable user name (500).",
        "Fix the script's return value; the line names the type or the problem with the name.";
    USER_RENAMED = 12, 1,
        "check_password returned another name; it becomes Apache's user (debug).",
        "None.";
    BAD_REALM_HASH = 13, 2,
        "get_realm_hash returned something other than None or 32 lowercase hex digits (500).",
        "Return hashlib.md5(f'{user}:{realm}:{password}'.encode()).hexdigest() or None.";
    SCRIPT_LOAD_FAILED = 20, 2,
        "A script could not be loaded: a Python exception at import (with its traceback) or a read error.",
        "Fix the script; it is loaded again at most once a second, no restart needed.";
    FUNCTION_MISSING = 21, 2,
        "A script has no callable of the function a directive needs: once per load, then a short line on each request it fails (500 or 403).",
        "Define check_password / get_realm_hash / groups_for_user / allow_access in the script.";
    SCRIPT_STILL_FAILING = 22, 2,
        "A request needed a script whose last load failed (within the second, or again the same way): the line names the script and the reason; the traceback is logged once, with the AUTHNZ_WSGI0020 line (500 or 403).",
        "Fix the script; the AUTHNZ_WSGI0020 line of its first failure has the traceback.";
    SCRIPT_UNREADABLE = 23, 1,
        "A script file cannot be accessed (missing, or not readable by the user the children run as).",
        "Restore the file or its permissions; it is retried at most once a second.";
    SCRIPT_LOADED = 24, 1,
        "A script was loaded or re-loaded in an application group (info).",
        "None.";
    SCRIPT_NOT_READABLE_BY_CHILD = 25, 1,
        "A script the configuration names is not readable by the User Apache's children run as; start-up and apache2 -t fail.",
        "Give that user read access to the file and search access to its directories (the line names both).";
    NO_GROUP_SCRIPT = 30, 1,
        "Require wsgi-group is used where no WSGIAuthGroupScript applies (500).",
        "Add WSGIAuthGroupScript to the section (or to the AuthzProviderAlias).";
    BAD_GROUPS_RESULT = 31, 5,
        "groups_for_user returned something other than an iterable of str/bytes group names (500).",
        "Return a list (or set, tuple, generator) of group names.";
    GROUPS_ITERATION_RAISED = 32, 2,
        "Iterating the result of groups_for_user raised (e.g. a lazy query failed); with traceback (500).",
        "Fix what the iteration runs; the traceback names it.";
    BAD_GROUP_LINE = 33, 1,
        "The arguments of a Require wsgi-group line could not be evaluated (an ap_expr error) (500).",
        "Fix the expression in the Require line.";
    NOT_IN_GROUP = 34, 1,
        "The user is in none of the groups a Require wsgi-group line names (debug).",
        "None, unless the user should be: check what groups_for_user returns.";
    EMPTY_GROUP_NAME = 35, 1,
        "groups_for_user yielded an empty group name; it is skipped (debug).",
        "None.";
    GROUP_LINE_EMPTY = 36, 1,
        "A Require wsgi-group line evaluated to no group names (500).",
        "Make the expression yield at least one name.";
    SCRIPT_OUTPUT = 40, 2,
        "A line a script wrote to environ['wsgi.errors'] (with the request's context during a call).",
        "Whatever the script meant by it.";
    CALL_PREPARATION_FAILED = 41, 2,
        "The call's environ or request objects could not be made (a Python error, with traceback) (500).",
        "A bug or an exhausted interpreter: report it with the traceback.";
    SCRIPT_RAISED = 42, 1,
        "A script function raised; the summary names the script, the traceback follows (500 or 403).",
        "Fix the script. A message that shows the password is not logged (the line says so).";
    PYTHON_NOT_IN_CHILD = 43, 1,
        "A request needed a script but Python is not available in this child; the line names the script and the reason (500).",
        "Fix what the reason says (the AUTHNZ_WSGI0004 line at the child's start-up says it too).";
    CALL_CAP_REACHED = 44, 1,
        "WSGIMaxConcurrentCalls calls were still running after the wait; the request was refused (500).",
        "Find the slow script (WSGIScriptTimeout bounds it) or raise WSGIMaxConcurrentCalls.";
    SCRIPT_TIMEOUT = 45, 2,
        "A call ran past WSGIScriptTimeout: interrupted, or its late answer refused (500).",
        "Make the script faster (or its backend), or raise WSGIScriptTimeout.";
    TIMEOUT_THREAD_COLLISION = 46, 1,
        "The watchdog found two thread states with one thread id (one of an ended thread); it raises again.",
        "None; report it if it repeats.";
    BAD_REFLECTED_VALUE = 50, 1,
        "An identity header of a response had an unusable value (too long, control characters, repeated); dropped.",
        "Fix the application's X-Remote-User / X-Auth-Type value.";
    APACHE_USER_KEPT = 51, 1,
        "Apache authenticated the request itself; the application's header did not replace that user (debug).",
        "None.";
    REQUEST_HEADER_REMOVED = 52, 1,
        "A client-sent identity header was removed where WSGIReflectAuth is On (info).",
        "None: a client tried to name itself, or a proxy in front forwards such a header.";
    USER_REFLECTED = 53, 1,
        "The user named by the response became Apache's user (debug).",
        "None.";
    PYTHON_NOT_NEEDED = 58, 1,
        "No script runs in the Apache children (none is configured, or every one runs in an auth daemon process, by process-group= or WSGIAuthProcessGroup): Python is not started in this child (info).",
        "None.";
    NO_ACCESS_SCRIPT = 60, 1,
        "WSGIAccessScript is missing where the access check or Require wsgi-host needs it.",
        "Add WSGIAccessScript to the section (or to the AuthzProviderAlias).";
    BAD_ALLOW_ACCESS_RESULT = 61, 1,
        "allow_access returned something other than True, False or None (403 or 500).",
        "Fix the script's return value.";
    ACCESS_DENIED = 62, 1,
        "allow_access returned False for the client (403).",
        "None, unless the client should get in.";
    CACHED_LOGIN = 70, 1,
        "A Basic login was answered from the in-process cache (debug).",
        "None.";
    CACHED_GROUPS = 71, 1,
        "A user's groups were answered from the in-process cache (debug).",
        "None.";
    NO_CACHE_KEY = 72, 1,
        "APR's random source failed; the in-process cache is off in this child.",
        "Check the kernel's random source; logins still work, uncached.";
    HANDED_TO_SOCACHE = 73, 2,
        "A granted login or a realm hash was handed to mod_authn_socache (debug).",
        "None.";
    PASSWORD_TOO_LONG_TO_SOCACHE = 74, 1,
        "A password longer than the socache entry's scheme holds was not handed to mod_authn_socache (debug).",
        "None.";
    SOCACHE_LAYOUT_UNKNOWN = 75, 1,
        "mod_authn_socache's record has an unexpected layout: logins are hashed for it wherever it may cache them.",
        "None; report the Apache version.";
    SOCACHE_HASH_FAILED = 76, 1,
        "A login could not be hashed for mod_authn_socache; it is answered, not cached.",
        "Read the reason in the line.";
    CACHED_REALM_HASH = 77, 1,
        "A Digest realm hash was answered from the in-process cache (debug).",
        "None.";
    SHA1CRYPT_UNSUPPORTED = 78, 1,
        "crypt(3) cannot validate $sha1$ hashes here; socache entries are bcrypt (about 1 ms a request).",
        "Use a libxcrypt with sha1crypt, or accept the cost.";
    RENAMED_NOT_SOCACHED = 79, 1,
        "A renamed login was not handed to mod_authn_socache, which would grant the name the client sent (debug).",
        "None.";
    SAME_QUESTION_STILL_RUNNING = 80, 1,
        "A call with the same credentials was still running after the script timeout; the request was refused.",
        "Find the slow script; WSGIScriptTimeout bounds the wait.";
    SHARED_ANSWER = 81, 2,
        "A request took the answer of a call made at the same time with the same credentials (debug).",
        "None.";
    TOO_MANY_GROUPS = 82, 1,
        "groups_for_user yielded more than 10,000 items; refused (500).",
        "Return the user's groups, not an endless iterator.";
    HOST_GROUP_FALLBACK = 83, 1,
        "application-group=%{HOST}: the request's host is not a name of the virtual host; the ServerName's group is used (debug).",
        "Add the name as a ServerAlias if it should have a group of its own.";
    TOO_MANY_APPLICATION_GROUPS = 84, 1,
        "A script already runs in 64 application groups in this child; a new group is refused.",
        "Avoid %{HOST} under a wildcard ServerAlias, or name the groups.";
    BESIDE_MOD_WSGI = 85, 1,
        "mod_wsgi is loaded: this module answers the three script directives (debug).",
        "None.";
    LATE_REQUEST_HEADER_REMOVED = 90, 1,
        "A client-sent identity header was removed just before the handler ran (the request reached a reflecting location through DirectoryIndex, a rewrite, ...) (info).",
        "None.";
    TRAILER_DROPPED = 91, 1,
        "An identity field arrived as a trailer; trailers never name the user (warning).",
        "Send X-Remote-User in the response headers.";
    INTERIM_IDENTITY_TAKEN = 92, 1,
        "Identity headers were taken out of a backend's interim response (101, 103) (debug).",
        "None.";
    ENVIRONMENT_VARIABLE_REMOVED = 93, 1,
        "An HTTP_ environment variable carrying a client identity header was removed (info).",
        "None.";
    WSTUNNEL_LAYOUT_UNKNOWN = 94, 1,
        "mod_proxy_wstunnel's record has an unexpected layout: ws:// upgrades in reflecting locations are refused.",
        "None; report the Apache version.";
    UPGRADE_REFUSED = 95, 1,
        "A protocol upgrade that mod_proxy_wstunnel would tunnel unseen was refused in a reflecting location (426).",
        "Let mod_proxy_http handle the upgrade (ProxyWebsocketFallbackToProxyHttp On).";
    STDOUT_LINE = 100, 1,
        "A line a script printed to sys.stdout (with the request's context during a call).",
        "Whatever the script meant by it.";
    STDERR_LINE = 101, 1,
        "A line a script wrote to sys.stderr (with the request's context during a call).",
        "Whatever the script meant by it.";
    STD_STREAMS_NOT_REPLACED = 102, 1,
        "sys.stdout/sys.stderr could not be replaced; what scripts print does not reach the log.",
        "Report it with the line.";
    REQUIRE_ANY_TRAP = 103, 1,
        "A group line shares the implicit <RequireAny> with a line that grants on its own: every valid user gets in.",
        "Put the lines in <RequireAll>, or drop the other line (WSGIWarnRequireAny Off if meant).";
    AUTH_SETUP_INCOMPLETE = 104, 1,
        "A section uses WSGIAuthUserScript, the wsgi provider or Require wsgi-group but has no AuthType, or no AuthBasicProvider/AuthDigestProvider (warning at start-up and in apache2 -t).",
        "Add what the line names (AuthType Basic and AuthBasicProvider wsgi) to the section or to one whose path covers it.";
    GROUP_SCRIPT_CERTAINLY_MISSING = 105, 1,
        "A Require wsgi-group line whose section certainly gets no WSGIAuthGroupScript; start-up and apache2 -t fail.",
        "Add WSGIAuthGroupScript to the section the line names.";
    LIVE_FIGURES_ON = 106, 1,
        "mod_status is loaded: the live figures of the auth scripts are kept in shared memory for this start or restart; the line gives the rows and bytes (debug).",
        "None; read them at /server-status (docs/operations.md).";
    LIVE_FIGURES_OFF = 107, 1,
        "mod_status is not loaded: no live figures are kept and no shared memory is made for them (debug).",
        "None; load mod_status to see them.";
    LIVE_FIGURES_NO_MEMORY = 108, 1,
        "APR could not make the shared memory of the live figures; /server-status shows no section for the module.",
        "Check the system's limits on shared memory; requests are not affected.";
    USER_NAME_RE_ENCODED = 110, 1,
        "Under WSGIUserNameEncoding utf-8, a user name the client sent in another encoding (Latin-1) became Apache's user as UTF-8 (debug).",
        "None.";
    RE_ENCODED_NOT_SOCACHED = 111, 1,
        "Under WSGIUserNameEncoding utf-8, a login whose name the client did not send as UTF-8 is not handed to mod_authn_socache, which would answer it later under the bytes the client sent (debug).",
        "None: such logins are answered by the wsgi provider (and WSGIAuthCacheTimeout) each time.";
    DAEMON_GROUP_UNKNOWN = 112, 1,
        "A script directive's process-group= or a WSGIAuthProcessGroup names no WSGIAuthDaemonProcess of the server; start-up stops (apache2 -t fails).",
        "Define the daemon group with WSGIAuthDaemonProcess NAME (main server or a virtual host), or correct the name.";
    DAEMON_ACCOUNT_REFUSED = 113, 1,
        "A WSGIAuthDaemonProcess would run as root, or its user= or group= is not an account of the system; start-up stops.",
        "Give user= (and group=) an unprivileged account that exists; daemon processes never run as root.";
    DAEMON_SOCKET_PATH_TOO_LONG = 114, 1,
        "The Unix socket path of a daemon group would be longer than the 107 bytes a socket path may have; start-up stops.",
        "Set DefaultRuntimeDir to a shorter directory, or give the daemon group a shorter name.";
    DAEMON_UNREACHABLE = 116, 2,
        "An Apache child could not reach its auth daemon group: the socket refused the connection, or no daemon process took it within 5 s (none is running: starting, restarting after it ended, or unable to start); the request is answered 500.",
        "Read the daemon group's earlier lines (AUTHNZ_WSGI0121, AUTHNZ_WSGI0124): a daemon that cannot start, or that crashes, is restarted with back-off.";
    DAEMON_NO_ANSWER = 117, 1,
        "An auth daemon gave no answer within the call's time limit and a grace of 0.8 s; the request is answered 500 and the daemon process ends itself and is replaced.",
        "Make the script faster, or raise call-timeout= (or WSGIScriptTimeout); the daemon's line AUTHNZ_WSGI0125 names the call.";
    DAEMON_CONNECTION_LOST = 118, 1,
        "An auth daemon closed the connection before it answered: the daemon process died during the call (a crash in C code such as a segmentation fault, or it was killed); the request is answered 500.",
        "Look for the daemon's exit line (AUTHNZ_WSGI0121) and fix the script or the C extension that crashed it; the daemon is replaced.";
    DAEMON_STARTED = 120, 1,
        "Apache's parent started a process of an auth daemon group: its pid, uid and gid, and the back-off it waits when it replaces one that ended (info).",
        "None.";
    DAEMON_PROCESS_ENDED = 121, 2,
        "A process of an auth daemon group ended while Apache runs (a crash, the watchdog after an overrun, a failed start-up): the line says how long it lived and whether it exited with a status or was killed by a signal (number and name); another is started after a back-off of 0.1 s doubling to 10 s.",
        "Read the lines before it: AUTHNZ_WSGI0125 for an overrun (status 70), AUTHNZ_WSGI0124 for a process that could not start (status 78); a signal such as 11 (SIGSEGV) is a crash in C code the script ran.";
    DAEMON_FORK_FAILED = 122, 1,
        "Apache's parent could not fork a process of an auth daemon group; its calls wait for the others (or fail).",
        "Check the system's process and memory limits.";
    DAEMON_SOCKET_FAILED = 123, 1,
        "The Unix socket of an auth daemon group could not be made (bound, given its mode and owner, put in place); start-up stops.",
        "Check that DefaultRuntimeDir exists and is writable by root, and that no other file has the socket's name.";
    DAEMON_SETUP_FAILED = 124, 2,
        "A daemon process could not become its group's account, or Python could not start in it; it ends and is started again with back-off.",
        "Read the reason: an account that cannot be used, a python-home= that is no Python home or a virtualenv of another version.";
    DAEMON_CALL_OVERRAN = 125, 1,
        "A call in an auth daemon ran past its time limit and 0.5 s (a script stuck in C code, which Python's time limit cannot stop); the daemon process ended itself and is replaced.",
        "Make the script faster or raise call-timeout=; the Apache child has answered that request 500.";
    DAEMON_FRAME_REFUSED = 126, 1,
        "A connection to an auth daemon came from another account than Apache's User or root, or sent something that is not a well-formed request (wrong version, oversized, garbage, or a frame that stopped half-way for 10 s); that connection was closed, the others are served.",
        "Only Apache's children (and root) can connect: find what else connected to the socket.";
    DAEMON_REPLY_TOO_LARGE = 127, 1,
        "An auth daemon's answer could not be encoded (too many groups or too long a text); the call failed (500).",
        "Return fewer or shorter groups from groups_for_user.";
    DAEMON_GROUP_STOPPED = 128, 2,
        "The processes of an auth daemon group were stopped for a stop or a restart, and how long it took; at a graceful restart they finish their calls first (info).",
        "None; if processes had to be killed after the wait, look for calls without a time limit.";
    DAEMON_CALL_MADE_AGAIN = 129, 1,
        "A call reached a daemon process that was ending because another call in it overran its time limit (holding the GIL); it was made again, once, in another process of the group (debug).",
        "None; the overrunning call is named by AUTHNZ_WSGI0125.";
    DAEMON_REPLY_REFUSED = 119, 1,
        "An auth daemon's reply was malformed, answered another request, or the socket failed; the request is answered 500 and the connection is dropped.",
        "A bug or a daemon of another build: restart Apache so that children and daemons come from one build.";
    DAEMON_LINES_DROPPED = 130, 1,
        "A call in an auth daemon process logged more lines than one reply carries (1024); the rest were not sent to the Apache child.",
        "Make the script log less per call (a loop printing, a very long traceback).";
    DAEMON_CALL_PANICKED = 131, 1,
        "An internal error (a Rust panic) in an auth daemon process while it answered a call; the call is answered as an error (500).",
        "A bug: report it with the line and the daemon process's own lines around it.";
    DAEMON_BAD_CALL = 132, 1,
        "An auth daemon process was sent a call it cannot make (wrong number of arguments); answered as an error.",
        "A bug, or an Apache child and a daemon process of different builds: restart Apache.";
    DAEMON_REPLY_MISMATCH = 133, 1,
        "An auth daemon process answered a call with an answer of another function (a group list for check_password, say); the request is answered 500.",
        "A bug, or an Apache child and a daemon process of different builds: restart Apache.";
    DAEMON_ACCOUNT_UNREACHABLE = 134, 1,
        "Apache was not started as root, and a WSGIAuthDaemonProcess names a user= or group= other than the account Apache runs as: its processes could not become it; start-up stops (apache2 -t fails).",
        "Start Apache as root, or drop user= and group= (the processes then run as the account Apache runs as), or name that account.";
    DAEMON_ONE_PROCESS = 135, 1,
        "httpd runs as one process (-X, -DONE_PROCESS): the auth daemon processes were started, are not replaced if they end (AUTHNZ_WSGI0121 says so), and a cleanup process (authnz-cleanup) stops them and removes their sockets once httpd ends (notice).",
        "None; run httpd without -X for daemon processes that are replaced when they end.";
    DAEMON_CLEANUP_FAILED = 136, 2,
        "httpd runs as one process (-X) and the cleanup process of the auth daemons could not be forked (when httpd ends, daemon processes of another account than User and their socket files may be left behind), or the thread that reports daemon processes that end could not be started.",
        "Check the system's process and thread limits; stop the authnz-daemon processes and remove the socket files by hand.";
}

/// The tag with this number.
pub fn by_number(number: u16) -> Option<&'static Tag> {
    ALL.iter().find(|t| t.number == number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_are_unique() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert_ne!(a.number, b.number, "{} and {}", a.name, b.name);
                assert_ne!(a.name, b.name);
            }
        }
    }

    #[test]
    fn every_tag_says_what_it_means_and_what_to_do() {
        for tag in ALL {
            assert!(tag.sites >= 1 && tag.number < 10_000, "{tag:?}");
            assert!(
                tag.means.ends_with('.') && tag.action.ends_with('.'),
                "{tag:?}"
            );
        }
        assert_eq!(by_number(42).map(|t| t.name), Some("SCRIPT_RAISED"));
        assert!(by_number(9999).is_none());
    }
}
