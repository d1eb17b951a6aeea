"""Auth daemon groups beside mod_wsgi (docs/auth-daemons.md#beside-mod_wsgi):
mod_wsgi also parses the three script directives and refuses their
`process-group=`, so `WSGIAuthProcessGroup NAME` — a directive mod_wsgi
does not know — puts the scripts of its sections into a daemon group.

A small WSGI application is hosted by Debian's mod_wsgi (embedded and in
mod_wsgi's daemon mode) while `WSGIAuthProcessGroup` sends
`WSGIAuthUserScript` to an auth daemon group of this module, under event
and prefork: `apache2 -t` passes, good credentials reach the application
(200), bad ones get 401, and the script ran in an `authnz-daemon` process
under the group's account. Also: an unknown name fails `apache2 -t` with
file and line, an inner section sends its scripts back to the Apache child
with `%{GLOBAL}`, a script's own `process-group=` wins over the directive,
and the directive is refused in `.htaccess`.

Every test asserts the status, the error log and what the script saw."""

import os
import pwd
import re

import pytest

from harness import MODULE_DIR, MODULE_SO, Apache, access_for, child_pids

MOD_WSGI_SO = MODULE_DIR / "mod_wsgi.so"

APP = """\
import os

def application(environ, start_response):
    body = "app user=%s pid=%d\\n" % (environ.get("REMOTE_USER"), os.getpid())
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"""

SCRIPT = """
import os

def check_password(environ, user, password):
    with open("/proc/self/comm") as f:
        comm = f.read().strip()
    record(user=user, pid=os.getpid(), uid=os.getuid(), comm=comm,
           process_group=environ["mod_wsgi.process_group"], uri=environ["REQUEST_URI"])
    return password == user + "-pw"
"""

NOBODY = pwd.getpwnam("nobody").pw_uid
DAEMON = pwd.getpwnam("daemon").pw_uid
WWW_DATA = pwd.getpwnam("www-data").pw_uid

MPM_PROCESSES = {
    "event": "StartServers 1\nServerLimit 2\nMaxRequestWorkers 25\n",
    "prefork": "StartServers 2\nMinSpareServers 2\nMaxSpareServers 4\nServerLimit 4\n"
               "MaxRequestWorkers 4\n",
}


def mod_wsgi_conf(server, mode):
    """mod_wsgi hosting the application at /, embedded or in its daemon mode."""
    assert MOD_WSGI_SO.exists(), f"{MOD_WSGI_SO} is missing: install libapache2-mod-wsgi-py3"
    app = server.scripts / "app.wsgi"
    app.write_text(APP)
    os.chmod(app, 0o644)
    conf = (f'LoadModule wsgi_module "{MOD_WSGI_SO}"\n'
            f'WSGISocketPrefix "{server.dir}/run/wsgi"\n')
    if mode == "daemon":
        conf += ("WSGIDaemonProcess app processes=1 threads=4 display-name=%{GROUP}\n"
                 "WSGIProcessGroup app\n")
    conf += (f'WSGIApplicationGroup %{{GLOBAL}}\nWSGIScriptAlias / "{app}"\n'
             f'<Directory "{server.scripts}">\n  Require all granted\n</Directory>\n')
    return conf


def secret_location(path, script, inside="", options=""):
    return f"""
<Location {path}>
  AuthType Basic
  AuthName "secret"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"{options}
{inside}  Require valid-user
</Location>
"""


def make_server(name, mpm="event", mode="embedded", mod_wsgi=True, daemons=None):
    """A server with this module (and mod_wsgi hosting the application),
    the daemon groups `daemons` (name -> options) and the auth script;
    the caller writes `site_conf`."""
    daemons = daemons if daemons is not None else {"auth": "user=nobody group=nogroup"}
    server = Apache(name=name, mpm=mpm, load_authnz_wsgi=False,
                    server_conf=MPM_PROCESSES[mpm] + "LogLevel info authnz_wsgi:debug\n")
    server.script = server.write_script("auth.py", SCRIPT)
    records = server.record_dir / "calls.jsonl"
    records.touch()
    os.chmod(records, 0o666)
    conf = f'LoadModule authnz_wsgi_module "{MODULE_SO}"\n'
    if mod_wsgi:
        conf += mod_wsgi_conf(server, mode)
    for group, options in daemons.items():
        conf += f"WSGIAuthDaemonProcess {group} {options}\n"
    server.server_conf = conf + server.server_conf
    return server


def comm(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def tagged(server, number):
    return server.error_lines(f"AUTHNZ_WSGI{number:04d}:")


def line_of(server, needle):
    lines = server.conf_path.read_text().splitlines()
    (found,) = [i for i, l in enumerate(lines, 1) if needle in l]
    return found


def mod_wsgi_daemons(server):
    """mod_wsgi's daemon processes name themselves `(wsgi:GROUP)`."""
    found = set()
    for pid in child_pids(server.proc.pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().startswith(b"(wsgi:"):
                    found.add(pid)
        except OSError:
            pass
    return found


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_mod_wsgi_hosts_the_app_and_the_auth_script_runs_in_the_daemon_group(mpm, mode):
    server = make_server(f"beside-group-{mode}-{mpm}", mpm, mode)
    server.site_conf = secret_location("/secret", server.script, "  WSGIAuthProcessGroup auth\n")
    try:
        code, output = server.configtest()
        assert code == 0 and "Syntax OK" in output, output
        assert "Invalid option" not in output
        server.start(timeout=30)

        # The application, hosted by mod_wsgi, without auth.
        public = server.request("/public")
        assert public.status == 200 and public.body.startswith(b"app user=None"), public.body
        app_pid = int(public.body.split(b"pid=")[1])
        if mode == "daemon":
            assert app_pid in mod_wsgi_daemons(server), app_pid
        else:
            assert comm(app_pid) == "apache2", comm(app_pid)
        assert server.records() == []

        # Good credentials: the script runs in the auth daemon, the app answers.
        good = server.get_basic("/secret/a", "alice", "alice-pw")
        assert good.status == 200, (good, server.error_log()[-2000:])
        assert good.body.startswith(b"app user=alice "), good.body
        entry = access_for(server, "/secret/a")
        assert entry["status"] == 200 and entry["user"] == "alice", entry
        (call,) = server.records()
        assert call["user"] == "alice" and call["uri"] == "/secret/a"
        assert call["process_group"] == "auth" and call["uid"] == NOBODY, call
        assert call["comm"] == "authnz-daemon" and comm(call["pid"]) == "authnz-daemon", call
        assert call["pid"] in child_pids(server.proc.pid) and call["pid"] != app_pid

        # Bad credentials: 401, decided by the same daemon.
        bad = server.get_basic("/secret/b", "alice", "wrong")
        assert bad.status == 401 and b"app user=" not in bad.body
        assert access_for(server, "/secret/b")["status"] == 401
        calls = server.records()
        assert len(calls) == 2 and calls[1]["uri"] == "/secret/b"
        assert calls[1]["pid"] == call["pid"] and calls[1]["process_group"] == "auth"

        # No script runs in Apache's children: they leave Python to mod_wsgi.
        not_needed = tagged(server, 58)
        assert not_needed and "WSGIAuthProcessGroup" in not_needed[0], not_needed
        assert tagged(server, 3) == []
        errors = [l for l in server.error_log().splitlines()
                  if ":error]" in l or "exit signal" in l or "Fatal Python" in l]
        assert len(errors) == 1 and "AH01617: user alice: authentication failure for " \
            '"/secret/b": Password Mismatch' in errors[0], errors
    finally:
        server.cleanup()


def test_mod_wsgi_refuses_process_group_on_the_script_directives():
    """Why the directive exists: beside mod_wsgi, `process-group=` on a
    script directive fails `apache2 -t` in mod_wsgi's own handler."""
    server = make_server("beside-group-option")
    server.site_conf = secret_location("/secret", server.script, options=" process-group=auth")
    try:
        code, output = server.configtest()
        assert code != 0, output
        assert "Invalid option to WSGI auth user script definition." in output, output
    finally:
        server.cleanup()


@pytest.mark.parametrize("mod_wsgi", [True, False], ids=["beside-mod_wsgi", "alone"])
def test_unknown_group_fails_configtest_with_file_and_line(mod_wsgi):
    server = make_server("beside-group-unknown", mod_wsgi=mod_wsgi)
    server.site_conf = secret_location("/secret", server.script,
                                       "  WSGIAuthProcessGroup nosuch\n")
    try:
        code, output = server.configtest()
        assert code != 0 and "Syntax OK" not in output, output
        at = line_of(server, "WSGIAuthProcessGroup nosuch")
        (found,) = [l for l in output.splitlines() if "AUTHNZ_WSGI0112:" in l]
        assert (f"AUTHNZ_WSGI0112: WSGIAuthProcessGroup at {server.conf_path}:{at}: nosuch "
                "names no WSGIAuthDaemonProcess of this server") in found, output
        assert [l for l in output.splitlines() if "AUTHNZ_WSGI" in l] == [found], output
        # A real start stops with the same line and leaves no daemon socket.
        with pytest.raises(RuntimeError, match="AUTHNZ_WSGI0112: WSGIAuthProcessGroup at"):
            server.start(timeout=10)
        assert list((server.dir / "run").glob("authnz-wsgi.*")) == []
    finally:
        server.cleanup()


def test_group_defined_after_the_directive_passes():
    server = make_server("beside-group-late", daemons={})
    server.site_conf = (secret_location("/secret", server.script, "  WSGIAuthProcessGroup late\n")
                        + "WSGIAuthDaemonProcess late user=nobody\n")
    try:
        code, output = server.configtest()
        assert code == 0 and "Syntax OK" in output, output
        assert "AUTHNZ_WSGI0112" not in output
    finally:
        server.cleanup()


@pytest.mark.parametrize("value, expected", [
    ("%{SERVER}", "WSGIAuthProcessGroup %{SERVER} is not a form this module knows"),
    ("a b", "WSGIAuthProcessGroup takes one argument"),
    ("''", "WSGIAuthProcessGroup takes one argument"),
    ("%{global}", "WSGIAuthProcessGroup %{global} is not a form this module knows"),
])
def test_bad_values_are_syntax_errors_naming_the_line(value, expected):
    server = make_server("beside-group-bad")
    server.site_conf = secret_location("/secret", server.script,
                                       f"  WSGIAuthProcessGroup {value}\n")
    try:
        code, output = server.configtest()
        assert code != 0, output
        at = line_of(server, f"WSGIAuthProcessGroup {value}")
        m = re.search(r"Syntax error on line (\d+) of (\S+):\n(.*)", output)
        assert m and (int(m.group(1)), m.group(2)) == (at, str(server.conf_path)), output
        assert m.group(3).startswith(expected), output
    finally:
        server.cleanup()


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_an_inner_section_sends_its_scripts_back_to_the_apache_child(mpm):
    """`WSGIAuthProcessGroup auth` for the whole server, `%{GLOBAL}` in
    one `<Location>` inside: the same script runs in the daemon for
    /secret and embedded, in the Apache child, for /secret/open."""
    server = make_server(f"beside-group-inner-{mpm}", mpm)
    server.site_conf = ("WSGIAuthProcessGroup auth\n"
                        + secret_location("/secret", server.script)
                        + "<Location /secret/open>\n  WSGIAuthProcessGroup '%{GLOBAL}'\n"
                          "</Location>\n")
    try:
        code, output = server.configtest()
        assert code == 0 and "Syntax OK" in output, output
        server.start(timeout=30)
        outer = server.get_basic("/secret/x", "bob", "bob-pw")
        inner = server.get_basic("/secret/open/y", "bob", "bob-pw")
        refused = server.get_basic("/secret/open/z", "bob", "nope")
        assert (outer.status, inner.status, refused.status) == (200, 200, 401)
        assert inner.body.startswith(b"app user=bob "), inner.body
        daemon_call, child_call, refused_call = server.records()
        assert daemon_call["uri"] == "/secret/x" and daemon_call["process_group"] == "auth"
        assert daemon_call["comm"] == "authnz-daemon" and daemon_call["uid"] == NOBODY
        for call in (child_call, refused_call):
            assert call["process_group"] == "" and call["comm"] == "apache2", call
            assert call["uid"] == WWW_DATA and call["pid"] in child_pids(server.proc.pid)
        assert refused_call["uri"] == "/secret/open/z"
        # A script may run in the children: Python is used there (attached
        # to the interpreter mod_wsgi started), not left out.
        assert tagged(server, 58) == [] and tagged(server, 3), server.error_log()[-2000:]
    finally:
        server.cleanup()


def test_a_scripts_own_process_group_wins_over_the_directive():
    """Without mod_wsgi (which refuses `process-group=`): in a section with
    `WSGIAuthProcessGroup auth`, a script with `process-group=other` runs in
    `other`, one with `process-group=%{GLOBAL}` in the Apache child, one
    without runs in `auth`; and a `WSGIAuthProcessGroup` of an inner
    section applies to a script written in an outer one."""
    server = make_server("group-precedence", mod_wsgi=False,
                         daemons={"auth": "user=nobody group=nogroup",
                                  "other": "user=daemon group=daemon"})
    (server.docroot / "private" / "sub").mkdir()
    (server.docroot / "private" / "sub" / "index.html").write_text("sub\n")
    server.site_conf = "\n".join([
        "<Location /own>\n  WSGIAuthProcessGroup auth\n</Location>",
        secret_location("/own/other", server.script, options=" process-group=other"),
        secret_location("/own/global", server.script, options=" process-group=%{GLOBAL}"),
        secret_location("/own/none", server.script),
        secret_location("/private", server.script),
        "<Location /private/sub>\n  WSGIAuthProcessGroup other\n</Location>",
    ])
    try:
        code, output = server.configtest()
        assert code == 0 and "Syntax OK" in output, output
        for path in ("own/other", "own/global", "own/none"):
            (server.docroot / path).mkdir(parents=True)
            (server.docroot / path / "index.html").write_text(path + "\n")
        server.start()
        expected = {
            "/own/other/index.html": ("other", DAEMON, "authnz-daemon"),
            "/own/global/index.html": ("", WWW_DATA, "apache2"),
            "/own/none/index.html": ("auth", NOBODY, "authnz-daemon"),
            "/private/index.html": ("", WWW_DATA, "apache2"),
            "/private/sub/index.html": ("other", DAEMON, "authnz-daemon"),
        }
        for path, (group, uid, name) in expected.items():
            server.clear_records()
            resp = server.get_basic(path + "?good", "carol", "carol-pw")
            assert resp.status == 200, (path, resp, server.error_log()[-1500:])
            entry = access_for(server, path + "?good")
            assert entry["status"] == 200 and entry["user"] == "carol", entry
            (call,) = server.records()
            assert (call["process_group"], call["uid"], call["comm"]) == (group, uid, name), \
                (path, call)
            server.clear_records()
            assert server.get_basic(path + "?bad", "carol", "bad").status == 401
            assert access_for(server, path + "?bad")["status"] == 401
            (call,) = server.records()
            assert call["process_group"] == group, (path, call)
        assert tagged(server, 3), server.error_log()[-1500:]
    finally:
        server.cleanup()


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_refused_in_htaccess_and_the_script_never_runs(mpm):
    """As `process-group=` is: the request gets 500 with one line, and the
    script is not run in its stead."""
    server = make_server(f"group-htaccess-{mpm}", mpm, mod_wsgi=False)
    server.server_conf += "WSGIAuthAllowOverride On\n"
    ht = server.docroot / "ht"
    ht.mkdir()
    (ht / "index.html").write_text("behind .htaccess\n")
    (ht / ".htaccess").write_text(
        'AuthType Basic\nAuthName "ht"\nAuthBasicProvider wsgi\nWSGIAuthProcessGroup auth\n'
        f'WSGIAuthUserScript "{server.script}"\nRequire valid-user\n')
    server.site_conf = f'<Directory "{ht}">\n  AllowOverride AuthConfig\n</Directory>\n'
    try:
        server.start()
        resp = server.get_basic("/ht/index.html", "alice", "alice-pw")
        assert resp.status == 500 and b"behind .htaccess" not in resp.body
        lines = server.error_lines("WSGIAuthProcessGroup is not allowed in .htaccess files; "
                                   "name the daemon group in the server configuration")
        assert len(lines) == 1 and str(ht / ".htaccess") in lines[0], server.error_log()
        assert server.records() == []
        assert access_for(server, "/ht/index.html")["status"] == 500
    finally:
        server.cleanup()


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_set_at_the_top_of_a_virtual_host(mpm):
    """`WSGIAuthProcessGroup auth` at the top of a `<VirtualHost>` sends the
    scripts of that host's sections to the daemon group; the same section
    in another virtual host stays in the Apache child, which therefore
    starts Python (attached to mod_wsgi's)."""
    server = make_server(f"beside-group-vhost-{mpm}", mpm)
    location = secret_location("/secret", server.script).replace("\n", "\n  ")

    def vhost(name, inside=""):
        return (f"<VirtualHost 127.0.0.1:{server.port}>\n  ServerName {name}\n{inside}"
                f"  {location}\n</VirtualHost>\n")

    server.site_conf = (vhost("main.example")
                        + vhost("other.example", "  WSGIAuthProcessGroup auth\n"))
    try:
        code, output = server.configtest()
        assert code == 0 and "Syntax OK" in output, output
        server.start(timeout=30)
        main = server.get_basic("/secret/m", "dave", "dave-pw", headers={"Host": "main.example"})
        vhost = server.get_basic("/secret/v", "dave", "dave-pw",
                                 headers={"Host": "other.example"})
        refused = server.get_basic("/secret/w", "dave", "x", headers={"Host": "other.example"})
        assert (main.status, vhost.status, refused.status) == (200, 200, 401), \
            server.error_log()[-2000:]
        assert vhost.body.startswith(b"app user=dave "), vhost.body
        by_uri = {c["uri"]: c for c in server.records()}
        assert set(by_uri) == {"/secret/m", "/secret/v", "/secret/w"}
        assert (by_uri["/secret/m"]["process_group"], by_uri["/secret/m"]["comm"]) == \
            ("", "apache2")
        for uri in ("/secret/v", "/secret/w"):
            assert (by_uri[uri]["process_group"], by_uri[uri]["comm"], by_uri[uri]["uid"]) == \
                ("auth", "authnz-daemon", NOBODY), by_uri[uri]
        assert tagged(server, 58) == [] and tagged(server, 3)
    finally:
        server.cleanup()


def test_set_for_the_whole_server_the_children_need_no_python():
    """Without mod_wsgi: `WSGIAuthProcessGroup auth` at the top of the server
    configuration covers the script directives of every section, so the
    children do not start Python (AUTHNZ_WSGI0058) and the scripts run in
    the daemon."""
    server = make_server("group-whole-server", mod_wsgi=False)
    server.site_conf = ("WSGIAuthProcessGroup auth\n" + secret_location("/private", server.script)
                        + secret_location("/other", server.script))
    (server.docroot / "other").mkdir()
    (server.docroot / "other" / "index.html").write_text("other\n")
    try:
        server.start()
        assert server.get_basic("/private/index.html", "erin", "erin-pw").status == 200
        assert server.get_basic("/other/index.html", "erin", "nope").status == 401
        calls = server.records()
        assert [c["uri"] for c in calls] == ["/private/index.html", "/other/index.html"]
        assert all(c["process_group"] == "auth" and c["comm"] == "authnz-daemon"
                   and c["uid"] == NOBODY for c in calls), calls
        not_needed = tagged(server, 58)
        assert not_needed and all("WSGIAuthProcessGroup" in l for l in not_needed)
        assert tagged(server, 3) == []
    finally:
        server.cleanup()


def test_a_script_of_htaccess_runs_in_the_group_the_server_configuration_names():
    """`WSGIAuthAllowOverride On`: a script directive of `.htaccess` without
    `process-group=` runs where the server configuration's
    `WSGIAuthProcessGroup` says, under the daemon group's account."""
    server = make_server("group-htaccess-script", mod_wsgi=False)
    server.server_conf += "WSGIAuthAllowOverride On\n"
    ht = server.docroot / "ht"
    ht.mkdir()
    (ht / "index.html").write_text("behind .htaccess\n")
    (ht / ".htaccess").write_text(
        'AuthType Basic\nAuthName "ht"\nAuthBasicProvider wsgi\n'
        f'WSGIAuthUserScript "{server.script}"\nRequire valid-user\n')
    server.site_conf = (f'<Directory "{ht}">\n  AllowOverride AuthConfig\n'
                        "  WSGIAuthProcessGroup auth\n</Directory>\n")
    try:
        server.start()
        good = server.get_basic("/ht/index.html", "fay", "fay-pw")
        assert good.status == 200 and good.body == b"behind .htaccess\n"
        assert server.get_basic("/ht/index.html?bad", "fay", "bad").status == 401
        calls = server.records()
        assert len(calls) == 2 and all(c["process_group"] == "auth" and c["uid"] == NOBODY
                                       and c["comm"] == "authnz-daemon" for c in calls), calls
        entry = access_for(server, "/ht/index.html?bad")
        assert entry["status"] == 401 and entry["user"] == "fay", entry
    finally:
        server.cleanup()
