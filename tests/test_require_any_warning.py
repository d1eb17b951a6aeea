"""The group recipe that admits every valid user (docs/authorization.md#the-requireany-trap): several Require
lines directly in a section form an implicit <RequireAny>, so the recipes of
mod_wsgi's documentation (`Require wsgi-group` next to `Require valid-user`)
and of Django's (`Require group` next to it, with WSGIAuthGroupScript) let
every valid user in. `apache2 -t` and start-up log one AUTHNZ_WSGI0103
warning per such section, naming file and line of the section and of each
Require line, and the fix. Lines in <RequireAll>, lines in different
sections, AuthMerging, and `WSGIWarnRequireAny Off` give none. Each recipe
is also run, to show the warning is about a real hole."""

import re
import subprocess

import pytest

from harness import Apache, basic_header

TAG = "AUTHNZ_WSGI0103"

SCRIPT = """
def check_password(environ, user, password):
    record("check_password", user=user)
    return password == user + "-pw"

def groups_for_user(environ, user):
    record("groups_for_user", user=user)
    if user == 'spy':
        return ['secret-agents']
    return ['']
"""


def warnings(text):
    return [l for l in text.splitlines() if TAG in l]


def line_of(path, text, after=0):
    """The 1-based number of the first line of `path` that is `text`
    (stripped), after line `after`."""
    lines = path.read_text().splitlines()
    return next(i for i, l in enumerate(lines, 1) if i > after and l.strip() == text)


def cited(path, text, after=0):
    return f"'{text}' ({path}:{line_of(path, text, after)})"


def make(name, site, modules=(), server_conf=""):
    srv = Apache(name=name, modules=list(modules), server_conf=server_conf)
    srv.script = srv.write_script("auth.wsgi", SCRIPT)
    srv.site_conf = site(srv)
    return srv


def check_once_in_configtest_and_start_up(srv, expected_parts):
    """One warning under apache2 -t, one at start-up (httpd reads the
    configuration twice there), one more after a graceful restart; each
    holds every expected part."""
    code, output = srv.configtest()
    assert code == 0 and "Syntax OK" in output, output
    found = warnings(output)
    assert len(found) == 1, output
    assert "[authnz_wsgi:warn]" in found[0]
    for part in expected_parts:
        assert part in found[0], (part, found[0])
    srv.start()
    logged = warnings(srv.error_log())
    assert len(logged) == 1, srv.error_log()
    assert logged[0].split(f"{TAG}: ", 1)[1] == found[0].split(f"{TAG}: ", 1)[1]
    assert warnings(srv.stderr_path.read_text()) == []
    srv.graceful()
    assert len(warnings(srv.error_log())) == 2


# ---- the two recipes, written as their documentation shows them -------------------------

def mod_wsgi_recipe(srv):
    # mod_wsgi's "Apache Group Authorisation" example, in the <Directory>
    # it protects.
    return f"""
<Directory "{srv.docroot}/private">
    AuthType Basic
    AuthName "Top Secret"
    AuthBasicProvider dbm
    AuthDBMUserFile {srv.dir}/accounts.dbm
    WSGIAuthGroupScript {srv.script}
    Require wsgi-group secret-agents
    Require valid-user
</Directory>
"""


def test_mod_wsgi_docs_recipe_warns_once_and_really_admits_everyone():
    srv = make("recipe-mod-wsgi", mod_wsgi_recipe, modules=["authn_dbm"])
    try:
        for user in ("spy", "tourist"):
            subprocess.run(["htdbm", "-b", *(["-c"] if user == "spy" else []),
                            str(srv.dir / "accounts.dbm"), user, f"{user}-pw"],
                           check=True, capture_output=True)
        conf = srv.conf_path
        srv.write_config()
        section = line_of(conf, f'<Directory "{srv.docroot}/private">')
        check_once_in_configtest_and_start_up(srv, [
            f'<Directory "{srv.docroot}/private"> ({conf}:{section}): ',
            cited(conf, "Require wsgi-group secret-agents") + " and "
            + cited(conf, "Require valid-user"),
            "<RequireAll>",
            "WSGIWarnRequireAny Off",
        ])
        # The hole the warning is about: groups_for_user is asked (its line
        # comes first), answers no group, and the user still gets in.
        resp = srv.request("/private/", headers={"Authorization": basic_header("tourist", "tourist-pw")})
        assert resp.status == 200 and resp.body == b"private index\n"
        assert srv.last_access(200)["user"] == "tourist"
        assert [r["user"] for r in srv.records("groups_for_user")] == ["tourist"]
    finally:
        srv.cleanup()


def django_recipe(srv):
    # Django's "Authorization with mod_wsgi and Django groups" example; the
    # WSGIScriptAlias/WSGIProcessGroup lines before it belong to mod_wsgi's
    # application hosting and are left out.
    return f"""
<Location "/secret">
    AuthType Basic
    AuthName "Top Secret"
    AuthBasicProvider wsgi
    WSGIAuthUserScript {srv.script}
    WSGIAuthGroupScript {srv.script}
    Require group secret-agents
    Require valid-user
</Location>
"""


def test_django_docs_recipe_warns_once_naming_both_mistakes():
    # `Require group` is mod_authz_groupfile's provider (loaded by default on
    # some distributions; without it the recipe does not parse at all).
    srv = make("recipe-django", django_recipe, modules=["authz_groupfile"])
    try:
        (srv.docroot / "secret").mkdir()
        (srv.docroot / "secret" / "index.html").write_text("secret\n")
        srv.write_config()
        conf = srv.conf_path
        section = line_of(conf, '<Location "/secret">')
        check_once_in_configtest_and_start_up(srv, [
            f'<Location "/secret"> ({conf}:{section}): ',
            cited(conf, "Require group secret-agents") + " and "
            + cited(conf, "Require valid-user"),
            "<RequireAll>",
            "names mod_authz_groupfile's provider 'group'",
            "write 'Require wsgi-group secret-agents'",
        ])
        resp = srv.request("/secret/", headers={"Authorization": basic_header("tourist", "tourist-pw")})
        assert resp.status == 200 and resp.body == b"secret\n"
        assert srv.last_access(200)["user"] == "tourist"
        assert [r["user"] for r in srv.records("check_password")] == ["tourist"]
        assert srv.records("groups_for_user") == []
    finally:
        srv.cleanup()


def test_alias_in_an_included_file_names_that_file():
    def site(srv):
        included = srv.dir / "staff.conf"
        included.write_text(
            "<Location /staff>\n"
            "  AuthType Basic\n"
            '  AuthName "staff"\n'
            "  AuthBasicProvider wsgi\n"
            f'  WSGIAuthUserScript "{srv.script}"\n'
            f'  WSGIAuthGroupScript "{srv.script}"\n'
            "  Require staff-members\n"
            "  Require valid-user\n"
            "</Location>\n"
        )
        return (f"<AuthzProviderAlias wsgi-group staff-members secret-agents>\n"
                f"</AuthzProviderAlias>\n"
                f'Include "{included}"\n')

    srv = make("recipe-alias", site)
    try:
        srv.write_config()
        included = srv.dir / "staff.conf"
        check_once_in_configtest_and_start_up(srv, [
            f"<Location /staff> ({included}:1): ",
            f"'Require staff-members' ({included}:7) and 'Require valid-user' ({included}:8)",
        ])
    finally:
        srv.cleanup()


# ---- configurations that must not warn -------------------------------------------------

def quiet_sites(srv):
    return f"""
<Location /all>
  AuthType Basic
  AuthName "all"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{srv.script}"
  WSGIAuthGroupScript "{srv.script}"
  <RequireAll>
    Require valid-user
    Require wsgi-group secret-agents
  </RequireAll>
</Location>
<Location /alone>
  AuthType Basic
  AuthName "alone"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{srv.script}"
  WSGIAuthGroupScript "{srv.script}"
  Require wsgi-group secret-agents
  Require wsgi-group other-agents
</Location>
<Location /split>
  AuthType Basic
  AuthName "split"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{srv.script}"
  Require valid-user
</Location>
<Location /split/inner>
  WSGIAuthGroupScript "{srv.script}"
  Require wsgi-group secret-agents
</Location>
<Directory "{srv.docroot}/private">
  AuthType Basic
  AuthName "merged"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{srv.script}"
  Require valid-user
</Directory>
<Directory "{srv.docroot}/private/deeper">
  AuthMerging And
  WSGIAuthGroupScript "{srv.script}"
  Require wsgi-group secret-agents
</Directory>
<Location /limited>
  AuthType Basic
  AuthName "limited"
  AuthBasicProvider wsgi
  WSGIAuthUserScript "{srv.script}"
  WSGIAuthGroupScript "{srv.script}"
  <LimitExcept POST>
    Require valid-user
  </LimitExcept>
  <Limit POST>
    Require wsgi-group secret-agents
  </Limit>
</Location>
"""


def test_grouped_separate_merged_and_split_by_method_lines_give_no_warning():
    srv = make("recipe-quiet", quiet_sites)
    try:
        (srv.docroot / "private" / "deeper").mkdir()
        code, output = srv.configtest()
        assert code == 0 and "Syntax OK" in output, output
        assert warnings(output) == []
        srv.start()
        # The sections do what they say: the group is asked and decides.
        for path, user, status in (("/all/", "tourist", 401), ("/all/", "spy", 404),
                                   ("/private/deeper/", "tourist", 401)):
            srv.clear_records("groups_for_user")
            resp = srv.request(path, headers={"Authorization": basic_header(user, f"{user}-pw")})
            assert resp.status == status, (path, user)
            assert [r["user"] for r in srv.records("groups_for_user")] == [user]
        assert warnings(srv.error_log()) == []
    finally:
        srv.cleanup()


RECIPE_IN_VHOST = """
<VirtualHost 127.0.0.1:{port}>
  ServerName quiet.test
  {vhost_opt_out}
  <Location /secret>
    AuthType Basic
    AuthName "Top Secret"
    AuthBasicProvider wsgi
    WSGIAuthUserScript "{script}"
    WSGIAuthGroupScript "{script}"
    {section_opt_out}
    Require wsgi-group secret-agents
    Require valid-user
  </Location>
</VirtualHost>
"""


@pytest.mark.parametrize("where", ["server", "virtual host", "section"])
def test_the_opt_out_silences_the_warning_where_it_applies(where):
    def site(srv):
        return RECIPE_IN_VHOST.format(
            port=srv.port, script=srv.script,
            vhost_opt_out="WSGIWarnRequireAny Off" if where == "virtual host" else "",
            section_opt_out="WSGIWarnRequireAny Off" if where == "section" else "")

    server_conf = "WSGIWarnRequireAny Off\n" if where == "server" else ""
    srv = make("recipe-opt-out", site, server_conf=server_conf)
    try:
        code, output = srv.configtest()
        assert code == 0 and "Syntax OK" in output, output
        assert warnings(output) == []
        srv.start()
        assert warnings(srv.error_log()) == []
        # The control case: without the opt-out the same file warns.
        srv.stop()
        srv.server_conf = ""
        srv.site_conf = RECIPE_IN_VHOST.format(port=srv.port, script=srv.script,
                                               vhost_opt_out="", section_opt_out="")
        code, output = srv.configtest()
        assert len(warnings(output)) == 1, output
    finally:
        srv.cleanup()


def test_the_opt_out_takes_on_or_off_only():
    srv = make("recipe-opt-out-bad", lambda srv: "WSGIWarnRequireAny sometimes\n")
    try:
        code, output = srv.configtest()
        assert code != 0, output
        lines = srv.conf_path.read_text().splitlines()
        line = lines.index("WSGIWarnRequireAny sometimes") + 1
        assert f"Syntax error on line {line} of {srv.conf_path}:" in output, output
        assert re.search(r"WSGIWarnRequireAny must be On or Off, not 'sometimes'", output), output
    finally:
        srv.cleanup()
