"""Start-up checks of how the module's directives are combined with httpd's
(docs/directives.md): a section that uses the module with no `AuthType`,
or with `AuthType Basic` and no `AuthBasicProvider`, gets one warning
naming the section (`apache2 -t` passes: a `<Directory>` and a `<Location>`
may complete each other at request time); a `Require wsgi-group` whose
section certainly gets no `WSGIAuthGroupScript` fails `apache2 -t` and
start-up with one line naming the `Require` line and its section."""

import pytest

from harness import Apache

SCRIPT = """
def check_password(environ, user, password):
    record(user=user)
    return password == "pw"

def groups_for_user(environ, user):
    record("groups", user=user)
    return ["staff"]
"""


@pytest.fixture
def server():
    srv = Apache(name="authsetup")
    srv.script = srv.write_script("auth.py", SCRIPT)
    (srv.docroot / "team").mkdir()
    (srv.docroot / "team" / "index.html").write_text("team\n")
    yield srv
    srv.cleanup()


def line_of(server, text):
    lines = server.conf_path.read_text().splitlines()
    return next(i for i, l in enumerate(lines, 1) if l.strip() == text)


def tagged(output, tag):
    return [l for l in output.splitlines() if tag in l]


NO_AUTH_TYPE = """
<Location /private>
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
  Require valid-user
</Location>
"""

NO_PROVIDER = """
<Location /private>
  AuthType Basic
  AuthName "private"
  WSGIAuthUserScript "{script}"
  Require valid-user
</Location>
"""


@pytest.mark.parametrize("site,problem,apache_says", [
    (NO_AUTH_TYPE, "uses WSGIAuthUserScript but has no AuthType", "AuthType not set"),
    (NO_PROVIDER, "uses WSGIAuthUserScript with AuthType Basic but has no AuthBasicProvider",
     "AuthUserFile not specified"),
])
def test_incomplete_auth_setup_is_named_at_start(server, site, problem, apache_says):
    server.site_conf = site.format(script=server.script)
    code, output = server.configtest()
    section = line_of(server, "<Location /private>")
    expected = f"<Location /private> at {server.conf_path}:{section} {problem}"
    assert code == 0 and "Syntax OK" in output, output
    (line,) = tagged(output, "AUTHNZ_WSGI0104")
    assert expected in line and "[authnz_wsgi:warn]" in line, output

    with server:
        (line,) = server.error_lines("AUTHNZ_WSGI0104")
        assert expected in line, server.error_log()
        # What a request then gets: Apache's own error, no call of the script.
        assert server.get_basic("/private/index.html", "ann", "pw").status == 500
        assert server.records() == []
        assert server.error_lines(apache_says), server.error_log()


def test_complete_setup_gets_no_warning(server):
    server.site_conf = NO_PROVIDER.format(script=server.script).replace(
        '  AuthName "private"\n', '  AuthName "private"\n  AuthBasicProvider wsgi\n')
    code, output = server.configtest()
    assert code == 0 and "AUTHNZ_WSGI" not in output, output


GROUP_WITHOUT_SCRIPT = """
<Location /private>
  AuthType Basic
  AuthName "private"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
  WSGIAuthGroupScript "{script}"
  Require wsgi-group staff
</Location>
<Location /team>
  AuthType Basic
  AuthName "team"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{script}"
  Require wsgi-group staff
</Location>
"""


def test_require_wsgi_group_without_a_group_script_fails_apache2_t(server):
    server.site_conf = GROUP_WITHOUT_SCRIPT.format(script=server.script)
    code, output = server.configtest()
    assert code != 0 and "Syntax OK" not in output, output
    require = [i for i, l in enumerate(server.conf_path.read_text().splitlines(), 1)
               if l.strip() == "Require wsgi-group staff"][1]
    section = line_of(server, "<Location /team>")
    (line,) = tagged(output, "AUTHNZ_WSGI0105")
    assert (f"AUTHNZ_WSGI0105: 'Require wsgi-group staff' at {server.conf_path}:{require} in "
            f"<Location /team> ({server.conf_path}:{section}): no WSGIAuthGroupScript applies "
            "there") in line, output
    assert "add WSGIAuthGroupScript to the section" in line

    with pytest.raises(RuntimeError) as failed:
        server.start()
    assert "AUTHNZ_WSGI0105: 'Require wsgi-group staff'" in str(failed.value)


def test_group_script_of_a_covering_location_is_accepted(server):
    # /private's script also applies under /private/team: not certain.
    server.site_conf = GROUP_WITHOUT_SCRIPT.format(script=server.script).replace(
        "<Location /team>", "<Location /private/team>")
    code, output = server.configtest()
    assert code == 0 and "AUTHNZ_WSGI0105" not in output, output
