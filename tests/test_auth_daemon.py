"""Auth daemon groups (docs/auth-daemons.md): `WSGIAuthDaemonProcess NAME
[options]` at server level and `process-group=NAME` on the three script
directives. Such a configuration is checked at `apache2 -t` and start-up:
option values, unique names, names every `process-group=` refers to,
accounts (never root), socket path lengths. One that passes starts
(tests/test_auth_daemon_processes.py runs the processes)."""

import re

import pytest

from harness import CONFIG_SCRIPTS, Apache, basic_location, config_check_server

DIRECTIVES = ["WSGIAuthUserScript", "WSGIAuthGroupScript", "WSGIAccessScript"]


@pytest.fixture(scope="module")
def server():
    """A config directory that is only ever checked with `apache2 -t`."""
    srv = config_check_server("daemoncheck")
    yield srv
    srv.cleanup()


def configtest(server, server_level, script_line=None):
    server.site_conf = server_level + "\n" + (basic_location(script_line) if script_line else "")
    return server.configtest()


def tagged_lines(output, tag):
    return [line for line in output.splitlines() if f"AUTHNZ_WSGI{tag:04}:" in line]


def syntax_error(server, server_level, directive_line):
    """`apache2 -t` fails at `directive_line` with httpd's "Syntax error on
    line N of FILE:"; returns the message after it."""
    server.site_conf = server_level + "\n"
    return server.syntax_error(directive_line)


def line_number(server, needle):
    lines = server.conf_path.read_text().splitlines()
    return next(i for i, l in enumerate(lines, 1) if needle in l)


def test_configuration_without_daemons_is_unchanged(server):
    """The control case: no WSGIAuthDaemonProcess, no process-group=: the
    scripts run in Apache's children as before."""
    code, output = configtest(server, "", f'WSGIAuthUserScript "{server.good}"')
    assert code == 0 and "Syntax OK" in output, output
    assert "AUTHNZ_WSGI011" not in output


@pytest.mark.parametrize("directive", DIRECTIVES)
def test_unknown_process_group_is_one_clear_line(server, directive):
    line = f'{directive} "{server.good}" process-group=nosuch'
    code, output = configtest(server, "WSGIAuthDaemonProcess other", line)
    assert code != 0, output
    at = line_number(server, "process-group=nosuch")
    (found,) = tagged_lines(output, 112)
    assert (f"AUTHNZ_WSGI0112: {directive} at {server.conf_path}:{at}: process-group=nosuch "
            "names no WSGIAuthDaemonProcess of this server") in found, output
    # Only that line.
    assert [l for l in output.splitlines() if "AUTHNZ_WSGI" in l] == [found], output
    assert "Syntax OK" not in output


def test_process_group_may_name_a_group_defined_later(server):
    """The name is looked up once the whole configuration is read."""
    server.site_conf = (basic_location(f'WSGIAuthUserScript "{server.good}" process-group=late')
                        + "\nWSGIAuthDaemonProcess late\n")
    code, output = server.configtest()
    assert code == 0 and "Syntax OK" in output, output
    assert tagged_lines(output, 112) == [], output


def test_duplicate_name_is_refused_naming_the_first(server):
    message = syntax_error(server, "WSGIAuthDaemonProcess twice\nWSGIAuthDaemonProcess twice "
                           "processes=2", "WSGIAuthDaemonProcess twice processes=2")
    first = line_number(server, "WSGIAuthDaemonProcess twice")
    assert message == (f"WSGIAuthDaemonProcess: the name 'twice' is already defined at "
                       f"{server.conf_path}:{first}; daemon group names are unique in the whole "
                       "server"), message


def test_duplicate_name_across_virtual_hosts(server):
    vhost = "<VirtualHost 127.0.0.1:*>\n  ServerName other.example\n" \
            "  WSGIAuthDaemonProcess a threads=2\n</VirtualHost>"
    message = syntax_error(server, "WSGIAuthDaemonProcess a\n" + vhost,
                           "WSGIAuthDaemonProcess a threads=2")
    assert "the name 'a' is already defined" in message, message


@pytest.mark.parametrize("options, expected", [
    ("", "takes a name and options"),
    ("a/b", "letters, digits"),
    ("a processes=0", "processes=0: write a whole number from 1 to 64"),
    ("a threads=lots", "threads=lots: write a whole number from 1 to 1000"),
    ("a call-timeout=-1", "call-timeout=-1: write a whole number from 0 to 86400"),
    ("a user=", "user= needs a user name or #uid"),
    ("a colour=blue", "unknown option 'colour'"),
    ("a processes", "malformed option 'processes'"),
    ("a threads=2 threads=3", "option 'threads' is given twice"),
    ("a python-home=/no/such/dir", "python-home='/no/such/dir' is not a directory"),
])
def test_bad_option_values_fail_configtest(server, options, expected):
    line = f"WSGIAuthDaemonProcess {options}".rstrip()
    message = syntax_error(server, line, line)
    assert message.startswith("WSGIAuthDaemonProcess"), message
    assert expected in message, message


def test_not_allowed_inside_a_location(server):
    server.site_conf = "<Location /x>\n  WSGIAuthDaemonProcess inner\n</Location>\n"
    code, output = server.configtest()
    assert code != 0, output
    assert "WSGIAuthDaemonProcess not allowed in <Location> context" in output, output


@pytest.mark.parametrize("options, expected", [
    ("user=root", "user=root is root; daemon processes never run as root"),
    ("user=#0", "user=#0 is root; daemon processes never run as root"),
    ("user=no-such-user-xyz", "user=no-such-user-xyz is not a user of this system"),
    ("user=nobody group=no-such-group-xyz", "group=no-such-group-xyz is not a group"),
    ("user=nobody group=root", "group=root is root's group"),
])
def test_accounts_are_checked_and_root_refused(server, options, expected):
    code, output = configtest(server, f"WSGIAuthDaemonProcess acct {options}")
    assert code != 0, output
    at = line_number(server, "WSGIAuthDaemonProcess acct")
    (found,) = tagged_lines(output, 113)
    assert f"AUTHNZ_WSGI0113: WSGIAuthDaemonProcess acct at {server.conf_path}:{at}: " \
           f"{expected}" in found, output


def test_socket_path_too_long_is_refused(server):
    deep = server.dir / ("r" * 60) / ("u" * 20)
    deep.mkdir(parents=True, exist_ok=True)
    name = "n" * 30
    code, output = configtest(server, f'DefaultRuntimeDir "{deep}"\n'
                                      f"WSGIAuthDaemonProcess {name} user=nobody")
    assert code != 0, output
    (found,) = tagged_lines(output, 114)
    assert f"WSGIAuthDaemonProcess {name} at {server.conf_path}:" in found, output
    assert "a Unix socket path has at most 107" in found, output
    assert "DefaultRuntimeDir" in found, output


@pytest.mark.parametrize("directive", DIRECTIVES)
def test_a_valid_daemon_configuration_passes(server, directive):
    """Every check passes: `apache2 -t` says Syntax OK and logs nothing of
    the daemon groups."""
    line = f'{directive} "{server.good}" process-group=auth application-group=%{{SERVER}}'
    code, output = configtest(server, "WSGIAuthDaemonProcess auth user=nobody group=nogroup "
                              "processes=2 threads=4 call-timeout=2", line)
    assert code == 0 and "Syntax OK" in output, output
    assert not re.search(r"AUTHNZ_WSGI01[1-2]\d:", output), output


def test_a_defined_but_unused_group_passes(server):
    code, output = configtest(server, "WSGIAuthDaemonProcess idle user=nobody",
                              f'WSGIAuthUserScript "{server.good}"')
    assert code == 0 and "Syntax OK" in output, output


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_a_refused_configuration_does_not_start(mpm):
    """Not only `apache2 -t`: a real start stops with the same line, and no
    daemon process or socket is left behind."""
    srv = Apache(name="daemonstart", mpm=mpm)
    try:
        good = srv.write_script("good.py", (CONFIG_SCRIPTS / "check_password.py").read_text())
        srv.site_conf = ("WSGIAuthDaemonProcess auth user=nobody\n"
                         + basic_location(f'WSGIAuthUserScript "{good}" process-group=nosuch'))
        with pytest.raises(RuntimeError, match="AUTHNZ_WSGI0112: WSGIAuthUserScript"):
            srv.start(timeout=10)
        assert list((srv.dir / "run").glob("authnz-wsgi.*")) == []
    finally:
        srv.stop()
        srv.cleanup()


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_process_group_in_htaccess_is_refused_and_the_script_never_runs(mpm):
    """`.htaccess` cannot send a script to a daemon group: the request gets
    500 with one line, and the script is not run embedded in its stead."""
    srv = Apache(name="daemon-htaccess", mpm=mpm,
                 server_conf="StartServers 1\nServerLimit 1\nWSGIAuthAllowOverride On\n")
    try:
        script = srv.write_script("ht.py", (CONFIG_SCRIPTS / "check_password.py").read_text())
        ht = srv.docroot / "ht"
        ht.mkdir()
        (ht / "index.html").write_text("behind .htaccess\n")
        (ht / ".htaccess").write_text(
            'AuthType Basic\nAuthName "ht"\nAuthBasicProvider wsgi\n'
            f'WSGIAuthUserScript "{script}" process-group=auth\nRequire valid-user\n')
        srv.site_conf = f'<Directory "{ht}">\n  AllowOverride AuthConfig\n</Directory>\n'
        srv.start()
        resp = srv.get_basic("/ht/index.html", "alice", "alice-pw")
        assert resp.status == 500
        assert b"behind .htaccess" not in resp.body
        lines = srv.error_lines("process-group= is not allowed in .htaccess files")
        assert len(lines) == 1, srv.error_log()
        assert str(ht / ".htaccess") in lines[0]
        assert srv.records("calls") == []
    finally:
        srv.cleanup()
