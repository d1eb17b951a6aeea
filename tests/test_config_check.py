"""Configuration-time checks (docs/migrating-from-mod_wsgi.md coexistence, docs/directives.md): `apache2 -t` rejects
bad script directives with httpd's "Syntax error on line N of FILE:" and our
message; mod_wsgi next to this module is refused; the script directives in
`.htaccess` need `WSGIAuthAllowOverride On`; a relative script path is
ServerRoot-relative."""

import os

import pytest

from harness import (CONFIG_SCRIPTS, MODULE_DIR, MODULE_SO, Apache, basic_header, basic_location,
                     config_check_server)

MOD_WSGI_SO = MODULE_DIR / "mod_wsgi.so"
MOD_PYTHON_SO = MODULE_DIR / "mod_python.so"


@pytest.fixture(scope="module")
def server():
    """A config directory that is only ever checked with `apache2 -t`."""
    srv = config_check_server("confcheck")
    yield srv
    srv.cleanup()


def syntax_error(server, directive, server_level=False):
    """Run `apache2 -t` with `directive` in a <Location> (or at server level);
    return the message httpd printed after "Syntax error on line N of FILE:",
    having checked that N and FILE are the directive's own line and the
    config file."""
    server.site_conf = directive + "\n" if server_level else basic_location(directive)
    return server.syntax_error(directive)


def test_valid_script_passes(server):
    """The control case: the same Location with a good script is accepted, so
    the failures below come from the faulty part alone."""
    server.site_conf = basic_location(f'WSGIAuthUserScript "{server.good}" application-group=app1')
    code, output = server.configtest()
    assert code == 0 and "Syntax OK" in output, output


def test_missing_script(server):
    missing = server.dir / "no-such-script.py"
    message = syntax_error(server, f'WSGIAuthUserScript "{missing}"')
    assert message.startswith("WSGIAuthUserScript")
    assert f"'{missing}'" in message
    assert "No such file or directory" in message


def test_empty_path(server):
    # httpd's TAKE_ARGV stops at an empty word, so the directive sees no
    # argument at all; the message must still say a script path is needed.
    message = syntax_error(server, 'WSGIAuthUserScript ""')
    assert message.startswith("WSGIAuthUserScript")
    assert "script path" in message


def test_blank_path(server):
    message = syntax_error(server, 'WSGIAuthUserScript "   "')
    assert "WSGIAuthUserScript: the script path is empty" in message


def root_only_script(server):
    secret = server.write_script("root-only.py", (CONFIG_SCRIPTS / "check_password.py").read_text())
    os.chown(secret, 0, 0)
    os.chmod(secret, 0o600)
    # root (running apache2 -t) can read it; www-data cannot.
    assert os.access(secret, os.R_OK)
    return secret


def assert_not_readable_line(server, output, secret):
    """One line naming the directive's file and line, the script and the
    user, written once the whole configuration was read."""
    lines = server.conf_path.read_text().splitlines()
    at = next(i for i, l in enumerate(lines, 1) if str(secret) in l)
    (line,) = [l for l in output.splitlines() if "AUTHNZ_WSGI0025" in l]
    assert (f"AUTHNZ_WSGI0025: WSGIAuthUserScript at {server.conf_path}:{at}: script "
            f"'{secret}' is not readable by the user Apache's children run as (www-data)") in line, \
        output
    assert "Syntax OK" not in output


def test_script_not_readable_by_child_user(server):
    secret = root_only_script(server)
    server.site_conf = basic_location(f'WSGIAuthUserScript "{secret}"')
    code, output = server.configtest()
    assert code != 0, output
    assert_not_readable_line(server, output, secret)


def config_with_user_last(server):
    """The harness's configuration with `User`/`Group` moved after the
    site's sections, as many hand-written configurations have them."""
    user_lines = "User www-data\nGroup www-data\n"
    text = Apache.config_text(server)
    assert user_lines in text
    return text.replace(user_lines, "") + user_lines


def test_script_not_readable_is_found_when_user_comes_after_the_directive(server):
    secret = root_only_script(server)
    server.site_conf = basic_location(f'WSGIAuthUserScript "{secret}"')
    server.config_text = lambda: config_with_user_last(server)
    try:
        code, output = server.configtest()
        assert server.conf_path.read_text().rstrip().endswith("Group www-data")
        assert code != 0, output
        assert_not_readable_line(server, output, secret)
        # A script the children can read passes in the same layout.
        server.site_conf = basic_location(f'WSGIAuthUserScript "{server.good}"')
        code, output = server.configtest()
        assert code == 0 and "Syntax OK" in output, output
    finally:
        del server.config_text


def test_script_not_readable_stops_start_up():
    srv = Apache(name="unreadable")
    try:
        secret = root_only_script(srv)
        srv.site_conf = basic_location(f'WSGIAuthUserScript "{secret}"')
        srv.config_text = lambda: config_with_user_last(srv)
        with pytest.raises(RuntimeError) as failed:
            srv.start()
        assert_not_readable_line(srv, str(failed.value), secret)
    finally:
        srv.cleanup()


def test_directory_instead_of_file(server):
    directory = server.dir / "a-directory"
    directory.mkdir(exist_ok=True)
    message = syntax_error(server, f'WSGIAuthUserScript "{directory}"')
    assert f"'{directory}' is not a regular file" in message


def test_unknown_option(server):
    message = syntax_error(server, f'WSGIAuthUserScript "{server.good}" foo=bar')
    assert "unknown option 'foo'" in message


def test_process_group_option_needs_a_name(server):
    """process-group=NAME names a WSGIAuthDaemonProcess (tests/test_auth_daemon.py
    checks the name); an empty one is a syntax error at the directive."""
    message = syntax_error(server, f'WSGIAuthUserScript "{server.good}" process-group=')
    assert "process-group= needs the name of a WSGIAuthDaemonProcess" in message


def test_malformed_option(server):
    message = syntax_error(server, f'WSGIAuthUserScript "{server.good}" application-group')
    assert "malformed option 'application-group'" in message


def test_script_reloading_bad_flag(server):
    message = syntax_error(server, "WSGIScriptReloading maybe")
    assert "WSGIScriptReloading" in message and "'maybe'" in message
    assert "On or Off" in message


def test_python_home_that_is_not_a_directory(server):
    missing = server.dir / "no-such-python-home"
    message = syntax_error(server, f'WSGIPythonHome "{missing}"', server_level=True)
    assert f"WSGIPythonHome: '{missing}' is not a directory" in message


@pytest.mark.parametrize("directive", ["WSGIPythonHome {dir}", "WSGIPythonPath {dir}",
                                       "WSGIMaxConcurrentCalls 4"])
def test_per_process_directives_are_refused_in_a_virtual_host(server, directive):
    # One interpreter per child: a virtual host's value could not take effect.
    line = directive.format(dir=server.dir)
    server.site_conf = f"<VirtualHost 127.0.0.1:{server.port}>\n  {line}\n</VirtualHost>\n"
    code, output = server.configtest()
    assert code != 0, output
    lines = server.conf_path.read_text().splitlines()
    expected_line = next(i for i, l in enumerate(lines, 1) if l.strip() == line)
    assert f"Syntax error on line {expected_line} of {server.conf_path}:" in output, output
    assert "cannot occur within <VirtualHost> section" in output, output
    # The same line at server level is accepted.
    server.site_conf = line + "\n"
    code, output = server.configtest()
    assert code == 0, output


def test_script_directive_at_server_level_is_refused(server):
    # Directory context only: httpd itself says where it may be used.
    message = syntax_error(server, f'WSGIAuthUserScript "{server.good}"', server_level=True)
    assert "WSGIAuthUserScript" in message and "not allowed here" in message


def test_relative_missing_script_is_resolved_against_server_root(server):
    message = syntax_error(server, "WSGIAuthUserScript scripts/absent.py")
    assert f"'{server.dir}/scripts/absent.py'" in message


# ---- other Python embedders in the same server -----------------------------------------------

def embedder_server(module_line, order):
    ours = f'LoadModule authnz_wsgi_module "{MODULE_SO}"'
    lines = [ours, module_line] if order == "authnz_wsgi-first" else [module_line, ours]
    srv = Apache(name="coexist", load_authnz_wsgi=False, server_conf="\n".join(lines) + "\n")
    script = srv.write_script("good.py", (CONFIG_SCRIPTS / "check_password.py").read_text())
    srv.site_conf = basic_location(f'WSGIAuthUserScript "{script}"')
    return srv


@pytest.mark.parametrize("order", ["authnz_wsgi-first", "mod_wsgi-first"])
def test_mod_wsgi_loaded_too_is_accepted(order):
    """Beside mod_wsgi (which defines WSGIAuthUserScript too) the
    configuration is accepted in either order; tests/test_beside_mod_wsgi.py
    runs such servers."""
    assert MOD_WSGI_SO.exists(), (
        f"{MOD_WSGI_SO} is missing: this test needs Debian's libapache2-mod-wsgi-py3 package "
        "(apt-get install libapache2-mod-wsgi-py3)"
    )
    srv = embedder_server(f'LoadModule wsgi_module "{MOD_WSGI_SO}"', order)
    try:
        code, output = srv.configtest()
        assert code == 0 and "Syntax OK" in output, output
        assert "AUTHNZ_WSGI0002" not in output
    finally:
        srv.cleanup()


@pytest.mark.parametrize("order", ["authnz_wsgi-first", "mod_python-first"])
def test_mod_python_loaded_too_is_refused(order):
    assert MOD_PYTHON_SO.exists(), (
        f"{MOD_PYTHON_SO} is missing: this test needs Debian's libapache2-mod-python package"
    )
    srv = embedder_server(f'LoadModule python_module "{MOD_PYTHON_SO}"',
                          "authnz_wsgi-first" if order == "authnz_wsgi-first" else "other-first")
    try:
        code, output = srv.configtest()
        assert code != 0, output
        assert "Syntax OK" not in output
        ours_lines = [l for l in output.splitlines() if "AUTHNZ_WSGI0002" in l]
        assert len(ours_lines) == 1, output
        assert "[authnz_wsgi:emerg]" in ours_lines[0]
        assert "mod_python.c" in ours_lines[0] and "mod_authnz_wsgi" in ours_lines[0]
        assert "LoadModule" in ours_lines[0]
        # Nothing else complains: the one message is the whole story.
        others = [l for l in output.splitlines()
                  if l.strip() and "AUTHNZ_WSGI0002" not in l and "Pre-configuration failed" not in l]
        assert others == [], output
    finally:
        srv.cleanup()


# ---- .htaccess -----------------------------------------------------------------------------

ONE_CHILD = "StartServers 1\nServerLimit 1\n"


def htaccess_server(name, server_conf=""):
    srv = Apache(name=name, server_conf=ONE_CHILD + server_conf)
    script = srv.write_script("ht.py", (CONFIG_SCRIPTS / "check_password.py").read_text())
    ht = srv.docroot / "ht"
    ht.mkdir()
    (ht / "index.html").write_text("behind .htaccess\n")
    (ht / ".htaccess").write_text(
        "AuthType Basic\n"
        'AuthName "ht"\n'
        "AuthBasicProvider wsgi\n"
        f'WSGIAuthUserScript "{script}"\n'
        "Require valid-user\n"
    )
    srv.site_conf = f"""
<Directory "{ht}">
  AllowOverride AuthConfig
</Directory>
"""
    return srv


def test_htaccess_script_refused_by_default():
    srv = htaccess_server("htaccess-off")
    try:
        srv.start()
        resp = srv.get_basic("/ht/index.html", "alice", "alice-pw")
        assert resp.status == 500
        assert b"behind .htaccess" not in resp.body
        assert srv.last_access(500)["status"] == 500
        lines = srv.error_lines("not allowed in .htaccess")
        assert len(lines) == 1, srv.error_log()
        assert "WSGIAuthUserScript" in lines[0]
        assert "WSGIAuthAllowOverride On" in lines[0]
        assert str(srv.docroot / "ht" / ".htaccess") in lines[0]
        # The script never ran.
        assert srv.records("calls") == []
        assert srv.error_lines("AUTHNZ_WSGI0024") == []
    finally:
        srv.cleanup()


def test_htaccess_script_allowed_with_override_on():
    srv = htaccess_server("htaccess-on", server_conf="WSGIAuthAllowOverride On\n")
    try:
        srv.start()
        ok = srv.get_basic("/ht/index.html", "alice", "alice-pw")
        assert ok.status == 200 and ok.body == b"behind .htaccess\n"
        bad = srv.get_basic("/ht/index.html", "alice", "wrong")
        assert bad.status == 401
        # Each line is written after its response, so the two may swap.
        entries = srv.wait_access(2)
        assert sorted((e["status"], e["user"]) for e in entries) == [(200, "alice"), (401, "alice")]
        assert srv.records("calls") == [
            {"user": "alice", "password": "alice-pw", "uri": "/ht/index.html"},
            {"user": "alice", "password": "wrong", "uri": "/ht/index.html"},
        ]
        assert len(srv.error_lines("AUTHNZ_WSGI0024")) == 1
        assert srv.error_lines("not allowed in .htaccess") == []
    finally:
        srv.cleanup()


def test_htaccess_override_is_inherited_by_virtual_hosts_and_can_be_turned_off():
    srv = htaccess_server("htaccess-vhosts", server_conf="WSGIAuthAllowOverride On\n")
    try:
        srv.site_conf += f"""
<VirtualHost 127.0.0.1:{srv.port}>
  ServerName inherits.test
  DocumentRoot "{srv.docroot}"
</VirtualHost>
<VirtualHost 127.0.0.1:{srv.port}>
  ServerName refuses.test
  DocumentRoot "{srv.docroot}"
  WSGIAuthAllowOverride Off
</VirtualHost>
"""
        srv.start()

        def get(host, password):
            return srv.request("/ht/index.html", headers={
                "Host": host, "Authorization": basic_header("alice", password)}).status

        assert [get("inherits.test", "alice-pw"), get("inherits.test", "bad")] == [200, 401]
        assert get("refuses.test", "alice-pw") == 500
        assert [c["password"] for c in srv.records("calls")] == ["alice-pw", "bad"]
        (refused,) = srv.error_lines("not allowed in .htaccess")
        assert "WSGIAuthAllowOverride On" in refused
    finally:
        srv.cleanup()


# ---- relative path --------------------------------------------------------------------------

def test_relative_script_path_is_server_root_relative():
    srv = Apache(name="relative", server_conf=ONE_CHILD)
    try:
        srv.write_script("rel.py", (CONFIG_SCRIPTS / "check_password.py").read_text())
        srv.site_conf = basic_location("WSGIAuthUserScript scripts/rel.py")
        code, output = srv.configtest()
        assert code == 0, output
        # The server is started from another directory, so only ServerRoot
        # can make the relative path resolve.
        cwd = os.getcwd()
        os.chdir("/")
        try:
            srv.start()
        finally:
            os.chdir(cwd)
        assert srv.get_basic("/private/", "alice", "alice-pw").status == 200
        assert srv.get_basic("/private/", "alice", "nope").status == 401
        assert [c["password"] for c in srv.records("calls")] == ["alice-pw", "nope"]
        loaded = srv.error_lines("AUTHNZ_WSGI0024")
        assert len(loaded) == 1 and f"'{srv.scripts}/rel.py'" in loaded[0], srv.error_log()
    finally:
        srv.cleanup()


def test_httpd_knows_the_module_by_its_file_name():
    """The record's start comes from httpd's STANDARD20_MODULE_STUFF (the C
    shim, compiled against the installed headers): httpd accepts the
    record's magic cookie and MMN, and knows the module as
    mod_authnz_wsgi.c, as <IfModule> and hook ordering name it."""
    srv = Apache(name="module-name",
                 site_conf='<IfModule mod_authnz_wsgi.c>\n  Error "known as mod_authnz_wsgi.c"\n'
                           '</IfModule>\n')
    try:
        code, output = srv.configtest()
        assert code != 0 and "known as mod_authnz_wsgi.c" in output, output
        srv.site_conf = '<IfModule !mod_authnz_wsgi.c>\n  Error "unknown"\n</IfModule>\n'
        code, output = srv.configtest()
        assert code == 0 and "Syntax OK" in output, output
    finally:
        srv.cleanup()
